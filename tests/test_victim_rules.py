"""Roles held on the incident, consent gates, children's best interests and erasure
(docs/design.md, Approvals and roles; Consent and children).

Pure, like tests/test_decision_rules.py, whose helpers these tests share: a refusal names the
problem and leaves the state untouched.
"""

from typing import Any

import pytest

from schemas.decisions import Consent
from schemas.incident_state import RULES_BEFORE_PROTECTION, IncidentState
from schemas.policy import Policy, RoleDirectory
from schemas.register import EventOutcome, NotificationKind
from schemas.vocabulary import Step
from tests.test_decision_rules import (
    APPROVER,
    CASE_OWNER,
    EXECUTIVE,
    HOUR,
    NOW,
    PARTNER,
    PARTNER_ID,
    VERIFIER,
    K,
    amend,
    approved,
    assert_refused,
    assert_step,
    decide,
    drive,
    model,
    new_state,
)
from workers.devstack import examples
from workflows.incident_state import partner_view, status_view
from workflows.rules.consent import consents_in_force
from workflows.rules.registry import check

CONSENTED_AT = NOW - 3 * HOUR  # fixed instants before NOW, whatever the time zone or the hour
WITHDRAWN_AT = NOW - HOUR

DIRECTORY = Policy(
    roles=RoleDirectory(
        verifier=[str(VERIFIER["id"])],
        approver=[str(APPROVER["id"])],
        executive=[str(EXECUTIVE["id"])],
        case_owner=[str(CASE_OWNER["id"]), "owner.lucas"],
    )
)


def claiming(role: str, actor_id: str = "intruder.x") -> dict[str, Any]:
    return {"id": actor_id, "roles": [role]}


# --- roles ----------------------------------------------------------------------------------


def test_an_approver_not_in_the_directory_is_refused() -> None:
    state = new_state(policy=DIRECTORY)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge())
    decide(state, K.VERIFICATION, examples.verification())
    assert state.proposed_level is not None
    decide(state, K.RESPONSE, examples.response(state.proposed_level))
    assert_refused(
        state,
        K.APPROVE,
        examples.approve("response-1", actor=claiming("approver")),
        r"intruder.x does not hold the approver role \(the policy's roles.approver list\)",
    )
    assert decide(state, K.APPROVE, examples.approve("response-1")).outcome == (
        EventOutcome.APPROVED
    )


def test_a_verifier_not_in_the_directory_is_refused() -> None:
    state = new_state(policy=DIRECTORY)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge())
    payload = {**examples.verification(), "actor": claiming("verifier")}
    assert_refused(state, K.VERIFICATION, payload, "does not hold the verifier role")


def test_only_listed_case_owners_may_take_an_unassigned_case() -> None:
    state = new_state(policy=DIRECTORY)
    assert_refused(
        state,
        K.ACKNOWLEDGE,
        examples.acknowledge(actor=claiming("case_owner")),
        "does not hold the case_owner role",
    )


def test_once_assigned_only_the_case_owner_acts_as_case_owner() -> None:
    state = drive(Step.RESPONSE)
    impostor = claiming("case_owner", "owner.someone-else")
    assert state.proposed_level is not None
    assert_refused(
        state,
        K.RESPONSE,
        {**examples.response(state.proposed_level), "actor": impostor},
        r"owner.someone-else is not the case owner of incident-X \(owner.amara is\)",
    )


def test_an_executive_may_reassign_only_when_listed() -> None:
    state = new_state(policy=DIRECTORY)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge())
    payload = {"new_case_owner": "owner.lucas", "reason": "Workload."}
    assert_refused(
        state,
        K.REASSIGN,
        {**payload, "actor": claiming("executive")},
        "does not hold the executive role",
    )
    decide(state, K.REASSIGN, {**payload, "actor": EXECUTIVE})
    assert state.case_owner == "owner.lucas"


