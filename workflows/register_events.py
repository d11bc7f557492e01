"""What the case register receives for one event of an incident (pure).

`register_event` turns a draft of the incident's state after an event into the register's record
of it (the event, the incident row's snapshot, the approvals, actions, check-in, escalation and
victim it touches) and its notifications, and adds the event to the draft's timeline. The
register writes all of it in one transaction (activities/case_register.py).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.actor import Actor
from schemas.decisions import CheckIn, Decision, EraseVictim, RecordVictim
from schemas.history import TimelineEvent
from schemas.incident_state import IncidentState
from schemas.register import (
    ActionRecord,
    ApprovalRecord,
    ApprovalStatus,
    CheckInRecord,
    EscalationRecord,
    EventOutcome,
    IncidentSnapshot,
    Notification,
    RegisterEvent,
    VictimRecord,
)
from workflows.incident_state import open_milestones
from workflows.rules.outcome import Effect

# The register holds at most this many characters of a reason; a longer refusal must not fail the
# workflow task for ever.
REASON_MAX = 4_000


@dataclass(frozen=True)
class Records:
    """What an event touches besides the incident row, when it touches it."""

    check_in: CheckIn | None = None
    escalation: EscalationRecord | None = None
    victim: VictimRecord | None = None
    erased_victim: str | None = None


NOTHING_ELSE = Records()


def register_event(
    draft: IncidentState,
    kind: str,
    actor: Actor,
    effect: Effect,
    payload: Any,
    now: datetime,
    run_lineage: str,
    records: Records,
) -> tuple[RegisterEvent, list[Notification]]:
    """The event numbered `draft.sequence`, for the register and the draft's timeline."""
    reason = None if effect.reason is None else effect.reason[:REASON_MAX]
    draft.timeline.append(
        TimelineEvent(
            sequence=draft.sequence,
            at=now,
            kind=kind,
            outcome=effect.outcome,
            actor=actor,
            reason=reason,
            summary=effect.summary,
        )
    )
    check_in = records.check_in
    event = RegisterEvent(
        incident_id=draft.incident_id,
        sequence=draft.sequence,
        kind=kind,
        outcome=effect.outcome,
        actor=actor,
        occurred_at=now,
        reason=reason,
        summary=effect.summary[:300],
        payload=payload,
        snapshot=snapshot(draft, now),
        escalation=records.escalation,
        victim=records.victim,
        erased_victim=records.erased_victim,
        run_lineage=run_lineage,
        approvals=[
            _approval_record(draft, approval_id, actor, effect, now)
            for approval_id in effect.touched_approvals
        ],
        actions=[_action_record(draft, action_id) for action_id in effect.touched_actions],
        check_in=None
        if check_in is None
        else CheckInRecord(
            period_start=check_in.period_start,
            period_end=check_in.period_end,
            submitted_by=actor.id,
            actions_reported=len(check_in.progress),
            victim_feedback=check_in.victim_feedback,
            new_risks=check_in.new_risks,
        ),
    )
    notifications = [
        Notification(
            incident_id=draft.incident_id,
            sequence=draft.sequence,
            kind=notice.kind,
            recipient=notice.recipient,
            subject=notice.subject,
            body=notice.body,
            created_at=now,
        )
        for notice in effect.notices
    ]
    return event, notifications


def snapshot(state: IncidentState, now: datetime) -> IncidentSnapshot:
    milestones = open_milestones(state)
    return IncidentSnapshot(
        escalation_level=max((e.level for e in state.escalations.values()), default=0),
        overdue=bool(state.escalations) or any(m.due_at < now for m in milestones),
        next_deadline=milestones[0].due_at if milestones else None,
        step=state.step,
        case_status=state.case_status,
        severity=state.severity,
        response_level=state.response.level if state.response else None,
        relationship=state.verification.relationship if state.verification else None,
        case_owner=state.case_owner,
        closed_at=state.closed_at,
        closure_reason=state.closure_reason,
    )


def _approval_record(
    state: IncidentState, approval_id: str, actor: Actor, effect: Effect, now: datetime
) -> ApprovalRecord:
    pending = state.approvals.get(approval_id)
    if pending is not None:
        return ApprovalRecord(
            approval_id=approval_id,
            kind=pending.kind,
            author_id=pending.author.id,
            requested_at=pending.requested_at,
            due_at=next(
                (
                    m.due_at
                    for m in open_milestones(state)
                    if m.milestone == f"approval:{approval_id}"
                ),
                None,
            ),
            status=ApprovalStatus.PENDING,
        )
    decided = effect.decided
    assert decided is not None, f"approval {approval_id} is neither pending nor decided"
    return ApprovalRecord(
        approval_id=approval_id,
        kind=decided.kind,
        author_id=decided.author.id,
        requested_at=decided.requested_at,
        due_at=None,
        status=ApprovalStatus.APPROVED
        if effect.outcome == EventOutcome.APPROVED
        else ApprovalStatus.REJECTED,
        decided_by=actor.id,
        decided_at=now,
        comments=effect.reason,
    )


def _action_record(state: IncidentState, action_id: str) -> ActionRecord:
    action = state.actions[action_id]
    plan = action.plan
    return ActionRecord(
        action_id=action_id,
        category=plan.category,
        action_type=str(plan.remedy_type or plan.assistance_type),
        description=plan.description,
        responsible_party=plan.responsible_party,
        implementing_partner=plan.implementing_partner,
        beneficiary_count=len(plan.beneficiaries),
        concerns_children=plan.concerns_children,
        due_date=plan.due_date,
        budget_amount=plan.budget.amount,
        currency=plan.budget.currency,
        status=action.status,
        progress_percent=action.progress_percent,
        spend_to_date=action.spend_to_date,
        completion_verified_by=action.completion.verified_by if action.completion else None,
        completion_how=action.completion.how if action.completion else None,
        cancellation_reason=action.cancellation_reason,
    )


def records_of(decision: Decision, effect: Effect) -> Records:
    """What a decision touches besides the incident row: a check-in, a victim's record, the
    victim an approved erasure erases."""
    erased = effect.decided.subject if effect.decided is not None else None
    victim = None
    if isinstance(decision, RecordVictim):
        victim = VictimRecord(
            victim_id=decision.victim_id,
            child=decision.child,
            recorded_by=decision.actor.id,
            personal_data=decision.personal_data,
        )
    return Records(
        check_in=decision if isinstance(decision, CheckIn) else None,
        victim=victim,
        erased_victim=erased.victim_id
        if isinstance(erased, EraseVictim) and effect.outcome == EventOutcome.APPROVED
        else None,
    )
