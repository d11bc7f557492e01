"""Records the workflow hands to the case register's activities, and what they return."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, Field, JsonValue

from schemas.actor import Actor
from schemas.common import ActionId, ActorId, Contract, CountryCode, FacilityId, ShortText
from schemas.decisions import VictimFeedback
from schemas.intake import Intake
from schemas.victims import SealedData
from schemas.vocabulary import DELIVERY_ATTEMPT_TIMEOUT as DELIVERY_ATTEMPT_TIMEOUT
from schemas.vocabulary import (
    ActionCategory,
    ActionStatus,
    CaseStatus,
    HarmType,
    Mineral,
    Relationship,
    ResponseLevel,
    ResponsibleParty,
    RootCause,
    Severity,
    Step,
)
from schemas.vocabulary import EventOutcome as EventOutcome

IncidentId = str


class IncidentOpening(Contract):
    """Everything needed to create the incident's register row."""

    incident_id: IncidentId = Field(max_length=200, description="Workflow id of the incident.")
    intake: Intake = Field(description="The intake as received.")
    opened_at: AwareDatetime = Field(description="When the workflow opened the incident.")
    provisional_severity: Severity = Field(description="Severity proposed by triage.")
    case_owner: ActorId | None = Field(description="Case owner, when already assigned.")
    policy_version: str = Field(max_length=64, description="Policy the incident lives by.")
    related_window_days: int = Field(
        default=365, ge=1, le=3650, description="Incidents this close in time count as related."
    )
    run_lineage: str | None = Field(
        default=None,
        max_length=64,
        description="Run id of the incident's first run (None: sent before lineages existed).",
    )


class RelatedIncident(Contract):
    incident_id: IncidentId = Field(description="The other incident.")
    reason: str = Field(max_length=200, description="What they share (facility, site, supplier).")


class IncidentOpened(Contract):
    related: list[RelatedIncident] = Field(description="Related incidents found and linked.")


class IncidentSnapshot(Contract):
    """The incident's register row after an event."""

    step: Step = Field(description="Current step.")
    case_status: CaseStatus = Field(description="HTCDS case status.")
    severity: Severity = Field(description="Current severity (provisional until acknowledged).")
    response_level: ResponseLevel | None = Field(description="Approved response level.")
    relationship: Relationship | None = Field(description="Relationship to the harm.")
    case_owner: ActorId | None = Field(description="Current case owner.")
    closed_at: AwareDatetime | None = Field(default=None, description="When it was closed.")
    closure_reason: str | None = Field(
        default=None, max_length=200, description="Why it was closed."
    )
    escalation_level: int = Field(
        default=0, ge=0, le=3, description="Highest escalation level of any open milestone."
    )
    overdue: bool = Field(default=False, description="Whether any milestone is overdue.")
    next_deadline: AwareDatetime | None = Field(
        default=None, description="The earliest open milestone's deadline."
    )


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ApprovalRecord(Contract):
    approval_id: str = Field(max_length=64, description="Approval id, unique per incident.")
    kind: str = Field(max_length=40, description="Decision kind awaiting approval.")
    author_id: ActorId = Field(description="Who submitted the decision.")
    requested_at: AwareDatetime = Field(description="When approval was requested.")
    due_at: AwareDatetime | None = Field(description="When the approval is due.")
    status: ApprovalStatus = Field(description="Where the approval stands.")
    decided_by: ActorId | None = Field(default=None, description="Approver or rejecter.")
    decided_at: AwareDatetime | None = Field(default=None, description="When it was decided.")
    comments: ShortText | None = Field(default=None, description="Approver's comments.")