def test_a_partner_must_implement_an_action_to_report() -> None:
    state = drive(Step.IMPLEMENTATION)
    stranger = claiming("implementing_partner", "partner.stranger")
    payload = examples.check_in([examples.progress("A1")], actor=stranger, now=NOW)
    assert_refused(state, K.CHECK_IN, payload, "partner.stranger implements no action")


def two_partner_plan() -> dict[str, Any]:
    other = examples.action(
        "A2", implementing_partner="partner.other", uses_victim_data=False, now=NOW
    )
    return examples.action_plan([examples.action("A1", now=NOW), other], now=NOW)


def test_a_partner_cannot_report_on_another_partners_action() -> None:
    plan = examples.action_plan(
        [
            examples.action("A1", now=NOW),
            examples.action(
                "A2", implementing_partner="partner.other", uses_victim_data=False, now=NOW
            ),
        ],
        now=NOW,
    )
    state = drive(Step.IMPLEMENTATION, plan=plan)
    payload = examples.check_in([examples.progress("A2")], actor=PARTNER, now=NOW)
    assert_refused(state, K.CHECK_IN, payload, "may report only on their own actions")
    mine = examples.check_in([examples.progress("A1")], actor=PARTNER, now=NOW)
    assert decide(state, K.CHECK_IN, mine).outcome == EventOutcome.ACCEPTED


def test_a_partner_sees_only_their_own_actions() -> None:
    plan = examples.action_plan(
        [
            examples.action("A1", now=NOW),
            examples.action(
                "A2", implementing_partner="partner.other", uses_victim_data=False, now=NOW
            ),
        ],
        now=NOW,
    )
    state = drive(Step.IMPLEMENTATION, plan=plan)
    view = partner_view(state, PARTNER_ID)
    assert [a.action_id for a in view.actions] == ["A1"]
    assert partner_view(state, "partner.nobody").actions == []


def test_the_system_role_never_decides() -> None:
    state = drive(Step.RESPONSE)
    assert state.proposed_level is not None
    decide(state, K.RESPONSE, examples.response(state.proposed_level))
    system = {"id": "system", "roles": ["system", "approver"]}
    assert_refused(
        state,
        K.APPROVE,
        examples.approve("response-1", actor={"id": "system", "roles": ["system"]}),
        "needs the approver role",
    )
    # Claiming approver besides system is checked like any claim: allowed only when held.
    assert decide(state, K.APPROVE, examples.approve("response-1", actor=system)).outcome == (
        EventOutcome.APPROVED
    )


def test_incidents_opened_under_earlier_rules_trust_claimed_roles() -> None:
    state = new_state(policy=DIRECTORY, rules_version=RULES_BEFORE_PROTECTION)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge(actor=claiming("case_owner", "owner.amara")))
    payload = {**examples.verification(), "actor": claiming("verifier")}
    assert decide(state, K.VERIFICATION, payload).outcome == EventOutcome.ACCEPTED


# --- consent gates --------------------------------------------------------------------------


def with_victims(*children: str) -> Any:
    state = drive(Step.ACTION_PLAN)
    for victim_id in ("V-0001", "V-0002", *children):
        decide(
            state, K.RECORD_VICTIM, examples.record_victim(victim_id, child=victim_id in children)
        )
    return state


def test_sharing_needs_recorded_consent_for_that_recipient() -> None:
    state = with_victims()
    assert_refused(
        state, K.SHARE_VICTIM_DATA, examples.share_victim_data(), "V-0001 has no recorded consent"
    )
    decide(state, K.RECORD_CONSENT, examples.record_consent("V-0001", now=NOW))
    assert_refused(
        state,
        K.SHARE_VICTIM_DATA,
        examples.share_victim_data(recipient="partner.other"),
        "does not cover sharing their data with partner.other",
    )
    assert_refused(
        state,
        K.SHARE_VICTIM_DATA,
        examples.share_victim_data(recipient_kind="authorities", recipient="Labour inspectorate"),
        "does not cover involving the authorities",
    )
    effect = decide(state, K.SHARE_VICTIM_DATA, examples.share_victim_data())
    assert effect.summary == f"V-0001's data shared with partner {PARTNER_ID} under their consent"


