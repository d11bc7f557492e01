"""Reminders before a deadline, on the time-skipping server; and the change that added them,
made safe for incidents already running.

Reminders came with a `workflow.patched` branch: an incident that started before them replays its
history without them (tests/histories/victim-protection/overdue_escalated.json was recorded by the
code before the change) and goes on without them; a new incident is reminded.
"""

from datetime import timedelta

import asyncpg
from temporalio.testing import WorkflowEnvironment

from schemas.decisions import DecisionKind
from schemas.vocabulary import Step
from tests.test_deadlines import engine_on, eventually, open_incident
from tests.test_incident_lifecycle import save_history
from workers import examples
from workers import incident_client as incidents

DAY = timedelta(days=1)


async def test_an_unacknowledged_incident_is_escalated_then_runs_to_its_end(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env, pool = time_skipping_env, register_pool
    client = env.client
    async with engine_on(env, pool) as task_queue:
        incident_id = await open_incident(client, task_queue)
        opened = await incidents.status(client, incident_id)
        [acknowledge] = [m for m in opened.deadlines if m.milestone == "acknowledge"]
        assert acknowledge.due_at - opened.opened_at == 7 * DAY  # medium: within 7 days
        await env.sleep(7 * DAY + timedelta(minutes=1))
        status = await incidents.status(client, incident_id)
        assert [(e.milestone, e.level) for e in status.escalations] == [("acknowledge", 1)]

        async def decide(kind: DecisionKind, payload: dict[str, object]) -> str:
            result = await incidents.decide(client, incident_id, kind, payload)
            return result.approval_id or ""

        await decide(DecisionKind.ACKNOWLEDGE, examples.acknowledge())
        await decide(DecisionKind.VERIFICATION, examples.verification("not_substantiated"))
        closure = await decide(DecisionKind.CLOSURE, examples.closure())
        await decide(DecisionKind.APPROVE, examples.approve(closure))
        await eventually(
            client, incident_id, lambda s: s.step == Step.LESSONS_LEARNED, "lessons are due"
        )
        await decide(DecisionKind.LESSONS_LEARNED, examples.lessons())
        await eventually(client, incident_id, lambda s: s.step == Step.FOLLOW_UP, "follow-up")
        await decide(DecisionKind.FOLLOW_UP, examples.follow_up())
        handle = client.get_workflow_handle(incident_id)
        outcome = await handle.result()
        assert outcome["case_status"] == "closed"
        await save_history(handle, "overdue_escalated")

    told = await pool.fetch(
        "SELECT kind, recipient FROM outbox WHERE incident_id = $1 AND kind LIKE 'escalation%' "
        "ORDER BY sequence",
        incident_id,
    )
    assert [(r["kind"], r["recipient"]) for r in told] == [
        ("escalation", "case_owners"),
        ("escalation_cleared", "case_owners"),
    ]
