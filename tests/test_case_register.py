"""The case register's activities against a real PostgreSQL: idempotent, atomic, no personal data
where it must not be."""

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import asyncpg
import pytest
from pydantic import JsonValue
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.audit_entries import audit_action
from activities.case_register import CaseRegister, case_register_activities
from schemas.actor import Actor, Role
from schemas.decisions import VictimFeedback
from schemas.intake import Intake, Location, Reporter
from schemas.register import (
    ActionRecord,
    ApprovalRecord,
    ApprovalStatus,
    CheckInRecord,
    ClosureReportRequest,
    EventOutcome,
    EventWithNotifications,
    IncidentOpening,
    IncidentSnapshot,
    LessonRecord,
    Notification,
    NotificationKind,
    RegisterEvent,
)
from schemas.vocabulary import (
    ActionCategory,
    ActionStatus,
    CaseStatus,
    Channel,
    HarmType,
    Mineral,
    Relationship,
    ResponseLevel,
    ResponsibleParty,
    RootCause,
    Severity,
    SiteType,
    Step,
    SupplyChainTier,
)
from tests.conftest import TEST_KEY_RING
from tests.probe_workflow import AuditTrail
from tests.register_reads import ReadableRegister

RECEIVED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OPENER = Actor(id="grievance-intake", roles=(Role.INTEGRATION,))
OWNER = Actor(id="case-owner-7", roles=(Role.CASE_OWNER,))
APPROVER = Actor(id="approver-2", roles=(Role.APPROVER,))
# Personal data seeded into the intake and decisions; none of it may reach a report or the trail.
DESCRIPTION = "Amani Kabila-Mwamba was held at the pit by the foreman"
REPORTER_NAME = "Josephine Ngalula-Tshibanda"
REPORTER_CONTACT = "+243 81 555 0199"
VICTIM_IDS = ["V-7731-SECRET", "V-7732-SECRET"]


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _intake(
    *,
    received_at: datetime = RECEIVED,
    country: str = "CD",
    site_name: str | None = None,
    facility_ids: Sequence[str] = (),
    suppliers: Sequence[str] = (),
) -> Intake:
    return Intake(
        external_reference=_unique("GRV-"),
        received_at=received_at,
        channel=Channel.GRIEVANCE_MECHANISM,
        reporter=Reporter(anonymous=False, name=REPORTER_NAME, contact=REPORTER_CONTACT),
        description=DESCRIPTION,
        location=Location(
            country=country,
            region="South Kivu",
            site_name=site_name,
            site_type=SiteType.ARTISANAL_SMALL_SCALE,
        ),
        minerals=[Mineral.TIN, Mineral.TANTALUM],
        tier=SupplyChainTier.MINE_SITE,
        facility_ids=list(facility_ids),
        suppliers=list(suppliers),
        alleged_harms=[HarmType.FORCED_LABOUR, HarmType.WORST_FORMS_OF_CHILD_LABOUR],
        affected_persons_estimate=40,
        children_affected=True,
        migrants_affected=False,
        women_affected=True,
        imminent_danger=False,
        opened_by=OPENER,
    )


def _opening(intake: Intake | None = None, *, incident_id: str | None = None) -> IncidentOpening:
    intake = intake or _intake()
    return IncidentOpening(
        incident_id=incident_id or f"incident-{intake.external_reference}",
        intake=intake,
        opened_at=intake.received_at + timedelta(hours=1),
        provisional_severity=Severity.HIGH,
        case_owner=OWNER.id,
        policy_version="2026.1",
    )


def _snapshot(step: Step = Step.RESPONSE, **changes: object) -> IncidentSnapshot:
    fields: dict[str, object] = {
        "step": step,
        "case_status": CaseStatus.ACTIVE,
        "severity": Severity.CRITICAL,
        "response_level": None,
        "relationship": Relationship.CONTRIBUTE,
        "case_owner": OWNER.id,
    }
    fields.update(changes)
    return IncidentSnapshot.model_validate(fields)


