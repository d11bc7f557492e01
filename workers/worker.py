"""The worker process: polls the task queue and runs the engine's workflows and activities."""

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities.annual_summary import AnnualSummaryRegister, annual_summary_activities
from activities.audit_trail import AuditTrail
from activities.case_register import CaseRegister, case_register_activities
from activities.deployment_policy import DeploymentPolicy
from activities.notifications import Notifier, notifier_activities
from activities.portfolio import PortfolioRegister, portfolio_activities
from activities.reconciliation import Reconciler, reconciliation_activities
from schemas.policy import Policy
from workers.encryption import MISSING_KEY_RING, key_ring_from
from workers.errors import StartupError
from workers.logs import ActivityLogContext
from workers.policy_file import load_policy
from workers.register import migrate, open_register
from workers.settings import Settings
from workers.temporal_client import connect
from workflows.incident import IncidentWorkflow
from workflows.portfolio_monitoring import PortfolioMonitoringWorkflow
from workflows.victim_erasure import VictimErasureWorkflow

log = structlog.get_logger(__name__)

# Workflow classes the engine runs; each capability adds its workflow here.
WORKFLOWS: list[type] = [IncidentWorkflow, VictimErasureWorkflow, PortfolioMonitoringWorkflow]


def activities_for(
    pool: asyncpg.Pool, settings: Settings, policy: Policy, client: Client
) -> list[Callable[..., Any]]:
    """Every activity, bound to its injected dependencies."""
    audit_trail = AuditTrail(pool)
    key_ring = key_ring_from(settings)
    if key_ring is None:
        raise StartupError(MISSING_KEY_RING)
    return [
        audit_trail.record_audit_entry,
        *case_register_activities(CaseRegister(pool, key_ring)),
        *notifier_activities(Notifier(pool, settings)),
        DeploymentPolicy(policy).deployment_policy,
        *portfolio_activities(
            PortfolioRegister(pool, settings.effective_reports_dir, policy=policy)
        ),
        *reconciliation_activities(Reconciler(pool, client)),
        *annual_summary_activities(AnnualSummaryRegister(pool)),
    ]


def build_worker(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    policy: Policy | None = None,
    extra_workflows: Sequence[type] = (),
) -> Worker:
    """A worker for the engine; `policy` defaults to the settings' policy file (or DESIGN §5)."""
    deployment_policy = policy if policy is not None else load_policy(settings.policy_file)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=activities_for(pool, settings, deployment_policy, client),
        interceptors=[ActivityLogContext()],
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
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
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run a worker until `stop` is set, then shut it down gracefully.

    Graceful means: stop polling, let in-flight activities finish for the configured grace period,
    then cancel them so Temporal hands them to another worker.
    """
    if settings.database_url is None:
        raise StartupError("DATABASE_URL is not set; the worker needs the case register")
    log.info("worker configuration", **settings.public_view())
    policy = load_policy(settings.policy_file)  # a bad policy file stops the worker here
    log.info("policy for new incidents", version=policy.version)
    client = await connect(settings)
    await _require_namespace(client, settings)
    pool = await open_register(settings.database_url)
    try:
        if settings.migrate_on_start:
            await migrate(pool)
        worker = build_worker(
            client, settings, pool, policy=policy, extra_workflows=extra_workflows
        )
        running = asyncio.create_task(worker.run())
        log.info(
            "worker polling", task_queue=settings.task_queue, namespace=settings.temporal_namespace
        )
        if on_started is not None:
            on_started()
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            stopping.cancel()
            running.result()  # a worker that died on its own: surface why
            return
        log.info("worker shutting down", grace_seconds=settings.shutdown_grace_seconds)
        await worker.shutdown()
        await running
        log.info("worker stopped")
    finally:
        await pool.close()


async def serve_until_signalled(settings: Settings) -> None:
    """`remediation worker`: serve until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(settings, stop)
