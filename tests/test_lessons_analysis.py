"""`remediation lessons`: lessons across incidents, against a real PostgreSQL register.

The module's database holds exactly the incidents below (the `database_url` fixture gives each
module a fresh one), so every expected figure is counted by hand from this table:

    received    country minerals     facilities     suppliers                 lessons
I1  2025-01-10  CD      tin          CID001 CID002  Kivu Traders              2025-06-01
I2  2025-03-05  CD      tin tantalum CID001         KIVU TRADERS, Lake Metals 2025-09-01
I3  2025-05-20  RW      gold         CID003         Lake Metals               2026-01-15
I4  2026-02-01  CD      tin          CID001         Kivu Traders              —
I5  2026-04-01  CD      cobalt       CID002         —                         2026-08-01
I6  2026-05-01  ZM      cobalt       CID004         Copperbelt Co             2026-09-01
I7  2026-06-01  CD      mica         CID005         —                         —
I8  2026-07-01  CD      mica         CID005         —                         —

with the root causes, harm types and changes made of CASES below.
"""

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.case_register import CaseRegister
from activities.lessons_analysis import lessons_across_incidents
from schemas.actor import Actor, Role
from schemas.intake import Intake, Location
from schemas.lessons import InvalidLessonsFilter, LessonsFilter, LessonsOverview
from schemas.register import IncidentOpening, LessonRecord
from schemas.vocabulary import (
    Channel,
    HarmType,
    Mineral,
    RootCause,
    Severity,
    SiteType,
    SupplyChainTier,
)
from tests.conftest import TEST_KEY_RING, Ran, run_remediation

OPENER = Actor(id="grievance-intake", roles=(Role.INTEGRATION,))
FEES = RootCause.RECRUITMENT_FEE_PRACTICES
TRAINING = [
    "Site managers trained on forced labour indicators",
    "Brokers briefed on the recruitment fee ban",
    "Drivers trained to spot trafficking",
    "Auditors trained in worker interviews",
    "Community monitors trained",
]


@dataclass(frozen=True)
class Case:
    name: str
    received: date
    country: str
    minerals: list[Mineral]
    facilities: list[str]
    suppliers: list[str] = field(default_factory=list)
    recorded: date | None = None  # when its lessons were captured (None: no lessons yet)
    root_causes: list[RootCause] = field(default_factory=list)
    harms: list[HarmType] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


CASES = [
    Case(
        "I1",
        date(2025, 1, 10),
        "CD",
        [Mineral.TIN],
        ["CID001", "CID002"],
        ["Kivu Traders"],
        date(2025, 6, 1),
        [FEES, RootCause.AUDIT_GAPS],
        [HarmType.FORCED_LABOUR],
        [
            "audit_protocol: Interviews held off site",
            "training: Buyers trained on recruitment fees",
        ],
    ),
    Case(
        "I2",
        date(2025, 3, 5),
        "CD",
        [Mineral.TIN, Mineral.TANTALUM],
        ["CID001"],
        ["KIVU TRADERS", "Lake Metals"],
        date(2025, 9, 1),
        [FEES],
        [HarmType.FORCED_LABOUR, HarmType.DEBT_BONDAGE],
        ["audit_protocol: Payroll sampling added", "audit_protocol: Interviews held off site"],
    ),
    Case(
        "I3",
        date(2025, 5, 20),
        "RW",
        [Mineral.GOLD],
        ["CID003"],
        ["Lake Metals"],
        date(2026, 1, 15),
        [RootCause.WEAK_DUE_DILIGENCE_AT_TIER],
        [HarmType.WORST_FORMS_OF_CHILD_LABOUR],
        ["sourcing: Supplier suspended until remediation"],
    ),
    Case("I4", date(2026, 2, 1), "CD", [Mineral.TIN], ["CID001"], ["Kivu Traders"]),
    Case(
        "I5",
        date(2026, 4, 1),
        "CD",
        [Mineral.COBALT],
        ["CID002"],
        [],
        date(2026, 8, 1),
        [FEES, RootCause.INFORMAL_LABOUR_INTERMEDIARIES],
        [HarmType.DEBT_BONDAGE],
        [
            "policy: Recruitment fee policy extended to contractors",
            "audit_protocol: Payroll sampling added",
            "Grievance hotline in Swahili",  # names no area (hand-written, not from a decision)
        ],
    ),
    Case(
        "I6",
        date(2026, 5, 1),
        "ZM",
        [Mineral.COBALT],
        ["CID004"],
        ["Copperbelt Co"],
        date(2026, 9, 1),
        [RootCause.OTHER],
        [HarmType.FORCED_LABOUR],
        [f"training: {change}" for change in TRAINING],
    ),
    Case("I7", date(2026, 6, 1), "CD", [Mineral.MICA], ["CID005"]),
    Case("I8", date(2026, 7, 1), "CD", [Mineral.MICA], ["CID005"]),
]


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)


