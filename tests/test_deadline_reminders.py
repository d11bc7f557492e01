"""Reminders before a deadline, on the time-skipping server; and the change that added them,
made safe for incidents already running.

Reminders came with a `workflow.patched` branch: an incident that started before them replays its
history without them (tests/histories/victim-protection/overdue_escalated.json was recorded by the
code before the change) and goes on without them; a new incident is reminded.
"""

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from schemas.decisions import DecisionKind
from schemas.history import TimelineEvent
from schemas.policy import Policy
from schemas.vocabulary import Step
from tests.conftest import TEST_DATA_CONVERTER
from tests.test_deadlines import open_incident, status_when
from tests.test_incident_lifecycle import save_history
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples
from workers.settings import load_settings
from workers.worker import WORKFLOWS, build_worker
from workflows.patches import DEADLINE_REMINDERS as DEADLINE_REMINDERS_PATCH

DAY = timedelta(days=1)
REASSIGN_TO_AMARA: dict[str, object] = {
    "actor": examples.EXECUTIVE,
    "new_case_owner": "owner.amara",
    "reason": "Unacknowledged for six days.",
}
HISTORIES = Path(__file__).parent / "histories"
BEFORE_REMINDERS = HISTORIES / "victim-protection" / "overdue_escalated.json"
AFTER_REMINDERS = HISTORIES / "deadline-reminders" / "overdue_escalated.json"


@asynccontextmanager
async def engine_on(
    env: WorkflowEnvironment, pool: asyncpg.Pool, policy: Policy | None = None
) -> AsyncIterator[str]:
    task_queue = f"reminders-{uuid.uuid4().hex[:8]}"
    settings = load_settings(task_queue=task_queue, database_url="postgresql://unused")
    async with build_worker(env.client, settings, pool, policy=policy or Policy()):
        yield task_queue


async def reminders(client: Client, incident_id: str) -> list[TimelineEvent]:
    """The reminders on the timeline, once the tracker has recorded at least one."""

    async def found() -> list[TimelineEvent]:
        timeline = await incidents.timeline(client, incident_id)
        return [event for event in timeline if event.kind == "system_reminder"]

    return await eventually(found, f"{incident_id} reminded", timeout=5)


async def outbox(pool: asyncpg.Pool, incident_id: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT kind, recipient FROM outbox WHERE incident_id = $1 "
        "AND kind IN ('deadline_reminder', 'escalation', 'escalation_cleared') ORDER BY sequence",
        incident_id,
    )
    return [(row["kind"], row["recipient"]) for row in rows]


