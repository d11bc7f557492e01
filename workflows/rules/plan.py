"""Steps 3 and 4: the remediation action plan, its check-ins and its amendments."""

from datetime import datetime

from schemas.actor import Role
from schemas.decisions import ActionPlan, AmendPlan, CheckIn, DecisionKind, PlannedAction
from schemas.incident_state import ActionState, IncidentState
from schemas.vocabulary import CHILD_SAFEGUARDS, ActionStatus, AssistanceType, Step
from workflows.rules.consent import child_problems, consent_problems, consents_in_force
from workflows.rules.outcome import DecisionRefused, Effect, accepted, enter_step
from workflows.rules.roles import held_roles


def check_new_actions(state: IncidentState, actions: list[PlannedAction], now: datetime) -> None:
    for action in actions:
        if action.due_date <= now.date():
            raise DecisionRefused(
                f"action {action.action_id} is due {action.due_date}, which is not after today "
                f"({now.date()})"
            )


def check_action_plan(state: IncidentState, decision: ActionPlan, now: datetime) -> None:
    check_new_actions(state, decision.actions, now)
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
    problem = consent_problems(decision.actions, consents) or child_problems(
        state, decision.actions
    )
    if problem:
        raise DecisionRefused(problem)


def check_check_in(state: IncidentState, decision: CheckIn, now: datetime) -> None:
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


def apply_check_in(state: IncidentState, decision: CheckIn, now: datetime) -> Effect:
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
    return accepted(summary, touched_actions=[p.action_id for p in decision.progress])


def check_amend_plan(state: IncidentState, decision: AmendPlan, now: datetime) -> None:
    for action in decision.add:
        if action.action_id in state.actions:
            raise DecisionRefused(f"action {action.action_id} already exists; change it instead")
    check_new_actions(state, decision.add, now)
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
    problem = consent_problems([*decision.add, *repartnered], consents) or child_problems(
        state, decision.add
    )
    if problem:
        raise DecisionRefused(problem)


def approve_action_plan(state: IncidentState, plan: ActionPlan, now: datetime) -> list[str]:
    state.plan = plan
    if state.protected:  # the plan adds to the consents recorded, never undoes one
        state.consents = consents_in_force(state, plan.consents, plan=True)
    else:  # as when the incident opened: the plan's consents as given replace the others
        state.consents = {c.victim_id: c for c in plan.consents}
    state.actions = {a.action_id: ActionState(plan=a, planned_at=now) for a in plan.actions}
    state.last_check_in_at = now
    enter_step(state, Step.IMPLEMENTATION, now)
    return list(state.actions)


def approve_amend_plan(state: IncidentState, amendment: AmendPlan, now: datetime) -> list[str]:
    state.consents = consents_in_force(state, amendment.consents)
    for added in amendment.add:
        state.actions[added.action_id] = ActionState(plan=added, planned_at=now)
    for change in amendment.change:
        action = state.actions[change.action_id]
        updates = {
            name: getattr(change, name)
            for name in ("description", "due_date", "budget", "implementing_partner")
            if getattr(change, name) is not None
        }
        action.plan = action.plan.model_copy(update=updates)
        if change.due_date is not None:
            state.deadline_overrides.pop(f"action:{change.action_id}", None)
    for cancellation in amendment.cancel:
        action = state.actions[cancellation.action_id]
        action.status = ActionStatus.CANCELLED
        action.cancellation_reason = cancellation.reason
    if state.all_actions_resolved:
        enter_step(state, Step.CLOSURE, now)
    return (
        [a.action_id for a in amendment.add]
        + [c.action_id for c in amendment.change]
        + [c.action_id for c in amendment.cancel]
    )


def summarise_action_plan(plan: ActionPlan) -> str:
    return f"action plan with {len(plan.actions)} action(s)"


def summarise_amend_plan(amendment: AmendPlan) -> str:
    return (
        f"plan amendment: {len(amendment.add)} added, {len(amendment.change)} changed, "
        f"{len(amendment.cancel)} cancelled"
    )
