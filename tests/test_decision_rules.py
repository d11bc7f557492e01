"""The decision rules, the state they change and the deadlines they set (docs/design.md, The six
steps; Approvals and roles).

Pure: no Temporal, no database. `check` must refuse an invalid decision with a message naming the
problem and leave the state untouched; `apply` carries out an accepted one.
"""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.decisions import (
    DECISION_MODELS,
    ActionProgress,
    Budget,
    CloseEarly,
    Decision,
    DecisionKind,
    ExtendDeadline,
    Verification,
)
from schemas.incident_state import RULES_WITH_PROTECTION, IncidentState
from schemas.intake import Intake
from schemas.policy import MilestoneKind, Policy
from schemas.register import EventOutcome
from schemas.vocabulary import (
    ActionStatus,
    BusinessRelationship,
    CaseStatus,
    Relationship,
    ResponseLevel,
    Severity,
    Step,
)
from workers.devstack import examples
from workflows import awaiting
from workflows import incident_lifecycle as lifecycle
from workflows import search_attributes as sa
from workflows.awaiting import AwaitedItem
from workflows.incident_details import current_details, static_summary
from workflows.incident_state import open_milestones, pending_decisions, status_view
from workflows.rules.kinds import KINDS
from workflows.rules.outcome import DecisionRefused, Effect, enter_step
from workflows.rules.registry import REGISTRY, apply, check
from workflows.severity import provisional_severity

K = DecisionKind

# One fixed instant in UTC, passed to every example that stamps a time or a date: the rules are
# pure, so the tests hold in any time zone and at any time of day (midnight UTC included).
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = NOW.date()
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

CASE_OWNER = examples.CASE_OWNER
SECOND_OWNER = examples.SECOND_OWNER
VERIFIER = examples.VERIFIER
APPROVER = examples.APPROVER
EXECUTIVE = examples.EXECUTIVE
PARTNER = examples.PARTNER
INTEGRATION = examples.INTEGRATION
OWNER_ID = str(CASE_OWNER["id"])
PARTNER_ID = str(PARTNER["id"])

# An intake in which a child is in imminent danger: triaged critical.
CRITICAL_INTAKE: dict[str, Any] = {"imminent_danger": True, "children_affected": True}


# ---------------------------------------------------------------------------------------------
# payloads the examples module does not have


def protection(**changes: Any) -> dict[str, Any]:
    return examples.immediate_protection(
        **{"arranged_at": (NOW - HOUR).isoformat(), **changes}, now=NOW
    )


def amend(**changes: Any) -> dict[str, Any]:
    return {"actor": CASE_OWNER, "reason": "The plan needs adjusting.", **changes}


def reassign(new_owner: str = str(SECOND_OWNER["id"])) -> dict[str, Any]:
    return {"actor": CASE_OWNER, "new_case_owner": new_owner, "reason": "Workload balancing."}


def extend(milestone: str, new_deadline: datetime) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "milestone": milestone,
        "new_deadline": new_deadline.isoformat(),
        "justification": "Partner needs more time to reach the site safely.",
    }


def close_early(reason: str = "withdrawn", **changes: Any) -> dict[str, Any]:
    return {"actor": CASE_OWNER, "reason": reason, "explanation": "Fictional.", **changes}


def completed(*action_ids: str) -> list[dict[str, Any]]:
    return [examples.progress(action_id, "completed") for action_id in action_ids]


# ---------------------------------------------------------------------------------------------
# state and decisions


def new_state(
    *,
    policy: Policy | None = None,
    rules_version: int = RULES_WITH_PROTECTION,
    **intake_changes: Any,
) -> IncidentState:
    intake = Intake.model_validate(examples.intake(**intake_changes))
    severity = provisional_severity(intake)
    return IncidentState(
        rules_version=rules_version,
        incident_id="incident-X",
        intake=intake,
        policy=policy or Policy(),
        opened_at=NOW,
        step_entered_at=NOW,
        provisional_severity=severity,
        severity=severity,
        case_owner=None,
    )


def model(kind: DecisionKind, payload: dict[str, Any]) -> Decision:
    decision: Decision = REGISTRY[kind].model.model_validate(payload)
    return decision


def decide(
    state: IncidentState, kind: DecisionKind, payload: dict[str, Any], now: datetime = NOW
) -> Effect:
    """Check and apply a decision that must be accepted."""
    decision = model(kind, payload)
    check(state, kind, decision, now)
    return apply(state, kind, decision, now)


def approved(
    state: IncidentState, kind: DecisionKind, payload: dict[str, Any], now: datetime = NOW
) -> Effect:
    """Submit a decision that needs approval and have an approver approve it."""
    request = decide(state, kind, payload, now)
    assert request.outcome == EventOutcome.PENDING_APPROVAL
    assert request.approval_id is not None
    return decide(state, K.APPROVE, examples.approve(request.approval_id), now)


def assert_refused(
    state: IncidentState,
    kind: DecisionKind,
    payload: dict[str, Any],
    match: str,
    now: datetime = NOW,
) -> None:
    """`check` refuses with a message matching `match`, and the state is unchanged."""
    decision = model(kind, payload)
    before = state.model_dump()
    with pytest.raises(DecisionRefused, match=match):
        check(state, kind, decision, now)
    assert state.model_dump() == before


def drive(
    to: Step,
    *,
    verification: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    **intake_changes: Any,
) -> IncidentState:
    """A fresh incident taken to `to` with valid decisions (all at NOW).

    VERIFICATION stops once acknowledged (and protected when someone is in danger).
    """
    state = new_state(**intake_changes)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge(state.provisional_severity))
    danger = state.intake.imminent_danger
    if danger:
        decide(state, K.IMMEDIATE_PROTECTION, protection())
    if to == Step.VERIFICATION:
        return state
    decide(state, K.VERIFICATION, examples.verification(**(verification or {})))
    if to == Step.RESPONSE:
        assert_step(state, Step.RESPONSE)
        return state
    assert state.proposed_level is not None
    protect = {"immediate_protection_needed": True, "protection_partner": "ngo"} if danger else {}
    approved(state, K.RESPONSE, examples.response(state.proposed_level, **protect))
    if to == Step.ACTION_PLAN:
        return state
    approved(state, K.ACTION_PLAN, plan or examples.action_plan(now=NOW))
    if to == Step.IMPLEMENTATION:
        return state
    decide(state, K.CHECK_IN, examples.check_in(completed(*state.actions), now=NOW))
    if to == Step.CLOSURE:
        assert_step(state, Step.CLOSURE)
        return state
    approved(state, K.CLOSURE, examples.closure())
    enter_step(state, Step.LESSONS_LEARNED, NOW)  # what the workflow does after the report
    assert to == Step.LESSONS_LEARNED
    return state


def assert_step(state: IncidentState, step: Step) -> None:
    # A function rather than a bare assert, so that mypy does not narrow state.step for good.
    assert state.step == step


def completed_incident() -> IncidentState:
    state = new_state()
    approved(state, K.CLOSE_EARLY, close_early())
    assert_step(state, Step.COMPLETED)
    return state


def milestone_due(state: IncidentState, name: str) -> datetime:
    found = {m.milestone: m.due_at for m in open_milestones(state)}
    assert name in found, f"{name} is not open: {sorted(found)}"
    return found[name]


