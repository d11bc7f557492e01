"""Read-only views of the incident's state: its open milestones, what it awaits, its status."""

from datetime import UTC, date, datetime, time, timedelta

from schemas.actor import Role
from schemas.decisions import DecisionKind
from schemas.incident import (
    ActionSummary,
    ActiveEscalation,
    IncidentStatus,
    Milestone,
    PartnerView,
    PendingApproval,
    PendingDecision,
    VictimSummary,
)
from schemas.incident_state import ActionState, IncidentState, VictimState
from schemas.policy import MilestoneKind
from schemas.vocabulary import STEP_NUMBERS, ActionStatus, Step
from workflows.awaiting import AwaitedItem, role_entry


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _step_milestone(state: IncidentState) -> tuple[str, MilestoneKind] | None:
    match state.step:
        case Step.VERIFICATION if state.acknowledged_at is not None:
            return "verification", MilestoneKind.VERIFICATION
        case Step.RESPONSE if state.pending_of_kind(DecisionKind.RESPONSE) is None:
            return "response", MilestoneKind.RESPONSE
        case Step.ACTION_PLAN if state.pending_of_kind(DecisionKind.ACTION_PLAN) is None:
            return "action_plan", MilestoneKind.ACTION_PLAN
        case Step.CLOSURE if (
            state.closure is None and state.pending_of_kind(DecisionKind.CLOSURE) is None
        ):
            return "closure", MilestoneKind.CLOSURE
        case Step.LESSONS_LEARNED:
            return "lessons_learned", MilestoneKind.LESSONS_LEARNED
        case Step.FOLLOW_UP:
            return "follow_up", MilestoneKind.FOLLOW_UP
    return None


def open_milestones(state: IncidentState) -> list[Milestone]:
    """Every deadline currently running, earliest first (docs/design.md, Deadlines)."""
    if state.step == Step.COMPLETED:
        return []
    found: list[tuple[str, MilestoneKind, datetime, timedelta]] = []

    def windowed(milestone: str, kind: MilestoneKind, start: datetime) -> None:
        window = state.policy.window(kind, state.severity)
        if window is not None:
            found.append((milestone, kind, start + window, window))

    if state.acknowledged_at is None:
        windowed("acknowledge", MilestoneKind.ACKNOWLEDGE, state.opened_at)
    if state.imminent_danger_open:
        windowed("immediate_protection", MilestoneKind.IMMEDIATE_PROTECTION, state.opened_at)
    step_milestone = _step_milestone(state)
    if step_milestone is not None:
        start = state.step_entered_at
        if step_milestone[0] == "verification":
            start = max(state.step_entered_at, state.opened_at)
        if step_milestone[0] == "follow_up" and state.closed_at is not None:
            start = state.closed_at  # the follow-up counts from closure (docs/design.md, Deadlines)
        windowed(*step_milestone, start)
    for item in state.approvals.values():
        windowed(f"approval:{item.approval_id}", MilestoneKind.APPROVAL, item.requested_at)
    if state.step == Step.IMPLEMENTATION and state.last_check_in_at is not None:
        windowed("check_in", MilestoneKind.CHECK_IN, state.last_check_in_at)
    if state.step == Step.IMPLEMENTATION:
        for action in state.actions.values():
            if not action.resolved:
                due_at = _end_of_day(action.plan.due_date)
                planned_at = action.planned_at or state.step_entered_at
                found.append(
                    (
                        f"action:{action.plan.action_id}",
                        MilestoneKind.ACTION_DUE,
                        due_at,
                        max(due_at - planned_at, timedelta(0)),
                    )
                )
    milestones = [
        Milestone(
            milestone=milestone,
            kind=kind,
            due_at=state.deadline_overrides.get(milestone, due_at),
            window=window,
            extended=milestone in state.deadline_overrides,
        )
        for milestone, kind, due_at, window in found
    ]
    return sorted(milestones, key=lambda m: m.due_at)


def _due(milestones: list[Milestone], milestone: str) -> datetime | None:
    return next((m.due_at for m in milestones if m.milestone == milestone), None)


def pending_decisions(state: IncidentState, milestones: list[Milestone]) -> list[PendingDecision]:
    """What the process is waiting for, from whom, and by when."""
    awaited: list[tuple[DecisionKind, Role, str | None]] = []
    owner = state.case_owner
    if state.step != Step.COMPLETED and state.acknowledged_at is None:
        awaited.append((DecisionKind.ACKNOWLEDGE, Role.CASE_OWNER, owner))
    if state.step != Step.COMPLETED and state.imminent_danger_open:
        awaited.append((DecisionKind.IMMEDIATE_PROTECTION, Role.CASE_OWNER, owner))
    step_decisions = {
        Step.VERIFICATION: (DecisionKind.VERIFICATION, Role.VERIFIER),
        Step.RESPONSE: (DecisionKind.RESPONSE, Role.CASE_OWNER),
        Step.ACTION_PLAN: (DecisionKind.ACTION_PLAN, Role.CASE_OWNER),
        Step.IMPLEMENTATION: (DecisionKind.CHECK_IN, Role.CASE_OWNER),
        Step.CLOSURE: (DecisionKind.CLOSURE, Role.CASE_OWNER),
        Step.LESSONS_LEARNED: (DecisionKind.LESSONS_LEARNED, Role.CASE_OWNER),
        Step.FOLLOW_UP: (DecisionKind.FOLLOW_UP, Role.CASE_OWNER),
    }
    if state.step in step_decisions:
        kind, role = step_decisions[state.step]
        waiting_on_approval = state.pending_of_kind(kind) is not None
        waiting_on_acknowledge = kind == DecisionKind.VERIFICATION and state.acknowledged_at is None
        closing = state.step == Step.CLOSURE and state.closure is not None
        if not (waiting_on_approval or waiting_on_acknowledge or closing):
            awaited.append((kind, role, None if role == Role.VERIFIER else owner))
    milestone_of = {
        DecisionKind.ACKNOWLEDGE: "acknowledge",
        DecisionKind.IMMEDIATE_PROTECTION: "immediate_protection",
        DecisionKind.VERIFICATION: "verification",
        DecisionKind.RESPONSE: "response",
        DecisionKind.ACTION_PLAN: "action_plan",
        DecisionKind.CHECK_IN: "check_in",
        DecisionKind.CLOSURE: "closure",
        DecisionKind.LESSONS_LEARNED: "lessons_learned",
        DecisionKind.FOLLOW_UP: "follow_up",
    }
    result = []
    for kind, role, actor in awaited:
        milestone = milestone_of.get(kind)
        due = _due(milestones, milestone) if milestone else None
        result.append(
            PendingDecision(
                kind=kind,
                expected_role=role,
                expected_actor=actor,
                milestone=milestone if due else None,
                due_at=due,
            )
        )
    return result


