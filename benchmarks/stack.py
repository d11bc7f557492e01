"""The benchmark's own stack, in a temporary directory: never the user's data or servers.

Embedded PostgreSQL, the Temporal dev server with a SQLite file of its own, and the worker as a
separate process (benchmarks/worker.py) whose memory is sampled with psutil. Pieces come from
the local stack of `remediation up` (workers/devstack/ and the modules it uses); the ports are
free ones picked at start, so a running `remediation up` is not disturbed.
"""

import asyncio
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from temporalio.client import Client

from workers.devstack.child_process import ChildProcess
from workers.devstack.dev_server import DevServer, DevServerConfig
from workers.devstack.local_postgres import LocalPostgres
from workers.devstack.stack import wait_for_poller
from workers.errors import StartupError
from workers.keyring import KeyRing
from workers.register import migrate_database
from workers.settings import Settings, load_settings
from workers.temporal_client import connect

TASK_QUEUE = "remediation-benchmark"
DATABASE_NAME = "remediation"
RSS_SAMPLE_SECONDS = 0.25
# The environment the worker keeps from ours: where programs and home are, nothing of the
# user's engine configuration (their DATABASE_URL or key ring must not leak into the benchmark).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")

Progress = Callable[[str], None]
# Where the throwaway servers keep their files: in memory where the machine has it, so that a slow
# disk's syncs (SQLite's and PostgreSQL's commits) do not stand in for the engine's own cost.
IN_MEMORY = Path("/dev/shm")


def _scratch_parent() -> Path | None:
    if IN_MEMORY.is_dir() and os.access(IN_MEMORY, os.W_OK | os.X_OK):
        return IN_MEMORY
    return None  # the system's temporary directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RssSampler:
    """Resident memory of a process and all its children, sampled in the background."""

    pid: int
    interval: float = RSS_SAMPLE_SECONDS
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: "asyncio.Task[None] | None" = None

    def sample(self) -> int | None:
        try:
            process = psutil.Process(self.pid)
            processes = [process, *process.children(recursive=True)]
        except psutil.Error:
            return None
        total = 0
        for each in processes:
            with contextlib.suppress(psutil.Error):  # a child that just ended
                total += int(each.memory_info().rss)
        self.samples.append((time.monotonic(), total))
        return total

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def peak(self, since: float = 0.0, until: float = float("inf")) -> int | None:
        """The highest sample taken between two `time.monotonic()` instants (bytes)."""
        window = [rss for at, rss in self.samples if since <= at <= until]
        return max(window) if window else None


def _cpu_seconds_with_children(pid: int) -> float:
    """A process's CPU time with its children's, those still running and those it has waited
    for (PostgreSQL's backends come and go); 0 for a process that is gone."""
    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
        own = process.cpu_times()
    except psutil.Error:
        return 0.0
    total = float(own.children_user + own.children_system)
    for each in processes:
        with contextlib.suppress(psutil.Error):  # a child that just ended
            times = each.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class BenchmarkStack:
    root: Path
    key_ring: KeyRing
    postgres: LocalPostgres
    database_url: str
    settings: Settings  # what a client of this stack connects with
    key_file: Path
    client: Client | None = None
    dev_server: DevServer | None = None
    worker: ChildProcess | None = None  # the first worker, whose memory is sampled
    workers: list[ChildProcess] = field(default_factory=list)  # every worker process
    rss: RssSampler | None = None
    keep: bool = False  # set when a measurement failed: the directory stays, for its logs

    def engine_pids(self) -> list[int]:
        """The engine's processes: every worker, the Temporal dev server and PostgreSQL."""
        pids = [worker.pid for worker in self.workers]
        if self.dev_server is not None:
            pids.append(self.dev_server.process.pid)
        pids.append(self.postgres.process.pid)
        return [pid for pid in pids if pid is not None]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far (user and system, seconds) by each part of the stack: the
        Temporal dev server, every worker, PostgreSQL with its backends, and this process (the
        load it sends). Differences between two calls give what a stretch of work cost each."""
        parts: dict[str, list[int | None]] = {
            "temporal": [] if self.dev_server is None else [self.dev_server.process.pid],
            "workers": [worker.pid for worker in self.workers],
            "postgresql": [self.postgres.process.pid],
        }
        used = {
            part: sum(_cpu_seconds_with_children(pid) for pid in pids if pid is not None)
            for part, pids in parts.items()
        }
        own = psutil.Process().cpu_times()  # not its children: they are the parts above
        used["benchmark"] = own.user + own.system
        return used

    def require_client(self) -> Client:
        if self.client is None:
            raise RuntimeError("this measurement needs the Temporal dev server and the worker")
        return self.client

    async def start_worker(self) -> ChildProcess:
        """Another worker process on the task queue, once Temporal sees it polling."""
        number = len(self.workers) + 1
        worker = ChildProcess(
            f"benchmark worker {number}",
            _worker_argv(self.settings, self.key_file),
            self.root / "logs" / ("worker.log" if number == 1 else f"worker-{number}.log"),
        )
        self.workers.append(worker)
        await worker.start()
        await self._polling(worker)
        return worker

    async def kill_and_restart(self, worker: ChildProcess) -> None:
        """SIGKILL a worker, start it again and wait until it polls."""
        await worker.kill()
        await worker.start()
        await self._polling(worker)

    async def restart(self, worker: ChildProcess) -> None:
        """Stop a worker as a deployment does (SIGTERM, its shutdown), start it again and wait
        until it polls: a fresh process with an empty cache. The memory sampled is then the new
        process's when it is the first worker."""
        await worker.stop(30)
        await worker.start()
        await self._polling(worker)
        if worker is self.worker and self.rss is not None and worker.pid is not None:
            self.rss.pid = worker.pid

    async def _polling(self, worker: ChildProcess) -> None:
        try:
            await wait_for_poller(
                self.require_client(), self.settings.task_queue, timeout=60, pid=worker.pid
            )
        except StartupError:
            raise StartupError(f"the {worker.name} did not start: {worker.log_tail(3)}") from None

    async def stop_workers(self) -> None:
        for worker in self.workers:
            await worker.stop(30)

    async def create_database(self, name: str) -> str:
        """Another migrated database on the same PostgreSQL (for the time-skipping lifecycle)."""
        url = await self.postgres.create_database(name)
        await migrate_database(url)
        return url


