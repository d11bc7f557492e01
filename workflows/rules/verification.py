"""Steps 1 and 2: acknowledge, protect anyone in imminent danger, verify, decide the response."""

from datetime import datetime

from schemas.decisions import Acknowledge, ImmediateProtection, Response, Verification
from schemas.incident_state import IncidentState
from schemas.register import NotificationKind
from schemas.vocabulary import Relationship, Step, VerificationOutcome
from workflows.rules.outcome import DecisionRefused, Effect, Notice, accepted, enter_step
from workflows.severity import assessed_severity, proposed_response_level


def check_acknowledge(state: IncidentState, decision: Acknowledge, now: datetime) -> None:
    if state.acknowledged_at is not None:
        raise DecisionRefused("the case was already acknowledged")
    if decision.severity != state.provisional_severity and not decision.reason:
        raise DecisionRefused(
            f"correcting the provisional severity {state.provisional_severity} to "
            f"{decision.severity} needs a reason"
        )
    if state.case_owner is not None and decision.actor.id != state.case_owner:
        raise DecisionRefused(
            f"only the assigned case owner {state.case_owner} can acknowledge this case"
        )


def apply_acknowledge(state: IncidentState, decision: Acknowledge, now: datetime) -> Effect:
    corrected = decision.severity != state.severity
    state.severity = decision.severity
    state.severity_confirmed = True
    state.acknowledged_at = now
    notices = []
    if state.case_owner is None:
        state.case_owner = decision.actor.id
    reporter = state.intake.reporter
    if reporter is not None and reporter.contact:
        notices.append(
            Notice(
                NotificationKind.REPORTER_ACKNOWLEDGED,
                "reporter",
                f"Your report {state.intake.external_reference} was received",
                "Your report has been received and a case has been opened. It will be handled "
                "confidentially; you can reach us through the same channel.",
            )
        )
    verb = "corrected to" if corrected else "confirmed as"
    return accepted(
        f"case acknowledged by {decision.actor.id}; severity {verb} {decision.severity}",
        reason=decision.reason,
        notices=notices,
    )


def check_immediate_protection(
    state: IncidentState, decision: ImmediateProtection, now: datetime
) -> None:
    if not state.intake.imminent_danger:
        raise DecisionRefused(
            "immediate_protection applies only when someone is in imminent danger"
        )
    if state.protection is not None:
        raise DecisionRefused("immediate protection was already recorded")
    if decision.arranged_at is not None and decision.arranged_at > now:
        raise DecisionRefused("arranged_at is in the future; record a referral once it is made")


def apply_immediate_protection(
    state: IncidentState, decision: ImmediateProtection, now: datetime
) -> Effect:
    state.protection = decision
    made = "referral made" if decision.referral_made else "no referral possible"
    return accepted(f"immediate protection recorded: {made}", reason=decision.reason_not_made)


def check_verification(state: IncidentState, decision: Verification, now: datetime) -> None:
    if state.acknowledged_at is None:
        raise DecisionRefused("the case must be acknowledged before it is verified")
    if state.imminent_danger_open:
        raise DecisionRefused(
            "someone is in imminent danger: record immediate_protection first (act on danger, "
            "then verify)"
        )
    rounds = state.policy.max_verification_rounds
    if (
        decision.outcome == VerificationOutcome.INCONCLUSIVE
        and state.verification_rounds + 1 >= rounds
    ):
        raise DecisionRefused(
            f"this is verification round {state.verification_rounds + 1} of {rounds}; "
            "it must conclude (substantiated, partially_substantiated or not_substantiated)"
        )


def apply_verification(state: IncidentState, decision: Verification, now: datetime) -> Effect:
    if decision.outcome == VerificationOutcome.INCONCLUSIVE:
        state.verification_rounds += 1
        state.step_entered_at = now
        state.deadline_overrides.pop("verification", None)
        return accepted(
            f"verification round {state.verification_rounds} inconclusive; more information needed",
            reason=decision.information_needed,
        )
    state.verification = decision
    state.severity = assessed_severity(decision)
    state.severity_confirmed = True
    state.proposed_level = proposed_response_level(
        decision, state.severity, state.intake.imminent_danger
    )
    summary = f"verification {decision.outcome}, relationship to the harm {decision.relationship}"
    if (
        decision.outcome == VerificationOutcome.NOT_SUBSTANTIATED
        or decision.relationship == Relationship.NO_LINK
    ):
        state.closure_reason = (
            "not substantiated"
            if decision.outcome == VerificationOutcome.NOT_SUBSTANTIATED
            else "no link to the company's supply chain"
        )
        enter_step(state, Step.CLOSURE, now)
        return accepted(f"{summary}; goes to closure ({state.closure_reason})")
    enter_step(state, Step.RESPONSE, now)
    return accepted(
        f"{summary}; severity {state.severity}, proposed response {state.proposed_level}"
    )


def check_response(state: IncidentState, decision: Response, now: datetime) -> None:
    if decision.level != state.proposed_level and not decision.override_justification:
        raise DecisionRefused(
            f"the proposed response level is {state.proposed_level}; overriding it with "
            f"{decision.level} needs an override_justification"
        )
    if state.intake.imminent_danger and not decision.immediate_protection_needed:
        raise DecisionRefused(
            "someone was in imminent danger: immediate_protection_needed must be true"
        )


def approve_response(state: IncidentState, response: Response, now: datetime) -> list[str]:
    state.response = response
    enter_step(state, Step.ACTION_PLAN, now)
    return []


def summarise_response(response: Response) -> str:
    return (
        f"response level {response.level}, business relationship {response.business_relationship}"
    )