async def test_an_unacknowledged_incident_is_reminded_then_escalated_then_runs_to_its_end(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    """Left unacknowledged: reminded, reassigned after the reminder (a decision inside the
    reminder window, which is where old and new code part ways), escalated, then acknowledged and
    run to its end."""
    env, pool = time_skipping_env, register_pool
    client = env.client
    async with engine_on(env, pool) as task_queue:
        incident_id = await open_incident(client, task_queue)
        opened = await incidents.status(client, incident_id)
        [acknowledge] = [m for m in opened.deadlines if m.milestone == "acknowledge"]
        assert acknowledge.due_at - opened.opened_at == 7 * DAY  # medium: within 7 days
        lead = 7 * DAY / 5
        await env.sleep(7 * DAY - lead - timedelta(minutes=1))
        assert await outbox(pool, incident_id) == []
        await env.sleep(timedelta(hours=12))
        [reminder] = await reminders(client, incident_id)
        assert reminder.summary == (
            f"acknowledge due {acknowledge.due_at:%Y-%m-%d %H:%M} UTC, in 1d 9h: "
            "case owner reminded"
        )
        assert acknowledge.due_at - reminder.at <= lead
        assert await outbox(pool, incident_id) == [("deadline_reminder", "case_owners")]

        async def decide(kind: DecisionKind, payload: dict[str, object]) -> str:
            result = await incidents.decide(client, incident_id, kind, payload)
            return result.approval_id or ""

        await decide(DecisionKind.REASSIGN, REASSIGN_TO_AMARA)
        await env.sleep(lead)
        status = await status_when(
            client, incident_id, lambda s: s.escalation_level == 1, "the escalation"
        )
        assert [(e.milestone, e.level) for e in status.escalations] == [("acknowledge", 1)]
        # Reminded once only: the reassignment did not remind the new owner again.
        assert len(await reminders(client, incident_id)) == 1

        await decide(DecisionKind.ACKNOWLEDGE, examples.acknowledge())
        await decide(DecisionKind.VERIFICATION, examples.verification("not_substantiated"))
        closure = await decide(DecisionKind.CLOSURE, examples.closure())
        await decide(DecisionKind.APPROVE, examples.approve(closure))
        await status_when(
            client, incident_id, lambda s: s.step == Step.LESSONS_LEARNED, "lessons are due"
        )
        await decide(DecisionKind.LESSONS_LEARNED, examples.lessons())
        await status_when(client, incident_id, lambda s: s.step == Step.FOLLOW_UP, "follow-up")
        await decide(DecisionKind.FOLLOW_UP, examples.follow_up())
        handle = client.get_workflow_handle(incident_id)
        outcome = await handle.result()
        assert outcome["case_status"] == "closed"
        await save_history(handle, "overdue_escalated")

    # The later milestones were met at once, long before their reminder times.
    assert await outbox(pool, incident_id) == [
        ("deadline_reminder", "case_owners"),
        ("escalation", "owner.amara"),
        ("escalation_cleared", "owner.amara"),
    ]


async def test_a_policy_without_reminders_escalates_only(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    env, pool = time_skipping_env, register_pool
    async with engine_on(env, pool, Policy(deadline_reminders=False)) as task_queue:
        incident_id = await open_incident(env.client, task_queue)
        await env.sleep(7 * DAY + timedelta(minutes=1))
        await status_when(
            env.client, incident_id, lambda s: s.escalation_level == 1, "the escalation"
        )
    assert await outbox(pool, incident_id) == [("escalation", "case_owners")]


def patches_recorded(path: Path) -> list[str]:
    """The patch ids a history's markers recorded (marker details are plain JSON payloads)."""
    events = json.loads(path.read_text())["events"]
    recorded = []
    for event in events:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            [payload] = marker["details"]["patch-data"]["payloads"]
            recorded.append(json.loads(base64.b64decode(payload["data"]))["id"])
    return recorded


def timers_started(path: Path) -> int:
    events = json.loads(path.read_text())["events"]
    return sum(event["eventType"] == "EVENT_TYPE_TIMER_STARTED" for event in events)


async def replay(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=TEST_DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_an_incident_started_before_reminders_replays_and_goes_on_without_them() -> None:
    """The pre-change history waited past the reminder time with one timer, to the deadline;
    the new code must make the same decisions when it replays it (no reminder timer, no
    reminder), or every incident running at the upgrade would fail its next workflow task."""
    assert DEADLINE_REMINDERS_PATCH not in patches_recorded(BEFORE_REMINDERS)
    await replay(BEFORE_REMINDERS)
    # The same path run by the new code: the patch is recorded and the reminder adds a timer.
    assert DEADLINE_REMINDERS_PATCH in patches_recorded(AFTER_REMINDERS)
    assert timers_started(AFTER_REMINDERS) > timers_started(BEFORE_REMINDERS)
    await replay(AFTER_REMINDERS)


async def test_the_replay_gate_catches_the_change_made_without_its_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same change with the patch check left out (reminders for every incident): the
    pre-change history no longer replays, which is what tests/test_replay.py exists to catch."""
    patched = workflow.patched

    def reminders_everywhere(patch_id: str) -> bool:
        return True if patch_id == DEADLINE_REMINDERS_PATCH else patched(patch_id)

    # Unsandboxed, so that the workflow code sees the stand-in for workflow.patched.
    monkeypatch.setattr(workflow, "patched", reminders_everywhere)
    history = WorkflowHistory.from_json(
        "before-reminders", await asyncio.to_thread(BEFORE_REMINDERS.read_text)
    )
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=TEST_DATA_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
