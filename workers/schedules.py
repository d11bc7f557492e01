"""Temporal Schedules that start portfolio monitoring: daily, weekly and yearly.

Each schedule starts one `PortfolioMonitoringWorkflow` (by name, with one `MonitoringRun`) on the
engine's task queue. Temporal derives each run's workflow id from the schedule id and the
scheduled time (`remediation-portfolio-daily-2026-03-02T05:00:00Z`). A run still going when the
next one is due makes Temporal skip the next one (overlap policy SKIP); after an outage, missed
runs are caught up only within the schedule's catch-up window.

`apply_schedules` is idempotent: it creates what is missing, updates a schedule whose definition
differs from the one below, and leaves alone whether a schedule is paused (and its note), so an
operator's pause survives restarts of `remediation up`. Nothing here holds personal data.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from schemas.monitoring import MONITORING_WORKFLOW, MonitoringRun
from workers.codec import KEY_ID_METADATA, EncryptionCodec
from workers.errors import StartupError

# The definitions are plain data of their own (the command line's help lists them without the
# SDK); they are re-exported here with what applies them.
from workers.schedule_definitions import APPLIED_BY as APPLIED_BY
from workers.schedule_definitions import ID_PREFIX as ID_PREFIX
from workers.schedule_definitions import SCHEDULES as SCHEDULES
from workers.schedule_definitions import MonitoringSchedule as MonitoringSchedule
from workers.schedule_definitions import UnknownSchedule as UnknownSchedule
from workers.schedule_definitions import duration_text as duration_text
from workers.schedule_definitions import find as find
from workers.schedule_definitions import schedule_ids as schedule_ids

TIME_ZONE = "UTC"

ApplyOutcome = Literal["created", "updated", "unchanged"]


def _calendar_of(definition: MonitoringSchedule) -> ScheduleCalendarSpec:
    def only(value: int | None, every: ScheduleRange) -> Sequence[ScheduleRange]:
        return (every,) if value is None else (ScheduleRange(value),)

    return ScheduleCalendarSpec(
        second=(ScheduleRange(0),),
        minute=(ScheduleRange(definition.minute),),
        hour=(ScheduleRange(definition.hour),),
        day_of_month=only(definition.day_of_month, ScheduleRange(1, 31)),
        month=only(definition.month, ScheduleRange(1, 12)),
        day_of_week=only(definition.day_of_week, ScheduleRange(0, 6)),
        comment=f"{definition.when}: {definition.description}",
    )


def _schedule_of(definition: MonitoringSchedule, task_queue: str, prefix: str = "") -> Schedule:
    """The full definition, with the state a new schedule starts in (running)."""
    schedule_id = definition.schedule_id(prefix)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MONITORING_WORKFLOW,
            MonitoringRun(kind=definition.kind),
            id=schedule_id,
            task_queue=task_queue,
            execution_timeout=definition.execution_timeout,
            static_summary=f"{definition.description} (schedule {schedule_id})",
        ),
        spec=ScheduleSpec(calendars=[_calendar_of(definition)], time_zone_name=TIME_ZONE),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=definition.catchup_window
        ),
        state=ScheduleState(note=f"{definition.when}. Created by `{APPLIED_BY}`."),
    )


class ScheduleNotApplied(StartupError):
    """One of the engine's schedules that Temporal does not have (yet)."""


# --- comparing what Temporal has with the definition -------------------------------------------


def _ranges(ranges: Sequence[ScheduleRange]) -> list[tuple[int, int, int]]:
    # Through ScheduleRange again, so an unset end or step compares as its default.
    normal = [ScheduleRange(r.start, r.end, r.step) for r in ranges]
    return sorted((r.start, r.end, r.step) for r in normal)


def _calendar(calendar: ScheduleCalendarSpec) -> dict[str, Any]:
    return {
        "second": _ranges(calendar.second),
        "minute": _ranges(calendar.minute),
        "hour": _ranges(calendar.hour),
        "day_of_month": _ranges(calendar.day_of_month),
        "month": _ranges(calendar.month),
        "year": _ranges(calendar.year),
        "day_of_week": _ranges(calendar.day_of_week),
        "comment": calendar.comment or None,
    }


