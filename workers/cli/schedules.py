"""`remediation schedules`: the Temporal Schedules that start portfolio monitoring.

Registered on the `remediation` app by workers/cli/main.py.
"""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import typer

from schemas.vocabulary import MONITORING_WORKFLOW
from workers import schedule_definitions as definitions
from workers.cli import support

_LIST = "\n\n".join(
    f"{definition.schedule_id()} ({definition.kind}): {definition.when}, catch-up window "
    f"{definitions.duration_text(definition.catchup_window)}. {definition.description}."
    for definition in definitions.SCHEDULES
)

schedules_app = typer.Typer(
    help="Temporal Schedules that start portfolio monitoring "
    f"({MONITORING_WORKFLOW} on the engine's task queue).\n\n"
    f"{_LIST}\n\n"
    "A run still going when the next is due makes Temporal skip the next (overlap policy "
    "skip); after an outage, missed runs are made up only within the catch-up window. "
    "`remediation up` applies them on every start; a schedule can also be paused in the "
    "Temporal Web UI under Schedules. Uses TEMPORAL_ADDRESS and TASK_QUEUE, or the running "
    "`remediation up`.",
    no_args_is_help=True,
)

_IDS = ", ".join(definitions.schedule_ids())
ScheduleIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help=f"Schedule id ({_IDS}), or its kind: portfolio, digest or annual.",
    ),
]
NoteOption = Annotated[
    str | None,
    typer.Option(
        "--note",
        help="Why, shown with the schedule in `schedules list` and the Web UI (no personal data).",
    ),
]


def _unknown(message: str) -> NoReturn:
    """A schedule id that names none of the engine's schedules (exit code 2, like bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _known(schedule_id: str) -> str:
    try:
        return definitions.find(schedule_id).schedule_id()
    except definitions.UnknownSchedule as error:
        _unknown(str(error))


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(len(headers))]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        typer.echo("  ".join(cells).rstrip())


@schedules_app.command("apply")
def apply(as_json: support.JsonOption = False) -> None:
    """Create or update the schedules to match their definitions (safe to repeat).

    A missing schedule is created, one whose timing, policies or action differ is updated, and
    the rest are left alone. Whether a schedule is paused, and its note, is never changed.
    """
    from workers import schedules

    settings = support._client_settings()
    applied = support._run(
        support._with_temporal(
            settings,
            lambda client: schedules.apply_schedules(client, settings.task_queue),
        )
    )
    if as_json:
        support._print_json(
            [{"schedule_id": schedule_id, "result": result} for schedule_id, result in applied]
        )
        return
    _table(["SCHEDULE", "RESULT"], [[schedule_id, result] for schedule_id, result in applied])


@schedules_app.command("list")
def list_(as_json: support.JsonOption = False) -> None:
    """Each schedule: when it runs, whether it is paused, its next and last run, recent runs.

    RECENT counts the runs among the last ten Temporal keeps; TOTAL every run it started.
    """
    from workers import schedules

    rows = support._run(
        support._with_temporal(support._client_settings(), schedules.list_schedules)
    )
    if as_json:
        support._print_json(
            [
                {
                    **asdict(row),
                    "next_run": row.next_run.isoformat() if row.next_run else None,
                    "last_run": row.last_run.isoformat() if row.last_run else None,
                }
                for row in rows
            ]
        )
        return
    table = []
    for row in rows:
        state = "missing" if not row.applied else "paused" if row.paused else "active"
        table.append(
            [
                row.schedule_id,
                row.when,
                state,
                _when(row.next_run),
                _when(row.last_run),
                str(row.recent_actions),
                str(row.actions_taken),
                (row.note or "") if row.paused else "",
            ]
        )
    _table(["ID", "WHEN", "STATE", "NEXT RUN", "LAST RUN", "RECENT", "TOTAL", "NOTE"], table)
    if any(not row.applied for row in rows):
        typer.echo("\nMissing schedules are created by `remediation schedules apply`.")


@schedules_app.command("trigger")
def trigger(schedule_id: ScheduleIdArgument, as_json: support.JsonOption = False) -> None:
    """Start the schedule's monitoring run now, outside its timing.

    Skipped, like a scheduled run, while a run the schedule started is still going.
    """
    from workers import schedules

    full_id = _known(schedule_id)
    support._run(
        support._with_temporal(
            support._client_settings(), lambda client: schedules.trigger(client, full_id)
        )
    )
    if as_json:
        support._print_json({"schedule_id": full_id, "triggered": True})
        return
    typer.echo(
        f"Triggered {full_id}: a {MONITORING_WORKFLOW} run starts now, unless one it started is "
        "still running (overlap policy skip)."
    )


@schedules_app.command("pause")
def pause(
    schedule_id: ScheduleIdArgument, note: NoteOption = None, as_json: support.JsonOption = False
) -> None:
    """Stop the schedule starting runs until `unpause` (kept paused by `apply` and restarts)."""
    from workers import schedules

    full_id = _known(schedule_id)
    support._run(
        support._with_temporal(
            support._client_settings(), lambda client: schedules.pause(client, full_id, note)
        )
    )
    if as_json:
        support._print_json({"schedule_id": full_id, "paused": True})
        return
    typer.echo(f"Paused {full_id}.")


@schedules_app.command("unpause")
def unpause(
    schedule_id: ScheduleIdArgument, note: NoteOption = None, as_json: support.JsonOption = False
) -> None:
    """Let the schedule start runs again, from its next due time."""
    from workers import schedules

    full_id = _known(schedule_id)
    support._run(
        support._with_temporal(
            support._client_settings(), lambda client: schedules.unpause(client, full_id, note)
        )
    )
    if as_json:
        support._print_json({"schedule_id": full_id, "paused": False})
        return
    typer.echo(f"Unpaused {full_id}.")
