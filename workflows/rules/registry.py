"""The registry of decision kinds, and the two rules every decision goes through.

The rules themselves are stated in docs/design.md (The six steps; Approvals and roles; Consent and
children; Closure criteria).

`REGISTRY` holds one `DecisionRule` per kind (see workflows/rules/rule.py); what each kind is in
words (summary, roles, when, approval mode) is in workflows/rules/kinds.py. `check` refuses an
invalid decision with a message that names the problem and changes nothing; `apply` changes the
state for a decision `check` accepted. Both are pure (time comes in as `now`), so the workflow's
validators, its signal handlers and the unit tests share them.
"""

from datetime import datetime
from functools import partial
from typing import Any

from schemas.decisions import Decision, DecisionKind
from schemas.incident import DecisionResult
from schemas.incident_state import IncidentState
from schemas.policy import MilestoneKind
from schemas.register import EventOutcome
from schemas.vocabulary import Step
from workflows.rules import administration, approvals, closing, kinds, plan, verification, victims
from workflows.rules.outcome import DecisionRefused, Effect
from workflows.rules.roles import held_roles, not_held
from workflows.rules.rule import Approval, DecisionRule

REGISTRY: dict[DecisionKind, DecisionRule[Any]] = {}


def _register(*rules: DecisionRule[Any]) -> None:
    for rule in rules:
        assert rule.kind not in REGISTRY, f"{rule.kind} registered twice"
        REGISTRY[rule.kind] = rule


