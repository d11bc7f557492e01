"""`remediation inbox`: what awaits a person or a role across all running incidents, and the
Web UI views that show the same.

Registered on the `remediation` app by workers/cli/main.py.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from schemas.vocabulary import Role
from workers.cli import support

if TYPE_CHECKING:
    from workers.inbox import InboxRow
    from workers.settings import Settings


def _due(row: "InboxRow") -> str:
    due = row.item.due_at
    return due.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if due else "—"


def _span(delta: timedelta) -> str:
    """A duration as people say it: 3 d, 5 h, 20 min."""
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)} d"
    if minutes >= 120:
        return f"{minutes // 60} h"
    return f"{max(minutes, 1)} min"


def _state(row: "InboxRow", now: datetime) -> str:
    due = row.item.due_at
    if due is None:
        return "no deadline"
    if due < now:
        return f"overdue {_span(now - due)}"
    return f"due in {_span(due - now)}"


def _decision(row: "InboxRow") -> str:
    item = row.item
    text = f"{item.kind} {item.approval_id}" if item.approval_id else item.kind
    return text if item.not_from is None else f"{text} (not {item.not_from})"


def _ui_url(settings: "Settings") -> str:
    """The Web UI: the running stack's, else the one origin the codec server serves."""
    from workers.running_stack import read_running_stack

    stack = read_running_stack(settings.data_dir.resolve())
    return stack.ui_url if stack is not None else settings.codec_cors_origin


def _print_links(
    actor_id: str | None, held: set[str], settings: "Settings", ui_url: str | None
) -> None:
    from workers.ui_views import list_url, views

    base = ui_url or _ui_url(settings)
    for view in views(actor_id, held):
        typer.echo(f"{view.name}:")
        typer.echo(f"  {list_url(base, settings.temporal_namespace, view.query)}")


def _roles(actor_id: str | None, roles: list[Role], settings: "Settings") -> set[str]:
    """The roles given, and those the deployment's policy lists the actor under."""
    held = {str(role) for role in roles}
    if actor_id is not None:
        from workers.errors import StartupError
        from workers.inbox import listed_roles
        from workers.policy_file import load_policy

        try:
            held |= listed_roles(load_policy(settings.policy_file).roles, actor_id)
        except StartupError as error:
            support._fail(str(error))
    return held


def inbox(
    actor_id: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="ACTOR_ID",
            help="Whose inbox: decisions awaited from this actor by name, and from every role "
            "the deployment's policy lists them under.",
        ),
    ] = None,
    roles: Annotated[
        list[Role] | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="Also what awaits anyone holding this role (repeatable): case_owner for "
            "unassigned cases, verifier, approver.",
            case_sensitive=False,
        ),
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only items past their deadline.")
    ] = False,
    links: Annotated[
        bool,
        typer.Option(
            "--links",
            help="Print the Web UI's ready-made views (for --as, if given) instead, to bookmark.",
        ),
    ] = False,
    ui_url: Annotated[
        str | None,
        typer.Option(
            "--ui-url",
            metavar="URL",
            help="The Web UI's address for --links (default: the running stack's, else "
            "CODEC_CORS_ORIGIN).",
        ),
    ] = None,
    as_json: support.JsonOption = False,
) -> None:
    """What must I do today? Every decision awaited across running incidents, one row each.

    Rows give the incident, its step, the decision (an approval never shows to its author),
    when it is due, whether it is overdue, the incident's escalation level and the exact
    command that acts on it; earliest due first. Without --as or --role: everything awaited
    from anyone. Read from Temporal's visibility store, which follows a change within a second
    or so. Incidents started before this version list their items once they next continue as
    new.
    """
    support._quick()
    settings = support._client_settings()
    held = _roles(actor_id, roles or [], settings)
    if links:
        _print_links(actor_id, held, settings, ui_url)
        return
    from workers import inbox as awaited
    from workers.ui_views import awaited_entries

    namespace = settings.temporal_namespace
    found = support._run(
        support._with_visibility(
            settings,
            lambda service: awaited.read(
                service.workflow_service,
                namespace,
                actor_id,
                held,
                page_timeout=support.ANSWER_TIMEOUT_SECONDS,
            ),
        )
    )
    for incident_id in found.unreadable:
        typer.echo(
            f"warning: {incident_id} left out: its AwaitingDecision is not the engine's "
            "(was it started with search attributes of its own?)",
            err=True,
        )
    rows = found.rows
    now = datetime.now(UTC)
    if overdue:
        rows = [row for row in rows if row.overdue(now)]
    if as_json:
        support._print_json(
            [
                {
                    "incident_id": row.incident_id,
                    "step": row.step,
                    "severity": row.severity,
                    "case_owner": row.case_owner,
                    "decision": row.item.kind,
                    "approval_id": row.item.approval_id,
                    "awaited_from": row.item.awaited_from,
                    "not_from": row.item.not_from,
                    "due_at": row.item.due_at.isoformat() if row.item.due_at else None,
                    "overdue": row.overdue(now),
                    "escalation_level": row.escalation_level,
                    "command": awaited.command(row, actor_id),
                }
                for row in rows
            ]
        )
        return
    if not rows:
        whom = " or ".join(awaited_entries(actor_id, held)) or "anyone"
        typer.echo(f"Nothing {'overdue ' if overdue else ''}awaits {whom}.")
        return
    support._table(
        ["DUE (UTC)", "", "LEVEL", "INCIDENT", "STEP", "DECISION", "FROM"],
        [
            [
                _due(row),
                _state(row, now),
                str(row.escalation_level),
                row.incident_id,
                row.step or "—",
                _decision(row),
                row.item.awaited_from,
            ]
            for row in rows
        ],
    )
    typer.echo("")
    typer.echo("To act:")
    for row in rows:
        typer.echo(f"  {awaited.command(row, actor_id)}")
    late = sum(1 for row in rows if row.overdue(now))
    typer.echo("")
    typer.echo(f"{len(rows)} awaited, {late} overdue.")
