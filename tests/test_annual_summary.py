"""The yearly due-diligence summary and the anonymised export, against a real PostgreSQL: a year
of incidents built through the case register's own activities, its figures worked out by hand
below; and the suppression rule on its own, against every table a brute-force reader can attack."""

import asyncio
import csv
import io
import itertools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.testing import ActivityEnvironment

from activities.annual_summary import (
    AnnualSummaryRegister,
    export_csv,
    export_json,
    partition_table,
    published,
    summarise,
)
from activities.case_register import CaseRegister
from activities.portfolio import PortfolioRegister
from activities.report_rendering import report_html, report_json, report_markdown
from schemas.actor import Actor, Role
from schemas.decisions import (
    AffectedPersons,
    CloseEarly,
    Closure,
    ClosureChecklist,
    Verification,
)
from schemas.intake import Intake, Location, Reporter
from schemas.monitoring import (
    SMALL_COUNT,
    WITHHELD_COUNT,
    AnnualSummary,
    ClosedCaseExport,
    CountTable,
    MonitoringKind,
    PortfolioReport,
)
from schemas.register import (
    ActionRecord,
    EventOutcome,
    IncidentOpening,
    IncidentSnapshot,
    LessonRecord,
    RegisterEvent,
)
from schemas.vocabulary import (
    ActionCategory,
    ActionStatus,
    AssistanceType,
    CaseStatus,
    ChangeArea,
    Channel,
    ClosureStatus,
    EarlyClosureReason,
    HarmType,
    MethodOfControl,
    Mineral,
    RemedyType,
    ResponseLevel,
    RootCause,
    Severity,
    SiteType,
    Step,
    SupplyChainTier,
    VerificationMethod,
    VerificationOutcome,
)
from tests.conftest import PROJECT_ROOT, TEST_KEY_RING

YEAR = 2026
AS_OF = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)  # when the annual schedule runs
OPENER = Actor(id="grievance-intake", roles=(Role.INTEGRATION,))
OWNER = Actor(id="owner.seeded-amara", roles=(Role.CASE_OWNER,))
APPROVER = Actor(id="approver.seeded-sofia", roles=(Role.APPROVER,))
VERIFIER = Actor(id="verifier.seeded-kenji", roles=(Role.VERIFIER,))

# Personal data and free text seeded into the register; none may reach the summary or the export.
SEEDED = [
    "Amani Seeded-Reporter",
    "+243 555 0199 seeded",
    "SEEDED-DESCRIPTION",
    "Jeanne Seeded-Victim",
    "Seeded-Region",
    "Seeded-Site",
    "Seeded Supplier Ltd",
    "CIDSEED",
    "SEEDED-VERIFICATION",
    "SEEDED-DO-NO-HARM",
    "SEEDED-CLOSURE",
    "SEEDED-EXPLANATION",
    "SEEDED-ACTION",
    "partner.seeded",
    "SEEDED-REASON",
    "SEEDED-EVENT",
    "SEEDED-ROOT-NOTES",
    "SEEDED-GAP",
    "SEEDED-CHANGE",
    "SEEDED-SUPPLIER-OUTCOME",
    "SEEDED-ANON-SUMMARY",
    "seeded-amara",
    "seeded-sofia",
    "seeded-kenji",
    "ANNUAL-SEED",  # external references and incident ids
]
# A date finer than the year: 2026-03, 2026-03-02, 02/03/2026 ...
_FINE_DATE = re.compile(r"\d{4}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}")

FL, HT, DB = HarmType.FORCED_LABOUR, HarmType.HUMAN_TRAFFICKING, HarmType.DEBT_BONDAGE
WFCL, HCL = HarmType.WORST_FORMS_OF_CHILD_LABOUR, HarmType.HAZARDOUS_CHILD_LABOUR
REMEDY, ASSISTANCE = ActionCategory.REMEDY, ActionCategory.ASSISTANCE
DONE, CANCELLED = ActionStatus.COMPLETED, ActionStatus.CANCELLED
GOING, WAITING = ActionStatus.IN_PROGRESS, ActionStatus.NOT_STARTED


@dataclass
class Case:
    """One incident of the fixture year and what happened to it."""

    name: str
    received: datetime
    country: str
    minerals: list[Mineral]
    channel: Channel
    tier: SupplyChainTier
    severity: Severity
    response_level: ResponseLevel | None
    alleged: list[HarmType]
    # (outcome, harms confirmed, methods of control); None: never verified.
    verification: tuple[VerificationOutcome, list[HarmType], list[MethodOfControl]] | None = None
    # Days from receipt to closure, and how: a ClosureStatus, or an early closure's reason.
    closed_after: float | None = None
    closed_as: ClosureStatus | EarlyClosureReason | None = None
    closure_reason: str | None = None
    actions: list[tuple[ActionCategory, str, ActionStatus]] = field(default_factory=list)
    lessons: tuple[list[RootCause], list[ChangeArea]] | None = None
    final_status: CaseStatus | None = None


