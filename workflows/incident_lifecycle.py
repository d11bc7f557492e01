"""What the incident's automatic steps produce, as pure functions of its state: the incident as it
opens, the notices of its opening and closing, its lessons for the knowledge base, a recurrence's
intake, its search attributes, and its outcome when it completes.
"""

from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeUpdate

from schemas.decisions import FollowUp
from schemas.incident import IncidentInput, IncidentOutcome
from schemas.incident_state import IncidentState
from schemas.intake import Intake
from schemas.policy import Policy
from schemas.register import LessonRecord, NotificationKind
from schemas.vocabulary import ActionStatus, CaseStatus, ClosureStatus
from workflows import awaiting
from workflows import search_attributes as sa
from workflows.incident_state import awaited_items, open_milestones
from workflows.rules.outcome import Notice
from workflows.severity import provisional_severity


def new_incident(input: IncidentInput, incident_id: str, now: datetime) -> IncidentState:
    """The incident as its first run opens it, at the provisional severity of triage."""
    severity = provisional_severity(input.intake)
    return IncidentState(
        incident_id=incident_id,
        intake=input.intake,
        policy=input.policy or Policy(),
        opened_at=now,
        step_entered_at=now,
        provisional_severity=severity,
        severity=severity,
        case_owner=input.intake.case_owner,
    )


def opening_notice(state: IncidentState) -> Notice:
    return Notice(
        NotificationKind.CASE_OWNER_ASSIGNED,
        state.case_owner or "case_owners",
        f"New incident {state.incident_id} to acknowledge",
        f"A {state.provisional_severity} incident was opened; acknowledge it.",
    )


def closing_notices(state: IncidentState) -> list[Notice]:
    """The reporter hears the case is closed, when they left a way to reach them."""
    reporter = state.intake.reporter
    if reporter is None or not reporter.contact:
        return []
    return [
        Notice(
            NotificationKind.REPORTER_FEEDBACK,
            "reporter",
            f"Your report {state.intake.external_reference}: case closed",
            "The case opened on your report has been closed. The grievance channel stays open "
            "to you and to the people concerned.",
        )
    ]


def lesson_record(state: IncidentState, now: datetime) -> LessonRecord:
    """The incident's lessons as the knowledge base keeps them: anonymised, no personal data."""
    lessons = state.lessons
    assert lessons is not None, "lessons are recorded once captured"
    harms = state.verification.harms_confirmed if state.verification else []
    return LessonRecord(
        incident_id=state.incident_id,
        recorded_at=now,
        minerals=state.intake.minerals,
        country=state.intake.location.country,
        facility_ids=state.intake.facility_ids,
        harm_types=harms or state.intake.alleged_harms,
        root_causes=lessons.root_causes,
        root_cause_notes=lessons.root_cause_notes,
        due_diligence_gaps=lessons.due_diligence_gaps,
        changes_made=[f"{c.area}: {c.description}" for c in lessons.changes_made],
        supplier_engagement_outcome=lessons.supplier_engagement_outcome,
        shared_with_industry_programme=lessons.share_with_industry_programme,
        anonymised_summary=lessons.anonymised_summary,
    )


def recurrence_intake(state: IncidentState, follow_up: FollowUp, now: datetime) -> Intake:
    """The same site, facilities and harms, as a new incident that links back to this one."""
    original = state.intake
    return original.model_copy(
        update={
            "external_reference": f"{original.external_reference[:90]}-R{state.sequence}",
            "received_at": now,
            "description": f"Recurrence found at the post-closure follow-up of "
            f"{state.incident_id}: {follow_up.findings}",
            "opened_by": follow_up.actor,
            "case_owner": state.case_owner,
        }
    )


def closed_status(state: IncidentState) -> CaseStatus:
    """How the case ends once the follow-up is recorded."""
    closure = state.closure
    referred = closure is not None and closure.status == ClosureStatus.CLOSED_REFERRED
    return CaseStatus.CLOSED_REFERRED if referred else CaseStatus.CLOSED


def search_attributes(
    state: IncidentState, now: datetime, *, with_awaiting: bool = True
) -> dict[str, Any]:
    """What operators filter and sort incidents by in the UI; never personal data.

    `with_awaiting` is false for incidents that replay from before who is awaited was published
    (patch `awaiting-attributes`): they publish no awaited items and leave an unassigned case's
    owner empty."""
    milestones = open_milestones(state)
    values: dict[str, Any] = {
        sa.STEP.name: str(state.step),
        sa.SEVERITY.name: str(state.severity),
        sa.RESPONSE_LEVEL.name: str(state.response.level) if state.response else None,
        sa.MINERAL.name: [str(m) for m in state.intake.minerals],
        sa.COUNTRY.name: state.intake.location.country,
        sa.FACILITY_ID.name: list(state.intake.facility_ids),
        sa.CASE_OWNER.name: state.case_owner,
        sa.ESCALATION_LEVEL.name: max((e.level for e in state.escalations.values()), default=0),
        sa.NEXT_DEADLINE.name: milestones[0].due_at if milestones else None,
        sa.OVERDUE.name: bool(state.escalations) or bool(milestones and milestones[0].due_at < now),
    }
    if with_awaiting:
        items = awaited_items(state, milestones)
        values[sa.CASE_OWNER.name] = state.case_owner or sa.UNASSIGNED
        values[sa.AWAITING_FROM.name] = awaiting.awaiting_from(items)
        values[sa.AWAITING_DECISION.name] = awaiting.text(items) or None
    return values


def changed_attributes(
    values: dict[str, Any], published: dict[str, Any]
) -> list[SearchAttributeUpdate[Any]]:
    """The updates that take the published search attributes to `values`."""
    keys = {key.name: key for key in sa.ALL}
    updates: list[SearchAttributeUpdate[Any]] = []
    for name, value in values.items():
        if name in published and published[name] == value:
            continue
        key = keys[name]
        updates.append(key.value_unset() if value in (None, [], "") else key.value_set(value))
    return updates


def outcome(state: IncidentState, now: datetime) -> IncidentOutcome:
    """The workflow's result when the incident completes."""
    statuses = [a.status for a in state.actions.values()]
    return IncidentOutcome(
        incident_id=state.incident_id,
        case_status=state.case_status,
        closure_reason=state.closure_reason or "",
        severity=state.severity,
        response_level=state.response.level if state.response else None,
        actions_completed=statuses.count(ActionStatus.COMPLETED),
        actions_cancelled=statuses.count(ActionStatus.CANCELLED),
        lessons_captured=state.lessons is not None,
        recurrence_incident=state.recurrence_incident,
        closed_at=state.closed_at or now,
    )
