"""The pure parts of the incident workflow: what a reminder or an escalation records and tells,
the register's record of an event, and what the automatic steps produce. No server: these are
functions of the incident's state."""

import typing
from collections.abc import Iterator
from datetime import timedelta

from pydantic import BaseModel

from schemas.actor import Actor
from schemas.decisions import DecisionKind, FollowUp
from schemas.incident import IncidentInput, Milestone
from schemas.incident_state import IncidentState
from schemas.intake import Intake
from schemas.policy import MilestoneKind, Policy
from schemas.register import EventOutcome, NotificationKind
from schemas.vocabulary import ActionStatus, CaseStatus, Severity, Step
from tests.test_decision_rules import NOW, decide, drive, model, new_state
from workers.devstack import examples
from workflows import incident_lifecycle as lifecycle
from workflows import search_attributes as sa
from workflows.deadline_notices import duration, escalate, remind
from workflows.escalation import EscalationChange
from workflows.messages import field_label
from workflows.register_events import REASON_MAX, Records, records_of, register_event
from workflows.rules.outcome import Effect, Notice


def _milestone(name: str = "acknowledge", due_in: timedelta = timedelta(hours=5)) -> Milestone:
    return Milestone(
        milestone=name,
        kind=MilestoneKind.ACKNOWLEDGE,
        due_at=NOW + due_in,
        window=timedelta(days=7),
        extended=False,
    )


# --- reminders and escalations -----------------------------------------------------------------


def test_a_reminder_tells_the_case_owner_and_is_remembered() -> None:
    draft = new_state()
    draft.case_owner = "owner.amara"
    effect = remind(draft, _milestone(), NOW)
    assert draft.reminded == {"acknowledge": NOW + timedelta(hours=5)}
    [notice] = effect.notices
    assert (notice.kind, notice.recipient) == (NotificationKind.DEADLINE_REMINDER, "owner.amara")
    assert notice.subject == "Due in 5h 0m: acknowledge on incident-X"
    assert effect.outcome == EventOutcome.RECORDED and "case owner reminded" in effect.summary


def test_an_escalation_climbs_the_ladder_and_tells_each_level_once() -> None:
    policy = Policy()
    draft = new_state(policy=policy)
    draft.severity = Severity.HIGH
    effect, record = escalate(draft, EscalationChange(_milestone(), 2), NOW)
    told = ["case_owners", policy.escalation.human_rights_lead]
    assert [n.recipient for n in effect.notices] == told
    assert record.level == 2 and record.notified == told
    assert draft.escalations["acknowledge"].level == 2

    cleared, record = escalate(
        draft, EscalationChange(_milestone(), 0, "met", timedelta(hours=3)), NOW
    )
    assert "acknowledge" not in draft.escalations
    assert [n.kind for n in cleared.notices] == [NotificationKind.ESCALATION_CLEARED] * 2
    assert "met, 3h 0m late" in cleared.summary
    assert record.late_by_seconds == 3 * 3600


def test_durations_read_as_people_say_them() -> None:
    assert duration(timedelta(days=2, hours=4, minutes=5)) == "2d 4h"
    assert duration(timedelta(hours=3, minutes=15)) == "3h 15m"


# --- the register's record of an event -----------------------------------------------------------


def test_an_event_is_numbered_timelined_and_its_notices_become_notifications() -> None:
    draft = new_state()
    draft.sequence = 7
    effect = Effect(
        outcome=EventOutcome.REFUSED,
        summary="acknowledge signal refused",
        message="m",
        reason="r" * (REASON_MAX + 10),
        notices=[Notice(NotificationKind.ESCALATION, "lead", "subject", "body")],
    )
    event, notifications = register_event(
        draft, "acknowledge", examples_actor(), effect, {"x": 1}, NOW, "lineage-1", Records()
    )
    assert (event.sequence, event.kind, event.run_lineage) == (7, "acknowledge", "lineage-1")
    assert event.reason is not None and len(event.reason) == REASON_MAX
    assert draft.timeline[-1].sequence == 7 and draft.timeline[-1].reason == event.reason
    [notification] = notifications
    assert (notification.sequence, notification.recipient) == (7, "lead")


