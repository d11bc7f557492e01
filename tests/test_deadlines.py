"""Deadlines and escalation on the time-skipping server: left alone, an incident escalates at
exactly the times of DESIGN §5; acting clears it."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from schemas.decisions import DecisionKind
from schemas.incident import IncidentStatus
from schemas.intake import Intake
from workers import examples
from workers import incident_client as incidents
from workers.settings import load_settings
from workers.worker import build_worker

DAY = timedelta(days=1)


@asynccontextmanager
async def engine_on(env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[str]:
    task_queue = f"deadlines-{uuid.uuid4().hex[:8]}"
    settings = load_settings(task_queue=task_queue, database_url="postgresql://unused")
    async with build_worker(env.client, settings, pool):
        yield task_queue


async def open_incident(client: Client, task_queue: str, **changes: Any) -> str:
    intake = Intake.model_validate(examples.intake(**changes))
    return await incidents.open_incident(client, intake, task_queue=task_queue)


async def eventually(
    client: Client,
    incident_id: str,
    condition: Callable[[IncidentStatus], bool],
    what: str,
) -> IncidentStatus:
    """The tracker acts just after a decision lands: wait (in real time) until it has."""
    for _ in range(100):
        status = await incidents.status(client, incident_id)
        if condition(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"{incident_id}: {what} never happened")


async def escalation_rows(pool: asyncpg.Pool, incident_id: str) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(
        "SELECT milestone, level, reached_at, cleared_because, late_by, notified, occurred_at "
        "FROM escalations WHERE incident_id = $1 ORDER BY sequence",
        incident_id,
    )
    return [tuple(row) for row in rows]


async def test_missed_verification_climbs_the_ladder_at_exact_times_and_clears(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env, pool = time_skipping_env, register_pool
    async with engine_on(env, pool) as task_queue:
        incident_id = await open_incident(env.client, task_queue, children_affected=True)
        correction = examples.acknowledge("critical", reason="Children at the site.")
        await incidents.decide(env.client, incident_id, DecisionKind.ACKNOWLEDGE, correction)
        opened: datetime = (await incidents.status(env.client, incident_id)).opened_at
        due = opened + 7 * DAY  # critical: verification within 7 days
        grace = timedelta(days=1, hours=18)  # a quarter of the 7-day window

        await env.sleep(7 * DAY + timedelta(minutes=1))
        status: IncidentStatus = await incidents.status(env.client, incident_id)
        assert [(e.milestone, e.level) for e in status.escalations] == [("verification", 1)]
        await env.sleep(grace)
        await env.sleep(grace)
        status = await incidents.status(env.client, incident_id)
        assert status.escalation_level == 3
        assert status.escalations[0].notified == [
            "owner.amara",
            "human-rights-lead",
            "executive-sponsor",
        ]

        await incidents.decide(
            env.client, incident_id, DecisionKind.VERIFICATION, examples.verification()
        )
        status = await eventually(
            env.client, incident_id, lambda s: not s.escalations, "the escalation clears"
        )
        assert status.escalation_level == 0

    rows = await escalation_rows(pool, incident_id)
    assert [(r[0], r[1], r[2]) for r in rows[:3]] == [
        ("verification", 1, due),
        ("verification", 2, due + grace),
        ("verification", 3, due + 2 * grace),
    ]
    # Each was recorded when its timer fired: at the ladder's time, give or take a moment.
    assert all(timedelta(0) <= r[6] - r[2] < timedelta(seconds=5) for r in rows[:3])
    milestone, level, cleared_at, because, late_by, _, _ = rows[3]
    assert (milestone, level, because) == ("verification", 0, "met")
    assert late_by == timedelta(seconds=int((cleared_at - due).total_seconds()))
    incident = await pool.fetchrow(
        "SELECT escalation_level, overdue FROM incidents WHERE incident_id = $1", incident_id
    )
    assert incident is not None and tuple(incident) == (0, False)
    told = await pool.fetch(
        "SELECT recipient FROM outbox WHERE incident_id = $1 AND kind = 'escalation' "
        "ORDER BY sequence",
        incident_id,
    )
    assert [r["recipient"] for r in told] == [
        "owner.amara",
        "human-rights-lead",
        "executive-sponsor",
    ]
