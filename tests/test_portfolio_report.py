"""The portfolio's figures and report against a real PostgreSQL: a small portfolio built through
the case register's own activities, its figures worked out by hand below."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.portfolio
from activities.case_register import CaseRegister
from activities.portfolio import PortfolioRegister, report_id
from activities.report_rendering import (
    CHART_ESCALATIONS_BY_WEEK,
    CHART_OPEN_BY_STEP,
    CHART_TIME_IN_STEP,
    _axis,
    _week_rows,
    report_html,
    report_json,
    report_markdown,
)
from schemas.actor import Actor, Role
from schemas.intake import Intake, Location, Reporter
from schemas.monitoring import (
    FindingKind,
    PortfolioKpis,
    PortfolioReport,
    ReconciliationFinding,
    ReconciliationReport,
    StepDurations,
    WeeklyEscalations,
)
from schemas.register import (
    ApprovalRecord,
    ApprovalStatus,
    CheckInRecord,
    EscalationRecord,
    EventOutcome,
    IncidentOpening,
    IncidentSnapshot,
    RegisterEvent,
)
from schemas.vocabulary import (
    CaseStatus,
    Channel,
    HarmType,
    Mineral,
    ResponseLevel,
    Severity,
    SiteType,
    Step,
    SupplyChainTier,
)
from tests.conftest import TEST_KEY_RING

# Day 0 of the fixture portfolio is Monday 2 March 2026; the report is as of day 91.5, Monday
# 1 June 2026 at noon (ISO week 2026-W23).
T0 = datetime(2026, 3, 2, tzinfo=UTC)
AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OPENER = Actor(id="grievance-intake", roles=(Role.INTEGRATION,))
OWNER = Actor(id="case-owner-1", roles=(Role.CASE_OWNER,))
OTHER_OWNER = "case-owner-2"
SYSTEM = Actor(id="system", roles=(Role.SYSTEM,))
A, R, P = EventOutcome.ACCEPTED, EventOutcome.RECORDED, EventOutcome.PENDING_APPROVAL
APPROVED, REFUSED = EventOutcome.APPROVED, EventOutcome.REFUSED


def day(number: float) -> datetime:
    return T0 + timedelta(days=number)


def approval(
    approval_id: str, requested: float, decided: float | None = None, *, kind: str = ""
) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=approval_id,
        kind=kind or approval_id.rsplit("-", 1)[0],
        author_id=OWNER.id,
        requested_at=day(requested),
        due_at=None,
        status=ApprovalStatus.PENDING if decided is None else ApprovalStatus.APPROVED,
        decided_by=None if decided is None else "approver-1",
        decided_at=None if decided is None else day(decided),
    )


def escalation(
    milestone: str, level: int, due: float, reached: float, *, late: float | None = None
) -> EscalationRecord:
    return EscalationRecord(
        milestone=milestone,
        milestone_kind=milestone.split(":")[0],
        level=level,
        due_at=day(due),
        reached_at=day(reached),
        cleared_because=None if level else "met",
        late_by_seconds=None if late is None else int(late * 86400),
    )


def check_in(on: float) -> CheckInRecord:
    return CheckInRecord(
        period_start=day(on - 7).date(),
        period_end=day(on).date(),
        submitted_by=OWNER.id,
        actions_reported=1,
        victim_feedback=None,
        new_risks=[],
    )


@dataclass
class Event:
    """One event of the fixture: when, what, and the step the incident is in afterwards."""

    at: float
    kind: str
    outcome: EventOutcome
    step: Step
    approvals: Sequence[ApprovalRecord] = ()
    check_in: CheckInRecord | None = None
    escalation: EscalationRecord | None = None
    overdue: bool = False
    escalation_level: int = 0
    case_status: CaseStatus = CaseStatus.ACTIVE


@dataclass
class Incident:
    name: str
    opened: float
    severity: Severity
    country: str
    minerals: list[Mineral]
    facilities: list[str]
    response_level: ResponseLevel | None
    events: list[Event] = field(default_factory=list)
    case_owner: str | None = OWNER.id
    # What the register holds of a person or in free text: never in a report.
    reporter: Reporter | None = None
    description: str = "Fixture allegation."
    site_name: str | None = None


def escalated(
    at: float, step: Step, record: EscalationRecord, *, status: CaseStatus = CaseStatus.ACTIVE
) -> Event:
    return Event(
        at,
        "system_escalation",
        R,
        step,
        escalation=record,
        overdue=record.level > 0,
        escalation_level=record.level,
        case_status=status,
    )


V, RS, AP, IM = Step.VERIFICATION, Step.RESPONSE, Step.ACTION_PLAN, Step.IMPLEMENTATION
CL, LL = Step.CLOSURE, Step.LESSONS_LEARNED

PORTFOLIO = [
    # In implementation, checked in 3.5 days ago; acknowledged a day late.
    Incident(
        "p1",
        0,
        Severity.CRITICAL,
        "CD",
        [Mineral.TIN, Mineral.TANTALUM],
        ["CID001", "CID002"],
        ResponseLevel.COMPANY_LED,
        [
            escalated(1, V, escalation("acknowledge", 1, due=1, reached=1)),
            Event(2, "acknowledge", A, V),
            escalated(2, V, escalation("acknowledge", 0, due=1, reached=2, late=1)),
            Event(5, "verification", A, RS),
            Event(7, "response", P, RS, [approval("response-1", 7)]),
            Event(8, "approve", APPROVED, AP, [approval("response-1", 7, 8)]),
            Event(10, "action_plan", P, AP, [approval("action_plan-2", 10)]),
            Event(20, "approve", APPROVED, IM, [approval("action_plan-2", 10, 20)]),
            Event(26, "check_in", A, IM, check_in=check_in(26)),
            Event(88, "check_in", A, IM, check_in=check_in(88)),
        ],
    ),
    # Its response has waited for approval since day 50, escalated to level 3.
    Incident(
        "p2",
        30,
        Severity.HIGH,
        "CD",
        [Mineral.GOLD],
        ["CID002"],
        None,
        [
            Event(32, "acknowledge", A, V),
            Event(40, "verification", A, RS),
            Event(50, "response", P, RS, [approval("response-1", 50)]),
            escalated(55, RS, escalation("approval:response-1", 1, due=55, reached=55)),
            escalated(56.25, RS, escalation("approval:response-1", 2, due=55, reached=56.25)),
            escalated(57.5, RS, escalation("approval:response-1", 3, due=55, reached=57.5)),
        ],
        case_owner=OTHER_OWNER,
    ),
    # Every action done on day 60; its closure awaits approval since day 85.
    Incident(
        "p3",
        0,
        Severity.MEDIUM,
        "GH",
        [Mineral.GOLD],
        [],
        ResponseLevel.SUPPLIER_CORRECTIVE,
        [
            Event(3, "acknowledge", A, V),
            Event(18, "verification", A, RS),
            Event(25, "response", P, RS, [approval("response-1", 25)]),
            Event(27, "approve", APPROVED, AP, [approval("response-1", 25, 27)]),
            Event(40, "action_plan", P, AP, [approval("action_plan-2", 40)]),
            Event(42, "approve", APPROVED, IM, [approval("action_plan-2", 40, 42)]),
            Event(60, "check_in", A, CL, check_in=check_in(60)),
            Event(85, "closure", P, CL, [approval("closure-3", 85)]),
        ],
    ),
    # Not substantiated: closed, lessons captured, completed (no longer open); its lessons
    # escalated on day 38 and no row cleared it, yet a completed incident has nothing overdue.
    Incident(
        "p4",
        10,
        Severity.LOW,
        "RW",
        [Mineral.TIN, Mineral.TUNGSTEN],
        ["CID003"],
        ResponseLevel.MONITOR,
        [
            Event(23, "acknowledge", A, V),
            Event(30, "verification", A, CL),
            Event(31, "closure", P, CL, [approval("closure-1", 31)]),
            Event(
                33,
                "approve",
                APPROVED,
                LL,
                [approval("closure-1", 31, 33)],
                case_status=CaseStatus.CLOSED,
            ),
            escalated(
                38,
                LL,
                escalation("lessons_learned", 1, due=38, reached=38),
                status=CaseStatus.CLOSED,
            ),
            Event(40, "lessons_learned", A, LL, case_status=CaseStatus.CLOSED),
            Event(40, "system_completed", R, Step.COMPLETED, case_status=CaseStatus.CLOSED),
        ],
    ),
    # Verification overdue since day 90; its level 2 (day 97.5) is after the report.
    Incident(
        "p5",
        60,
        Severity.HIGH,
        "CD",
        [Mineral.COBALT],
        ["CID001"],
        None,
        [
            Event(61, "acknowledge", A, V),
            escalated(90, V, escalation("verification", 1, due=90, reached=90)),
            escalated(97.5, V, escalation("verification", 2, due=90, reached=97.5)),
        ],
    ),
    # One check-in a day late, then none since day 24: the check-in escalated to level 3.
    Incident(
        "p6",
        0,
        Severity.CRITICAL,
        "CD",
        [Mineral.TIN],
        ["CID001", "CID004"],
        ResponseLevel.COLLECTIVE_URGENT,
        [
            Event(0.5, "acknowledge", A, V),
            Event(6, "verification", A, RS),
            Event(8, "response", P, RS, [approval("response-1", 8)]),
            Event(9, "approve", APPROVED, AP, [approval("response-1", 8, 9)]),
            Event(15, "action_plan", P, AP, [approval("action_plan-2", 15)]),
            Event(16, "approve", APPROVED, IM, [approval("action_plan-2", 15, 16)]),
            escalated(23, IM, escalation("check_in", 1, due=23, reached=23)),
            Event(24, "check_in", A, IM, check_in=check_in(24)),
            escalated(24, IM, escalation("check_in", 0, due=23, reached=24, late=1)),
            escalated(31, IM, escalation("check_in", 1, due=31, reached=31)),
            escalated(32.75, IM, escalation("check_in", 2, due=31, reached=32.75)),
            escalated(34.5, IM, escalation("check_in", 3, due=31, reached=34.5)),
        ],
    ),
    # In implementation since day 60 with no check-in yet (one refused): within 90 days.
    Incident(
        "p7",
        50,
        Severity.LOW,
        "PE",
        [Mineral.GOLD],
        [],
        ResponseLevel.SUPPLIER_CORRECTIVE,
        [
            Event(51, "acknowledge", A, V),
            Event(55, "verification", A, RS),
            Event(56, "response", P, RS, [approval("response-1", 56)]),
            Event(57, "approve", APPROVED, AP, [approval("response-1", 56, 57)]),
            Event(58, "action_plan", P, AP, [approval("action_plan-2", 58)]),
            Event(60, "approve", APPROVED, IM, [approval("action_plan-2", 58, 60)]),
            Event(61, "check_in", REFUSED, IM),
        ],
    ),
    # Opened on day 89 and never acknowledged: no case owner, its acknowledgement overdue since
    # day 90 (due the same instant as p5's verification).
    Incident(
        "p8",
        89,
        Severity.CRITICAL,
        "ZM",
        [Mineral.MICA],
        [],
        None,
        [escalated(90, V, escalation("acknowledge", 1, due=90, reached=90))],
        case_owner=None,
        reporter=Reporter(anonymous=False, name="Amina Mwale", contact="+260 97 555 0100"),
        description="Amina Mwale saw children carrying ore at the Chanda pit.",
        site_name="Chanda pit",
    ),
]


async def _build(register: CaseRegister, incident: Incident) -> None:
    env = ActivityEnvironment()
    incident_id = f"incident-PORTFOLIO-{incident.name}"
    intake = Intake(
        external_reference=f"PORTFOLIO-{incident.name}",
        received_at=day(incident.opened),
        channel=Channel.NGO_REPORT,
        reporter=incident.reporter,
        description=incident.description,
        location=Location(
            country=incident.country,
            site_name=incident.site_name,
            site_type=SiteType.ARTISANAL_SMALL_SCALE,
        ),
        minerals=incident.minerals,
        tier=SupplyChainTier.MINE_SITE,
        facility_ids=incident.facilities,
        alleged_harms=[HarmType.FORCED_LABOUR],
        affected_persons_estimate=5,
        children_affected=False,
        migrants_affected=False,
        women_affected=False,
        imminent_danger=False,
        opened_by=OPENER,
    )
    await env.run(
        register.open_incident,
        IncidentOpening(
            incident_id=incident_id,
            intake=intake,
            opened_at=day(incident.opened),
            provisional_severity=incident.severity,
            case_owner=incident.case_owner,
            policy_version="default-1",
        ),
    )
    for sequence, event in enumerate(incident.events, start=1):
        recorded = await env.run(
            register.record_event,
            RegisterEvent(
                incident_id=incident_id,
                sequence=sequence,
                kind=event.kind,
                outcome=event.outcome,
                actor=SYSTEM if event.kind.startswith("system_") else OWNER,
                occurred_at=day(event.at),
                reason=None,
                summary=f"{event.kind} {event.outcome.value}",
                payload={},
                snapshot=IncidentSnapshot(
                    step=event.step,
                    case_status=event.case_status,
                    severity=incident.severity,
                    response_level=incident.response_level,
                    relationship=None,
                    case_owner=incident.case_owner,
                    escalation_level=event.escalation_level,
                    overdue=event.overdue,
                ),
                approvals=list(event.approvals),
                check_in=event.check_in,
                escalation=event.escalation,
            ),
        )
        assert recorded


@pytest.fixture(scope="module")
async def portfolio(register_pool: asyncpg.Pool) -> PortfolioRegister:
    register = CaseRegister(register_pool, TEST_KEY_RING)
    for incident in PORTFOLIO:
        await _build(register, incident)
    return PortfolioRegister(register_pool, Path("unused"))


@pytest.fixture(scope="module")
async def kpis(portfolio: PortfolioRegister) -> PortfolioKpis:
    return await ActivityEnvironment().run(portfolio.portfolio_kpis, AS_OF)


# --- The figures, worked out by hand ---------------------------------------------------------


async def test_open_incidents_are_counted_by_every_dimension(kpis: PortfolioKpis) -> None:
    # p4 is completed; the seven others are open.
    assert kpis.as_of == AS_OF
    assert kpis.open_incidents == 7
    assert kpis.open_by_step == {
        "verification": 2,  # p5, p8
        "response": 1,  # p2
        "action_plan": 0,
        "implementation": 3,  # p1, p6, p7
        "closure": 1,  # p3
        "lessons_learned": 0,
        "follow_up": 0,
    }
    assert kpis.open_by_severity == {"critical": 3, "high": 2, "medium": 1, "low": 1}
    assert kpis.open_by_response_level == {
        "monitor": 0,
        "supplier_corrective": 2,  # p3, p7
        "company_led": 1,  # p1
        "collective_urgent": 1,  # p6
        "undetermined": 3,  # p2, p5, p8
    }
    assert kpis.open_by_country == {"CD": 4, "GH": 1, "PE": 1, "ZM": 1}
    assert kpis.open_by_mineral == {
        "tin": 2,  # p1, p6
        "tantalum": 1,
        "tungsten": 0,  # only p4, completed
        "gold": 3,  # p2, p3, p7
        "cobalt": 1,
        "mica": 1,  # p8
        "lithium": 0,
    }
    assert kpis.open_by_facility == {"CID001": 3, "CID002": 2, "CID004": 1}
    assert kpis.facilities_with_open_incidents == 3


async def test_overdue_milestones_and_escalations_stand_as_of_the_report(
    kpis: PortfolioKpis,
) -> None:
    assert kpis.overdue_incidents == 4  # p2, p5, p6, p8
    # p1's acknowledge cleared; p5's level 2 comes after the report; p4 is completed.
    assert kpis.active_escalations.model_dump() == {"level_1": 2, "level_2": 0, "level_3": 2}
    assert kpis.overdue_milestones_by_kind == {
        "acknowledge": 1,
        "approval": 1,
        "check_in": 1,
        "verification": 1,
    }


ESCALATED_NOW = [
    # Most recently due first; due the same instant, by incident id.
    ("incident-PORTFOLIO-p5", "verification", "verification", day(90), 1.5, 1, OWNER.id),
    ("incident-PORTFOLIO-p8", "verification", "acknowledge", day(90), 1.5, 1, None),
    ("incident-PORTFOLIO-p2", "response", "approval:response-1", day(55), 36.5, 3, OTHER_OWNER),
    ("incident-PORTFOLIO-p6", "implementation", "check_in", day(31), 60.5, 3, OWNER.id),
]


async def test_escalated_milestones_are_listed_by_incident_most_recently_due_first(
    kpis: PortfolioKpis,
) -> None:
    listed = [
        (m.incident_id, m.step.value, m.milestone, m.due_at, m.days_late, m.level, m.case_owner)
        for m in kpis.escalated_milestones
    ]
    # Not listed: p1's acknowledge and p6's first check-in (cleared), p4's lessons learned
    # (completed); p5 stands at level 1, its level 2 comes after the report.
    assert listed == ESCALATED_NOW
    levels = kpis.active_escalations
    assert kpis.escalated_milestones_total == 4
    assert kpis.escalated_milestones_total == levels.level_1 + levels.level_2 + levels.level_3


async def test_the_escalated_milestones_listed_are_capped_and_all_counted(
    portfolio: PortfolioRegister, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activities.portfolio, "ESCALATED_MILESTONES_LISTED", 2)
    capped = await ActivityEnvironment().run(portfolio.portfolio_kpis, AS_OF)
    assert [(m.incident_id, m.milestone) for m in capped.escalated_milestones] == [
        (incident, milestone) for incident, _, milestone, *_ in ESCALATED_NOW[:2]
    ]
    assert capped.escalated_milestones_total == 4
    markdown = report_markdown(_report(capped))
    assert "The 2 most recently due of 4 are listed; all are counted above." in markdown


async def test_time_in_step_is_the_median_and_90th_percentile_of_ended_stays(
    kpis: PortfolioKpis,
) -> None:
    durations = {d.step.value: (d.stays, d.median_days, d.p90_days) for d in kpis.time_in_step}
    assert durations == {
        # p1 5, p2 10, p3 18, p4 20, p6 6, p7 5 → [5, 5, 6, 10, 18, 20]
        "verification": (6, 8.0, 19.0),
        # p1 3, p3 9, p6 3, p7 2 → [2, 3, 3, 9]; p90 at 2.7: 3 + 0.7 * 6
        "response": (4, 3.0, 7.2),
        # p1 12, p3 15, p6 7, p7 3 → [3, 7, 12, 15]; p90 at 2.7: 12 + 0.7 * 3
        "action_plan": (4, 9.5, 14.1),
        "implementation": (1, 18.0, 18.0),  # p3, days 42 to 60
        "closure": (1, 3.0, 3.0),  # p4, days 30 to 33
        "lessons_learned": (1, 7.0, 7.0),  # p4, days 33 to 40
        "follow_up": (0, None, None),
    }
    assert kpis.window_days == 365


async def test_on_time_rate_counts_escalated_milestones_as_late(kpis: PortfolioKpis) -> None:
    rates = {m.milestone_kind.value: (m.met, m.met_late, m.on_time_rate) for m in kpis.on_time}
    assert rates == {
        "acknowledge": (7, 1, 0.8571),  # p1's came a day late
        "immediate_protection": (0, 0, None),
        "verification": (6, 0, 1.0),
        "response": (5, 0, 1.0),
        "action_plan": (4, 0, 1.0),
        "approval": (9, 0, 1.0),  # decided approvals
        "check_in": (4, 1, 0.75),  # p7's refused check-in met nothing; p6's first was late
        "action_due": (0, 0, None),
        "closure": (2, 0, 1.0),
        "lessons_learned": (1, 0, 1.0),
        "follow_up": (0, 0, None),
    }


async def test_check_in_compliance_against_the_cadence_per_severity(kpis: PortfolioKpis) -> None:
    compliance = {
        c.severity.value: (c.cadence_days, c.incidents, c.compliant, c.rate)
        for c in kpis.check_in_compliance
    }
    assert compliance == {
        # p1 checked in 3.5 days ago; p6 67.5 days ago.
        "critical": (7.0, 2, 1, 0.5),
        "high": (14.0, 0, 0, None),
        "medium": (30.0, 0, 0, None),
        # p7: no check-in, plan approved 31.5 days ago.
        "low": (90.0, 1, 1, 1.0),
    }


async def test_the_approvals_waiting_longest_come_first(kpis: PortfolioKpis) -> None:
    waiting = [
        (a.incident_id, a.approval_id, a.kind, a.requested_at, a.waiting_days)
        for a in kpis.longest_waiting_approvals
    ]
    assert waiting == [
        ("incident-PORTFOLIO-p2", "response-1", "response", day(50), 41.5),
        ("incident-PORTFOLIO-p3", "closure-3", "closure", day(85), 6.5),
    ]


async def test_escalations_are_counted_per_iso_week_for_26_weeks(kpis: PortfolioKpis) -> None:
    weeks = kpis.escalations_by_week
    assert len(weeks) == 26
    assert (weeks[0].week, weeks[0].week_start) == ("2025-W50", date(2025, 12, 8))
    assert (weeks[-1].week, weeks[-1].week_start) == ("2026-W23", date(2026, 6, 1))
    busy = {w.week: (w.level_1, w.level_2, w.level_3, w.total) for w in weeks if w.total}
    assert busy == {
        "2026-W10": (1, 0, 0, 1),  # p1 acknowledge, 3 March
        "2026-W13": (1, 0, 0, 1),  # p6 check-in, 25 March
        "2026-W14": (1, 1, 1, 3),  # p6 check-in, 2 to 5 April
        "2026-W15": (1, 0, 0, 1),  # p4 lessons learned, 9 April
        "2026-W17": (1, 0, 0, 1),  # p2 approval, Sunday 26 April
        "2026-W18": (0, 1, 1, 2),  # p2 approval, 27 and 28 April
        # p5 verification (its level 2 is later) and p8 acknowledgement, Sunday 31 May
        "2026-W22": (2, 0, 0, 2),
    }
    starts = [w.week_start for w in weeks]
    assert starts == [date(2025, 12, 8) + timedelta(weeks=n) for n in range(26)]


async def test_step_stays_are_kept_from_the_snapshots(register_pool: asyncpg.Pool) -> None:
    rows = await register_pool.fetch(
        "SELECT step, entered_sequence, entered_at, left_sequence, left_at "
        "FROM incident_step_stays WHERE incident_id = $1 ORDER BY entered_sequence",
        "incident-PORTFOLIO-p4",
    )
    assert [tuple(row) for row in rows] == [
        ("verification", 0, day(10), 2, day(30)),
        ("closure", 2, day(30), 4, day(33)),
        ("lessons_learned", 4, day(33), 7, day(40)),
    ]


# --- The report ------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script> & | pipes'


def _report(kpis: PortfolioKpis, *, generated_at: datetime = AS_OF) -> PortfolioReport:
    return PortfolioReport(
        as_of=AS_OF,
        generated_at=generated_at,
        kpis=kpis,
        reconciliation=ReconciliationReport(
            incidents_in_register=6,
            workflows_running=5,
            findings=[
                ReconciliationFinding(
                    kind=FindingKind.REGISTER_OPEN_WORKFLOW_MISSING,
                    incident_id="incident-PORTFOLIO-p5",
                    detail=HOSTILE,
                )
            ],
        ),
    )


class _Page(HTMLParser):
    """What the test needs to know of the page: tags, svg ids and the titles inside each."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.svg_titles: dict[str, str] = {}
        self.tables = 0
        self._svg: str | None = None
        self._in_title = False
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs
        if tag == "svg":
            self._svg = dict(attrs).get("id") or ""
            self._depth = 0
        elif tag == "title" and self._svg is not None:
            self._depth += 1
            self._in_title = self._depth == 1 and self._svg not in self.svg_titles
        elif tag == "table":
            self.tables += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = None
        elif tag == "title" and self._svg is not None:
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and self._svg is not None:
            self.svg_titles[self._svg] = self.svg_titles.get(self._svg, "") + data


