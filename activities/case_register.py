"""Activities of the case register: incidents, their events, the outbox, reports and lessons.

Temporal delivers every activity at least once, so each one is idempotent: a redelivered call finds
its own earlier write (by incident id, event sequence, notification key) and changes nothing. An
activity that writes several tables does so in one transaction, so a retry never meets half a write.

Personal data is never stored in the clear: the intake's reporter and description are sealed under
the key ring (`incidents.confidential`), victims' personal data arrives sealed under each victim's
own key (see `activities.victim_vault`). Nothing personal is logged, audited or reported.
"""

import base64
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import register_integrity as integrity
from activities.audit_entries import AUDIT_NAMESPACE, audit_action, audit_entry_id, write_audit
from activities.closure_report import write_closure_report
from activities.database import Connection
from activities.incident_opening import plain_values, register_opening
from activities.sealing import Sealer
from schemas.actor import Actor, Role
from schemas.audit import AuditEntry
from schemas.erasure import ErasureRecord, ErasureTarget
from schemas.register import (
    ActionRecord,
    ApprovalRecord,
    ClosureReport,
    ClosureReportRequest,
    EventWithNotifications,
    IncidentOpened,
    IncidentOpening,
    LessonRecord,
    Notification,
    RegisterEvent,
)
from schemas.vocabulary import Step

log = structlog.get_logger(__name__)


def _not_found(incident_id: str) -> ApplicationError:
    return ApplicationError(
        f"incident {incident_id} is not in the case register; open_incident must run first",
        type="IncidentNotFound",
        non_retryable=True,
    )


# --- SQL ------------------------------------------------------------------------------------


_UPSERT_VICTIM = """
INSERT INTO victims (
    incident_id, victim_id, child, recorded_at, recorded_by, updated_sequence, personal_data
)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (incident_id, victim_id) DO UPDATE
SET child = excluded.child,
    updated_sequence = excluded.updated_sequence,
    personal_data = coalesce(excluded.personal_data, victims.personal_data)
WHERE victims.erased_at IS NULL
"""

# Erasure destroys the victim's data key (or leaves a tombstone that stops one being created),
# then drops every sealed copy the register holds.
_DESTROY_VICTIM_KEY = """
INSERT INTO victim_keys (incident_id, victim_id, erased_at, erased_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id, victim_id) DO UPDATE
SET wrapped_key = NULL,
    wrapping_key_id = NULL,
    erased_at = coalesce(victim_keys.erased_at, excluded.erased_at),
    erased_by = coalesce(victim_keys.erased_by, excluded.erased_by)
"""
_ERASE_VICTIM_ROW = """
UPDATE victims SET personal_data = NULL, erased_at = $3, erased_by = $4
WHERE incident_id = $1 AND victim_id = $2
"""
_ERASE_SEALED_PAYLOADS = """
UPDATE incident_events SET payload = payload - 'personal_data'
WHERE incident_id = $1 AND kind = 'record_victim' AND payload ->> 'victim_id' = $2
"""


_STORED_EVENT = """
SELECT kind, outcome, actor_id, occurred_at FROM incident_events
WHERE incident_id = $1 AND sequence = $2
"""

# A row registered before run lineages existed takes the lineage of the first run writing to it.
_ADOPT_LINEAGE = """
UPDATE incidents SET run_lineage = $2 WHERE incident_id = $1 AND run_lineage IS NULL
"""

_INSERT_EVENT = """
INSERT INTO incident_events
    (incident_id, sequence, kind, outcome, actor_id, actor_roles, occurred_at, reason, summary,
     payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (incident_id, sequence) DO NOTHING
RETURNING sequence
"""

# An event older than the row's last one never rolls the snapshot back.
_APPLY_SNAPSHOT = """
UPDATE incidents
SET step = $3, case_status = $4, severity = $5, response_level = $6, relationship = $7,
    case_owner = $8, closed_at = $9, closure_reason = $10, escalation_level = $11,
    overdue = $12, next_deadline = $13, last_sequence = $2, run_id = $14,
    updated_at = clock_timestamp()
WHERE incident_id = $1 AND last_sequence < $2
"""