# A valid payload of every kind, sent by someone who holds the right role.
def valid_payload(kind: DecisionKind) -> dict[str, Any]:
    payloads: dict[DecisionKind, dict[str, Any]] = {
        K.ACKNOWLEDGE: examples.acknowledge(),
        K.IMMEDIATE_PROTECTION: protection(),
        K.VERIFICATION: examples.verification(),
        K.RESPONSE: examples.response("company_led"),
        K.ACTION_PLAN: examples.action_plan(now=NOW),
        K.CHECK_IN: examples.check_in([examples.progress("A1")], now=NOW),
        K.AMEND_PLAN: amend(add=[examples.action("A9", now=NOW)]),
        K.CLOSURE: examples.closure(),
        K.LESSONS_LEARNED: examples.lessons(),
        K.APPROVE: examples.approve("response-1"),
        K.REJECT: examples.reject("response-1"),
        K.REASSIGN: reassign(),
        K.EXTEND_DEADLINE: extend("acknowledge", NOW + 30 * DAY),
        K.CLOSE_EARLY: close_early(),
        K.FOLLOW_UP: examples.follow_up(),
        K.RECORD_VICTIM: examples.record_victim(),
        K.RECORD_CONSENT: examples.record_consent(now=NOW),
        K.WITHDRAW_CONSENT: examples.withdraw_consent(now=NOW),
        K.SHARE_VICTIM_DATA: examples.share_victim_data(),
        K.BEST_INTERESTS: examples.best_interests(None, now=NOW),
        K.ERASE_VICTIM: examples.erase_victim(),
    }
    return payloads[kind]


# ---------------------------------------------------------------------------------------------
# check: who may decide


# The roles docs/design.md (Approvals and roles) gives each decision (written out here, not read
# from the code).
EXPECTED_ROLES: dict[DecisionKind, set[str]] = {
    K.ACKNOWLEDGE: {"case_owner"},
    K.IMMEDIATE_PROTECTION: {"case_owner"},
    K.VERIFICATION: {"verifier"},
    K.RESPONSE: {"case_owner"},
    K.ACTION_PLAN: {"case_owner"},
    K.CHECK_IN: {"case_owner", "implementing_partner"},
    K.AMEND_PLAN: {"case_owner"},
    K.CLOSURE: {"case_owner"},
    K.LESSONS_LEARNED: {"case_owner"},
    K.APPROVE: {"approver"},
    K.REJECT: {"approver"},
    K.REASSIGN: {"case_owner", "executive"},
    K.EXTEND_DEADLINE: {"case_owner"},
    K.CLOSE_EARLY: {"case_owner"},
    K.FOLLOW_UP: {"case_owner"},
    K.RECORD_VICTIM: {"case_owner"},
    K.RECORD_CONSENT: {"case_owner"},
    K.WITHDRAW_CONSENT: {"case_owner"},
    K.SHARE_VICTIM_DATA: {"case_owner"},
    K.BEST_INTERESTS: {"case_owner"},
    K.ERASE_VICTIM: {"case_owner"},
}
ACTORS = [CASE_OWNER, VERIFIER, APPROVER, EXECUTIVE, PARTNER, INTEGRATION]


def _roles(actor: dict[str, Any]) -> set[str]:
    return set(actor["roles"])


WRONG_ROLE_CASES = [
    pytest.param(kind, actor, id=f"{kind}-by-{actor['roles'][0]}")
    for kind in K
    for actor in ACTORS
    if not _roles(actor) & EXPECTED_ROLES[kind]
]


def test_every_decision_kind_has_a_role_rule() -> None:
    assert set(EXPECTED_ROLES) == set(K)


def test_the_kinds_in_words_match_the_registry() -> None:
    """workflows/rules/kinds.py describes every registered kind, in the registry's order (the
    order `remediation decide --help` lists them), and each summary is how its model's docstring
    begins (the docstring is the description of its JSON Schema)."""
    assert list(KINDS) == list(REGISTRY)
    assert set(KINDS) == set(DecisionKind)
    for kind, rule in REGISTRY.items():
        docstring = " ".join((rule.model.__doc__ or "").split())
        assert docstring.startswith(KINDS[kind].summary), kind


def test_every_decision_kind_has_its_model() -> None:
    """The registry and `remediation decide` both take a kind's model from DECISION_MODELS."""
    assert set(DECISION_MODELS) == set(DecisionKind)


@pytest.mark.parametrize(("kind", "actor"), WRONG_ROLE_CASES)
def test_wrong_role_is_refused(kind: DecisionKind, actor: dict[str, Any]) -> None:
    assert_refused(
        new_state(),
        kind,
        {**valid_payload(kind), "actor": actor},
        f"{kind} needs the .*role; {actor['id']} acts as {actor['roles'][0]}",
    )


def test_an_actor_without_roles_is_refused() -> None:
    nobody = {"id": "someone", "roles": []}
    assert_refused(new_state(), K.ACKNOWLEDGE, examples.acknowledge(actor=nobody), "no role")


@pytest.mark.parametrize("kind", list(K))
def test_right_role_passes_the_role_rule(kind: DecisionKind) -> None:
    """Whatever else may refuse it, the holder of an expected role is never refused for it."""
    role = sorted(EXPECTED_ROLES[kind])[0]
    actor = {"id": "someone.entitled", "roles": [role]}
    try:
        check(new_state(), kind, model(kind, {**valid_payload(kind), "actor": actor}), NOW)
    except DecisionRefused as refusal:
        assert "role" not in str(refusal)


# ---------------------------------------------------------------------------------------------
# check: when


@pytest.mark.parametrize(
    ("kind", "step"),
    [
        (K.RESPONSE, Step.RESPONSE),
        (K.ACTION_PLAN, Step.ACTION_PLAN),
        (K.CHECK_IN, Step.IMPLEMENTATION),
        (K.AMEND_PLAN, Step.IMPLEMENTATION),
        (K.CLOSURE, Step.CLOSURE),
        (K.LESSONS_LEARNED, Step.LESSONS_LEARNED),
    ],
)
def test_decision_of_a_later_step_is_refused(kind: DecisionKind, step: Step) -> None:
    assert_refused(
        drive(Step.VERIFICATION),
        kind,
        valid_payload(kind),
        f"{kind} belongs to the {step} step; the incident is in the verification step",
    )


def test_verification_after_its_step_is_refused() -> None:
    assert_refused(
        drive(Step.RESPONSE),
        K.VERIFICATION,
        examples.verification(),
        "verification belongs to the verification step; the incident is in the response step",
    )


@pytest.mark.parametrize("kind", list(K))
def test_completed_incident_refuses_everything(kind: DecisionKind) -> None:
    assert_refused(completed_incident(), kind, valid_payload(kind), "is completed")


@pytest.mark.parametrize(
    ("step", "kind", "payload"),
    [
        (Step.RESPONSE, K.RESPONSE, examples.response("company_led")),
        (Step.ACTION_PLAN, K.ACTION_PLAN, examples.action_plan(now=NOW)),
        (Step.IMPLEMENTATION, K.AMEND_PLAN, amend(add=[examples.action("A3", now=NOW)])),
        (Step.CLOSURE, K.CLOSURE, examples.closure()),
        (Step.RESPONSE, K.CLOSE_EARLY, close_early()),
    ],
)
def test_second_submission_while_one_awaits_approval_is_refused(
    step: Step, kind: DecisionKind, payload: dict[str, Any]
) -> None:
    state = drive(step)
    first = decide(state, kind, payload)
    assert_refused(
        state, kind, payload, f"a {kind} is already awaiting approval \\({first.approval_id}\\)"
    )


# ---------------------------------------------------------------------------------------------
# check: acknowledge


def test_acknowledge_twice_is_refused() -> None:
    state = drive(Step.VERIFICATION)
    assert_refused(state, K.ACKNOWLEDGE, examples.acknowledge(), "already acknowledged")


def test_severity_correction_needs_a_reason() -> None:
    state = new_state()
    assert state.provisional_severity == Severity.MEDIUM
    assert_refused(
        state,
        K.ACKNOWLEDGE,
        examples.acknowledge("high"),
        "correcting the provisional severity medium to high needs a reason",
    )
    effect = decide(state, K.ACKNOWLEDGE, examples.acknowledge("high", reason="Ten children."))
    assert state.severity == Severity.HIGH
    assert effect.reason == "Ten children."


@pytest.mark.parametrize(
    ("rules_version", "message"),
    [
        (1, f"only the assigned case owner {OWNER_ID} can acknowledge"),
        (2, rf"owner.lucas is not the case owner of incident-X \({OWNER_ID} is\)"),
    ],
)
def test_only_the_assigned_case_owner_may_acknowledge(rules_version: int, message: str) -> None:
    state = new_state(rules_version=rules_version)
    state.case_owner = OWNER_ID
    assert_refused(state, K.ACKNOWLEDGE, examples.acknowledge(actor=SECOND_OWNER), message)


