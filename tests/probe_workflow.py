"""Trivial workflows for the smoke tests: one optionally waits, then writes one audit entry; the
other has a bug."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.actor import SYSTEM_ACTOR
    from schemas.audit import AuditEntry


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
