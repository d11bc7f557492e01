"""The incident's state as the workflow holds it, carried whole across continue-as-new.

Part of the contract between one run of an incident's workflow and the next, so it changes only
compatibly: new fields get defaults, no field is removed or renamed.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.actor import Actor
from schemas.decisions import (
    ActionPlan,
    AmendPlan,
    CloseEarly,
    Closure,
    CompletionCheck,
    Consent,
    DecisionKind,
    ExtendDeadline,
    FollowUp,
    ImmediateProtection,
    LessonsLearned,
    PlannedAction,
    Response,
    Verification,
)
from schemas.history import ReturnedItem, TimelineEvent
from schemas.intake import Intake
from schemas.policy import MilestoneKind, Policy
from schemas.vocabulary import (
    RESOLVED_ACTION_STATUSES,
    ActionStatus,
    CaseStatus,
    ResponseLevel,
    Severity,
    Step,
)

ApprovalSubject = Response | ActionPlan | AmendPlan | Closure | ExtendDeadline | CloseEarly

# How many decision ids are remembered to recognise a resent decision.
REMEMBERED_DECISION_IDS = 1_000


class ActionState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: PlannedAction
    # When the action entered the approved plan: its due date's window starts here.
    planned_at: datetime | None = None
    status: ActionStatus = ActionStatus.NOT_STARTED
    progress_percent: int = 0
    spend_to_date: Decimal = Decimal(0)
    completion: CompletionCheck | None = None
    cancellation_reason: str | None = None

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED_ACTION_STATUSES


class PendingItem(BaseModel):
    """A decision waiting for an approver."""

    model_config = ConfigDict(extra="forbid")

    approval_id: str
    kind: DecisionKind
    author: Actor
    requested_at: datetime
    subject: ApprovalSubject
    summary: str


class Escalation(BaseModel):
    """A milestone that missed its deadline, and how far up the ladder it has gone."""

    model_config = ConfigDict(extra="forbid")

    milestone: str
    kind: MilestoneKind
    level: int
    due_at: datetime
    window: timedelta
    overdue_since: datetime
    notified: list[str] = Field(default_factory=list)


class IncidentState(BaseModel):
    """Everything the process knows about one incident."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    incident_id: str
    intake: Intake
    policy: Policy
    opened_at: datetime

    step: Step = Step.VERIFICATION
    step_entered_at: datetime
    case_status: CaseStatus = CaseStatus.ACTIVE
    case_owner: str | None = None
    provisional_severity: Severity
    severity: Severity
    severity_confirmed: bool = False
    acknowledged_at: datetime | None = None
    protection: ImmediateProtection | None = None
    verification_rounds: int = 0
    verification: Verification | None = None
    proposed_level: ResponseLevel | None = None
    response: Response | None = None
    plan: ActionPlan | None = None
    consents: dict[str, Consent] = Field(default_factory=dict)
    actions: dict[str, ActionState] = Field(default_factory=dict)
    approvals: dict[str, PendingItem] = Field(default_factory=dict)
    approvals_requested: int = 0
    returned: list[ReturnedItem] = Field(default_factory=list)
    deadline_overrides: dict[str, datetime] = Field(default_factory=dict)
    last_check_in_at: datetime | None = None
    closure: Closure | None = None
    closure_reason: str | None = None
    closed_at: datetime | None = None
    closure_report_written: bool = False
    early_closure: CloseEarly | None = None
    lessons: LessonsLearned | None = None
    follow_up: FollowUp | None = None
    recurrence_incident: str | None = None
    related: list[str] = Field(default_factory=list)
    escalations: dict[str, Escalation] = Field(default_factory=dict)
    sequence: int = 0
    seen_decisions: dict[str, int] = Field(default_factory=dict)
    timeline: list[TimelineEvent] = Field(default_factory=list)

    @property
    def imminent_danger_open(self) -> bool:
        return self.intake.imminent_danger and self.protection is None

    @property
    def all_actions_resolved(self) -> bool:
        return all(action.resolved for action in self.actions.values())

    def pending_of_kind(self, kind: DecisionKind) -> PendingItem | None:
        return next((item for item in self.approvals.values() if item.kind == kind), None)

    def remember_decision(self, decision_id: str, sequence: int) -> None:
        self.seen_decisions[decision_id] = sequence
        while len(self.seen_decisions) > REMEMBERED_DECISION_IDS:
            self.seen_decisions.pop(next(iter(self.seen_decisions)))