# ---------------------------------------------------------------------------------------------
# check: immediate protection


def test_immediate_protection_without_imminent_danger_is_refused() -> None:
    assert_refused(
        new_state(), K.IMMEDIATE_PROTECTION, protection(), "only when someone is in imminent danger"
    )


def test_immediate_protection_twice_is_refused() -> None:
    state = new_state(imminent_danger=True)
    decide(state, K.IMMEDIATE_PROTECTION, protection())
    assert_refused(state, K.IMMEDIATE_PROTECTION, protection(), "already recorded")


def test_immediate_protection_arranged_in_the_future_is_refused() -> None:
    assert_refused(
        new_state(imminent_danger=True),
        K.IMMEDIATE_PROTECTION,
        protection(arranged_at=(NOW + HOUR).isoformat()),
        "arranged_at is in the future",
    )


def test_immediate_protection_comes_before_acknowledgement_if_need_be() -> None:
    """Act on danger first: protection needs neither acknowledgement nor verification."""
    state = new_state(imminent_danger=True)
    decide(state, K.IMMEDIATE_PROTECTION, protection(referral_made=False, reason_not_made="x"))
    assert state.protection is not None
    assert not state.imminent_danger_open


# ---------------------------------------------------------------------------------------------
# check: verification


def test_verification_before_acknowledgement_is_refused() -> None:
    assert_refused(
        new_state(), K.VERIFICATION, examples.verification(), "must be acknowledged before"
    )


def test_verification_before_immediate_protection_is_refused_when_in_danger() -> None:
    state = new_state(imminent_danger=True)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge(state.provisional_severity))
    assert_refused(
        state, K.VERIFICATION, examples.verification(), "record immediate_protection first"
    )


@pytest.mark.parametrize("rounds", [1, 2, 3, 5])
def test_inconclusive_rounds_are_bounded_by_policy(rounds: int) -> None:
    state = new_state(policy=Policy(max_verification_rounds=rounds))
    decide(state, K.ACKNOWLEDGE, examples.acknowledge())
    for _ in range(rounds - 1):
        decide(state, K.VERIFICATION, examples.verification("inconclusive"))
    assert state.verification_rounds == rounds - 1
    assert_refused(
        state,
        K.VERIFICATION,
        examples.verification("inconclusive"),
        f"verification round {rounds} of {rounds}; it must conclude",
    )
    decide(state, K.VERIFICATION, examples.verification("partially_substantiated"))
    assert_step(state, Step.RESPONSE)


# ---------------------------------------------------------------------------------------------
# check: response


def test_response_override_without_justification_is_refused() -> None:
    state = drive(Step.RESPONSE)
    assert state.proposed_level == ResponseLevel.COMPANY_LED
    assert_refused(
        state,
        K.RESPONSE,
        examples.response("supplier_corrective"),
        "proposed response level is company_led; overriding it with supplier_corrective needs "
        "an override_justification",
    )
    effect = decide(
        state,
        K.RESPONSE,
        examples.response("supplier_corrective", override_justification="Supplier-led fund."),
    )
    assert effect.outcome == EventOutcome.PENDING_APPROVAL


def test_response_after_imminent_danger_must_say_protection_is_needed() -> None:
    state = drive(Step.RESPONSE, imminent_danger=True)
    assert state.proposed_level == ResponseLevel.COLLECTIVE_URGENT
    assert_refused(
        state,
        K.RESPONSE,
        examples.response("collective_urgent"),
        "immediate_protection_needed must be true",
    )


# ---------------------------------------------------------------------------------------------
# check: action plan


@pytest.mark.parametrize("days", [0, -1, -30])
def test_action_due_not_after_today_is_refused(days: int) -> None:
    due = (TODAY + timedelta(days=days)).isoformat()
    plan = examples.action_plan(
        [examples.action("A1", now=NOW), examples.action("A2", due_date=due, now=NOW)], now=NOW
    )
    assert_refused(
        drive(Step.ACTION_PLAN),
        K.ACTION_PLAN,
        plan,
        f"action A2 is due {due}, which is not after today",
    )


def immediate_safety(action_id: str = "S1", **changes: Any) -> dict[str, Any]:
    return examples.action(
        action_id,
        **{
            "category": "assistance",
            "remedy_type": None,
            "assistance_type": "immediate_safety",
            "description": "Safe accommodation.",
            **changes,
        },
        now=NOW,
    )


def test_immediate_protection_needs_an_immediate_safety_action() -> None:
    state = drive(Step.ACTION_PLAN, imminent_danger=True)
    assert state.response is not None and state.response.immediate_protection_needed
    assert_refused(state, K.ACTION_PLAN, examples.action_plan(now=NOW), "immediate_safety")
    plan = examples.action_plan([examples.action("A1", now=NOW), immediate_safety()], now=NOW)
    assert decide(state, K.ACTION_PLAN, plan).outcome == EventOutcome.PENDING_APPROVAL


def child_safeguard(kind: str = "education") -> dict[str, Any]:
    return examples.action(
        "C1",
        category="assistance",
        remedy_type=None,
        assistance_type=kind,
        description="School enrolment.",
        concerns_children=True,
        now=NOW,
    )


CHILDREN_FOUND = {"affected_persons": {"adults": 8, "children": 3}}


def test_children_need_education_or_best_interests_action() -> None:
    state = drive(Step.ACTION_PLAN, verification=CHILDREN_FOUND)
    assert_refused(
        state,
        K.ACTION_PLAN,
        examples.action_plan(now=NOW),
        "education or a best_interests_assessment",
    )


def test_an_action_for_children_that_is_not_a_safeguard_is_not_enough() -> None:
    state = drive(Step.ACTION_PLAN, verification=CHILDREN_FOUND)
    plan = examples.action_plan(
        [examples.action("A1", concerns_children=True, now=NOW), examples.action("A2", now=NOW)],
        now=NOW,
    )
    assert_refused(state, K.ACTION_PLAN, plan, "education or a best_interests_assessment")


def test_actions_concerning_children_need_a_safeguard_even_if_none_were_counted() -> None:
    state = drive(Step.ACTION_PLAN)
    plan = examples.action_plan([examples.action("A1", concerns_children=True, now=NOW)], now=NOW)
    assert_refused(state, K.ACTION_PLAN, plan, "education or a best_interests_assessment")


@pytest.mark.parametrize("safeguard", ["education", "best_interests_assessment"])
def test_plan_with_a_child_safeguard_is_accepted(safeguard: str) -> None:
    state = drive(Step.ACTION_PLAN, verification=CHILDREN_FOUND)
    decide(state, K.BEST_INTERESTS, examples.best_interests(None, now=NOW))
    plan = examples.action_plan(
        [examples.action("A1", now=NOW), child_safeguard(safeguard)], now=NOW
    )
    assert decide(state, K.ACTION_PLAN, plan).outcome == EventOutcome.PENDING_APPROVAL


def test_beneficiary_without_consent_is_refused() -> None:
    plan = examples.action_plan(consents=[examples.consent("V-0001", now=NOW)], now=NOW)
    assert_refused(
        drive(Step.ACTION_PLAN),
        K.ACTION_PLAN,
        plan,
        "action A1 serves V-0002, who has no recorded consent to receive services",
    )


def test_beneficiary_who_declined_services_is_refused() -> None:
    declined = {**examples.consent("V-0002", now=NOW), "to_receive_services": False}
    plan = examples.action_plan(consents=[examples.consent("V-0001", now=NOW), declined], now=NOW)
    assert_refused(
        drive(Step.ACTION_PLAN), K.ACTION_PLAN, plan, "V-0002, who has no recorded consent"
    )


def test_sharing_data_with_a_partner_not_consented_to_is_refused() -> None:
    only_ngo = {**examples.consent("V-0002", now=NOW), "share_data_with": ["partner.other"]}
    plan = examples.action_plan(consents=[examples.consent("V-0001", now=NOW), only_ngo], now=NOW)
    assert_refused(
        drive(Step.ACTION_PLAN),
        K.ACTION_PLAN,
        plan,
        f"action A1 shares V-0002's data with {PARTNER_ID}, which their consent does not cover",
    )