async def test_the_html_page_is_self_contained_with_its_three_charts(kpis: PortfolioKpis) -> None:
    page = _Page()
    page.feed(report_html(_report(kpis)))
    page.close()
    assert page.svg_titles == {
        CHART_OPEN_BY_STEP: "Open incidents per step",
        CHART_TIME_IN_STEP: "Time in step: median and 90th percentile (days)",
        CHART_ESCALATIONS_BY_WEEK: "Escalation levels reached per ISO week",
    }
    assert page.tags.count("svg") == 3
    assert page.tables >= 10
    # Nothing fetched from elsewhere, no script: the hostile text was escaped, not parsed.
    assert "script" not in page.tags
    assert not [name for name, _ in page.attributes if name in ("src", "href")]
    assert "link" not in page.tags
    html_text = report_html(_report(kpis))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; | pipes" in html_text


async def test_the_markdown_holds_the_tables(kpis: PortfolioKpis) -> None:
    markdown = report_markdown(_report(kpis))
    assert markdown.startswith("# Portfolio report — as of 2026-06-01 12:00 UTC\n")
    for expected in [
        "| Step | Open |\n|---|---|\n| verification | 2 |\n| response | 1 |\n",
        "| implementation | 3 |",
        "| Country | Open |\n|---|---|\n| CD | 4 |\n| GH | 1 |\n| PE | 1 |\n",
        "| Step | Stays | Median (days) | 90th percentile (days) |",
        "| action plan | 4 | 9.5 | 14.1 |",
        "| follow up | 0 | — | — |",
        "| acknowledge | 7 | 1 | 85.7 % |",
        "| critical | 7 | 2 | 1 | 50.0 % |",
        "| incident-PORTFOLIO-p2 | response-1 | response | 2026-04-21 00:00 UTC | 41.5 |",
        "| 2026-W14 | 2026-03-30 | 1 | 1 | 1 | 3 |",
        "| L3 — executive sponsor | 2 |",
    ]:
        assert expected in markdown
    # Text that reaches a table cannot break it.
    assert '| \\<script\\>alert("x")\\</script\\> & \\| pipes |' in markdown


