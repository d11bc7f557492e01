"""What every `remediation` command shares: settings, one-line failures, JSON output.

A module of its own so that the command modules (main.py, audit.py, codec.py, lessons.py and the
others in workers/cli/) can all use it without importing one another.
"""

import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from workers.errors import StartupError
from workers.running_stack import read_running_stack

# The settings (pydantic), the logging (structlog) and Temporal are imported by the functions
# that use them: importing the command line, as `remediation --help` does, must stay quick.
if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.service import RPCError, ServiceClient

    from workers.settings import Settings

T = TypeVar("T")

ANSWER_TIMEOUT_SECONDS = 30.0
"""How long a command waits for Temporal (and the incident's worker) before giving up."""

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; operator-fixable failures become one line on stderr and exit code 1."""
    import asyncio  # with ssl, a tenth of a second: not for `--help`

    try:
        return asyncio.run(work)
    except StartupError as error:
        _fail(str(error))


def _settings(**overrides: Any) -> "Settings":
    """The settings, with this process's logging configured by them: for a quick command
    (`QuickCommand`), when something first logs, so one that logs nothing never imports structlog
    and rich (workers/logs.py)."""
    from workers.logs import configure_logging, configure_logging_when_used
    from workers.settings import load_settings

    try:
        settings = load_settings(**overrides)
    except StartupError as error:
        _fail(str(error))
    configure = configure_logging_when_used if QuickCommand.requested else configure_logging
    configure(settings.log_format, settings.logging_level)
    return settings


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """A plain-text table: columns padded to their widest cell, the last one left ragged."""
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(len(headers))]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        typer.echo((indent + "  ".join(cells)).rstrip())


def _database_url(settings: "Settings") -> str:
    """DATABASE_URL, else the register of a `remediation up` running on the data directory."""

    if settings.database_url:
        return settings.database_url
    stack = read_running_stack(settings.data_dir.resolve())
    if stack is None or ":***@" in stack.database_url:
        _fail(f"DATABASE_URL is not set and no `remediation up` is running on {settings.data_dir}")
    return stack.database_url


class QuickCommand:
    """Whether this process runs a quick command: one that only talks to Temporal (whose SDK logs
    through the standard library) and writes its answer (status, timeline, list, decide, note,
    evidence), each of which calls `_quick()` before it imports anything.

    Its logging is configured when something logs (`_settings`). Run as a program (the app sets
    `program`; a test's CliRunner does not), it also runs without the cyclic garbage collector and
    ends without the interpreter's teardown: importing is most of such a command's time and the
    collector's passes over what is imported a tenth of it, and freeing the SDK's native runtime
    and the modules takes a few tenths of a second on a busy machine. It holds nothing that must
    be closed, and nothing it allocates outlives it.
    """

    program = False
    requested = False


def _quick() -> None:
    """Declare the running command a quick command (`QuickCommand`)."""
    QuickCommand.requested = True
    if QuickCommand.program:
        gc.disable()


def _end_now(code: int) -> None:
    """End the process with `code` at once, its output flushed; returns if it cannot be flushed
    (the caller then exits the ordinary way)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def _client_settings() -> "Settings":
    """The environment; without TEMPORAL_ADDRESS, the `remediation up` running on the data dir.

    A running stack also supplies the namespace and task queue unless they are set explicitly.
    """

    settings = _settings()
    explicit = settings.model_fields_set
    if "temporal_address" in explicit:
        return settings
    stack = read_running_stack(settings.data_dir.resolve())
    if stack is None:
        return settings
    update: dict[str, Any] = {"temporal_address": stack.temporal_address}
    if "temporal_namespace" not in explicit:
        update["temporal_namespace"] = stack.namespace
    if "task_queue" not in explicit:
        update["task_queue"] = stack.task_queue
    return settings.model_copy(update=update)


def _rpc_problem(error: "RPCError", settings: "Settings", incident_id: str | None) -> str:
    from temporalio.service import RPCStatusCode

    address = settings.temporal_address
    detail = error.message
    if error.status == RPCStatusCode.NOT_FOUND and incident_id is not None:
        if "namespace" in detail.lower():
            return f"Temporal at {address} has no namespace {settings.temporal_namespace}"
        if "completed" in detail.lower():
            return (
                f"incident {incident_id} has ended: it takes no more decisions or facts "
                "(its status and timeline can still be read)"
            )
        return f"no incident {incident_id}"
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return f"cannot reach Temporal at {address}: {detail}"
    return f"Temporal at {address} refused the request ({error.status.name}): {detail}"


async def _connected(connecting: Awaitable[T], address: str) -> T:
    """A connection, bounded by ANSWER_TIMEOUT_SECONDS."""
    import asyncio

    try:
        return await asyncio.wait_for(connecting, ANSWER_TIMEOUT_SECONDS)
    except TimeoutError:
        raise StartupError(
            f"cannot reach Temporal at {address}: no answer within {ANSWER_TIMEOUT_SECONDS:.0f} s"
        ) from None


async def _with_visibility(
    settings: "Settings", operation: Callable[["ServiceClient"], Awaitable[T]]
) -> T:
    """Connect for visibility only (`connect_service`: neither the SDK's client nor the key ring)
    and run one read. Connecting is bounded by ANSWER_TIMEOUT_SECONDS; the read bounds each of its
    own requests (a large portfolio's read is long, not stuck) and raises TimeoutError when one
    goes unanswered. Temporal's failures and that timeout become one readable StartupError, as in
    `_with_temporal`."""
    from temporalio.service import RPCError

    from workers.temporal_client import connect_service

    address = settings.temporal_address
    service = await _connected(connect_service(settings), address)
    try:
        return await operation(service)
    except TimeoutError:
        raise StartupError(
            f"no answer from Temporal at {address} within {ANSWER_TIMEOUT_SECONDS:.0f} s"
        ) from None
    except RPCError as error:
        raise StartupError(_rpc_problem(error, settings, None)) from None


async def _with_temporal(
    settings: "Settings",
    operation: Callable[["Client"], Awaitable[T]],
    *,
    incident_id: str | None = None,
    on_timeout: str = "",
    timeout: float | None = ANSWER_TIMEOUT_SECONDS,
) -> T:
    """Connect and run one operation; Temporal's failures become one readable StartupError.

    `timeout` bounds the operation (None: as long as it takes, for work that runs a workflow to
    its end); connecting is always bounded by ANSWER_TIMEOUT_SECONDS.
    """
    import asyncio

    from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
    from temporalio.service import RPCError

    from workers.temporal_client import connect

    address = settings.temporal_address
    client = await _connected(connect(settings), address)
    try:
        return await asyncio.wait_for(operation(client), timeout)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        within = f" within {timeout:.0f} s" if timeout is not None else ""
        raise StartupError(
            f"no answer from Temporal at {address} or the incident's worker{within}: is "
            f"`remediation up` or `remediation worker` running?{on_timeout}"
        ) from None
    except WorkflowQueryFailedError as error:
        raise StartupError(f"incident {incident_id} could not answer: {error}") from None
    except RPCError as error:
        raise StartupError(_rpc_problem(error, settings, incident_id)) from None
