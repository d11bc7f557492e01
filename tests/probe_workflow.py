"""Trivial workflows for the smoke tests: one optionally waits, then writes one audit entry through
an activity of its own (`AuditTrail`, registered by the tests); the other has a bug."""

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import asyncpg
    import structlog

    from activities.audit_entries import write_audit
    from schemas.actor import SYSTEM_ACTOR, Actor
    from schemas.audit import AuditEntry, RecordedAuditEntry

log = structlog.get_logger(__name__)


@workflow.defn
class AuditProbeWorkflow:
    @workflow.run
    async def run(self, wait_days: int) -> AuditEntry:
        if wait_days:
            await workflow.sleep(timedelta(days=wait_days), summary="probe wait")
        entry = AuditEntry(
            entry_id=workflow.uuid4(),
            incident_id=workflow.info().workflow_id,
            occurred_at=workflow.now(),
            actor=SYSTEM_ACTOR,
            action="system.probe",
            details={"wait_days": wait_days},
        )
        await workflow.execute_activity(
            "record_audit_entry",
            entry,
            start_to_close_timeout=timedelta(seconds=30),
            summary="record probe entry",
        )
        return entry


@workflow.defn
class BuggyProbeWorkflow:
    """A workflow with a bug: each of its tasks fails, and the SDK retries it until terminated."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug, not a refusal")


class AuditTrail:
    """Writes and reads audit entries directly: the probe's activity, and the tests' reader."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_audit_entry")
    async def record_audit_entry(self, entry: AuditEntry) -> bool:
        """Store the entry once; a redelivered entry (same entry_id) is a no-op.

        Returns True when this call stored it, False when it was already there.
        """
        async with self._pool.acquire() as connection:
            sequence = await write_audit(connection, entry)
        stored = sequence is not None
        log.info(
            "audit entry recorded" if stored else "audit entry already recorded",
            incident_id=entry.incident_id,
            action=entry.action,
            sequence=sequence,
        )
        return stored

    async def entries_for(self, incident_id: str) -> list[RecordedAuditEntry]:
        """The incident's trail in the order it was recorded."""
        rows = await self._pool.fetch(
            "SELECT * FROM audit_trail WHERE incident_id = $1 ORDER BY sequence", incident_id
        )
        return [
            RecordedAuditEntry(
                sequence=row["sequence"],
                recorded_at=row["recorded_at"],
                entry_id=row["entry_id"],
                incident_id=row["incident_id"],
                occurred_at=row["occurred_at"],
                actor=Actor(id=row["actor_id"], roles=tuple(row["actor_roles"])),
                action=row["action"],
                reason=row["reason"],
                details=row["details"],
            )
            for row in rows
        ]