def at(month: int, day_: int) -> datetime:
    return datetime(YEAR, month, day_, 9, 30, tzinfo=UTC)


SUB, PART = VerificationOutcome.SUBSTANTIATED, VerificationOutcome.PARTIALLY_SUBSTANTIATED
NOT_SUB, INCONCLUSIVE = VerificationOutcome.NOT_SUBSTANTIATED, VerificationOutcome.INCONCLUSIVE
CD, RW, UG = "CD", "RW", "UG"
GRIEVANCE, NGO, AUDIT = Channel.GRIEVANCE_MECHANISM, Channel.NGO_REPORT, Channel.AUDIT_FINDING
MINE, TRADER = SupplyChainTier.MINE_SITE, SupplyChainTier.TRADER_COLLECTOR
CRITICAL, HIGH, MEDIUM = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
LED, SUPPLIER = ResponseLevel.COMPANY_LED, ResponseLevel.SUPPLIER_CORRECTIVE
URGENT = ResponseLevel.COLLECTIVE_URGENT
FINANCIAL, APOLOGY = RemedyType.FINANCIAL_COMPENSATION, RemedyType.APOLOGY
LIVELIHOOD, EDUCATION = AssistanceType.LIVELIHOOD_SUPPORT, AssistanceType.EDUCATION
MEDICAL = AssistanceType.MEDICAL_CARE
FEES, WEAK_DD = RootCause.RECRUITMENT_FEE_PRACTICES, RootCause.WEAK_DUE_DILIGENCE_AT_TIER
AUDIT_GAPS = RootCause.AUDIT_GAPS
CODE, PROTOCOL = ChangeArea.SUPPLIER_CODE, ChangeArea.AUDIT_PROTOCOL

