"""`remediation`: the command line of the remediation engine."""

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

# Only typer, the picklists and the kinds in words are imported here: `--help` (and the parsing of
# every command) must not wait for pydantic's models, asyncpg or Temporal, so each command imports
# what it uses when it runs.
from schemas.vocabulary import STEP_NUMBERS, DecisionKind, Role, Severity, Step
from workers.cli.audit import audit_app
from workers.cli.codec import codec_server, keys_app
from workers.cli.export import export_app
from workers.cli.inbox import inbox
from workers.cli.lessons import lessons
from workers.cli.report import report
from workers.cli.schedules import schedules_app
from workers.cli.support import (
    JsonOption,
    QuickCommand,
    _client_settings,
    _database_url,
    _end_now,
    _fail,
    _print_json,
    _quick,
    _run,
    _settings,
    _table,
    _with_temporal,
)
from workflows.rules.kinds import KINDS, who_may_send

if TYPE_CHECKING:
    from asyncpg import Pool
    from pydantic import BaseModel, ValidationError
    from temporalio.client import Client

    from schemas.facts import FactKind
    from schemas.incident_results import DecisionResult, IncidentStatus
    from workers.keyring import KeyRing
    from workers.settings import Settings

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class _Remediation(typer.Typer):
    """The app. Run as a program (the console script, `python -m workers.cli`), a quick command
    (`QuickCommand`) ends without the interpreter's teardown once it has answered, with its exit
    code; a test's `CliRunner` never calls this."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        QuickCommand.program = True
        try:
            return super().__call__(*args, **kwargs)
        except SystemExit as end:
            if QuickCommand.requested and (end.code is None or isinstance(end.code, int)):
                _end_now(end.code or 0)
            raise


app = _Remediation(
    name="remediation",
    help="Durable remediation of victims of exploitation in mineral supply chains "
    "(IOM's six-step process, one Temporal workflow per incident).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(
    help="The case register (PostgreSQL): migrations and status.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"remediation {version('remediation-engine')}")
        raise typer.Exit()


@app.callback()
def main(
    _: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Durable remediation engine."""


