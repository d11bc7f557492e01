"""Portfolio monitoring: what a scheduled run is asked to do and what it finds.

The contract between `PortfolioMonitoringWorkflow`, its activities, the schedules that start it
and the `remediation report` command. Aggregates and pseudonymous ids only: nothing here
identifies a victim.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from schemas.common import EARLIEST_YEAR, LATEST_YEAR, Contract
from schemas.policy import MilestoneKind

# The workflow's name and its kinds of run live with the picklists (pure, for the command line).
from schemas.vocabulary import MONITORING_WORKFLOW as MONITORING_WORKFLOW
from schemas.vocabulary import MonitoringKind as MonitoringKind
from schemas.vocabulary import Severity, Step


class MonitoringRun(Contract):
    """Input of `PortfolioMonitoringWorkflow` (what a schedule or `remediation report` starts)."""

    kind: MonitoringKind = Field(default=MonitoringKind.PORTFOLIO, description="Which report.")
    as_of: datetime | None = Field(
        default=None, description="Report as of this instant; the run's start time when left out."
    )
    year: int | None = Field(
        default=None,
        ge=EARLIEST_YEAR,
        le=LATEST_YEAR,
        description="For the annual summary: the calendar year (UTC) it covers; the year before "
        "as_of when left out.",
    )


class FindingKind(StrEnum):
    REGISTER_OPEN_WORKFLOW_CLOSED = "register_open_workflow_closed"
    REGISTER_OPEN_WORKFLOW_MISSING = "register_open_workflow_missing"
    WORKFLOW_WITHOUT_REGISTER_ROW = "workflow_without_register_row"
    ESCALATION_DISAGREES = "escalation_disagrees"
    REGISTER_ENDED_WORKFLOW_RUNNING = "register_ended_workflow_running"
    WORKFLOW_NOT_REGISTER_LINEAGE = "workflow_not_register_lineage"
    REGISTER_WRITE_CONFLICT = "register_write_conflict"


class ReconciliationFinding(Contract):
    """One disagreement between the case register and Temporal."""

    kind: FindingKind
    incident_id: str
    detail: str = Field(max_length=500, description="What disagrees; ids and states only.")


# A report and a run's notifications name at most this many findings; the register keeps them all
# (`reconciliation_findings`), so a lost register or Temporal database cannot swamp a run.
FINDINGS_LISTED = 100


class ReconciliationReport(Contract):
    incidents_in_register: int = Field(description="Open incidents the register holds.")
    workflows_running: int = Field(description="Incident workflows running in Temporal.")
    findings: list[ReconciliationFinding] = Field(
        default_factory=list, description=f"The first {FINDINGS_LISTED} findings."
    )
    findings_total: int = Field(default=0, description="How many findings the run made.")
    findings_by_kind: dict[str, int] = Field(default_factory=dict, description="Per kind.")


# --- The portfolio report (issue 6) ------------------------------------------------------------
# Aggregates (counts, durations, rates) and pseudonymous ids: of incidents (workflow ids),
# approvals, facilities, milestones (a kind, or approval:<approval id>, action:<action id>) and case
# owners (actor ids). Never a victim's or reporter's data, never free text.


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


# A report lists at most this many escalated milestones, most recently due first; the counts by
# level and kind cover them all. Enough for a team to work through, small enough for one page.
ESCALATED_MILESTONES_LISTED: Final = 200


class EscalatedMilestone(Contract):
    """A milestone of an open incident escalated now: what is late, by how much, at which level,
    and whose case it is."""

    incident_id: str = Field(description="The incident (workflow id).")
    step: Step = Field(description="The incident's step as the register stands.")
    milestone: str = Field(
        description="The milestone: its kind, or approval:<approval id>, action:<action id>."
    )
    due_at: datetime = Field(description="When it was due (its latest escalation's deadline).")
    days_late: float = Field(description="Days from due_at to the report's instant.")
    level: int = Field(
        ge=1,
        le=3,
        description="Level reached: 1 case owner, 2 human-rights lead, 3 executive sponsor.",
    )
    case_owner: str | None = Field(
        description="Actor id of the case owner as the register stands; None when unassigned."
    )


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
    # Defaults: the figures of runs made before the list travel in their histories without it.
    escalated_milestones: list[EscalatedMilestone] = Field(
        default_factory=list,
        description="Milestones escalated now, one per incident and milestone, most recently due "
        f"first (ties by incident, then milestone); at most {ESCALATED_MILESTONES_LISTED}.",
    )
    escalated_milestones_total: int = Field(
        default=0, ge=0, description="How many milestones are escalated now, listed or not."
    )
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


# --- The yearly due-diligence summary and the anonymised export (issue 6) ----------------------
# Publishable: anonymised aggregates of the incidents received in one calendar year, every count
# from 1 to 4 suppressed (activities/annual_summary.py has the rule). No incident, facility or
# victim id, no free text, no date finer than the year.

SMALL_COUNT: Final = "<5"
"""How a count from 1 to 4 is published."""
WITHHELD_COUNT: Final = "x"
"""How a count of 5 or more is published when it is withheld so that a smaller one cannot be
worked out by subtraction from the total."""

PublishedCount = Annotated[
    int | Literal["<5", "x"],
    Field(description="A count: exact, '<5' (1 to 4) or 'x' (withheld, 5 or more)."),
]


class CountTable(Contract):
    """One breakdown of the summary, its small counts suppressed."""

    rows: dict[str, PublishedCount] = Field(
        description="Count per category, in the table's order (none when withheld)."
    )
    total: PublishedCount | None = Field(
        default=None,
        description="What the rows add up to, when each item counts under exactly one row; "
        "None when an item may count under several.",
    )
    withheld: bool = Field(
        default=False,
        description="True when no breakdown could be shown without revealing a count below 5.",
    )


class CaseOutcome(StrEnum):
    """How a closed incident ended."""

    REMEDIATION_COMPLETED = "remediation_completed"
    NOT_SUBSTANTIATED = "not_substantiated"
    NO_LINK = "no_link"
    CLOSED_EARLY_DUPLICATE = "closed_early_duplicate"
    CLOSED_EARLY_MERGED = "closed_early_merged"
    CLOSED_EARLY_OUT_OF_SCOPE = "closed_early_out_of_scope"
    CLOSED_EARLY_WITHDRAWN = "closed_early_withdrawn"
    OTHER = "other"


class AnnualSummary(Contract):
    """The yearly due-diligence summary (OECD Step 5 style): the incidents received in one
    calendar year (UTC), as the register stood when it was made. Definitions and the
    suppression rule are in activities/annual_summary.py."""

    year: int = Field(description="The calendar year (UTC) the incidents were received in.")
    incidents: PublishedCount = Field(description="Incidents received in the year.")
    by_country: CountTable = Field(description="Per country of the site, alphabetical.")
    by_mineral: CountTable = Field(description="Per mineral concerned (several per incident).")
    harm_basis: CountTable = Field(
        description="Whose harm types are confirmed by verification, and whose only alleged."
    )
    by_harm_type: CountTable = Field(
        description="Per harm type, confirmed where verified, else alleged (several per incident)."
    )
    by_severity: CountTable = Field(description="Per severity.")
    by_response_level: CountTable = Field(
        description="Per response level ('undetermined' until step 2 decides one)."
    )
    by_tier: CountTable = Field(description="Per supply-chain tier where the harm occurred.")
    by_channel: CountTable = Field(description="Per channel the allegation came through.")
    by_status: CountTable = Field(description="Open or closed.")
    closed_by_case_status: CountTable = Field(
        description="Closed incidents per HTCDS case status: closed, or closed and referred."
    )
    closed_by_outcome: CountTable = Field(description="Closed incidents per how they ended.")
    median_days_to_close: int | None = Field(
        description="Median days from receipt to closure, whole days; None with fewer than 5 "
        "closed incidents."
    )
    actions: PublishedCount = Field(description="Remediation actions planned for the incidents.")
    actions_by_category: CountTable = Field(description="Actions per category: remedy, assistance.")
    remedy_actions_by_type: CountTable = Field(description="Remedy actions per type.")
    assistance_actions_by_type: CountTable = Field(description="Assistance actions per type.")
    actions_by_status: CountTable = Field(description="Actions completed, cancelled or open.")
    completed_share: float | None = Field(
        description="Completed actions / all actions; None when either count is suppressed."
    )
    lessons: CountTable = Field(description="Incidents whose lessons were captured, or not yet.")
    by_root_cause: CountTable = Field(
        description="Incidents with lessons, per root cause found (several per incident)."
    )
    changes: PublishedCount = Field(description="Due-diligence changes made after the incidents.")
    changes_by_area: CountTable = Field(description="Those changes per area.")


class ClosedCaseRow(Contract):
    """One closed case in the anonymised export. Field names are HTCDS's where HTCDS has one
    (camelCase), the engine's otherwise (snake_case); the mapping is in
    activities/annual_summary.py. Coarse values only: no id, no date finer than the year, no
    free text, nothing about a victim."""

    row: int = Field(ge=1, description="Random per-export row number; not an identifier.")
    yearOfRegistration: int = Field(description="Year the allegation was received (UTC).")
    CountryOfExploitation: str = Field(description="ISO 3166-1 alpha-2 country of the site.")
    typeOfLabourConcatenated: str = Field(description="HTCDS labour type: MiningOrDrilling.")
    typeOfExploitConcatenated: list[str] = Field(
        description="Harm types, HTCDS names where HTCDS has one."
    )
    harm_basis: Literal["confirmed", "alleged"] = Field(
        description="Whether those harm types were confirmed by verification or only alleged."
    )
    meansOfControlConcatenated: list[str] = Field(
        description="Methods of control observed at verification, HTCDS names."
    )
    caseStatus: str = Field(description="HTCDS case status: Closed or ClosedReferred.")
    minerals: list[str] = Field(description="Minerals concerned.")
    response_level: str = Field(description="Response level ('undetermined' if none was set).")
    outcome: CaseOutcome = Field(description="How the case ended.")


class ClosedCaseExport(Contract):
    """The anonymised export of the closed cases received in one year, in random order."""

    year: int = Field(description="The calendar year (UTC) the cases were received in.")
    rows: list[ClosedCaseRow] = Field(description="One per closed case, numbered at random.")


class PortfolioReport(Contract):
    """The report a monitoring run stores (JSON, Markdown and HTML): the portfolio's key figures
    (portfolio, digest) or the yearly due-diligence summary (annual), never both."""

    kind: MonitoringKind = Field(default=MonitoringKind.PORTFOLIO, description="Which report.")
    as_of: datetime = Field(description="The instant the report describes.")
    generated_at: datetime = Field(description="When it was generated.")
    kpis: PortfolioKpis | None = Field(
        default=None, description="The portfolio's key figures (portfolio and digest)."
    )
    reconciliation: ReconciliationReport | None = Field(
        default=None, description="Register against Temporal, when the run reconciled."
    )
    annual: AnnualSummary | None = Field(
        default=None, description="The yearly due-diligence summary (annual)."
    )

    @model_validator(mode="after")
    def _one_kind_of_figures(self) -> "PortfolioReport":
        # The annual summary is publishable; the key figures name incidents and facilities and
        # must never travel with it.
        if self.kind == MonitoringKind.ANNUAL:
            if self.annual is None or self.kpis is not None or self.reconciliation is not None:
                raise ValueError("an annual report holds the annual summary and nothing else")
        elif self.kpis is None or self.annual is not None:
            raise ValueError(f"a {self.kind} report holds the key figures and no annual summary")
        return self


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