def test_withdrawn_consent_blocks_further_sharing_and_tells_the_partners() -> None:
    state = drive(Step.IMPLEMENTATION)
    decide(state, K.RECORD_VICTIM, examples.record_victim("V-0002"))
    decide(state, K.SHARE_VICTIM_DATA, examples.share_victim_data("V-0002"))
    effect = decide(state, K.WITHDRAW_CONSENT, examples.withdraw_consent("V-0002", now=NOW))
    assert "actions serving them: A1, A2" in effect.summary
    told = {(n.kind, n.recipient) for n in effect.notices}
    assert (NotificationKind.CONSENT_WITHDRAWN, PARTNER_ID) in told
    assert state.consents["V-0002"].share_data_with == []
    assert state.consents["V-0002"].to_receive_services  # only sharing was withdrawn
    assert_refused(
        state,
        K.SHARE_VICTIM_DATA,
        examples.share_victim_data("V-0002"),
        "does not cover sharing their data with",
    )
    # New actions relying on the withdrawn consent are refused too.
    assert_refused(
        state,
        K.AMEND_PLAN,
        {
            "actor": CASE_OWNER,
            "reason": "More support.",
            "add": [examples.action("A3", beneficiaries=["V-0002"], now=NOW)],
        },
        "action A3 shares V-0002's data with",
    )


def test_withdrawing_consent_from_one_partner_keeps_the_others() -> None:
    state = with_victims()
    consent = examples.record_consent(
        "V-0001", share_data_with=[PARTNER_ID, "partner.other"], now=NOW
    )
    decide(state, K.RECORD_CONSENT, consent)
    decide(
        state, K.WITHDRAW_CONSENT, examples.withdraw_consent(partners=["partner.other"], now=NOW)
    )
    assert state.consents["V-0001"].share_data_with == [PARTNER_ID]


def test_withdrawing_consent_that_was_never_given_is_refused() -> None:
    assert_refused(
        drive(Step.ACTION_PLAN),
        K.WITHDRAW_CONSENT,
        examples.withdraw_consent("V-0009", now=NOW),
        "V-0009 has no recorded consent to withdraw",
    )


# --- children -------------------------------------------------------------------------------


def test_an_action_for_a_child_needs_their_best_interests_assessed_first() -> None:
    state = with_victims("V-0003")
    plan = examples.action_plan(
        [examples.action("A1", beneficiaries=["V-0001", "V-0003"], now=NOW)],
        consents=[examples.consent("V-0001", now=NOW), examples.consent("V-0003", now=NOW)],
        now=NOW,
    )
    assert_refused(
        state,
        K.ACTION_PLAN,
        plan,
        "action A1 concerns the child V-0003, who has no best-interests assessment",
    )
    decide(state, K.BEST_INTERESTS, examples.best_interests("V-0003", now=NOW))
    assert decide(state, K.ACTION_PLAN, plan).outcome == EventOutcome.PENDING_APPROVAL


def test_sharing_a_childs_data_needs_their_best_interests_assessed() -> None:
    state = with_victims("V-0003")
    decide(state, K.RECORD_CONSENT, examples.record_consent("V-0003", now=NOW))
    assert_refused(
        state,
        K.SHARE_VICTIM_DATA,
        examples.share_victim_data("V-0003"),
        "V-0003 is a child: record a best-interests assessment before sharing",
    )
    decide(state, K.BEST_INTERESTS, examples.best_interests("V-0003", now=NOW))
    decide(state, K.SHARE_VICTIM_DATA, examples.share_victim_data("V-0003"))