YEAR_CASES = [
    # Closed: remediation completed (three), not substantiated (two), withdrawn early (one).
    Case(
        "c01",
        datetime(YEAR, 1, 1, tzinfo=UTC),  # the year's first instant counts
        CD,
        [Mineral.TIN],
        GRIEVANCE,
        MINE,
        HIGH,
        LED,
        [FL, HarmType.SEXUAL_EXPLOITATION],  # alleged; verification confirmed others
        (SUB, [FL, DB], [MethodOfControl.DEBT_BONDAGE, MethodOfControl.WITHHOLDS_DOCUMENTS]),
        30,
        ClosureStatus.CLOSED,
        "remediation completed",
        [(REMEDY, FINANCIAL, DONE), (ASSISTANCE, LIVELIHOOD, DONE)],
        ([FEES, WEAK_DD], [CODE, PROTOCOL]),
        CaseStatus.CLOSED,
    ),
    Case(
        "c02",
        at(2, 10),
        CD,
        [Mineral.GOLD],
        NGO,
        MINE,
        HIGH,
        LED,
        [FL],
        (SUB, [FL], [MethodOfControl.THREATS]),
        60,
        ClosureStatus.CLOSED_REFERRED,
        "remediation completed",
        [(REMEDY, APOLOGY, DONE), (ASSISTANCE, LIVELIHOOD, DONE), (ASSISTANCE, MEDICAL, DONE)],
        ([FEES], [CODE]),
        CaseStatus.FOLLOW_UP,  # awaiting follow-up: referred only according to its closure
    ),
    Case(
        "c03",
        at(3, 2),
        RW,
        [Mineral.TIN, Mineral.TANTALUM],
        GRIEVANCE,
        TRADER,
        MEDIUM,
        SUPPLIER,
        [DB],
        (SUB, [DB], [MethodOfControl.DEBT_BONDAGE]),
        90,
        ClosureStatus.CLOSED,
        "remediation completed",
        [(REMEDY, FINANCIAL, DONE), (ASSISTANCE, EDUCATION, DONE)],
        ([FEES, AUDIT_GAPS], [CODE, PROTOCOL]),
        CaseStatus.CLOSED,
    ),
    Case(
        "c04",
        at(3, 20),
        CD,
        [Mineral.TIN],
        AUDIT,
        TRADER,
        MEDIUM,
        None,
        [FL],
        (NOT_SUB, [], []),
        120,
        ClosureStatus.CLOSED,
        "not substantiated",
        [],
        ([WEAK_DD, FEES], [CODE]),
        CaseStatus.CLOSED,
    ),
    Case(
        "c05",
        at(4, 5),
        UG,
        [Mineral.GOLD],
        NGO,
        MINE,
        MEDIUM,
        None,
        [HT, FL],
        (NOT_SUB, [], []),
        150,
        ClosureStatus.CLOSED,
        "not substantiated",
        [],
        ([FEES, WEAK_DD], [CODE]),
        CaseStatus.CLOSED,
    ),
    Case(
        "c06",
        at(5, 1),
        CD,
        [Mineral.COBALT],
        GRIEVANCE,
        TRADER,
        HIGH,
        None,
        [WFCL],
        None,
        200,
        EarlyClosureReason.WITHDRAWN,
        "closed early: withdrawn",
        final_status=CaseStatus.CLOSED,
    ),
    # Open.
    Case(
        "c07",
        at(6, 1),
        CD,
        [Mineral.TIN],
        GRIEVANCE,
        MINE,
        CRITICAL,
        URGENT,
        [WFCL],
        (SUB, [WFCL, FL], [MethodOfControl.PHYSICAL_ABUSE]),
        actions=[(ASSISTANCE, EDUCATION, GOING), (ASSISTANCE, MEDICAL, DONE)],
    ),
    Case(
        "c08",
        at(6, 15),
        CD,
        [Mineral.GOLD],
        NGO,
        MINE,
        CRITICAL,
        URGENT,
        [HT],
        (SUB, [HT], [MethodOfControl.RESTRICTS_MOVEMENT, MethodOfControl.FALSE_PROMISES]),
        actions=[(ASSISTANCE, LIVELIHOOD, DONE), (REMEDY, APOLOGY, CANCELLED)],
    ),
    Case(
        "c09",
        at(7, 3),
        CD,
        [Mineral.TIN],
        GRIEVANCE,
        MINE,
        HIGH,
        LED,
        [FL],
        (SUB, [FL], []),
        actions=[
            (ASSISTANCE, LIVELIHOOD, GOING),
            (ASSISTANCE, MEDICAL, DONE),
            (REMEDY, FINANCIAL, WAITING),
        ],
    ),
    Case(
        "c10",
        at(8, 8),
        RW,
        [Mineral.TANTALUM],
        NGO,
        MINE,
        HIGH,
        LED,
        [FL],
        (SUB, [FL], []),
        actions=[(ASSISTANCE, LIVELIHOOD, GOING), (REMEDY, APOLOGY, DONE)],
    ),
    Case("c11", at(9, 9), CD, [Mineral.TIN], AUDIT, TRADER, HIGH, LED, [DB], (SUB, [DB], [])),
    Case(
        "c12",
        at(10, 2),
        UG,
        [Mineral.GOLD],
        GRIEVANCE,
        MINE,
        MEDIUM,
        SUPPLIER,
        [FL, HT],
        (PART, [FL], []),
    ),
    # Inconclusive so far: its harm types stay those alleged.
    Case(
        "c13", at(11, 4), RW, [Mineral.TIN], NGO, MINE, MEDIUM, None, [FL], (INCONCLUSIVE, [], [])
    ),
    Case(
        "c14",
        datetime(YEAR, 12, 31, 23, 59, 59, tzinfo=UTC),  # the year's last second counts
        CD,
        [Mineral.MICA],
        AUDIT,
        MINE,
        MEDIUM,
        None,
        [HCL],
    ),
]
OTHER_YEARS = [
    Case(
        "o1",
        datetime(YEAR, 1, 1, tzinfo=UTC) - timedelta(seconds=1),
        CD,
        [Mineral.TIN],
        GRIEVANCE,
        MINE,
        HIGH,
        LED,
        [FL],
        (SUB, [FL], []),
        20,
        ClosureStatus.CLOSED,
        "remediation completed",
        [(REMEDY, FINANCIAL, DONE)],
        ([FEES], [CODE]),
        CaseStatus.CLOSED,
    ),
    Case(
        "o2", datetime(YEAR + 1, 1, 1, tzinfo=UTC), RW, [Mineral.GOLD], NGO, MINE, HIGH, None, [FL]
    ),
]


# --- Building the register -------------------------------------------------------------------


def _verification(outcome: VerificationOutcome, harms: list[HarmType], methods: list[Any]) -> Any:
    return Verification(
        actor=VERIFIER,
        outcome=outcome,
        methods=[VerificationMethod.SITE_VISIT],
        corroborating_sources=2,
        harms_confirmed=harms,
        methods_of_control=methods,
        affected_persons=AffectedPersons(adults=4, children=2 if WFCL in harms else 0),
        relationship="directly_linked",
        facility_in_supply_chain=True,
        scale=3,
        scope=2,
        irremediability=2,
        do_no_harm_notes="SEEDED-DO-NO-HARM: Jeanne Seeded-Victim fears her supervisor.",
        information_needed="SEEDED-VERIFICATION more interviews"
        if outcome == INCONCLUSIVE
        else None,
        summary="SEEDED-VERIFICATION: Jeanne Seeded-Victim and four others.",
    ).model_dump(mode="json")


