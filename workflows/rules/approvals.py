"""Approvals: a decision that needs one waits as a pending item; an approver other than its author
approves it (then it takes effect) or rejects it (then it returns to its author).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.decisions import Approve, Decision, DecisionKind, EraseVictim, Reject
from schemas.history import ReturnedItem
from schemas.incident_state import ApprovalSubject, IncidentState, PendingItem
from schemas.register import EventOutcome, NotificationKind
from schemas.vocabulary import Step
from workflows.rules.outcome import DecisionRefused, Effect, Notice, enter_step, reason_of
from workflows.rules.roles import four_eyes
from workflows.rules.rule import DecisionRule


def request_approval(
    state: IncidentState, rule: DecisionRule[Any], decision: Decision, now: datetime
) -> Effect:
    """The decision waits for an approver: a pending item `<kind>-<n>`, and a request to the
    approvers."""
    assert isinstance(decision, ApprovalSubject)
    kind = rule.kind
    state.approvals_requested += 1
    approval_id = f"{kind}-{state.approvals_requested}"
    summary = rule.summary_of(decision)
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
        reason=reason_of(decision),
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


def pending_for_approver(state: IncidentState, decision: Approve | Reject) -> PendingItem:
    """The item the approver decides, if they may: it is pending, and they did not submit it."""
    item = state.approvals.get(decision.approval_id)
    if item is None:
        waiting = ", ".join(state.approvals) or "none"
        raise DecisionRefused(
            f"no pending approval {decision.approval_id}; pending approvals: {waiting}"
        )
    four_eyes(decision.actor, item.author.id, f"submitted {item.approval_id}")
    return item


def check_approve(
    state: IncidentState,
    decision: Approve,
    now: datetime,
    *,
    rules: Mapping[DecisionKind, DecisionRule[Any]],
) -> None:
    item = pending_for_approver(state, decision)
    rule = rules[item.kind]
    # The incident may have moved on since the request (an action resolved, a step ended):
    # what is approved must still be valid now, or the approver should reject it.
    if rule.step is not None and state.step != rule.step:
        raise DecisionRefused(
            f"{item.approval_id} no longer applies: the incident moved from the {rule.step} "
            f"step to the {state.step} step; reject it instead"
        )
    try:
        (rule.still_valid or rule.check)(state, item.subject, now)
    except DecisionRefused as stale:
        raise DecisionRefused(
            f"{item.approval_id} no longer applies ({stale}); reject it instead"
        ) from None


def check_reject(state: IncidentState, decision: Reject, now: datetime) -> None:
    pending_for_approver(state, decision)


def apply_reject(state: IncidentState, decision: Reject, now: datetime) -> Effect:
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


def apply_approve(
    state: IncidentState,
    decision: Approve,
    now: datetime,
    *,
    rules: Mapping[DecisionKind, DecisionRule[Any]],
) -> Effect:
    item = state.approvals.pop(decision.approval_id)
    on_approval = rules[item.kind].on_approval
    assert on_approval is not None, f"{item.kind} needs no approval"
    touched_actions = on_approval(state, item.subject, now)
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