def _worker_argv(settings: Settings, key_file: Path) -> list[str]:
    """`env -i` with only what the worker needs: ChildProcess passes no environment of its own,
    and the key ring travels as a file (mode 0600), never on a command line."""
    variables = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    # The worker's tuning (WORKER_*), so a setting can be tried out with the benchmark.
    variables |= {name: value for name, value in os.environ.items() if name.startswith("WORKER_")}
    variables |= {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "TASK_QUEUE": settings.task_queue,
        "DATABASE_URL": settings.database_url or "",
        "REMEDIATION_KEY_FILE": str(key_file),
        "REMEDIATION_DATA_DIR": str(settings.data_dir),
        "REMEDIATION_REPORTS_DIR": str(settings.effective_reports_dir),
        "MIGRATE_ON_START": "false",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
        "SHUTDOWN_GRACE_SECONDS": "5",
        "NOTIFY_CHANNEL": "log",
    }
    # The benchmark is not installed: the worker imports it from the checkout it runs from.
    variables["PYTHONPATH"] = os.pathsep.join(
        path for path in (str(PROJECT_ROOT), variables.get("PYTHONPATH")) if path
    )
    return [
        "env",
        "-i",
        *(f"{name}={value}" for name, value in variables.items()),
        sys.executable,
        "-m",
        "benchmarks.worker",
    ]


def _write_key_file(path: Path, ring: KeyRing) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(ring.to_json())


@contextlib.asynccontextmanager
async def benchmark_stack(
    *, with_temporal: bool, progress: Progress
) -> AsyncIterator[BenchmarkStack]:
    """Start what the chosen measurements need; stop it all and remove the directory after.

    The directory is kept when the benchmark fails, so its logs can be read.
    """
    root = Path(tempfile.mkdtemp(prefix="remediation-benchmark-", dir=_scratch_parent()))
    logs = root / "logs"
    logs.mkdir()
    ring = KeyRing.single()
    key_file = root / "keys.json"
    _write_key_file(key_file, ring)
    failed = False
    stack: BenchmarkStack | None = None
    try:
        async with AsyncExitStack() as running:
            postgres = LocalPostgres(
                root / "postgres", port=free_port(), log_path=logs / "postgres.log"
            )
            running.push_async_callback(postgres.stop)
            await postgres.start()
            database_url = await postgres.create_database(DATABASE_NAME)
            await migrate_database(database_url)
            progress(f"PostgreSQL ready on port {postgres.port}")
            settings = load_settings(
                temporal_address="127.0.0.1:7233",
                temporal_namespace="default",
                task_queue=TASK_QUEUE,
                database_url=database_url,
                remediation_keys=ring.to_json(),
                remediation_key_file=None,
                data_dir=root,
                reports_dir=root / "reports",
                policy_file=None,
                temporal_tls=False,
                temporal_api_key=None,
                temporal_tls_ca_cert=None,
                temporal_tls_client_cert=None,
                temporal_tls_client_key=None,
            )
            stack = BenchmarkStack(root, ring, postgres, database_url, settings, key_file)
            if with_temporal:
                await _start_temporal(stack, running, progress)
            yield stack
    except BaseException:
        failed = True
        raise
    finally:
        if failed or (stack is not None and stack.keep):
            progress(f"benchmark directory kept for its logs: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


async def _start_temporal(
    stack: BenchmarkStack, running: AsyncExitStack, progress: Progress
) -> None:
    root = stack.root
    dev_server = DevServer(
        DevServerConfig(
            db_file=root / "temporal.sqlite",
            log_path=root / "logs" / "temporal.log",
            port=free_port(),
            ui_port=free_port(),
            http_port=free_port(),
            namespace=stack.settings.temporal_namespace,
        )
    )
    running.push_async_callback(dev_server.stop)
    await dev_server.start()
    stack.dev_server = dev_server
    stack.settings = stack.settings.model_copy(
        update={"temporal_address": dev_server.config.address}
    )
    progress(f"Temporal dev server ready on {dev_server.config.address}")
    stack.client = await connect(stack.settings)
    running.push_async_callback(stack.stop_workers)
    worker = await stack.start_worker()
    stack.worker = worker
    assert worker.pid is not None
    stack.rss = RssSampler(worker.pid)
    stack.rss.start()
    running.push_async_callback(stack.rss.stop)
    progress(f"worker polling (pid {worker.pid})")


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by these processes and their children (user and system)."""
    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for each in family:
            with contextlib.suppress(psutil.Error):  # a child that just ended
                times = each.cpu_times()
                total += times.user + times.system
    return total