def test_a_best_interests_assessment_is_for_a_recorded_child() -> None:
    state = with_victims()
    assert_refused(
        state,
        K.BEST_INTERESTS,
        examples.best_interests("V-0001", now=NOW),
        "V-0001 is not recorded as a child",
    )
    assert_refused(
        state,
        K.BEST_INTERESTS,
        examples.best_interests("V-0042", now=NOW),
        "V-0042 is not a recorded victim",
    )


# --- erasure --------------------------------------------------------------------------------


def test_erasure_needs_approval_by_someone_else_and_then_blocks_the_victim() -> None:
    state = with_victims()
    request = decide(state, K.ERASE_VICTIM, examples.erase_victim("V-0001"))
    assert request.outcome == EventOutcome.PENDING_APPROVAL
    assert request.approval_id is not None
    self_approval = examples.approve(request.approval_id, actor=claiming("approver", "owner.amara"))
    assert_refused(state, K.APPROVE, self_approval, "cannot also decide it")
    assert_refused(
        state,
        K.ERASE_VICTIM,
        examples.erase_victim("V-0001"),
        "already awaiting approval",
    )
    # Another victim's erasure may wait at the same time.
    decide(state, K.ERASE_VICTIM, examples.erase_victim("V-0002"))
    decide(state, K.APPROVE, examples.approve(request.approval_id))
    victim = state.victims["V-0001"]
    assert victim.erased_at is not None
    assert victim.erased_by == "approver.sofia"
    for kind, payload in [
        (K.RECORD_VICTIM, examples.record_victim("V-0001")),
        (K.RECORD_CONSENT, examples.record_consent("V-0001", now=NOW)),
        (K.SHARE_VICTIM_DATA, examples.share_victim_data("V-0001")),
    ]:
        assert_refused(state, kind, payload, "V-0001's record was erased")
    assert_refused(state, K.ERASE_VICTIM, examples.erase_victim("V-0001"), "already erased")
    summary = next(v for v in status_view(state).victims if v.victim_id == "V-0001")
    assert summary.erased_at is not None


def test_only_a_recorded_victim_can_be_erased() -> None:
    assert_refused(
        drive(Step.ACTION_PLAN),
        K.ERASE_VICTIM,
        examples.erase_victim("V-0007"),
        "V-0007 is not a recorded victim of this incident",
    )


def test_erasure_works_in_any_step_until_completion() -> None:
    state = drive(Step.LESSONS_LEARNED)
    decide(state, K.RECORD_VICTIM, examples.record_victim("V-0001"))
    effect = approved(state, K.ERASE_VICTIM, examples.erase_victim("V-0001"))
    assert effect.outcome == EventOutcome.APPROVED


@pytest.mark.parametrize("child", [False, True])
def test_recording_a_victim_shows_in_the_status_without_personal_data(child: bool) -> None:
    state = drive(Step.VERIFICATION)
    decide(state, K.RECORD_VICTIM, examples.record_victim("V-0005", child=child))
    [summary] = status_view(state).victims
    assert summary.victim_id == "V-0005"
    assert summary.child is child
    assert not summary.personal_data_recorded


def test_approving_a_plan_never_brings_back_withdrawn_consent() -> None:
    state = with_victims()
    plan = decide(state, K.ACTION_PLAN, examples.action_plan(now=CONSENTED_AT))
    assert plan.approval_id is not None
    # The victim withdraws while the plan (carrying their earlier consent) awaits approval.
    withdrawal = examples.withdraw_consent("V-0001", ["services"], now=WITHDRAWN_AT)
    decide(state, K.WITHDRAW_CONSENT, withdrawal)
    assert_refused(
        state,
        K.APPROVE,
        examples.approve(plan.approval_id),
        "A1 serves V-0001, who has no recorded consent to receive services",
    )
    decide(state, K.REJECT, examples.reject(plan.approval_id))
    # Consent recorded again afterwards counts: the victim changed their mind.
    decide(state, K.RECORD_CONSENT, examples.record_consent("V-0001", now=NOW))
    assert state.consents["V-0001"].to_receive_services


