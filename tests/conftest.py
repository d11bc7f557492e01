"""Shared fixtures: the real stack, started once per session where it can be shared.

- a Temporal dev server (the pip-installed CLI) with the engine's search attributes;
- a time-skipping test server per test (time skipping is server-wide);
- an embedded PostgreSQL server per session, with a fresh database per test module.

Every test that needs a server (one of SERVER_FIXTURES, directly or through another fixture, or a
module in SERVER_MODULES that starts its own) is marked `server`; `make check` runs the rest
(`pytest -m "not server"`), `make test` runs everything.
"""

import asyncio
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.database import open_pool
from workers.devstack.dev_server import IN_FLIGHT_UPDATES_KEY, IN_FLIGHT_UPDATES_MAX, temporal_cli
from workers.devstack.local_postgres import LocalPostgres
from workers.encryption import encrypted_data_converter
from workers.keyring import KeyRing
from workers.logs import configure_logging
from workers.migrations import apply_migrations
from workers.settings import LogFormat, load_settings
from workers.worker import build_worker
from workflows import search_attributes

# The fixtures that start a server; every server fixture below depends on one of them.
SERVER_FIXTURES = frozenset({"temporal_env", "time_skipping_env", "postgres_server"})
# Modules whose tests start servers or the whole stack themselves, in subprocesses.
SERVER_MODULES = frozenset(
    {
        "test_benchmark",
        "test_faults",
        "test_local_stack",
        "test_soak",
        "test_web_ui",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = (
            item.module.__name__.rsplit(".", 1)[-1] if isinstance(item, pytest.Function) else ""
        )
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in SERVER_MODULES or fixtures & SERVER_FIXTURES:
            item.add_marker(pytest.mark.server)


# How each phase of a test ended ("setup", "call", "teardown"), for fixtures that keep evidence
# of a failure at teardown (the Web UI test's screenshots).
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def did_fail(request: pytest.FixtureRequest) -> bool:
    """In a fixture's teardown: whether the test it served failed (or never ran)."""
    reports = request.node.stash.get(PHASE_REPORTS, {})
    return any(report.failed for report in reports.values()) or "call" not in reports


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every probe stays bound until all are, so two of them can
    never be the same port (a server refuses, say, its UI on its frontend's port)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def installed_binary(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run `make test`")
    return found


# The suite runs encrypted, as production does: a fixed key ring (never a real one) for every
# client, worker and `remediation` subprocess of the tests. Two keys, as after one rotation.
TEST_KEY_RING = KeyRing(
    "test-2",
    {
        name: hashlib.sha256(f"remediation {name}".encode()).digest()
        for name in ("test-1", "test-2")
    },
)
TEST_DATA_CONVERTER = encrypted_data_converter(TEST_KEY_RING)


@pytest.fixture(scope="session", autouse=True)
def test_key_ring() -> Iterator[KeyRing]:
    """REMEDIATION_KEYS for the whole session, so settings and subprocesses encrypt too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REMEDIATION_KEYS", TEST_KEY_RING.to_json())
        # Reports of monitoring runs go to a temporary directory, never the project's .data/.
        patch.setenv("REMEDIATION_REPORTS_DIR", tempfile.mkdtemp(prefix="remediation-reports-"))
        patch.delenv("REMEDIATION_KEY_FILE", raising=False)
        yield TEST_KEY_RING


# The session's dev server serves Temporal's HTTP API here, so tests send messages the way an
# integration without an SDK does (plain JSON, no codec).
HTTP_API_PORT = free_port()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=TEST_DATA_CONVERTER,
        dev_server_extra_args=[
            "--http-port",
            str(HTTP_API_PORT),
            "--dynamic-config-value",
            f"{IN_FLIGHT_UPDATES_KEY}={IN_FLIGHT_UPDATES_MAX}",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def http_api(temporal_env: WorkflowEnvironment) -> str:
    """The base URL of the session dev server's HTTP API, namespace included."""
    return f"http://127.0.0.1:{HTTP_API_PORT}/api/v1/namespaces/{temporal_env.client.namespace}"


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"),
        data_converter=TEST_DATA_CONVERTER,
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type)
                for key in search_attributes.ALL
            },
        )
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[LocalPostgres]:
    root = Path(tempfile.mkdtemp(prefix="remediation-test-pg-"))
    server = LocalPostgres(root / "data", port=free_port(), log_path=root / "postgres.log")
    await server.start()
    yield server
    await server.stop()
    shutil.rmtree(root, ignore_errors=True)


CreateDatabase = Callable[[], Awaitable[str]]


@pytest.fixture
async def create_database(postgres_server: LocalPostgres) -> AsyncIterator[CreateDatabase]:
    """A factory of empty databases (no migrations), dropped after the test."""
    created: list[str] = []

    async def create() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        created.append(name)
        return await postgres_server.create_database(name)

    yield create
    await _drop(postgres_server, created)


async def _drop(server: LocalPostgres, names: list[str]) -> None:
    connection = await asyncpg.connect(server.url())
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def database_url(
    postgres_server: LocalPostgres, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A fresh, migrated database for the test module."""
    module = request.module.__name__.rsplit(".", 1)[-1].lower()
    name = f"{module[:40]}_{uuid.uuid4().hex[:8]}"
    url = await postgres_server.create_database(name)
    connection = await asyncpg.connect(url)
    try:
        await apply_migrations(connection)
    finally:
        await connection.close()
    yield url
    await _drop(postgres_server, [name])


@pytest.fixture(scope="module")
async def register_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await open_pool(database_url)
    yield pool
    await pool.close()


@dataclass
class Engine:
    """A real worker of the engine on the session's dev server, with its own task queue."""

    client: Client
    task_queue: str
    pool: asyncpg.Pool


@pytest.fixture(scope="module")
async def engine(
    temporal_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> AsyncIterator[Engine]:
    task_queue = f"engine-{uuid.uuid4().hex[:8]}"
    settings = load_settings(task_queue=task_queue, database_url="postgresql://unused")
    worker = build_worker(temporal_env.client, settings, register_pool)
    async with worker:
        yield Engine(temporal_env.client, task_queue, register_pool)


PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


Cli = Callable[..., Awaitable[Ran]]


async def run_remediation(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> Ran:
    """`remediation ARGS...` in a subprocess, as an operator runs it (environment: this
    process's, overlaid by `env`)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
    )
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


@pytest.fixture
def cli(
    temporal_env: WorkflowEnvironment,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Cli:
    """Run `remediation ARGS...` pointed at the test's dev server and engine."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("TASK_QUEUE", engine.task_queue)
    monkeypatch.setenv("REMEDIATION_DATA_DIR", str(tmp_path / "data"))

    async def run(*args: str, stdin: str | None = None) -> Ran:
        return await run_remediation(*args, stdin=stdin)

    return run


# --- A local webhook receiver ----------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """A header by name, case-insensitively (as HTTP names are)."""
        [value] = [value for key, value in self.headers.items() if key.lower() == name.lower()]
        return value


@dataclass
class Receiver:
    """Records every POST; answers 503 to the next `failures` requests, 204 afterwards."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures = count

    def record(self, request: Received) -> int:
        with self.lock:
            self.requests.append(request)
            if self.failures > 0:
                self.failures -= 1
                return 503
            return 204


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.record(Received(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/remediation"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
async def json_log() -> AsyncIterator[io.StringIO]:
    """What the process logs during the test, as JSON lines (the worker's own format)."""
    stream = io.StringIO()
    configure_logging(LogFormat.JSON, stream=stream)
    yield stream
    configure_logging(LogFormat.CONSOLE)