def _opening(case: Case) -> IncidentOpening:
    intake = Intake(
        external_reference=f"GRV-LESSONS-{case.name}",
        received_at=_at(case.received),
        channel=Channel.AUDIT_FINDING,
        description="Workers held back wages to repay recruitment fees",
        location=Location(
            country=case.country, region="North", site_type=SiteType.ARTISANAL_SMALL_SCALE
        ),
        minerals=case.minerals,
        tier=SupplyChainTier.MINE_SITE,
        facility_ids=case.facilities,
        suppliers=case.suppliers,
        alleged_harms=[HarmType.FORCED_LABOUR],
        affected_persons_estimate=12,
        children_affected=False,
        migrants_affected=True,
        women_affected=False,
        imminent_danger=False,
        opened_by=OPENER,
    )
    return IncidentOpening(
        incident_id=f"incident-{intake.external_reference}",
        intake=intake,
        opened_at=intake.received_at + timedelta(hours=1),
        provisional_severity=Severity.HIGH,
        case_owner="case-owner-7",
        policy_version="2026.1",
    )


def _lessons(case: Case, incident_id: str) -> LessonRecord:
    assert case.recorded is not None
    return LessonRecord(
        incident_id=incident_id,
        recorded_at=_at(case.recorded),
        minerals=case.minerals,
        country=case.country,
        facility_ids=case.facilities,
        harm_types=case.harms,
        root_causes=case.root_causes,
        root_cause_notes=None,
        due_diligence_gaps=["No audit below the exporter"],
        changes_made=case.changes,
        supplier_engagement_outcome="Supplier engaged",
        shared_with_industry_programme=False,
        anonymised_summary=None,
    )


