"""Entries of the append-only audit trail."""

from datetime import datetime
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.actor import Actor

AuditDetail = str | int | float | bool | None


class AuditEntry(BaseModel):
    """One accountable event: who did what to which incident, when and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entry_id: UUID = Field(
        description="Idempotency key chosen by the caller: one row however often it is recorded."
    )
    incident_id: str = Field(
        min_length=1, max_length=200, description="Incident (workflow id) the entry belongs to."
    )
    occurred_at: AwareDatetime = Field(description="When the event happened (timezone-aware).")
    actor: Actor = Field(description="Who acted.")
    action: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
        description="What happened, as a dotted lower-case name such as 'decision.acknowledge'.",
    )
    reason: str | None = Field(
        default=None, max_length=4000, description="Why, in the actor's words, where one was given."
    )
    details: dict[str, AuditDetail] = Field(
        default_factory=dict,
        max_length=50,
        description="Small facts about the event (ids, outcomes); never victims' personal data.",
    )


class RecordedAuditEntry(AuditEntry):
    """An audit entry as stored in the register."""

    sequence: int = Field(description="Position in the trail, assigned by the register.")
    recorded_at: datetime = Field(description="When the register stored the entry.")
