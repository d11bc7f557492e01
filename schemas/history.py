"""What happened to an incident: its timeline, and decisions returned to their authors."""

from pydantic import AwareDatetime, Field

from schemas.actor import Actor
from schemas.common import ActorId, Contract
from schemas.vocabulary import DecisionKind, EventOutcome


class ReturnedItem(Contract):
    """A decision an approver rejected, back with its author."""

    approval_id: str = Field(description="The rejected approval.")
    kind: DecisionKind = Field(description="Kind of decision.")
    author: ActorId = Field(description="Who must revise it.")
    rejected_by: ActorId = Field(description="Approver who rejected it.")
    rejected_at: AwareDatetime = Field(description="When.")
    comments: str = Field(description="What must change.")


class TimelineEvent(Contract):
    """One entry of the `timeline` query."""

    sequence: int = Field(description="Event number within the incident.")
    at: AwareDatetime = Field(description="When.")
    kind: str = Field(description="Decision, fact or system event.")
    outcome: EventOutcome = Field(description="What became of it.")
    actor: Actor = Field(description="Who.")
    reason: str | None = Field(description="Reason given, or why it was refused.")
    summary: str = Field(description="One line; no personal data.")