async def test_json_is_the_contract(kpis: PortfolioKpis) -> None:
    report = _report(kpis)
    document = report_json(report)
    assert PortfolioReport.model_validate(document) == report
    assert document["kpis"]["open_by_step"]["implementation"] == 3
    json.dumps(document)


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


async def test_storing_twice_keeps_one_report_and_writes_its_files(
    register_pool: asyncpg.Pool, kpis: PortfolioKpis, tmp_path: Path
) -> None:
    reports_dir = tmp_path / "reports" / "portfolio"
    store = PortfolioRegister(register_pool, reports_dir)
    env = ActivityEnvironment()

    first = await env.run(store.store_portfolio_report, _report(kpis))
    again = await env.run(
        store.store_portfolio_report, _report(kpis, generated_at=AS_OF + timedelta(minutes=5))
    )

    identifier = "portfolio-20260601T120000Z"
    assert report_id("portfolio", AS_OF) == identifier
    assert (first.report_id, first.newly_stored) == (identifier, True)
    assert (again.report_id, again.newly_stored) == (identifier, False)
    assert again.generated_at == first.generated_at == AS_OF  # the first call's copy stays
    assert (first.json_path, first.markdown_path, first.html_path) == (
        again.json_path,
        again.markdown_path,
        again.html_path,
    )
    rows = await register_pool.fetch(
        "SELECT report_id, generated_at, json, markdown, html FROM reports "
        "WHERE kind = 'portfolio' AND as_of = $1",
        AS_OF,
    )
    assert len(rows) == 1
    [row] = rows
    assert sorted(path.name for path in reports_dir.iterdir()) == [
        f"{identifier}.html",
        f"{identifier}.json",
        f"{identifier}.md",
    ]
    assert Path(first.json_path) == reports_dir / f"{identifier}.json"
    assert json.loads(_read(first.json_path)) == row["json"] == report_json(_report(kpis))
    assert _read(first.markdown_path) == row["markdown"]
    assert _read(first.html_path) == row["html"]
    stored = await store.stored_report("portfolio", AS_OF)
    assert stored is not None
    assert stored["report_id"] == identifier