def test_action_without_victim_data_needs_no_data_sharing_consent() -> None:
    no_sharing = {**examples.consent("V-0002", now=NOW), "share_data_with": []}
    plan = examples.action_plan(
        [examples.action("A1", uses_victim_data=False, now=NOW)],
        consents=[examples.consent("V-0001", now=NOW), no_sharing],
        now=NOW,
    )
    state = drive(Step.ACTION_PLAN)
    assert decide(state, K.ACTION_PLAN, plan).outcome == EventOutcome.PENDING_APPROVAL


# ---------------------------------------------------------------------------------------------
# check: check-in


OTHER_PARTNERS_PLAN = examples.action_plan(
    [
        examples.action("A1", now=NOW),
        examples.action(
            "A2", implementing_partner="partner.other", uses_victim_data=False, now=NOW
        ),
    ],
    now=NOW,
)


def test_check_in_on_an_unknown_action_is_refused() -> None:
    assert_refused(
        drive(Step.IMPLEMENTATION),
        K.CHECK_IN,
        examples.check_in([examples.progress("A9")], now=NOW),
        "the plan has no action A9",
    )


def test_check_in_on_a_resolved_action_is_refused() -> None:
    state = drive(Step.IMPLEMENTATION)
    decide(state, K.CHECK_IN, examples.check_in(completed("A1"), now=NOW))
    assert_step(state, Step.IMPLEMENTATION)
    assert_refused(
        state,
        K.CHECK_IN,
        examples.check_in([examples.progress("A1")], now=NOW),
        "action A1 is already completed",
    )


def test_partner_may_not_report_on_someone_elses_action() -> None:
    state = drive(Step.IMPLEMENTATION, plan=OTHER_PARTNERS_PLAN)
    assert_refused(
        state,
        K.CHECK_IN,
        examples.check_in(
            [examples.progress("A1"), examples.progress("A2")], actor=PARTNER, now=NOW
        ),
        f"{PARTNER_ID} may report only on their own actions; A2 is implemented by partner.other",
    )


def test_partner_may_report_on_their_own_action() -> None:
    state = drive(Step.IMPLEMENTATION, plan=OTHER_PARTNERS_PLAN)
    decide(state, K.CHECK_IN, examples.check_in([examples.progress("A1")], actor=PARTNER, now=NOW))
    assert state.actions["A1"].status == ActionStatus.IN_PROGRESS
    assert state.actions["A1"].progress_percent == 40


def test_check_in_for_a_period_ending_in_the_future_is_refused() -> None:
    payload = {
        **examples.check_in([examples.progress("A1")], now=NOW),
        "period_end": (TODAY + DAY).isoformat(),
    }
    assert_refused(drive(Step.IMPLEMENTATION), K.CHECK_IN, payload, "is in the future")


# ---------------------------------------------------------------------------------------------
# check: amend plan


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        pytest.param(
            amend(add=[examples.action("A1", now=NOW)]),
            "action A1 already exists",
            id="add-existing",
        ),
        pytest.param(
            amend(change=[{"action_id": "A9", "description": "x"}]),
            "the plan has no action A9",
            id="change-unknown",
        ),
        pytest.param(
            amend(cancel=[{"action_id": "A9", "reason": "x"}]),
            "the plan has no action A9",
            id="cancel-unknown",
        ),
        pytest.param(
            amend(add=[examples.action("A3", due_date=TODAY.isoformat(), now=NOW)]),
            "action A3 is due .* not after today",
            id="add-due-today",
        ),
        pytest.param(
            amend(change=[{"action_id": "A1", "due_date": TODAY.isoformat()}]),
            "action A1: new due date is not after today",
            id="change-due-today",
        ),
        pytest.param(
            amend(add=[examples.action("A3", beneficiaries=["V-0003"], now=NOW)]),
            "action A3 serves V-0003, who has no recorded consent",
            id="new-beneficiary-without-consent",
        ),
        pytest.param(
            amend(
                add=[examples.action("A3", implementing_partner="partner.other", now=NOW)],
            ),
            "action A3 shares V-0001's data with partner.other",
            id="new-partner-not-consented",
        ),
    ],
)
def test_invalid_amendment_is_refused(payload: dict[str, Any], match: str) -> None:
    assert_refused(drive(Step.IMPLEMENTATION), K.AMEND_PLAN, payload, match)


@pytest.mark.parametrize("change", ["change", "cancel"])
def test_amending_a_resolved_action_is_refused(change: str) -> None:
    state = drive(Step.IMPLEMENTATION)
    decide(state, K.CHECK_IN, examples.check_in(completed("A1"), now=NOW))
    item: dict[str, Any] = {"action_id": "A1"}
    item.update({"description": "x"} if change == "change" else {"reason": "x"})
    assert_refused(state, K.AMEND_PLAN, amend(**{change: [item]}), "action A1 is already completed")


def test_amendment_may_bring_consent_for_a_new_beneficiary() -> None:
    state = drive(Step.IMPLEMENTATION)
    payload = amend(
        add=[examples.action("A3", beneficiaries=["V-0003"], now=NOW)],
        consents=[examples.consent("V-0003", now=NOW)],
    )
    assert decide(state, K.AMEND_PLAN, payload).outcome == EventOutcome.PENDING_APPROVAL


# ---------------------------------------------------------------------------------------------
# check: closure and lessons


def checklist(**changes: Any) -> dict[str, Any]:
    return examples.closure(checklist={**examples.closure()["checklist"], **changes})


def test_closure_with_open_actions_is_refused() -> None:
    # Not reachable through check-ins (the closure step starts when every action is resolved),
    # so the state is set by hand to prove the guard.
    state = drive(Step.CLOSURE)
    state.actions["A2"].status = ActionStatus.BLOCKED
    assert_refused(state, K.CLOSURE, examples.closure(), "actions still open: A2")


def test_closure_must_confirm_all_actions_resolved() -> None:
    assert_refused(
        drive(Step.CLOSURE),
        K.CLOSURE,
        checklist(all_actions_resolved=False),
        "checklist.all_actions_resolved must be confirmed",
    )


def test_closure_with_ongoing_risk_is_refused() -> None:
    assert_refused(
        drive(Step.CLOSURE), K.CLOSURE, checklist(no_ongoing_risk=False), "ongoing risk to victims"
    )


def test_closure_with_grievance_channel_closed_is_refused() -> None:
    assert_refused(
        drive(Step.CLOSURE),
        K.CLOSURE,
        checklist(grievance_channel_open=False),
        "grievance channel must stay open",
    )


def test_closure_after_closure_was_approved_is_refused() -> None:
    state = drive(Step.CLOSURE)
    approved(state, K.CLOSURE, examples.closure())
    assert_step(state, Step.CLOSURE)  # until the workflow has written the closure report
    assert_refused(state, K.CLOSURE, examples.closure(), "closure was already approved")


def test_lessons_twice_are_refused() -> None:
    state = drive(Step.LESSONS_LEARNED)
    decide(state, K.LESSONS_LEARNED, examples.lessons())
    assert state.lessons is not None
    assert_refused(state, K.LESSONS_LEARNED, examples.lessons(), "already captured")


# ---------------------------------------------------------------------------------------------
# check: approvals


@pytest.mark.parametrize("kind", [K.APPROVE, K.REJECT])
def test_unknown_approval_is_refused_listing_the_pending_ones(kind: DecisionKind) -> None:
    state = drive(Step.RESPONSE)
    payload = valid_payload(kind) | {"approval_id": "response-9"}
    assert_refused(state, kind, payload, "no pending approval response-9; pending approvals: none")
    decide(state, K.RESPONSE, examples.response("company_led"))
    assert_refused(
        state, kind, payload, "no pending approval response-9; pending approvals: response-1"
    )


