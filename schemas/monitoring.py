"""Portfolio monitoring: what a scheduled run is asked to do and what it finds.

The contract between `PortfolioMonitoringWorkflow`, its activities, the schedules that start it
and the `remediation report` command. Aggregates only: nothing here identifies a victim.
"""

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from schemas.common import Contract
from schemas.policy import MilestoneKind
from schemas.vocabulary import Severity, Step

MONITORING_WORKFLOW = "PortfolioMonitoringWorkflow"


class MonitoringKind(StrEnum):
    PORTFOLIO = "portfolio"  # daily: KPIs and reconciliation
    DIGEST = "digest"  # weekly
    ANNUAL = "annual"  # yearly due-diligence summary


class MonitoringRun(Contract):
    """Input of `PortfolioMonitoringWorkflow` (what a schedule or `remediation report` starts)."""

    kind: MonitoringKind = Field(default=MonitoringKind.PORTFOLIO, description="Which report.")
    as_of: datetime | None = Field(
        default=None, description="Report as of this instant; the run's start time when left out."
    )


class FindingKind(StrEnum):
    REGISTER_OPEN_WORKFLOW_CLOSED = "register_open_workflow_closed"
    REGISTER_OPEN_WORKFLOW_MISSING = "register_open_workflow_missing"
    WORKFLOW_WITHOUT_REGISTER_ROW = "workflow_without_register_row"
    ESCALATION_DISAGREES = "escalation_disagrees"


class ReconciliationFinding(Contract):
    """One disagreement between the case register and Temporal."""

    kind: FindingKind
    incident_id: str
    detail: str = Field(max_length=500, description="What disagrees; ids and states only.")


class ReconciliationReport(Contract):
    incidents_in_register: int = Field(description="Open incidents the register holds.")
    workflows_running: int = Field(description="Incident workflows running in Temporal.")
    findings: list[ReconciliationFinding] = Field(default_factory=list)


# --- The portfolio report (issue 6) ------------------------------------------------------------
# Aggregates only: counts, durations, rates, and the ids of incidents and approvals (which are
# workflow ids and decision kinds, never a victim's or reporter's data or free text).


class StepDurations(Contract):
    """How long incidents stayed in one step: stays that ended within the report's window."""

    step: Step = Field(description="The step.")
    stays: int = Field(ge=0, description="Stays in the step that ended within the window.")
    median_days: float | None = Field(description="Median length of those stays, in days.")
    p90_days: float | None = Field(description="90th percentile of those stays, in days.")


class MilestoneOnTime(Contract):
    """How often one kind of milestone was met before its deadline, within the window."""

    milestone_kind: MilestoneKind = Field(description="Kind of milestone.")
    met: int = Field(ge=0, description="Occurrences met within the window.")
    met_late: int = Field(ge=0, description="Of those, how many had escalated first.")
    on_time_rate: float | None = Field(
        description="(met - met_late) / met; None when none was met."
    )


class CheckInCompliance(Contract):
    """Incidents in implementation at one severity whose monitoring check-in is up to date."""

    severity: Severity = Field(description="Severity of the incidents.")
    cadence_days: float = Field(description="Expected check-in cadence for that severity.")
    incidents: int = Field(ge=0, description="Open incidents in implementation.")
    compliant: int = Field(ge=0, description="Of those, checked in within the cadence.")
    rate: float | None = Field(description="compliant / incidents; None when there are none.")


class EscalationLevels(Contract):
    """Milestones currently escalated, by the level they reached."""

    level_1: int = Field(ge=0, description="Case owner reminded.")
    level_2: int = Field(ge=0, description="Human-rights lead told.")
    level_3: int = Field(ge=0, description="Executive sponsor told.")


