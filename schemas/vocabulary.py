"""Every picklist of the domain, as enums whose values are the contract's strings.

See docs/design.md, Vocabulary.

Where IOM's Human Trafficking Case Data Standard (HTCDS) has a name for a value, `HTCDS_NAMES` maps
to it, so an anonymised export can speak HTCDS.
"""

from datetime import timedelta
from enum import StrEnum


class Mineral(StrEnum):
    TIN = "tin"
    TANTALUM = "tantalum"
    TUNGSTEN = "tungsten"
    GOLD = "gold"
    COBALT = "cobalt"
    MICA = "mica"
    LITHIUM = "lithium"


class Channel(StrEnum):
    """How the allegation reached the company."""

    GRIEVANCE_MECHANISM = "grievance_mechanism"
    AUDIT_FINDING = "audit_finding"
    NGO_REPORT = "ngo_report"
    MEDIA_REPORT = "media_report"
    WORKER_HOTLINE = "worker_hotline"
    GOVERNMENT = "government"
    OTHER = "other"


class SiteType(StrEnum):
    ARTISANAL_SMALL_SCALE = "artisanal_small_scale"
    LARGE_SCALE = "large_scale"
    NOT_A_MINE = "not_a_mine"


class SupplyChainTier(StrEnum):
    """Where in the chain the harm occurred."""

    MINE_SITE = "mine_site"
    TRADER_COLLECTOR = "trader_collector"
    EXPORTER = "exporter"
    SMELTER_REFINER = "smelter_refiner"
    COMPONENT_MAKER = "component_maker"


class HarmType(StrEnum):
    """Serious abuses of OECD Annex II."""

    FORCED_LABOUR = "forced_labour"
    HUMAN_TRAFFICKING = "human_trafficking"
    DEBT_BONDAGE = "debt_bondage"
    WORST_FORMS_OF_CHILD_LABOUR = "worst_forms_of_child_labour"
    HAZARDOUS_CHILD_LABOUR = "hazardous_child_labour"
    SEXUAL_EXPLOITATION = "sexual_exploitation"
    OTHER_SERIOUS_ABUSE = "other_serious_abuse"


CHILD_HARMS = frozenset({HarmType.WORST_FORMS_OF_CHILD_LABOUR, HarmType.HAZARDOUS_CHILD_LABOUR})


class ForcedLabourIndicator(StrEnum):
    """The ILO's eleven indicators of forced labour."""

    ABUSE_OF_VULNERABILITY = "abuse_of_vulnerability"
    DECEPTION = "deception"
    RESTRICTION_OF_MOVEMENT = "restriction_of_movement"
    ISOLATION = "isolation"
    PHYSICAL_AND_SEXUAL_VIOLENCE = "physical_and_sexual_violence"
    INTIMIDATION_AND_THREATS = "intimidation_and_threats"
    RETENTION_OF_IDENTITY_DOCUMENTS = "retention_of_identity_documents"
    WITHHOLDING_OF_WAGES = "withholding_of_wages"
    DEBT_BONDAGE = "debt_bondage"
    ABUSIVE_WORKING_AND_LIVING_CONDITIONS = "abusive_working_and_living_conditions"
    EXCESSIVE_OVERTIME = "excessive_overtime"


class MethodOfControl(StrEnum):
    """How victims are controlled, as HTCDS lists them."""

    DEBT_BONDAGE = "debt_bondage"
    WITHHOLDS_DOCUMENTS = "withholds_documents"
    WITHHOLDS_WAGES = "withholds_wages"
    RESTRICTS_MOVEMENT = "restricts_movement"
    THREATS = "threats"
    PHYSICAL_ABUSE = "physical_abuse"
    SEXUAL_ABUSE = "sexual_abuse"
    PSYCHOLOGICAL_ABUSE = "psychological_abuse"
    FALSE_PROMISES = "false_promises"
    EXCESSIVE_WORKING_HOURS = "excessive_working_hours"
    ISOLATION = "isolation"
    OTHER = "other"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


class ResponseLevel(StrEnum):
    MONITOR = "monitor"
    SUPPLIER_CORRECTIVE = "supplier_corrective"
    COMPANY_LED = "company_led"
    COLLECTIVE_URGENT = "collective_urgent"


class Relationship(StrEnum):
    """The company's relationship to the harm under the UN Guiding Principles."""

    CAUSE = "cause"
    CONTRIBUTE = "contribute"
    DIRECTLY_LINKED = "directly_linked"
    NO_LINK = "no_link"