def _spec(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "calendars": [_calendar(calendar) for calendar in spec.calendars],
        "intervals": [(interval.every, interval.offset) for interval in spec.intervals],
        "cron": list(spec.cron_expressions),
        "skip": [_calendar(calendar) for calendar in spec.skip],
        "start_at": spec.start_at,
        "end_at": spec.end_at,
        "jitter": spec.jitter or None,
        "time_zone": spec.time_zone_name or TIME_ZONE,
    }


def _stale_key(client: Client, payload: Payload) -> bool:
    """Whether the payload was encrypted under a key that is no longer the ring's current one:
    applying again re-encrypts it, so that retiring the old key never breaks a schedule."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        return False
    key_id = payload.metadata.get(KEY_ID_METADATA)
    return key_id is not None and key_id.decode() != codec.ring.current_key_id


async def _decoded(client: Client, value: Any, type_hint: type) -> Any:
    """A payload from Temporal as its value (None if it cannot be read, or was encrypted under a
    key that is not current); other values as given."""
    if not isinstance(value, Payload):
        return value
    if _stale_key(client, value):
        return None
    try:
        [decoded] = await client.data_converter.decode([value], [type_hint])
    except Exception:  # a payload this key ring cannot read differs from the definition
        return None
    return decoded


async def _action(client: Client, action: Any) -> dict[str, Any]:
    if not isinstance(action, ScheduleActionStartWorkflow):
        return {"action": type(action).__name__}
    args = [await _decoded(client, arg, MonitoringRun) for arg in action.args]
    return {
        "workflow": action.workflow,
        "args": [
            arg.model_dump(mode="json") if isinstance(arg, MonitoringRun) else arg for arg in args
        ],
        "id": action.id,
        "task_queue": action.task_queue,
        "execution_timeout": action.execution_timeout,
        "run_timeout": action.run_timeout,
        "task_timeout": action.task_timeout,
        "retry_policy": action.retry_policy,
        "summary": await _decoded(client, action.static_summary, str),
        "search_attributes": len(action.typed_search_attributes),
    }


async def _comparable(client: Client, schedule: Schedule) -> dict[str, Any]:
    """Everything `apply_schedules` owns: not the state (paused, note), which operators own."""
    return {
        "action": await _action(client, schedule.action),
        "spec": _spec(schedule.spec),
        "overlap": schedule.policy.overlap,
        "catchup_window": schedule.policy.catchup_window,
        "pause_on_failure": schedule.policy.pause_on_failure,
    }


async def _matches(client: Client, description: ScheduleDescription, wanted: Schedule) -> bool:
    return await _comparable(client, description.schedule) == await _comparable(client, wanted)


# --- operations ---------------------------------------------------------------------------------


async def _describe(handle: ScheduleHandle) -> ScheduleDescription | None:
    try:
        return await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _apply_one(
    client: Client, definition: MonitoringSchedule, task_queue: str, prefix: str
) -> ApplyOutcome:
    schedule_id = definition.schedule_id(prefix)
    wanted = _schedule_of(definition, task_queue, prefix)
    handle = client.get_schedule_handle(schedule_id)
    description = await _describe(handle)
    if description is None:
        try:
            await client.create_schedule(schedule_id, wanted, memo=definition.memo())
            return "created"
        except ScheduleAlreadyRunningError:  # created meanwhile by another `apply`
            description = await handle.describe()
    if await _matches(client, description, wanted):
        return "unchanged"

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # Paused or not, and the note saying why, stay as the operator left them.
        return ScheduleUpdate(
            schedule=dataclasses.replace(wanted, state=current.description.schedule.state)
        )

    await handle.update(keep_state)
    return "updated"


async def apply_schedules(
    client: Client, task_queue: str, *, prefix: str = ""
) -> list[tuple[str, ApplyOutcome]]:
    """Create the missing schedules and update the ones whose definition differs; each schedule's
    id with what was done. Paused schedules stay paused. `prefix` keeps tests' schedules apart."""
    return [
        (definition.schedule_id(prefix), await _apply_one(client, definition, task_queue, prefix))
        for definition in SCHEDULES
    ]


