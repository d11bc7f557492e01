"""Victims: their records, consent, sharing their data, children's best interests, erasure."""

import re
from datetime import datetime

from schemas.decisions import (
    ActionPlan,
    AmendPlan,
    BestInterests,
    EraseVictim,
    RecordConsent,
    RecordVictim,
    ShareVictimData,
    WithdrawConsent,
)
from schemas.incident_state import GROUP_ASSESSMENT, IncidentState, VictimState
from schemas.register import NotificationKind
from workflows.rules.consent import consents_in_force, sharing_problem, without
from workflows.rules.outcome import DecisionRefused, Effect, Notice, accepted, not_in_future

# Recorded victims get opaque ids: an id is kept where erasure cannot reach (workflow ids, audit).
OPAQUE_VICTIM_ID = re.compile(r"^V-[0-9]{1,12}$")


def recorded_victim(state: IncidentState, victim_id: str) -> VictimState:
    victim = state.victims.get(victim_id)
    if victim is None:
        raise DecisionRefused(
            f"{victim_id} is not a recorded victim of this incident "
            f"({len(state.victims)} recorded); record_victim first"
        )
    return victim


def not_erased(state: IncidentState, victim_id: str) -> None:
    if state.erased(victim_id):
        raise DecisionRefused(f"{victim_id}'s record was erased; nothing more can be recorded")


def check_record_victim(state: IncidentState, decision: RecordVictim, now: datetime) -> None:
    not_erased(state, decision.victim_id)
    if not OPAQUE_VICTIM_ID.match(decision.victim_id):
        raise DecisionRefused(
            f"victim ids are opaque numbers such as V-0001, never names: {decision.victim_id}"
        )
    if state.is_child(decision.victim_id) and not decision.child:
        raise DecisionRefused(
            f"{decision.victim_id} is recorded as a child; a child's record stays a child's"
        )


def apply_record_victim(state: IncidentState, decision: RecordVictim, now: datetime) -> Effect:
    previous = state.victims.get(decision.victim_id)
    state.victims[decision.victim_id] = VictimState(
        victim_id=decision.victim_id,
        child=decision.child,
        recorded_at=previous.recorded_at if previous else now,
        recorded_by=previous.recorded_by if previous else decision.actor.id,
        personal_data_recorded=decision.personal_data is not None
        or (previous is not None and previous.personal_data_recorded),
    )
    who = "child" if decision.child else "adult"
    data = "; personal data sealed under their own key" if decision.personal_data else ""
    verb = "updated" if previous else "recorded"
    return accepted(f"victim {decision.victim_id} ({who}) {verb}{data}")


def check_record_consent(state: IncidentState, decision: RecordConsent, now: datetime) -> None:
    recorded_victim(state, decision.consent.victim_id)
    not_erased(state, decision.consent.victim_id)
    not_in_future(decision.consent.recorded_at, "recorded_at", now)


def apply_record_consent(state: IncidentState, decision: RecordConsent, now: datetime) -> Effect:
    state.consents = consents_in_force(state, [decision.consent])
    consent = state.consents[decision.consent.victim_id]
    covers = ["services"] if consent.to_receive_services else []
    covers += [f"sharing with {len(consent.share_data_with)} partner(s)"] * bool(
        consent.share_data_with
    )
    covers += ["authorities"] if consent.to_involve_authorities else []
    return accepted(f"consent of {consent.victim_id} recorded ({', '.join(covers) or 'nothing'})")


def check_withdraw_consent(state: IncidentState, decision: WithdrawConsent, now: datetime) -> None:
    pending = [
        c.victim_id
        for item in state.approvals.values()
        if isinstance(item.subject, ActionPlan | AmendPlan)
        for c in item.subject.consents
    ]
    if decision.victim_id not in state.consents and decision.victim_id not in pending:
        raise DecisionRefused(f"{decision.victim_id} has no recorded consent to withdraw")
    not_in_future(decision.withdrawn_at, "withdrawn_at", now)


def apply_withdraw_consent(
    state: IncidentState, decision: WithdrawConsent, now: datetime
) -> Effect:
    state.withdrawals.append(decision)
    consent = state.consents.get(decision.victim_id)
    if consent is not None:
        state.consents[decision.victim_id] = without(consent, decision)
    affected = [
        action
        for action in state.actions.values()
        if decision.victim_id in action.plan.beneficiaries and not action.resolved
    ]
    purposes = ", ".join(decision.purposes)
    summary = f"{decision.victim_id} withdrew consent ({purposes})"
    if affected:
        summary += f"; actions serving them: {', '.join(a.plan.action_id for a in affected)}"
    partners = sorted(
        {a.plan.implementing_partner for a in affected if a.plan.implementing_partner}
    )
    notices = [
        Notice(
            NotificationKind.CONSENT_WITHDRAWN,
            recipient,
            f"Consent withdrawn on {state.incident_id}",
            f"{decision.victim_id} withdrew consent ({purposes}). Stop anything that relies on "
            "it; the case owner will amend the plan.",
        )
        for recipient in [*partners, state.case_owner or "case_owners"]
    ]
    return accepted(summary, reason=decision.reason, notices=notices)


def check_share_victim_data(state: IncidentState, decision: ShareVictimData, now: datetime) -> None:
    recorded_victim(state, decision.victim_id)
    not_erased(state, decision.victim_id)
    problem = sharing_problem(state, decision)
    if problem:
        raise DecisionRefused(problem)


def apply_share_victim_data(
    state: IncidentState, decision: ShareVictimData, now: datetime
) -> Effect:
    return accepted(
        f"{decision.victim_id}'s data shared with {decision.recipient_kind} "
        f"{decision.recipient} under their consent",
        reason=decision.purpose,
    )


def check_best_interests(state: IncidentState, decision: BestInterests, now: datetime) -> None:
    not_in_future(decision.assessed_at, "assessed_at", now)
    if decision.victim_id is not None:
        victim = recorded_victim(state, decision.victim_id)
        not_erased(state, decision.victim_id)
        if not victim.child:
            raise DecisionRefused(f"{decision.victim_id} is not recorded as a child")


def apply_best_interests(state: IncidentState, decision: BestInterests, now: datetime) -> Effect:
    subject = decision.victim_id or GROUP_ASSESSMENT
    state.best_interests[subject] = decision
    whom = decision.victim_id or "the children concerned"
    return accepted(f"best-interests assessment of {whom} recorded")


def check_erasure_target(state: IncidentState, decision: EraseVictim, now: datetime) -> None:
    recorded_victim(state, decision.victim_id)
    if state.erased(decision.victim_id):
        raise DecisionRefused(f"{decision.victim_id} was already erased")


def check_erase_victim(state: IncidentState, decision: EraseVictim, now: datetime) -> None:
    check_erasure_target(state, decision, now)
    for item in state.approvals.values():
        if isinstance(item.subject, EraseVictim) and item.subject.victim_id == decision.victim_id:
            raise DecisionRefused(
                f"the erasure of {decision.victim_id} is already awaiting approval "
                f"({item.approval_id})"
            )


def approve_erase_victim(state: IncidentState, erasure: EraseVictim, now: datetime) -> list[str]:
    victim = state.victims[erasure.victim_id]
    victim.erased_at = now
    victim.personal_data_recorded = False
    return []


def summarise_erase_victim(erasure: EraseVictim) -> str:
    return f"erase {erasure.victim_id}'s personal data"
