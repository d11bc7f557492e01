"""`PortfolioMonitoringWorkflow`: one scheduled look at the whole portfolio.

Started by a Temporal Schedule (daily portfolio, weekly digest) or by `remediation report`: the
key figures from the register, the reconciliation of the register against Temporal (daily), and
the report stored in the register and the reports directory. Aggregates only, no personal data.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas.monitoring import (
        MONITORING_WORKFLOW,
        MonitoringKind,
        MonitoringRun,
        PortfolioKpis,
        PortfolioReport,
        ReconciliationReport,
        StoredReport,
    )

# The register is retried until it is back; a long reconciliation heartbeats, and a retry (after a
# worker restart, say) resumes from its last heartbeat.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
KPI_TIMEOUT = timedelta(minutes=5)
RECONCILIATION_TIMEOUT = timedelta(hours=1)
RECONCILIATION_HEARTBEAT = timedelta(minutes=1)
BUILT = {MonitoringKind.PORTFOLIO, MonitoringKind.DIGEST}


@workflow.defn(name=MONITORING_WORKFLOW)
class PortfolioMonitoringWorkflow:
    @workflow.run
    async def run(self, run: MonitoringRun) -> StoredReport:
        if run.kind not in BUILT:
            raise ApplicationError(
                f"the {run.kind} report is not available yet", type="NotBuilt", non_retryable=True
            )
        # The same instant on every attempt: it names the run, its findings and its report.
        as_of = run.as_of or workflow.now()
        kpis = await workflow.execute_activity(
            "portfolio_kpis",
            as_of,
            result_type=PortfolioKpis,
            start_to_close_timeout=KPI_TIMEOUT,
            retry_policy=RETRY,
            summary="key figures from the register",
        )
        reconciliation = None
        if run.kind == MonitoringKind.PORTFOLIO:
            reconciliation = await workflow.execute_activity(
                "reconcile_portfolio",
                as_of,
                result_type=ReconciliationReport,
                start_to_close_timeout=RECONCILIATION_TIMEOUT,
                heartbeat_timeout=RECONCILIATION_HEARTBEAT,
                retry_policy=RETRY,
                summary="reconcile the register with Temporal",
            )
        report = PortfolioReport(
            kind=run.kind,
            as_of=as_of,
            generated_at=workflow.now(),
            kpis=kpis,
            reconciliation=reconciliation,
        )
        stored: StoredReport = await workflow.execute_activity(
            "store_portfolio_report",
            report,
            result_type=StoredReport,
            start_to_close_timeout=KPI_TIMEOUT,
            retry_policy=RETRY,
            summary=f"store the {run.kind} report",
        )
        findings = len(reconciliation.findings) if reconciliation else 0
        workflow.set_current_details(
            f"{run.kind} report {stored.report_id}: {kpis.open_incidents} open incidents, "
            f"{findings} reconciliation finding(s)"
        )
        return stored
