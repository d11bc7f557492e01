"""Human decisions (workflow updates, also accepted as signals) and plain facts (signals only).

Each model is one message of the public contract. Field-level rules live here; rules that depend
on the incident's state (step, role, earlier decisions) are enforced by the workflow's validators.
"""

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import Field, model_validator

from schemas.actor import Actor
from schemas.common import (
    ActionId,
    ActorId,
    Contract,
    CurrencyCode,
    Day,
    Instant,
    LongText,
    Name,
    ShortText,
    VictimId,
)
from schemas.victims import SealedData
from schemas.vocabulary import (
    CHILD_HARMS,
    ActionCategory,
    ActionStatus,
    AssistanceType,
    BusinessRelationship,
    ChangeArea,
    ClosureStatus,
    EarlyClosureReason,
    ForcedLabourIndicator,
    HarmType,
    Leverage,
    MethodOfControl,
    ProtectionPartner,
    Relationship,
    RemedyType,
    ResponseLevel,
    ResponsibleParty,
    RootCause,
    Severity,
    VerificationMethod,
    VerificationOutcome,
)

# DecisionKind lives with the other picklists (pure, so the command line's help needs no pydantic).
from schemas.vocabulary import DecisionKind as DecisionKind

# Approval ids (`response-1`), milestone ids (`action:A1`) and incident ids: no spaces, no controls.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]+$"


