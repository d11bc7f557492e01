"""The worker in production: probes, metrics, tuning, migrations by a release step, TLS to Temporal.

Everything runs against the real stack: the session's Temporal dev server, the embedded
PostgreSQL, real HTTP on free ports, and real TLS (certificates made here) in front of Temporal.
"""

import asyncio
import io
import json
import re
import signal
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import SecretStr
from temporalio import activity, workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum

from activities.notifications import NotifyChannel
from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.policy import MilestoneKind, PerSeverity, Policy, default_deadlines
from tests.conftest import TEST_KEY_RING, CreateDatabase, Receiver, free_port, run_remediation
from tests.test_worker import _worker_process
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.codec_server import start_codec_server
from workers.devstack import examples
from workers.errors import StartupError
from workers.health import WorkerHealth
from workers.logs import configure_logging
from workers.metrics import metrics_runtime
from workers.settings import LogFormat, Settings
from workers.temporal_client import connect
from workers.worker import build_worker, serve
from workflows import metrics

# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


async def get(url: str) -> Answer | None:
    """GET `url`; None when nothing listens there."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url) as response,
        ):
            text = await response.text()
            is_json = response.content_type == "application/json"
            return Answer(response.status, json.loads(text) if is_json else text)
    except aiohttp.ClientConnectionError:
        return None


async def answer(url: str) -> Answer:
    got = await get(url)
    assert got is not None, f"nothing listens at {url}"
    return got


async def pollers(client: Client, task_queue: str) -> int:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers)


def worker_settings(env: WorkflowEnvironment, database_url: str, **changes: Any) -> Settings:
    return Settings(
        temporal_address=env.client.service_client.config.target_host,
        temporal_namespace=env.client.namespace,
        task_queue=f"ops-{uuid.uuid4().hex[:8]}",
        database_url=database_url,
        shutdown_grace_seconds=10,
        ops_bind_host="127.0.0.1",
        **changes,
    )


@dataclass
class Running:
    settings: Settings
    stop: asyncio.Event
    task: "asyncio.Task[None]"

    def url(self, path: str) -> str:
        port = self.settings.metrics_port if path == "/metrics" else self.settings.health_port
        return f"http://127.0.0.1:{port}{path}"


@asynccontextmanager
async def running_worker(settings: Settings, **options: Any) -> AsyncIterator[Running]:
    """`serve()` in this process, stopped (gracefully) at the end."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, **options))
    try:
        yield Running(settings, stop, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def ready(worker: Running) -> Answer | None:
    got = await get(worker.url("/readyz"))
    return got if got is not None and got.status == 200 else None


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(LogFormat.JSON, stream=stream)
    yield stream
    configure_logging(LogFormat.CONSOLE)


def log_events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class Proxy:
    """A TCP proxy that can hold every byte (a register that stops answering without closing its
    connections), optionally terminating TLS in front of a plain-text server."""

    def __init__(self, upstream: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.tls = tls
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> "Proxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            for end in (writer, up_writer):
                end.close()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self.flowing.wait()
            writer.write(data)
            await writer.drain()
        with suppress(OSError):
            writer.write_eof()


def via(proxy: Proxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))


def database_address(database_url: str) -> tuple[str, int]:
    parts = urlsplit(database_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


# --- tuning -----------------------------------------------------------------------------------


async def test_tuning_settings_reach_the_sdk_worker(
    temporal_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    settings = worker_settings(
        temporal_env,
        "postgresql://unused",
        worker_max_concurrent_activities=7,
        worker_max_concurrent_workflow_tasks=9,
        worker_max_cached_workflows=11,
        worker_max_concurrent_activity_polls=3,
        worker_max_concurrent_workflow_task_polls=4,
        worker_sticky_queue_timeout_seconds=2.5,
    )
    config = build_worker(temporal_env.client, settings, register_pool).config()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_concurrent_workflow_tasks") == 9
    assert config.get("max_cached_workflows") == 11
    assert config.get("activity_task_poller_behavior") == PollerBehaviorSimpleMaximum(maximum=3)
    assert config.get("workflow_task_poller_behavior") == PollerBehaviorSimpleMaximum(maximum=4)
    assert config.get("sticky_queue_schedule_to_start_timeout") == timedelta(seconds=2.5)
    assert config.get("graceful_shutdown_timeout") == timedelta(seconds=10)


# --- probes -----------------------------------------------------------------------------------


@activity.defn(name="ops_hold")
async def hold(seconds: float) -> str:
    """In flight while the worker shuts down: the grace period lets it finish."""
    await asyncio.sleep(seconds)
    return "finished"


@workflow.defn(name="OpsHoldWorkflow", sandboxed=False)
class HoldWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        result: str = await workflow.execute_activity(
            "ops_hold", seconds, start_to_close_timeout=timedelta(minutes=1), result_type=str
        )
        return result


async def test_readiness_follows_polling_the_register_its_schema_and_shutdown(
    temporal_env: WorkflowEnvironment, database_url: str, register_pool: asyncpg.Pool
) -> None:
    async with Proxy(database_address(database_url)) as register:
        settings = worker_settings(
            temporal_env, via(register, database_url), health_port=free_port()
        )
        async with running_worker(
            settings, extra_workflows=[HoldWorkflow], extra_activities=[hold]
        ) as worker:
            body = (
                await eventually(
                    lambda: ready(worker), "the worker ready", timeout=30, interval=0.1
                )
            ).body
            assert body == {
                "status": "ready",
                "checks": {
                    "worker": {"ok": True},
                    "register": {"ok": True},
                    "schema": {"ok": True},
                },
            }
            assert await pollers(temporal_env.client, settings.task_queue) > 0
            alive = await answer(worker.url("/healthz"))
            assert (alive.status, alive.body) == (200, {"status": "alive"})

            # A register that stops answering: not ready within the check's timeout, still alive.
            register.flowing.clear()
            stalled = await answer(worker.url("/readyz"))
            assert stalled.status == 503
            assert stalled.body["failing"] == ["register", "schema"]
            assert stalled.body["checks"]["register"] == {
                "ok": False,
                "detail": "no answer within 2 s",
            }
            assert (await answer(worker.url("/healthz"))).status == 200
            register.flowing.set()
            await eventually(
                lambda: ready(worker),
                "ready again once the register answers",
                timeout=30,
                interval=0.1,
            )

            # A schema behind this release (as a rollback of the ledger would leave it).
            latest = await register_pool.fetchrow(
                "DELETE FROM schema_migrations WHERE version = "
                "(SELECT max(version) FROM schema_migrations) RETURNING *"
            )
            assert latest is not None
            try:
                behind = await answer(worker.url("/readyz"))
                assert behind.status == 503 and behind.body["failing"] == ["schema"]
                expected = f"{latest['version']:04d}_{latest['name']}"
                assert behind.body["checks"]["schema"]["pending"] == [expected]
            finally:
                await register_pool.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                    "VALUES ($1, $2, $3, $4)",
                    *latest.values(),
                )
            await eventually(
                lambda: ready(worker), "ready again once migrated", timeout=30, interval=0.1
            )

            # Shutdown: not ready at once, while the in-flight activity finishes its grace period.
            handle = await temporal_env.client.start_workflow(
                HoldWorkflow.run, 3.0, id=f"ops-hold-{uuid.uuid4()}", task_queue=settings.task_queue
            )
            await eventually(
                lambda: _activity_started(handle.id, temporal_env),
                "the activity runs",
                timeout=30,
                interval=0.1,
            )
            worker.stop.set()
            leaving = await answer(worker.url("/readyz"))
            assert leaving.status == 503
            assert leaving.body == {
                "status": "not ready",
                "checks": {"shutdown": {"ok": False, "detail": "the worker is shutting down"}},
                "failing": ["shutdown"],
            }
            assert (await answer(worker.url("/healthz"))).status == 200
            assert not worker.task.done()  # still within its grace period
            await asyncio.wait_for(worker.task, 30)
        # The endpoint closes with the worker.
        assert await get(worker.url("/healthz")) is None
    # The activity finished within the grace period (its workflow waits for another worker).
    events = [event async for event in handle.fetch_history_events()]
    assert any(event.HasField("activity_task_completed_event_attributes") for event in events)
    await handle.terminate("test over")


async def _activity_started(workflow_id: str, env: WorkflowEnvironment) -> bool:
    description = await env.client.get_workflow_handle(workflow_id).describe()
    return bool(description.raw_description.pending_activities)


async def test_liveness_is_503_once_the_worker_died_on_its_own(
    temporal_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    worker = build_worker(
        temporal_env.client, worker_settings(temporal_env, "postgresql://unused"), register_pool
    )

    async def dies() -> None:
        raise RuntimeError("Worker poll failure: the namespace was deleted")

    died = asyncio.create_task(dies())
    await asyncio.wait([died])
    health = WorkerHealth("postgresql://unused")
    assert health.liveness().ok
    health.worker_started(worker, died)
    probe = health.liveness()
    assert (probe.status, probe.body) == (
        503,
        {"status": "dead", "reason": "the worker stopped: RuntimeError"},
    )
    health.shutdown_began()  # a worker that stopped because it was told to is not dead
    assert health.liveness().ok


async def test_readiness_names_a_register_that_refuses_connections() -> None:
    with socket_bound() as port:  # listening, then closed: nothing answers there any more
        pass
    health = WorkerHealth(f"postgresql://postgres:a-password@127.0.0.1:{port}/register")
    probe = await health.readiness()
    assert probe.status == 503
    assert probe.body["failing"] == ["worker", "register", "schema"]
    assert probe.body["checks"]["register"]["detail"].startswith("unreachable (")
    assert "a-password" not in json.dumps(probe.body) and str(port) not in json.dumps(probe.body)


@dataclass(frozen=True)
class SilentRegister:
    url: str
    connections: list[asyncio.StreamWriter]

    async def connected(self) -> bool:
        return bool(self.connections)


@asynccontextmanager
async def silent_register() -> AsyncIterator[SilentRegister]:
    """A register that accepts connections and never answers (a stalled server)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SilentRegister(f"postgresql://postgres:a-password@127.0.0.1:{port}/register", held)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


SHUTTING_DOWN = {
    "status": "not ready",
    "checks": {"shutdown": {"ok": False, "detail": "the worker is shutting down"}},
    "failing": ["shutdown"],
}


async def test_readiness_is_503_from_the_moment_the_stop_event_is_set() -> None:
    stop = asyncio.Event()
    async with silent_register() as register:
        health = WorkerHealth(register.url, register_check_seconds=0.5, stop=stop)
        stop.set()  # SIGTERM, before serve() has even started the worker
        probe = await asyncio.wait_for(health.readiness(), 0.2)  # at once: no register check
        assert (probe.status, probe.body) == (503, SHUTTING_DOWN)
        assert health.liveness().ok  # told to stop: not dead


async def test_a_probe_in_flight_when_shutdown_begins_never_answers_ready() -> None:
    stop = asyncio.Event()
    async with silent_register() as register:
        health = WorkerHealth(register.url, register_check_seconds=0.5, stop=stop)
        started = asyncio.get_running_loop().time()
        probing = asyncio.create_task(health.readiness())
        await eventually(register.connected, "the probe waiting for the register")
        stop.set()
        probe = await probing
        assert (probe.status, probe.body) == (503, SHUTTING_DOWN)
        # Bounded by the register check's budget, however the register behaves.
        assert asyncio.get_running_loop().time() - started < 1.0


async def test_a_worker_told_to_stop_while_starting_never_polls(
    temporal_env: WorkflowEnvironment, database_url: str, json_log: io.StringIO
) -> None:
    settings = worker_settings(temporal_env, database_url)  # MIGRATE_ON_START: the default
    stop = asyncio.Event()
    stop.set()  # SIGTERM while it connects and migrates
    await asyncio.wait_for(serve(settings, stop), 30)
    events = [line["event"] for line in log_events(json_log)]
    assert "worker stopped before it started polling" in events
    assert "worker polling" not in events
    assert await pollers(temporal_env.client, settings.task_queue) == 0


def test_the_metrics_runtime_is_made_once_per_process_and_address() -> None:
    settings = Settings(metrics_port=free_port(), ops_bind_host="127.0.0.1")
    first = metrics_runtime(settings)
    assert first is not None
    # A second serve() in this process reuses it instead of failing on its own earlier port.
    assert metrics_runtime(settings) is first
    assert metrics_runtime(Settings(ops_bind_host="127.0.0.1")) is None


# --- migrations by a release step ---------------------------------------------------------------


async def test_without_migrate_on_start_the_worker_waits_for_the_migration_job(
    temporal_env: WorkflowEnvironment, create_database: CreateDatabase, json_log: io.StringIO
) -> None:
    url = await create_database()  # empty: the release's migration job has not run yet
    env = {"DATABASE_URL": url}
    pending = await run_remediation("db", "status", "--check", "--json", env=env)
    assert pending.code == 1 and "migration(s) pending" in pending.stderr
    assert all(row["applied_at"] is None for row in pending.json)

    settings = worker_settings(temporal_env, url, migrate_on_start=False, health_port=free_port())
    # Stopped while waiting: it never polls and ends cleanly.
    async with running_worker(settings, schema_poll_seconds=0.2) as early:
        await eventually(
            lambda: get(early.url("/healthz")), "the probes answer", timeout=30, interval=0.1
        )
        early.stop.set()
        await asyncio.wait_for(early.task, 10)
    assert await pollers(temporal_env.client, settings.task_queue) == 0

    async with running_worker(settings, schema_poll_seconds=0.2) as worker:
        waiting = await eventually(
            lambda: get(worker.url("/readyz")), "the probes answer", timeout=30, interval=0.1
        )
        assert waiting.status == 503
        assert waiting.body["failing"] == ["worker", "schema"]
        assert (await answer(worker.url("/healthz"))).status == 200  # alive: never restarted

        async def looked_three_times() -> bool:
            return _count(json_log, "register schema is behind") >= 3

        await eventually(looked_three_times, "a log line per look", timeout=30, interval=0.1)
        assert not worker.task.done()
        assert await pollers(temporal_env.client, settings.task_queue) == 0

        migrated = await run_remediation("db", "migrate", env=env)
        assert migrated.code == 0, migrated.stderr

        await eventually(lambda: ready(worker), "ready once migrated", timeout=30, interval=0.1)
        assert await pollers(temporal_env.client, settings.task_queue) > 0
    assert (await run_remediation("db", "status", "--check", env=env)).code == 0
    events = [line["event"] for line in log_events(json_log)]
    assert "register migrated; the worker starts" in events
    assert events.index("register migrated; the worker starts") < events.index("worker polling")


def _count(stream: io.StringIO, prefix: str) -> int:
    return sum(1 for line in log_events(stream) if line["event"].startswith(prefix))


# --- metrics ------------------------------------------------------------------------------------

Sample = tuple[str, dict[str, str], float]
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_scrape(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = _SAMPLE.match(line)
        assert match is not None, line
        labels = dict(_LABEL.findall(match["labels"] or ""))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples if n == name and labels.items() <= ls.items())


def short_acknowledge_window(seconds: float) -> Policy:
    window = timedelta(seconds=seconds)
    deadlines = default_deadlines()
    deadlines[MilestoneKind.ACKNOWLEDGE] = PerSeverity(
        critical=window, high=window, medium=window, low=window
    )
    return Policy(version="ops-short-window", deadlines=deadlines)


async def test_metrics_endpoint_serves_the_sdk_metrics_and_the_engine_counters(
    temporal_env: WorkflowEnvironment, database_url: str, receiver: Receiver
) -> None:
    client = temporal_env.client
    settings = worker_settings(
        temporal_env,
        database_url,
        metrics_port=free_port(),
        # No cache: every workflow task replays the whole history, so a counter that counted
        # during replay would count more than once.
        worker_max_cached_workflows=0,
        worker_max_concurrent_workflow_task_polls=1,
        notify_channel=NotifyChannel.WEBHOOK,
        notify_webhook_url=receiver.url,
        notify_webhook_secret=SecretStr("a-webhook-secret-for-tests"),
    )
    receiver.fail_next(1)  # the first notification's first delivery fails
    async with running_worker(settings) as worker:
        await eventually(
            lambda: pollers(client, settings.task_queue),
            "the worker polls",
            timeout=30,
            interval=0.1,
        )
        intake = Intake.model_validate(examples.intake())
        incident_id = await incidents.open_incident(
            client, intake, task_queue=settings.task_queue, policy=short_acknowledge_window(3)
        )
        # Refused as an update (verification comes after acknowledge) and as a signal (nothing
        # awaits approval).
        with pytest.raises(incidents.DecisionRejected):
            await incidents.decide(
                client, incident_id, DecisionKind.VERIFICATION, examples.verification()
            )
        await incidents.signal(
            client, incident_id, DecisionKind.APPROVE, examples.approve("response-1")
        )

        async def scrape() -> list[Sample] | None:
            got = await answer(worker.url("/metrics"))
            samples = parse_scrape(got.body)
            ours = {"task_queue": settings.task_queue}
            complete = (
                value(samples, metrics.ESCALATIONS, level="1", **ours) >= 1
                and value(samples, metrics.DECISIONS_REFUSED, kind="approve", **ours) >= 1
                and value(samples, metrics.NOTIFICATIONS_FAILED, **ours) >= 1
            )
            return samples if complete else None

        await eventually(
            scrape, "the escalation, refusals and failed delivery counted", timeout=30, interval=0.1
        )
        # Another event planted under the sequence the incident writes next: the register
        # refuses that write loudly (whichever event it is), never "already recorded".
        await _plant_next_event(database_url, incident_id)
        with suppress(incidents.DecisionRejected, WorkflowUpdateFailedError, WorkflowFailureError):
            await incidents.decide(
                client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
            )

        async def conflict_counted() -> list[Sample] | None:
            samples = parse_scrape((await answer(worker.url("/metrics"))).body)
            counted = value(samples, metrics.REGISTER_CONFLICTS, task_queue=settings.task_queue)
            return samples if counted >= 1 else None

        samples = await eventually(
            conflict_counted, "the refused register write counted", timeout=30, interval=0.1
        )
        text = (await answer(worker.url("/metrics"))).body
    ours = {"task_queue": settings.task_queue, "namespace": client.namespace}
    incident = {"workflow_type": "IncidentWorkflow", **ours}
    # Exactly once each, however many times the workflow's code replayed.
    assert value(samples, metrics.INCIDENTS_OPENED, **incident) == 1
    assert value(samples, metrics.DECISIONS_REFUSED, kind="verification", **incident) == 1
    assert value(samples, metrics.DECISIONS_REFUSED, kind="approve", **incident) == 1
    assert value(samples, metrics.ESCALATIONS, level="1", **incident) == 1
    assert (
        value(
            samples,
            metrics.NOTIFICATIONS_FAILED,
            channel="webhook",
            # The first attempt is made by the activity that records the event.
            activity_type="record_event_and_deliver",
            **ours,
        )
        == 1
    )
    assert value(samples, metrics.REGISTER_CONFLICTS, **ours) == 1
    names = {name for name, _, _ in samples}
    assert set(metrics.ALL) <= names
    # The SDK's own metrics, under its prefix.
    assert {"temporal_request", "temporal_worker_task_slots_available"} <= names
    # Only fixed vocabularies in labels: never the incident, its reference or a payload.
    assert incident_id not in text and intake.external_reference not in text
    ours_labels = {label for name, labels, _ in samples if name in metrics.ALL for label in labels}
    assert ours_labels <= {
        "service_name",
        "namespace",
        "task_queue",
        "workflow_type",
        "activity_type",
        "kind",
        "level",
        "channel",
    }


async def _plant_next_event(database_url: str, incident_id: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            INSERT INTO incident_events
                (incident_id, sequence, kind, outcome, actor_id, actor_roles, occurred_at,
                 summary, payload)
            SELECT incident_id, last_sequence + 1, 'note', 'recorded', 'someone-else', '{}',
                   clock_timestamp(), 'planted', '{}'::jsonb
            FROM incidents WHERE incident_id = $1
            """,
            incident_id,
        )
    finally:
        await connection.close()


async def test_ops_ports_in_use_are_one_line_errors(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    with socket_bound() as port:
        for field_name in ("health_port", "metrics_port"):
            settings = worker_settings(temporal_env, database_url, **{field_name: port})
            with pytest.raises(StartupError, match=f"{field_name.upper()} or OPS_BIND_HOST"):
                await serve(settings, asyncio.Event())


@contextmanager
def socket_bound() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


# --- the real process ---------------------------------------------------------------------------


async def test_worker_process_serves_probes_and_metrics_and_closes_them_on_sigterm(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    health_port, metrics_port = free_port(), free_port()
    task_queue = f"ops-cmd-{uuid.uuid4().hex[:8]}"
    process = _worker_process(
        {
            "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
            "HEALTH_PORT": str(health_port),
            "METRICS_PORT": str(metrics_port),
            "OPS_BIND_HOST": "127.0.0.1",
            "MIGRATE_ON_START": "false",
        }
    )
    readyz = f"http://127.0.0.1:{health_port}/readyz"
    scrape = f"http://127.0.0.1:{metrics_port}/metrics"
    try:

        async def is_ready() -> bool:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            got = await get(readyz)
            return got is not None and got.status == 200

        await eventually(is_ready, "the worker process ready", timeout=30, interval=0.1)
        assert "temporal_worker_task_slots_available" in (await answer(scrape)).body
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert await get(readyz) is None and await get(scrape) is None
    events = {json.loads(line)["event"] for line in stderr.splitlines()}
    assert {"health endpoints listening", "metrics endpoint listening", "worker stopped"} <= events


# --- the codec server's probe -------------------------------------------------------------------


async def test_the_codec_server_answers_its_probe_without_a_token() -> None:
    port = free_port()
    runner = await start_codec_server(
        TEST_KEY_RING, "a-codec-token-for-tests", "http://localhost:8233", "127.0.0.1", port
    )
    try:
        probe = await answer(f"http://127.0.0.1:{port}/healthz")
        assert (probe.status, probe.body) == (200, {"status": "ok"})
        assert (await answer(f"http://127.0.0.1:{port}/decode")).status == 404  # GET: no route
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{port}/decode", json={"payloads": []}) as refused,
        ):
            assert refused.status == 401  # the codec itself still needs the token
    finally:
        await runner.cleanup()


# --- TLS to Temporal ----------------------------------------------------------------------------

SERVER_NAME = "temporal.test"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    dns: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for SERVER_NAME and a client certificate, made for the test."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("remediation test CA", ca_key, None)
    server_key, client_key = _key(), _key()
    server = _certificate(
        SERVER_NAME,
        server_key,
        (ca, ca_key),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        dns=SERVER_NAME,
    )
    client = _certificate(
        "remediation-worker", client_key, (ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    pem = serialization.Encoding.PEM
    (root / "ca.pem").write_bytes(ca.public_bytes(pem))
    (root / "server.pem").write_bytes(server.public_bytes(pem))
    (root / "client.pem").write_bytes(client.public_bytes(pem))
    return Pki(
        ca=root / "ca.pem",
        server_cert=root / "server.pem",
        server_key=_write_key(root / "server.key", server_key),
        client_cert=root / "client.pem",
        client_key=_write_key(root / "client.key", client_key),
    )


def _server_tls(pki: Pki, *, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.set_alpn_protocols(["h2"])  # gRPC runs over HTTP/2
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


def _temporal_address(env: WorkflowEnvironment) -> tuple[str, int]:
    host, port = env.client.service_client.config.target_host.rsplit(":", 1)
    return host, int(port)


async def test_mtls_with_a_server_name_override(
    temporal_env: WorkflowEnvironment, pki: Pki
) -> None:
    """mTLS as a secured cluster asks: the CA verifies a certificate issued for another name than
    the address dialled, and the server requires the client's certificate."""
    async with Proxy(
        _temporal_address(temporal_env), _server_tls(pki, require_client_cert=True)
    ) as tls:
        base = Settings(
            temporal_address=f"127.0.0.1:{tls.port}",
            temporal_namespace=temporal_env.client.namespace,
            temporal_tls_ca_cert=pki.ca,
            temporal_tls_server_name=SERVER_NAME,
        )
        mtls = base.model_copy(
            update={
                "temporal_tls_client_cert": pki.client_cert,
                "temporal_tls_client_key": pki.client_key,
            }
        )
        client = await connect(mtls)
        assert await client.count_workflows("WorkflowType = 'NoSuchWorkflow'") is not None
        # Without its client certificate the server turns the worker away.
        with pytest.raises(StartupError, match="cannot reach Temporal"):
            await connect(base)
        # Without the server name the certificate (for temporal.test) does not match 127.0.0.1.
        unnamed = mtls.model_copy(update={"temporal_tls_server_name": None})
        with pytest.raises(StartupError, match="cannot reach Temporal"):
            await connect(unnamed)


async def test_an_api_key_goes_over_tls(temporal_env: WorkflowEnvironment, pki: Pki) -> None:
    """Temporal Cloud's way: an API key alone turns TLS on (so never sent in plain text)."""
    namespace = temporal_env.client.namespace
    host, port = _temporal_address(temporal_env)
    with_key = Settings(
        temporal_address=f"{host}:{port}",
        temporal_namespace=namespace,
        temporal_api_key=SecretStr("key-1"),
    )
    # The dev server speaks plain text only: a client that insists on TLS cannot talk to it.
    with pytest.raises(StartupError, match="cannot reach Temporal"):
        await connect(with_key)
    async with Proxy((host, port), _server_tls(pki, require_client_cert=False)) as tls:
        client = await connect(
            with_key.model_copy(
                update={
                    "temporal_address": f"127.0.0.1:{tls.port}",
                    "temporal_tls_ca_cert": pki.ca,
                    "temporal_tls_server_name": SERVER_NAME,
                }
            )
        )
        assert client.api_key == "key-1"
        assert await client.count_workflows("WorkflowType = 'NoSuchWorkflow'") is not None