def test_a_plan_keeps_consents_recorded_outside_it() -> None:
    state = with_victims("V-0003")
    decide(state, K.RECORD_CONSENT, examples.record_consent("V-0003", now=NOW))
    approved(state, K.ACTION_PLAN, examples.action_plan(now=NOW))
    assert set(state.consents) == {"V-0001", "V-0002", "V-0003"}


def test_a_childs_record_cannot_become_an_adults() -> None:
    state = with_victims("V-0003")
    assert_refused(
        state,
        K.RECORD_VICTIM,
        examples.record_victim("V-0003", child=False),
        "a child's record stays a child's",
    )


def test_victim_ids_are_opaque() -> None:
    assert_refused(
        drive(Step.VERIFICATION),
        K.RECORD_VICTIM,
        examples.record_victim("V-Maria-Lopez"),
        "opaque numbers such as V-0001, never names",
    )


def test_sharing_or_consent_needs_a_recorded_victim() -> None:
    state = drive(Step.ACTION_PLAN)
    for kind, payload in [
        (K.RECORD_CONSENT, examples.record_consent("V-0777", now=NOW)),
        (K.SHARE_VICTIM_DATA, examples.share_victim_data("V-0777")),
    ]:
        assert_refused(state, kind, payload, "V-0777 is not a recorded victim")


def test_reassigning_needs_a_listed_case_owner() -> None:
    state = new_state(policy=DIRECTORY)
    decide(state, K.ACKNOWLEDGE, examples.acknowledge())
    assert_refused(
        state,
        K.REASSIGN,
        {"actor": CASE_OWNER, "new_case_owner": "partner.eve", "reason": "Fictional."},
        "partner.eve does not hold the case_owner role",
    )


def test_a_pending_erasure_is_decided_before_the_incident_closes_early() -> None:
    state = with_victims()
    decide(state, K.ERASE_VICTIM, examples.erase_victim("V-0001"))
    assert_refused(
        state,
        K.CLOSE_EARLY,
        {"actor": CASE_OWNER, "reason": "withdrawn", "explanation": "Fictional."},
        "an erasure awaits approval",
    )


def test_a_group_assessment_is_needed_for_an_action_concerning_children_as_a_group() -> None:
    state = with_victims("V-0003")
    decide(state, K.BEST_INTERESTS, examples.best_interests("V-0003", now=NOW))
    group_action = examples.action(
        "A5",
        category="assistance",
        remedy_type=None,
        assistance_type="education",
        beneficiaries=[],
        beneficiary_group="Children at the pit",
        concerns_children=True,
        uses_victim_data=False,
        now=NOW,
    )
    plan = examples.action_plan([examples.action("A1", now=NOW), group_action], now=NOW)
    assert_refused(state, K.ACTION_PLAN, plan, "A5 concerns children")
    decide(state, K.BEST_INTERESTS, examples.best_interests(None, now=NOW))
    assert decide(state, K.ACTION_PLAN, plan).outcome == EventOutcome.PENDING_APPROVAL


# --- the consent in force -------------------------------------------------------------------
# Every rule that depends on consent judges by consents_in_force: consent given in the decision
# or recorded before it (record_consent, an approved plan), less what was withdrawn after it.

GIVEN = ["in the plan", "with record_consent before the plan"]


def consent_of(victim_id: str = "V-0001", **changes: Any) -> dict[str, Any]:
    return {
        **examples.consent(victim_id, now=NOW),
        "recorded_at": CONSENTED_AT.isoformat(),
        **changes,
    }


def withdrawal(
    victim_id: str = "V-0001", purposes: list[str] | None = None, **changes: Any
) -> dict[str, Any]:
    return examples.withdraw_consent(
        victim_id, purposes, **{"withdrawn_at": WITHDRAWN_AT.isoformat(), **changes}, now=NOW
    )