class ActionRecord(Contract):
    action_id: ActionId = Field(description="Action id.")
    category: ActionCategory = Field(description="Remedy or assistance.")
    action_type: str = Field(max_length=60, description="Remedy or assistance type.")
    description: str = Field(max_length=1000, description="What will be done.")
    responsible_party: ResponsibleParty = Field(description="Who is responsible.")
    implementing_partner: ActorId | None = Field(description="Implementing partner.")
    beneficiary_count: int = Field(ge=0, description="Number of individual beneficiaries.")
    concerns_children: bool = Field(description="Whether it concerns children.")
    due_date: date = Field(description="Due date.")
    budget_amount: Decimal = Field(ge=0, description="Budget.")
    currency: str = Field(max_length=3, description="Currency of budget and spend.")
    status: ActionStatus = Field(description="Current status.")
    progress_percent: int = Field(ge=0, le=100, description="Progress.")
    spend_to_date: Decimal = Field(ge=0, description="Spend to date.")
    completion_verified_by: ActorId | None = Field(default=None, description="Verifier.")
    completion_how: ShortText | None = Field(default=None, description="How verified.")
    cancellation_reason: ShortText | None = Field(default=None, description="Why cancelled.")


class CheckInRecord(Contract):
    period_start: date = Field(description="First day of the period.")
    period_end: date = Field(description="Last day of the period.")
    submitted_by: ActorId = Field(description="Who submitted it.")
    actions_reported: int = Field(ge=0, description="How many actions it reports on.")
    victim_feedback: VictimFeedback | None = Field(description="Victim feedback.")
    new_risks: list[ShortText] = Field(description="New risks.")


class EscalationRecord(Contract):
    """A milestone reaching an escalation level, or its escalation clearing."""

    milestone: str = Field(max_length=64, description="Milestone id.")
    milestone_kind: str = Field(max_length=40, description="Kind of milestone.")
    level: int = Field(ge=0, le=3, description="Level reached; 0 when the escalation clears.")
    due_at: AwareDatetime = Field(description="The deadline that was missed.")
    reached_at: AwareDatetime = Field(
        description="When the ladder says this level is reached (the deadline plus graces); "
        "the event's own time may be a moment later."
    )
    cleared_because: str | None = Field(
        default=None, max_length=40, description="met or extended, when it clears."
    )
    late_by_seconds: int | None = Field(
        default=None, ge=0, description="How late the milestone was met."
    )
    notified: list[str] = Field(default_factory=list, description="Who was told.")


class VictimRecord(Contract):
    """A victim's row: pseudonymous id, whether a child, their personal data still sealed."""

    victim_id: str = Field(max_length=40, description="Pseudonymous victim id.")
    child: bool = Field(description="Whether the victim is a child.")
    recorded_by: str = Field(max_length=128, description="Who recorded them.")
    personal_data: SealedData | None = Field(
        default=None, description="Sealed under the victim's key; None keeps what is stored."
    )


class RegisterEvent(Contract):
    """One event of an incident, written atomically with everything it changes."""

    incident_id: IncidentId = Field(description="Incident.")
    sequence: int = Field(ge=1, description="Event number within the incident; idempotency key.")
    kind: str = Field(max_length=60, description="Decision, fact or system event name.")
    outcome: EventOutcome = Field(description="What became of it.")
    actor: Actor = Field(description="Who caused it.")
    occurred_at: AwareDatetime = Field(description="When.")
    reason: str | None = Field(max_length=4000, description="Reason given or refusal message.")
    summary: str = Field(max_length=300, description="One line for timelines; no personal data.")
    payload: JsonValue = Field(description="The decision or fact as received (JSON).")
    snapshot: IncidentSnapshot = Field(description="Incident row after the event.")
    approvals: list[ApprovalRecord] = Field(default_factory=list, description="Upserted.")
    actions: list[ActionRecord] = Field(default_factory=list, description="Upserted.")
    check_in: CheckInRecord | None = Field(default=None, description="Inserted.")
    escalation: EscalationRecord | None = Field(default=None, description="Inserted.")
    victim: VictimRecord | None = Field(default=None, description="Upserted.")
    erased_victim: str | None = Field(
        default=None, max_length=40, description="Victim whose key and sealed data are destroyed."
    )
    run_lineage: str | None = Field(
        default=None,
        max_length=64,
        description="Run id of the incident's first run (None: sent before lineages existed).",
    )


