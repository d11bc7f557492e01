"""`remediation up`: the whole system on one machine, in the foreground.

Order of start: PostgreSQL (unless DATABASE_URL names a server), the Temporal dev server,
migrations, the worker; then the monitoring schedules are applied. Order of stop is the reverse,
so the worker hands back its tasks while Temporal and the database are still there to take them.

`up` prints its steps on stdout and its one-line failure on stderr; everything logged in its
process (the worker, the codec server, Temporal's native core) goes to `<data dir>/logs/worker.log`,
as the child processes' logs go to files beside it, so the step output stays the steps whatever
collects it.
"""

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from workers.codec_server import start_codec_server
from workers.devstack.demo import seed_demo
from workers.devstack.dev_server import DevServer, DevServerConfig, temporal_cli
from workers.devstack.local_postgres import LocalPostgres, postgres_bin_dir
from workers.encryption import (
    CODEC_TOKEN_FILE,
    ensure_local_codec_token,
    ensure_local_key_file,
    require_key_ring,
)
from workers.errors import StartupError
from workers.logs import configure_logging, forward_core_logs
from workers.redaction import redact_url
from workers.register import check_reachable, migrate_database
from workers.running_stack import STACK_FILE, RunningStack
from workers.schedules import SCHEDULES, apply_schedules
from workers.settings import Settings
from workers.temporal_client import connect
from workers.ui_views import demo_views
from workers.worker import serve

log = structlog.get_logger(__name__)
T = TypeVar("T")
DATABASE_NAME = "remediation"
WORKER_LOG = "worker.log"


# Applying the schedules must not hold up a stack whose Temporal is slow to answer.
SCHEDULES_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path
    bind: str = "127.0.0.1"
    temporal_port: int = 7233
    ui_port: int = 8233
    http_port: int = 7243
    postgres_port: int = 5432
    demo: bool = False
    codec_port: int | None = None  # None: CODEC_SERVER_PORT


Report = Callable[[str, dict[str, Any]], None]


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived before the stack was ready."""


def _display_host(bind: str) -> str:
    return "localhost" if bind in ("127.0.0.1", "0.0.0.0") else bind


def prepare_data_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        (path / "logs").mkdir(exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"the data directory {path} is not writable ({error.strerror or error}); "
            "choose another with --data-dir or REMEDIATION_DATA_DIR"
        ) from None
    return path


@contextlib.contextmanager
def exclusive_use(data_dir: Path) -> Iterator[None]:
    """One `remediation up` per data directory: two servers on one SQLite file would corrupt it."""
    with (data_dir / "up.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise StartupError(
                f"another `remediation up` (pid {holder}) is already using {data_dir}; "
                "stop it first, or choose another --data-dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def logging_to(path: Path, settings: Settings) -> Iterator[None]:
    """This process's log lines go to `path` (appended; JSON unless LOG_FORMAT=console), and
    Temporal's native core's with them; the logging before is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with path.open("a", encoding="utf-8") as stream:
        configure_logging(settings.log_format, settings.logging_level, stream=stream)
        forward_core_logs()
        try:
            yield
        finally:
            root.handlers = handlers
            root.setLevel(level)


def ensure_ports_free(bind: str, ports: dict[str, tuple[int, str]]) -> None:
    """Fail before starting anything if a port we need is taken."""
    seen: dict[int, str] = {}
    for what, (port, option) in ports.items():
        if port in seen:
            raise StartupError(f"{what} and {seen[port]} cannot share port {port}; change {option}")
        seen[port] = what
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((bind, port))
            except OSError:
                raise StartupError(
                    f"port {port} for the {what} is already in use on {bind}: stop what is "
                    f"using it, or choose another port with {option}"
                ) from None


