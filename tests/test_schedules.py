"""The Temporal Schedules that start portfolio monitoring, on the local dev server.

Schedule ids are global in the session's dev server: tests of the functions give every schedule a
prefix of their own; tests of the command line (which use the real ids) delete them afterwards.
Nothing here needs `PortfolioMonitoringWorkflow` to exist: a triggered run only has to start.
"""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from schemas.monitoring import MONITORING_WORKFLOW, MonitoringKind, MonitoringRun
from tests.conftest import TEST_KEY_RING, Cli, Engine
from tests.waiting import eventually
from workers import schedules
from workers.cli import app
from workers.devstack.stack import LocalStack, StackOptions
from workers.encryption import encrypted_data_converter
from workers.settings import load_settings

DAILY, WEEKLY, ANNUAL = schedules.SCHEDULES


@pytest.fixture
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """A task queue nobody polls: triggered runs start and wait there."""
    return f"monitoring-{uuid.uuid4().hex[:8]}"


async def _end_runs(client: Client, schedule_ids: list[str]) -> None:
    """Terminate what the schedules started, so no run is left for other tests to find."""
    query = f"WorkflowType = '{MONITORING_WORKFLOW}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        if any(execution.id.startswith(f"{schedule_id}-") for schedule_id in schedule_ids):
            await client.get_workflow_handle(execution.id).terminate("test over")


