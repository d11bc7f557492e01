"""Consent and children: the one lookup of the consent in force for each victim, and what a plan may
do with it (docs/design.md, Consent and children).
"""

from collections.abc import Sequence

from schemas.decisions import (
    Consent,
    ConsentPurpose,
    PlannedAction,
    ShareRecipient,
    ShareVictimData,
    WithdrawConsent,
)
from schemas.incident_state import GROUP_ASSESSMENT, IncidentState


def without(consent: Consent, withdrawal: WithdrawConsent) -> Consent:
    updates: dict[str, object] = {}
    if ConsentPurpose.SERVICES in withdrawal.purposes:
        updates["to_receive_services"] = False
    if ConsentPurpose.AUTHORITIES in withdrawal.purposes:
        updates["to_involve_authorities"] = False
    if ConsentPurpose.DATA_SHARING in withdrawal.purposes:
        withdrawn = withdrawal.partners
        updates["share_data_with"] = [
            p for p in consent.share_data_with if withdrawn and p not in withdrawn
        ]
    return consent.model_copy(update=updates)


def effective_consent(state: IncidentState, consent: Consent) -> Consent:
    """The consent less everything the victim withdrew after it was recorded."""
    for withdrawal in state.withdrawals:
        if withdrawal.victim_id == consent.victim_id and withdrawal.withdrawn_at >= (
            consent.recorded_at
        ):
            consent = without(consent, withdrawal)
    return consent


def consents_in_force(
    state: IncidentState, given: Sequence[Consent] = (), *, plan: bool = False
) -> dict[str, Consent]:
    """The consent in force for each victim: the one recorded for them (by record_consent or an
    approved plan or amendment), overlaid by the one `given` in the decision at hand, each less
    what the victim withdrew after it was recorded.

    Every rule that depends on consent asks here, and the approval of a plan or an amendment and
    record_consent store what this returns: the plan, its amendments and re-partnering, sharing
    with partners and involving the authorities then judge by the same consent. When each rule
    looked for itself they disagreed: a plan saw only the consents it carried, so consent given
    with record_consent before it was refused there, though the amendment and sharing honoured it.

    An incident opened before the victim-protection rules keeps the rule it opened under, so that
    it decides as it did: its plan (`plan`) sees only its own consents, which replace the recorded
    ones when approved, and the recorded ones count as they were stored.
    """
    if state.protected:
        recorded = {v: effective_consent(state, c) for v, c in state.consents.items()}
    elif plan:
        recorded = {}
    else:
        recorded = dict(state.consents)
    return {**recorded, **{c.victim_id: effective_consent(state, c) for c in given}}


def consent_problems(actions: list[PlannedAction], consents: dict[str, Consent]) -> str | None:
    for action in actions:
        for victim_id in action.beneficiaries:
            consent = consents.get(victim_id)
            if consent is None or not consent.to_receive_services:
                return (
                    f"action {action.action_id} serves {victim_id}, who has no recorded consent "
                    "to receive services"
                )
            partner = action.implementing_partner
            if action.uses_victim_data and partner and partner not in consent.share_data_with:
                return (
                    f"action {action.action_id} shares {victim_id}'s data with {partner}, "
                    "which their consent does not cover"
                )
    return None


def child_problems(state: IncidentState, actions: list[PlannedAction]) -> str | None:
    """A child's best interests are assessed before any action concerning them is planned."""
    if not state.protected:
        return None
    for action in actions:
        for victim_id in action.beneficiaries:
            if state.erased(victim_id):
                return f"action {action.action_id} serves {victim_id}, whose record was erased"
            if state.is_child(victim_id) and victim_id not in state.best_interests:
                return (
                    f"action {action.action_id} concerns the child {victim_id}, who has no "
                    "best-interests assessment: record best_interests first"
                )
        assessed_children = [
            v for v in action.beneficiaries if state.is_child(v) and v in state.best_interests
        ]
        if (
            action.concerns_children
            and GROUP_ASSESSMENT not in state.best_interests
            and not assessed_children
        ):
            return (
                f"action {action.action_id} concerns children: record a best_interests "
                "assessment of the children concerned (or of each child it serves) first"
            )
    return None


def sharing_problem(state: IncidentState, decision: ShareVictimData) -> str | None:
    """Why this sharing is not covered by the victim's recorded consent, if it is not."""
    victim_id = decision.victim_id
    consent = consents_in_force(state).get(victim_id)
    if consent is None:
        return f"{victim_id} has no recorded consent; record_consent first"
    if decision.recipient_kind == ShareRecipient.AUTHORITIES and not consent.to_involve_authorities:
        return f"{victim_id}'s consent does not cover involving the authorities"
    if (
        decision.recipient_kind == ShareRecipient.PARTNER
        and decision.recipient not in consent.share_data_with
    ):
        return f"{victim_id}'s consent does not cover sharing their data with {decision.recipient}"
    if state.is_child(victim_id) and victim_id not in state.best_interests:
        return f"{victim_id} is a child: record a best-interests assessment before sharing"
    return None
