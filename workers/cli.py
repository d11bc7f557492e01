"""`remediation`: the command line of the remediation engine."""

import asyncio
import json
import sys
from collections.abc import Coroutine
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from activities.database import redact_url
from workers.errors import StartupError
from workers.logs import configure_logging
from workers.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(
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

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; operator-fixable failures become one line on stderr and exit code 1."""
    try:
        return asyncio.run(work)
    except StartupError as error:
        _fail(str(error))


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**overrides)
    except StartupError as error:
        _fail(str(error))
    configure_logging(settings.log_format, settings.logging_level)
    return settings


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _version(show: bool) -> None:
    if show:
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
    as_json: JsonOption = False,
) -> None:
    """Run the whole system in the foreground: Temporal with its Web UI, PostgreSQL, the worker.

    Data persists in the data directory: run it again to resume every running incident.
    Ctrl-C stops everything. Set DATABASE_URL to use an existing PostgreSQL instead of the
    embedded one.
    """
    from workers.stack import StackOptions, run_stack

    settings = _settings()
    options = StackOptions(
        data_dir=data_dir or settings.data_dir,
        bind=bind,
        temporal_port=temporal_port,
        ui_port=ui_port,
        http_port=http_port,
        postgres_port=postgres_port,
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
            f"  Logs               {fields['logs_dir']}\n"
            "Press Ctrl-C to stop."
        )
    elif event == "stopping":
        typer.echo("\nStopping: worker, then Temporal, then PostgreSQL ...")
    elif event == "stopped":
        typer.echo(f"Stopped. Data kept in {fields['data_dir']}; `remediation up` resumes it.")
    sys.stdout.flush()


@app.command()
def worker() -> None:
    """Run the worker alone (for deployments), configured by the environment.

    TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE, DATABASE_URL, TEMPORAL_TLS*,
    TEMPORAL_API_KEY, LOG_FORMAT, LOG_LEVEL, SHUTDOWN_GRACE_SECONDS, MIGRATE_ON_START.
    SIGTERM or SIGINT stops it gracefully.
    """
    from workers.worker import serve_until_signalled

    _run(serve_until_signalled(_settings()))


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


def _database_url(settings: Settings) -> str:
    """DATABASE_URL, else the register of a `remediation up` running on the data directory."""
    from workers.stack import read_running_stack

    if settings.database_url:
        return settings.database_url
    stack = read_running_stack(settings.data_dir.resolve())
    if stack is None or ":***@" in stack.database_url:
        _fail(f"DATABASE_URL is not set and no `remediation up` is running on {settings.data_dir}")
    return stack.database_url


@db_app.command("migrate")
def db_migrate(as_json: JsonOption = False) -> None:
    """Apply pending migrations to the case register (safe to run from several places at once)."""
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
def db_status(as_json: JsonOption = False) -> None:
    """List every migration and whether it is applied."""
    from workers.register import migration_report

    url = _database_url(_settings())
    rows = _run(migration_report(url))
    if as_json:
        _print_json(rows)
        return
    typer.echo(f"{'VERSION':<8} {'NAME':<40} APPLIED AT")
    for row in rows:
        typer.echo(f"{row['version']:<8} {row['name']:<40} {row['applied_at'] or 'pending'}")


if __name__ == "__main__":
    app()