_INSERT_ESCALATION = """
INSERT INTO escalations
    (incident_id, sequence, milestone, milestone_kind, level, due_at, reached_at, occurred_at,
     cleared_because, late_by, notified)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""

_UPSERT_APPROVAL = """
INSERT INTO approvals
    (incident_id, approval_id, kind, author_id, requested_at, due_at, status, decided_by,
     decided_at, comments, updated_sequence)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (incident_id, approval_id) DO UPDATE
SET kind = EXCLUDED.kind, author_id = EXCLUDED.author_id, requested_at = EXCLUDED.requested_at,
    due_at = EXCLUDED.due_at, status = EXCLUDED.status, decided_by = EXCLUDED.decided_by,
    decided_at = EXCLUDED.decided_at, comments = EXCLUDED.comments,
    updated_sequence = EXCLUDED.updated_sequence
WHERE approvals.updated_sequence <= EXCLUDED.updated_sequence
"""

_ACTION_COLUMNS = list(ActionRecord.model_fields)
_UPSERT_ACTION = f"""
INSERT INTO actions (incident_id, {", ".join(_ACTION_COLUMNS)}, updated_sequence)
VALUES ({", ".join(f"${n}" for n in range(1, len(_ACTION_COLUMNS) + 3))})
ON CONFLICT (incident_id, action_id) DO UPDATE
SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _ACTION_COLUMNS if c != "action_id")},
    updated_sequence = EXCLUDED.updated_sequence
WHERE actions.updated_sequence <= EXCLUDED.updated_sequence
"""

_INSERT_CHECK_IN = """
INSERT INTO check_ins
    (incident_id, sequence, period_start, period_end, submitted_by, actions_reported,
     victim_feedback, new_risks)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (incident_id, sequence) DO NOTHING
