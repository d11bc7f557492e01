"""Process orchestration for the fault suite (tests/test_faults.py).

The real stack, as separate processes the tests can stop, kill and restart:

- the Temporal CLI dev server with SQLite persistence, on a fixed port and file so a restart
  finds everything it had (one namespace per run is created at start);
- an embedded PostgreSQL of its own (the session's shared one must never be stopped under other
  test modules), with one register database per run;
- the worker, `remediation worker`, as a child process configured only by its environment.

Every child is a `workers.devstack.child_process.ChildProcess`: its own session, a log file, and
killed by the kernel if the test process dies, so no server outlives the suite. Waiting helpers
raise `StackTimeout` with what was awaited and the tail of the relevant log.
"""

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import TypeVar

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workers.devstack.child_process import ChildProcess, _die_with_parent
from workers.devstack.dev_server import DevServerConfig, dev_server_argv, temporal_cli
from workers.devstack.local_postgres import LocalPostgres

T = TypeVar("T")

TEMPORAL_START_SECONDS = 60.0
TEMPORAL_STOP_SECONDS = 15.0
WORKER_START_SECONDS = 60.0
WORKER_STOP_SECONDS = 30.0
TASK_QUEUE = "remediation"
WEBHOOK_SECRET = "fault-suite-webhook-secret-0123"


class StackTimeout(AssertionError):
    """Something the suite waited for did not happen in time (a test failure, not an error)."""


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float,
    interval: float = 0.2,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `check` until it returns something other than None; errors of the `tolerate` types
    count as "not yet" (a server being restarted). Raises StackTimeout naming `what`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = await check()
        except tolerate as error:
            last_error = error
        else:
            if result is not None:
                return result
        if time.monotonic() > deadline:
            cause = (
                f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            )
            raise StackTimeout(f"{what}: not within {timeout:.0f} s{cause}")
        await asyncio.sleep(interval)


async def within(what: str, work: Awaitable[T], timeout: float) -> T:
    """`work`, or StackTimeout naming `what` after `timeout` seconds."""
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        raise StackTimeout(f"{what}: not within {timeout:.0f} s") from None


# --- Temporal -------------------------------------------------------------------------------


class TemporalServer:
    """The dev server on one SQLite file and port: stop it and start it again, and it carries on
    with every namespace, workflow and timer it had."""

    def __init__(self, root: Path, namespaces: Sequence[str], ports: Sequence[int]) -> None:
        port, ui_port, http_port = ports
        self.config = DevServerConfig(
            db_file=root / "temporal.sqlite",
            log_path=root / "temporal.log",
            port=port,
            ui_port=ui_port,
            http_port=http_port,
            namespace=namespaces[0],
        )
        argv = dev_server_argv(temporal_cli(), self.config)
        # The suite never opens the UI; each further --namespace is created at start.
        argv.append("--headless")
        for namespace in namespaces[1:]:
            argv += ["--namespace", namespace]
        self._argv = argv
        self._process: ChildProcess | None = None

    @property
    def address(self) -> str:
        return self.config.address

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        self._process = ChildProcess("Temporal dev server", self._argv, self.config.log_path)
        await self._process.start()
        process = self._process

        async def serving() -> bool | None:
            if process.returncode is not None:
                raise StackTimeout(
                    f"the Temporal dev server exited ({process.returncode}): "
                    f"{log_tail(self.config.log_path)}"
                )
            try:
                client = await Client.connect(self.address, namespace=self.config.namespace)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
            except (RuntimeError, RPCError):
                return None
            return True

        await until("the Temporal dev server answers", serving, timeout=TEMPORAL_START_SECONDS)

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop(timeout=TEMPORAL_STOP_SECONDS)


# --- The worker -----------------------------------------------------------------------------