@pytest.fixture
async def prefix(client: Client) -> AsyncIterator[str]:
    """Schedule ids of this test's own, removed afterwards with what they started."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    yield prefix
    await schedules.delete_schedules(client, prefix=prefix)
    await _end_runs(client, schedules.schedule_ids(prefix))


@pytest.fixture
async def real_ids(client: Client) -> AsyncIterator[None]:
    """For tests that use the real schedule ids: none before, none after."""
    await schedules.delete_schedules(client)
    yield
    await schedules.delete_schedules(client)
    await _end_runs(client, schedules.schedule_ids())


async def _describe(client: Client, schedule_id: str) -> ScheduleDescription:
    return await client.get_schedule_handle(schedule_id).describe()


# --- apply -------------------------------------------------------------------------------------


async def test_apply_creates_the_three_schedules_then_changes_nothing(
    client: Client, task_queue: str, prefix: str
) -> None:
    ids = [f"{prefix}remediation-portfolio-daily", f"{prefix}remediation-digest-weekly"]
    ids.append(f"{prefix}remediation-annual-summary")

    first = await schedules.apply_schedules(client, task_queue, prefix=prefix)
    again = await schedules.apply_schedules(client, task_queue, prefix=prefix)

    assert first == [(schedule_id, "created") for schedule_id in ids]
    assert again == [(schedule_id, "unchanged") for schedule_id in ids]
    expected = {
        ids[0]: (MonitoringKind.PORTFOLIO, timedelta(days=1)),
        ids[1]: (MonitoringKind.DIGEST, timedelta(days=3)),
        ids[2]: (MonitoringKind.ANNUAL, timedelta(days=7)),
    }
    for schedule_id, (kind, catchup_window) in expected.items():
        description = await _describe(client, schedule_id)
        schedule = description.schedule
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert schedule.policy.catchup_window == catchup_window
        assert not schedule.state.paused
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == (MONITORING_WORKFLOW, task_queue)
        assert action.id == schedule_id  # Temporal appends each run's scheduled time
        [arg] = await client.data_converter.decode(list(action.args), [MonitoringRun])
        assert arg == MonitoringRun(kind=kind)
        memo = await description.memo()
        assert memo["kind"] == kind and memo["description"]
        assert schedule.spec.time_zone_name == "UTC"


async def test_the_timing_of_each_schedule(client: Client, task_queue: str, prefix: str) -> None:
    await schedules.apply_schedules(client, task_queue, prefix=prefix)

    def times(description: ScheduleDescription) -> list[datetime]:
        return list(description.info.next_action_times)

    daily = times(await _describe(client, DAILY.schedule_id(prefix)))
    weekly = times(await _describe(client, WEEKLY.schedule_id(prefix)))
    annual = times(await _describe(client, ANNUAL.schedule_id(prefix)))

    assert all((t.hour, t.minute, t.second) == (5, 0, 0) for t in daily)
    gaps = {b - a for a, b in itertools.pairwise(daily)}
    assert gaps == {timedelta(days=1)}
    assert all((t.isoweekday(), t.hour, t.minute) == (1, 6, 0) for t in weekly)
    assert all((t.month, t.day, t.hour, t.minute) == (1, 15, 7, 0) for t in annual)
    assert [t.year for t in annual[:2]] == [annual[0].year, annual[0].year + 1]


async def test_a_changed_definition_is_updated_and_the_rest_left_alone(
    client: Client, task_queue: str, prefix: str
) -> None:
    await schedules.apply_schedules(client, task_queue, prefix=prefix)
    weekly = client.get_schedule_handle(WEEKLY.schedule_id(prefix))

    def edited(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.policy.catchup_window = timedelta(minutes=5)
        schedule.spec.calendars[0].hour = schedule.spec.calendars[0].minute  # 00:00
        return ScheduleUpdate(schedule=schedule)

    await weekly.update(edited)  # as someone might in the Web UI

    result = await schedules.apply_schedules(client, task_queue, prefix=prefix)

    assert dict(result) == {
        DAILY.schedule_id(prefix): "unchanged",
        WEEKLY.schedule_id(prefix): "updated",
        ANNUAL.schedule_id(prefix): "unchanged",
    }
    restored = await weekly.describe()
    assert restored.schedule.policy.catchup_window == timedelta(days=3)
    assert all(t.hour == 6 for t in restored.info.next_action_times)

    # Another task queue is a different definition too: every schedule follows it.
    elsewhere = await schedules.apply_schedules(client, "elsewhere", prefix=prefix)
    assert [result for _, result in elsewhere] == ["updated"] * 3
    action = (await weekly.describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == "elsewhere"


# --- list, pause, unpause ----------------------------------------------------------------------


async def test_list_shows_each_schedule_with_its_next_run(
    client: Client, task_queue: str, prefix: str
) -> None:
    before = await schedules.list_schedules(client, prefix=prefix)
    assert [(row.schedule_id, row.applied) for row in before] == [
        (schedule_id, False) for schedule_id in schedules.schedule_ids(prefix)
    ]

    await schedules.apply_schedules(client, task_queue, prefix=prefix)
    rows = await schedules.list_schedules(client, prefix=prefix)

    now = datetime.now(UTC)
    assert [row.kind for row in rows] == ["portfolio", "digest", "annual"]
    for row in rows:
        assert row.applied and row.matches_definition and not row.paused
        assert row.next_run is not None and now < row.next_run
        assert (row.last_run, row.recent_actions, row.overlap) == (None, 0, "skip")
    assert [row.when for row in rows] == [
        "every day at 05:00 UTC",
        "Mondays at 06:00 UTC",
        "15 January at 07:00 UTC",
    ]
    assert [row.catchup_window for row in rows] == ["1 day", "3 days", "7 days"]
    assert rows[0].next_run is not None and rows[0].next_run - now <= timedelta(days=1)


async def test_pause_and_unpause_and_apply_keeps_a_paused_schedule_paused(
    client: Client, task_queue: str, prefix: str
) -> None:
    await schedules.apply_schedules(client, task_queue, prefix=prefix)
    daily_id = DAILY.schedule_id(prefix)

    paused_id = await schedules.pause(client, "portfolio", "register migration", prefix=prefix)

    assert paused_id == daily_id
    description = await _describe(client, daily_id)
    assert description.schedule.state.paused
    assert description.schedule.state.note == "register migration"
    [row, *_] = await schedules.list_schedules(client, prefix=prefix)
    assert (row.paused, row.note, row.next_run) == (True, "register migration", None)

    # A restart of `remediation up` applies the schedules again, even a changed definition:
    # the pause and its note stay.
    assert await schedules.apply_schedules(client, task_queue, prefix=prefix) == [
        (schedule_id, "unchanged") for schedule_id in schedules.schedule_ids(prefix)
    ]
    changed = await schedules.apply_schedules(client, "elsewhere", prefix=prefix)
    assert changed[0] == (daily_id, "updated")
    state = (await _describe(client, daily_id)).schedule.state
    assert (state.paused, state.note) == (True, "register migration")

    await schedules.unpause(client, daily_id, prefix=prefix)

    state = (await _describe(client, daily_id)).schedule.state
    assert not state.paused
    assert state.note == "Unpaused with `remediation schedules unpause`."
    [row, *_] = await schedules.list_schedules(client, prefix=prefix)
    assert not row.paused and row.next_run is not None


# --- trigger and unknown ids -------------------------------------------------------------------


async def _runs(client: Client, task_queue: str) -> list[Any]:
    query = f"WorkflowType = '{MONITORING_WORKFLOW}' AND TaskQueue = '{task_queue}'"
    return [execution async for execution in client.list_workflows(query)]


async def test_trigger_starts_a_portfolio_monitoring_run(
    client: Client, task_queue: str, prefix: str
) -> None:
    await schedules.apply_schedules(client, task_queue, prefix=prefix)
    daily_id = DAILY.schedule_id(prefix)

    assert await schedules.trigger(client, daily_id, prefix=prefix) == daily_id

    async def started() -> bool:
        return len(await _runs(client, task_queue)) == 1

    await eventually(started, f"a {MONITORING_WORKFLOW} run on {task_queue}", interval=0.1)
    [run] = await _runs(client, task_queue)
    assert run.id.startswith(f"{daily_id}-")
    assert run.status == WorkflowExecutionStatus.RUNNING
    history = await client.get_workflow_handle(run.id).fetch_history()
    started_event = history.events[0].workflow_execution_started_event_attributes
    [arg] = await client.data_converter.decode(started_event.input.payloads, [MonitoringRun])
    assert arg == MonitoringRun(kind=MonitoringKind.PORTFOLIO)

    async def recorded() -> bool:
        [row, *_] = await schedules.list_schedules(client, prefix=prefix)
        return row.recent_actions == 1 and row.last_run is not None

    await eventually(recorded, "the triggered run in the schedule's recent actions", interval=0.1)


async def test_an_unknown_or_missing_schedule_is_a_clear_error(client: Client, prefix: str) -> None:
    with pytest.raises(schedules.UnknownSchedule) as unknown:
        await schedules.trigger(client, "remediation-hourly", prefix=prefix)
    message = str(unknown.value)
    assert "remediation-hourly" in message
    assert all(schedule_id in message for schedule_id in schedules.schedule_ids(prefix))

    with pytest.raises(schedules.ScheduleNotApplied, match="remediation schedules apply"):
        await schedules.pause(client, "digest", prefix=prefix)
    with pytest.raises(schedules.UnknownSchedule):
        await schedules.unpause(client, "nightly", prefix=prefix)


# --- `remediation up` ----------------------------------------------------------------------------


async def test_up_applies_the_schedules_once_and_again_on_every_restart(
    client: Client, real_ids: None, task_queue: str, tmp_path: Any
) -> None:
    events: list[dict[str, Any]] = []
    stack = LocalStack(
        StackOptions(data_dir=tmp_path),
        load_settings(),
        lambda event, fields: events.append({"event": event, **fields}),
    )

    await stack._apply_schedules(client, task_queue)
    await schedules.pause(client, "annual", "not this year")
    await stack._apply_schedules(client, task_queue)

    labels = "portfolio daily, digest weekly, annual"
    assert events == [
        {"event": "step", "what": "Schedules applied", "detail": f"3 ({labels}): 3 created"},
        {"event": "step", "what": "Schedules applied", "detail": f"3 ({labels})"},
    ]
    assert (await _describe(client, ANNUAL.schedule_id())).schedule.state.paused


# --- the command line --------------------------------------------------------------------------


async def test_the_schedules_commands(cli: Cli, engine: Engine, real_ids: None) -> None:
    client = engine.client
    daily_id, weekly_id, annual_id = schedules.schedule_ids()

    missing = await cli("schedules", "list")
    assert missing.code == 0, missing.stderr
    assert "missing" in missing.stdout and "schedules apply" in missing.stdout

    applied = await cli("schedules", "apply", "--json")
    assert applied.code == 0, applied.stderr
    assert applied.json == [
        {"schedule_id": schedule_id, "result": "created"}
        for schedule_id in (daily_id, weekly_id, annual_id)
    ]
    again = await cli("schedules", "apply")
    assert again.code == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0].split() == ["SCHEDULE", "RESULT"]
    assert [line.split() for line in lines[1:]] == [
        [schedule_id, "unchanged"] for schedule_id in (daily_id, weekly_id, annual_id)
    ]
    action = (await _describe(client, daily_id)).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.task_queue == engine.task_queue

    paused = await cli("schedules", "pause", "digest", "--note", "audit week")
    assert paused.code == 0, paused.stderr
    assert paused.stdout.strip() == f"Paused {weekly_id}."

    listed, table = await asyncio.gather(
        cli("schedules", "list", "--json"), cli("schedules", "list")
    )
    assert listed.code == 0 and table.code == 0, listed.stderr + table.stderr
    rows = {row["schedule_id"]: row for row in listed.json}
    assert rows[weekly_id]["paused"] and rows[weekly_id]["note"] == "audit week"
    assert rows[weekly_id]["next_run"] is None
    assert not rows[daily_id]["paused"]
    assert datetime.fromisoformat(rows[daily_id]["next_run"]) > datetime.now(UTC)
    header, *body = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "WHEN", "STATE"]
    [weekly_line] = [line for line in body if line.startswith(weekly_id)]
    assert "paused" in weekly_line and "audit week" in weekly_line
    [daily_line] = [line for line in body if line.startswith(daily_id)]
    assert "active" in daily_line and "every day at 05:00 UTC" in daily_line

    unpaused = await cli("schedules", "unpause", weekly_id, "--json")
    assert unpaused.code == 0, unpaused.stderr
    assert unpaused.json == {"schedule_id": weekly_id, "paused": False}
    assert not (await _describe(client, weekly_id)).schedule.state.paused

    triggered = await cli("schedules", "trigger", "annual")
    assert triggered.code == 0, triggered.stderr
    assert triggered.stdout.startswith(f"Triggered {annual_id}")

    async def started() -> bool:
        return any(
            run.id.startswith(f"{annual_id}-") for run in await _runs(client, engine.task_queue)
        )

    await eventually(started, f"a {MONITORING_WORKFLOW} run from {annual_id}", interval=0.1)


async def test_unknown_schedule_ids_on_the_command_line(cli: Cli, real_ids: None) -> None:
    unknown, not_applied = await asyncio.gather(
        cli("schedules", "trigger", "remediation-hourly"),
        cli("schedules", "pause", "portfolio"),
    )

    assert unknown.code == 2
    assert unknown.stdout == ""
    [line] = unknown.stderr.strip().splitlines()
    assert line.startswith("error: no schedule 'remediation-hourly'; the schedules are: ")
    assert all(schedule_id in line for schedule_id in schedules.schedule_ids())
    assert not_applied.code == 1
    [line] = not_applied.stderr.strip().splitlines()
    assert "remediation-portfolio-daily does not exist in Temporal yet" in line
    assert "remediation schedules apply" in line


def test_the_schedules_help_explains_what_runs_when() -> None:
    ran = CliRunner().invoke(app, ["schedules", "--help"])

    assert ran.exit_code == 0, ran.output
    text = " ".join(ran.output.split())
    for words in ("every day at 05:00 UTC", "Mondays at 06:00 UTC", "15 January at 07:00 UTC"):
        assert words in text
    for command in ("apply", "list", "trigger", "pause", "unpause"):
        assert command in text
    assert "overlap policy skip" in text and "catch-up window" in text


async def test_after_a_key_rotation_apply_re_encrypts_the_schedules(
    client: Client, task_queue: str, prefix: str
) -> None:
    """A schedule keeps its input encrypted under the key current when it was applied; applying
    after a rotation re-encrypts it, so the old key can be retired without breaking a run."""
    await schedules.apply_schedules(client, task_queue, prefix=prefix)
    rotated = TEST_KEY_RING.with_new_current_key()
    rotated_client = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=encrypted_data_converter(rotated),
    )
    result = await schedules.apply_schedules(rotated_client, task_queue, prefix=prefix)
    assert {state for _, state in result} == {"updated"}
    again = await schedules.apply_schedules(rotated_client, task_queue, prefix=prefix)
    assert {state for _, state in again} == {"unchanged"}
