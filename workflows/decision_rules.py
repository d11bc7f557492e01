"""The rules for every decision: who may send it, when, and what it changes.

The rules themselves are stated in docs/design.md (The six steps; Approvals and roles; Consent and
children; Closure criteria).

`check` refuses an invalid decision with a message that names the problem and changes nothing;
`apply` changes the state for a decision `check` accepted. Both are pure (time comes in as `now`),
so the workflow's validators, its signal handlers and the unit tests share them.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.actor import Actor, Role
from schemas.decisions import (
    Acknowledge,
    ActionPlan,
    AmendPlan,
    Approve,
    BestInterests,
    CheckIn,
    CloseEarly,
    Closure,
    Consent,
    ConsentPurpose,
    Decision,
    DecisionKind,
    EraseVictim,
    ExtendDeadline,
    FollowUp,
    ImmediateProtection,
    LessonsLearned,
    PlannedAction,
    Reassign,
    RecordConsent,
    RecordVictim,
    Reject,
    Response,
    ShareRecipient,
    ShareVictimData,
    Verification,
    WithdrawConsent,
)
from schemas.history import ReturnedItem
from schemas.incident_state import (
    GROUP_ASSESSMENT,
    ActionState,
    ApprovalSubject,
    IncidentState,
    PendingItem,
    VictimState,
)
from schemas.policy import MilestoneKind
from schemas.register import EventOutcome, NotificationKind
from schemas.vocabulary import (
    CHILD_SAFEGUARDS,
    ActionStatus,
    AssistanceType,
    CaseStatus,
    ClosureStatus,
    Relationship,
    Step,
    VerificationOutcome,
)
from workflows.incident_state import open_milestones
from workflows.severity import assessed_severity, proposed_response_level

# Recorded victims get opaque ids: an id is kept where erasure cannot reach (workflow ids, audit).
OPAQUE_VICTIM_ID = re.compile(r"^V-[0-9]{1,12}$")


class DecisionRefused(Exception):
    """A decision that is invalid for the incident as it stands; the message says why."""


ALLOWED_ROLES: dict[DecisionKind, frozenset[Role]] = {
    DecisionKind.ACKNOWLEDGE: frozenset({Role.CASE_OWNER}),
    DecisionKind.IMMEDIATE_PROTECTION: frozenset({Role.CASE_OWNER}),
    DecisionKind.VERIFICATION: frozenset({Role.VERIFIER}),
    DecisionKind.RESPONSE: frozenset({Role.CASE_OWNER}),
    DecisionKind.ACTION_PLAN: frozenset({Role.CASE_OWNER}),
    DecisionKind.CHECK_IN: frozenset({Role.CASE_OWNER, Role.IMPLEMENTING_PARTNER}),
    DecisionKind.AMEND_PLAN: frozenset({Role.CASE_OWNER}),
    DecisionKind.CLOSURE: frozenset({Role.CASE_OWNER}),
    DecisionKind.LESSONS_LEARNED: frozenset({Role.CASE_OWNER}),
    DecisionKind.APPROVE: frozenset({Role.APPROVER}),
    DecisionKind.REJECT: frozenset({Role.APPROVER}),
    DecisionKind.REASSIGN: frozenset({Role.CASE_OWNER, Role.EXECUTIVE}),
    DecisionKind.EXTEND_DEADLINE: frozenset({Role.CASE_OWNER}),
    DecisionKind.CLOSE_EARLY: frozenset({Role.CASE_OWNER}),
    DecisionKind.FOLLOW_UP: frozenset({Role.CASE_OWNER}),
    DecisionKind.RECORD_VICTIM: frozenset({Role.CASE_OWNER}),
    DecisionKind.RECORD_CONSENT: frozenset({Role.CASE_OWNER}),
    DecisionKind.WITHDRAW_CONSENT: frozenset({Role.CASE_OWNER}),
    DecisionKind.SHARE_VICTIM_DATA: frozenset({Role.CASE_OWNER}),
    DecisionKind.BEST_INTERESTS: frozenset({Role.CASE_OWNER}),
    DecisionKind.ERASE_VICTIM: frozenset({Role.CASE_OWNER}),
}

NEEDS_APPROVAL = frozenset(
    {
        DecisionKind.RESPONSE,
        DecisionKind.ACTION_PLAN,
        DecisionKind.AMEND_PLAN,
        DecisionKind.CLOSURE,
        DecisionKind.EXTEND_DEADLINE,
        DecisionKind.CLOSE_EARLY,
        DecisionKind.ERASE_VICTIM,
    }
)
# Kinds that may wait for approval several at a time (one per milestone, one per victim).
_SEVERAL_PENDING = frozenset({DecisionKind.EXTEND_DEADLINE, DecisionKind.ERASE_VICTIM})

STEP_OF_DECISION: dict[DecisionKind, Step] = {
    DecisionKind.VERIFICATION: Step.VERIFICATION,
    DecisionKind.RESPONSE: Step.RESPONSE,
    DecisionKind.ACTION_PLAN: Step.ACTION_PLAN,
    DecisionKind.CHECK_IN: Step.IMPLEMENTATION,
    DecisionKind.AMEND_PLAN: Step.IMPLEMENTATION,
    DecisionKind.CLOSURE: Step.CLOSURE,
    DecisionKind.LESSONS_LEARNED: Step.LESSONS_LEARNED,
    DecisionKind.FOLLOW_UP: Step.FOLLOW_UP,
}


@dataclass
class Notice:
    """A notification the decision causes (queued in the outbox; never victims' data)."""

    kind: NotificationKind
    recipient: str
    subject: str
    body: str


@dataclass
class Effect:
    """What an applied decision did, for the register, the timeline and the caller."""

    outcome: EventOutcome
    summary: str
    message: str
    reason: str | None = None
    approval_id: str | None = None
    touched_actions: list[str] = field(default_factory=list)
    touched_approvals: list[str] = field(default_factory=list)
    # The approval an approve or reject decided (it has left the state's pending approvals).
    decided: PendingItem | None = None
    notices: list[Notice] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# check


def check(
    state: IncidentState,
    kind: DecisionKind,
    decision: Decision,
    now: datetime,
    *,
    lessons_in_flight: bool = True,
) -> None:
    """Raise DecisionRefused when the decision is not valid now; never changes the state.

    A decision's step is judged against `step_in_flight`: the step the incident is moving to once
    an accepted decision's transition is under way (see there). `lessons_in_flight=False` judges
    the way incidents did before the storing of lessons counted as under way."""
    if state.step == Step.COMPLETED:
        raise DecisionRefused(f"incident {state.incident_id} is completed; it takes no decisions")
    allowed = ALLOWED_ROLES[kind]
    claimed = allowed & set(decision.actor.roles)
    if not claimed:
        roles = " or ".join(sorted(allowed))
        raise DecisionRefused(
            f"{kind} needs the {roles} role; {decision.actor.id} acts as "
            f"{', '.join(decision.actor.roles) or 'no role'}"
        )
    if not claimed & held_roles(state, decision.actor):
        raise DecisionRefused(_not_held(state, decision.actor, min(claimed)))
    expected_step = STEP_OF_DECISION.get(kind)
    if kind == DecisionKind.CLOSURE and state.closure is not None:
        raise DecisionRefused("the closure was already approved")
    if kind == DecisionKind.LESSONS_LEARNED and state.lessons is not None:
        raise DecisionRefused("lessons were already captured")
    step = step_in_flight(state, lessons_in_flight=lessons_in_flight)
    if expected_step is not None and step != expected_step:
        moving = f", moving to the {step} step" if step != state.step else ""
        raise DecisionRefused(
            f"{kind} belongs to the {expected_step} step; the incident is in the {state.step} "
            f"step{moving}"
        )
    if kind in NEEDS_APPROVAL and kind not in _SEVERAL_PENDING:
        pending = state.pending_of_kind(kind)
        if pending is not None:
            raise DecisionRefused(
                f"a {kind} is already awaiting approval ({pending.approval_id}); "
                "wait for the approver's decision"
            )
    _CHECKS[kind](state, decision, now)


def held_roles(state: IncidentState, actor: Actor) -> set[Role]:
    """The roles the actor claims that they really hold on this incident: case owner by
    assignment, implementing partner by the plan, the others from the policy's role directory."""
    claimed = set(actor.roles)
    if not state.protected:
        return claimed
    directory = state.policy.roles
    held = set()
    for role in claimed:
        match role:
            case Role.CASE_OWNER if state.case_owner is not None:
                holds = actor.id == state.case_owner
            case Role.CASE_OWNER | Role.VERIFIER | Role.APPROVER | Role.EXECUTIVE:
                listed = getattr(directory, role.value)
                holds = listed is None or actor.id in listed
            case Role.IMPLEMENTING_PARTNER:
                holds = any(a.plan.implementing_partner == actor.id for a in state.actions.values())
            case _:  # integrations and the system open cases and escalate; they never decide
                holds = False
        if holds:
            held.add(role)
    return held


def _not_held(state: IncidentState, actor: Actor, role: Role) -> str:
    match role:
        case Role.CASE_OWNER if state.case_owner is not None:
            return (
                f"{actor.id} is not the case owner of {state.incident_id} ({state.case_owner} is)"
            )
        case Role.IMPLEMENTING_PARTNER:
            return f"{actor.id} implements no action of {state.incident_id}'s plan"
        case Role.CASE_OWNER | Role.VERIFIER | Role.APPROVER | Role.EXECUTIVE:
            return f"{actor.id} does not hold the {role} role (the policy's roles.{role} list)"
    return f"the {role} role cannot send decisions"


def step_in_flight(state: IncidentState, *, lessons_in_flight: bool = True) -> Step:
    """The step the incident is in or, once a decision has set a transition under way, the step
    it is moving to: an answer is the state it leads to, so the decision it leads to is accepted
    at once. Two transitions finish in the workflow's main loop after the decision's answer:

    - an approved closure moves to lessons learned once the closure report is written;
    - captured lessons move to the post-closure follow-up (or complete the incident when the
      policy has no follow-up window) once they are stored in the knowledge base.
    """
    step = state.step
    if step == Step.CLOSURE and state.closure is not None:
        step = Step.LESSONS_LEARNED
    if step == Step.LESSONS_LEARNED and state.lessons is not None and lessons_in_flight:
        follow_up = state.policy.window(MilestoneKind.FOLLOW_UP, state.severity)
        step = Step.COMPLETED if follow_up is None else Step.FOLLOW_UP
    return step


def needs_lessons_in_flight(state: IncidentState, kind: DecisionKind) -> bool:
    """Whether the decision is in its step only because stored lessons count as under way."""
    expected = STEP_OF_DECISION.get(kind)
    return expected is not None and step_in_flight(
        state, lessons_in_flight=False
    ) != expected == step_in_flight(state)


def _check_acknowledge(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Acknowledge)
    if state.acknowledged_at is not None:
        raise DecisionRefused("the case was already acknowledged")
    if decision.severity != state.provisional_severity and not decision.reason:
        raise DecisionRefused(
            f"correcting the provisional severity {state.provisional_severity} to "
            f"{decision.severity} needs a reason"
        )
    if state.case_owner is not None and decision.actor.id != state.case_owner:
        raise DecisionRefused(
            f"only the assigned case owner {state.case_owner} can acknowledge this case"
        )


def _check_immediate_protection(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, ImmediateProtection)
    if not state.intake.imminent_danger:
        raise DecisionRefused(
            "immediate_protection applies only when someone is in imminent danger"
        )
    if state.protection is not None:
        raise DecisionRefused("immediate protection was already recorded")
    if decision.arranged_at is not None and decision.arranged_at > now:
        raise DecisionRefused("arranged_at is in the future; record a referral once it is made")


def _check_verification(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Verification)
    if state.acknowledged_at is None:
        raise DecisionRefused("the case must be acknowledged before it is verified")
    if state.imminent_danger_open:
        raise DecisionRefused(
            "someone is in imminent danger: record immediate_protection first (act on danger, "
            "then verify)"
        )
    rounds = state.policy.max_verification_rounds
    if (
        decision.outcome == VerificationOutcome.INCONCLUSIVE
        and state.verification_rounds + 1 >= rounds
    ):
        raise DecisionRefused(
            f"this is verification round {state.verification_rounds + 1} of {rounds}; "
            "it must conclude (substantiated, partially_substantiated or not_substantiated)"
        )


def _check_response(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Response)
    if decision.level != state.proposed_level and not decision.override_justification:
        raise DecisionRefused(
            f"the proposed response level is {state.proposed_level}; overriding it with "
            f"{decision.level} needs an override_justification"
        )
    if state.intake.imminent_danger and not decision.immediate_protection_needed:
        raise DecisionRefused(
            "someone was in imminent danger: immediate_protection_needed must be true"
        )


def _without(consent: Consent, withdrawal: WithdrawConsent) -> Consent:
    updates: dict[str, object] = {}
    if ConsentPurpose.SERVICES in withdrawal.purposes:
        updates["to_receive_services"] = False
    if ConsentPurpose.AUTHORITIES in withdrawal.purposes:
        updates["to_involve_authorities"] = False
    if ConsentPurpose.DATA_SHARING in withdrawal.purposes:
        withdrawn = withdrawal.partners
        updates["share_data_with"] = [
            p for p in consent.share_data_with if withdrawn and p not in withdrawn
        ]
    return consent.model_copy(update=updates)


def effective_consent(state: IncidentState, consent: Consent) -> Consent:
    """The consent less everything the victim withdrew after it was recorded."""
    for withdrawal in state.withdrawals:
        if withdrawal.victim_id == consent.victim_id and withdrawal.withdrawn_at >= (
            consent.recorded_at
        ):
            consent = _without(consent, withdrawal)
    return consent


def consents_in_force(
    state: IncidentState, given: Sequence[Consent] = (), *, plan: bool = False
) -> dict[str, Consent]:
    """The consent in force for each victim: the one recorded for them (by record_consent or an
    approved plan or amendment), overlaid by the one `given` in the decision at hand, each less
    what the victim withdrew after it was recorded.

    Every rule that depends on consent asks here, and the approval of a plan or an amendment and
    record_consent store what this returns: the plan, its amendments and re-partnering, sharing
    with partners and involving the authorities then judge by the same consent. When each rule
    looked for itself they disagreed: a plan saw only the consents it carried, so consent given
    with record_consent before it was refused there, though the amendment and sharing honoured it.

    An incident opened before the victim-protection rules keeps the rule it opened under, so that
    it decides as it did: its plan (`plan`) sees only its own consents, which replace the recorded
    ones when approved, and the recorded ones count as they were stored.
    """
    if state.protected:
        recorded = {v: effective_consent(state, c) for v, c in state.consents.items()}
    elif plan:
        recorded = {}
    else:
        recorded = dict(state.consents)
    return {**recorded, **{c.victim_id: effective_consent(state, c) for c in given}}


def _consent_problems(actions: list[PlannedAction], consents: dict[str, Consent]) -> str | None:
    for action in actions:
        for victim_id in action.beneficiaries:
            consent = consents.get(victim_id)
            if consent is None or not consent.to_receive_services:
                return (
                    f"action {action.action_id} serves {victim_id}, who has no recorded consent "
                    "to receive services"
                )
            partner = action.implementing_partner
            if action.uses_victim_data and partner and partner not in consent.share_data_with:
                return (
                    f"action {action.action_id} shares {victim_id}'s data with {partner}, "
                    "which their consent does not cover"
                )
    return None


def _child_problems(state: IncidentState, actions: list[PlannedAction]) -> str | None:
    """A child's best interests are assessed before any action concerning them is planned."""
    if not state.protected:
        return None
    for action in actions:
        for victim_id in action.beneficiaries:
            if state.erased(victim_id):
                return f"action {action.action_id} serves {victim_id}, whose record was erased"
            if state.is_child(victim_id) and victim_id not in state.best_interests:
                return (
                    f"action {action.action_id} concerns the child {victim_id}, who has no "
                    "best-interests assessment: record best_interests first"
                )
        assessed_children = [
            v for v in action.beneficiaries if state.is_child(v) and v in state.best_interests
        ]
        if (
            action.concerns_children
            and GROUP_ASSESSMENT not in state.best_interests
            and not assessed_children
        ):
            return (
                f"action {action.action_id} concerns children: record a best_interests "
                "assessment of the children concerned (or of each child it serves) first"
            )
    return None


def _check_new_actions(state: IncidentState, actions: list[PlannedAction], now: datetime) -> None:
    for action in actions:
        if action.due_date <= now.date():
            raise DecisionRefused(
                f"action {action.action_id} is due {action.due_date}, which is not after today "
                f"({now.date()})"
            )


def _check_action_plan(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, ActionPlan)
    _check_new_actions(state, decision.actions, now)
    protection_needed = state.response is not None and state.response.immediate_protection_needed
    if protection_needed and not any(
        a.assistance_type == AssistanceType.IMMEDIATE_SAFETY for a in decision.actions
    ):
        raise DecisionRefused(
            "the response requires immediate protection, so the plan needs an "
            "immediate_safety assistance action"
        )
    children = state.verification is not None and state.verification.affected_persons.children
    for_children = [a for a in decision.actions if a.concerns_children]
    if (children or for_children) and not any(
        a.assistance_type in CHILD_SAFEGUARDS for a in for_children
    ):
        raise DecisionRefused(
            "children are affected: the plan needs an action concerning children with education "
            "or a best_interests_assessment"
        )
    consents = consents_in_force(state, decision.consents, plan=True)
    problem = _consent_problems(decision.actions, consents) or _child_problems(
        state, decision.actions
    )
    if problem:
        raise DecisionRefused(problem)


def _check_check_in(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, CheckIn)
    if decision.period_end > now.date():
        raise DecisionRefused(f"period_end {decision.period_end} is in the future")
    partner_only = Role.CASE_OWNER not in held_roles(state, decision.actor)
    for progress in decision.progress:
        action = state.actions.get(progress.action_id)
        if action is None:
            raise DecisionRefused(f"the plan has no action {progress.action_id}")
        if action.resolved:
            raise DecisionRefused(f"action {progress.action_id} is already {action.status}")
        if partner_only and action.plan.implementing_partner != decision.actor.id:
            raise DecisionRefused(
                f"{decision.actor.id} may report only on their own actions; "
                f"{progress.action_id} is implemented by "
                f"{action.plan.implementing_partner or 'no partner'}"
            )


def _check_amend_plan(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, AmendPlan)
    for action in decision.add:
        if action.action_id in state.actions:
            raise DecisionRefused(f"action {action.action_id} already exists; change it instead")
    _check_new_actions(state, decision.add, now)
    for action_id in [c.action_id for c in decision.change] + [
        c.action_id for c in decision.cancel
    ]:
        existing = state.actions.get(action_id)
        if existing is None:
            raise DecisionRefused(f"the plan has no action {action_id}")
        if existing.resolved:
            raise DecisionRefused(f"action {action_id} is already {existing.status}")
    for change in decision.change:
        if change.due_date is not None and change.due_date <= now.date():
            raise DecisionRefused(f"action {change.action_id}: new due date is not after today")
    consents = consents_in_force(state, decision.consents)
    repartnered = [
        state.actions[change.action_id].plan.model_copy(
            update={"implementing_partner": change.implementing_partner}
        )
        for change in decision.change
        if change.implementing_partner is not None
    ]
    problem = _consent_problems([*decision.add, *repartnered], consents) or _child_problems(
        state, decision.add
    )
    if problem:
        raise DecisionRefused(problem)


def _check_closure(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Closure)
    if state.closure is not None:
        raise DecisionRefused("the closure was already approved")
    checklist = decision.checklist
    open_actions = [a.plan.action_id for a in state.actions.values() if not a.resolved]
    if open_actions:
        raise DecisionRefused(f"actions still open: {', '.join(open_actions)}")
    if state.actions and not checklist.all_actions_resolved:
        raise DecisionRefused("checklist.all_actions_resolved must be confirmed")
    if not checklist.no_ongoing_risk:
        raise DecisionRefused(
            "an incident with ongoing risk to victims cannot close; keep monitoring or refer it"
        )
    if not checklist.grievance_channel_open:
        raise DecisionRefused("the grievance channel must stay open to the victims after closure")


def _check_lessons(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, LessonsLearned)
    if state.lessons is not None:
        raise DecisionRefused("lessons were already captured")


def _pending_for_approver(state: IncidentState, decision: Approve | Reject) -> PendingItem:
    item = state.approvals.get(decision.approval_id)
    if item is None:
        waiting = ", ".join(state.approvals) or "none"
        raise DecisionRefused(
            f"no pending approval {decision.approval_id}; pending approvals: {waiting}"
        )
    if item.author.id == decision.actor.id:
        raise DecisionRefused(
            f"{decision.actor.id} submitted {item.approval_id} and cannot also decide it "
            "(four eyes)"
        )
    return item


def _check_approve(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Approve)
    item = _pending_for_approver(state, decision)
    # The incident may have moved on since the request (an action resolved, a step ended):
    # what is approved must still be valid now, or the approver should reject it.
    expected_step = STEP_OF_DECISION.get(item.kind)
    if expected_step is not None and state.step != expected_step:
        raise DecisionRefused(
            f"{item.approval_id} no longer applies: the incident moved from the {expected_step} "
            f"step to the {state.step} step; reject it instead"
        )
    try:
        if isinstance(item.subject, ExtendDeadline):
            _check_extension_target(state, item.subject, now)
        elif isinstance(item.subject, EraseVictim):
            _check_erasure_target(state, item.subject)
        else:
            _CHECKS[item.kind](state, item.subject, now)
    except DecisionRefused as stale:
        raise DecisionRefused(
            f"{item.approval_id} no longer applies ({stale}); reject it instead"
        ) from None


def _check_reject(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Reject)
    _pending_for_approver(state, decision)


def _check_reassign(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, Reassign)
    if decision.new_case_owner == state.case_owner:
        raise DecisionRefused(f"{decision.new_case_owner} already owns the case")
    listed = state.policy.roles.case_owner
    if state.protected and listed is not None and decision.new_case_owner not in listed:
        raise DecisionRefused(
            f"{decision.new_case_owner} does not hold the case_owner role (the policy's "
            "roles.case_owner list)"
        )


def _check_extension_target(state: IncidentState, decision: ExtendDeadline, now: datetime) -> None:
    milestone = next((m for m in open_milestones(state) if m.milestone == decision.milestone), None)
    if milestone is None:
        names = ", ".join(m.milestone for m in open_milestones(state)) or "none"
        raise DecisionRefused(f"no open milestone {decision.milestone}; open milestones: {names}")
    if decision.new_deadline <= max(milestone.due_at, now):
        raise DecisionRefused(
            f"the new deadline must be later than the current one ({milestone.due_at.isoformat()}) "
            "and than now"
        )


def _check_extend_deadline(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, ExtendDeadline)
    _check_extension_target(state, decision, now)
    for item in state.approvals.values():
        if (
            isinstance(item.subject, ExtendDeadline)
            and item.subject.milestone == decision.milestone
        ):
            raise DecisionRefused(
                f"an extension of {decision.milestone} is already awaiting approval "
                f"({item.approval_id})"
            )


def _check_close_early(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, CloseEarly)
    if state.step in (Step.CLOSURE, Step.LESSONS_LEARNED, Step.FOLLOW_UP):
        raise DecisionRefused(
            f"the incident is already in the {state.step} step; close it through the process"
        )
    if decision.related_incident == state.incident_id:
        raise DecisionRefused("an incident cannot duplicate or merge into itself")
    erasures = [
        i.approval_id for i in state.approvals.values() if isinstance(i.subject, EraseVictim)
    ]
    if erasures:
        raise DecisionRefused(
            f"an erasure awaits approval ({', '.join(erasures[:3])}): decide it before closing"
        )


def _check_follow_up(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, FollowUp)
    if state.follow_up is not None:
        raise DecisionRefused("the follow-up was already recorded")


def _recorded_victim(state: IncidentState, victim_id: str) -> VictimState:
    victim = state.victims.get(victim_id)
    if victim is None:
        raise DecisionRefused(
            f"{victim_id} is not a recorded victim of this incident "
            f"({len(state.victims)} recorded); record_victim first"
        )
    return victim


def _not_erased(state: IncidentState, victim_id: str) -> None:
    if state.erased(victim_id):
        raise DecisionRefused(f"{victim_id}'s record was erased; nothing more can be recorded")


def _not_in_future(moment: datetime, name: str, now: datetime) -> None:
    if moment > now:
        raise DecisionRefused(f"{name} {moment.isoformat()} is in the future")


def _check_record_victim(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, RecordVictim)
    _not_erased(state, decision.victim_id)
    if not OPAQUE_VICTIM_ID.match(decision.victim_id):
        raise DecisionRefused(
            f"victim ids are opaque numbers such as V-0001, never names: {decision.victim_id}"
        )
    if state.is_child(decision.victim_id) and not decision.child:
        raise DecisionRefused(
            f"{decision.victim_id} is recorded as a child; a child's record stays a child's"
        )


def _check_record_consent(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, RecordConsent)
    _recorded_victim(state, decision.consent.victim_id)
    _not_erased(state, decision.consent.victim_id)
    _not_in_future(decision.consent.recorded_at, "recorded_at", now)


def _check_withdraw_consent(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, WithdrawConsent)
    pending = [
        c.victim_id
        for item in state.approvals.values()
        if isinstance(item.subject, ActionPlan | AmendPlan)
        for c in item.subject.consents
    ]
    if decision.victim_id not in state.consents and decision.victim_id not in pending:
        raise DecisionRefused(f"{decision.victim_id} has no recorded consent to withdraw")
    _not_in_future(decision.withdrawn_at, "withdrawn_at", now)


def sharing_problem(state: IncidentState, decision: ShareVictimData) -> str | None:
    """Why this sharing is not covered by the victim's recorded consent, if it is not."""
    victim_id = decision.victim_id
    consent = consents_in_force(state).get(victim_id)
    if consent is None:
        return f"{victim_id} has no recorded consent; record_consent first"
    if decision.recipient_kind == ShareRecipient.AUTHORITIES and not consent.to_involve_authorities:
        return f"{victim_id}'s consent does not cover involving the authorities"
    if (
        decision.recipient_kind == ShareRecipient.PARTNER
        and decision.recipient not in consent.share_data_with
    ):
        return f"{victim_id}'s consent does not cover sharing their data with {decision.recipient}"
    if state.is_child(victim_id) and victim_id not in state.best_interests:
        return f"{victim_id} is a child: record a best-interests assessment before sharing"
    return None


def _check_share_victim_data(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, ShareVictimData)
    _recorded_victim(state, decision.victim_id)
    _not_erased(state, decision.victim_id)
    problem = sharing_problem(state, decision)
    if problem:
        raise DecisionRefused(problem)


def _check_best_interests(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, BestInterests)
    _not_in_future(decision.assessed_at, "assessed_at", now)
    if decision.victim_id is not None:
        victim = _recorded_victim(state, decision.victim_id)
        _not_erased(state, decision.victim_id)
        if not victim.child:
            raise DecisionRefused(f"{decision.victim_id} is not recorded as a child")


def _check_erasure_target(state: IncidentState, decision: EraseVictim) -> None:
    _recorded_victim(state, decision.victim_id)
    if state.erased(decision.victim_id):
        raise DecisionRefused(f"{decision.victim_id} was already erased")


def _check_erase_victim(state: IncidentState, decision: Decision, now: datetime) -> None:
    assert isinstance(decision, EraseVictim)
    _check_erasure_target(state, decision)
    for item in state.approvals.values():
        if isinstance(item.subject, EraseVictim) and item.subject.victim_id == decision.victim_id:
            raise DecisionRefused(
                f"the erasure of {decision.victim_id} is already awaiting approval "
                f"({item.approval_id})"
            )


_CHECKS: dict[DecisionKind, Callable[[IncidentState, Decision, datetime], None]] = {
    DecisionKind.ACKNOWLEDGE: _check_acknowledge,
    DecisionKind.IMMEDIATE_PROTECTION: _check_immediate_protection,
    DecisionKind.VERIFICATION: _check_verification,
    DecisionKind.RESPONSE: _check_response,
    DecisionKind.ACTION_PLAN: _check_action_plan,
    DecisionKind.CHECK_IN: _check_check_in,
    DecisionKind.AMEND_PLAN: _check_amend_plan,
    DecisionKind.CLOSURE: _check_closure,
    DecisionKind.LESSONS_LEARNED: _check_lessons,
    DecisionKind.APPROVE: _check_approve,
    DecisionKind.REJECT: _check_reject,
    DecisionKind.REASSIGN: _check_reassign,
    DecisionKind.EXTEND_DEADLINE: _check_extend_deadline,
    DecisionKind.CLOSE_EARLY: _check_close_early,
    DecisionKind.FOLLOW_UP: _check_follow_up,
    DecisionKind.RECORD_VICTIM: _check_record_victim,
    DecisionKind.RECORD_CONSENT: _check_record_consent,
    DecisionKind.WITHDRAW_CONSENT: _check_withdraw_consent,
    DecisionKind.SHARE_VICTIM_DATA: _check_share_victim_data,
    DecisionKind.BEST_INTERESTS: _check_best_interests,
    DecisionKind.ERASE_VICTIM: _check_erase_victim,
}


# ---------------------------------------------------------------------------------------------
# apply


def enter_step(state: IncidentState, step: Step, now: datetime) -> None:
    state.step = step
    state.step_entered_at = now


def apply(state: IncidentState, kind: DecisionKind, decision: Decision, now: datetime) -> Effect:
    """Change the state for a decision that `check` accepted."""
    if kind in NEEDS_APPROVAL:
        return _request_approval(state, kind, decision, now)
    return _APPLIERS[kind](state, decision, now)


def _summary_of(kind: DecisionKind, decision: Decision) -> str:
    match decision:
        case Response():
            return (
                f"response level {decision.level}, "
                f"business relationship {decision.business_relationship}"
            )
        case ActionPlan():
            return f"action plan with {len(decision.actions)} action(s)"
        case AmendPlan():
            return (
                f"plan amendment: {len(decision.add)} added, {len(decision.change)} changed, "
                f"{len(decision.cancel)} cancelled"
            )
        case Closure():
            return f"closure as {decision.status}"
        case ExtendDeadline():
            return f"extend {decision.milestone} to {decision.new_deadline.isoformat()}"
        case CloseEarly():
            return f"early closure as {decision.reason}"
        case EraseVictim():
            return f"erase {decision.victim_id}'s personal data"
    return str(kind)


def _request_approval(
    state: IncidentState, kind: DecisionKind, decision: Decision, now: datetime
) -> Effect:
    assert isinstance(decision, ApprovalSubject)
    state.approvals_requested += 1
    approval_id = f"{kind}-{state.approvals_requested}"
    summary = _summary_of(kind, decision)
    state.approvals[approval_id] = PendingItem(
        approval_id=approval_id,
        kind=kind,
        author=decision.actor,
        requested_at=now,
        subject=decision,
        summary=summary,
    )
    state.returned = [r for r in state.returned if r.kind != kind]
    return Effect(
        outcome=EventOutcome.PENDING_APPROVAL,
        summary=f"{summary}: awaiting approval {approval_id}",
        message=f"{kind} recorded and awaiting approval {approval_id} by an approver other than "
        f"{decision.actor.id}",
        reason=_reason_of(decision),
        approval_id=approval_id,
        touched_approvals=[approval_id],
        notices=[
            Notice(
                NotificationKind.APPROVAL_REQUESTED,
                "approvers",
                f"Approval requested: {approval_id} on {state.incident_id}",
                f"{decision.actor.id} asks for approval of: {summary}.",
            )
        ],
    )


def _reason_of(decision: Decision) -> str | None:
    for name in ("reason", "justification", "override_justification", "comments", "explanation"):
        value = getattr(decision, name, None)
        if isinstance(value, str):
            return value
    return None


def _accepted(summary: str, message: str | None = None, **extra: object) -> Effect:
    return Effect(
        outcome=EventOutcome.ACCEPTED,
        summary=summary,
        message=message or summary[:1].upper() + summary[1:] + ".",
        **extra,  # type: ignore[arg-type]
    )


def _apply_acknowledge(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, Acknowledge)
    corrected = decision.severity != state.severity
    state.severity = decision.severity
    state.severity_confirmed = True
    state.acknowledged_at = now
    notices = []
    if state.case_owner is None:
        state.case_owner = decision.actor.id
    reporter = state.intake.reporter
    if reporter is not None and reporter.contact:
        notices.append(
            Notice(
                NotificationKind.REPORTER_ACKNOWLEDGED,
                "reporter",
                f"Your report {state.intake.external_reference} was received",
                "Your report has been received and a case has been opened. It will be handled "
                "confidentially; you can reach us through the same channel.",
            )
        )
    verb = "corrected to" if corrected else "confirmed as"
    return _accepted(
        f"case acknowledged by {decision.actor.id}; severity {verb} {decision.severity}",
        reason=decision.reason,
        notices=notices,
    )


def _apply_immediate_protection(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, ImmediateProtection)
    state.protection = decision
    made = "referral made" if decision.referral_made else "no referral possible"
    return _accepted(f"immediate protection recorded: {made}", reason=decision.reason_not_made)


def _apply_verification(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, Verification)
    if decision.outcome == VerificationOutcome.INCONCLUSIVE:
        state.verification_rounds += 1
        state.step_entered_at = now
        state.deadline_overrides.pop("verification", None)
        return _accepted(
            f"verification round {state.verification_rounds} inconclusive; more information needed",
            reason=decision.information_needed,
        )
    state.verification = decision
    state.severity = assessed_severity(decision)
    state.severity_confirmed = True
    state.proposed_level = proposed_response_level(
        decision, state.severity, state.intake.imminent_danger
    )
    summary = f"verification {decision.outcome}, relationship to the harm {decision.relationship}"
    if (
        decision.outcome == VerificationOutcome.NOT_SUBSTANTIATED
        or decision.relationship == Relationship.NO_LINK
    ):
        state.closure_reason = (
            "not substantiated"
            if decision.outcome == VerificationOutcome.NOT_SUBSTANTIATED
            else "no link to the company's supply chain"
        )
        enter_step(state, Step.CLOSURE, now)
        return _accepted(f"{summary}; goes to closure ({state.closure_reason})")
    enter_step(state, Step.RESPONSE, now)
    return _accepted(
        f"{summary}; severity {state.severity}, proposed response {state.proposed_level}"
    )


def _apply_check_in(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, CheckIn)
    for progress in decision.progress:
        action = state.actions[progress.action_id]
        action.status = progress.status
        action.progress_percent = progress.progress_percent
        action.spend_to_date = progress.spend_to_date
        action.completion = progress.completion
        action.cancellation_reason = progress.cancellation_reason
    state.last_check_in_at = now
    # An extension applied to the check-in just made, not to the ones after it.
    state.deadline_overrides.pop("check_in", None)
    summary = f"check-in for {decision.period_start} to {decision.period_end}"
    if state.all_actions_resolved and state.pending_of_kind(DecisionKind.AMEND_PLAN) is None:
        enter_step(state, Step.CLOSURE, now)
        summary += "; every action is resolved, closure is next"
    return _accepted(summary, touched_actions=[p.action_id for p in decision.progress])


def _apply_lessons(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, LessonsLearned)
    state.lessons = decision
    causes = ", ".join(decision.root_causes)
    return _accepted(f"lessons learned captured (root causes: {causes})")


def _apply_reassign(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, Reassign)
    previous = state.case_owner or "nobody"
    state.case_owner = decision.new_case_owner
    return _accepted(
        f"case reassigned from {previous} to {decision.new_case_owner}",
        reason=decision.reason,
        notices=[
            Notice(
                NotificationKind.CASE_OWNER_ASSIGNED,
                decision.new_case_owner,
                f"You now own {state.incident_id}",
                f"{decision.actor.id} assigned {state.incident_id} to you.",
            )
        ],
    )


def _apply_reject(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, Reject)
    item = state.approvals.pop(decision.approval_id)
    if (
        item.kind == DecisionKind.AMEND_PLAN
        and state.step == Step.IMPLEMENTATION
        and state.actions
        and state.all_actions_resolved
    ):
        # The check-ins had resolved every action while this amendment waited.
        enter_step(state, Step.CLOSURE, now)
    state.returned.append(
        ReturnedItem(
            approval_id=item.approval_id,
            kind=item.kind,
            author=item.author.id,
            rejected_by=decision.actor.id,
            rejected_at=now,
            comments=decision.comments,
        )
    )
    return Effect(
        outcome=EventOutcome.REJECTED,
        summary=f"{item.approval_id} rejected by {decision.actor.id}; returned to {item.author.id}",
        message=f"{item.approval_id} rejected and returned to {item.author.id} with the comments.",
        reason=decision.comments,
        approval_id=item.approval_id,
        touched_approvals=[item.approval_id],
        decided=item,
        notices=[
            Notice(
                NotificationKind.ITEM_RETURNED,
                item.author.id,
                f"{item.approval_id} on {state.incident_id} was returned",
                f"{decision.actor.id} rejected {item.approval_id}: revise and resubmit.",
            )
        ],
    )


def _apply_approve(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, Approve)
    item = state.approvals.pop(decision.approval_id)
    touched_actions = _approved(state, item.subject, now)
    if isinstance(item.subject, EraseVictim):  # erased by the approver's decision
        state.victims[item.subject.victim_id].erased_by = decision.actor.id
    return Effect(
        outcome=EventOutcome.APPROVED,
        summary=f"{item.approval_id} approved by {decision.actor.id}: {item.summary}",
        message=f"{item.approval_id} approved; the incident is in the {state.step} step.",
        reason=decision.comments,
        approval_id=item.approval_id,
        touched_approvals=[item.approval_id],
        decided=item,
        touched_actions=touched_actions,
    )


def _approved(state: IncidentState, subject: ApprovalSubject, now: datetime) -> list[str]:
    """Carry out an approved decision; returns the actions it touched."""
    match subject:
        case Response():
            state.response = subject
            enter_step(state, Step.ACTION_PLAN, now)
        case ActionPlan():
            state.plan = subject
            if state.protected:  # the plan adds to the consents recorded, never undoes one
                state.consents = consents_in_force(state, subject.consents, plan=True)
            else:  # as when the incident opened: the plan's consents as given replace the others
                state.consents = {c.victim_id: c for c in subject.consents}
            state.actions = {
                a.action_id: ActionState(plan=a, planned_at=now) for a in subject.actions
            }
            state.last_check_in_at = now
            enter_step(state, Step.IMPLEMENTATION, now)
            return list(state.actions)
        case AmendPlan():
            state.consents = consents_in_force(state, subject.consents)
            for added in subject.add:
                state.actions[added.action_id] = ActionState(plan=added, planned_at=now)
            for change in subject.change:
                action = state.actions[change.action_id]
                updates = {
                    name: getattr(change, name)
                    for name in ("description", "due_date", "budget", "implementing_partner")
                    if getattr(change, name) is not None
                }
                action.plan = action.plan.model_copy(update=updates)
                if change.due_date is not None:
                    state.deadline_overrides.pop(f"action:{change.action_id}", None)
            for cancellation in subject.cancel:
                action = state.actions[cancellation.action_id]
                action.status = ActionStatus.CANCELLED
                action.cancellation_reason = cancellation.reason
            if state.all_actions_resolved:
                enter_step(state, Step.CLOSURE, now)
            return (
                [a.action_id for a in subject.add]
                + [c.action_id for c in subject.change]
                + [c.action_id for c in subject.cancel]
            )
        case Closure():
            state.closure = subject
            state.closed_at = now
            state.closure_reason = state.closure_reason or "remediation completed"
            state.case_status = (
                CaseStatus.CLOSED_REFERRED
                if subject.status == ClosureStatus.CLOSED_REFERRED
                else CaseStatus.CLOSED
            )
        case ExtendDeadline():
            state.deadline_overrides[subject.milestone] = subject.new_deadline
        case CloseEarly():
            state.early_closure = subject
            state.closed_at = now
            state.closure_reason = f"closed early: {subject.reason}"
            state.case_status = CaseStatus.CLOSED
            state.approvals.clear()
            enter_step(state, Step.COMPLETED, now)
        case EraseVictim():
            victim = state.victims[subject.victim_id]
            victim.erased_at = now
            victim.personal_data_recorded = False
    return []


def _apply_follow_up(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, FollowUp)
    state.follow_up = decision
    sustained = "remedy sustained" if decision.remedy_sustained else "remedy not sustained"
    recurred = "; harm recurred, a linked incident opens" if decision.recurrence else ""
    return _accepted(f"follow-up recorded: {sustained}{recurred}")


def _apply_record_victim(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, RecordVictim)
    previous = state.victims.get(decision.victim_id)
    state.victims[decision.victim_id] = VictimState(
        victim_id=decision.victim_id,
        child=decision.child,
        recorded_at=previous.recorded_at if previous else now,
        recorded_by=previous.recorded_by if previous else decision.actor.id,
        personal_data_recorded=decision.personal_data is not None
        or (previous is not None and previous.personal_data_recorded),
    )
    who = "child" if decision.child else "adult"
    data = "; personal data sealed under their own key" if decision.personal_data else ""
    verb = "updated" if previous else "recorded"
    return _accepted(f"victim {decision.victim_id} ({who}) {verb}{data}")


def _apply_record_consent(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, RecordConsent)
    state.consents = consents_in_force(state, [decision.consent])
    consent = state.consents[decision.consent.victim_id]
    covers = ["services"] if consent.to_receive_services else []
    covers += [f"sharing with {len(consent.share_data_with)} partner(s)"] * bool(
        consent.share_data_with
    )
    covers += ["authorities"] if consent.to_involve_authorities else []
    return _accepted(f"consent of {consent.victim_id} recorded ({', '.join(covers) or 'nothing'})")


def _apply_withdraw_consent(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, WithdrawConsent)
    state.withdrawals.append(decision)
    consent = state.consents.get(decision.victim_id)
    if consent is not None:
        state.consents[decision.victim_id] = _without(consent, decision)
    affected = [
        action
        for action in state.actions.values()
        if decision.victim_id in action.plan.beneficiaries and not action.resolved
    ]
    purposes = ", ".join(decision.purposes)
    summary = f"{decision.victim_id} withdrew consent ({purposes})"
    if affected:
        summary += f"; actions serving them: {', '.join(a.plan.action_id for a in affected)}"
    partners = sorted(
        {a.plan.implementing_partner for a in affected if a.plan.implementing_partner}
    )
    notices = [
        Notice(
            NotificationKind.CONSENT_WITHDRAWN,
            recipient,
            f"Consent withdrawn on {state.incident_id}",
            f"{decision.victim_id} withdrew consent ({purposes}). Stop anything that relies on "
            "it; the case owner will amend the plan.",
        )
        for recipient in [*partners, state.case_owner or "case_owners"]
    ]
    return _accepted(summary, reason=decision.reason, notices=notices)


def _apply_share_victim_data(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, ShareVictimData)
    return _accepted(
        f"{decision.victim_id}'s data shared with {decision.recipient_kind} "
        f"{decision.recipient} under their consent",
        reason=decision.purpose,
    )


def _apply_best_interests(state: IncidentState, decision: Decision, now: datetime) -> Effect:
    assert isinstance(decision, BestInterests)
    subject = decision.victim_id or GROUP_ASSESSMENT
    state.best_interests[subject] = decision
    whom = decision.victim_id or "the children concerned"
    return _accepted(f"best-interests assessment of {whom} recorded")


_APPLIERS: dict[DecisionKind, Callable[[IncidentState, Decision, datetime], Effect]] = {
    DecisionKind.ACKNOWLEDGE: _apply_acknowledge,
    DecisionKind.IMMEDIATE_PROTECTION: _apply_immediate_protection,
    DecisionKind.VERIFICATION: _apply_verification,
    DecisionKind.CHECK_IN: _apply_check_in,
    DecisionKind.LESSONS_LEARNED: _apply_lessons,
    DecisionKind.APPROVE: _apply_approve,
    DecisionKind.REJECT: _apply_reject,
    DecisionKind.REASSIGN: _apply_reassign,
    DecisionKind.FOLLOW_UP: _apply_follow_up,
    DecisionKind.RECORD_VICTIM: _apply_record_victim,
    DecisionKind.RECORD_CONSENT: _apply_record_consent,
    DecisionKind.WITHDRAW_CONSENT: _apply_withdraw_consent,
    DecisionKind.SHARE_VICTIM_DATA: _apply_share_victim_data,
    DecisionKind.BEST_INTERESTS: _apply_best_interests,
}
