"""Running the case: reassigning it and extending a deadline."""

from datetime import datetime

from schemas.decisions import ExtendDeadline, Reassign
from schemas.incident_state import IncidentState
from schemas.register import NotificationKind
from workflows.incident_state import open_milestones
from workflows.rules.outcome import DecisionRefused, Effect, Notice, accepted


def check_reassign(state: IncidentState, decision: Reassign, now: datetime) -> None:
    if decision.new_case_owner == state.case_owner:
        raise DecisionRefused(f"{decision.new_case_owner} already owns the case")
    listed = state.policy.roles.case_owner
    if state.protected and listed is not None and decision.new_case_owner not in listed:
        raise DecisionRefused(
            f"{decision.new_case_owner} does not hold the case_owner role (the policy's "
            "roles.case_owner list)"
        )


def apply_reassign(state: IncidentState, decision: Reassign, now: datetime) -> Effect:
    previous = state.case_owner or "nobody"
    state.case_owner = decision.new_case_owner
    return accepted(
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


def check_extension_target(state: IncidentState, decision: ExtendDeadline, now: datetime) -> None:
    milestone = next((m for m in open_milestones(state) if m.milestone == decision.milestone), None)
    if milestone is None:
        names = ", ".join(m.milestone for m in open_milestones(state)) or "none"
        raise DecisionRefused(f"no open milestone {decision.milestone}; open milestones: {names}")
    if decision.new_deadline <= max(milestone.due_at, now):
        raise DecisionRefused(
            f"the new deadline must be later than the current one ({milestone.due_at.isoformat()}) "
            "and than now"
        )


def check_extend_deadline(state: IncidentState, decision: ExtendDeadline, now: datetime) -> None:
    check_extension_target(state, decision, now)
    for item in state.approvals.values():
        if (
            isinstance(item.subject, ExtendDeadline)
            and item.subject.milestone == decision.milestone
        ):
            raise DecisionRefused(
                f"an extension of {decision.milestone} is already awaiting approval "
                f"({item.approval_id})"
            )


def approve_extend_deadline(
    state: IncidentState, extension: ExtendDeadline, now: datetime
) -> list[str]:
    state.deadline_overrides[extension.milestone] = extension.new_deadline
    return []


def summarise_extend_deadline(extension: ExtendDeadline) -> str:
    return f"extend {extension.milestone} to {extension.new_deadline.isoformat()}"