class VerificationOutcome(StrEnum):
    SUBSTANTIATED = "substantiated"
    PARTIALLY_SUBSTANTIATED = "partially_substantiated"
    NOT_SUBSTANTIATED = "not_substantiated"
    INCONCLUSIVE = "inconclusive"


class VerificationMethod(StrEnum):
    DESK_REVIEW = "desk_review"
    AUDIT_PROGRAMME_QUERY = "audit_programme_query"
    SITE_VISIT = "site_visit"
    INTERVIEWS_WITH_CONSENT = "interviews_with_consent"
    THIRD_PARTY_REPORT = "third_party_report"


class Leverage(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ProtectionPartner(StrEnum):
    IOM = "iom"
    NGO = "ngo"
    NATIONAL_REFERRAL_MECHANISM = "national_referral_mechanism"


class BusinessRelationship(StrEnum):
    CONTINUE_WITH_MITIGATION = "continue_with_mitigation"
    TEMPORARY_SUSPENSION = "temporary_suspension"
    DISENGAGEMENT = "disengagement"


class RemedyType(StrEnum):
    """Forms of remedy under the UN Guiding Principles."""

    APOLOGY = "apology"
    RESTITUTION = "restitution"
    REHABILITATION = "rehabilitation"
    FINANCIAL_COMPENSATION = "financial_compensation"
    NON_FINANCIAL_COMPENSATION = "non_financial_compensation"
    SANCTIONS = "sanctions"
    GUARANTEES_OF_NON_REPETITION = "guarantees_of_non_repetition"


class AssistanceType(StrEnum):
    IMMEDIATE_SAFETY = "immediate_safety"
    SHELTER = "shelter"
    MEDICAL_CARE = "medical_care"
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support"
    LEGAL_ASSISTANCE = "legal_assistance"
    RETURN_AND_REINTEGRATION = "return_and_reintegration"
    FAMILY_TRACING_AND_REUNIFICATION = "family_tracing_and_reunification"
    EDUCATION = "education"
    LIVELIHOOD_SUPPORT = "livelihood_support"
    RECRUITMENT_FEE_REPAYMENT = "recruitment_fee_repayment"
    WAGE_RESTITUTION = "wage_restitution"
    DOCUMENT_RETURN = "document_return"
    # Not an assistance in IOM's list, but the plan must be able to schedule it for children.
    BEST_INTERESTS_ASSESSMENT = "best_interests_assessment"


CHILD_SAFEGUARDS = frozenset({AssistanceType.EDUCATION, AssistanceType.BEST_INTERESTS_ASSESSMENT})


class ActionCategory(StrEnum):
    REMEDY = "remedy"
    ASSISTANCE = "assistance"


class ResponsibleParty(StrEnum):
    COMPANY = "company"
    SUPPLIER = "supplier"
    SMELTER_REFINER = "smelter_refiner"
    PARTNER = "partner"
    GOVERNMENT = "government"


class ActionStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


RESOLVED_ACTION_STATUSES = frozenset({ActionStatus.COMPLETED, ActionStatus.CANCELLED})


class CaseStatus(StrEnum):
    """Status of the case as HTCDS names it."""

    ACTIVE = "active"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    CLOSED_REFERRED = "closed_referred"


class ClosureStatus(StrEnum):
    CLOSED = "closed"
    CLOSED_REFERRED = "closed_referred"


class EarlyClosureReason(StrEnum):
    DUPLICATE = "duplicate"
    MERGED = "merged"
    OUT_OF_SCOPE = "out_of_scope"
    WITHDRAWN = "withdrawn"


class RootCause(StrEnum):
    RECRUITMENT_FEE_PRACTICES = "recruitment_fee_practices"
    WEAK_DUE_DILIGENCE_AT_TIER = "weak_due_diligence_at_tier"
    NO_GRIEVANCE_ACCESS = "no_grievance_access"
    AUDIT_GAPS = "audit_gaps"
    LOCAL_GOVERNANCE = "local_governance"
    INFORMAL_LABOUR_INTERMEDIARIES = "informal_labour_intermediaries"
    PURCHASING_PRACTICES = "purchasing_practices"
    OTHER = "other"


class ChangeArea(StrEnum):
    """What the company changed in its due diligence after an incident."""

    POLICY = "policy"
    SUPPLIER_CODE = "supplier_code"
    AUDIT_PROTOCOL = "audit_protocol"
    SOURCING = "sourcing"
    GRIEVANCE_MECHANISM = "grievance_mechanism"
    TRAINING = "training"


class Step(StrEnum):
    """Where an incident stands in IOM's six-step process."""

    VERIFICATION = "verification"
    RESPONSE = "response"
    ACTION_PLAN = "action_plan"
    IMPLEMENTATION = "implementation"
    CLOSURE = "closure"
    LESSONS_LEARNED = "lessons_learned"
    # After the six steps: is the remedy sustained, has the harm recurred?
    FOLLOW_UP = "follow_up"
    COMPLETED = "completed"


STEP_NUMBERS = {
    Step.VERIFICATION: 1,
    Step.RESPONSE: 2,
    Step.ACTION_PLAN: 3,
    Step.IMPLEMENTATION: 4,
    Step.CLOSURE: 5,
    Step.LESSONS_LEARNED: 6,
}


HTCDS_NAMES: dict[StrEnum, str] = {
    MethodOfControl.DEBT_BONDAGE: "DebtBondage",
    MethodOfControl.WITHHOLDS_DOCUMENTS: "WithholdsDocuments",
    MethodOfControl.WITHHOLDS_WAGES: "WithholdsWages",
    MethodOfControl.RESTRICTS_MOVEMENT: "RestrictsMovement",
    MethodOfControl.THREATS: "Threats",
    MethodOfControl.PHYSICAL_ABUSE: "PhysicalAbuse",
    MethodOfControl.SEXUAL_ABUSE: "SexualAbuse",
    MethodOfControl.PSYCHOLOGICAL_ABUSE: "PsychologicalAbuse",
    MethodOfControl.FALSE_PROMISES: "FalsePromises",
    MethodOfControl.EXCESSIVE_WORKING_HOURS: "ExcessiveWorkingHours",
    MethodOfControl.ISOLATION: "Isolation",
    MethodOfControl.OTHER: "Other",
    HarmType.FORCED_LABOUR: "ForcedLabour",
    HarmType.HUMAN_TRAFFICKING: "HumanTrafficking",
    HarmType.DEBT_BONDAGE: "DebtBondage",
    HarmType.SEXUAL_EXPLOITATION: "SexualExploitation",
    CaseStatus.ACTIVE: "Active",
    CaseStatus.FOLLOW_UP: "FollowUp",
    CaseStatus.CLOSED: "Closed",
    CaseStatus.CLOSED_REFERRED: "ClosedReferred",
}

# HTCDS's labour-exploitation type for every incident this engine handles.
HTCDS_LABOUR_EXPLOITATION_TYPE = "MiningOrDrilling"


class Role(StrEnum):
    """Roles an actor can hold on an incident."""

    CASE_OWNER = "case_owner"
    VERIFIER = "verifier"
    APPROVER = "approver"
    EXECUTIVE = "executive"
    IMPLEMENTING_PARTNER = "implementing_partner"
    INTEGRATION = "integration"
    SYSTEM = "system"


class DecisionKind(StrEnum):
    """Name of every decision; the update and the signal carrying it have this name."""

    ACKNOWLEDGE = "acknowledge"
    IMMEDIATE_PROTECTION = "immediate_protection"
    VERIFICATION = "verification"
    RESPONSE = "response"
    ACTION_PLAN = "action_plan"
    CHECK_IN = "check_in"
    AMEND_PLAN = "amend_plan"
    CLOSURE = "closure"
    LESSONS_LEARNED = "lessons_learned"
    APPROVE = "approve"
    REJECT = "reject"
    REASSIGN = "reassign"
    EXTEND_DEADLINE = "extend_deadline"
    CLOSE_EARLY = "close_early"
    FOLLOW_UP = "follow_up"
    RECORD_VICTIM = "record_victim"
    RECORD_CONSENT = "record_consent"
    WITHDRAW_CONSENT = "withdraw_consent"
    SHARE_VICTIM_DATA = "share_victim_data"
    BEST_INTERESTS = "best_interests"
    ERASE_VICTIM = "erase_victim"


# Instants and days the register and the deadline arithmetic can hold: converting to UTC or adding
# escalation graces to a date near year 9999 overflows Python's datetime.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2999

# The workflow that runs portfolio monitoring (a report or reconciliation), and its kinds of run.
MONITORING_WORKFLOW = "PortfolioMonitoringWorkflow"


class MonitoringKind(StrEnum):
    PORTFOLIO = "portfolio"  # daily: KPIs and reconciliation
    DIGEST = "digest"  # weekly
    ANNUAL = "annual"  # yearly due-diligence summary


class EventOutcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECORDED = "recorded"


# How long one attempt of `deliver_notification` may run before Temporal retries it elsewhere: the
# workflows schedule it with this, and the worker's webhook timeout must stay well inside it.
DELIVERY_ATTEMPT_TIMEOUT = timedelta(minutes=2)