def test_a_draft_shares_what_cannot_change_and_copies_what_the_rules_change() -> None:
    state = drive(Step.IMPLEMENTATION)
    for _ in range(3):
        state.sequence += 1
        register_event(state, "note", examples_actor(), _accepted(), {}, NOW, "l", Records())

    draft = state.draft()

    assert draft == state
    # Frozen messages are shared, in fields and in the state's lists.
    assert draft.intake is state.intake and draft.policy is state.policy
    assert draft.plan is state.plan and draft.verification is state.verification
    assert draft.timeline is not state.timeline
    assert all(ours is theirs for ours, theirs in zip(draft.timeline, state.timeline, strict=True))
    # What the rules change in place is the draft's own.
    [action_id] = list(state.actions)[:1]
    assert draft.actions is not state.actions
    assert draft.actions[action_id] is not state.actions[action_id]
    draft.actions[action_id].status = ActionStatus.COMPLETED
    draft.sequence += 1
    register_event(draft, "note", examples_actor(), _accepted(), {}, NOW, "l", Records())
    assert state.actions[action_id].status != ActionStatus.COMPLETED
    assert len(state.timeline) == len(draft.timeline) - 1


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """The model classes an annotation names, through lists, dicts, unions and the like."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def test_nothing_a_draft_shares_holds_a_model_the_rules_may_change() -> None:
    """A draft shares the frozen messages of the state (IncidentState.draft): none of them may
    hold, at any depth, a model that is not frozen."""
    mutable_inside_frozen: set[str] = set()
    seen: set[type[BaseModel]] = set()
    visited: set[tuple[type[BaseModel], bool]] = set()

    def walk(model: type[BaseModel], inside_frozen: bool) -> None:
        frozen = bool(model.model_config.get("frozen", False))
        if inside_frozen and not frozen:
            mutable_inside_frozen.add(model.__name__)
        if (model, inside_frozen or frozen) in visited:
            return
        visited.add((model, inside_frozen or frozen))
        seen.add(model)
        for field in model.model_fields.values():
            for inner in _models_in(field.annotation):
                walk(inner, inside_frozen or frozen)

    walk(IncidentState, False)
    assert len(seen) > 20  # the walk reached the decisions, the policy and the intake
    assert mutable_inside_frozen == set()


def examples_actor() -> Actor:
    return model(DecisionKind.ACKNOWLEDGE, examples.acknowledge()).actor


def test_what_a_decision_touches_besides_the_incident_row() -> None:
    check_in = model(DecisionKind.CHECK_IN, examples.check_in([examples.progress("A1")], now=NOW))
    assert records_of(check_in, _accepted()).check_in is check_in
    victim = model(DecisionKind.RECORD_VICTIM, examples.record_victim("V-0001", child=True))
    record = records_of(victim, _accepted()).victim
    assert record is not None and (record.victim_id, record.child) == ("V-0001", True)
    assert records_of(check_in, _accepted()).erased_victim is None


def _accepted() -> Effect:
    return Effect(outcome=EventOutcome.ACCEPTED, summary="s", message="m")


# --- what the automatic steps produce ---------------------------------------------------------


def test_a_new_incident_opens_at_the_provisional_severity_of_triage() -> None:
    intake = Intake.model_validate(examples.intake(case_owner="owner.amara"))
    state = lifecycle.new_incident(IncidentInput(intake=intake), "incident-N", NOW)
    assert (state.step, state.case_owner, state.opened_at) == (
        Step.VERIFICATION,
        "owner.amara",
        NOW,
    )
    assert state.severity == state.provisional_severity
    notice = lifecycle.opening_notice(state)
    assert notice.recipient == "owner.amara" and "to acknowledge" in notice.subject


def test_the_reporter_hears_of_the_closing_only_with_a_way_to_reach_them() -> None:
    reachable = new_state()
    assert [n.recipient for n in lifecycle.closing_notices(reachable)] == ["reporter"]
    unreachable = new_state(reporter={"anonymous": True})
    assert lifecycle.closing_notices(unreachable) == []


def test_a_recurrence_is_a_new_incident_at_the_same_site_linking_back() -> None:
    state = new_state()
    state.sequence = 12
    state.case_owner = "owner.amara"
    follow_up = model(DecisionKind.FOLLOW_UP, examples.follow_up(recurrence=True))
    assert isinstance(follow_up, FollowUp)
    intake = lifecycle.recurrence_intake(state, follow_up, NOW)
    assert intake.external_reference == f"{state.intake.external_reference}-R12"
    assert intake.location == state.intake.location
    assert "incident-X" in intake.description and intake.case_owner == "owner.amara"


def test_search_attributes_name_no_one_and_change_only_what_moved() -> None:
    state = new_state()
    values = lifecycle.search_attributes(state, NOW)
    assert values[sa.STEP.name] == "verification"
    assert values[sa.OVERDUE.name] is False
    assert values[sa.RESPONSE_LEVEL.name] is None
    assert len(lifecycle.changed_attributes(values, {})) == len(values)
    assert lifecycle.changed_attributes(values, dict(values)) == []
    overdue = lifecycle.search_attributes(state, NOW + timedelta(days=30))
    assert overdue[sa.OVERDUE.name] is True
    assert len(lifecycle.changed_attributes(overdue, values)) == 1


def test_who_is_awaited_names_no_one_but_by_pseudonymous_id() -> None:
    private = {"name": "Reporter Person", "contact": "+243 555 0101"}
    state = drive(Step.ACTION_PLAN, reporter={"anonymous": False, **private})
    decide(state, DecisionKind.ACTION_PLAN, examples.action_plan(now=NOW))
    values = lifecycle.search_attributes(state, NOW)
    published = repr(values)
    assert "action_plan-2" in values[sa.AWAITING_DECISION.name]
    site = state.intake.location.site_name or "Example Hill"
    for secret in (*private.values(), state.intake.description, site):
        assert secret not in published
    for victim_id in state.victims:
        assert victim_id not in published


def test_the_outcome_counts_what_was_done() -> None:
    state = drive(Step.IMPLEMENTATION)
    state.actions["A1"].status = ActionStatus.COMPLETED
    state.actions["A2"].status = ActionStatus.CANCELLED
    outcome = lifecycle.outcome(state, NOW)
    assert (outcome.actions_completed, outcome.actions_cancelled) == (1, 1)
    assert outcome.case_status == CaseStatus.ACTIVE and outcome.closed_at == NOW


def test_field_names_from_a_sender_are_echoed_safely() -> None:
    assert field_label("reason") == "reason"
    assert field_label("a\x00b;DROP TABLE") == "a?b?DROP?TABLE"
    assert len(field_label("x" * 1000)) == 60