@pytest.fixture(scope="module")
async def register(register_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The register holding exactly CASES."""
    case_register = CaseRegister(register_pool, TEST_KEY_RING)
    env = ActivityEnvironment()
    for case in CASES:
        opening = _opening(case)
        await env.run(case_register.open_incident, opening)
        if case.recorded is not None:
            assert await env.run(case_register.store_lessons, _lessons(case, opening.incident_id))
    return register_pool


def _causes(overview: LessonsOverview) -> list[tuple[str, int, float, bool]]:
    return [(c.root_cause.value, c.incidents, c.share, c.recurring) for c in overview.root_causes]


def _harms(overview: LessonsOverview) -> list[tuple[str, int, float]]:
    return [(h.harm_type.value, h.incidents, h.share) for h in overview.harm_types]


def _facilities(overview: LessonsOverview) -> list[tuple[str, int, date, date]]:
    return [
        (f.facility_id, f.incidents, f.first_received, f.last_received)
        for f in overview.repeated_facilities
    ]


def _suppliers(overview: LessonsOverview) -> list[tuple[str, int, date, date]]:
    return [
        (s.supplier, s.incidents, s.first_received, s.last_received)
        for s in overview.repeated_suppliers
    ]


def _changes(overview: LessonsOverview) -> list[tuple[str, int, int, date, list[str], int]]:
    return [
        (c.area, c.changes, c.incidents, c.last_recorded, c.descriptions, c.more_descriptions)
        for c in overview.due_diligence_changes
    ]


# --- Without filters ---------------------------------------------------------------------------


async def test_every_lesson_and_incident_without_filters(register: asyncpg.Pool) -> None:
    overview = await lessons_across_incidents(register)

    assert overview.filters == LessonsFilter()
    assert (overview.lessons_matched, overview.incidents_matched) == (5, 8)
    assert _causes(overview) == [
        ("recruitment_fee_practices", 3, 0.6, True),  # I1, I2, I5
        ("audit_gaps", 1, 0.2, False),
        ("informal_labour_intermediaries", 1, 0.2, False),
        ("other", 1, 0.2, False),
        ("weak_due_diligence_at_tier", 1, 0.2, False),
    ]
    assert _harms(overview) == [
        ("forced_labour", 3, 0.6),  # I1, I2, I6
        ("debt_bondage", 2, 0.4),  # I2, I5
        ("worst_forms_of_child_labour", 1, 0.2),
    ]
    # Over all incidents, lessons or not: I4, I7 and I8 have none. CID003 and CID004 once only.
    assert _facilities(overview) == [
        ("CID001", 3, date(2025, 1, 10), date(2026, 2, 1)),  # I1, I2, I4
        ("CID002", 2, date(2025, 1, 10), date(2026, 4, 1)),  # I1, I5
        ("CID005", 2, date(2026, 6, 1), date(2026, 7, 1)),  # I7, I8
    ]
    # "KIVU TRADERS" is the same supplier; shown as two of the three incidents spell it.
    assert _suppliers(overview) == [
        ("Kivu Traders", 3, date(2025, 1, 10), date(2026, 2, 1)),  # I1, I2, I4
        ("Lake Metals", 2, date(2025, 3, 5), date(2025, 5, 20)),  # I2, I3
    ]
    assert _changes(overview) == [
        # I6's five (same day, by text) before I1's older one, which is left out.
        ("training", 6, 2, date(2026, 9, 1), sorted(TRAINING), 1),
        (
            "audit_protocol",
            4,  # I1 once, I2 twice, I5 once
            3,
            date(2026, 8, 1),
            ["Payroll sampling added", "Interviews held off site"],  # last 2026-08-01, 2025-09-01
            0,
        ),
        ("policy", 1, 1, date(2026, 8, 1), ["Recruitment fee policy extended to contractors"], 0),
        ("sourcing", 1, 1, date(2026, 1, 15), ["Supplier suspended until remediation"], 0),
        ("unspecified", 1, 1, date(2026, 8, 1), ["Grievance hotline in Swahili"], 0),
    ]
    assert not overview.empty


# --- Each filter -------------------------------------------------------------------------------


async def test_a_facility_takes_its_incidents_and_their_lessons(register: asyncpg.Pool) -> None:
    overview = await lessons_across_incidents(register, facility="CID001")

    assert overview.filters.facility == "CID001"
    assert (overview.lessons_matched, overview.incidents_matched) == (2, 3)  # I1, I2; and I4
    assert _causes(overview) == [
        ("recruitment_fee_practices", 2, 1.0, True),
        ("audit_gaps", 1, 0.5, False),
    ]
    assert _harms(overview) == [("forced_labour", 2, 1.0), ("debt_bondage", 1, 0.5)]
    # CID002 is named by I1 only among these incidents.
    assert _facilities(overview) == [("CID001", 3, date(2025, 1, 10), date(2026, 2, 1))]
    assert _suppliers(overview) == [("Kivu Traders", 3, date(2025, 1, 10), date(2026, 2, 1))]
    assert _changes(overview) == [
        # Both descriptions last recorded by I2 (2025-09-01): by text.
        (
            "audit_protocol",
            3,
            2,
            date(2025, 9, 1),
            ["Interviews held off site", "Payroll sampling added"],
            0,
        ),
        ("training", 1, 1, date(2025, 6, 1), ["Buyers trained on recruitment fees"], 0),
    ]


async def test_a_country_takes_its_incidents_and_is_read_in_any_case(
    register: asyncpg.Pool,
) -> None:
    overview = await lessons_across_incidents(register, country="cd")

    assert overview.filters.country == "CD"
    assert (overview.lessons_matched, overview.incidents_matched) == (3, 6)  # I1 I2 I5; I4 I7 I8
    assert _causes(overview) == [
        ("recruitment_fee_practices", 3, 1.0, True),
        ("audit_gaps", 1, 0.3333, False),
        ("informal_labour_intermediaries", 1, 0.3333, False),
    ]
    assert [f[:2] for f in _facilities(overview)] == [("CID001", 3), ("CID002", 2), ("CID005", 2)]
    assert [s[:2] for s in _suppliers(overview)] == [("Kivu Traders", 3)]  # Lake Metals: I3 in RW

    rwanda = await lessons_across_incidents(register, country="RW")
    assert (rwanda.lessons_matched, rwanda.incidents_matched) == (1, 1)
    assert _causes(rwanda) == [("weak_due_diligence_at_tier", 1, 1.0, False)]
    assert _harms(rwanda) == [("worst_forms_of_child_labour", 1, 1.0)]
    assert (rwanda.repeated_facilities, rwanda.repeated_suppliers) == ([], [])
    assert [c.area for c in rwanda.due_diligence_changes] == ["sourcing"]


async def test_a_mineral_takes_the_incidents_concerning_it(register: asyncpg.Pool) -> None:
    overview = await lessons_across_incidents(register, mineral="cobalt")

    assert overview.filters.mineral is Mineral.COBALT
    assert (overview.lessons_matched, overview.incidents_matched) == (2, 2)  # I5, I6
    assert _causes(overview) == [
        ("informal_labour_intermediaries", 1, 0.5, False),
        ("other", 1, 0.5, False),
        ("recruitment_fee_practices", 1, 0.5, False),
    ]
    assert _harms(overview) == [("debt_bondage", 1, 0.5), ("forced_labour", 1, 0.5)]
    assert (overview.repeated_facilities, overview.repeated_suppliers) == ([], [])
    assert [(c.area, c.changes, c.more_descriptions) for c in overview.due_diligence_changes] == [
        ("training", 5, 0),
        ("audit_protocol", 1, 0),
        ("policy", 1, 0),
        ("unspecified", 1, 0),
    ]

    # An incident concerning two minerals counts under each; without lessons, none are matched.
    tantalum = await lessons_across_incidents(register, mineral=Mineral.TANTALUM)
    assert (tantalum.lessons_matched, tantalum.incidents_matched) == (1, 1)  # I2
    mica = await lessons_across_incidents(register, mineral="mica")
    assert (mica.lessons_matched, mica.incidents_matched) == (0, 2)  # I7, I8
    assert (mica.root_causes, mica.harm_types, mica.due_diligence_changes) == ([], [], [])
    assert _facilities(mica) == [("CID005", 2, date(2026, 6, 1), date(2026, 7, 1))]
    assert not mica.empty


async def test_a_root_cause_takes_only_incidents_whose_lessons_name_it(
    register: asyncpg.Pool,
) -> None:
    overview = await lessons_across_incidents(register, root_cause="Recruitment_Fee_Practices")

    assert overview.filters.root_cause is FEES
    # I4 shares CID001 and Kivu Traders but has no lessons yet: it is not matched.
    assert (overview.lessons_matched, overview.incidents_matched) == (3, 3)  # I1, I2, I5
    assert _causes(overview)[0] == ("recruitment_fee_practices", 3, 1.0, True)
    assert _facilities(overview) == [
        ("CID001", 2, date(2025, 1, 10), date(2025, 3, 5)),  # I1, I2
        ("CID002", 2, date(2025, 1, 10), date(2026, 4, 1)),  # I1, I5
    ]
    [kivu] = overview.repeated_suppliers  # "Kivu Traders" and "KIVU TRADERS", once each
    assert (kivu.supplier.lower(), kivu.incidents) == ("kivu traders", 2)
    assert [(c.area, c.changes, c.incidents) for c in overview.due_diligence_changes] == [
        ("audit_protocol", 4, 3),
        ("policy", 1, 1),
        ("training", 1, 1),
        ("unspecified", 1, 1),
    ]


async def test_filters_combine(register: asyncpg.Pool) -> None:
    overview = await lessons_across_incidents(
        register, country="CD", mineral="tin", root_cause="audit_gaps"
    )
    assert (overview.lessons_matched, overview.incidents_matched) == (1, 1)  # I1
    assert overview.filters.describe() == "country CD, mineral tin, root cause audit_gaps"

    nothing = await lessons_across_incidents(register, facility="CID003", country="CD")
    assert (nothing.lessons_matched, nothing.incidents_matched) == (0, 0)
    assert nothing.empty


# --- Bad filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"mineral": "silver"},
            "unknown mineral 'silver': use one of tin, tantalum, tungsten, gold, cobalt, mica, "
            "lithium",
        ),
        (
            {"root_cause": "greed"},
            "unknown root cause 'greed': use one of recruitment_fee_practices, "
            "weak_due_diligence_at_tier, no_grievance_access, audit_gaps, local_governance, "
            "informal_labour_intermediaries, purchasing_practices, other",
        ),
        (
            {"country": "XX"},
            "'XX' is not an ISO 3166-1 alpha-2 country code: two letters such as CD, RW or ZM",
        ),
        (
            {"country": "COD"},
            "'COD' is not an ISO 3166-1 alpha-2 country code: two letters such as CD, RW or ZM",
        ),
        (
            {"facility": "CID 001"},
            "'CID 001' is not a facility id: 2 to 32 letters, digits, '_' or '-', starting with "
            "a letter or digit (for example CID001234)",
        ),
        ({"facility": "-CID"}, "'-CID' is not a facility id"),
        ({"facility": "C" * 33}, "is not a facility id"),
    ],
)
async def test_a_value_the_register_cannot_hold_is_refused_with_the_values_allowed(
    register: asyncpg.Pool, filters: dict[str, str], expected: str
) -> None:
    with pytest.raises(InvalidLessonsFilter) as refused:
        await lessons_across_incidents(register, **filters)
    assert expected in str(refused.value)
    assert len(refused.value.problems) == 1


async def test_every_bad_filter_is_named_at_once(register: asyncpg.Pool) -> None:
    with pytest.raises(InvalidLessonsFilter) as refused:
        await lessons_across_incidents(
            register, facility="a", country="Congo", mineral="coltan", root_cause="bad luck"
        )
    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "'a' is not a facility id",
        "'Congo' is not an ISO 3166-1 alpha-2 country code",
        "unknown mineral 'coltan'",
        "unknown root cause 'bad luck'",
    ]


# --- remediation lessons -----------------------------------------------------------------------


async def _cli(database_url: str, tmp_path: Path, *args: str) -> Ran:
    """`remediation lessons ARGS...` in a subprocess, as an operator runs it (no Temporal)."""
    env = {"DATABASE_URL": database_url, "REMEDIATION_DATA_DIR": str(tmp_path / "data")}
    return await run_remediation("lessons", *args, env=env)


def _has_row(text: str, *cells: str) -> bool:
    """Whether a line of the text holds these cells in order, separated by table padding."""
    pattern = r"^\s*" + r"\s{2,}".join(re.escape(cell) for cell in cells) + r"\s*$"
    return re.search(pattern, text, re.MULTILINE) is not None


async def test_the_command_prints_tables_for_people(
    register: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    everything, cobalt = await asyncio.gather(
        _cli(database_url, tmp_path), _cli(database_url, tmp_path, "--mineral", "cobalt")
    )

    assert everything.code == 0, everything.stderr
    out = everything.stdout
    assert out.startswith("Lessons across incidents\n5 lessons learned, from 8 matching incidents")
    assert _has_row(out, "ROOT CAUSE", "INCIDENTS", "SHARE", "RECURRING")
    assert _has_row(out, "recruitment_fee_practices", "3", "60%", "yes")
    assert _has_row(out, "weak_due_diligence_at_tier", "1", "20%", "no")
    assert _has_row(out, "forced_labour", "3", "60%")
    assert _has_row(out, "FACILITY", "INCIDENTS", "FIRST RECEIVED", "LAST RECEIVED")
    assert _has_row(out, "CID001", "3", "2025-01-10", "2026-02-01")
    assert _has_row(out, "CID005", "2", "2026-06-01", "2026-07-01")
    assert "CID003" not in out
    assert _has_row(out, "Kivu Traders", "3", "2025-01-10", "2026-02-01")
    assert _has_row(out, "Lake Metals", "2", "2025-03-05", "2025-05-20")
    assert "  training: 6 changes in 2 incidents, latest 2026-09-01\n" in out
    assert "    - Auditors trained in worker interviews\n" in out
    assert "    … and 1 more\n" in out
    assert "  sourcing: 1 change in 1 incident, latest 2026-01-15\n" in out
    assert "  unspecified: 1 change in 1 incident, latest 2026-08-01\n" in out
    sections = [
        "Root causes",
        "Harm types",
        "Facilities with repeated incidents",
        "Suppliers with repeated incidents",
        "What changed in due diligence as a result",
    ]
    positions = [out.index(f"\n{section}") for section in sections]
    assert positions == sorted(positions)

    assert cobalt.code == 0, cobalt.stderr
    assert cobalt.stdout.startswith("Lessons across incidents (mineral cobalt)\n")
    assert "Facilities with repeated incidents (2 or more)\n  none\n" in cobalt.stdout


async def test_the_command_prints_json_for_machines(
    register: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    ran = await _cli(database_url, tmp_path, "--facility", "CID001", "--json")

    assert ran.code == 0, ran.stderr
    printed = json.loads(ran.stdout)
    expected = await lessons_across_incidents(register, facility="CID001")
    assert printed == expected.model_dump(mode="json")
    assert printed["filters"] == {
        "facility": "CID001",
        "country": None,
        "mineral": None,
        "root_cause": None,
    }
    assert printed["repeated_facilities"] == [
        {
            "facility_id": "CID001",
            "incidents": 3,
            "first_received": "2025-01-10",
            "last_received": "2026-02-01",
        }
    ]


async def test_the_command_says_so_in_one_line_when_nothing_matches(
    register: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    plain, as_json = await asyncio.gather(
        _cli(database_url, tmp_path, "--facility", "CID999", "--country", "CD"),
        _cli(database_url, tmp_path, "--facility", "CID999", "--json"),
    )

    assert plain.code == 0, plain.stderr
    assert plain.stdout == "No lessons match (facility CID999, country CD).\n"
    assert as_json.code == 0, as_json.stderr
    assert as_json.json["lessons_matched"] == 0
    assert as_json.json["root_causes"] == []


async def test_the_command_refuses_bad_filters_listing_the_values_allowed(
    register: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    ran = await _cli(database_url, tmp_path, "--mineral", "silver", "--country", "XX")

    assert ran.code == 2
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        "error: 'XX' is not an ISO 3166-1 alpha-2 country code: two letters such as CD, RW or ZM",
        "error: unknown mineral 'silver': use one of tin, tantalum, tungsten, gold, cobalt, "
        "mica, lithium",
    ]


async def test_the_help_explains_each_section(tmp_path: Path) -> None:
    ran = await _cli("postgresql://unused", tmp_path, "--help")

    assert ran.code == 0, ran.stderr
    text = " ".join(ran.stdout.split())
    for words in (
        "--facility",
        "--country",
        "--mineral",
        "--root-cause",
        "--json",
        "Root causes:",
        "recurring",
        "Harm types:",
        "Facilities with repeated incidents:",
        "Suppliers with repeated incidents:",
        "What changed in due diligence:",
        "recruitment_fee_practices",
        "lithium",
    ):
        assert words in text, words