@app.command()
def up(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="REMEDIATION_DATA_DIR",
            help="Where Temporal's SQLite file, PostgreSQL's data and the logs live.",
            show_default=".data",
        ),
    ] = None,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend (gRPC) port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
    http_port: Annotated[int, typer.Option(help="Temporal HTTP API port.")] = 7243,
    postgres_port: Annotated[
        int, typer.Option(help="Embedded PostgreSQL port (unused when DATABASE_URL is set).")
    ] = 5432,
    bind: Annotated[str, typer.Option(help="Address the servers listen on.")] = "127.0.0.1",
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Also open a few clearly fictional incidents in different steps (once per "
            "data directory) so the UI shows real cases.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the whole system in the foreground: Temporal with its Web UI, PostgreSQL, the worker.

    Data persists in the data directory: run it again to resume every running incident.
    Ctrl-C stops everything. Set DATABASE_URL to use an existing PostgreSQL instead of the
    embedded one.
    """
    from workers.devstack.stack import StackOptions, run_stack

    settings = _settings()
    options = StackOptions(
        data_dir=data_dir or settings.data_dir,
        bind=bind,
        temporal_port=temporal_port,
        ui_port=ui_port,
        http_port=http_port,
        postgres_port=postgres_port,
        demo=demo,
    )
    _run(run_stack(options, settings, _json_report if as_json else _human_report))


def _json_report(event: str, fields: dict[str, Any]) -> None:
    typer.echo(json.dumps({"event": event, **fields}))


def _human_report(event: str, fields: dict[str, Any]) -> None:
    if event == "starting":
        typer.echo(f"Starting the remediation engine (data in {fields['data_dir']})")
    elif event == "step":
        typer.echo(f"  ok  {fields['what']:<28} {fields['detail']}")
    elif event == "ready":
        typer.echo(
            f"\nReady in {fields['seconds']} s.\n"
            f"  Temporal Web UI    {fields['ui_url']}\n"
            f"  Temporal address   {fields['temporal_address']}  "
            f"(namespace {fields['namespace']}, task queue {fields['task_queue']})\n"
            f"  Temporal HTTP API  {fields['http_api_url']}\n"
            f"  Database URL       {fields['database_url']}\n"
            f"  Codec server       {fields['codec_server_url']}  (decrypts payloads for the UI)\n"
            f"  Logs               {fields['logs_dir']}\n"
        )
        typer.echo(
            "Ready-made views of the Web UI (bookmark them; `remediation inbox --links --as ID` "
            "prints anyone's):"
        )
        width = max(len(view["name"]) for view in fields["views"])
        for view in fields["views"]:
            typer.echo(f"  {view['name']:<{width}}  {view['url']}")
        typer.echo("Press Ctrl-C to stop.")
    elif event == "stopping":
        typer.echo("\nStopping: worker, then Temporal, then PostgreSQL ...")
    elif event == "stopped":
        typer.echo(f"Stopped. Data kept in {fields['data_dir']}; `remediation up` resumes it.")
    sys.stdout.flush()


@app.command()
def worker() -> None:
    """Run the worker alone (for deployments), configured by the environment.

    TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE, DATABASE_URL, REMEDIATION_KEYS or
    REMEDIATION_KEY_FILE (required), TEMPORAL_TLS*, TEMPORAL_API_KEY, REMEDIATION_POLICY_FILE,
    REMEDIATION_REPORTS_DIR, NOTIFY_*, LOG_FORMAT, LOG_LEVEL, SHUTDOWN_GRACE_SECONDS,
    MIGRATE_ON_START, WORKER_MAX_* (tuning), HEALTH_PORT (/healthz, /readyz), METRICS_PORT
    (/metrics), OPS_BIND_HOST. SIGTERM or SIGINT stops it gracefully.
    """
    from workers.worker import serve_until_signalled

    try:
        _run(serve_until_signalled(_settings()))
    except typer.Exit:
        # A start that failed leaves the SDK's native threads behind; one of them can call into
        # Python while the interpreter finalizes and abort the process (SIGABRT) instead of
        # exiting 1. The error is printed: end at once, output flushed.
        QuickCommand.requested = True
        raise


@app.command()
def config(as_json: JsonOption = False) -> None:
    """Show the effective configuration (secrets masked)."""
    view = _settings().public_view()
    if as_json:
        _print_json(view)
        return
    width = max(len(name) for name in view)
    for name, value in view.items():
        typer.echo(f"{name.upper():<{width}}  {'' if value is None else value}")


@db_app.command("migrate")
def db_migrate(as_json: JsonOption = False) -> None:
    """Apply pending migrations to the case register (safe to run from several places at once)."""
    from workers.redaction import redact_url
    from workers.register import migrate_database

    url = _database_url(_settings())
    applied = _run(migrate_database(url))
    if as_json:
        _print_json({"database_url": redact_url(url), "applied": applied})
    elif applied:
        typer.echo(
            f"Applied {len(applied)} migration(s) to {redact_url(url)}: {', '.join(applied)}"
        )
    else:
        typer.echo(f"{redact_url(url)} is up to date.")


@db_app.command("status")
def db_status(
    as_json: JsonOption = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 when a migration is pending (for a deployment's init or release step).",
        ),
    ] = False,
) -> None:
    """List every migration and whether it is applied."""
    from workers.redaction import redact_url
    from workers.register import migration_report

    url = _database_url(_settings())
    rows = _run(migration_report(url))
    if as_json:
        _print_json(rows)
    else:
        typer.echo(f"{'VERSION':<8} {'NAME':<40} APPLIED AT")
        for row in rows:
            typer.echo(f"{row['version']:<8} {row['name']:<40} {row['applied_at'] or 'pending'}")
    pending = [f"{row['version']}_{row['name']}" for row in rows if row["applied_at"] is None]
    if check and pending:
        typer.echo(
            f"error: {len(pending)} migration(s) pending on {redact_url(url)}: "
            f"{', '.join(pending)}; run `remediation db migrate`",
            err=True,
        )
        raise typer.Exit(code=1)


# --- incidents: open, decide, signal, query, list ----------------------------------------------

IncidentIdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="Incident id, e.g. incident-GRV-2026-0042.")
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="ACTOR_ID",
        help="Act as this actor: sets the payload's actor.id (roles from the payload are kept "
        "only when the id is unchanged).",
    ),
]
_ROLE_HELP = f"A role the actor acts in; repeat for several. One of: {', '.join(Role)}."
RoleOption = Annotated[
    list[Role] | None,
    typer.Option("--role", metavar="ROLE", help=_ROLE_HELP, case_sensitive=False),
]
PayloadRoleOption = Annotated[
    list[Role] | None,
    typer.Option(
        "--role",
        metavar="ROLE",
        help=f"{_ROLE_HELP} Replaces the payload's actor.roles.",
        case_sensitive=False,
    ),
]


def _invalid(message: str, problems: Sequence[str] = ()) -> NoReturn:
    """The input is wrong (exit code 2): one line, then one line per problem."""
    typer.echo(f"error: {message}", err=True)
    for problem in problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(code=2)


def _problems(error: "ValidationError") -> list[str]:
    """Each validation problem as `field.path: message`."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return lines


def _source_name(source: str) -> str:
    return "standard input" if source == "-" else source


def _read_document(source: str) -> str:
    """The text of FILE, or of standard input for `-`."""
    try:
        if source == "-":
            return sys.stdin.read()
        return Path(source).read_text(encoding="utf-8")
    except OSError as error:
        _invalid(f"cannot read {source}: {error.strerror or error}")
    except UnicodeDecodeError:
        _invalid(f"{source} is not UTF-8 text")


def _validated(model: type[M], text: str, what: str) -> M:
    from pydantic import ValidationError

    try:
        return model.model_validate_json(text)
    except ValidationError as error:
        problems = _problems(error)
        _invalid(f"{what} ({len(problems)} problem(s)):", problems)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("open")
def open_(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="Intake JSON file, or - for standard input.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Open an incident from an intake (JSON): starts its workflow and prints the incident id.

    The external reference is the idempotency key: a reference that already opened an incident
    opens no other (exit code 1, with the existing id). An invalid intake is refused before
    anything is sent, one `field.path: message` line per problem (exit code 2). The intake's JSON
    Schema is written by `remediation schemas`. Uses TASK_QUEUE, or the running `remediation up`.
    """
    from schemas.intake import Intake
    from workers import incident_client as incidents

    intake = _validated(Intake, _read_document(file), f"{_source_name(file)} is not a valid intake")
    settings = _client_settings()
    try:
        incident_id = _run(
            _with_temporal(
                settings,
                lambda client: incidents.open_incident(
                    client, intake, task_queue=settings.task_queue
                ),
            )
        )
    except incidents.IncidentExists as exists:
        if as_json:
            _print_json({"incident_id": exists.incident_id, "created": False})
        _fail(str(exists))
    if as_json:
        _print_json({"incident_id": incident_id, "created": True})
    else:
        typer.echo(incident_id)


def _decide_help() -> str:
    lines = [
        "Send a decision on an incident: runs it as a workflow update and prints the result.",
        "",
        "DECISION names the decision; FILE (or - for standard input) holds its JSON payload, "
        "whose schema `remediation schemas` writes as decision.<DECISION>.json. --as and --role "
        "fill in the payload's actor, so the payload can be written without it. The payload is "
        "checked before it is sent (exit code 2 with one `field.path: message` line per "
        "problem); a decision the workflow refuses prints `refused: <why>` (exit code 1) and "
        "changes nothing.",
        "",
        "With --signal the decision is sent as a signal instead: the command returns at once and "
        "the workflow validates it when it handles it; a refusal then appears in "
        "`remediation timeline ID`.",
        "",
        "\b\nDecisions:",
    ]
    width = max(len(kind) for kind in KINDS)
    for kind, text in KINDS.items():
        lines.append(f"  {kind:<{width}}  {text.summary} ({who_may_send(kind)}; {text.when})")
    return "\n".join(lines)


def _with_actor(
    document: dict[str, Any], actor_id: str | None, roles: Sequence[Role] | None
) -> dict[str, Any]:
    """The payload with its actor set by --as and --role."""
    if actor_id is None and not roles:
        return document
    given = document.get("actor")
    actor: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    if actor_id is not None and actor.get("id") != actor_id:
        actor = {"id": actor_id}
    if roles:
        actor["roles"] = [str(role) for role in roles]
    return {**document, "actor": actor}


def _send_signal(
    incident_id: str, kind: "DecisionKind | FactKind", payload: dict[str, Any], as_json: bool
) -> None:
    from workers import incident_client as incidents

    _run(
        _with_temporal(
            _client_settings(),
            lambda client: incidents.signal(client, incident_id, kind, payload),
            incident_id=incident_id,
        )
    )
    if as_json:
        _print_json({"incident_id": incident_id, "kind": str(kind), "sent_as": "signal"})
        return
    typer.echo(
        f"Sent {kind} to {incident_id} as a signal. The workflow validates it when it handles "
        f"it; a refusal appears in `remediation timeline {incident_id}`."
    )


def _send_decision(
    incident_id: str,
    decision: DecisionKind,
    document: dict[str, Any],
    as_json: bool,
    request_id: str | None = None,
) -> None:
    """Send a checked decision as an update; print the result, or `refused: why` (exit 1)."""
    from schemas.vocabulary import EventOutcome
    from workers import incident_client as incidents

    hint = (
        f" The decision may still be applied when a worker picks it up: check "
        f"`remediation timeline {incident_id}`."
    )
    try:
        result = _run(
            _with_temporal(
                _client_settings(),
                lambda client: incidents.decide(
                    client, incident_id, decision, document, request_id=request_id
                ),
                incident_id=incident_id,
                on_timeout=hint,
            )
        )
    except incidents.DecisionRejected as refusal:
        if as_json:
            _print_json(
                {"incident_id": incident_id, "kind": str(decision), "refused": str(refusal)}
            )
        typer.echo(f"refused: {refusal}", err=True)
        raise typer.Exit(code=1) from None
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    typer.echo(result.message or f"{decision}: {result.outcome}")
    if result.outcome == EventOutcome.PENDING_APPROVAL and result.approval_id:
        typer.echo(
            f"Approval id: {result.approval_id}. An approver other than the author approves or "
            f"rejects it: `remediation decide {incident_id} approve FILE` with "
            f'{{"approval_id": "{result.approval_id}"}}.'
        )
    typer.echo(f"Event {result.sequence}; the incident is now at {_step_label(result.step)}.")


@app.command(help=_decide_help())
def decide(
    incident_id: IncidentIdArgument,
    decision: Annotated[
        DecisionKind,
        typer.Argument(metavar="DECISION", help="The decision.", case_sensitive=False),
    ],
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE", help="The decision's JSON payload, or - for standard input."
        ),
    ],
    actor_id: ActorOption = None,
    roles: PayloadRoleOption = None,
    as_signal: Annotated[
        bool,
        typer.Option("--signal", help="Send as a signal: validated later by the workflow."),
    ] = False,
    as_json: JsonOption = False,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id",
            metavar="ID",
            help="Reuse the same id when retrying a decision; Temporal applies it once.",
        ),
    ] = None,
) -> None:
    _quick()
    text = _read_document(file)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        _invalid(f"{_source_name(file)} is not JSON: {error}")
    if not isinstance(document, dict):
        _invalid(f"{_source_name(file)} must hold a JSON object (the {decision} payload)")
    document = _with_actor(document, actor_id, roles)
    from schemas.decisions import DECISION_MODELS

    _validated(
        DECISION_MODELS[decision],
        json.dumps(document),
        f"{_source_name(file)} is not a valid {decision} decision",
    )
    if as_signal:
        if request_id is not None:
            # A signal has no id Temporal deduplicates by: the payload's decision_id does that.
            _invalid("--request-id applies to updates; give a signal's payload a decision_id")
        _send_signal(incident_id, decision, document, as_json)
        return
    _send_decision(incident_id, decision, document, as_json, request_id)


@app.command()
def note(
    incident_id: IncidentIdArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note; no victims' names.")],
    actor_id: Annotated[
        str, typer.Option("--as", metavar="ACTOR_ID", help="Who adds the note (required).")
    ],
    roles: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a note to an incident (a fact, sent as the `note` signal; shown in its timeline)."""
    _quick()
    from schemas.facts import FactKind, Note

    payload = {"actor": {"id": actor_id, "roles": [str(r) for r in roles or ()]}, "text": text}
    _validated(Note, json.dumps(payload), "the note is not valid")
    _send_signal(incident_id, FactKind.NOTE, payload, as_json)


@app.command()
def evidence(
    incident_id: IncidentIdArgument,
    reference: Annotated[
        str,
        typer.Argument(metavar="REFERENCE", help="Where the evidence is filed (document id, URL)."),
    ],
    description: Annotated[
        str, typer.Argument(metavar="DESCRIPTION", help="What it shows; no victims' names.")
    ],
    actor_id: Annotated[
        str, typer.Option("--as", metavar="ACTOR_ID", help="Who adds the evidence (required).")
    ],
    roles: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a reference to evidence filed elsewhere (the `evidence_added` signal)."""
    _quick()
    from schemas.facts import EvidenceAdded, FactKind

    payload = {
        "actor": {"id": actor_id, "roles": [str(r) for r in roles or ()]},
        "reference": reference,
        "description": description,
    }
    _validated(EvidenceAdded, json.dumps(payload), "the evidence is not valid")
    _send_signal(incident_id, FactKind.EVIDENCE_ADDED, payload, as_json)


def _step_label(step: Step) -> str:
    number = STEP_NUMBERS.get(step)
    name = step.replace("_", " ")
    return f"step {number} of 6 ({name})" if number else name


def _print_status(status: "IncidentStatus") -> None:
    now = datetime.now(UTC)
    typer.echo(f"{status.incident_id}  (reference {status.external_reference})")
    if status.step == Step.FOLLOW_UP:
        typer.echo(f"Post-closure follow-up  (case {status.case_status})")
    elif status.step_number is None:
        typer.echo(f"Completed: case {status.case_status}")
    else:
        step = status.step.replace("_", " ")
        typer.echo(f"Step {status.step_number} of 6: {step}  (case {status.case_status})")
    proposed = status.proposed_response_level
    level = status.response_level or "—"
    if proposed and proposed != status.response_level:
        level += f" (proposed: {proposed})"
    facts = [
        ("Severity", f"{status.severity}{'' if status.severity_confirmed else ' (provisional)'}"),
        ("Response level", level),
        ("Relationship to the harm", status.relationship or "—"),
        ("Business relationship", status.business_relationship or "—"),
        ("Case owner", status.case_owner or "unassigned"),
        ("Opened", _when(status.opened_at)),
    ]
    if status.closed_at:
        facts.append(("Closed", f"{_when(status.closed_at)}: {status.closure_reason or '—'}"))
    if status.verification_rounds:
        facts.append(("Inconclusive rounds", str(status.verification_rounds)))
    if status.related_incidents:
        facts.append(("Related incidents", ", ".join(status.related_incidents)))
    facts.append(("Policy", status.policy_version))
    width = max(len(name) for name, _ in facts)
    for name, value in facts:
        typer.echo(f"  {name:<{width}}  {value}")

    if status.pending_decisions:
        typer.echo("\nAwaiting decisions")
        rows = [
            [
                item.kind,
                f"{item.expected_actor or 'any'} ({item.expected_role.replace('_', ' ')})",
                _when(item.due_at),
                item.milestone or "",
            ]
            for item in status.pending_decisions
        ]
        _table(["DECISION", "FROM", "BY", "MILESTONE"], rows, indent="  ")
    if status.pending_approvals:
        typer.echo("\nAwaiting approval (approve or reject, by an approver other than the author)")
        rows = [
            [
                item.approval_id,
                item.kind,
                item.author,
                _when(item.requested_at),
                _when(item.due_at),
                item.summary,
            ]
            for item in status.pending_approvals
        ]
        _table(["APPROVAL", "KIND", "AUTHOR", "REQUESTED", "BY", "SUMMARY"], rows, indent="  ")
    if status.returned:
        typer.echo("\nReturned for revision")
        rows = [
            [
                item.approval_id,
                item.kind,
                item.author,
                item.rejected_by,
                _when(item.rejected_at),
                item.comments,
            ]
            for item in status.returned
        ]
        _table(["APPROVAL", "KIND", "AUTHOR", "REJECTED BY", "AT", "COMMENTS"], rows, indent="  ")
    if not (status.pending_decisions or status.pending_approvals or status.returned):
        typer.echo("\nAwaiting nothing.")
    if status.actions:
        counts = ", ".join(f"{count} {name}" for name, count in status.actions_by_status.items())
        typer.echo(f"\nActions ({counts})")
        rows = [
            [
                action.action_id,
                f"{action.category}: {action.action_type}",
                action.status,
                f"{action.progress_percent}%",
                action.due_date.isoformat(),
                action.implementing_partner or "—",
            ]
            for action in status.actions
        ]
        _table(["ACTION", "TYPE", "STATUS", "PROGRESS", "DUE", "PARTNER"], rows, indent="  ")
    if status.deadlines:
        typer.echo("\nDeadlines")
        rows = [
            [
                milestone.milestone,
                milestone.kind,
                _when(milestone.due_at),
                ", ".join(
                    note
                    for note, applies in (
                        ("OVERDUE", milestone.due_at < now),
                        ("extended", milestone.extended),
                    )
                    if applies
                ),
            ]
            for milestone in status.deadlines
        ]
        _table(["MILESTONE", "KIND", "DUE", ""], rows, indent="  ")
    if status.escalations:
        typer.echo(f"\nEscalated (level {status.escalation_level})")
        rows = [
            [
                escalation.milestone,
                f"L{escalation.level}",
                _when(escalation.due_at),
                _when(escalation.overdue_since),
                ", ".join(escalation.notified),
            ]
            for escalation in status.escalations
        ]
        _table(["MILESTONE", "LEVEL", "WAS DUE", "OVERDUE SINCE", "TOLD"], rows, indent="  ")


# --- victims: sealed records, erasure --------------------------------------------------------

victim_app = typer.Typer(
    help="Victims' records: personal data sealed under each victim's own key.",
    no_args_is_help=True,
)
app.add_typer(victim_app, name="victim")
VictimIdArgument = Annotated[
    str, typer.Argument(metavar="VICTIM", help="Pseudonymous victim id, e.g. V-0001.")
]


def _check_victim_id(victim_id: str) -> None:
    """A victim id is pseudonymous (exit code 2 otherwise, before anything is sent)."""
    from pydantic import TypeAdapter, ValidationError

    from schemas.common import VictimId

    try:
        TypeAdapter(VictimId).validate_python(victim_id)
    except ValidationError:
        _invalid(f"{victim_id} is not a pseudonymous victim id such as V-0001")


def _key_ring(settings: "Settings") -> "KeyRing":
    from workers.encryption import require_key_ring
    from workers.errors import StartupError

    try:
        return require_key_ring(settings)
    except StartupError as error:
        _fail(str(error))


async def _with_register(database_url: str, work: Callable[["Pool"], Awaitable[T]]) -> T:
    from workers.register import open_register

    pool = await open_register(database_url, max_size=2)
    try:
        return await work(pool)
    finally:
        await pool.close()


@victim_app.command("record")
def victim_record(
    incident_id: IncidentIdArgument,
    victim_id: VictimIdArgument,
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE",
            help="The victim's personal data (JSON: name, date_of_birth, contact...), or - for "
            "standard input; omit to record the pseudonymous id alone.",
        ),
    ] = None,
    child: Annotated[bool, typer.Option("--child", help="The victim is under 18.")] = False,
    actor_id: Annotated[
        str, typer.Option("--as", metavar="ACTOR_ID", help="Who records (the case owner).")
    ] = "",
    roles: RoleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a victim of an incident under a pseudonymous id (the `record_victim` decision).

    The personal data is sealed here, before it is sent, under a data key of this victim alone
    (kept wrapped in the register under the key ring): Temporal's history and the register only
    ever hold the sealed copy, and `remediation erase-victim` makes it unreadable everywhere.
    Resending updates the record. Needs the key ring and the register (DATABASE_URL or the
    running `remediation up`).
    """
    from activities.victim_vault import VictimErased
    from schemas.actor import Actor
    from schemas.victims import VictimPersonalData
    from workers import incident_client as incidents

    if not actor_id:
        _invalid("--as ACTOR_ID is required: who records the victim")
    personal_data = None
    if file is not None:
        personal_data = _validated(
            VictimPersonalData,
            _read_document(file),
            f"{_source_name(file)} is not valid personal data",
        )
    actor = _validated(
        Actor,
        json.dumps({"id": actor_id, "roles": [str(r) for r in roles or [Role.CASE_OWNER]]}),
        "--as is not a valid actor id",
    )
    _check_victim_id(victim_id)
    settings = _client_settings()
    ring = _key_ring(settings)
    database_url = _database_url(settings)

    async def send(client: "Client") -> "DecisionResult":
        return await _with_register(
            database_url,
            lambda pool: incidents.record_victim(
                client,
                pool,
                ring,
                incident_id,
                victim_id=victim_id,
                child=child,
                personal_data=personal_data,
                actor=actor,
            ),
        )

    try:
        result = _run(_with_temporal(settings, send, incident_id=incident_id))
    except (incidents.DecisionRejected, VictimErased) as refusal:
        typer.echo(f"refused: {refusal}", err=True)
        raise typer.Exit(code=1) from None
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        typer.echo(result.message)


@victim_app.command("show")
def victim_show(
    incident_id: IncidentIdArgument, victim_id: VictimIdArgument, as_json: JsonOption = False
) -> None:
    """Show a victim's record with their personal data opened (needs the key ring)."""
    from activities.victim_vault import VictimErased, read_victim

    settings = _settings()
    ring = _key_ring(settings)
    url = _database_url(settings)
    try:
        view = _run(
            _with_register(url, lambda pool: read_victim(pool, ring, incident_id, victim_id))
        )
    except VictimErased as erased:
        _fail(str(erased))
    if view is None:
        _fail(f"{incident_id} has no recorded victim {victim_id}")
    personal = view.personal_data
    data = personal.model_dump(mode="json", exclude_none=True) if personal else None
    if as_json:
        _print_json({**asdict(view), "personal_data": data})
        return
    typer.echo(f"{victim_id} of {incident_id} ({'child' if view.child else 'adult'})")
    typer.echo(f"  recorded  {_when(view.recorded_at)} by {view.recorded_by}")
    if view.erased_at is not None:
        typer.echo(f"  erased    {_when(view.erased_at)} by {view.erased_by}: no personal data")
    elif data is None:
        typer.echo("  no personal data recorded")
    else:
        for name, value in data.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            if shown:
                typer.echo(f"  {name:<14}{shown}")


@app.command("erase-victim")
def erase_victim(
    incident_id: IncidentIdArgument,
    victim_id: VictimIdArgument,
    reason: Annotated[str, typer.Option(help="Why (the victim's request...).")],
    actor_id: Annotated[
        str, typer.Option("--as", metavar="ACTOR_ID", help="Who asks (the case owner).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Ask to erase a victim's personal data everywhere.

    While the incident runs, this is its `erase_victim` decision; once it has ended, the request
    runs as an erasure workflow (`erasure-<incident>-<victim>`). Either way an approver other than
    you approves it (`remediation decide <printed id> approve` with the printed approval id);
    then the victim's data key is destroyed, which makes every sealed copy of their data
    unreadable: the register, event payloads and Temporal's history. The pseudonymous case
    remains for learning.
    """
    from schemas.actor import Actor
    from workers import incident_client as incidents

    _check_victim_id(victim_id)
    actor = _validated(
        Actor,
        json.dumps({"id": actor_id, "roles": [str(Role.CASE_OWNER)]}),
        "--as is not a valid actor id",
    )
    settings = _client_settings()
    try:
        requested = _run(
            _with_temporal(
                settings,
                lambda client: incidents.request_erasure(
                    client,
                    incident_id,
                    victim_id,
                    reason=reason,
                    actor=actor,
                    task_queue=settings.task_queue,
                ),
                incident_id=incident_id,
            )
        )
    except incidents.ErasureRefused as refusal:
        if as_json:
            _print_json({"incident_id": incident_id, "refused": str(refusal)})
        typer.echo(f"refused: {refusal}", err=True)
        raise typer.Exit(code=1) from None
    if as_json:
        _print_json(asdict(requested))
        return
    typer.echo(requested.message)
    typer.echo(
        f"An approver other than {actor_id} decides it: `remediation decide "
        f"{requested.workflow_id} approve FILE` with "
        f'{{"approval_id": "{requested.approval_id}"}} (or reject with comments).'
    )


@app.command()
def status(incident_id: IncidentIdArgument, as_json: JsonOption = False) -> None:
    """Where an incident stands: step, severity, response level, case owner, what is awaited
    from whom and by when, pending approvals, returned items, actions and deadlines."""
    _quick()
    from workers import incident_client as incidents

    result = _run(
        _with_temporal(
            _client_settings(),
            lambda client: incidents.status(client, incident_id),
            incident_id=incident_id,
        )
    )
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        _print_status(result)


@app.command()
def timeline(incident_id: IncidentIdArgument, as_json: JsonOption = False) -> None:
    """Every event of an incident, oldest first: decisions (accepted, pending approval, refused
    signals), facts and automatic steps, with actor, summary and reason."""
    _quick()
    from workers import incident_client as incidents

    events = _run(
        _with_temporal(
            _client_settings(),
            lambda client: incidents.timeline(client, incident_id),
            incident_id=incident_id,
        )
    )
    if as_json:
        _print_json([event.model_dump(mode="json") for event in events])
        return
    rows = [
        [
            str(event.sequence),
            event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            event.kind,
            event.outcome,
            event.actor.id,
            _clip(event.summary, 72),
            event.reason or "",
        ]
        for event in events
    ]
    _table(["SEQ", "TIME (UTC)", "KIND", "OUTCOME", "ACTOR", "SUMMARY", "REASON"], rows)


@app.command("list")
def list_(
    step: Annotated[
        Step | None, typer.Option(help="Only incidents at this step.", case_sensitive=False)
    ] = None,
    severity: Annotated[
        Severity | None, typer.Option(help="Only incidents of this severity.", case_sensitive=False)
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only incidents with a missed deadline.")
    ] = False,
    include_closed: Annotated[
        bool, typer.Option("--all", help="Include completed and terminated incidents.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List incidents (running ones unless --all) from Temporal's visibility store.

    Filters use the incidents' search attributes, which may lag a change by a second or so.
    """
    _quick()
    from workers import incident_client as incidents

    query = incidents.list_query(
        step=step, severity=severity, overdue=overdue, include_closed=include_closed
    )
    listings = _run(
        _with_temporal(
            _client_settings(),
            lambda client: incidents.list_incidents(client, query),
        )
    )
    if as_json:
        _print_json([asdict(listing) for listing in listings])
        return
    if not listings:
        typer.echo("No incidents match.")
        return
    headers = ["ID", "STEP", "SEVERITY", "OWNER", "COUNTRY", "OVERDUE", "STARTED"]
    if include_closed:
        headers.append("STATUS")
    rows = []
    for listing in listings:
        row = [
            listing.incident_id,
            listing.step or "—",
            listing.severity or "—",
            listing.case_owner or "—",
            listing.country or "—",
            "yes" if listing.overdue else "no",
            listing.started,
        ]
        if include_closed:
            row.append(listing.status)
        rows.append(row)
    _table(headers, rows)


# --- the public contract as JSON Schema --------------------------------------------------------


@dataclass(frozen=True)
class _SchemaFile:
    file: str
    kind: str
    message: str
    model: str
    description: str
    schema: dict[str, Any]


def _description(schema: dict[str, Any]) -> str:
    text = str(schema.get("description", ""))
    return " ".join(text.split())


def _contract_schemas() -> list[_SchemaFile]:
    """Every message of the public contract, with how it travels."""
    from pydantic import TypeAdapter

    from schemas.facts import FACT_MODELS, FactKind
    from schemas.history import TimelineEvent
    from schemas.incident import (
        DecisionResult,
        IncidentInput,
        IncidentOutcome,
        IncidentStatus,
        PartnerView,
    )
    from schemas.intake import Intake
    from schemas.victims import VictimPersonalData
    from workflows.incident import IncidentWorkflow
    from workflows.rules.registry import REGISTRY

    workflow = IncidentWorkflow.__name__

    def entry(
        file: str, kind: str, message: str, model: "type[BaseModel]", note: str = ""
    ) -> _SchemaFile:
        schema = model.model_json_schema()
        description = f"{_description(schema)} {note}".strip()
        return _SchemaFile(file, kind, message, model.__name__, description, schema)

    files = [
        entry(
            "intake.json",
            "start",
            workflow,
            Intake,
            "Sent as the `intake` field of the workflow input; `remediation open` takes it alone.",
        ),
        entry("incident_input.json", "start", workflow, IncidentInput),
    ]
    files += [
        entry(f"decision.{kind}.json", "update+signal", str(kind), REGISTRY[kind].model)
        for kind in DecisionKind
    ]
    files += [
        entry(f"fact.{kind}.json", "signal", str(kind), FACT_MODELS[kind]) for kind in FactKind
    ]
    files.append(entry("query.status.json", "query", "status", IncidentStatus))
    files.append(entry("query.partner_actions.json", "query", "partner_actions", PartnerView))
    files.append(entry("victim_personal_data.json", "sealed", "victim record", VictimPersonalData))
    timeline_schema = TypeAdapter(list[TimelineEvent]).json_schema()
    timeline_schema["title"] = "Timeline"
    timeline_schema["description"] = "Result of the `timeline` query: every event, oldest first."
    files.append(
        _SchemaFile(
            "query.timeline.json",
            "query",
            "timeline",
            "list[TimelineEvent]",
            _description(timeline_schema),
            timeline_schema,
        )
    )
    files.append(entry("update_result.json", "result", "every decision update", DecisionResult))
    files.append(entry("incident_outcome.json", "result", workflow, IncidentOutcome))
    return files


@app.command()
def schemas(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Directory to write into (created if missing; files are overwritten).",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Write the JSON Schema of every message integrators exchange with the engine.

    intake.json and incident_input.json (workflow start), decision.<kind>.json (updates, also
    accepted as signals), fact.<kind>.json (signals), query.status.json and query.timeline.json
    (queries), update_result.json and incident_outcome.json (results), and index.json listing
    each file with its message name, kind and description.
    """
    from importlib.metadata import version

    files = _contract_schemas()
    index = {
        "workflow": files[0].message,
        "generated_by": f"remediation {version('remediation-engine')}",
        "files": [
            {
                "file": item.file,
                "message": item.message,
                "kind": item.kind,
                "model": item.model,
                "description": item.description,
            }
            for item in files
        ],
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for item in files:
            (out / item.file).write_text(json.dumps(item.schema, indent=2) + "\n", encoding="utf-8")
        (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        _fail(f"cannot write to {out}: {error.strerror or error}")
    if as_json:
        _print_json({"out": str(out), "files": [item.file for item in files] + ["index.json"]})
    else:
        typer.echo(f"Wrote {len(files)} schemas and index.json to {out}.")


app.add_typer(audit_app, name="audit")
app.add_typer(schedules_app, name="schedules")
app.command("report")(report)
app.command("inbox")(inbox)
app.add_typer(export_app, name="export")
app.command("lessons")(lessons)
app.command("codec-server")(codec_server)
app.add_typer(keys_app, name="keys")
