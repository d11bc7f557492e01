"""The incident's state as the workflow holds it, carried whole across continue-as-new.

Part of the contract between one run of an incident's workflow and the next, so it changes only
compatibly: new fields get defaults, no field is removed or renamed.
"""

import copy
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.actor import Actor
from schemas.decisions import (
    ActionPlan,
    AmendPlan,
    BestInterests,
    CloseEarly,
    Closure,
    CompletionCheck,
    Consent,
    DecisionKind,
    EraseVictim,
    ExtendDeadline,
    FollowUp,
    ImmediateProtection,
    LessonsLearned,
    PlannedAction,
    Response,
    Verification,
    WithdrawConsent,
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

ApprovalSubject = (
    Response | ActionPlan | AmendPlan | Closure | ExtendDeadline | CloseEarly | EraseVictim
)

# Incidents opened before roles, consent gates and victims' records were enforced keep the
# rules they were opened under (a replayed history must decide exactly as it did).
RULES_BEFORE_PROTECTION = 1
RULES_WITH_PROTECTION = 2

GROUP_ASSESSMENT = "children"

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


class VictimState(BaseModel):
    """A victim known to the incident by pseudonymous id; their personal data is in the register,
    sealed under their own key, never here."""

    model_config = ConfigDict(extra="forbid")

    victim_id: str
    child: bool
    recorded_at: datetime
    recorded_by: str
    personal_data_recorded: bool = False
    erased_at: datetime | None = None
    erased_by: str | None = None


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
    # The deadline each open milestone's case owner was last reminded of.
    reminded: dict[str, datetime] = Field(default_factory=dict)
    sequence: int = 0
    seen_decisions: dict[str, int] = Field(default_factory=dict)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    rules_version: int = RULES_BEFORE_PROTECTION
    victims: dict[str, VictimState] = Field(default_factory=dict)
    # Best-interests assessments by child victim id; GROUP_ASSESSMENT for the children as a group.
    best_interests: dict[str, BestInterests] = Field(default_factory=dict)
    # Every withdrawal of consent: a consent recorded before one (in a plan awaiting approval,
    # say) never brings back what the victim withdrew.
    withdrawals: list[WithdrawConsent] = Field(default_factory=list)

    @property
    def imminent_danger_open(self) -> bool:
        return self.intake.imminent_danger and self.protection is None

    @property
    def all_actions_resolved(self) -> bool:
        return all(action.resolved for action in self.actions.values())

    @property
    def protected(self) -> bool:
        """Whether roles, consent gates and victims' records are enforced."""
        return self.rules_version >= RULES_WITH_PROTECTION

    def is_child(self, victim_id: str) -> bool:
        victim = self.victims.get(victim_id)
        return victim is not None and victim.child

    def erased(self, victim_id: str) -> bool:
        victim = self.victims.get(victim_id)
        return victim is not None and victim.erased_at is not None

    def draft(self) -> "IncidentState":
        """A copy for an event to change, which becomes the state once the register has it.

        The state's own lists and dicts are copied, and so are the mutable models in them
        (ActionState, PendingItem, Escalation, VictimState), which the rules change in place.
        Every frozen message the state holds, in a field or in one of its lists and dicts (the
        intake, the policy, the decisions, the timeline's entries), is shared: it cannot change,
        and copying it made each event cost in proportion to the incident's size and age, and
        left the whole state's worth of new objects for the cycle collector to walk after every
        event (docs/benchmark.md, (b) and (c)).
        """
        shared = {id(value): value for value in _frozen_members(self.__dict__.values())}
        return copy.deepcopy(self, shared)

    def pending_of_kind(self, kind: DecisionKind) -> PendingItem | None:
        return next((item for item in self.approvals.values() if item.kind == kind), None)

    def remember_decision(self, decision_id: str, sequence: int) -> None:
        self.seen_decisions[decision_id] = sequence
        while len(self.seen_decisions) > REMEMBERED_DECISION_IDS:
            self.seen_decisions.pop(next(iter(self.seen_decisions)))


def _frozen_members(values: Iterable[object]) -> Iterator[BaseModel]:
    """The frozen models among `values` and in the lists and dicts among them (one level)."""
    for value in values:
        members: Iterable[object]
        if isinstance(value, dict):
            members = value.values()
        elif isinstance(value, list):
            members = value
        else:
            members = (value,)
        for member in members:
            if isinstance(member, BaseModel) and member.model_config.get("frozen", False):
                yield member