def _distinct(values: Sequence[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} lists a value twice")


class Decision(Contract):
    """Fields every decision carries."""

    actor: Actor = Field(description="Who decides: id and the roles they act in.")
    decision_id: UUID | None = Field(
        default=None,
        description="Idempotency key: a decision resent with the same id is applied once.",
    )


class Acknowledge(Decision):
    """The case owner accepts the case, confirming or correcting the provisional severity."""

    severity: Severity = Field(description="Severity that sets the deadlines.")
    reason: ShortText | None = Field(
        default=None, description="Why the provisional severity was corrected (required then)."
    )


class ImmediateProtection(Decision):
    """The referral made for someone in imminent danger, or why it could not be made."""

    referral_made: bool = Field(description="Whether a protection referral was made.")
    partner: Name | None = Field(default=None, description="Partner the person was referred to.")
    arrangements: ShortText | None = Field(default=None, description="What was arranged.")
    arranged_at: Instant | None = Field(default=None, description="When it was arranged.")
    reason_not_made: ShortText | None = Field(
        default=None, description="Why no referral could be made."
    )

    @model_validator(mode="after")
    def _made_or_explained(self) -> "ImmediateProtection":
        if self.referral_made:
            if not (self.partner and self.arrangements and self.arranged_at):
                raise ValueError("a referral made needs partner, arrangements and arranged_at")
        elif not self.reason_not_made:
            raise ValueError("when no referral was made, reason_not_made is required")
        return self


class AffectedPersons(Contract):
    """Affected persons by category (counts, never identities)."""

    adults: int = Field(default=0, ge=0, le=1_000_000, description="Adults affected.")
    children: int = Field(default=0, ge=0, le=1_000_000, description="Children affected.")
    migrants: int = Field(default=0, ge=0, le=1_000_000, description="Migrants among them.")
    women: int = Field(default=0, ge=0, le=1_000_000, description="Women and girls among them.")
    trafficked: int = Field(
        default=0, ge=0, le=1_000_000, description="Persons identified as trafficked."
    )


class Verification(Decision):
    """The verifier's finding on the allegation."""

    outcome: VerificationOutcome = Field(description="What the verification established.")
    methods: list[VerificationMethod] = Field(
        min_length=1, max_length=5, description="Methods used."
    )
    corroborating_sources: int = Field(
        ge=0, le=100, description="Number of independent corroborating sources."
    )
    harms_confirmed: list[HarmType] = Field(
        default_factory=list, max_length=7, description="Harm types confirmed."
    )
    forced_labour_indicators: list[ForcedLabourIndicator] = Field(
        default_factory=list, max_length=11, description="ILO forced-labour indicators observed."
    )
    methods_of_control: list[MethodOfControl] = Field(
        default_factory=list, max_length=12, description="Methods of control observed (HTCDS)."
    )
    affected_persons: AffectedPersons = Field(description="Affected persons by category.")
    relationship: Relationship = Field(description="Company's relationship to the harm (UNGP).")
    facility_in_supply_chain: bool = Field(
        description="Whether the facility is confirmed in the company's supply chain."
    )
    scale: int = Field(ge=1, le=4, description="How grave the harm is, 1 (least) to 4.")
    scope: int = Field(ge=1, le=4, description="How many people are affected, 1 to 4.")
    irremediability: int = Field(ge=1, le=4, description="How hard to restore, 1 to 4.")
    do_no_harm_notes: ShortText = Field(
        description="Risk that acting exposes victims to retaliation, and how it is managed."
    )
    information_needed: ShortText | None = Field(
        default=None, description="For an inconclusive outcome: what must still be found out."
    )
    summary: LongText = Field(description="Summary of the findings; no victims' names.")

    @model_validator(mode="after")
    def _consistent(self) -> "Verification":
        _distinct(self.harms_confirmed, "harms_confirmed")
        _distinct(self.forced_labour_indicators, "forced_labour_indicators")
        _distinct(self.methods, "methods")
        substantiated = self.outcome in (
            VerificationOutcome.SUBSTANTIATED,
            VerificationOutcome.PARTIALLY_SUBSTANTIATED,
        )
        if substantiated and not self.harms_confirmed:
            raise ValueError(
                f"harms_confirmed: a {self.outcome} allegation needs at least one harm confirmed"
            )
        if not substantiated and self.harms_confirmed:
            raise ValueError(
                f"harms_confirmed: an allegation found {self.outcome} cannot confirm harms"
            )
        if self.outcome == VerificationOutcome.INCONCLUSIVE and not self.information_needed:
            raise ValueError(
                "information_needed: an inconclusive verification must say what information "
                "is needed"
            )
        if set(self.harms_confirmed) & CHILD_HARMS and self.affected_persons.children == 0:
            raise ValueError("child labour is confirmed but no children are counted as affected")
        return self


class AuthoritiesDecision(Contract):
    """Whether and how authorities are informed."""

    inform: bool = Field(description="Whether authorities are informed.")
    how: ShortText | None = Field(default=None, description="Which authority, and how.")
    victims_consented: bool = Field(
        default=False, description="Whether the victims consented to informing authorities."
    )
    legally_mandatory_for_children: bool = Field(
        default=False, description="Whether the law makes reporting mandatory (children)."
    )
    do_no_harm_assessment: ShortText | None = Field(
        default=None, description="Assessment of the risk to victims of informing authorities."
    )

    @model_validator(mode="after")
    def _safe_to_inform(self) -> "AuthoritiesDecision":
        if self.inform:
            if not self.how:
                raise ValueError("authorities.how is required when authorities are informed")
            if not (self.victims_consented or self.legally_mandatory_for_children):
                raise ValueError(
                    "authorities may be informed only with the victims' consent or where the law "
                    "makes it mandatory for children"
                )
            if not self.do_no_harm_assessment:
                raise ValueError("informing authorities needs a do_no_harm_assessment")
        return self


class Response(Decision):
    """The type and level of response (Step 2); needs approval."""

    level: ResponseLevel = Field(
        description="Response level; differs from the proposal only with an override_justification."
    )
    override_justification: ShortText | None = Field(
        default=None, description="Why the proposed level is overridden."
    )
    leverage: Leverage = Field(description="The company's leverage over the business partner.")
    leverage_plan: ShortText = Field(description="How leverage will be used or built.")
    immediate_protection_needed: bool = Field(description="Whether immediate protection is needed.")
    protection_partner: ProtectionPartner | None = Field(
        default=None, description="Through which partner protection is arranged."
    )
    authorities: AuthoritiesDecision = Field(description="Whether authorities are informed.")
    collaboration: ShortText | None = Field(
        default=None, description="Industry programme or other companies collaborating."
    )
    business_relationship: BusinessRelationship = Field(
        description="What happens to the business relationship."
    )
    disengagement_effect_on_victims: ShortText | None = Field(
        default=None, description="Effect of disengagement on the victims (required then)."
    )

    @model_validator(mode="after")
    def _complete(self) -> "Response":
        if self.immediate_protection_needed and self.protection_partner is None:
            raise ValueError("immediate protection needs a protection_partner")
        if (
            self.business_relationship == BusinessRelationship.DISENGAGEMENT
            and not self.disengagement_effect_on_victims
        ):
            raise ValueError("disengagement must record disengagement_effect_on_victims")
        return self


class Consent(Contract):
    """One victim's informed consent, recorded when the plan is designed."""

    victim_id: VictimId = Field(description="Pseudonymous victim id.")
    to_receive_services: bool = Field(description="Consents to receive services.")
    share_data_with: list[Name] = Field(
        default_factory=list, max_length=20, description="Partners their data may be shared with."
    )
    to_involve_authorities: bool = Field(
        default=False, description="Consents to authorities being involved."
    )
    recorded_at: Instant = Field(description="When the consent was recorded.")


class Budget(Contract):
    """An action's budget and who funds it."""

    amount: Decimal = Field(ge=0, le=Decimal("1e12"), decimal_places=2, description="Amount.")
    currency: CurrencyCode = Field(description="ISO 4217 currency.")
    funded_by: list[ResponsibleParty] = Field(
        min_length=1, max_length=5, description="Who funds it (cost sharing along the chain)."
    )


class PlannedAction(Contract):
    """One remediation action of the plan."""

    action_id: ActionId = Field(description="Identifier, unique within the incident.")
    category: ActionCategory = Field(description="Remedy or assistance.")
    remedy_type: RemedyType | None = Field(default=None, description="Form of remedy.")
    assistance_type: AssistanceType | None = Field(default=None, description="Form of assistance.")
    description: ShortText = Field(description="What will be done.")
    beneficiaries: list[VictimId] = Field(
        default_factory=list, max_length=500, description="Pseudonymous ids of the victims served."
    )
    beneficiary_group: Name | None = Field(
        default=None, description="A group served, when not individual victims."
    )
    concerns_children: bool = Field(default=False, description="Whether it concerns children.")
    uses_victim_data: bool = Field(
        default=False, description="Whether it processes or shares a beneficiary's data."
    )
    responsible_party: ResponsibleParty = Field(description="Who is responsible for it.")
    implementing_partner: ActorId | None = Field(
        default=None, description="Partner (actor id) that implements it and may report on it."
    )
    due_date: Day = Field(description="When it must be done.")
    budget: Budget = Field(description="Budget and funding.")
    success_indicators: list[ShortText] = Field(
        min_length=1, max_length=20, description="How success is measured."
    )
    completion_verification: ShortText = Field(description="How completion will be verified.")

    @model_validator(mode="after")
    def _typed_and_targeted(self) -> "PlannedAction":
        if self.category == ActionCategory.REMEDY and self.remedy_type is None:
            raise ValueError(f"action {self.action_id}: a remedy needs remedy_type")
        if self.category == ActionCategory.ASSISTANCE and self.assistance_type is None:
            raise ValueError(f"action {self.action_id}: an assistance needs assistance_type")
        if not self.beneficiaries and not self.beneficiary_group:
            raise ValueError(f"action {self.action_id}: name beneficiaries or a beneficiary_group")
        _distinct(self.beneficiaries, f"action {self.action_id} beneficiaries")
        return self


class ActionPlan(Decision):
    """The remediation action plan (Step 3); needs approval."""

    objectives: list[ShortText] = Field(min_length=1, max_length=20, description="Objectives.")
    victim_consultation: ShortText = Field(
        description="How victims or their representatives were consulted."
    )
    consents: list[Consent] = Field(
        default_factory=list, max_length=500, description="Informed consent per victim."
    )
    actions: list[PlannedAction] = Field(
        min_length=1, max_length=100, description="The actions; at least one."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> "ActionPlan":
        _distinct([a.action_id for a in self.actions], "actions (action_id)")
        _distinct([c.victim_id for c in self.consents], "consents (victim_id)")
        return self


class CompletionCheck(Contract):
    """Who verified that an action is complete, and how."""

    verified_by: ActorId = Field(description="Who verified completion.")
    how: ShortText = Field(description="How completion was verified.")


class ActionProgress(Contract):
    """Progress of one action in a check-in."""

    action_id: ActionId = Field(description="The action reported on.")
    status: ActionStatus = Field(description="Status at the end of the period.")
    progress_percent: int = Field(ge=0, le=100, description="Progress, 0 to 100.")
    note: ShortText | None = Field(default=None, description="What happened in the period.")
    evidence_refs: list[Name] = Field(
        default_factory=list, max_length=50, description="References to evidence."
    )
    spend_to_date: Decimal = Field(
        ge=0, le=Decimal("1e12"), decimal_places=2, description="Spend to date."
    )
    completion: CompletionCheck | None = Field(
        default=None, description="Required when the status is completed."
    )
    cancellation_reason: ShortText | None = Field(
        default=None, description="Required when the status is cancelled."
    )

    @model_validator(mode="after")
    def _completion_verified(self) -> "ActionProgress":
        if self.status == ActionStatus.COMPLETED and self.completion is None:
            raise ValueError(
                f"action {self.action_id} can be completed only with a verification note "
                "(completion.verified_by and completion.how)"
            )
        if self.status == ActionStatus.CANCELLED and not self.cancellation_reason:
            raise ValueError(f"action {self.action_id}: cancellation needs cancellation_reason")
        return self


class VictimFeedback(Contract):
    """What victims said in the period (no identities)."""

    satisfaction: int | None = Field(default=None, ge=1, le=5, description="1 (low) to 5.")
    concerns: ShortText | None = Field(default=None, description="Concerns raised.")
    feel_safe: bool | None = Field(default=None, description="Whether they feel safe.")


class CheckIn(Decision):
    """A monitoring check-in (Step 4)."""

    period_start: Day = Field(description="First day of the reporting period.")
    period_end: Day = Field(description="Last day of the reporting period.")
    progress: list[ActionProgress] = Field(
        min_length=1, max_length=100, description="Progress per action."
    )
    victim_feedback: VictimFeedback | None = Field(default=None, description="Victim feedback.")
    new_risks: list[ShortText] = Field(default_factory=list, max_length=20, description="Risks.")

    @model_validator(mode="after")
    def _period(self) -> "CheckIn":
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        _distinct([p.action_id for p in self.progress], "progress (action_id)")
        return self


class ActionChange(Contract):
    """A change to an existing action; only the fields given change."""

    action_id: ActionId = Field(description="The action to change.")
    description: ShortText | None = Field(default=None, description="New description.")
    due_date: Day | None = Field(default=None, description="New due date.")
    budget: Budget | None = Field(default=None, description="New budget.")
    implementing_partner: ActorId | None = Field(default=None, description="New partner.")


class ActionCancellation(Contract):
    action_id: ActionId = Field(description="The action to cancel.")
    reason: ShortText = Field(description="Why it is cancelled.")


class AmendPlan(Decision):
    """Add, change or cancel actions (Step 4); needs approval."""

    add: list[PlannedAction] = Field(default_factory=list, max_length=50, description="New.")
    change: list[ActionChange] = Field(default_factory=list, max_length=50, description="Changed.")
    cancel: list[ActionCancellation] = Field(
        default_factory=list, max_length=50, description="Cancelled."
    )
    consents: list[Consent] = Field(
        default_factory=list, max_length=500, description="Consents for new beneficiaries."
    )
    reason: ShortText = Field(description="Why the plan changes.")

    @model_validator(mode="after")
    def _something(self) -> "AmendPlan":
        if not (self.add or self.change or self.cancel):
            raise ValueError("an amendment must add, change or cancel at least one action")
        touched = [a.action_id for a in self.add]
        touched += [c.action_id for c in self.change] + [c.action_id for c in self.cancel]
        _distinct(touched, "add, change and cancel together (action_id)")
        return self


class ClosureChecklist(Contract):
    """Closure criteria (Step 5)."""

    all_actions_resolved: bool = Field(
        description="All actions completed, or cancelled with a reason."
    )
    victims_consulted: bool = Field(description="Victims were consulted on closure.")
    victim_satisfaction: int | None = Field(
        default=None, ge=1, le=5, description="Their satisfaction, 1 to 5, when consulted."
    )
    consultation_not_possible_reason: ShortText | None = Field(
        default=None, description="Why victims could not be consulted."
    )
    supplier_corrective_actions_verified: bool = Field(
        description="Supplier corrective actions were verified (or none were required)."
    )
    no_ongoing_risk: bool = Field(description="No ongoing risk to victims.")
    grievance_channel_open: bool = Field(description="The grievance channel stays open to them.")
    residual_support_partner: Name | None = Field(
        default=None, description="Partner residual support is handed over to."
    )

    @model_validator(mode="after")
    def _consulted(self) -> "ClosureChecklist":
        if self.victims_consulted and self.victim_satisfaction is None:
            raise ValueError("record victim_satisfaction when victims were consulted")
        if not self.victims_consulted and not self.consultation_not_possible_reason:
            raise ValueError("say why victims could not be consulted on closure")
        return self


class Closure(Decision):
    """Close the incident (Step 5); needs approval."""

    status: ClosureStatus = Field(description="closed, or closed_referred to a partner.")
    checklist: ClosureChecklist = Field(description="Closure criteria.")
    summary: LongText = Field(description="Closure summary for the report; no victims' names.")

    @model_validator(mode="after")
    def _referred(self) -> "Closure":
        if self.status == ClosureStatus.CLOSED_REFERRED and not (
            self.checklist.residual_support_partner
        ):
            raise ValueError("closed_referred needs checklist.residual_support_partner")
        return self


class DueDiligenceChange(Contract):
    area: ChangeArea = Field(description="What was changed.")
    description: ShortText = Field(description="The change made.")


class LessonsLearned(Decision):
    """Lessons learned (Step 6)."""

    root_causes: list[RootCause] = Field(min_length=1, max_length=8, description="Root causes.")
    root_cause_notes: ShortText | None = Field(default=None, description="Detail on root causes.")
    due_diligence_gaps: list[ShortText] = Field(
        default_factory=list, max_length=20, description="Due-diligence gaps found."
    )
    changes_made: list[DueDiligenceChange] = Field(
        default_factory=list, max_length=20, description="Changes made as a result."
    )
    supplier_engagement_outcome: ShortText = Field(description="Outcome of supplier engagement.")
    share_with_industry_programme: bool = Field(
        description="Whether an anonymised summary is shared with the industry programme."
    )
    anonymised_summary: LongText | None = Field(
        default=None, description="The anonymised summary (required when shared)."
    )

    @model_validator(mode="after")
    def _summary_when_shared(self) -> "LessonsLearned":
        _distinct(self.root_causes, "root_causes")
        if self.share_with_industry_programme and not self.anonymised_summary:
            raise ValueError("sharing with the industry programme needs an anonymised_summary")
        return self


class Approve(Decision):
    """Approve a pending approval."""

    approval_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="The pending approval approved.",
    )
    comments: ShortText | None = Field(default=None, description="Comments.")


class Reject(Decision):
    """Reject a pending approval; it returns to its author with the comments."""

    approval_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="The pending approval rejected.",
    )
    comments: ShortText = Field(description="What the author must change.")