async def wait_for_poller(
    client: Client, task_queue: str, timeout: float = 15.0, *, pid: int | None = None
) -> None:
    """Until Temporal itself reports a worker polling the task queue (with `pid`: the worker of
    that process, whose identity is the SDK's default "<pid>@<host>")."""
    deadline = time.monotonic() + timeout
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    while time.monotonic() < deadline:
        response = await client.workflow_service.describe_task_queue(request)
        if any(pid is None or p.identity.startswith(f"{pid}@") for p in response.pollers):
            return
        await asyncio.sleep(0.2)
    raise StartupError(f"no worker was polling task queue {task_queue} after {timeout:.0f} s")


class LocalStack:
    def __init__(self, options: StackOptions, settings: Settings, report: Report) -> None:
        self.options = options
        self.settings = settings
        self.report = report
        self.stop = asyncio.Event()
        self.ui_codec_endpoint = ""

    async def _unless_stopped(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            stopping.cancel()
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StartupError):
            await task
        raise _Interrupted

    def _on_signal(self) -> None:
        if not self.stop.is_set():
            self.report("stopping", {})
        self.stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal)
        try:
            data_dir = prepare_data_dir(self.options.data_dir)
            with exclusive_use(data_dir), logging_to(data_dir / "logs" / WORKER_LOG, self.settings):
                try:
                    await self._run_in(data_dir)
                except _Interrupted:
                    pass
                finally:
                    (data_dir / STACK_FILE).unlink(missing_ok=True)
            self.report("stopped", {"data_dir": str(data_dir)})
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    @property
    def codec_port(self) -> int:
        return self.options.codec_port or self.settings.codec_server_port

    def _check_prerequisites(self) -> None:
        options = self.options
        ports = {
            "Temporal frontend": (options.temporal_port, "--temporal-port"),
            "Temporal Web UI": (options.ui_port, "--ui-port"),
            "Temporal HTTP API": (options.http_port, "--http-port"),
            "codec server": (self.codec_port, "CODEC_SERVER_PORT"),
        }
        if self.settings.database_url is None:
            ports["embedded PostgreSQL"] = (options.postgres_port, "--postgres-port")
            postgres_bin_dir()
        temporal_cli()
        ensure_ports_free(options.bind, ports)

    def _encryption(self, data_dir: Path) -> tuple[Settings, Path | None]:
        """The settings with a key ring: the configured one, else `<data_dir>/keys.json`
        (generated on the first run); and the file it is in, when it is in one."""
        settings = self.settings
        if settings.remediation_keys is not None:
            return settings, None
        key_file = settings.remediation_key_file or ensure_local_key_file(data_dir)
        return settings.model_copy(update={"remediation_key_file": key_file}), key_file.resolve()

    async def _start_codec_server(self, running: AsyncExitStack, data_dir: Path) -> str:
        """The codec server for the Web UI; its URL. Its token: CODEC_SERVER_TOKEN, else
        `<data_dir>/codec-token` (generated on the first run)."""
        settings, options = self.settings, self.options
        host = _display_host(options.bind)
        token = (
            settings.codec_server_token.get_secret_value()
            if settings.codec_server_token
            else ensure_local_codec_token(data_dir)
        )
        cors_origin = (
            settings.codec_cors_origin
            if "codec_cors_origin" in settings.model_fields_set
            else f"http://{host}:{options.ui_port}"
        )
        runner = await start_codec_server(
            require_key_ring(settings), token, cors_origin, options.bind, self.codec_port
        )
        # The worker logs its configuration: the origin in effect, not the default it replaced.
        self.settings = settings.model_copy(update={"codec_cors_origin": cors_origin})
        running.push_async_callback(runner.cleanup)
        url = f"http://{host}:{self.codec_port}"
        self.report("step", {"what": "Codec server ready", "detail": url})
        # The dev server's UI has no login to pass a bearer token from: it gets the token in
        # its endpoint's path instead, but only while the UI is reachable from this machine alone
        # (the UI hands its endpoint to every browser that opens it). The dev server takes it on
        # its command line only, so the token is in the process list too (docs/security.md, The
        # codec server).
        loopback = options.bind in ("127.0.0.1", "localhost", "::1")
        self.ui_codec_endpoint = f"{url}/t/{token}" if loopback else url
        return url

    async def _run_in(self, data_dir: Path) -> None:
        started = time.monotonic()
        options = self.options
        self._check_prerequisites()
        self.settings, key_file = self._encryption(data_dir)
        self.report("starting", {"data_dir": str(data_dir)})
        async with AsyncExitStack() as running:
            watched: dict[str, asyncio.Future[int]] = {}

            if self.settings.database_url is not None:
                database_url = self.settings.database_url
                await self._unless_stopped(check_reachable(database_url))
                self.report(
                    "step", {"what": "Case register reachable", "detail": redact_url(database_url)}
                )
            else:
                postgres = LocalPostgres(
                    data_dir / "postgres",
                    port=options.postgres_port,
                    host=options.bind if options.bind != "0.0.0.0" else "127.0.0.1",
                    log_path=data_dir / "logs" / "postgres.log",
                )
                running.push_async_callback(postgres.stop)
                await self._unless_stopped(postgres.start())
                database_url = await postgres.create_database(DATABASE_NAME)
                watched["PostgreSQL"] = asyncio.ensure_future(postgres.process.wait())
                self.report("step", {"what": "PostgreSQL ready", "detail": database_url})

            codec_server_url = await self._start_codec_server(running, data_dir)

            dev_server = DevServer(
                DevServerConfig(
                    db_file=data_dir / "temporal.sqlite",
                    log_path=data_dir / "logs" / "temporal.log",
                    ip=options.bind,
                    port=options.temporal_port,
                    ui_port=options.ui_port,
                    http_port=options.http_port,
                    namespace=self.settings.temporal_namespace,
                    ui_codec_endpoint=self.ui_codec_endpoint,
                )
            )
            running.push_async_callback(dev_server.stop)
            await self._unless_stopped(dev_server.start())
            watched["Temporal dev server"] = asyncio.ensure_future(dev_server.process.wait())
            self.report(
                "step", {"what": "Temporal dev server ready", "detail": dev_server.config.address}
            )

            applied = await self._unless_stopped(migrate_database(database_url))
            self.report(
                "step",
                {
                    "what": "Case register migrated",
                    "detail": f"{len(applied)} migration(s) applied",
                },
            )

            worker_settings = self.settings.model_copy(
                update={
                    "temporal_address": dev_server.config.address,
                    "database_url": database_url,
                    "migrate_on_start": False,
                    "data_dir": data_dir,
                }
            )
            worker = asyncio.ensure_future(serve(worker_settings, self.stop))
            # Whatever ends the run, the worker stops before the servers it depends on.
            running.push_async_callback(self._stop_worker, worker)
            client = await connect(worker_settings)
            poller = asyncio.ensure_future(wait_for_poller(client, worker_settings.task_queue))
            await self._unless_stopped(_first_of(poller, worker))
            self.report(
                "step",
                {"what": "Worker polling", "detail": f"task queue {worker_settings.task_queue}"},
            )
            await self._apply_schedules(client, worker_settings.task_queue)
            if options.demo:
                await self._seed_demo(client, worker_settings.task_queue)

            host = _display_host(options.bind)
            stack = RunningStack(
                pid=os.getpid(),
                ui_url=f"http://{host}:{options.ui_port}",
                temporal_address=f"{host}:{options.temporal_port}",
                namespace=worker_settings.temporal_namespace,
                task_queue=worker_settings.task_queue,
                http_api_url=f"http://{host}:{options.http_port}",
                database_url=redact_url(database_url),
                data_dir=str(data_dir),
                logs_dir=str(data_dir / "logs"),
                codec_server_url=codec_server_url,
                key_file=str(key_file) if key_file else None,
                codec_token_file=(
                    None if self.settings.codec_server_token else str(data_dir / CODEC_TOKEN_FILE)
                ),
            )
            (data_dir / STACK_FILE).write_text(json.dumps(asdict(stack), indent=2))
            self.report(
                "ready",
                {
                    **asdict(stack),
                    "seconds": round(time.monotonic() - started, 1),
                    "views": demo_views(stack.ui_url, stack.namespace),
                },
            )

            await self._run_until_stopped_or_failed(worker, watched)

    async def _stop_worker(self, worker: asyncio.Future[None]) -> None:
        self.stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await worker

    async def _apply_schedules(self, client: Client, task_queue: str) -> None:
        """The monitoring schedules, created or brought up to date on every start (a schedule
        an operator paused stays paused)."""
        try:
            applied = await self._unless_stopped(
                asyncio.wait_for(apply_schedules(client, task_queue), SCHEDULES_TIMEOUT_SECONDS)
            )
        except (_Interrupted, StartupError):
            raise
        except Exception as error:  # incidents run without them: say what failed and keep running
            reason = "no answer from Temporal in time" if isinstance(error, TimeoutError) else error
            self.report("step", {"what": "Schedules not applied", "detail": str(reason)})
            return
        labels = ", ".join(definition.label for definition in SCHEDULES)
        changed = [result for _, result in applied if result != "unchanged"]
        counts = ", ".join(
            f"{changed.count(r)} {r}" for r in ("created", "updated") if r in changed
        )
        self.report(
            "step",
            {
                "what": "Schedules applied",
                "detail": f"{len(applied)} ({labels})" + (f": {counts}" if counts else ""),
            },
        )

    async def _seed_demo(self, client: Client, task_queue: str) -> None:
        try:
            seeded = await self._unless_stopped(seed_demo(client, task_queue))
        except (_Interrupted, StartupError):
            raise
        except Exception as error:  # the demo is optional: say what failed and keep running
            self.report("step", {"what": "Demo incidents not seeded", "detail": str(error)})
            return
        self.report(
            "step", {"what": "Demo incidents seeded", "detail": f"{len(seeded)} opened now"}
        )

    async def _run_until_stopped_or_failed(
        self, worker: asyncio.Future[None], watched: dict[str, asyncio.Future[int]]
    ) -> None:
        stopping = asyncio.ensure_future(self.stop.wait())
        waiting: set[asyncio.Future[object]] = {worker, stopping, *watched.values()}  # type: ignore[arg-type]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        asked_to_stop = self.stop.is_set()
        died = [name for name, process in watched.items() if process.done()]
        if not asked_to_stop:
            self.report("stopping", {})
            self.stop.set()
        # The worker hands back its tasks before its servers go away.
        worker_error: BaseException | None = None
        try:
            await worker
        except Exception as error:
            worker_error = error
        if died:
            name = died[0]
            raise StartupError(
                f"the {name} exited unexpectedly (exit code {watched[name].result()}); "
                f"everything else was stopped. See {self.options.data_dir / 'logs'} and run "
                "`remediation up` again"
            )
        if isinstance(worker_error, StartupError):
            raise worker_error
        if worker_error is not None:
            log.error("worker failed", exc_info=worker_error)
        if worker_error is not None or not asked_to_stop:
            raise StartupError(
                f"the worker stopped unexpectedly: {worker_error or 'no reason given'}"
            )


async def _first_of(expected: asyncio.Future[T], failure_source: asyncio.Future[Any]) -> T:
    """Wait for `expected`, but surface the error if `failure_source` ends first."""
    await asyncio.wait({expected, failure_source}, return_when=asyncio.FIRST_COMPLETED)
    if expected.done():
        return expected.result()
    expected.cancel()
    failure_source.result()
    raise StartupError("the worker stopped during start-up")


async def run_stack(options: StackOptions, settings: Settings, report: Report) -> None:
    await LocalStack(options, settings, report).run()