def _action(number: int, category: ActionCategory, kind: str, status: ActionStatus) -> Any:
    return ActionRecord(
        action_id=f"A{number}",
        category=category,
        action_type=kind,
        description="SEEDED-ACTION for Jeanne Seeded-Victim",
        responsible_party="partner",
        implementing_partner="partner.seeded",
        beneficiary_count=3,
        concerns_children=False,
        due_date=date(YEAR, 12, 1),
        budget_amount=Decimal("1200.00"),
        currency="USD",
        status=status,
        progress_percent=100 if status == DONE else 40,
        spend_to_date=Decimal("300.00"),
        completion_verified_by="verifier.seeded-kenji" if status == DONE else None,
        completion_how="SEEDED-ACTION verified on site" if status == DONE else None,
        cancellation_reason="SEEDED-REASON" if status == CANCELLED else None,
    )


async def _build(register: CaseRegister, case: Case) -> None:
    env = ActivityEnvironment()
    incident_id = f"incident-ANNUAL-SEED-{case.name}"
    await env.run(
        register.open_incident,
        IncidentOpening(
            incident_id=incident_id,
            intake=Intake(
                external_reference=f"ANNUAL-SEED-{case.name}",
                received_at=case.received,
                channel=case.channel,
                reporter=Reporter(
                    anonymous=False, name="Amani Seeded-Reporter", contact="+243 555 0199 seeded"
                ),
                description="SEEDED-DESCRIPTION: Jeanne Seeded-Victim was forced to dig.",
                location=Location(
                    country=case.country,
                    region="Seeded-Region",
                    site_name="Seeded-Site",
                    site_type=SiteType.ARTISANAL_SMALL_SCALE,
                ),
                minerals=case.minerals,
                tier=case.tier,
                facility_ids=[f"CIDSEED{case.name}"],
                suppliers=["Seeded Supplier Ltd"],
                alleged_harms=case.alleged,
                affected_persons_estimate=6,
                children_affected=False,
                migrants_affected=True,
                women_affected=True,
                imminent_danger=False,
                opened_by=OPENER,
            ),
            opened_at=case.received,
            provisional_severity=case.severity,
            case_owner=OWNER.id,
            policy_version="default-1",
        ),
    )
    events: list[tuple[str, EventOutcome, Actor, Any, Step, list[ActionRecord]]] = []
    if case.verification is not None:
        outcome, harms, methods = case.verification
        step = Step.CLOSURE if outcome == NOT_SUB else Step.RESPONSE
        if outcome == INCONCLUSIVE:
            step = Step.VERIFICATION
        payload = _verification(outcome, harms, methods)
        events.append(("verification", EventOutcome.ACCEPTED, VERIFIER, payload, step, []))
    if case.actions:
        actions = [_action(n, *action) for n, action in enumerate(case.actions, start=1)]
        approved = EventOutcome.APPROVED
        events.append(("approve", approved, APPROVER, {}, Step.IMPLEMENTATION, actions))
    if isinstance(case.closed_as, ClosureStatus):
        closure = Closure(
            actor=OWNER,
            status=case.closed_as,
            checklist=ClosureChecklist(
                all_actions_resolved=True,
                victims_consulted=True,
                victim_satisfaction=4,
                supplier_corrective_actions_verified=True,
                no_ongoing_risk=True,
                grievance_channel_open=True,
                residual_support_partner="Seeded Supplier Ltd"
                if case.closed_as == ClosureStatus.CLOSED_REFERRED
                else None,
            ),
            summary="SEEDED-CLOSURE: Jeanne Seeded-Victim was repaid.",
        ).model_dump(mode="json")
        events.append(("closure", EventOutcome.PENDING_APPROVAL, OWNER, closure, Step.CLOSURE, []))
    elif isinstance(case.closed_as, EarlyClosureReason):
        early = CloseEarly(
            actor=OWNER, reason=case.closed_as, explanation="SEEDED-EXPLANATION by Amani"
        ).model_dump(mode="json")
        pending = EventOutcome.PENDING_APPROVAL
        events.append(("close_early", pending, OWNER, early, Step.VERIFICATION, []))
    closed_at = None
    if case.closed_after is not None:
        closed_at = case.received + timedelta(days=case.closed_after)
        events.append(("approve", EventOutcome.APPROVED, APPROVER, {}, Step.COMPLETED, []))
    for sequence, (kind, outcome_, actor, payload, step, actions) in enumerate(events, start=1):
        last = sequence == len(events)
        occurred = (
            closed_at
            if last and closed_at is not None
            else case.received + timedelta(days=sequence)
        )
        closed = closed_at is not None and last
        await env.run(
            register.record_event,
            RegisterEvent(
                incident_id=incident_id,
                sequence=sequence,
                kind=kind,
                outcome=outcome_,
                actor=actor,
                occurred_at=occurred,
                reason="SEEDED-REASON: Amani Seeded-Reporter insisted",
                summary=f"SEEDED-EVENT {kind}",
                payload=payload,
                snapshot=IncidentSnapshot(
                    step=step,
                    case_status=(case.final_status or CaseStatus.CLOSED)
                    if closed
                    else CaseStatus.ACTIVE,
                    severity=case.severity,
                    response_level=case.response_level,
                    relationship=None,
                    case_owner=OWNER.id,
                    closed_at=closed_at if closed else None,
                    closure_reason=case.closure_reason if closed else None,
                ),
                actions=actions,
            ),
        )
    if case.lessons is not None:
        assert closed_at is not None
        causes, areas = case.lessons
        await env.run(
            register.store_lessons,
            LessonRecord(
                incident_id=incident_id,
                recorded_at=closed_at + timedelta(days=5),
                minerals=case.minerals,
                country=case.country,
                facility_ids=[f"CIDSEED{case.name}"],
                harm_types=case.alleged,
                root_causes=causes,
                root_cause_notes="SEEDED-ROOT-NOTES: the recruiter of Jeanne Seeded-Victim",
                due_diligence_gaps=["SEEDED-GAP at the trader"],
                changes_made=[f"{area}: SEEDED-CHANGE for Seeded-Site" for area in areas],
                supplier_engagement_outcome="SEEDED-SUPPLIER-OUTCOME",
                shared_with_industry_programme=True,
                anonymised_summary="SEEDED-ANON-SUMMARY",
            ),
        )