class NotificationKind(StrEnum):
    CASE_OWNER_ASSIGNED = "case_owner_assigned"
    REPORTER_ACKNOWLEDGED = "reporter_acknowledged"
    REPORTER_FEEDBACK = "reporter_feedback"
    APPROVAL_REQUESTED = "approval_requested"
    ITEM_RETURNED = "item_returned"
    ESCALATION = "escalation"
    ESCALATION_CLEARED = "escalation_cleared"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    RECONCILIATION_FINDING = "reconciliation_finding"
    DEADLINE_REMINDER = "deadline_reminder"


class Notification(Contract):
    """A message queued in the outbox; never carries victims' data."""

    incident_id: IncidentId = Field(description="Incident.")
    sequence: int = Field(ge=1, description="Event that caused it; with kind, the key.")
    kind: NotificationKind = Field(description="What it is about.")
    recipient: str = Field(max_length=200, description="Actor id, or 'reporter' via channel.")
    subject: str = Field(max_length=200, description="Subject line.")
    body: str = Field(max_length=4000, description="Body; no victims' data.")
    created_at: AwareDatetime = Field(description="When it was queued.")


class EventWithNotifications(Contract):
    """An event and the notifications it causes, written in one transaction."""

    event: RegisterEvent = Field(description="The event, with everything it changes.")
    notifications: list[Notification] = Field(
        default_factory=list, description="Queued in the outbox with the event."
    )


class NotificationKey(Contract):
    """Which outbox row to deliver: the outbox's unique key."""

    incident_id: IncidentId = Field(max_length=200, description="Incident.")
    sequence: int = Field(ge=1, description="Event that caused the notification.")
    kind: NotificationKind = Field(description="What it is about.")
    recipient: str = Field(max_length=200, description="Actor id, or 'reporter' via channel.")

    @classmethod
    def of(cls, notification: Notification) -> "NotificationKey":
        """The key of a queued notification."""
        return cls(
            incident_id=notification.incident_id,
            sequence=notification.sequence,
            kind=notification.kind,
            recipient=notification.recipient,
        )


class EventRecorded(Contract):
    """What `record_event_and_deliver` did: the event is stored, and which of its notifications
    the first attempt did not deliver (they wait in the outbox for the background delivery)."""

    stored: bool = Field(
        description="True when this call stored the event, False when it was already stored."
    )
    undelivered: list[NotificationKey] = Field(
        default_factory=list, description="Notifications still to be delivered, in order."
    )


class ClosureReportRequest(Contract):
    incident_id: IncidentId = Field(description="Incident whose closure report is written.")
    generated_at: AwareDatetime = Field(description="Timestamp stamped on the report.")


class ClosureReport(Contract):
    incident_id: IncidentId = Field(description="Incident.")
    markdown: str = Field(description="The report for people.")
    report: JsonValue = Field(description="The report for machines.")
    generated_at: datetime = Field(description="When it was generated.")


class LessonRecord(Contract):
    """An entry of the lessons knowledge base."""

    incident_id: IncidentId = Field(description="Incident.")
    recorded_at: AwareDatetime = Field(description="When the lessons were captured.")
    minerals: list[Mineral] = Field(description="Minerals concerned.")
    country: CountryCode = Field(description="Country of the site.")
    facility_ids: list[FacilityId] = Field(description="Facilities concerned.")
    harm_types: list[HarmType] = Field(description="Harms confirmed (or alleged).")
    root_causes: list[RootCause] = Field(description="Root causes.")
    root_cause_notes: str | None = Field(max_length=1000, description="Detail on root causes.")
    due_diligence_gaps: list[str] = Field(description="Gaps found.")
    changes_made: list[str] = Field(description="'area: change' lines.")
    supplier_engagement_outcome: str = Field(max_length=1000, description="Supplier outcome.")
    shared_with_industry_programme: bool = Field(description="Whether shared.")
    anonymised_summary: str | None = Field(max_length=10000, description="Anonymised summary.")
