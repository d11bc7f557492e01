"""The audit trail: append-only in the database itself, and idempotent to write."""

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from schemas.actor import Actor, Role
from schemas.audit import AuditEntry
from tests.probe_workflow import AuditTrail


def _entry(incident_id: str) -> AuditEntry:
    return AuditEntry(
        entry_id=uuid.uuid4(),
        incident_id=incident_id,
        occurred_at=datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        actor=Actor(id="case-owner-7", roles=(Role.CASE_OWNER,)),
        action="decision.acknowledge",
        reason="Received through the grievance mechanism",
        details={"severity": "high"},
    )


async def test_recording_the_same_entry_twice_keeps_one_row(register_pool: asyncpg.Pool) -> None:
    trail = AuditTrail(register_pool)
    entry = _entry("INC-twice")
    env = ActivityEnvironment()

    assert await env.run(trail.record_audit_entry, entry) is True
    assert await env.run(trail.record_audit_entry, entry) is False

    stored = await trail.entries_for("INC-twice")
    assert len(stored) == 1
    assert stored[0].model_dump(exclude={"sequence", "recorded_at"}) == entry.model_dump()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_trail SET reason = 'rewritten'",
        "DELETE FROM audit_trail",
        "TRUNCATE audit_trail",
    ],
)
async def test_the_database_refuses_to_change_the_trail(
    register_pool: asyncpg.Pool, statement: str
) -> None:
    trail = AuditTrail(register_pool)
    await ActivityEnvironment().run(trail.record_audit_entry, _entry("INC-locked"))
    before = await register_pool.fetchval("SELECT count(*) FROM audit_trail")

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await register_pool.execute(statement)

    assert await register_pool.fetchval("SELECT count(*) FROM audit_trail") == before
    assert all(e.reason != "rewritten" for e in await trail.entries_for("INC-locked"))