def serving(victim_id: str, action_id: str = "A1", **changes: Any) -> dict[str, Any]:
    return examples.action(action_id, beneficiaries=[victim_id], **changes, now=NOW)


def assert_accepted(state: IncidentState, kind: K, payload: dict[str, Any]) -> None:
    """`check` accepts the decision (it is not applied)."""
    before = state.model_dump()
    check(state, kind, model(kind, payload), NOW)
    assert state.model_dump() == before


def planned(given: str, **consent: Any) -> IncidentState:
    """In implementation of a plan whose action A1 serves V-0001 and shares their data with the
    partner, under V-0001's consent given in the plan or recorded before it."""
    state: IncidentState = with_victims()
    given_consent = consent_of(**consent)
    if given == "in the plan":
        plan = examples.action_plan([serving("V-0001")], consents=[given_consent], now=NOW)
    else:
        decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": given_consent})
        plan = examples.action_plan([serving("V-0001")], consents=[], now=NOW)
    approved(state, K.ACTION_PLAN, plan)
    assert_step(state, Step.IMPLEMENTATION)
    return state


def test_a_plan_relies_on_consent_recorded_before_it() -> None:
    state = with_victims()
    decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": consent_of()})
    [summary, _] = status_view(state).victims
    assert summary.consent == ["services", f"data sharing with {PARTNER_ID}"]
    assert_refused(
        state,
        K.ACTION_PLAN,
        examples.action_plan([serving("V-0001"), serving("V-0002", "A2")], consents=[], now=NOW),
        "action A2 serves V-0002, who has no recorded consent to receive services",
    )
    approved(state, K.ACTION_PLAN, examples.action_plan([serving("V-0001")], consents=[], now=NOW))
    assert state.consents["V-0001"] == Consent.model_validate(consent_of())


@pytest.mark.parametrize("given", GIVEN)
def test_consent_given_either_way_covers_what_follows_the_plan(given: str) -> None:
    state = planned(given, to_involve_authorities=True)
    assert_accepted(state, K.AMEND_PLAN, amend(add=[serving("V-0001", "A3")]))
    assert_accepted(state, K.SHARE_VICTIM_DATA, examples.share_victim_data())
    to_authorities = {"recipient_kind": "authorities", "recipient": "Labour inspectorate"}
    assert_accepted(state, K.SHARE_VICTIM_DATA, examples.share_victim_data(**to_authorities))
    repartner = amend(change=[{"action_id": "A1", "implementing_partner": "partner.other"}])
    assert_refused(
        state,
        K.AMEND_PLAN,
        repartner,
        "action A1 shares V-0001's data with partner.other, which their consent does not cover",
    )
    # Consent given in the amendment itself counts for it.
    wider = consent_of(share_data_with=[PARTNER_ID, "partner.other"])
    assert_accepted(state, K.AMEND_PLAN, {**repartner, "consents": [wider]})


@pytest.mark.parametrize("given", GIVEN)
def test_consent_withdrawn_after_the_plan_stops_everything_relying_on_it(given: str) -> None:
    state = planned(given, to_involve_authorities=True)
    decide(state, K.WITHDRAW_CONSENT, withdrawal(purposes=["services", "authorities"]))
    assert_refused(
        state,
        K.AMEND_PLAN,
        amend(add=[serving("V-0001", "A3")]),
        "action A3 serves V-0001, who has no recorded consent to receive services",
    )
    assert_refused(
        state,
        K.SHARE_VICTIM_DATA,
        examples.share_victim_data(recipient_kind="authorities", recipient="Labour inspectorate"),
        "V-0001's consent does not cover involving the authorities",
    )
    # Sharing with the partner was not withdrawn: it still may happen.
    assert_accepted(state, K.SHARE_VICTIM_DATA, examples.share_victim_data())