class Reassign(Decision):
    """Hand the case to another case owner."""

    new_case_owner: ActorId = Field(description="Actor id of the new case owner.")
    reason: ShortText = Field(description="Why the case is reassigned.")


class ExtendDeadline(Decision):
    """Move one milestone's deadline; needs approval."""

    milestone: str = Field(
        min_length=1,
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="Milestone id, as the status query lists it.",
    )
    new_deadline: Instant = Field(description="The new deadline.")
    justification: ShortText = Field(description="Why more time is needed.")


class CloseEarly(Decision):
    """Close the incident before the process ends; needs approval."""

    reason: EarlyClosureReason = Field(description="duplicate, merged, out_of_scope, withdrawn.")
    explanation: ShortText = Field(description="The circumstances.")
    related_incident: str | None = Field(
        default=None,
        max_length=200,
        pattern=IDENTIFIER_PATTERN,
        description="Incident id this one duplicates or was merged into (required then).",
    )

    @model_validator(mode="after")
    def _related(self) -> "CloseEarly":
        needs = self.reason in (EarlyClosureReason.DUPLICATE, EarlyClosureReason.MERGED)
        if needs and not self.related_incident:
            raise ValueError(f"closing as {self.reason} needs related_incident")
        return self


class FollowUp(Decision):
    """The post-closure follow-up: is the remedy sustained, has the harm recurred?"""

    remedy_sustained: bool = Field(description="Whether the remedy has held for the victims.")
    recurrence: bool = Field(
        description="Whether the harm has recurred; a recurrence opens a new, linked incident."
    )
    victims_consulted: bool = Field(description="Whether victims were asked.")
    findings: ShortText = Field(description="What the follow-up found; no victims' names.")