@pytest.mark.parametrize("kind", [K.APPROVE, K.REJECT])
def test_author_cannot_decide_their_own_approval(kind: DecisionKind) -> None:
    owner_and_approver = {"id": OWNER_ID, "roles": ["case_owner", "approver"]}
    state = drive(Step.RESPONSE)
    decide(state, K.RESPONSE, examples.response("company_led", actor=owner_and_approver))
    payload = valid_payload(kind) | {"actor": owner_and_approver}
    assert_refused(
        state, kind, payload, f"{OWNER_ID} submitted response-1 and cannot also decide it"
    )


def test_an_approver_other_than_the_author_may_decide() -> None:
    state = drive(Step.RESPONSE)
    decide(state, K.RESPONSE, examples.response("company_led"))
    assert decide(state, K.APPROVE, examples.approve("response-1")).outcome == (
        EventOutcome.APPROVED
    )


@pytest.mark.parametrize("kind", [K.APPROVE, K.REJECT])
def test_non_approver_cannot_decide_an_approval(kind: DecisionKind) -> None:
    state = drive(Step.RESPONSE)
    decide(state, K.RESPONSE, examples.response("company_led"))
    payload = valid_payload(kind) | {"actor": SECOND_OWNER}
    assert_refused(state, kind, payload, f"{kind} needs the approver role")


def test_approving_an_extension_whose_milestone_has_gone_is_refused() -> None:
    state = drive(Step.RESPONSE)
    response = decide(state, K.RESPONSE, examples.response("company_led"))
    milestone = f"approval:{response.approval_id}"
    extension = decide(
        state, K.EXTEND_DEADLINE, extend(milestone, milestone_due(state, milestone) + DAY)
    )
    decide(state, K.APPROVE, examples.approve(str(response.approval_id)))
    assert_refused(
        state,
        K.APPROVE,
        examples.approve(str(extension.approval_id)),
        f"no open milestone {milestone}",
    )


# ---------------------------------------------------------------------------------------------
# check: reassign, extend_deadline, close_early


def test_reassign_to_the_current_owner_is_refused() -> None:
    state = drive(Step.VERIFICATION)
    assert state.case_owner == OWNER_ID
    assert_refused(state, K.REASSIGN, reassign(OWNER_ID), f"{OWNER_ID} already owns the case")


def test_extending_an_unknown_milestone_is_refused_listing_open_ones() -> None:
    assert_refused(
        new_state(),
        K.EXTEND_DEADLINE,
        extend("response", NOW + 60 * DAY),
        "no open milestone response; open milestones: acknowledge",
    )


@pytest.mark.parametrize(
    "new_deadline",
    [
        pytest.param(NOW + 7 * DAY, id="same-as-current"),
        pytest.param(NOW + DAY, id="earlier"),
        pytest.param(NOW - DAY, id="in-the-past"),
    ],
)
def test_extension_must_move_the_deadline_later(new_deadline: datetime) -> None:
    state = new_state()  # medium: acknowledge due in 7 days
    assert milestone_due(state, "acknowledge") == NOW + 7 * DAY
    assert_refused(
        state,
        K.EXTEND_DEADLINE,
        extend("acknowledge", new_deadline),
        "new deadline must be later than the current one",
    )


def test_extension_of_an_overdue_milestone_must_be_later_than_now() -> None:
    state = new_state()
    late = NOW + 10 * DAY
    assert_refused(
        state,
        K.EXTEND_DEADLINE,
        extend("acknowledge", late - HOUR),
        "later than the current one .* and than now",
        now=late,
    )


def test_second_extension_of_the_same_milestone_is_refused() -> None:
    state = new_state()
    first = decide(state, K.EXTEND_DEADLINE, extend("acknowledge", NOW + 10 * DAY))
    assert_refused(
        state,
        K.EXTEND_DEADLINE,
        extend("acknowledge", NOW + 12 * DAY),
        f"an extension of acknowledge is already awaiting approval \\({first.approval_id}\\)",
    )


def test_extensions_of_different_milestones_may_await_approval_together() -> None:
    state = new_state(imminent_danger=True)
    decide(state, K.EXTEND_DEADLINE, extend("acknowledge", NOW + 10 * DAY))
    decide(state, K.EXTEND_DEADLINE, extend("immediate_protection", NOW + 2 * DAY))
    assert sorted(state.approvals) == ["extend_deadline-1", "extend_deadline-2"]


@pytest.mark.parametrize("step", [Step.CLOSURE, Step.LESSONS_LEARNED])
def test_close_early_at_closure_or_later_is_refused(step: Step) -> None:
    assert_refused(
        drive(step), K.CLOSE_EARLY, close_early(), f"already in the {step} step; close it through"
    )


@pytest.mark.parametrize("reason", ["duplicate", "merged"])
def test_close_early_as_related_to_itself_is_refused(reason: str) -> None:
    state = new_state()
    assert_refused(
        state,
        K.CLOSE_EARLY,
        close_early(reason, related_incident=state.incident_id),
        "cannot duplicate or merge into itself",
    )


# ---------------------------------------------------------------------------------------------
# schema-level rules (pydantic validators)


