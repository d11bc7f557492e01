"""`PortfolioMonitoringWorkflow`: one scheduled look at the whole portfolio.

Started by a Temporal Schedule (daily portfolio, weekly digest, yearly summary) or by
`remediation report`: the key figures from the register, the reconciliation of the register
against Temporal (daily), and the report stored in the register and the reports directory; or, for
the annual run, the due-diligence summary of a calendar year (by default the one before the run:
the schedule runs on 15 January), stored the same way. Aggregates only, no personal data.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.annual_summary import AnnualSummaryRegister
    from activities.case_register import CaseRegister
    from activities.deployment_policy import DeploymentPolicy
    from activities.notifications import Notifier
    from activities.portfolio import PortfolioRegister
    from activities.reconciliation import Reconciler
    from schemas.monitoring import (
        MONITORING_WORKFLOW,
        MonitoringKind,
        MonitoringRun,
        PortfolioReport,
        ReconciliationReport,
        StoredReport,
    )
    from schemas.policy import Policy
    from schemas.register import (
        DELIVERY_ATTEMPT_TIMEOUT,
        Notification,
        NotificationKey,
        NotificationKind,
    )

# The register is retried until it is back; a long reconciliation heartbeats, and a retry (after a
# worker restart, say) resumes from its last heartbeat.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
KPI_TIMEOUT = timedelta(minutes=5)
RECONCILIATION_TIMEOUT = timedelta(hours=1)
RECONCILIATION_HEARTBEAT = timedelta(minutes=1)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
DELIVERY_WINDOW = timedelta(hours=1)
NOTIFIED_FINDINGS = 20
RECONCILIATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
BUILT = {MonitoringKind.PORTFOLIO, MonitoringKind.DIGEST, MonitoringKind.ANNUAL}


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
        if run.kind == MonitoringKind.ANNUAL:
            return await self._annual(run, as_of)
        kpis = await workflow.execute_activity_method(
            PortfolioRegister.portfolio_kpis,
            as_of,
            start_to_close_timeout=KPI_TIMEOUT,
            retry_policy=RETRY,
            summary="key figures from the register",
        )
        reconciliation = None
        if run.kind == MonitoringKind.PORTFOLIO:
            reconciliation = await workflow.execute_activity_method(
                Reconciler.reconcile_portfolio,
                as_of,
                start_to_close_timeout=RECONCILIATION_TIMEOUT,
                heartbeat_timeout=RECONCILIATION_HEARTBEAT,
                retry_policy=RECONCILIATION_RETRY,
                summary="reconcile the register with Temporal",
            )
        report = PortfolioReport(
            kind=run.kind,
            as_of=as_of,
            generated_at=workflow.now(),
            kpis=kpis,
            reconciliation=reconciliation,
        )
        stored: StoredReport = await workflow.execute_activity_method(
            PortfolioRegister.store_portfolio_report,
            report,
            start_to_close_timeout=KPI_TIMEOUT,
            retry_policy=RETRY,
            summary=f"store the {run.kind} report",
        )
        findings = reconciliation.findings if reconciliation else []
        if reconciliation is not None and findings:
            await self._notify(reconciliation, as_of)
        workflow.set_current_details(
            f"{run.kind} report {stored.report_id}: {kpis.open_incidents} open incidents, "
            f"{len(findings)} reconciliation finding(s)"
        )
        return stored

    async def _annual(self, run: MonitoringRun, as_of: datetime) -> StoredReport:
        """The yearly due-diligence summary, stored like the other reports (a publishable
        document of its own: it never carries the key figures, which name incidents)."""
        year = run.year if run.year is not None else as_of.astimezone(UTC).year - 1
        summary = await workflow.execute_activity_method(
            AnnualSummaryRegister.annual_summary,
            args=[year, as_of],
            start_to_close_timeout=KPI_TIMEOUT,
            retry_policy=RETRY,
            summary=f"due-diligence summary of {year}",
        )
        report = PortfolioReport(
            kind=MonitoringKind.ANNUAL, as_of=as_of, generated_at=workflow.now(), annual=summary
        )
        stored: StoredReport = await workflow.execute_activity_method(
            PortfolioRegister.store_portfolio_report,
            report,
            start_to_close_timeout=KPI_TIMEOUT,
            retry_policy=RETRY,
            summary=f"store the due-diligence summary of {year}",
        )
        workflow.set_current_details(
            f"annual report {stored.report_id}: due-diligence summary of {year}, "
            f"{summary.incidents} incident(s) received"
        )
        return stored

    async def _notify(self, reconciliation: ReconciliationReport, as_of: datetime) -> None:
        """An outbox notification per finding (the first NOTIFIED_FINDINGS, then one summary of
        the rest), to the operations contact; delivered with retries for at most an hour so that
        a channel that is down never holds up the next run (the outbox row keeps the attempts)."""
        policy: Policy = await workflow.execute_activity_method(
            DeploymentPolicy.deployment_policy, start_to_close_timeout=KPI_TIMEOUT
        )
        day = int(as_of.strftime("%Y%m%d"))
        notices = [
            (
                finding.incident_id,
                f"Register and Temporal disagree on {finding.incident_id}",
                f"{finding.kind}: {finding.detail}",
            )
            for finding in reconciliation.findings[:NOTIFIED_FINDINGS]
        ]
        rest = reconciliation.findings_total - len(notices)
        if rest > 0:
            by_kind = ", ".join(
                f"{n} {kind}" for kind, n in reconciliation.findings_by_kind.items()
            )
            notices.append(
                (
                    "portfolio",
                    f"{rest} more disagreements between the register and Temporal",
                    f"{reconciliation.findings_total} findings in all ({by_kind}); every one is "
                    "in the register's reconciliation_findings and the portfolio report.",
                )
            )
        keys = []
        for incident_id, subject, body in notices:
            notification = Notification(
                incident_id=incident_id,
                sequence=day,
                kind=NotificationKind.RECONCILIATION_FINDING,
                recipient=policy.escalation.operations,
                subject=subject,
                body=body,
                created_at=workflow.now(),
            )
            await workflow.execute_activity_method(
                CaseRegister.queue_notification,
                notification,
                start_to_close_timeout=KPI_TIMEOUT,
                retry_policy=RETRY,
                summary="queue a reconciliation finding",
            )
            keys.append(NotificationKey.of(notification))
        deliveries = [
            workflow.execute_activity_method(
                Notifier.deliver_notification,
                key,
                start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY,
                summary="deliver a reconciliation finding",
            )
            for key in keys
        ]
        results = await asyncio.gather(*deliveries, return_exceptions=True)
        undelivered = sum(isinstance(result, BaseException) for result in results)
        if undelivered:
            workflow.logger.warning("reconciliation findings not delivered: %d", undelivered)