async def test_a_naive_instant_is_refused_for_good(portfolio: PortfolioRegister) -> None:
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(portfolio.portfolio_kpis, AS_OF.replace(tzinfo=None))
    assert refused.value.non_retryable


# --- Chart axes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("largest", "whole", "top", "labels"),
    [
        # Tiny values: the labels carry the decimals the step needs (once read 0, 0, 0, 0.01).
        (0.01, False, 0.01, ["0.000", "0.002", "0.004", "0.006", "0.008", "0.010"]),
        (0.012, False, 0.015, ["0.000", "0.005", "0.010", "0.015"]),
        (0.03, False, 0.03, ["0.00", "0.01", "0.02", "0.03"]),
        (0.004, False, 0.004, ["0.000", "0.001", "0.002", "0.003", "0.004"]),
        (0.5, False, 0.5, ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]),
        (1.0, False, 1.0, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (7.2, False, 8.0, ["0", "2", "4", "6", "8"]),
        (19.0, False, 20.0, ["0", "5", "10", "15", "20"]),
        # Nothing to draw: an axis from 0 to 1.
        (0.0, False, 1.0, ["0", "1"]),
        (0.0, True, 1.0, ["0", "1"]),
        # Whole numbers never get a step below 1.
        (1.0, True, 1.0, ["0", "1"]),
        (3.0, True, 3.0, ["0", "1", "2", "3"]),
        (9.0, True, 10.0, ["0", "2", "4", "6", "8", "10"]),
        # Large values.
        (12345.0, True, 15000.0, ["0", "5000", "10000", "15000"]),
        (
            2_500_000.0,
            True,
            2_500_000.0,
            ["0", "500000", "1000000", "1500000", "2000000", "2500000"],
        ),
    ],
)
def test_axis_ticks_are_nice_steps_with_the_decimals_they_need(
    largest: float, whole: bool, top: float, labels: list[str]
) -> None:
    assert _axis(largest, whole=whole) == (top, labels)