class WaitingApproval(Contract):
    """A pending approval and how long it has waited."""

    incident_id: str = Field(description="The incident (workflow id).")
    approval_id: str = Field(description="The approval, e.g. action_plan-2.")
    kind: str = Field(description="Decision kind awaiting approval.")
    requested_at: datetime = Field(description="When approval was requested.")
    waiting_days: float = Field(description="Days waited as of the report.")


class WeeklyEscalations(Contract):
    """Escalation levels reached during one ISO week (UTC)."""

    week: str = Field(description="ISO week, e.g. 2026-W23.")
    week_start: date = Field(description="Its Monday.")
    level_1: int = Field(ge=0, description="Milestones that reached level 1 that week.")
    level_2: int = Field(ge=0, description="Milestones that reached level 2 that week.")
    level_3: int = Field(ge=0, description="Milestones that reached level 3 that week.")
    total: int = Field(ge=0, description="Levels reached that week, all levels together.")


class PortfolioKpis(Contract):
    """The portfolio's key figures as of one instant (see activities/portfolio.py for how each
    is defined)."""

    as_of: datetime = Field(description="The instant the figures describe.")
    window_days: int = Field(description="Trailing window of durations and on-time rates.")
    open_incidents: int = Field(ge=0, description="Incidents not completed.")
    open_by_step: dict[str, int] = Field(description="Open incidents per step.")
    open_by_severity: dict[str, int] = Field(description="Open incidents per severity.")
    open_by_response_level: dict[str, int] = Field(
        description="Open incidents per response level ('undetermined' before step 2 decides)."
    )
    open_by_country: dict[str, int] = Field(description="Open incidents per country, most first.")
    open_by_mineral: dict[str, int] = Field(
        description="Open incidents concerning each mineral (one incident may count for several)."
    )
    open_by_facility: dict[str, int] = Field(
        description="Facilities with the most open incidents, most first (at most 25)."
    )
    facilities_with_open_incidents: int = Field(
        ge=0, description="How many facilities have an open incident (all, not only the top)."
    )
    overdue_incidents: int = Field(ge=0, description="Open incidents flagged overdue.")
    overdue_milestones_by_kind: dict[str, int] = Field(
        description="Milestones currently escalated, per milestone kind."
    )
    active_escalations: EscalationLevels = Field(description="Current escalations by level.")
    time_in_step: list[StepDurations] = Field(description="Per step, in process order.")
    on_time: list[MilestoneOnTime] = Field(description="Per milestone kind.")
    check_in_compliance: list[CheckInCompliance] = Field(
        description="Per severity that has a check-in cadence."
    )
    longest_waiting_approvals: list[WaitingApproval] = Field(
        description="Pending approvals waiting longest (at most 10), longest first."
    )
    escalations_by_week: list[WeeklyEscalations] = Field(
        description="The last 26 ISO weeks, oldest first, the report's week last."
    )


class PortfolioReport(Contract):
    """The portfolio report a monitoring run stores (JSON, Markdown and HTML)."""

    kind: MonitoringKind = Field(default=MonitoringKind.PORTFOLIO, description="Which report.")
    as_of: datetime = Field(description="The instant the report describes.")
    generated_at: datetime = Field(description="When it was generated.")
    kpis: PortfolioKpis = Field(description="The portfolio's key figures.")
    reconciliation: ReconciliationReport | None = Field(
        default=None, description="Register against Temporal, when the run reconciled."
    )


class StoredReport(Contract):
    """Where a report was stored; the same for every retry of the same (kind, as_of)."""

    report_id: str = Field(description="<kind>-<as_of as %Y%m%dT%H%M%SZ>.")
    kind: MonitoringKind = Field(description="Which report.")
    as_of: datetime = Field(description="The instant the report describes.")
    generated_at: datetime = Field(description="When the stored copy was generated.")
    json_path: str = Field(description="The JSON file.")
    markdown_path: str = Field(description="The Markdown file.")
    html_path: str = Field(description="The HTML file.")
    newly_stored: bool = Field(description="False when an earlier call had stored it already.")
