"""Steps 5 and 6 and after: closure, lessons learned, the post-closure follow-up, early closure."""

from datetime import datetime

from schemas.decisions import CloseEarly, Closure, EraseVictim, FollowUp, LessonsLearned
from schemas.incident_state import IncidentState
from schemas.vocabulary import CaseStatus, ClosureStatus, Step
from workflows.rules.outcome import DecisionRefused, Effect, accepted, enter_step


def check_closure(state: IncidentState, decision: Closure, now: datetime) -> None:
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


def check_lessons(state: IncidentState, decision: LessonsLearned, now: datetime) -> None:
    if state.lessons is not None:
        raise DecisionRefused("lessons were already captured")


def apply_lessons(state: IncidentState, decision: LessonsLearned, now: datetime) -> Effect:
    state.lessons = decision
    causes = ", ".join(decision.root_causes)
    return accepted(f"lessons learned captured (root causes: {causes})")


def check_follow_up(state: IncidentState, decision: FollowUp, now: datetime) -> None:
    if state.follow_up is not None:
        raise DecisionRefused("the follow-up was already recorded")


def apply_follow_up(state: IncidentState, decision: FollowUp, now: datetime) -> Effect:
    state.follow_up = decision
    sustained = "remedy sustained" if decision.remedy_sustained else "remedy not sustained"
    recurred = "; harm recurred, a linked incident opens" if decision.recurrence else ""
    return accepted(f"follow-up recorded: {sustained}{recurred}")


def check_close_early(state: IncidentState, decision: CloseEarly, now: datetime) -> None:
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


def approve_closure(state: IncidentState, closure: Closure, now: datetime) -> list[str]:
    state.closure = closure
    state.closed_at = now
    state.closure_reason = state.closure_reason or "remediation completed"
    state.case_status = (
        CaseStatus.CLOSED_REFERRED
        if closure.status == ClosureStatus.CLOSED_REFERRED
        else CaseStatus.CLOSED
    )
    return []


def approve_close_early(state: IncidentState, early: CloseEarly, now: datetime) -> list[str]:
    state.early_closure = early
    state.closed_at = now
    state.closure_reason = f"closed early: {early.reason}"
    state.case_status = CaseStatus.CLOSED
    state.approvals.clear()
    enter_step(state, Step.COMPLETED, now)
    return []


def summarise_closure(closure: Closure) -> str:
    return f"closure as {closure.status}"


def summarise_close_early(early: CloseEarly) -> str:
    return f"early closure as {early.reason}"