@pytest.mark.parametrize("whole", [False, True])
def test_axis_tick_labels_are_distinct_and_cover_the_tallest_bar(whole: bool) -> None:
    for exponent in range(-4, 7):
        for mantissa in (1.0, 1.01, 1.5, 2.0, 2.49, 3.0, 4.99, 5.0, 7.3, 9.99):
            largest = round(mantissa * 10.0**exponent, 6)
            if whole:
                largest = float(max(round(largest), 1))
            top, labels = _axis(largest, whole=whole)
            assert len(set(labels)) == len(labels), (largest, labels)
            assert 2 <= len(labels) <= 6, (largest, labels)
            assert top >= largest, (largest, top)
            step = float(labels[1].replace(",", ""))
            assert step * (len(labels) - 2) < largest, (largest, labels)  # no tick wasted
            leading = f"{step:e}"[0]
            assert leading in "125", (largest, step)


def _tick_labels(page: str, chart_id: str) -> list[str]:
    """The value axis's labels of one chart, bottom first (the only right-aligned texts)."""
    svg = page[page.index(f'<svg id="{chart_id}"') :]
    svg = svg[: svg.index("</svg>")]
    return [text.split(">", 1)[1].split("<", 1)[0] for text in svg.split('text-anchor="end"')[1:]]