@pytest.mark.parametrize(
    ("model_type", "payload", "match"),
    [
        pytest.param(
            ActionProgress,
            {**examples.progress("A1", "completed"), "completion": None},
            "only with a verification note",
            id="completed-without-verification-note",
        ),
        pytest.param(
            ActionProgress,
            examples.progress("A1", "cancelled"),
            "cancellation needs cancellation_reason",
            id="cancelled-without-reason",
        ),
        pytest.param(
            Verification,
            {**examples.verification("inconclusive"), "information_needed": None},
            "must say what information is needed",
            id="inconclusive-without-information-needed",
        ),
        pytest.param(
            Verification,
            examples.verification(harms_confirmed=[]),
            "needs at least one harm confirmed",
            id="substantiated-without-harm",
        ),
        pytest.param(
            Verification,
            examples.verification(harms_confirmed=["hazardous_child_labour"]),
            "no children are counted",
            id="child-labour-without-children",
        ),
        pytest.param(
            REGISTRY[K.ACKNOWLEDGE].model,
            examples.acknowledge(victim_name="someone"),
            "Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            Intake,
            examples.intake(location={"country": "XX", "site_type": "large_scale"}),
            "'XX' is not an ISO 3166-1 alpha-2 country code",
            id="bad-country",
        ),
        pytest.param(
            Intake,
            examples.intake(received_at="2026-11-20T09:30:00"),
            "timezone",
            id="naive-received-at",
        ),
        pytest.param(
            ExtendDeadline,
            {**extend("acknowledge", NOW), "new_deadline": "2026-12-01T00:00:00"},
            "timezone",
            id="naive-new-deadline",
        ),
        pytest.param(
            Budget,
            {"amount": "-1.00", "currency": "USD", "funded_by": ["company"]},
            "greater than or equal to 0",
            id="negative-budget",
        ),
        pytest.param(
            Budget,
            {"amount": "1.00", "currency": "XYZ", "funded_by": ["company"]},
            "ISO 4217",
            id="bad-currency",
        ),
        pytest.param(
            REGISTRY[K.ACTION_PLAN].model,
            examples.action_plan([], now=NOW),
            "at least 1 item",
            id="plan-without-actions",
        ),
        pytest.param(
            REGISTRY[K.REJECT].model,
            {"actor": APPROVER, "approval_id": "response-1"},
            "comments",
            id="reject-without-comments",
        ),
        pytest.param(
            CloseEarly,
            close_early("duplicate"),
            "needs related_incident",
            id="duplicate-without-related",
        ),
        pytest.param(
            REGISTRY[K.AMEND_PLAN].model,
            amend(),
            "must add, change or cancel",
            id="empty-amendment",
        ),
    ],
)
def test_schema_refuses(model_type: type[Any], payload: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        model_type.model_validate(payload)


def test_negative_budget_inside_a_plan_is_refused() -> None:
    bad = examples.action(
        "A1", budget={"amount": "-5", "currency": "USD", "funded_by": ["company"]}, now=NOW
    )
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        model(K.ACTION_PLAN, examples.action_plan([bad], now=NOW))


# ---------------------------------------------------------------------------------------------
# apply: the process


def test_happy_path_walks_the_steps_in_order() -> None:
    state = new_state()
    steps = [state.step]

    ack = decide(state, K.ACKNOWLEDGE, examples.acknowledge())
    assert ack.outcome == EventOutcome.ACCEPTED
    assert state.case_owner == OWNER_ID and state.severity_confirmed
    assert [n.recipient for n in ack.notices] == ["reporter"]

    decide(state, K.VERIFICATION, examples.verification())
    steps.append(state.step)
    assert state.severity == Severity.HIGH  # medium scores, raised by the migrants found
    assert state.proposed_level == ResponseLevel.COMPANY_LED

    response = decide(state, K.RESPONSE, examples.response("company_led"))
    assert response.approval_id == "response-1"
    assert_step(state, Step.RESPONSE)
    decide(state, K.APPROVE, examples.approve("response-1"))
    steps.append(state.step)
    assert state.response is not None and state.response.level == ResponseLevel.COMPANY_LED

    plan = decide(state, K.ACTION_PLAN, examples.action_plan(now=NOW))
    assert plan.approval_id == "action_plan-2"
    approval = decide(state, K.APPROVE, examples.approve("action_plan-2"))
    steps.append(state.step)
    assert approval.touched_actions == ["A1", "A2"]
    assert set(state.consents) == {"V-0001", "V-0002"}

    decide(state, K.CHECK_IN, examples.check_in([examples.progress("A1")], now=NOW))
    assert_step(state, Step.IMPLEMENTATION)
    decide(state, K.CHECK_IN, examples.check_in(completed("A1", "A2"), now=NOW))
    steps.append(state.step)

    closure = decide(state, K.CLOSURE, examples.closure())
    assert closure.approval_id == "closure-3"
    decide(state, K.APPROVE, examples.approve("closure-3"))
    assert state.closure is not None and state.closed_at == NOW
    assert state.case_status == CaseStatus.CLOSED
    assert state.closure_reason == "remediation completed"
    assert state.approvals == {}

    assert steps == [
        Step.VERIFICATION,
        Step.RESPONSE,
        Step.ACTION_PLAN,
        Step.IMPLEMENTATION,
        Step.CLOSURE,
    ]


def test_closed_referred_sets_the_case_status() -> None:
    state = drive(Step.CLOSURE)
    payload = examples.closure(status="closed_referred")
    payload["checklist"]["residual_support_partner"] = "Fictional Shelter Network"
    approved(state, K.CLOSURE, payload)
    assert state.case_status == CaseStatus.CLOSED_REFERRED


@pytest.mark.parametrize(
    ("outcome", "changes", "reason"),
    [
        ("not_substantiated", {}, "not substantiated"),
        ("substantiated", {"relationship": "no_link"}, "no link to the company's supply chain"),
    ],
)
def test_no_case_to_answer_goes_straight_to_closure(
    outcome: str, changes: dict[str, Any], reason: str
) -> None:
    state = drive(Step.VERIFICATION)
    effect = decide(state, K.VERIFICATION, examples.verification(outcome, **changes))
    assert_step(state, Step.CLOSURE)
    assert state.closure_reason == reason
    assert state.proposed_level == ResponseLevel.MONITOR
    assert reason in effect.summary
    approved(state, K.CLOSURE, examples.closure())  # no actions to resolve
    assert state.closure_reason == reason
    assert state.case_status == CaseStatus.CLOSED


def test_inconclusive_verification_counts_a_round_and_stays() -> None:
    state = drive(Step.VERIFICATION)
    later = NOW + 3 * DAY
    effect = decide(state, K.VERIFICATION, examples.verification("inconclusive"), now=later)
    assert_step(state, Step.VERIFICATION)
    assert state.verification_rounds == 1
    assert state.verification is None
    assert state.step_entered_at == later
    assert effect.reason == "Payroll records from the trader."
    # The new round has a fresh verification window (medium: 45 days).
    assert milestone_due(state, "verification") == later + 45 * DAY


def test_reject_returns_the_item_and_a_revision_gets_a_new_approval() -> None:
    state = drive(Step.ACTION_PLAN)
    first = decide(state, K.ACTION_PLAN, examples.action_plan(now=NOW))
    assert first.approval_id == "action_plan-2"
    rejection = decide(state, K.REJECT, examples.reject("action_plan-2", "Add livelihood."))
    assert rejection.outcome == EventOutcome.REJECTED
    assert rejection.decided is not None and rejection.decided.approval_id == "action_plan-2"
    assert state.approvals == {}
    assert_step(state, Step.ACTION_PLAN)
    [returned] = state.returned
    assert returned.approval_id == "action_plan-2"
    assert returned.author == OWNER_ID
    assert returned.rejected_by == APPROVER["id"]
    assert returned.comments == "Add livelihood."
    assert [n.recipient for n in rejection.notices] == [OWNER_ID]

    livelihood = examples.action(
        "A3", category="assistance", remedy_type=None, assistance_type="livelihood_support", now=NOW
    )
    revised = examples.action_plan(
        [examples.action("A1", now=NOW), examples.action("A2", now=NOW), livelihood], now=NOW
    )
    second = decide(state, K.ACTION_PLAN, revised)
    assert second.approval_id == "action_plan-3"
    assert state.returned == []
    decide(state, K.APPROVE, examples.approve("action_plan-3"))
    assert_step(state, Step.IMPLEMENTATION)
    assert sorted(state.actions) == ["A1", "A2", "A3"]


def test_approved_amendment_adds_changes_and_cancels_actions() -> None:
    state = drive(Step.IMPLEMENTATION)
    new_due = TODAY + timedelta(days=90)
    payload = amend(
        add=[examples.action("A3", description="Return identity documents.", now=NOW)],
        change=[{"action_id": "A1", "due_date": new_due.isoformat(), "description": "Repay."}],
        cancel=[{"action_id": "A2", "reason": "Covered by A3."}],
    )
    effect = approved(state, K.AMEND_PLAN, payload)
    assert effect.touched_actions == ["A3", "A1", "A2"]
    assert_step(state, Step.IMPLEMENTATION)
    assert state.actions["A1"].plan.due_date == new_due
    assert state.actions["A1"].plan.description == "Repay."
    assert state.actions["A1"].plan.implementing_partner == PARTNER_ID  # unchanged
    assert state.actions["A2"].status == ActionStatus.CANCELLED
    assert state.actions["A2"].cancellation_reason == "Covered by A3."
    assert state.actions["A3"].status == ActionStatus.NOT_STARTED
    decide(state, K.CHECK_IN, examples.check_in(completed("A1", "A3"), now=NOW))
    assert_step(state, Step.CLOSURE)


def test_amendment_cancelling_the_last_open_actions_moves_to_closure() -> None:
    state = drive(Step.IMPLEMENTATION)
    decide(state, K.CHECK_IN, examples.check_in(completed("A1"), now=NOW))
    approved(state, K.AMEND_PLAN, amend(cancel=[{"action_id": "A2", "reason": "Not needed."}]))
    assert_step(state, Step.CLOSURE)


def test_approved_extension_moves_the_milestone() -> None:
    state = new_state()
    assert milestone_due(state, "acknowledge") == NOW + 7 * DAY
    request = decide(state, K.EXTEND_DEADLINE, extend("acknowledge", NOW + 10 * DAY))
    assert request.approval_id == "extend_deadline-1"
    [pending_milestone] = [m for m in open_milestones(state) if m.kind == MilestoneKind.APPROVAL]
    assert pending_milestone.milestone == "approval:extend_deadline-1"
    decide(state, K.APPROVE, examples.approve("extend_deadline-1"))
    [acknowledge] = [m for m in open_milestones(state) if m.milestone == "acknowledge"]
    assert acknowledge.due_at == NOW + 10 * DAY
    assert acknowledge.extended
    assert state.approvals == {}


def test_approved_early_closure_completes_the_incident() -> None:
    state = drive(Step.RESPONSE)
    decide(state, K.RESPONSE, examples.response("company_led"))  # pending response-1
    approved(state, K.CLOSE_EARLY, close_early("duplicate", related_incident="incident-Y"))
    assert_step(state, Step.COMPLETED)
    assert state.case_status == CaseStatus.CLOSED
    assert state.closure_reason == "closed early: duplicate"
    assert state.early_closure is not None
    assert state.approvals == {}
    assert open_milestones(state) == []
    assert pending_decisions(state, []) == []


def test_reassign_changes_the_case_owner_and_notifies_them() -> None:
    state = drive(Step.VERIFICATION)
    effect = decide(state, K.REASSIGN, reassign())
    assert state.case_owner == SECOND_OWNER["id"]
    assert effect.reason == "Workload balancing."
    assert [n.recipient for n in effect.notices] == [SECOND_OWNER["id"]]


def test_executive_may_reassign_an_unowned_case() -> None:
    state = new_state()
    decide(state, K.REASSIGN, {**reassign(), "actor": EXECUTIVE})
    assert state.case_owner == SECOND_OWNER["id"]
    # Now only the assigned owner may acknowledge.
    decide(state, K.ACKNOWLEDGE, examples.acknowledge(actor=SECOND_OWNER))


def test_refused_verification_is_accepted_once_protection_is_recorded() -> None:
    """A refused decision leaves no trace; the same decision is accepted once it is valid."""
    state = new_state(imminent_danger=True)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge(state.provisional_severity))
    assert_refused(state, K.VERIFICATION, examples.verification(), "immediate_protection first")
    decide(state, K.IMMEDIATE_PROTECTION, protection())
    decide(state, K.VERIFICATION, examples.verification())
    assert_step(state, Step.RESPONSE)


