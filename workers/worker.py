"""The worker process: polls the task queue and runs the engine's workflows and activities."""

import asyncio
import signal
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack, suppress
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.annual_summary import AnnualSummaryRegister, annual_summary_activities
from activities.case_register import CaseRegister, case_register_activities
from activities.deployment_policy import DeploymentPolicy
from activities.event_recording import EventRecorder, event_recording_activities
from activities.notifications import Notifier, notifier_activities
from activities.portfolio import PortfolioRegister, portfolio_activities
from activities.reconciliation import Reconciler, reconciliation_activities
from schemas.policy import Policy
from workers.activity_logs import ActivityLogContext
from workers.collector import tune_for_long_lived_worker
from workers.encryption import MISSING_KEY_RING, key_ring_from
from workers.errors import StartupError
from workers.health import WorkerHealth, start_health_server
from workers.metrics import metrics_runtime
from workers.policy_file import load_policy
from workers.register import migrate, open_register, wait_for_migrations
from workers.settings import Settings
from workers.temporal_client import connect
from workflows.incident import IncidentWorkflow
from workflows.portfolio_monitoring import PortfolioMonitoringWorkflow
from workflows.victim_erasure import VictimErasureWorkflow

log = structlog.get_logger(__name__)

# Workflow classes the engine runs; each capability adds its workflow here.
WORKFLOWS: list[type] = [IncidentWorkflow, VictimErasureWorkflow, PortfolioMonitoringWorkflow]
# With MIGRATE_ON_START=false, how often a worker whose register is behind looks again.
SCHEMA_POLL_SECONDS = 5.0


def activities_for(
    pool: asyncpg.Pool, settings: Settings, policy: Policy, client: Client
) -> list[Callable[..., Any]]:
    """Every activity, bound to its injected dependencies."""
    key_ring = key_ring_from(settings)
    if key_ring is None:
        raise StartupError(MISSING_KEY_RING)
    register = CaseRegister(pool, key_ring)
    notifier = Notifier(pool, settings.notify_settings())
    return [
        *case_register_activities(register),
        *notifier_activities(notifier),
        *event_recording_activities(EventRecorder(register, notifier)),
        DeploymentPolicy(policy).deployment_policy,
        *portfolio_activities(
            PortfolioRegister(pool, settings.effective_reports_dir, policy=policy)
        ),
        *reconciliation_activities(Reconciler(pool, client)),
        *annual_summary_activities(AnnualSummaryRegister(pool)),
    ]


# The engine's workflow modules are imported once and shared by every cached workflow, instead of
# being imported again into each workflow's sandbox (about 230 KiB and 70 ms per workflow): with a
# thousand incidents cached, the benchmark's worker peaked at 447 MB instead of 683 MB. What those
# modules import was already passed through; the sandbox still guards the standard library, and
# the replay tests guard determinism.
SHARED_WORKFLOW_MODULES = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows")
)


def build_worker(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    policy: Policy | None = None,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
) -> Worker:
    """A worker for the engine, tuned by the WORKER_* settings; `policy` defaults to the
    settings' policy file (or the defaults of docs/design.md, Deadlines)."""
    deployment_policy = policy if policy is not None else load_policy(settings.policy_file)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[
            *activities_for(pool, settings, deployment_policy, client),
            *extra_activities,
        ],
        interceptors=[ActivityLogContext()],
        workflow_runner=SHARED_WORKFLOW_MODULES,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=timedelta(
            seconds=settings.worker_sticky_queue_timeout_seconds
        ),
        # The poller behaviours, not the deprecated max_concurrent_*_polls arguments.
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(
            maximum=settings.worker_max_concurrent_activity_polls
        ),
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(
            maximum=settings.worker_max_concurrent_workflow_task_polls
        ),
    )