_register(
    DecisionRule(
        kind=DecisionKind.ACKNOWLEDGE,
        step=Step.VERIFICATION,
        check=verification.check_acknowledge,
        effect=verification.apply_acknowledge,
    ),
    DecisionRule(
        kind=DecisionKind.IMMEDIATE_PROTECTION,
        step=None,
        check=verification.check_immediate_protection,
        effect=verification.apply_immediate_protection,
    ),
    DecisionRule(
        kind=DecisionKind.VERIFICATION,
        step=Step.VERIFICATION,
        check=verification.check_verification,
        effect=verification.apply_verification,
    ),
    DecisionRule(
        kind=DecisionKind.RESPONSE,
        step=Step.RESPONSE,
        check=verification.check_response,
        on_approval=verification.approve_response,
        summary=verification.summarise_response,
    ),
    DecisionRule(
        kind=DecisionKind.ACTION_PLAN,
        step=Step.ACTION_PLAN,
        check=plan.check_action_plan,
        on_approval=plan.approve_action_plan,
        summary=plan.summarise_action_plan,
    ),
    DecisionRule(
        kind=DecisionKind.CHECK_IN,
        step=Step.IMPLEMENTATION,
        check=plan.check_check_in,
        effect=plan.apply_check_in,
    ),
    DecisionRule(
        kind=DecisionKind.AMEND_PLAN,
        step=Step.IMPLEMENTATION,
        check=plan.check_amend_plan,
        on_approval=plan.approve_amend_plan,
        summary=plan.summarise_amend_plan,
    ),
    DecisionRule(
        kind=DecisionKind.CLOSURE,
        step=Step.CLOSURE,
        check=closing.check_closure,
        on_approval=closing.approve_closure,
        summary=closing.summarise_closure,
    ),
    DecisionRule(
        kind=DecisionKind.LESSONS_LEARNED,
        step=Step.LESSONS_LEARNED,
        check=closing.check_lessons,
        effect=closing.apply_lessons,
    ),
    DecisionRule(
        kind=DecisionKind.FOLLOW_UP,
        step=Step.FOLLOW_UP,
        check=closing.check_follow_up,
        effect=closing.apply_follow_up,
    ),
    DecisionRule(
        kind=DecisionKind.RECORD_VICTIM,
        step=None,
        check=victims.check_record_victim,
        effect=victims.apply_record_victim,
    ),
    DecisionRule(
        kind=DecisionKind.RECORD_CONSENT,
        step=None,
        check=victims.check_record_consent,
        effect=victims.apply_record_consent,
    ),
    DecisionRule(
        kind=DecisionKind.WITHDRAW_CONSENT,
        step=None,
        check=victims.check_withdraw_consent,
        effect=victims.apply_withdraw_consent,
    ),
    DecisionRule(
        kind=DecisionKind.SHARE_VICTIM_DATA,
        step=None,
        check=victims.check_share_victim_data,
        effect=victims.apply_share_victim_data,
    ),
    DecisionRule(
        kind=DecisionKind.BEST_INTERESTS,
        step=None,
        check=victims.check_best_interests,
        effect=victims.apply_best_interests,
    ),
    DecisionRule(
        kind=DecisionKind.ERASE_VICTIM,
        step=None,
        check=victims.check_erase_victim,
        on_approval=victims.approve_erase_victim,
        still_valid=victims.check_erasure_target,
        summary=victims.summarise_erase_victim,
    ),
    DecisionRule(
        kind=DecisionKind.APPROVE,
        step=None,
        check=partial(approvals.check_approve, rules=REGISTRY),
        effect=partial(approvals.apply_approve, rules=REGISTRY),
    ),
    DecisionRule(
        kind=DecisionKind.REJECT,
        step=None,
        check=approvals.check_reject,
        effect=approvals.apply_reject,
    ),
    DecisionRule(
        kind=DecisionKind.REASSIGN,
        step=None,
        check=administration.check_reassign,
        effect=administration.apply_reassign,
    ),
    DecisionRule(
        kind=DecisionKind.EXTEND_DEADLINE,
        step=None,
        check=administration.check_extend_deadline,
        on_approval=administration.approve_extend_deadline,
        still_valid=administration.check_extension_target,
        summary=administration.summarise_extend_deadline,
    ),
    DecisionRule(
        kind=DecisionKind.CLOSE_EARLY,
        step=None,
        check=closing.check_close_early,
        on_approval=closing.approve_close_early,
        summary=closing.summarise_close_early,
    ),
)


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
    rule = REGISTRY[kind]
    allowed = rule.roles
    claimed = allowed & set(decision.actor.roles)
    if not claimed:
        roles = " or ".join(sorted(allowed))
        raise DecisionRefused(
            f"{kind} needs the {roles} role; {decision.actor.id} acts as "
            f"{', '.join(decision.actor.roles) or 'no role'}"
        )
    if not claimed & held_roles(state, decision.actor):
        raise DecisionRefused(not_held(state, decision.actor, min(claimed)))
    expected_step = rule.step
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
    if rule.approval == Approval.ONE_AT_A_TIME:
        pending = state.pending_of_kind(kind)
        if pending is not None:
            raise DecisionRefused(
                f"a {kind} is already awaiting approval ({pending.approval_id}); "
                "wait for the approver's decision"
            )
    rule.check(state, decision, now)


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
    expected = REGISTRY[kind].step
    return expected is not None and step_in_flight(
        state, lessons_in_flight=False
    ) != expected == step_in_flight(state)


def apply(state: IncidentState, kind: DecisionKind, decision: Decision, now: datetime) -> Effect:
    """Change the state for a decision that `check` accepted."""
    rule = REGISTRY[kind]
    if rule.needs_approval:
        return approvals.request_approval(state, rule, decision, now)
    assert rule.effect is not None
    return rule.effect(state, decision, now)


def who_may_send(rule: DecisionRule[Any]) -> str:
    """Who may send a decision, in words, as the message contract states it."""
    return kinds.who_may_send(rule.kind)


def already_applied(
    state: IncidentState, kind: DecisionKind, decision: Decision
) -> DecisionResult | None:
    """The answer to a decision resent with the decision_id of one already applied."""
    if decision.decision_id is None:
        return None
    sequence = state.seen_decisions.get(str(decision.decision_id))
    if sequence is None:
        return None
    original = next((e for e in state.timeline if e.sequence == sequence), None)
    return DecisionResult(
        incident_id=state.incident_id,
        kind=kind,
        sequence=sequence,
        outcome=original.outcome if original else EventOutcome.ACCEPTED,
        approval_id=None,
        step=step_in_flight(state),
        message=f"decision {decision.decision_id} was already applied as event {sequence}",
        duplicate=True,
    )