def awaited_items(state: IncidentState, milestones: list[Milestone]) -> list[AwaitedItem]:
    """Every decision awaited, approvals included: from whom (a person, or anyone holding a
    role) and by when: what `AwaitingFrom` and `AwaitingDecision` publish
    (workflows/awaiting.py)."""
    items = [
        AwaitedItem(
            kind=str(pending.kind),
            awaited_from=pending.expected_actor or role_entry(pending.expected_role),
            due_at=pending.due_at,
        )
        for pending in pending_decisions(state, milestones)
    ]
    items += [
        AwaitedItem(
            kind=str(DecisionKind.APPROVE),
            awaited_from=role_entry(Role.APPROVER),
            due_at=_due(milestones, f"approval:{pending.approval_id}"),
            approval_id=pending.approval_id,
            not_from=pending.author.id,
        )
        for pending in state.approvals.values()
    ]
    return items


def status_view(state: IncidentState) -> IncidentStatus:
    milestones = open_milestones(state)
    counts: dict[ActionStatus, int] = {}
    for action in state.actions.values():
        counts[action.status] = counts.get(action.status, 0) + 1
    return IncidentStatus(
        incident_id=state.incident_id,
        external_reference=state.intake.external_reference,
        step=state.step,
        step_number=STEP_NUMBERS.get(state.step),
        case_status=state.case_status,
        severity=state.severity,
        severity_confirmed=state.severity_confirmed,
        proposed_response_level=state.proposed_level,
        response_level=state.response.level if state.response else None,
        relationship=state.verification.relationship if state.verification else None,
        business_relationship=state.response.business_relationship if state.response else None,
        case_owner=state.case_owner,
        verification_rounds=state.verification_rounds,
        pending_decisions=pending_decisions(state, milestones),
        pending_approvals=[
            PendingApproval(
                approval_id=item.approval_id,
                kind=item.kind,
                author=item.author.id,
                requested_at=item.requested_at,
                due_at=_due(milestones, f"approval:{item.approval_id}"),
                summary=item.summary,
            )
            for item in state.approvals.values()
        ],
        returned=list(state.returned),
        actions=[_action_summary(action) for action in state.actions.values()],
        actions_by_status=counts,
        deadlines=milestones,
        escalations=[
            ActiveEscalation(
                milestone=e.milestone,
                level=e.level,
                due_at=e.due_at,
                overdue_since=e.overdue_since,
                notified=list(e.notified),
            )
            for e in state.escalations.values()
        ],
        escalation_level=max((e.level for e in state.escalations.values()), default=0),
        related_incidents=list(state.related),
        opened_at=state.opened_at,
        closed_at=state.closed_at,
        closure_reason=state.closure_reason,
        policy_version=state.policy.version,
        victims=[_victim_summary(state, victim) for victim in state.victims.values()],
    )


def _action_summary(action: ActionState) -> ActionSummary:
    return ActionSummary(
        action_id=action.plan.action_id,
        category=action.plan.category,
        action_type=str(action.plan.remedy_type or action.plan.assistance_type),
        status=action.status,
        progress_percent=action.progress_percent,
        due_date=action.plan.due_date,
        implementing_partner=action.plan.implementing_partner,
    )


def _victim_summary(state: IncidentState, victim: VictimState) -> VictimSummary:
    consent = state.consents.get(victim.victim_id)
    covers = []
    if consent is not None:
        covers += ["services"] if consent.to_receive_services else []
        covers += [f"data sharing with {partner}" for partner in consent.share_data_with]
        covers += ["authorities"] if consent.to_involve_authorities else []
    return VictimSummary(
        victim_id=victim.victim_id,
        child=victim.child,
        personal_data_recorded=victim.personal_data_recorded,
        best_interests_assessed=victim.victim_id in state.best_interests,
        consent=covers,
        erased_at=victim.erased_at,
    )


def partner_view(state: IncidentState, partner: str) -> PartnerView:
    """What an implementing partner may see: their own actions, nothing else of the case."""
    return PartnerView(
        incident_id=state.incident_id,
        partner=partner,
        step=state.step,
        actions=[
            _action_summary(action)
            for action in state.actions.values()
            if action.plan.implementing_partner == partner
        ],
    )