def _action(action_id: str = "A1", **changes: object) -> ActionRecord:
    fields: dict[str, object] = {
        "action_id": action_id,
        "category": ActionCategory.ASSISTANCE,
        "action_type": "psychosocial_support",
        "description": f"Counselling for {VICTIM_IDS[0]}",
        "responsible_party": ResponsibleParty.PARTNER,
        "implementing_partner": "ngo-partner-1",
        "beneficiary_count": 2,
        "concerns_children": True,
        "due_date": date(2026, 9, 30),
        "budget_amount": Decimal("12500.00"),
        "currency": "USD",
        "status": ActionStatus.NOT_STARTED,
        "progress_percent": 0,
        "spend_to_date": Decimal("0.00"),
    }
    fields.update(changes)
    return ActionRecord.model_validate(fields)


def _approval(approval_id: str = "approval-1", **changes: object) -> ApprovalRecord:
    fields: dict[str, object] = {
        "approval_id": approval_id,
        "kind": "action_plan",
        "author_id": OWNER.id,
        "requested_at": RECEIVED + timedelta(days=3),
        "due_at": RECEIVED + timedelta(days=8),
        "status": ApprovalStatus.PENDING,
    }
    fields.update(changes)
    return ApprovalRecord.model_validate(fields)


def _event(
    incident_id: str,
    sequence: int,
    *,
    kind: str = "acknowledge",
    outcome: EventOutcome = EventOutcome.ACCEPTED,
    snapshot: IncidentSnapshot | None = None,
    actions: Sequence[ActionRecord] = (),
    approvals: Sequence[ApprovalRecord] = (),
    check_in: CheckInRecord | None = None,
    reason: str | None = None,
    payload: JsonValue = None,
) -> RegisterEvent:
    return RegisterEvent(
        incident_id=incident_id,
        sequence=sequence,
        kind=kind,
        outcome=outcome,
        actor=OWNER,
        occurred_at=RECEIVED + timedelta(days=sequence),
        reason=reason,
        summary=f"{kind} {outcome.value}",
        payload=payload if payload is not None else {"kind": kind, "beneficiaries": VICTIM_IDS},
        snapshot=snapshot or _snapshot(),
        approvals=list(approvals),
        actions=list(actions),
        check_in=check_in,
    )


async def _count(pool: asyncpg.Pool, table: str, incident_id: str) -> int:
    count = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE incident_id = $1", incident_id)
    assert isinstance(count, int)
    return count


async def _opened(register: CaseRegister, intake: Intake | None = None) -> str:
    opening = _opening(intake)
    await ActivityEnvironment().run(register.open_incident, opening)
    return opening.incident_id


# --- Opening -------------------------------------------------------------------------------