async def _require_namespace(client: Client, settings: Settings) -> None:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.temporal_namespace)
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise StartupError(
                f"Temporal namespace '{settings.temporal_namespace}' does not exist at "
                f"{settings.temporal_address}; create it or set TEMPORAL_NAMESPACE"
            ) from None
        raise StartupError(f"Temporal refused the worker: {error.message}") from None


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
    on_started: Callable[[], None] | None = None,
    schema_poll_seconds: float = SCHEMA_POLL_SECONDS,
) -> None:
    """Run a worker until `stop` is set, then shut it down gracefully.

    Graceful means: readiness turns 503 at once, the worker stops polling, in-flight activities
    may finish for the configured grace period, then they are cancelled so Temporal hands them to
    another worker. The health endpoint (HEALTH_PORT) closes when this call returns; the metrics
    endpoint (METRICS_PORT) belongs to the SDK runtime of the worker's client, which has no close
    of its own and ends with the process (`remediation worker` exits right after).
    """
    if settings.database_url is None:
        raise StartupError("DATABASE_URL is not set; the worker needs the case register")
    log.info("worker configuration", **settings.public_view())
    policy = load_policy(settings.policy_file)  # a bad policy file stops the worker here
    log.info("policy for new incidents", version=policy.version)
    if not policy.escalation.industry_programme_contact:
        # The escalation ladder promises this contact at level 3 of a critical incident.
        log.warning(
            "no industry-programme contact in the policy: level 3 of a critical incident tells "
            "the executive sponsor only; set ESCALATION_INDUSTRY_PROGRAMME_CONTACT or "
            "[escalation] industry_programme_contact in REMEDIATION_POLICY_FILE",
            policy_version=policy.version,
        )
    runtime = metrics_runtime(settings)
    if runtime is not None:
        log.info("metrics endpoint listening", url=_ops_url(settings, settings.metrics_port))
    # Given the stop event, readiness turns 503 the moment SIGTERM sets it, whatever serve() is
    # doing (connecting, migrating, waiting for migrations, or polling).
    health = WorkerHealth(settings.database_url, stop=stop)
    async with AsyncExitStack() as resources:
        # The probes answer from the start: a worker waiting for its register's migrations must
        # look alive (not restarted) and not ready.
        if settings.health_port is not None:
            runner = await start_health_server(health, settings.ops_bind_host, settings.health_port)
            resources.push_async_callback(runner.cleanup)
            log.info("health endpoints listening", url=_ops_url(settings, settings.health_port))
        client = await connect(settings, runtime=runtime)
        await _require_namespace(client, settings)
        pool = await open_register(settings.database_url)
        resources.push_async_callback(pool.close)
        if settings.migrate_on_start:
            await migrate(pool)
        elif not await wait_for_migrations(pool, stop, poll_seconds=schema_poll_seconds):
            log.info("worker stopped before the register was migrated")
            return
        if stop.is_set():
            # Told to stop while connecting or migrating: never start polling only to stop again.
            log.info("worker stopped before it started polling")
            return
        worker = build_worker(
            client,
            settings,
            pool,
            policy=policy,
            extra_workflows=extra_workflows,
            extra_activities=extra_activities,
        )
        running = asyncio.create_task(worker.run())
        health.worker_started(worker, running)
        # Whatever ends this block (an error, or serve() itself being cancelled), the worker stops
        # before the pool it uses is closed: the exit stack runs this first.
        resources.push_async_callback(_stop_worker, worker, running, health)
        log.info(
            "worker polling", task_queue=settings.task_queue, namespace=settings.temporal_namespace
        )
        if on_started is not None:
            on_started()
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if running.done():
            running.result()  # a worker that died on its own: surface why
            return
        health.shutdown_began()
        log.info("worker shutting down", grace_seconds=settings.shutdown_grace_seconds)
        await worker.shutdown()
        await running
        log.info("worker stopped")


async def _stop_worker(worker: Worker, running: "asyncio.Task[None]", health: WorkerHealth) -> None:
    """The exit stack's guard: a worker still running when serve() leaves early is shut down (its
    activities handed back), so it never polls on a closed pool or outlives serve()."""
    if running.done():
        return
    health.shutdown_began()
    log.warning("worker shutting down: serve() ended before a graceful stop")
    await worker.shutdown()
    with suppress(Exception):
        await running  # its error, if any, is secondary to the one ending serve()


def _ops_url(settings: Settings, port: int | None) -> str:
    return f"http://{settings.ops_bind_host}:{port}"


async def serve_until_signalled(settings: Settings) -> None:
    """`remediation worker`: serve until SIGTERM or SIGINT."""
    tune_for_long_lived_worker()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)