class WorkerProcess:
    """`remediation worker` as a child process, configured by its environment alone."""

    def __init__(self, binary: str, env: dict[str, str], log_path: Path) -> None:
        self.binary = binary
        self.env = env
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0

    async def start(self) -> None:
        """Start it and wait until it says it polls (its own log line, after migrations)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                "worker",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                # As for every server of `remediation up`: gone when the test process dies.
                preexec_fn=_die_with_parent(signal.SIGKILL, os.getpid()),
            )
        self._process = process
        self.starts += 1

        async def polling() -> bool | None:
            if process.returncode is not None:
                raise StackTimeout(
                    f"the worker exited at start ({process.returncode}): {log_tail(self.log_path)}"
                )
            with self.log_path.open("rb") as log:
                log.seek(offset)
                for line in log.read().decode(errors="replace").splitlines():
                    with contextlib.suppress(ValueError, AttributeError):
                        if json.loads(line).get("event") == "worker polling":
                            return True
            return None

        await until("the worker polls its task queue", polling, timeout=WORKER_START_SECONDS)

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown; its in-flight activities and workflow tasks are lost
        until Temporal times them out."""
        process = self._process
        assert process is not None and process.returncode is None, "the worker is not running"
        process.kill()
        await process.wait()
        self.kills += 1

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped in time."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), WORKER_STOP_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()

    def exit_code(self) -> int | None:
        """The exit code once it has exited (None while it runs)."""
        return None if self._process is None else self._process.returncode


# --- The whole stack ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of a scenario: its own namespace, register database and webhook path, so two
    runs of the same seeded scenario have the same incident ids and can be compared."""

    name: str
    namespace: str
    database_url: str
    webhook_url: str


class FaultStack:
    """The dev server and PostgreSQL for the suite, and factories for runs and workers."""

    def __init__(
        self,
        root: Path,
        *,
        runs: Sequence[str],
        remediation_binary: str,
        key_ring_json: str,
        policy_file: Path,
        ports: Sequence[int],
        webhook_base: str,
    ) -> None:
        self.root = root
        self.run_names = list(runs)
        self.temporal = TemporalServer(root, [_namespace(name) for name in runs], ports[:3])
        self.postgres = LocalPostgres(
            root / "postgres", port=ports[3], log_path=root / "postgres.log"
        )
        self.remediation_binary = remediation_binary
        self.key_ring_json = key_ring_json
        self.policy_file = policy_file
        self.webhook_base = webhook_base  # each run's notifications go to <base>/<run name>

    async def start(self) -> None:
        await self.postgres.start()
        await self.temporal.start()

    async def stop(self) -> None:
        """Stop both servers, whatever state a failed test left them in."""
        try:
            await self.temporal.stop()
        finally:
            await self.postgres.stop()

    async def new_run(self, name: str) -> Run:
        assert name in self.run_names, f"run {name} has no namespace; add it to the stack's runs"
        url = await self.postgres.create_database(f"register_{name}")
        return Run(name, _namespace(name), url, f"{self.webhook_base}/{name}")

    def worker(self, run: Run) -> WorkerProcess:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.temporal.address,
            "TEMPORAL_NAMESPACE": run.namespace,
            "TASK_QUEUE": TASK_QUEUE,
            "DATABASE_URL": run.database_url,
            "REMEDIATION_KEYS": self.key_ring_json,
            "REMEDIATION_POLICY_FILE": str(self.policy_file),
            "REMEDIATION_REPORTS_DIR": str(self.root / "reports" / run.name),
            "NOTIFY_CHANNEL": "webhook",
            "NOTIFY_WEBHOOK_URL": run.webhook_url,
            "NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "NOTIFY_TIMEOUT_SECONDS": "5",
            "LOG_FORMAT": "json",
            # Killed workers are the point here: a SIGTERM'd one need not wait long either.
            "SHUTDOWN_GRACE_SECONDS": "2",
        }
        env.pop("REMEDIATION_KEY_FILE", None)
        return WorkerProcess(self.remediation_binary, env, self.root / f"worker-{run.name}.log")

    async def ensure_running(self) -> None:
        """Start again whichever server a failed test left stopped."""
        if self.postgres.process.returncode is not None:
            await self.postgres.start()
        if not self.temporal.running:
            await self.temporal.start()

    async def restart_postgres(self, down_for: float) -> None:
        """PostgreSQL stopped for `down_for` seconds (LocalPostgres.restart)."""
        await self.postgres.restart(down_for)


def _namespace(run_name: str) -> str:
    return f"faults-{run_name}"


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Serve `server` on a thread; yields its base URL and shuts it down on exit."""
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