@pytest.fixture(scope="module")
async def year_register(register_pool: asyncpg.Pool) -> AnnualSummaryRegister:
    register = CaseRegister(register_pool, TEST_KEY_RING)
    for case in [*YEAR_CASES, *OTHER_YEARS]:
        await _build(register, case)
    return AnnualSummaryRegister(register_pool)


@pytest.fixture(scope="module")
async def summary(year_register: AnnualSummaryRegister) -> AnnualSummary:
    return await ActivityEnvironment().run(year_register.annual_summary, YEAR, AS_OF)


@pytest.fixture(scope="module")
async def export(year_register: AnnualSummaryRegister) -> ClosedCaseExport:
    return await ActivityEnvironment().run(year_register.closed_case_export, YEAR, AS_OF)


def _annual_report(summary: AnnualSummary) -> PortfolioReport:
    return PortfolioReport(
        kind=MonitoringKind.ANNUAL, as_of=AS_OF, generated_at=AS_OF, annual=summary
    )


# --- The figures, worked out by hand ---------------------------------------------------------

S, X = SMALL_COUNT, WITHHELD_COUNT


async def test_incidents_of_the_year_are_counted_by_every_dimension(
    summary: AnnualSummary,
) -> None:
    assert summary.year == YEAR
    assert summary.incidents == 14  # c01..c14: not o1 (2025) nor o2 (2027)
    # CD 9, RW 3, UG 2: the two small ones hide each other (RW + UG = 5 could be 1+4 ... 4+1).
    assert summary.by_country == CountTable(rows={"CD": 9, "RW": S, "UG": S}, total=14)
    # tin 7, tantalum 2, gold 4, cobalt 1, mica 1: an incident may count under several.
    assert summary.by_mineral == CountTable(
        rows={
            "tin": 7,
            "tantalum": S,
            "tungsten": 0,
            "gold": S,
            "cobalt": S,
            "mica": S,
            "lithium": 0,
        }
    )
    assert summary.harm_basis == CountTable(rows={"confirmed": 9, "alleged": 5}, total=14)
    # Confirmed where verified (c01 alleged sexual exploitation, which was not confirmed), else
    # alleged (c04, c05 not substantiated; c06, c14 never verified; c13 inconclusive).
    # forced labour 9, human trafficking 2, debt bondage 3, worst forms 2, hazardous 1.
    assert summary.by_harm_type == CountTable(
        rows={
            "forced_labour": 9,
            "human_trafficking": S,
            "debt_bondage": S,
            "worst_forms_of_child_labour": S,
            "hazardous_child_labour": S,
            "sexual_exploitation": 0,
            "other_serious_abuse": 0,
        }
    )
    # critical 2 alone would be 14 - 6 - 6: the smallest shown row (high, first of the tie)
    # is withheld too.
    assert summary.by_severity == CountTable(
        rows={"critical": S, "high": X, "medium": 6, "low": 0}, total=14
    )
    # supplier corrective 2 and collective urgent 2 hide each other.
    assert summary.by_response_level == CountTable(
        rows={
            "monitor": 0,
            "supplier_corrective": S,
            "company_led": 5,
            "collective_urgent": S,
            "undetermined": 5,
        },
        total=14,
    )
    # trader/collector 4 alone: mine site (10) withheld too.
    assert summary.by_tier == CountTable(
        rows={
            "mine_site": X,
            "trader_collector": S,
            "exporter": 0,
            "smelter_refiner": 0,
            "component_maker": 0,
        },
        total=14,
    )
    # audit finding 3 alone: the NGO reports (5, smaller than the grievances' 6) withheld too.
    assert summary.by_channel == CountTable(
        rows={
            "grievance_mechanism": 6,
            "audit_finding": S,
            "ngo_report": X,
            "media_report": 0,
            "worker_hotline": 0,
            "government": 0,
            "other": 0,
        },
        total=14,
    )