class RecordVictim(Decision):
    """Register a victim under a pseudonymous id, with their personal data sealed under their
    own key (`remediation victim record` seals it); resending updates the record."""

    victim_id: VictimId = Field(description="Pseudonymous victim id.")
    child: bool = Field(description="Whether the victim is under 18.")
    personal_data: SealedData | None = Field(
        default=None, description="Personal data sealed under this victim's data key."
    )


class ConsentPurpose(StrEnum):
    """What a victim's consent covers; each can be withdrawn on its own."""

    SERVICES = "services"
    DATA_SHARING = "data_sharing"
    AUTHORITIES = "authorities"


class RecordConsent(Decision):
    """Record (or renew) one victim's informed consent outside the plan."""

    consent: Consent = Field(description="The consent as the victim gave it.")


class WithdrawConsent(Decision):
    """A victim withdraws consent; from now on nothing relying on it may happen."""

    victim_id: VictimId = Field(description="Pseudonymous victim id.")
    purposes: list[ConsentPurpose] = Field(
        min_length=1, max_length=3, description="What the withdrawal covers."
    )
    partners: list[Name] = Field(
        default_factory=list,
        max_length=20,
        description="For data_sharing: the partners withdrawn; empty means every partner.",
    )
    reason: ShortText | None = Field(default=None, description="Context, if the victim gave it.")
    withdrawn_at: Instant = Field(description="When the victim withdrew it.")

    @model_validator(mode="after")
    def _partners_only_for_sharing(self) -> "WithdrawConsent":
        _distinct([str(p) for p in self.purposes], "purposes")
        if self.partners and ConsentPurpose.DATA_SHARING not in self.purposes:
            raise ValueError("partners applies only to a data_sharing withdrawal")
        return self