# ---------------------------------------------------------------------------------------------
# deadlines and views


def test_critical_incident_deadlines() -> None:
    state = new_state(**CRITICAL_INTAKE)
    assert state.severity == Severity.CRITICAL
    due = {m.milestone: m.due_at for m in open_milestones(state)}
    assert due == {"acknowledge": NOW + 24 * HOUR, "immediate_protection": NOW + 24 * HOUR}

    decide(state, K.ACKNOWLEDGE, examples.acknowledge("critical"), now=NOW + 2 * HOUR)
    due = {m.milestone: m.due_at for m in open_milestones(state)}
    assert due == {"immediate_protection": NOW + 24 * HOUR, "verification": NOW + 7 * DAY}

    decide(state, K.IMMEDIATE_PROTECTION, protection(), now=NOW + 3 * HOUR)
    assert [m.milestone for m in open_milestones(state)] == ["verification"]


@pytest.mark.parametrize(
    ("severity", "acknowledge_days", "verification_days"),
    [("critical", 1, 7), ("high", 3, 30), ("medium", 7, 45), ("low", 14, 60)],
)
def test_deadlines_follow_the_acknowledged_severity(
    severity: str, acknowledge_days: int, verification_days: int
) -> None:
    state = new_state()
    state.severity = Severity(severity)
    assert milestone_due(state, "acknowledge") == NOW + acknowledge_days * DAY
    decide(state, K.ACKNOWLEDGE, examples.acknowledge(severity, reason="Triage corrected."))
    assert milestone_due(state, "verification") == NOW + verification_days * DAY


def test_approval_deadline_for_a_critical_incident() -> None:
    state = drive(Step.RESPONSE, verification={"scale": 4, "scope": 3, "irremediability": 3})
    assert state.severity == Severity.CRITICAL
    requested = NOW + 5 * HOUR
    payload = examples.response(
        "collective_urgent",
        override_justification="Urgent collective action.",
    )
    effect = decide(state, K.RESPONSE, payload, now=requested)
    assert milestone_due(state, f"approval:{effect.approval_id}") == requested + 2 * DAY
    # The response milestone is met while its approval is pending.
    assert "response" not in {m.milestone for m in open_milestones(state)}
    [pending] = status_view(state).pending_approvals
    assert pending.due_at == requested + 2 * DAY
    assert pending.author == OWNER_ID


def test_check_in_cadence_runs_from_the_plan_approval() -> None:
    state = drive(Step.ACTION_PLAN)
    assert state.severity == Severity.HIGH  # cadence 14 days
    request = decide(state, K.ACTION_PLAN, examples.action_plan(now=NOW))
    plan_approved_at = NOW + 2 * HOUR
    decide(state, K.APPROVE, examples.approve(str(request.approval_id)), now=plan_approved_at)
    assert milestone_due(state, "check_in") == plan_approved_at + 14 * DAY
    due_date = TODAY + timedelta(days=60)
    assert milestone_due(state, "action:A1") == datetime.combine(
        due_date, time(23, 59, 59), tzinfo=UTC
    )

    checked_in_at = NOW + 5 * DAY
    decide(state, K.CHECK_IN, examples.check_in(completed("A1"), now=NOW), now=checked_in_at)
    assert milestone_due(state, "check_in") == checked_in_at + 14 * DAY
    assert "action:A1" not in {m.milestone for m in open_milestones(state)}


def test_milestones_are_sorted_earliest_first() -> None:
    state = drive(Step.IMPLEMENTATION)
    dues = [m.due_at for m in open_milestones(state)]
    assert dues == sorted(dues)


def test_pending_decisions_name_the_expected_role_and_actor() -> None:
    state = new_state(imminent_danger=True)
    awaited = pending_decisions(state, open_milestones(state))
    assert [(p.kind, p.expected_role, p.expected_actor) for p in awaited] == [
        (K.ACKNOWLEDGE, "case_owner", None),
        (K.IMMEDIATE_PROTECTION, "case_owner", None),
    ]
    assert awaited[0].milestone == "acknowledge"
    assert awaited[0].due_at == milestone_due(state, "acknowledge")

    decide(state, K.ACKNOWLEDGE, examples.acknowledge(state.provisional_severity))
    awaited = pending_decisions(state, open_milestones(state))
    assert [(p.kind, p.expected_role, p.expected_actor) for p in awaited] == [
        (K.IMMEDIATE_PROTECTION, "case_owner", OWNER_ID),
        (K.VERIFICATION, "verifier", None),
    ]
    assert awaited[1].due_at == milestone_due(state, "verification")


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        (Step.RESPONSE, K.RESPONSE),
        (Step.ACTION_PLAN, K.ACTION_PLAN),
        (Step.IMPLEMENTATION, K.CHECK_IN),
        (Step.CLOSURE, K.CLOSURE),
        (Step.LESSONS_LEARNED, K.LESSONS_LEARNED),
    ],
)
def test_pending_decision_of_each_step_is_the_owners(step: Step, kind: DecisionKind) -> None:
    state = drive(step)
    [awaited] = pending_decisions(state, open_milestones(state))
    assert (awaited.kind, awaited.expected_role, awaited.expected_actor) == (
        kind,
        "case_owner",
        OWNER_ID,
    )
    assert awaited.due_at is not None


def test_no_step_decision_is_awaited_while_it_awaits_approval() -> None:
    state = drive(Step.RESPONSE)
    decide(state, K.RESPONSE, examples.response("company_led"))
    assert pending_decisions(state, open_milestones(state)) == []
    decide(state, K.REJECT, examples.reject("response-1"))
    [awaited] = pending_decisions(state, open_milestones(state))
    assert awaited.kind == K.RESPONSE


@pytest.mark.parametrize(
    "step",
    [
        Step.VERIFICATION,
        Step.RESPONSE,
        Step.ACTION_PLAN,
        Step.IMPLEMENTATION,
        Step.CLOSURE,
        Step.LESSONS_LEARNED,
    ],
)
def test_status_view_at_every_step(step: Step) -> None:
    state = drive(step)
    status = status_view(state)
    assert status.step == step
    assert status.case_owner == OWNER_ID
    assert status.deadlines == open_milestones(state)


def test_current_details_say_where_the_case_stands_without_personal_data() -> None:
    state = new_state(
        reporter={"anonymous": False, "name": "Reporter Person", "contact": "+243 555 0101"}
    )
    details = current_details(state)
    assert "Step 1 of 6: verification" in details
    assert "Severity: medium (provisional)" in details
    assert "Case owner: unassigned" in details
    assert "`acknowledge` from a case owner" in details
    for private in (state.intake.description, "Reporter Person", "+243 555 0101"):
        assert private not in details