async def test_closure_figures(summary: AnnualSummary) -> None:
    assert summary.by_status == CountTable(rows={"open": 8, "closed": 6}, total=14)
    # Closed 5, closed and referred 1 (c02, in follow-up now): 1 is small, and so would be the
    # other once withheld (6 - 5 = 1 whatever), so the breakdown is withheld whole.
    assert summary.closed_by_case_status == CountTable(rows={}, total=6, withheld=True)
    # remediation completed 3, not substantiated 2, withdrawn 1: three small rows of 6.
    assert summary.closed_by_outcome == CountTable(
        rows={
            "remediation_completed": S,
            "not_substantiated": S,
            "no_link": 0,
            "closed_early_duplicate": 0,
            "closed_early_merged": 0,
            "closed_early_out_of_scope": 0,
            "closed_early_withdrawn": S,
            "other": 0,
        },
        total=6,
    )
    # 30, 60, 90, 120, 150 and 200 days: the median is 105.
    assert summary.median_days_to_close == 105


async def test_action_figures(summary: AnnualSummary) -> None:
    assert summary.actions == 16
    assert summary.actions_by_category == CountTable(rows={"remedy": 6, "assistance": 10}, total=16)
    # Financial compensation 3 and apology 3 of 6: each could be 2, 3 or 4.
    remedy = {kind.value: 0 for kind in RemedyType} | {"financial_compensation": S, "apology": S}
    assert summary.remedy_actions_by_type == CountTable(rows=remedy, total=6)
    assistance = {kind.value: 0 for kind in AssistanceType} | {
        "livelihood_support": 5,
        "education": S,
        "medical_care": S,
    }
    assert summary.assistance_actions_by_type == CountTable(rows=assistance, total=10)
    assert summary.actions_by_status == CountTable(
        rows={"completed": 11, "cancelled": S, "open": S}, total=16
    )
    assert summary.completed_share == 0.6875


async def test_lessons_figures(summary: AnnualSummary) -> None:
    assert summary.lessons == CountTable(rows={"captured": 5, "not_captured": 9}, total=14)
    causes = {cause.value: 0 for cause in RootCause} | {
        "recruitment_fee_practices": 5,
        "weak_due_diligence_at_tier": S,
        "audit_gaps": S,
    }
    assert summary.by_root_cause == CountTable(rows=causes)
    # Supplier code 5, audit protocol 2 of 7 changes: the supplier code withheld too.
    assert summary.changes == 7
    areas = {area.value: 0 for area in ChangeArea} | {"supplier_code": X, "audit_protocol": S}
    assert summary.changes_by_area == CountTable(rows=areas, total=7)


async def test_a_thin_year_suppresses_its_total_and_its_median(
    year_register: AnnualSummaryRegister,
) -> None:
    thin = await ActivityEnvironment().run(year_register.annual_summary, YEAR - 1, AS_OF)
    assert thin.incidents == S
    assert thin.by_country == CountTable(rows={"CD": S}, total=S)
    assert thin.by_status == CountTable(rows={"open": 0, "closed": S}, total=S)
    assert thin.closed_by_outcome.withheld
    assert thin.median_days_to_close is None
    assert thin.completed_share is None


async def test_incidents_received_after_as_of_are_left_out(
    year_register: AnnualSummaryRegister,
) -> None:
    midyear = await ActivityEnvironment().run(
        year_register.annual_summary, YEAR, datetime(YEAR, 6, 1, 12, tzinfo=UTC)
    )
    assert midyear.incidents == 7  # c01..c07
    # By then c01, c02 and c03 were closed: 4 and 3 of 7, each 3 or 4 for a reader.
    assert midyear.by_status == CountTable(rows={"open": S, "closed": S}, total=7)


# --- Suppression: nothing small is shown, nothing suppressed can be worked out ---------------


def _tables(summary: AnnualSummary) -> dict[str, CountTable]:
    return {
        name: value
        for name in AnnualSummary.model_fields
        if isinstance(value := getattr(summary, name), CountTable)
    }


def _possible(table: CountTable) -> dict[str, set[int]]:
    """Every value each suppressed row can take, by trying them all: a reader knows that `<5`
    is 1 to 4, `x` is 5 or more, and the rows add up to the total."""
    assert table.total is not None
    totals = range(1, 5) if table.total == SMALL_COUNT else [table.total]
    assert all(isinstance(total, int) for total in totals)
    largest = max(int(total) for total in totals)
    hidden = [key for key, cell in table.rows.items() if not isinstance(cell, int)]
    shown = sum(cell for cell in table.rows.values() if isinstance(cell, int))
    ranges = {SMALL_COUNT: range(1, 5), WITHHELD_COUNT: range(5, largest + 1)}
    possible: dict[str, set[int]] = {key: set() for key in hidden}
    for values in itertools.product(*(ranges[str(table.rows[key])] for key in hidden)):
        if shown + sum(values) in totals:
            for key, value in zip(hidden, values, strict=True):
                possible[key].add(value)
    return possible