async def test_opening_twice_registers_and_audits_the_incident_once(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    opening = _opening()
    env = ActivityEnvironment()

    first = await env.run(register.open_incident, opening)
    second = await env.run(register.open_incident, opening)

    assert first == second
    assert await _count(register_pool, "incidents", opening.incident_id) == 1
    row = await register.incident_row(opening.incident_id)
    assert row is not None
    assert row["external_reference"] == opening.intake.external_reference
    assert (row["step"], row["case_status"]) == ("verification", "active")
    assert row["severity"] == row["provisional_severity"] == "high"
    assert row["minerals"] == ["tin", "tantalum"]
    intake = opening.intake.model_dump(mode="json")
    confidential = {name: intake.pop(name) for name in ("description", "reporter")}
    assert row["intake"] == intake  # the confidential fields are sealed, not stored as JSON
    assert "Josephine" not in str(row) and "Amani" not in str(row)
    opened = register.open_confidential(
        opening.incident_id, row["confidential_key_id"], row["confidential"]
    )
    assert opened == confidential
    assert row["last_sequence"] == 0

    trail = await AuditTrail(register_pool).entries_for(opening.incident_id)
    assert [(e.action, e.actor) for e in trail] == [("incident.opened", OPENER)]
    stored = json.dumps(trail[0].model_dump(mode="json"))
    for secret in (DESCRIPTION, REPORTER_NAME, REPORTER_CONTACT):
        assert secret not in stored


async def test_an_external_reference_never_opens_two_incidents(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    intake = _intake()
    await ActivityEnvironment().run(register.open_incident, _opening(intake, incident_id="first"))

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            register.open_incident, _opening(intake, incident_id="second")
        )
    assert refused.value.non_retryable
    assert "first" in refused.value.message
    assert await register.incident_row("second") is None


def _sharing(
    kind: str, key: str, *, received_at: datetime = RECEIVED, again: bool = False
) -> Intake:
    """An intake sharing a facility, site or supplier named after `key`; `again` spells the site
    and supplier differently, as a second reporter would."""
    if kind == "facility":
        facilities = [key] if again else [key, _unique("CID")]
        return _intake(received_at=received_at, facility_ids=facilities)
    if kind == "site":
        site = f"mine {key.upper()}" if again else f"Mine {key}"
        return _intake(received_at=received_at, site_name=site)
    supplier = f"COMPTOIR {key.upper()} sarl" if again else f"Comptoir {key} SARL"
    return _intake(received_at=received_at, suppliers=[supplier])


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("facility", "same facility {key}"), ("site", "same site"), ("supplier", "same supplier")],
)
async def test_incidents_sharing_a_facility_site_or_supplier_within_a_year_are_linked(
    register_pool: asyncpg.Pool, kind: str, reason: str
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    key = _unique("CID")
    earlier = await _opened(
        register, _sharing(kind, key, received_at=RECEIVED - timedelta(days=300))
    )
    opening = _opening(_sharing(kind, key, again=True))

    opened = await ActivityEnvironment().run(register.open_incident, opening)

    expected = reason.format(key=key)
    assert [(r.incident_id, r.reason) for r in opened.related] == [(earlier, expected)]
    assert [r.incident_id for r in await register.related_for(earlier)] == [opening.incident_id]
    assert [r.incident_id for r in await register.related_for(opening.incident_id)] == [earlier]


@pytest.mark.parametrize("kind", ["facility", "site", "supplier"])
async def test_incidents_more_than_a_year_apart_are_not_linked(
    register_pool: asyncpg.Pool, kind: str
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    key = _unique("CID")
    long_ago = RECEIVED - timedelta(days=365 + 1)  # the default window is a year
    older = await _opened(register, _sharing(kind, key, received_at=long_ago))

    opened = await ActivityEnvironment().run(
        register.open_incident, _opening(_sharing(kind, key, again=True))
    )

    assert opened.related == []
    assert await register.related_for(older) == []


async def test_the_same_site_in_another_country_is_not_related(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    site = _unique("Site ")
    await _opened(register, _intake(country="RW", site_name=site))
    opened = await ActivityEnvironment().run(
        register.open_incident, _opening(_intake(country="CD", site_name=site))
    )
    assert opened.related == []


async def test_a_redelivered_opening_returns_the_links_it_made_not_later_ones(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    facility = _unique("CID")
    first = await _opened(register, _intake(facility_ids=[facility]))
    opening = _opening(_intake(facility_ids=[facility], suppliers=["Shared Trader"]))
    original = await ActivityEnvironment().run(register.open_incident, opening)
    later = await _opened(register, _intake(facility_ids=[facility]))

    redelivered = await ActivityEnvironment().run(register.open_incident, opening)

    assert [r.incident_id for r in original.related] == [first]
    assert redelivered == original
    related_now = {r.incident_id for r in await register.related_for(opening.incident_id)}
    assert related_now == {first, later}


async def test_concurrent_openings_of_related_incidents_link_each_other(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    facility = _unique("CID")
    openings = [_opening(_intake(facility_ids=[facility])) for _ in range(3)]

    await asyncio.gather(*(ActivityEnvironment().run(register.open_incident, o) for o in openings))

    for opening in openings:
        linked = {r.incident_id for r in await register.related_for(opening.incident_id)}
        assert linked == {o.incident_id for o in openings} - {opening.incident_id}


# --- Events --------------------------------------------------------------------------------


async def test_recording_an_event_twice_writes_it_once(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    event = _event(
        incident_id,
        1,
        kind="action_plan",
        outcome=EventOutcome.PENDING_APPROVAL,
        snapshot=_snapshot(Step.ACTION_PLAN, response_level=ResponseLevel.COMPANY_LED),
        actions=[_action("A1"), _action("A2", budget_amount=Decimal("800.50"))],
        approvals=[_approval()],
    )
    env = ActivityEnvironment()

    assert await env.run(register.record_event, event) is True
    assert await env.run(register.record_event, event) is False

    assert await _count(register_pool, "incident_events", incident_id) == 1
    assert await _count(register_pool, "actions", incident_id) == 2
    assert await _count(register_pool, "approvals", incident_id) == 1
    trail = await AuditTrail(register_pool).entries_for(incident_id)
    assert [e.action for e in trail] == ["incident.opened", "decision.action_plan"]
    assert trail[1].details == {
        "sequence": 1,
        "outcome": "pending_approval",
        "summary": "action_plan pending_approval",
    }
    row = await register.incident_row(incident_id)
    assert row is not None
    assert (row["step"], row["severity"], row["response_level"]) == (
        "action_plan",
        "critical",
        "company_led",
    )
    assert row["last_sequence"] == 1
    assert await register.actions_for(incident_id) == [
        _action("A1"),
        _action("A2", budget_amount=Decimal("800.50")),
    ]
    events = await register.events_for(incident_id)
    assert events[0]["payload"] == {"kind": "action_plan", "beneficiaries": VICTIM_IDS}
    assert events[0]["actor_roles"] == ["case_owner"]


async def test_a_system_event_without_payload_is_recorded(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    event = _event(incident_id, 1, kind="opened", outcome=EventOutcome.RECORDED)
    event = event.model_copy(update={"payload": None})

    assert await ActivityEnvironment().run(register.record_event, event) is True

    [stored] = await register.events_for(incident_id)
    assert stored["payload"] is None


async def test_a_retry_after_a_committed_write_leaves_one_row(
    register_pool: asyncpg.Pool,
) -> None:
    """The worker committed attempt 1 but died before reporting; Temporal runs attempt 2."""
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    event = _event(incident_id, 1, actions=[_action()])
    first_attempt = ActivityEnvironment()
    await first_attempt.run(register.record_event, event)  # its result never reaches Temporal

    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)
    assert await retry.run(register.record_event, event) is False

    assert await _count(register_pool, "incident_events", incident_id) == 1
    assert await _count(register_pool, "actions", incident_id) == 1
    assert len(await AuditTrail(register_pool).entries_for(incident_id)) == 2


async def test_concurrent_deliveries_of_one_event_record_it_once(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    event = _event(incident_id, 1, actions=[_action()], approvals=[_approval()])

    results = await asyncio.gather(
        *(ActivityEnvironment().run(register.record_event, event) for _ in range(5))
    )

    assert sorted(results) == [False, False, False, False, True]
    assert await _count(register_pool, "incident_events", incident_id) == 1
    assert len(await AuditTrail(register_pool).entries_for(incident_id)) == 2


async def test_a_failed_write_leaves_nothing_and_its_retry_records_everything(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    # Bypasses validation so that the database refuses the action half-way through the write.
    broken = ActionRecord.model_construct(**{**_action().model_dump(), "progress_percent": 150})
    with pytest.raises(asyncpg.CheckViolationError):
        await ActivityEnvironment().run(
            register.record_event, _event(incident_id, 1, actions=[broken])
        )

    assert await _count(register_pool, "incident_events", incident_id) == 0
    assert await _count(register_pool, "actions", incident_id) == 0
    row = await register.incident_row(incident_id)
    assert row is not None
    assert (row["step"], row["last_sequence"]) == ("verification", 0)
    assert len(await AuditTrail(register_pool).entries_for(incident_id)) == 1

    event = _event(incident_id, 1, actions=[_action()])
    assert await ActivityEnvironment().run(register.record_event, event) is True
    assert await _count(register_pool, "actions", incident_id) == 1


async def test_an_older_event_recorded_late_never_rolls_the_register_back(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    older = _event(incident_id, 1, kind="action_plan", actions=[_action()], approvals=[_approval()])
    newer = _event(
        incident_id,
        2,
        kind="check_in",
        snapshot=_snapshot(Step.IMPLEMENTATION),
        actions=[_action(status=ActionStatus.IN_PROGRESS, progress_percent=40)],
        approvals=[_approval(status=ApprovalStatus.APPROVED, decided_by=APPROVER.id)],
    )
    env = ActivityEnvironment()

    assert await env.run(register.record_event, newer) is True
    assert await env.run(register.record_event, older) is True

    assert [e["sequence"] for e in await register.events_for(incident_id)] == [1, 2]
    row = await register.incident_row(incident_id)
    assert row is not None
    assert (row["step"], row["last_sequence"]) == ("implementation", 2)
    [action] = await register.actions_for(incident_id)
    assert (action.status, action.progress_percent) == (ActionStatus.IN_PROGRESS, 40)
    status = await register_pool.fetchval(
        "SELECT status FROM approvals WHERE incident_id = $1", incident_id
    )
    assert status == "approved"


async def test_a_check_in_is_stored_with_its_event(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    check_in = CheckInRecord(
        period_start=date(2026, 5, 1),
        period_end=date(2026, 5, 31),
        submitted_by="ngo-partner-1",
        actions_reported=1,
        victim_feedback=VictimFeedback(satisfaction=4, feel_safe=True),
        new_risks=["Foreman returned to the site"],
    )
    event = _event(incident_id, 3, kind="check_in", check_in=check_in)

    assert await ActivityEnvironment().run(register.record_event, event) is True
    assert await ActivityEnvironment().run(register.record_event, event) is False

    rows = await register_pool.fetch("SELECT * FROM check_ins WHERE incident_id = $1", incident_id)
    assert len(rows) == 1
    assert rows[0]["sequence"] == 3
    assert (rows[0]["period_start"], rows[0]["period_end"]) == (date(2026, 5, 1), date(2026, 5, 31))
    assert rows[0]["victim_feedback"] == {"satisfaction": 4, "concerns": None, "feel_safe": True}
    assert rows[0]["new_risks"] == ["Foreman returned to the site"]


@pytest.mark.parametrize(
    ("kind", "outcome", "action"),
    [
        ("closure", EventOutcome.REFUSED, "refused.closure"),
        ("note", EventOutcome.RECORDED, "fact.note"),
        ("response", EventOutcome.APPROVED, "decision.response"),
        ("approve", EventOutcome.ACCEPTED, "decision.approve"),
        ("action_plan", EventOutcome.REJECTED, "decision.action_plan"),
    ],
)
async def test_the_audit_action_names_what_became_of_the_event(
    register_pool: asyncpg.Pool, kind: str, outcome: EventOutcome, action: str
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    event = _event(incident_id, 1, kind=kind, outcome=outcome, reason="Step is verification")

    await ActivityEnvironment().run(register.record_event, event)

    trail = await AuditTrail(register_pool).entries_for(incident_id)
    assert trail[-1].action == action
    assert trail[-1].reason == "Step is verification"
    assert trail[-1].actor == OWNER


@pytest.mark.parametrize(
    ("kind", "action"),
    [("Check-In", "fact.check_in"), ("deadline.escalated", "fact.deadline.escalated")],
)
def test_audit_actions_are_dotted_lower_case_names(kind: str, action: str) -> None:
    assert audit_action(EventOutcome.RECORDED, kind) == action


async def test_an_event_of_an_unregistered_incident_is_refused_for_good(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(register.record_event, _event(_unique("missing-"), 1))
    assert refused.value.non_retryable


# --- Outbox --------------------------------------------------------------------------------


def _notification(incident_id: str, recipient: str = "reporter") -> Notification:
    return Notification(
        incident_id=incident_id,
        sequence=1,
        kind=NotificationKind.REPORTER_ACKNOWLEDGED,
        recipient=recipient,
        subject="Your report was received",
        body="We received your report and have opened a case.",
        created_at=RECEIVED,
    )


async def test_a_notification_is_queued_once(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    notification = _notification(incident_id)
    env = ActivityEnvironment()

    assert await env.run(register.queue_notification, notification) is True
    assert await env.run(register.queue_notification, notification) is False
    other = notification.model_copy(update={"recipient": OWNER.id})
    assert await env.run(register.queue_notification, other) is True

    rows = await register_pool.fetch(
        "SELECT recipient, status, attempts FROM outbox WHERE incident_id = $1 ORDER BY recipient",
        incident_id,
    )
    assert [tuple(row) for row in rows] == [(OWNER.id, "queued", 0), ("reporter", "queued", 0)]


async def test_an_event_and_its_notifications_are_written_together_once(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    notifications = [_notification(incident_id, recipient) for recipient in ("reporter", OWNER.id)]
    write = EventWithNotifications(event=_event(incident_id, 1), notifications=notifications)
    env = ActivityEnvironment()

    assert await env.run(register.record_event_with_notifications, write) is True
    # A retry after a lost answer, and a retry that brings notifications of its own: the event is
    # recorded, so nothing is written.
    assert await env.run(register.record_event_with_notifications, write) is False
    extra = notifications[0].model_copy(update={"recipient": "someone-else"})
    retry = write.model_copy(update={"notifications": [*notifications, extra]})
    assert await env.run(register.record_event_with_notifications, retry) is False

    assert await _count(register_pool, "incident_events", incident_id) == 1
    rows = await register_pool.fetch(
        "SELECT recipient FROM outbox WHERE incident_id = $1 ORDER BY recipient", incident_id
    )
    assert [row["recipient"] for row in rows] == sorted(["reporter", OWNER.id])


async def test_an_event_is_not_recorded_when_its_notifications_cannot_be_queued(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id = await _opened(register)
    queued = _notification(incident_id)
    # PostgreSQL refuses a NUL character in text: the second notification fails after the event
    # and the first notification were written, inside the same transaction.
    refused = queued.model_copy(update={"recipient": OWNER.id, "body": "Received.\x00"})
    write = EventWithNotifications(event=_event(incident_id, 1), notifications=[queued, refused])

    with pytest.raises(asyncpg.PostgresError):
        await ActivityEnvironment().run(register.record_event_with_notifications, write)

    assert await _count(register_pool, "incident_events", incident_id) == 0
    assert await _count(register_pool, "outbox", incident_id) == 0
    trail = await AuditTrail(register_pool).entries_for(incident_id)
    assert [e.action for e in trail] == ["incident.opened"]


# --- Closure report ------------------------------------------------------------------------


async def _closed_incident(register: CaseRegister) -> tuple[str, str, str]:
    """An incident taken to closure, with personal data in every free-text place; the incident
    opened before it on the same facility; that facility."""
    env = ActivityEnvironment()
    facility = _unique("CID")
    related = await _opened(register, _intake(facility_ids=[facility]))
    incident_id = await _opened(register, _intake(facility_ids=[facility]))
    secret_reason = f"{REPORTER_NAME} asked us to wait"
    events = [
        _event(incident_id, 1, kind="acknowledge", reason=secret_reason),
        _event(incident_id, 2, kind="verification", payload={"summary": DESCRIPTION}),
        _event(
            incident_id,
            3,
            kind="action_plan",
            outcome=EventOutcome.PENDING_APPROVAL,
            actions=[_action("A1"), _action("A2", currency="EUR")],
            approvals=[_approval("approval-1")],
        ),
        _event(
            incident_id,
            4,
            kind="action_plan",
            outcome=EventOutcome.APPROVED,
            approvals=[
                _approval(
                    "approval-1",
                    status=ApprovalStatus.APPROVED,
                    decided_by=APPROVER.id,
                    decided_at=RECEIVED + timedelta(days=4),
                    comments=f"Fine, but protect {VICTIM_IDS[1]}",
                )
            ],
        ),
        _event(
            incident_id,
            5,
            kind="check_in",
            actions=[
                _action(
                    "A1",
                    status=ActionStatus.COMPLETED,
                    progress_percent=100,
                    spend_to_date=Decimal("11000"),
                    completion_verified_by="auditor-3",
                    completion_how=f"Met {VICTIM_IDS[0]} at home",
                ),
                _action(
                    "A2",
                    currency="EUR",
                    status=ActionStatus.CANCELLED,
                    cancellation_reason=f"{VICTIM_IDS[1]} moved away",
                ),
            ],
            check_in=CheckInRecord(
                period_start=date(2026, 5, 1),
                period_end=date(2026, 5, 31),
                submitted_by="ngo-partner-1",
                actions_reported=2,
                victim_feedback=VictimFeedback(concerns=f"{REPORTER_NAME} fears reprisals"),
                new_risks=[],
            ),
        ),
        _event(incident_id, 6, kind="note", outcome=EventOutcome.RECORDED),
        _event(
            incident_id,
            7,
            kind="closure",
            outcome=EventOutcome.APPROVED,
            snapshot=_snapshot(
                Step.LESSONS_LEARNED,
                case_status=CaseStatus.CLOSED,
                response_level=ResponseLevel.COMPANY_LED,
                closed_at=RECEIVED + timedelta(days=7),
                closure_reason="remediated",
            ),
        ),
    ]
    for event in events:
        await env.run(register.record_event, event)
    return incident_id, related, facility


async def test_the_closure_report_holds_no_personal_data(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id, _, _ = await _closed_incident(register)
    request = ClosureReportRequest(
        incident_id=incident_id, generated_at=RECEIVED + timedelta(days=9)
    )

    report = await ActivityEnvironment().run(register.write_closure_report, request)

    both = report.markdown + json.dumps(report.report)
    for secret in (DESCRIPTION, REPORTER_NAME, REPORTER_CONTACT, *VICTIM_IDS, "Counselling"):
        assert secret not in both
    assert await register.closure_report(incident_id) == report


async def test_the_closure_report_says_where_the_case_ended(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id, related, facility = await _closed_incident(register)
    request = ClosureReportRequest(
        incident_id=incident_id, generated_at=RECEIVED + timedelta(days=9)
    )

    report = await ActivityEnvironment().run(register.write_closure_report, request)

    assert incident_id in report.markdown
    assert "## Actions" in report.markdown
    assert re.search(r"^\| Action \| Category \|.*\|$", report.markdown, re.MULTILINE)
    assert re.search(r"^\| A1 \| assistance \|.*\| completed \|", report.markdown, re.MULTILINE)
    data = report.report
    assert isinstance(data, dict)
    assert data["incident_id"] == incident_id
    assert data["minerals"] == ["tin", "tantalum"]
    assert data["severity"] == "critical"
    # "relationship" is the relationship to the harm; a key says so (the business relationship
    # decided at step 2 is another thing).
    assert data["relationship_to_harm"] == data["relationship"] == "contribute"
    assert "| Relationship to the harm | contribute |" in report.markdown
    assert data["check_ins"] == 1
    assert data["closure"] == {
        "status": "closed",
        "reason": "remediated",
        "closed_on": "2026-03-09",
    }
    timeline = data["timeline"]
    assert isinstance(timeline, list)
    # First effective event per kind: the plan took effect when approved (4), not when proposed.
    assert [(e["kind"], e["sequence"]) for e in timeline if isinstance(e, dict)] == [
        ("acknowledge", 1),
        ("verification", 2),
        ("action_plan", 4),
        ("check_in", 5),
        ("closure", 7),
    ]
    assert data["totals_by_currency"] == {
        "EUR": {"budget": "12500.00", "spend": "0.00"},
        "USD": {"budget": "12500.00", "spend": "11000.00"},
    }
    assert data["related_incidents"] == [
        {"incident_id": related, "reason": f"same facility {facility}"}
    ]


async def test_rewriting_the_closure_report_keeps_one_row(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    incident_id, _, _ = await _closed_incident(register)
    request = ClosureReportRequest(
        incident_id=incident_id, generated_at=RECEIVED + timedelta(days=9)
    )
    env = ActivityEnvironment()

    first = await env.run(register.write_closure_report, request)
    second = await env.run(register.write_closure_report, request)

    assert first == second
    assert await _count(register_pool, "closure_reports", incident_id) == 1


# --- Lessons -------------------------------------------------------------------------------


async def test_lessons_are_stored_once_and_found_by_what_they_concern(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    facility = _unique("CID")
    incident_id = await _opened(register, _intake(facility_ids=[facility]))
    lessons = LessonRecord(
        incident_id=incident_id,
        recorded_at=RECEIVED + timedelta(days=400),
        minerals=[Mineral.COBALT],
        country="ZM",
        facility_ids=[facility],
        harm_types=[HarmType.DEBT_BONDAGE],
        root_causes=[RootCause.RECRUITMENT_FEE_PRACTICES, RootCause.AUDIT_GAPS],
        root_cause_notes=None,
        due_diligence_gaps=["No audit below the smelter"],
        changes_made=["audit_protocol: interviews off site"],
        supplier_engagement_outcome="Supplier repaid recruitment fees",
        shared_with_industry_programme=True,
        anonymised_summary="Recruitment fees at a cobalt site",
    )
    env = ActivityEnvironment()

    assert await env.run(register.store_lessons, lessons) is True
    assert await env.run(register.store_lessons, lessons) is False
    assert await _count(register_pool, "lessons", incident_id) == 1

    assert await register.find_lessons(facility_id=facility) == [lessons]
    assert lessons in await register.find_lessons(mineral=Mineral.COBALT)
    assert lessons in await register.find_lessons(country="ZM")
    assert lessons in await register.find_lessons(root_cause=RootCause.AUDIT_GAPS)
    assert lessons in await register.find_lessons(harm_type=HarmType.DEBT_BONDAGE)
    found = await register.find_lessons(
        mineral=Mineral.COBALT, country="ZM", root_cause=RootCause.RECRUITMENT_FEE_PRACTICES
    )
    assert lessons in found
    assert await register.find_lessons(facility_id=facility, mineral=Mineral.GOLD) == []
    assert await register.find_lessons(facility_id=facility, country="CD") == []


# --- The schema and the worker -------------------------------------------------------------

_CHECKED_COLUMNS: list[tuple[str, str, type[StrEnum]]] = [
    ("incidents", "channel", Channel),
    ("incidents", "site_type", SiteType),
    ("incidents", "tier", SupplyChainTier),
    ("incidents", "minerals", Mineral),
    ("incidents", "alleged_harms", HarmType),
    ("incidents", "provisional_severity", Severity),
    ("incidents", "severity", Severity),
    ("incidents", "step", Step),
    ("incidents", "case_status", CaseStatus),
    ("incidents", "response_level", ResponseLevel),
    ("incidents", "relationship", Relationship),
    ("incident_events", "outcome", EventOutcome),
    ("approvals", "status", ApprovalStatus),
    ("actions", "category", ActionCategory),
    ("actions", "responsible_party", ResponsibleParty),
    ("actions", "status", ActionStatus),
    ("outbox", "kind", NotificationKind),
    ("lessons", "minerals", Mineral),
    ("lessons", "harm_types", HarmType),
    ("lessons", "root_causes", RootCause),
]


@pytest.mark.parametrize(
    ("table", "column", "enum"), _CHECKED_COLUMNS, ids=[f"{t}.{c}" for t, c, _ in _CHECKED_COLUMNS]
)
async def test_check_constraints_allow_exactly_the_vocabulary(
    register_pool: asyncpg.Pool, table: str, column: str, enum: type[StrEnum]
) -> None:
    definitions = await register_pool.fetch(
        """
        SELECT pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND a.attname = $2
          AND cardinality(c.conkey) = 1
        """,
        table,
        column,
    )
    assert len(definitions) == 1
    allowed = set(re.findall(r"'([^']*)'", definitions[0]["definition"]))
    assert allowed == {member.value for member in enum}


def test_the_worker_gets_every_activity(register_pool: asyncpg.Pool) -> None:
    activities = case_register_activities(ReadableRegister(register_pool, TEST_KEY_RING))
    names = [getattr(a, "__temporal_activity_definition").name for a in activities]
    assert names == [
        "open_incident",
        "record_event",
        "record_event_with_notifications",
        "queue_notification",
        "write_closure_report",
        "store_lessons",
        "erasure_target",
        "erase_victim_record",
    ]