@dataclass(frozen=True)
class ScheduleRow:
    """One schedule as `remediation schedules list` shows it."""

    schedule_id: str
    kind: str
    when: str  # the definition's summary; says so when Temporal's schedule differs from it
    applied: bool  # whether Temporal has the schedule at all
    matches_definition: bool = False
    paused: bool = False
    note: str | None = None
    next_run: datetime | None = None  # None while paused
    last_run: datetime | None = None
    recent_actions: int = 0  # of the last 10 Temporal keeps
    actions_taken: int = 0
    running: int = 0
    catchup_window: str | None = None
    overlap: str | None = None


async def _row(client: Client, definition: MonitoringSchedule, prefix: str) -> ScheduleRow:
    schedule_id = definition.schedule_id(prefix)
    description = await _describe(client.get_schedule_handle(schedule_id))
    if description is None:
        return ScheduleRow(schedule_id, str(definition.kind), definition.when, applied=False)
    current = description.schedule
    action = current.action
    task_queue = action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else ""
    matches = await _matches(client, description, _schedule_of(definition, task_queue, prefix))
    info = description.info
    recent = info.recent_actions
    upcoming = [] if current.state.paused else info.next_action_times
    return ScheduleRow(
        schedule_id=schedule_id,
        kind=str(definition.kind),
        when=definition.when if matches else "differs from its definition: run apply",
        applied=True,
        matches_definition=matches,
        paused=current.state.paused,
        note=current.state.note,
        next_run=upcoming[0] if upcoming else None,
        last_run=recent[-1].started_at if recent else None,
        recent_actions=len(recent),
        actions_taken=info.num_actions,
        running=len(info.running_actions),
        catchup_window=duration_text(current.policy.catchup_window),
        overlap=current.policy.overlap.name.lower(),
    )


async def list_schedules(client: Client, *, prefix: str = "") -> list[ScheduleRow]:
    """Each of the engine's schedules as Temporal has it (a row with applied=False if missing)."""
    return [await _row(client, definition, prefix) for definition in SCHEDULES]


async def _existing(client: Client, schedule_id: str, prefix: str) -> ScheduleHandle:
    definition = find(schedule_id, prefix)
    handle = client.get_schedule_handle(definition.schedule_id(prefix))
    if await _describe(handle) is None:
        raise ScheduleNotApplied(
            f"schedule {handle.id} does not exist in Temporal yet: run `{APPLIED_BY}`"
        )
    return handle


async def trigger(client: Client, schedule_id: str, *, prefix: str = "") -> str:
    """Start the schedule's action now (skipped if a run of it is still going); its full id."""
    handle = await _existing(client, schedule_id, prefix)
    await handle.trigger()
    return handle.id


async def pause(
    client: Client, schedule_id: str, note: str | None = None, *, prefix: str = ""
) -> str:
    """Stop the schedule starting runs until it is unpaused; its full id."""
    handle = await _existing(client, schedule_id, prefix)
    await handle.pause(note=note or "Paused with `remediation schedules pause`.")
    return handle.id


async def unpause(
    client: Client, schedule_id: str, note: str | None = None, *, prefix: str = ""
) -> str:
    """Let the schedule start runs again; its full id."""
    handle = await _existing(client, schedule_id, prefix)
    await handle.unpause(note=note or "Unpaused with `remediation schedules unpause`.")
    return handle.id


async def delete_schedules(client: Client, *, prefix: str = "") -> None:
    """Remove the engine's schedules (runs they started are left alone). For tests and teardown."""
    for schedule_id in schedule_ids(prefix):
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