def assert_safe(table: CountTable, actual: dict[str, int] | None = None) -> None:
    """No count from 1 to 4 is shown; no suppressed row can be worked out from the total."""
    for key, cell in table.rows.items():
        assert not (isinstance(cell, int) and 0 < cell < 5), key
        if actual is not None:
            expected = actual[key]
            assert cell == (S if 0 < expected < 5 else X if cell == X else expected), key
            assert cell != X or expected >= 5, key
    if actual is not None and table.withheld:
        assert table.rows == {}
    if table.total is None or table.withheld or table.total == WITHHELD_COUNT:
        return
    for key, values in _possible(table).items():
        assert len(values) >= 2, f"{key} can only be {values}"


async def test_no_small_count_is_shown_and_none_can_be_worked_out(
    summary: AnnualSummary,
) -> None:
    for name in ("incidents", "actions", "changes"):
        count = getattr(summary, name)
        assert not (isinstance(count, int) and 0 < count < 5)
    for name, table in _tables(summary).items():
        assert table.total is None or table.total in (
            summary.incidents,
            summary.actions,
            summary.changes,
            *summary.by_status.rows.values(),
            *summary.actions_by_category.rows.values(),
        ), name
        assert_safe(table)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=4),
)
def test_the_rule_holds_for_any_table(counts: list[int]) -> None:
    rows = {f"r{index}": count for index, count in enumerate(counts)}
    total = sum(counts)
    published_total = published(total)
    table = partition_table(rows, published_total)
    assert table.total == published_total
    assert_safe(table, rows)


def test_one_small_row_alone_takes_the_smallest_other_with_it() -> None:
    assert partition_table({"a": 3, "b": 12, "c": 7, "d": 0}, 22) == CountTable(
        rows={"a": S, "b": 12, "c": X, "d": 0}, total=22
    )
    # Two ones add up to 2: each could only be 1; a third row is withheld with them.
    assert partition_table({"a": 1, "b": 1, "c": 9, "d": 6}, 17) == CountTable(
        rows={"a": S, "b": S, "c": 9, "d": X}, total=17
    )


# --- Nothing personal, no ids, no free text, no fine dates -------------------------------------


async def test_the_summary_holds_nothing_personal(summary: AnnualSummary) -> None:
    report = _annual_report(summary)
    document = json.dumps(report_json(report))
    markdown = report_markdown(report)
    page = report_html(report)
    for text in (document, markdown, page):
        for seeded in SEEDED:
            assert seeded.lower() not in text.lower(), seeded
    # The summary itself has no date at all; the report adds only its own instant.
    assert _FINE_DATE.search(summary.model_dump_json()) is None
    assert set(_FINE_DATE.findall(markdown)) <= {"2027-01"}


async def test_the_export_holds_nothing_personal(export: ClosedCaseExport) -> None:
    for text in (export_json(export), export_csv(export)):
        for seeded in SEEDED:
            assert seeded.lower() not in text.lower(), seeded
        assert _FINE_DATE.search(text) is None


async def test_the_annual_report_renders_and_is_stored(
    register_pool: asyncpg.Pool, summary: AnnualSummary, tmp_path: Path
) -> None:
    report = _annual_report(summary)
    document = report_json(report)
    assert "kpis" not in document and "reconciliation" not in document
    assert PortfolioReport.model_validate(document) == report
    markdown = report_markdown(report)
    assert markdown.startswith("# Due-diligence summary 2026\n")
    for expected in [
        "- Incidents received in 2026: 14.",
        "- Median days from receipt to closure: 105.",
        "- Remediation actions: 16; completed: 68.8 %.",
        "| Country | Count |\n|---|---|\n| CD | 9 |\n| RW | \\<5 |\n| UG | \\<5 |\n| Total | 14 |",
        "| critical | \\<5 |\n| high | x |\n| medium | 6 |",
        "## Closed incidents by case status\n\nHTCDS case status given at closure. Withheld: no "
        "breakdown can be shown without revealing a count below 5.\n\n## Closed incidents by",
    ]:
        assert expected in markdown
    page = report_html(report)
    assert "<td>&lt;5</td>" in page and "<svg" not in page
    stored = await ActivityEnvironment().run(
        PortfolioRegister(register_pool, tmp_path).store_portfolio_report, report
    )
    assert stored.report_id == "annual-20270115T070000Z"
    assert stored.kind == MonitoringKind.ANNUAL
    row = await register_pool.fetchrow(
        "SELECT json, markdown FROM reports WHERE report_id = $1", stored.report_id
    )
    assert row is not None
    assert row["json"]["annual"]["by_country"]["rows"] == {"CD": 9, "RW": S, "UG": S}
    assert await asyncio.to_thread(Path(stored.markdown_path).read_text) == row["markdown"]