def test_current_details_list_pending_and_returned_approvals() -> None:
    state = drive(Step.ACTION_PLAN)
    decide(state, K.ACTION_PLAN, examples.action_plan(now=NOW))
    details = current_details(state)
    assert "Step 3 of 6: action plan" in details
    [pending] = status_view(state).pending_approvals
    assert pending.due_at is not None
    assert "approval `action_plan-2`" in details
    due = pending.due_at.astimezone(UTC)
    assert f"from an approver other than {OWNER_ID}, by {due:%Y-%m-%d %H:%M} UTC" in details
    decide(state, K.REJECT, examples.reject("action_plan-2"))
    details = current_details(state)
    assert "`action_plan` from owner.amara" in details
    assert f"`action_plan-2` back with {OWNER_ID}" in details
    for victim_id in ("V-0001", "V-0002"):
        assert victim_id not in details


def test_search_attributes_say_who_is_awaited_for_what_by_when() -> None:
    state = drive(Step.ACTION_PLAN)
    decide(state, K.ACTION_PLAN, examples.action_plan(now=NOW))
    [pending] = status_view(state).pending_approvals

    values = lifecycle.search_attributes(state, NOW)

    assert values[sa.AWAITING_FROM.name] == ["role:approver"]
    assert values[sa.AWAITING_DECISION.name] == awaiting.line(
        AwaitedItem("approve", "role:approver", pending.due_at, "action_plan-2", OWNER_ID)
    )
    unassigned = lifecycle.search_attributes(new_state(), NOW)
    assert unassigned[sa.CASE_OWNER.name] == sa.UNASSIGNED
    assert unassigned[sa.AWAITING_FROM.name] == ["role:case_owner"]
    assert awaiting.parse(unassigned[sa.AWAITING_DECISION.name])[0].kind == "acknowledge"
    # An incident from before the patch publishes neither, and no owner while it has none.
    before = lifecycle.search_attributes(new_state(), NOW, with_awaiting=False)
    assert before[sa.CASE_OWNER.name] is None
    assert sa.AWAITING_FROM.name not in before and sa.AWAITING_DECISION.name not in before


def test_current_details_of_implementation_and_completion() -> None:
    state = drive(Step.IMPLEMENTATION)
    details = current_details(state)
    assert "Step 4 of 6: implementation" in details
    assert "Actions: 0 of 2 resolved." in details
    assert "V-0001" not in details
    finished = completed_incident()
    assert current_details(finished).startswith("**Completed** — closed (closed early: withdrawn)")


def test_the_relationship_decided_at_step_2_is_called_the_business_relationship() -> None:
    """Verification finds the relationship to the harm (`contribute`...); step 2 decides the
    business relationship (`continue_with_mitigation`...): summaries and status name each."""
    state = drive(Step.VERIFICATION)
    verified = decide(state, K.VERIFICATION, examples.verification())
    assert verified.summary.startswith("verification substantiated, relationship to the harm ")
    assert state.proposed_level is not None
    requested = decide(state, K.RESPONSE, examples.response(state.proposed_level))
    expected = "business relationship continue_with_mitigation"
    assert requested.summary.startswith(f"response level {state.proposed_level}, {expected}")
    [pending] = status_view(state).pending_approvals
    assert pending.summary.endswith(expected)
    assert f"({pending.summary})" in current_details(state)
    assert any(expected in notice.body for notice in requested.notices)
    assert status_view(state).business_relationship is None

    decide(state, K.APPROVE, examples.approve(pending.approval_id))
    status = status_view(state)
    assert status.business_relationship == BusinessRelationship.CONTINUE_WITH_MITIGATION
    assert status.relationship == Relationship.CONTRIBUTE
    assert "- Business relationship: continue_with_mitigation" in current_details(state)


def test_static_summary_has_no_personal_data() -> None:
    intake = Intake.model_validate(
        examples.intake(
            reporter={"anonymous": False, "name": "Reporter Person", "contact": "+243 555 0101"},
            minerals=["tin", "gold"],
        )
    )
    summary = static_summary(intake)
    assert summary == "tin, gold · CD · mine_site · forced_labour, debt_bondage"
    for private in (intake.description, "Reporter Person", "+243 555 0101", "V-"):
        assert private not in summary


# ---------------------------------------------------------------------------------------------
# regressions: stale approvals, typed amendments, consent on changes, extensions


def test_approving_an_amendment_of_an_action_resolved_meanwhile_is_refused() -> None:
    state = drive(Step.IMPLEMENTATION)
    request = decide(state, K.AMEND_PLAN, amend(cancel=[{"action_id": "A1", "reason": "x"}]))
    decide(state, K.CHECK_IN, examples.check_in(completed("A1"), now=NOW))
    assert state.actions["A1"].status == ActionStatus.COMPLETED
    assert_refused(
        state, K.APPROVE, examples.approve(str(request.approval_id)), "A1 is already completed"
    )


def test_an_amendment_awaiting_approval_keeps_the_incident_in_implementation() -> None:
    state = drive(Step.IMPLEMENTATION)
    request = decide(state, K.AMEND_PLAN, amend(add=[examples.action("A3", now=NOW)]))
    decide(state, K.CHECK_IN, examples.check_in(completed("A1", "A2"), now=NOW))
    assert_step(state, Step.IMPLEMENTATION)
    decide(state, K.APPROVE, examples.approve(str(request.approval_id)))
    assert_step(state, Step.IMPLEMENTATION)
    assert state.actions["A3"].status == ActionStatus.NOT_STARTED


def test_rejecting_the_last_amendment_moves_a_resolved_plan_to_closure() -> None:
    state = drive(Step.IMPLEMENTATION)
    request = decide(state, K.AMEND_PLAN, amend(add=[examples.action("A3", now=NOW)]))
    decide(state, K.CHECK_IN, examples.check_in(completed("A1", "A2"), now=NOW))
    decide(state, K.REJECT, examples.reject(str(request.approval_id)))
    assert_step(state, Step.CLOSURE)


def test_amended_budget_stays_a_budget() -> None:
    state = drive(Step.IMPLEMENTATION)
    new_budget = {"amount": "5000.00", "currency": "EUR", "funded_by": ["company"]}
    approved(state, K.AMEND_PLAN, amend(change=[{"action_id": "A1", "budget": new_budget}]))
    budget = state.actions["A1"].plan.budget
    assert isinstance(budget, Budget)
    assert budget.amount == Decimal("5000.00")


def test_changing_the_partner_of_a_data_using_action_needs_consent() -> None:
    state = drive(Step.IMPLEMENTATION)
    assert state.actions["A1"].plan.uses_victim_data
    assert_refused(
        state,
        K.AMEND_PLAN,
        amend(change=[{"action_id": "A1", "implementing_partner": "partner.other"}]),
        "consent does not cover",
    )


def test_extension_of_a_check_in_applies_to_that_check_in_only() -> None:
    state = drive(Step.IMPLEMENTATION)  # high: check-ins every 14 days
    assert milestone_due(state, "check_in") == NOW + 14 * DAY
    approved(state, K.EXTEND_DEADLINE, extend("check_in", NOW + 20 * DAY))
    assert milestone_due(state, "check_in") == NOW + 20 * DAY
    checked_in_at = NOW + 19 * DAY
    decide(
        state, K.CHECK_IN, examples.check_in([examples.progress("A1")], now=NOW), now=checked_in_at
    )
    [check_in] = [m for m in open_milestones(state) if m.milestone == "check_in"]
    assert check_in.due_at == checked_in_at + 14 * DAY
    assert not check_in.extended


def test_closure_deadline_stops_once_closure_is_approved() -> None:
    state = drive(Step.CLOSURE)
    approved(state, K.CLOSURE, examples.closure())
    assert pending_decisions(state, open_milestones(state)) == []
    assert "closure" not in {m.milestone for m in open_milestones(state)}