@pytest.mark.parametrize("given", GIVEN)
def test_consent_to_share_withdrawn_from_one_partner_after_the_plan(given: str) -> None:
    state = planned(given, share_data_with=[PARTNER_ID, "partner.other"])
    repartner = amend(change=[{"action_id": "A1", "implementing_partner": "partner.other"}])
    assert_accepted(state, K.AMEND_PLAN, repartner)
    decide(state, K.WITHDRAW_CONSENT, withdrawal(partners=["partner.other"]))
    assert_refused(
        state,
        K.AMEND_PLAN,
        repartner,
        "action A1 shares V-0001's data with partner.other, which their consent does not cover",
    )
    assert_refused(
        state,
        K.SHARE_VICTIM_DATA,
        examples.share_victim_data(recipient="partner.other"),
        "V-0001's consent does not cover sharing their data with partner.other",
    )
    assert_accepted(state, K.SHARE_VICTIM_DATA, examples.share_victim_data())


def test_consent_withdrawn_while_a_plan_relying_on_the_recorded_one_awaits_approval() -> None:
    state = with_victims()
    decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": consent_of()})
    plan = decide(
        state, K.ACTION_PLAN, examples.action_plan([serving("V-0001")], consents=[], now=NOW)
    )
    assert plan.approval_id is not None
    decide(state, K.WITHDRAW_CONSENT, withdrawal(purposes=["services"]))
    assert_refused(
        state,
        K.APPROVE,
        examples.approve(plan.approval_id),
        r"no longer applies \(action A1 serves V-0001, who has no recorded consent to receive",
    )


def test_only_what_was_withdrawn_after_a_consent_was_given_is_taken_from_it() -> None:
    state = with_victims()
    decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": consent_of()})
    decide(state, K.WITHDRAW_CONSENT, withdrawal(purposes=["services"]))
    plan = examples.action_plan([serving("V-0001")], consents=[], now=NOW)
    assert_refused(state, K.ACTION_PLAN, plan, "A1 serves V-0001, who has no recorded consent")
    # Consent given in the plan but dated before the withdrawal is withdrawn too ...
    stale = consent_of()
    assert_refused(
        state, K.ACTION_PLAN, {**plan, "consents": [stale]}, "A1 serves V-0001, who has no"
    )
    # ... while consent given after it stands: the victim changed their mind.
    renewed = consent_of(recorded_at=(WITHDRAWN_AT + HOUR / 2).isoformat())
    assert_accepted(state, K.ACTION_PLAN, {**plan, "consents": [renewed]})


def test_the_consent_in_force_overlays_the_recorded_one_with_the_one_given() -> None:
    state = with_victims()
    decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": consent_of()})
    decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": consent_of("V-0002")})
    decide(state, K.WITHDRAW_CONSENT, withdrawal("V-0002", ["data_sharing"]))
    narrower = Consent.model_validate(consent_of(share_data_with=[]))
    in_force = consents_in_force(state, [narrower])
    assert in_force["V-0001"] == narrower
    assert in_force["V-0002"].to_receive_services
    assert in_force["V-0002"].share_data_with == []
    assert consents_in_force(state) == state.consents


def test_incidents_opened_under_earlier_rules_keep_the_plans_own_consents() -> None:
    state = drive(Step.ACTION_PLAN, rules_version=RULES_BEFORE_PROTECTION)
    for victim_id in ("V-0001", "V-0002"):
        decide(state, K.RECORD_VICTIM, examples.record_victim(victim_id))
        decide(state, K.RECORD_CONSENT, {"actor": CASE_OWNER, "consent": consent_of(victim_id)})
    plan = examples.action_plan([serving("V-0001")], consents=[], now=NOW)
    assert_refused(state, K.ACTION_PLAN, plan, "A1 serves V-0001, who has no recorded consent")
    approved(state, K.ACTION_PLAN, {**plan, "consents": [consent_of()]})
    # Its consents replaced the recorded ones, as they did when the incident opened.
    assert list(state.consents) == ["V-0001"]