async def test_small_times_in_step_get_distinct_tick_labels(kpis: PortfolioKpis) -> None:
    # Stays of a quarter of an hour or so, rounded to hundredths of a day.
    tiny = [
        StepDurations(step=d.step, stays=1, median_days=0.01, p90_days=0.01)
        for d in kpis.time_in_step
    ]
    page = report_html(_report(kpis.model_copy(update={"time_in_step": tiny})))
    assert _tick_labels(page, CHART_TIME_IN_STEP) == [
        "0.000",
        "0.002",
        "0.004",
        "0.006",
        "0.008",
        "0.010",
    ]
    # The fixture's own: p90 of verification, 19 days, is the tallest bar.
    assert _tick_labels(report_html(_report(kpis)), CHART_TIME_IN_STEP) == [
        "0",
        "5",
        "10",
        "15",
        "20",
    ]


# --- Quiet weeks -----------------------------------------------------------------------------


DASH = "\N{EN DASH}"


def _week(monday: date, total: int) -> WeeklyEscalations:
    year, number, _ = monday.isocalendar()
    return WeeklyEscalations(
        week=f"{year}-W{number:02d}",
        week_start=monday,
        level_1=total,
        level_2=0,
        level_3=0,
        total=total,
    )


def _quiet_run(first: str, last: str, monday: date, weeks: int) -> list[object]:
    return [f"{first} {DASH} {last}", monday, 0, 0, 0, f"0 ({weeks} weeks without escalations)"]


