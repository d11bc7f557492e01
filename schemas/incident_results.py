"""What the incident workflow answers: its queries' results (`status`, `partner_actions`), its
decisions' result and its own.

A module of its own, apart from the workflow's input (schemas/incident.py, with the state it
carries): reading an incident's status or sending it a decision needs neither the decisions'
models nor the state's, so `remediation status` does not wait for them. schemas/incident.py
exports these names too.
"""

from datetime import date, datetime, timedelta

from pydantic import AwareDatetime, Field

from schemas.actor import Role
from schemas.common import ActionId, ActorId, Contract
from schemas.history import ReturnedItem
from schemas.policy import MilestoneKind
from schemas.vocabulary import (
    ActionCategory,
    ActionStatus,
    BusinessRelationship,
    CaseStatus,
    DecisionKind,
    EventOutcome,
    Relationship,
    ResponseLevel,
    Severity,
    Step,
)


class PendingDecision(Contract):
    """A decision the process is waiting for."""

    kind: DecisionKind = Field(description="The decision awaited.")
    expected_role: Role = Field(description="Role expected to decide.")
    expected_actor: ActorId | None = Field(description="Person expected, when known.")
    milestone: str | None = Field(description="Milestone id of its deadline.")
    due_at: AwareDatetime | None = Field(description="By when.")


class PendingApproval(Contract):
    """A decision awaiting an approver (docs/design.md, Approvals and roles)."""

    approval_id: str = Field(description="Name it in approve or reject.")
    kind: DecisionKind = Field(description="Kind of decision awaiting approval.")
    author: ActorId = Field(description="Who submitted it; may not approve it.")
    requested_at: AwareDatetime = Field(description="When approval was requested.")
    due_at: AwareDatetime | None = Field(description="By when it should be decided.")
    summary: str = Field(description="What is to be approved, in one line.")


class ActionSummary(Contract):
    action_id: ActionId = Field(description="Action id.")
    category: ActionCategory = Field(description="Remedy or assistance.")
    action_type: str = Field(description="Remedy or assistance type.")
    status: ActionStatus = Field(description="Status.")
    progress_percent: int = Field(description="Progress.")
    due_date: date = Field(description="Due date.")
    implementing_partner: ActorId | None = Field(description="Implementing partner.")


class VictimSummary(Contract):
    """A victim as the status shows them: pseudonymous, with what their consent covers."""

    victim_id: str = Field(description="Pseudonymous victim id.")
    child: bool = Field(description="Whether a child.")
    personal_data_recorded: bool = Field(description="Whether sealed personal data is held.")
    best_interests_assessed: bool = Field(description="For a child: assessment recorded.")
    consent: list[str] = Field(description="What their consent covers now.")
    erased_at: AwareDatetime | None = Field(description="When their data was erased.")


class PartnerView(Contract):
    """Result of the `partner_actions` query: an implementing partner's own actions only."""

    incident_id: str = Field(description="Workflow id.")
    partner: ActorId = Field(description="The partner.")
    step: Step = Field(description="Current step.")
    actions: list[ActionSummary] = Field(description="The actions this partner implements.")


class Milestone(Contract):
    milestone: str = Field(description="Milestone id (extend_deadline names it).")
    kind: MilestoneKind = Field(description="Kind of milestone.")
    due_at: AwareDatetime = Field(description="Deadline.")
    window: timedelta = Field(description="Time allowed; its quarter is the escalation grace.")
    extended: bool = Field(description="Whether an approved extension moved it.")


class ActiveEscalation(Contract):
    """An overdue milestone and how far up the ladder it has gone."""

    milestone: str = Field(description="Milestone id.")
    level: int = Field(description="1 case owner, 2 human-rights lead, 3 executive sponsor.")
    due_at: AwareDatetime = Field(description="The deadline that was missed.")
    overdue_since: AwareDatetime = Field(description="When it first escalated.")
    notified: list[str] = Field(description="Who has been told.")


class IncidentStatus(Contract):
    """Result of the `status` query: where the case stands and what is awaited."""

    incident_id: str = Field(description="Workflow id.")
    external_reference: str = Field(description="Sender's reference.")
    step: Step = Field(description="Current step.")
    step_number: int | None = Field(description="1-6, or None when completed.")
    case_status: CaseStatus = Field(description="HTCDS case status.")
    severity: Severity = Field(description="Current severity.")
    severity_confirmed: bool = Field(description="False while only triage has set it.")
    proposed_response_level: ResponseLevel | None = Field(description="Level proposed.")
    response_level: ResponseLevel | None = Field(description="Level approved.")
    relationship: Relationship | None = Field(
        description="Relationship to the harm (cause, contribute, directly linked), found at "
        "verification; not the business relationship."
    )
    business_relationship: BusinessRelationship | None = Field(
        default=None,
        description="Business relationship with the partner, decided at step 2 (continue with "
        "mitigation, temporary suspension, disengagement).",
    )
    case_owner: ActorId | None = Field(description="Case owner.")
    verification_rounds: int = Field(description="Inconclusive verifications so far.")
    pending_decisions: list[PendingDecision] = Field(description="Decisions awaited.")
    pending_approvals: list[PendingApproval] = Field(description="Approvals awaited.")
    returned: list[ReturnedItem] = Field(description="Rejected items awaiting revision.")
    actions: list[ActionSummary] = Field(description="The plan's actions.")
    actions_by_status: dict[ActionStatus, int] = Field(description="Count per status.")
    deadlines: list[Milestone] = Field(description="Open milestones, earliest first.")
    escalations: list[ActiveEscalation] = Field(
        default_factory=list, description="Overdue milestones and their escalation level."
    )
    escalation_level: int = Field(default=0, description="Highest active escalation level.")
    related_incidents: list[str] = Field(description="Related incident ids.")
    opened_at: AwareDatetime = Field(description="When the incident opened.")
    closed_at: AwareDatetime | None = Field(description="When it was closed.")
    closure_reason: str | None = Field(description="Why it was closed.")
    policy_version: str = Field(description="Policy the incident lives by.")
    victims: list[VictimSummary] = Field(
        default_factory=list, description="Victims recorded, by pseudonymous id."
    )


class DecisionResult(Contract):
    """What an accepted decision update returns."""

    incident_id: str = Field(description="Incident.")
    kind: DecisionKind = Field(description="Decision.")
    sequence: int = Field(description="Event number it was recorded under.")
    outcome: EventOutcome = Field(description="accepted, pending_approval, approved, rejected.")
    approval_id: str | None = Field(description="Pending approval created, if any.")
    step: Step = Field(description="Step after the decision.")
    message: str = Field(description="What happened, in one sentence.")
    duplicate: bool = Field(default=False, description="True when the decision_id was seen.")


class IncidentOutcome(Contract):
    """The workflow's result when the incident completes."""

    incident_id: str = Field(description="Incident.")
    case_status: CaseStatus = Field(description="Final HTCDS case status.")
    closure_reason: str = Field(description="Why it closed.")
    severity: Severity = Field(description="Final severity.")
    response_level: ResponseLevel | None = Field(description="Response level, if decided.")
    actions_completed: int = Field(description="Actions completed.")
    actions_cancelled: int = Field(description="Actions cancelled.")
    lessons_captured: bool = Field(description="Whether Step 6 ran.")
    recurrence_incident: str | None = Field(
        default=None, description="Incident opened because the follow-up found a recurrence."
    )
    closed_at: datetime = Field(description="When it closed.")