class ShareRecipient(StrEnum):
    PARTNER = "partner"
    AUTHORITIES = "authorities"


class ShareVictimData(Decision):
    """Share a victim's data with a partner or the authorities: allowed only under their
    recorded consent for that purpose (and, for a child, after a best-interests assessment)."""

    victim_id: VictimId = Field(description="Pseudonymous victim id.")
    recipient_kind: ShareRecipient = Field(description="partner or authorities.")
    recipient: Name = Field(description="Partner id, or which authority.")
    purpose: ShortText = Field(description="Why the data is shared; no names.")


class BestInterests(Decision):
    """A child's best-interests assessment, recorded before any action concerning them."""

    victim_id: VictimId | None = Field(
        default=None,
        description="The child assessed; omit for the group of children the incident concerns.",
    )
    assessed_by: Name = Field(description="Who assessed (child-protection specialist).")
    recommendation: ShortText = Field(description="What the assessment recommends; no names.")
    assessed_at: Instant = Field(description="When the assessment was made.")


class EraseVictim(Decision):
    """Erase a victim's personal data everywhere by destroying their data key; needs approval.
    The anonymised case remains."""

    victim_id: VictimId = Field(description="Pseudonymous victim id.")
    reason: ShortText = Field(description="Why (the victim's request, a retention limit...).")