def test_runs_of_quiet_weeks_become_one_row_and_a_lone_quiet_week_stays() -> None:
    mondays = [date(2026, 3, 2) + timedelta(weeks=n) for n in range(8)]
    totals = [0, 2, 0, 0, 1, 0, 0, 0]
    rows = _week_rows([_week(monday, total) for monday, total in zip(mondays, totals, strict=True)])
    assert [list(row) for row in rows] == [
        ["2026-W10", date(2026, 3, 2), 0, 0, 0, 0],
        ["2026-W11", date(2026, 3, 9), 2, 0, 0, 2],
        _quiet_run("2026-W12", "2026-W13", date(2026, 3, 16), 2),
        ["2026-W14", date(2026, 3, 30), 1, 0, 0, 1],
        _quiet_run("2026-W15", "2026-W17", date(2026, 4, 6), 3),
    ]
    quiet = [_week(monday, 0) for monday in mondays]
    assert [list(row) for row in _week_rows(quiet)] == [
        _quiet_run("2026-W10", "2026-W17", date(2026, 3, 2), 8)
    ]
    assert _week_rows([]) == []


async def test_the_rendered_weeks_collapse_quiet_runs_while_the_json_keeps_every_week(
    kpis: PortfolioKpis,
) -> None:
    report = _report(kpis)
    markdown = report_markdown(report)
    table = markdown[markdown.index("| Week | Starts |") :].split("\n\n", 1)[0]
    assert table.splitlines() == [
        "| Week | Starts | L1 | L2 | L3 | Total |",
        "|---|---|---|---|---|---|",
        f"| 2025-W50 {DASH} 2026-W09 | 2025-12-08 | 0 | 0 | 0 | 0 (12 weeks without escalations) |",
        "| 2026-W10 | 2026-03-02 | 1 | 0 | 0 | 1 |",
        f"| 2026-W11 {DASH} 2026-W12 | 2026-03-09 | 0 | 0 | 0 | 0 (2 weeks without escalations) |",
        "| 2026-W13 | 2026-03-23 | 1 | 0 | 0 | 1 |",
        "| 2026-W14 | 2026-03-30 | 1 | 1 | 1 | 3 |",
        "| 2026-W15 | 2026-04-06 | 1 | 0 | 0 | 1 |",
        "| 2026-W16 | 2026-04-13 | 0 | 0 | 0 | 0 |",  # a lone quiet week keeps its row
        "| 2026-W17 | 2026-04-20 | 1 | 0 | 0 | 1 |",
        "| 2026-W18 | 2026-04-27 | 0 | 1 | 1 | 2 |",
        f"| 2026-W19 {DASH} 2026-W21 | 2026-05-04 | 0 | 0 | 0 | 0 (3 weeks without escalations) |",
        "| 2026-W22 | 2026-05-25 | 2 | 0 | 0 | 2 |",
        "| 2026-W23 | 2026-06-01 | 0 | 0 | 0 | 0 |",
    ]
    page = report_html(report)
    assert f"<td>2025-W50 {DASH} 2026-W09</td>" in page
    assert "<td>0 (12 weeks without escalations)</td>" in page
    # Machines still get the whole series, and the chart a bar slot for every week.
    assert len(report_json(report)["kpis"]["escalations_by_week"]) == 26
    chart = page[page.index(f'<svg id="{CHART_ESCALATIONS_BY_WEEK}"') :]
    chart = chart[: chart.index("</svg>")]
    assert all(f">{week.week}</text>" in chart for week in kpis.escalations_by_week)