"""

_INSERT_NOTIFICATION = """
INSERT INTO outbox (incident_id, sequence, kind, recipient, subject, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (incident_id, sequence, kind, recipient) DO NOTHING
RETURNING notification_id
"""


_INSERT_LESSONS = """
INSERT INTO lessons
    (incident_id, recorded_at, minerals, country, facility_ids, harm_types, root_causes,
     root_cause_notes, due_diligence_gaps, changes_made, supplier_engagement_outcome,
     shared_with_industry_programme, anonymised_summary)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (incident_id) DO NOTHING
RETURNING incident_id
"""


# --- Helpers --------------------------------------------------------------------------------


async def _queue(connection: Connection, notification: Notification) -> bool:
    """Put the notification in the outbox unless it is there; True when this call put it."""
    notification_id = await connection.fetchval(
        _INSERT_NOTIFICATION,
        notification.incident_id,
        notification.sequence,
        notification.kind.value,
        notification.recipient,
        notification.subject,
        notification.body,
        notification.created_at,
    )
    return notification_id is not None


async def _erase_victim(
    connection: Connection, incident_id: str, victim_id: str, at: datetime, by: str
) -> None:
    await connection.execute(_DESTROY_VICTIM_KEY, incident_id, victim_id, at, by)
    await connection.execute(_ERASE_VICTIM_ROW, incident_id, victim_id, at, by)
    await connection.execute(_ERASE_SEALED_PAYLOADS, incident_id, victim_id)


# --- The activities -------------------------------------------------------------------------


class CaseRegister:
    """Reads and writes the case register; the pool is injected by the worker."""

    def __init__(self, pool: asyncpg.Pool, key_ring: Sealer) -> None:
        self._pool = pool
        self._key_ring = key_ring

    @activity.defn(name="open_incident")
    async def open_incident(self, opening: IncidentOpening) -> IncidentOpened:
        """Register the incident, link related incidents and audit the opening, at most once.

        A redelivered opening changes nothing and returns the links the first one made.
        """
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                inserted, related = await register_opening(connection, self._key_ring, opening)
        except asyncpg.UniqueViolationError as error:
            # Only external_reference can collide here: incident_id conflicts are DO NOTHING.
            holder = await self._pool.fetchval(
                "SELECT incident_id FROM incidents WHERE external_reference = $1",
                opening.intake.external_reference,
            )
            raise ApplicationError(
                f"the external reference of incident {opening.incident_id} already opened "
                f"incident {holder}",
                type="DuplicateExternalReference",
                non_retryable=True,
            ) from error
        log.info(
            "incident opened" if inserted else "incident already opened",
            incident_id=opening.incident_id,
            related_incidents=len(related),
        )
        return IncidentOpened(related=related)

    @activity.defn(name="record_event")
    async def record_event(self, event: RegisterEvent) -> bool:
        """Record the event with everything it changes, in one transaction, at most once.

        Returns True when this call recorded it, False when the sequence was already recorded
        (then nothing is written).
        """
        return await self._record(event, [])

    @activity.defn(name="record_event_with_notifications")
    async def record_event_with_notifications(self, write: EventWithNotifications) -> bool:
        """`record_event`, queueing the event's notifications in the same transaction.

        Returns True when this call recorded them, False when the event was already recorded
        (then nothing is written: its notifications were queued with it).
        """
        return await self._record(write.event, write.notifications)

    async def _record(self, event: RegisterEvent, notifications: list[Notification]) -> bool:
        async with self._pool.acquire() as connection:
            stored, refusal = await self._write(connection, event, notifications)
            if refusal is not None:  # recorded outside the rolled-back write
                raise await integrity.refuse_write(
                    connection,
                    incident_id=event.incident_id,
                    sequence=event.sequence,
                    run_lineage=event.run_lineage,
                    event_kind=event.kind,
                    detail=refusal,
                )
        log.info(
            "event recorded" if stored else "event already recorded",
            incident_id=event.incident_id,
            sequence=event.sequence,
            kind=event.kind,
            notifications=len(notifications),
        )
        return stored

    async def _write(
        self, connection: Connection, event: RegisterEvent, notifications: list[Notification]
    ) -> tuple[bool, str | None]:
        """Write the event in one transaction: whether this call stored it, and why it was
        refused if it was (then nothing of it is written)."""
        async with connection.transaction():
            # Locking the incident row serialises concurrent writers of the same incident.
            lineage = await connection.fetchrow(
                "SELECT run_lineage FROM incidents WHERE incident_id = $1 FOR UPDATE",
                event.incident_id,
            )
            if lineage is None:
                raise _not_found(event.incident_id)
            if integrity.foreign_lineage(lineage["run_lineage"], event.run_lineage):
                return False, (
                    f"event {event.sequence} ({event.kind}) of {event.incident_id} comes from a "
                    f"run of lineage {event.run_lineage}, not the incident's "
                    f"{lineage['run_lineage']}: not recorded"
                )
            inserted = await connection.fetchval(
                _INSERT_EVENT,
                event.incident_id,
                event.sequence,
                event.kind,
                event.outcome.value,
                event.actor.id,
                [role.value for role in event.actor.roles],
                event.occurred_at,
                event.reason,
                event.summary,
                event.payload,
            )
            if inserted is None:
                return False, await self._same_event_or_refusal(connection, event)
            await self._apply_event(connection, event)
            for notification in notifications:
                await _queue(connection, notification)
            if lineage["run_lineage"] is None and event.run_lineage is not None:
                await connection.execute(_ADOPT_LINEAGE, event.incident_id, event.run_lineage)
            return True, None

    @staticmethod
    async def _same_event_or_refusal(connection: Connection, event: RegisterEvent) -> str | None:
        """None when the stored event under this sequence is this one (a retried write)."""
        row = await connection.fetchrow(_STORED_EVENT, event.incident_id, event.sequence)
        assert row is not None  # the insert met it, under the row lock
        stored = integrity.StoredEvent(
            row["kind"], row["outcome"], row["actor_id"], row["occurred_at"]
        )
        if integrity.same_event(
            stored, event.kind, event.outcome.value, event.actor.id, event.occurred_at
        ):
            return None
        return (
            f"event {event.sequence} of {event.incident_id} is already recorded as "
            f"{stored.kind} ({stored.outcome}) at {stored.occurred_at.isoformat()}; "
            f"this {event.kind} ({event.outcome.value}) was not recorded"
        )

    async def _apply_event(self, connection: Connection, event: RegisterEvent) -> None:
        snapshot = event.snapshot
        await connection.execute(
            _APPLY_SNAPSHOT,
            event.incident_id,
            event.sequence,
            snapshot.step.value,
            snapshot.case_status.value,
            snapshot.severity.value,
            None if snapshot.response_level is None else snapshot.response_level.value,
            None if snapshot.relationship is None else snapshot.relationship.value,
            snapshot.case_owner,
            snapshot.closed_at,
            snapshot.closure_reason,
            snapshot.escalation_level,
            snapshot.overdue,
            snapshot.next_deadline,
            activity.info().workflow_run_id,
        )
        if event.escalation is not None:
            escalation = event.escalation
            await connection.execute(
                _INSERT_ESCALATION,
                event.incident_id,
                event.sequence,
                escalation.milestone,
                escalation.milestone_kind,
                escalation.level,
                escalation.due_at,
                escalation.reached_at,
                event.occurred_at,
                escalation.cleared_because,
                None
                if escalation.late_by_seconds is None
                else timedelta(seconds=escalation.late_by_seconds),
                list(escalation.notified),
            )
        if event.approvals:
            await connection.executemany(
                _UPSERT_APPROVAL,
                [self._approval_row(event, approval) for approval in event.approvals],
            )
        if event.actions:
            await connection.executemany(
                _UPSERT_ACTION,
                [self._action_row(event, action) for action in event.actions],
            )
        if event.victim is not None:
            victim = event.victim
            sealed = victim.personal_data
            await connection.execute(
                _UPSERT_VICTIM,
                event.incident_id,
                victim.victim_id,
                victim.child,
                event.occurred_at,
                victim.recorded_by,
                event.sequence,
                None if sealed is None else base64.b64decode(sealed.ciphertext),
            )
        if event.erased_victim is not None:
            await _erase_victim(
                connection,
                event.incident_id,
                event.erased_victim,
                event.occurred_at,
                event.actor.id,
            )
        if event.check_in is not None:
            check_in = event.check_in
            await connection.execute(
                _INSERT_CHECK_IN,
                event.incident_id,
                event.sequence,
                check_in.period_start,
                check_in.period_end,
                check_in.submitted_by,
                check_in.actions_reported,
                None
                if check_in.victim_feedback is None
                else check_in.victim_feedback.model_dump(mode="json"),
                list(check_in.new_risks),
            )
        await write_audit(
            connection,
            AuditEntry(
                entry_id=audit_entry_id(event.incident_id, event.sequence),
                incident_id=event.incident_id,
                occurred_at=event.occurred_at,
                actor=event.actor,
                action=audit_action(event.outcome, event.kind),
                reason=event.reason,
                details={
                    "sequence": event.sequence,
                    "outcome": event.outcome.value,
                    "summary": event.summary,
                },
            ),
        )

    @staticmethod
    def _approval_row(event: RegisterEvent, approval: ApprovalRecord) -> tuple[object, ...]:
        return (
            event.incident_id,
            approval.approval_id,
            approval.kind,
            approval.author_id,
            approval.requested_at,
            approval.due_at,
            approval.status.value,
            approval.decided_by,
            approval.decided_at,
            approval.comments,
            event.sequence,
        )

    @staticmethod
    def _action_row(event: RegisterEvent, action: ActionRecord) -> tuple[object, ...]:
        fields = action.model_dump(mode="python")
        values = [fields[name] for name in _ACTION_COLUMNS]
        # Enum members become their plain values; dates and decimals keep their types.
        return (
            event.incident_id,
            *(value.value if isinstance(value, Enum) else value for value in values),
            event.sequence,
        )

    @activity.defn(name="erasure_target")
    async def erasure_target(self, incident_id: str, victim_id: str) -> ErasureTarget:
        """What the register knows of an ended incident's victim, before erasing them."""
        incident = await self._pool.fetchrow(
            "SELECT case_owner, step FROM incidents WHERE incident_id = $1", incident_id
        )
        if incident is None:
            return ErasureTarget(incident_found=False)
        victim = await self._pool.fetchrow(
            "SELECT erased_at FROM victims WHERE incident_id = $1 AND victim_id = $2",
            incident_id,
            victim_id,
        )
        return ErasureTarget(
            incident_found=True,
            incident_completed=incident["step"] == Step.COMPLETED.value,
            case_owner=incident["case_owner"],
            victim_recorded=victim is not None,
            erased_at=None if victim is None else victim["erased_at"],
        )

    @activity.defn(name="erase_victim_record")
    async def erase_victim_record(self, record: ErasureRecord) -> bool:
        """Destroy the victim's data key and sealed data, and audit it, once (a redelivery
        finds the audit entry and changes nothing); True when this call erased."""
        entry_id = uuid.uuid5(AUDIT_NAMESPACE, f"{record.incident_id}:erasure:{record.victim_id}")
        async with self._pool.acquire() as connection, connection.transaction():
            done = await connection.fetchval(
                "SELECT true FROM audit_trail WHERE entry_id = $1", entry_id
            )
            if done:
                return False
            await _erase_victim(
                connection,
                record.incident_id,
                record.victim_id,
                record.erased_at,
                record.approved_by,
            )
            await write_audit(
                connection,
                AuditEntry(
                    entry_id=entry_id,
                    incident_id=record.incident_id,
                    occurred_at=record.erased_at,
                    actor=Actor(id=record.approved_by, roles=(Role.APPROVER,)),
                    action="victim.erased",
                    reason=record.reason,
                    details={"victim_id": record.victim_id, "requested_by": record.requested_by},
                ),
            )
        log.info("victim erased", incident_id=record.incident_id, victim_id=record.victim_id)
        return True

    @activity.defn(name="queue_notification")
    async def queue_notification(self, notification: Notification) -> bool:
        """Queue the notification in the outbox once; True when this call queued it."""
        async with self._pool.acquire() as connection:
            queued = await _queue(connection, notification)
        log.info(
            "notification queued" if queued else "notification already queued",
            incident_id=notification.incident_id,
            sequence=notification.sequence,
            kind=notification.kind.value,
        )
        return queued

    @activity.defn(name="write_closure_report")
    async def write_closure_report(self, request: ClosureReportRequest) -> ClosureReport:
        """Render the closure report from the register (Markdown and JSON) and store it.

        The report is built only from columns that hold no personal data, so no intake text,
        reporter, victim id or free text of a decision can reach it.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            report = await write_closure_report(connection, request)
            if report is None:
                raise _not_found(request.incident_id)
        log.info("closure report written", incident_id=request.incident_id)
        return report

    @activity.defn(name="store_lessons")
    async def store_lessons(self, record: LessonRecord) -> bool:
        """Add the incident's lessons to the knowledge base once; True when this call did."""
        stored = await self._pool.fetchval(
            _INSERT_LESSONS,
            record.incident_id,
            record.recorded_at,
            plain_values(record.minerals),
            record.country,
            list(record.facility_ids),
            plain_values(record.harm_types),
            plain_values(record.root_causes),
            record.root_cause_notes,
            list(record.due_diligence_gaps),
            list(record.changes_made),
            record.supplier_engagement_outcome,
            record.shared_with_industry_programme,
            record.anonymised_summary,
        )
        log.info(
            "lessons stored" if stored is not None else "lessons already stored",
            incident_id=record.incident_id,
        )
        return stored is not None


def case_register_activities(register: CaseRegister) -> list[Callable[..., Any]]:
    """The register's activities, bound to it, for the worker to register."""
    return [
        register.open_incident,
        register.record_event,
        register.record_event_with_notifications,
        register.queue_notification,
        register.write_closure_report,
        register.store_lessons,
        register.erasure_target,
        register.erase_victim_record,
    ]
