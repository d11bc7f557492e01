"""The deployment's policy: deadlines per severity (docs/design.md, Deadlines) and process limits.

The workflow receives the policy as input when the incident opens and keeps it for its whole life,
so a policy change affects new incidents only and replay stays deterministic.
"""

from datetime import timedelta
from enum import StrEnum

from pydantic import Field

from schemas.common import ActorId, Contract
from schemas.vocabulary import Severity


class MilestoneKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    IMMEDIATE_PROTECTION = "immediate_protection"
    VERIFICATION = "verification"
    RESPONSE = "response"
    ACTION_PLAN = "action_plan"
    APPROVAL = "approval"
    CHECK_IN = "check_in"
    ACTION_DUE = "action_due"
    CLOSURE = "closure"
    LESSONS_LEARNED = "lessons_learned"
    FOLLOW_UP = "follow_up"


class PerSeverity(Contract):
    """A duration for each severity; None means no such milestone at that severity."""

    critical: timedelta | None = Field(description="For critical incidents.")
    high: timedelta | None = Field(description="For high-severity incidents.")
    medium: timedelta | None = Field(description="For medium-severity incidents.")
    low: timedelta | None = Field(description="For low-severity incidents.")

    def for_severity(self, severity: Severity) -> timedelta | None:
        value: timedelta | None = getattr(self, severity.value)
        return value


def _days(critical: float, high: float, medium: float, low: float | None) -> PerSeverity:
    return PerSeverity(
        critical=timedelta(days=critical),
        high=timedelta(days=high),
        medium=timedelta(days=medium),
        low=None if low is None else timedelta(days=low),
    )


def default_deadlines() -> dict[MilestoneKind, PerSeverity]:
    """The table of docs/design.md, Deadlines. Action due dates come from the plan itself, so they
    have no row here."""
    return {
        MilestoneKind.ACKNOWLEDGE: _days(1, 3, 7, 14),
        MilestoneKind.IMMEDIATE_PROTECTION: _days(1, 1, 1, 1),
        MilestoneKind.VERIFICATION: _days(7, 30, 45, 60),
        MilestoneKind.RESPONSE: _days(3, 14, 21, 30),
        MilestoneKind.ACTION_PLAN: _days(14, 30, 45, 60),
        MilestoneKind.APPROVAL: _days(2, 5, 10, 10),
        MilestoneKind.CHECK_IN: _days(7, 14, 30, 90),
        MilestoneKind.CLOSURE: _days(14, 30, 30, 30),
        MilestoneKind.LESSONS_LEARNED: _days(30, 30, 30, 30),
        MilestoneKind.FOLLOW_UP: _days(90, 180, 180, None),
    }


class EscalationContacts(Contract):
    """Who is told at each level of the ladder; level 1 is always the case owner."""

    human_rights_lead: ActorId = Field(
        default="human-rights-lead", description="Level 2: the human-rights lead."
    )
    executive_sponsor: ActorId = Field(
        default="executive-sponsor", description="Level 3: the executive sponsor."
    )
    industry_programme_contact: ActorId | None = Field(
        default=None, description="Also told at level 3 for critical incidents, when set."
    )
    operations: ActorId = Field(
        default="operations",
        description="Told of disagreements between the register and Temporal (monitoring runs).",
    )


class RoleDirectory(Contract):
    """Who holds the organisation-wide roles. A role left unset is not restricted: any actor
    claiming it holds it (for development); a list restricts it to exactly those actor ids.

    Case owners and implementing partners are per incident (the assigned owner; the partners
    named on the plan's actions), so an assignment is what gives those roles."""

    case_owner: list[ActorId] | None = Field(
        default=None, description="Who may own (acknowledge) an unassigned case."
    )
    verifier: list[ActorId] | None = Field(default=None, description="Who may verify.")
    approver: list[ActorId] | None = Field(default=None, description="Who may approve.")
    executive: list[ActorId] | None = Field(default=None, description="Executives.")


class Policy(Contract):
    """Deadlines, escalation contacts and limits an incident lives by."""

    version: str = Field(
        default="default-1", min_length=1, max_length=64, description="Policy version stamp."
    )
    deadlines: dict[MilestoneKind, PerSeverity] = Field(
        default_factory=default_deadlines, description="Milestone windows per severity."
    )
    max_verification_rounds: int = Field(
        default=3,
        ge=1,
        le=10,
        description="How many verification rounds an incident may take; the last must conclude.",
    )
    escalation: EscalationContacts = Field(
        default_factory=EscalationContacts, description="Escalation contacts per level."
    )
    continue_as_new_after_events: int = Field(
        default=10_000,
        ge=100,
        le=50_000,
        description="History length at which an incident continues as new, even before "
        "Temporal suggests it.",
    )
    related_incident_window_days: int = Field(
        default=365, ge=1, le=3650, description="Window in which incidents count as related."
    )
    roles: RoleDirectory = Field(
        default_factory=RoleDirectory, description="Who holds the organisation-wide roles."
    )
    deadline_reminders: bool = Field(
        default=True,
        description="Remind the case owner before each deadline: a fifth of the milestone's "
        "window ahead, at most a week.",
    )

    def window(self, kind: MilestoneKind, severity: Severity) -> timedelta | None:
        per_severity = self.deadlines.get(kind)
        return None if per_severity is None else per_severity.for_severity(severity)