# --- Overdue milestones by incident in the report --------------------------------------------

# What fixture p8 holds of people and in free text (its intake and site): never in a report.
PERSONAL = ["Amina", "Mwale", "+260", "97 555", "Chanda", "children carrying", "Fixture allegation"]


async def test_the_report_lists_overdue_milestones_by_incident_without_personal_data(
    kpis: PortfolioKpis,
) -> None:
    report = _report(kpis)
    markdown = report_markdown(report)
    section = markdown[markdown.index("## Overdue milestones by incident\n") :]
    section = section.split("\n## ", 1)[0]
    assert section.splitlines()[4:] == [
        "| Incident | Step | Milestone | Due | Days late | Level | Case owner |",
        "|---|---|---|---|---|---|---|",
        "| incident-PORTFOLIO-p5 | verification | verification | 2026-05-31 00:00 UTC | 1.5 | L1 "
        "| case-owner-1 |",
        "| incident-PORTFOLIO-p8 | verification | acknowledge | 2026-05-31 00:00 UTC | 1.5 | L1 "
        "| unassigned |",
        "| incident-PORTFOLIO-p2 | response | approval:response-1 | 2026-04-26 00:00 UTC | 36.5 "
        "| L3 | case-owner-2 |",
        "| incident-PORTFOLIO-p6 | implementation | check_in | 2026-04-02 00:00 UTC | 60.5 "
        "| L3 | case-owner-1 |",
    ]
    # The definition, and no "left off" note while every one is listed.
    assert "the most recently due first" in section
    assert "are listed" not in section
    page = report_html(report)
    assert "<h2>Overdue milestones by incident</h2>" in page
    assert "<td>incident-PORTFOLIO-p8</td><td>verification</td><td>acknowledge</td>" in page
    assert "<td>unassigned</td>" in page
    document = report_json(report)
    assert document["kpis"]["escalated_milestones_total"] == 4
    assert document["kpis"]["escalated_milestones"][1] == {
        "incident_id": "incident-PORTFOLIO-p8",
        "step": "verification",
        "milestone": "acknowledge",
        "due_at": "2026-05-31T00:00:00Z",
        "days_late": 1.5,
        "level": 1,
        "case_owner": None,
    }
    for text in (json.dumps(document), markdown, page):
        assert [word for word in PERSONAL if word in text] == []
