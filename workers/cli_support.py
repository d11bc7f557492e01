"""What every `remediation` command shares: settings, one-line failures, JSON output.

A module of its own so that the command modules (workers/cli.py, cli_audit.py, cli_codec.py) can
all use it without importing one another.
"""

import asyncio
import json
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from workers.errors import StartupError
from workers.logs import configure_logging
from workers.settings import Settings, load_settings

T = TypeVar("T")

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


def _database_url(settings: Settings) -> str:
    """DATABASE_URL, else the register of a `remediation up` running on the data directory."""
    from workers.stack import read_running_stack

    if settings.database_url:
        return settings.database_url
    stack = read_running_stack(settings.data_dir.resolve())
    if stack is None or ":***@" in stack.database_url:
        _fail(f"DATABASE_URL is not set and no `remediation up` is running on {settings.data_dir}")
    return stack.database_url