def test_an_empty_year_renders() -> None:
    empty = summarise(2030, [], [], [])
    assert empty.incidents == 0 and empty.median_days_to_close is None
    assert empty.by_country == CountTable(rows={}, total=0)
    assert empty.by_severity.rows == {"critical": 0, "high": 0, "medium": 0, "low": 0}
    markdown = report_markdown(_annual_report(empty))
    assert "## Incidents by country\n\nNone.\n" in markdown
    assert "- Median days from receipt to closure: —." in markdown


def test_an_annual_report_never_carries_the_key_figures() -> None:
    with pytest.raises(ValueError, match="annual summary and nothing else"):
        PortfolioReport(kind=MonitoringKind.ANNUAL, as_of=AS_OF, generated_at=AS_OF)


# --- The export ------------------------------------------------------------------------------


def _without_row_numbers(export: ClosedCaseExport) -> list[dict[str, Any]]:
    rows = [row.model_dump(mode="json", exclude={"row"}) for row in export.rows]
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


def _expected(
    country: str,
    harms: list[str],
    basis: str,
    means: list[str],
    status: str,
    minerals: list[str],
    level: str,
    outcome: str,
) -> dict[str, Any]:
    return {
        "yearOfRegistration": YEAR,
        "CountryOfExploitation": country,
        "typeOfLabourConcatenated": "MiningOrDrilling",
        "typeOfExploitConcatenated": harms,
        "harm_basis": basis,
        "meansOfControlConcatenated": means,
        "caseStatus": status,
        "minerals": minerals,
        "response_level": level,
        "outcome": outcome,
    }


async def test_the_export_has_one_row_per_closed_case_in_htcds_terms(
    export: ClosedCaseExport,
) -> None:
    assert export.year == YEAR
    assert sorted(row.row for row in export.rows) == [1, 2, 3, 4, 5, 6]
    done, ns = "remediation_completed", "not_substantiated"
    expected = [
        _expected(
            CD,
            ["ForcedLabour", "DebtBondage"],
            "confirmed",
            ["DebtBondage", "WithholdsDocuments"],
            "Closed",
            ["tin"],
            "company_led",
            done,
        ),
        _expected(
            CD,
            ["ForcedLabour"],
            "confirmed",
            ["Threats"],
            "ClosedReferred",
            ["gold"],
            "company_led",
            done,
        ),
        _expected(
            RW,
            ["DebtBondage"],
            "confirmed",
            ["DebtBondage"],
            "Closed",
            ["tin", "tantalum"],
            "supplier_corrective",
            done,
        ),
        _expected(CD, ["ForcedLabour"], "alleged", [], "Closed", ["tin"], "undetermined", ns),
        _expected(
            UG,
            ["HumanTrafficking", "ForcedLabour"],
            "alleged",
            [],
            "Closed",
            ["gold"],
            "undetermined",
            ns,
        ),
        _expected(
            CD,
            ["worst_forms_of_child_labour"],
            "alleged",
            [],
            "Closed",
            ["cobalt"],
            "undetermined",
            "closed_early_withdrawn",
        ),
    ]
    assert _without_row_numbers(export) == sorted(
        expected, key=lambda row: json.dumps(row, sort_keys=True)
    )


async def test_the_export_as_json_and_csv(export: ClosedCaseExport) -> None:
    assert ClosedCaseExport.model_validate_json(export_json(export)) == export
    lines = list(csv.DictReader(io.StringIO(export_csv(export))))
    assert len(lines) == 6
    assert list(lines[0]) == list(export.rows[0].model_dump())
    by_row = {int(line["row"]): line for line in lines}
    for row in export.rows:
        line = by_row[row.row]
        assert line["typeOfExploitConcatenated"] == ";".join(row.typeOfExploitConcatenated)
        assert line["yearOfRegistration"] == "2026"


async def test_the_export_command(
    year_register: AnnualSummaryRegister, database_url: str, tmp_path: Path
) -> None:
    environment = dict(os.environ)
    environment |= {"DATABASE_URL": database_url, "REMEDIATION_DATA_DIR": str(tmp_path)}
    out = tmp_path / "cases.csv"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        *("export", "cases", "--year", str(YEAR), "--format", "csv", "--out", str(out)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=environment,
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "6 closed case(s) of 2026 written to" in err.decode()
    text = await asyncio.to_thread(out.read_text)
    assert text.splitlines()[0].startswith("row,yearOfRegistration,CountryOfExploitation,")
    assert len(text.splitlines()) == 7
    for seeded in SEEDED:
        assert seeded.lower() not in text.lower()
