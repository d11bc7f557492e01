"""Deadlines and escalation on the time-skipping server: left alone, an incident escalates at
exactly the times of docs/design.md, Deadlines; acting clears it."""

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.notifications import verify_signature
from schemas.decisions import DecisionKind
from schemas.facts import FactKind
from schemas.incident import IncidentStatus
from schemas.intake import Intake
from schemas.policy import Policy
from tests.conftest import Receiver
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples
from workers.settings import load_settings
from workers.worker import build_worker
from workflows import search_attributes as sa

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


async def status_when(
    client: Client,
    incident_id: str,
    condition: Callable[[IncidentStatus], bool],
    what: str,
) -> IncidentStatus:
    """The tracker acts just after a decision lands: wait (in real time) until it has."""

    async def holds() -> IncidentStatus | None:
        status = await incidents.status(client, incident_id)
        return status if condition(status) else None

    return await eventually(holds, f"{incident_id}: {what}", timeout=5)


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
        described = await env.client.get_workflow_handle(incident_id).describe()
        attributes = described.typed_search_attributes
        assert attributes.get(sa.ESCALATION_LEVEL) == 3
        assert attributes.get(sa.OVERDUE) is True
        assert attributes.get(sa.NEXT_DEADLINE) == due
        assert status.escalations[0].notified == [
            "owner.amara",
            "human-rights-lead",
            "executive-sponsor",
        ]

        await incidents.decide(
            env.client, incident_id, DecisionKind.VERIFICATION, examples.verification()
        )
        status = await status_when(
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


async def decide(client: Client, incident_id: str, kind: str, payload: dict[str, Any]) -> str:
    result = await incidents.decide(client, incident_id, DecisionKind(kind), payload)
    return result.approval_id or ""


async def to_implementation(
    client: Client, incident_id: str, actions: list[dict[str, Any]] | None = None
) -> None:
    """High severity (check-ins every 14 days), plan approved now."""
    await decide(client, incident_id, "acknowledge", examples.acknowledge())
    await decide(client, incident_id, "verification", examples.verification())
    level = str((await incidents.status(client, incident_id)).proposed_response_level)
    approval = await decide(client, incident_id, "response", examples.response(level))
    await decide(client, incident_id, "approve", examples.approve(approval))
    approval = await decide(client, incident_id, "action_plan", examples.action_plan(actions))
    await decide(client, incident_id, "approve", examples.approve(approval))


def escalated(status: IncidentStatus) -> list[tuple[str, int]]:
    return [(e.milestone, e.level) for e in status.escalations]


async def test_a_missed_check_in_escalates_and_a_late_one_restarts_the_cadence(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env = time_skipping_env
    async with engine_on(env, register_pool) as task_queue:
        incident_id = await open_incident(env.client, task_queue)
        await to_implementation(env.client, incident_id)
        status = await incidents.status(env.client, incident_id)
        assert status.severity == "high"
        check_in_due = next(m.due_at for m in status.deadlines if m.milestone == "check_in")
        await env.sleep(14 * DAY + timedelta(hours=1))
        status = await incidents.status(env.client, incident_id)
        assert escalated(status) == [("check_in", 1)]
        await decide(
            env.client, incident_id, "check_in", examples.check_in([examples.progress("A1")])
        )
        status = await status_when(
            env.client, incident_id, lambda s: not s.escalations, "the check-in clears it"
        )
        next_due = next(m.due_at for m in status.deadlines if m.milestone == "check_in")
        assert next_due - check_in_due >= 14 * DAY + timedelta(hours=1)  # counted from the late one
    rows = await escalation_rows(register_pool, incident_id)
    assert [(r[0], r[1], r[3]) for r in rows] == [("check_in", 1, None), ("check_in", 0, "met")]


async def test_one_overdue_action_escalates_while_the_others_are_on_time(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env = time_skipping_env
    async with engine_on(env, register_pool) as task_queue:
        incident_id = await open_incident(env.client, task_queue)
        soon = examples.action("A1", due_date=examples.future(5))
        later = examples.action("A2", due_date=examples.future(60))
        await to_implementation(env.client, incident_id, [soon, later])
        await env.sleep(6 * DAY)  # past the end of A1's due day, within its first grace
        status = await incidents.status(env.client, incident_id)
        assert escalated(status) == [("action:A1", 1)]
        assert {m.milestone for m in status.deadlines} >= {"action:A2", "check_in"}


async def test_an_extension_moves_the_deadline_and_cancels_the_pending_escalation(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env = time_skipping_env
    async with engine_on(env, register_pool) as task_queue:
        incident_id = await open_incident(env.client, task_queue)
        await decide(
            env.client,
            incident_id,
            "acknowledge",
            examples.acknowledge("critical", reason="Escalated by the audit programme."),
        )
        status = await incidents.status(env.client, incident_id)
        due = next(m.due_at for m in status.deadlines if m.milestone == "verification")
        extension = {
            "actor": examples.CASE_OWNER,
            "milestone": "verification",
            "new_deadline": (due + 10 * DAY).isoformat(),
            "justification": "Site unreachable in the rainy season.",
        }
        approval = await decide(env.client, incident_id, "extend_deadline", extension)
        await decide(env.client, incident_id, "approve", examples.approve(approval))
        await env.sleep(8 * DAY)
        status = await incidents.status(env.client, incident_id)
        assert escalated(status) == []
        moved = next(m for m in status.deadlines if m.milestone == "verification")
        assert (moved.due_at, moved.extended) == (due + 10 * DAY, True)
        await env.sleep(10 * DAY)
        assert escalated(await incidents.status(env.client, incident_id)) == [("verification", 1)]
    rows = await escalation_rows(register_pool, incident_id)
    assert [(r[0], r[1], r[2]) for r in rows] == [("verification", 1, due + 10 * DAY)]


async def test_two_years_of_weekly_check_ins_cross_continue_as_new_with_everything_intact(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env, pool = time_skipping_env, register_pool
    policy = Policy(continue_as_new_after_events=400)
    async with engine_on(env, pool) as task_queue:
        intake = Intake.model_validate(examples.intake())
        incident_id = await incidents.open_incident(
            env.client, intake, task_queue=task_queue, policy=policy
        )
        far = [examples.action("A1", due_date=examples.future(900))]
        await to_implementation(env.client, incident_id, far)
        amendment = {
            "actor": examples.CASE_OWNER,
            "add": [examples.action("A2", due_date=examples.future(900))],
            "reason": "A second remedy the workers asked for.",
        }
        pending = await decide(env.client, incident_id, "amend_plan", amendment)
        first_run = (await env.client.get_workflow_handle(incident_id).describe()).run_id

        notes = 0
        for week in range(104):
            await env.sleep(7 * DAY)
            await decide(
                env.client, incident_id, "check_in", examples.check_in([examples.progress("A1")])
            )
            if week % 10 == 0:
                await incidents.signal(
                    env.client,
                    incident_id,
                    FactKind.NOTE,
                    {"actor": examples.PARTNER, "text": f"Week {week} visit."},
                )
                notes += 1

        handle = env.client.get_workflow_handle(incident_id)
        assert (await handle.describe()).run_id != first_run
        status = await status_when(
            env.client,
            incident_id,
            lambda s: len([e for e in s.escalations if e.milestone.startswith("approval")]) == 1,
            "the pending approval is still escalated",
        )
        assert [p.approval_id for p in status.pending_approvals] == [pending]
        assert [(e.milestone, e.level) for e in status.escalations] == [(f"approval:{pending}", 3)]
        assert {m.milestone for m in status.deadlines} >= {"check_in", "action:A1"}
        timeline = await incidents.timeline(env.client, incident_id)

    runs = await pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = $1 "
        "AND kind = 'system_continued_as_new'",
        incident_id,
    )
    assert runs >= 3
    check_ins = await pool.fetchval(
        "SELECT count(*) FROM check_ins WHERE incident_id = $1", incident_id
    )
    assert check_ins == 104
    sequences = [
        row["sequence"]
        for row in await pool.fetch(
            "SELECT sequence FROM incident_events WHERE incident_id = $1 ORDER BY sequence",
            incident_id,
        )
    ]
    assert sequences == list(range(1, len(sequences) + 1))  # nothing lost, nothing twice
    assert [e.sequence for e in timeline] == sequences
    assert sum(1 for e in timeline if e.kind == "note") == notes


async def test_notifications_reach_a_webhook_that_fails_first_and_succeeds_later(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    env, pool = time_skipping_env, register_pool
    receiver.fail_next(2)
    settings = load_settings(
        task_queue=f"webhook-{uuid.uuid4().hex[:8]}",
        database_url="postgresql://unused",
        notify_channel="webhook",
        notify_webhook_url=receiver.url,
        notify_webhook_secret="a-long-enough-test-secret",
    )
    async with build_worker(env.client, settings, pool):
        incident_id = await open_incident(env.client, settings.task_queue)
        # The opening tells the case owners; retries back off from 10 s. The time-skipping clock
        # moving is what the test needs (not a real wait), so it steps 30 s at a time.
        for _ in range(200):
            await env.sleep(timedelta(seconds=30))
            row = await pool.fetchrow(
                "SELECT status, attempts, last_error FROM outbox WHERE incident_id = $1",
                incident_id,
            )
            if row is not None and row["status"] == "delivered":
                break
    assert row is not None
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, None)
    assert len(receiver.requests) == 3
    delivered = json.loads(receiver.requests[-1].body)
    assert (delivered["incident_id"], delivered["kind"]) == (incident_id, "case_owner_assigned")
    signature = receiver.requests[-1].header("X-Remediation-Signature")
    assert verify_signature(b"a-long-enough-test-secret", receiver.requests[-1].body, signature)


async def test_a_policy_file_change_applies_to_new_incidents_only(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    env, pool = time_skipping_env, register_pool
    task_queue = f"policy-{uuid.uuid4().hex[:8]}"
    policy_file = tmp_path / "policy.toml"
    settings = load_settings(
        task_queue=task_queue, database_url="postgresql://unused", policy_file=policy_file
    )
    policy_file.write_text('version = "standard"\n')
    async with build_worker(env.client, settings, pool):
        before = await open_incident(env.client, task_queue)
        old = await status_when(
            env.client, before, lambda s: s.policy_version == "standard", "the policy is read"
        )
    # The deployment's policy file changes; the worker restarts with it.
    policy_file.write_text('version = "stricter"\n[deadlines.acknowledge]\nmedium = "12h"\n')
    async with build_worker(env.client, settings, pool):
        after = await open_incident(env.client, task_queue)
        new = await status_when(
            env.client, after, lambda s: s.policy_version == "stricter", "the policy is read"
        )
    assert old.policy_version == "standard"
    assert old.deadlines[0].window == timedelta(days=7)  # medium: acknowledge within 7 days
    assert new.deadlines[0].window == timedelta(hours=12)
    stamped = await pool.fetch(
        "SELECT incident_id, policy_version FROM incidents WHERE incident_id = ANY($1)",
        [before, after],
    )
    assert {r["incident_id"]: r["policy_version"] for r in stamped} == {
        before: "standard",
        after: "stricter",
    }