# Each decision kind's model, for clients that check a payload before sending it (`remediation
# decide`) without the rules; the registry (workflows/rules/registry.py) names the same model in
# each kind's entry, and refuses to register one that differs. Facts are in schemas/facts.py.
DECISION_MODELS: dict[DecisionKind, type[Decision]] = {
    DecisionKind.ACKNOWLEDGE: Acknowledge,
    DecisionKind.IMMEDIATE_PROTECTION: ImmediateProtection,
    DecisionKind.VERIFICATION: Verification,
    DecisionKind.RESPONSE: Response,
    DecisionKind.ACTION_PLAN: ActionPlan,
    DecisionKind.CHECK_IN: CheckIn,
    DecisionKind.AMEND_PLAN: AmendPlan,
    DecisionKind.CLOSURE: Closure,
    DecisionKind.LESSONS_LEARNED: LessonsLearned,
    DecisionKind.FOLLOW_UP: FollowUp,
    DecisionKind.RECORD_VICTIM: RecordVictim,
    DecisionKind.RECORD_CONSENT: RecordConsent,
    DecisionKind.WITHDRAW_CONSENT: WithdrawConsent,
    DecisionKind.SHARE_VICTIM_DATA: ShareVictimData,
    DecisionKind.BEST_INTERESTS: BestInterests,
    DecisionKind.ERASE_VICTIM: EraseVictim,
    DecisionKind.APPROVE: Approve,
    DecisionKind.REJECT: Reject,
    DecisionKind.REASSIGN: Reassign,
    DecisionKind.EXTEND_DEADLINE: ExtendDeadline,
    DecisionKind.CLOSE_EARLY: CloseEarly,
}
