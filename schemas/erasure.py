"""Erasing a victim of an incident that has ended: a request, an approval, the outcome.

A running incident takes the `erase_victim` decision itself. Once its workflow has ended, the
request runs as its own small workflow (`VictimErasureWorkflow`), with the same four eyes.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.actor import Actor
from schemas.common import Contract, ShortText, VictimId

ERASURE_APPROVAL_ID = "erasure"


def erasure_workflow_id(incident_id: str, victim_id: str) -> str:
    return f"erasure-{incident_id}-{victim_id}"


class ErasureRequest(Contract):
    """Input of `VictimErasureWorkflow`."""

    incident_id: str = Field(min_length=1, max_length=200, description="The ended incident.")
    victim_id: VictimId = Field(description="Pseudonymous victim id.")
    reason: ShortText = Field(description="Why (the victim's request...).")
    requested_by: Actor = Field(description="The incident's case owner.")


class ErasureTarget(Contract):
    """What the register knows of the incident and the victim."""

    incident_found: bool
    incident_completed: bool = False
    case_owner: str | None = None
    victim_recorded: bool = False
    erased_at: datetime | None = None


class ErasureStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    ERASED = "erased"
    REJECTED = "rejected"


class ErasureRecord(Contract):
    """The erasure the register carries out: key destroyed, sealed data deleted, audited."""

    incident_id: str
    victim_id: VictimId
    requested_by: str
    approved_by: str
    reason: str
    erased_at: datetime


class ErasureOutcome(Contract):
    """Result and `status` query of `VictimErasureWorkflow`."""

    incident_id: str
    victim_id: str
    status: ErasureStatus
    requested_by: str
    decided_by: str | None = None
    decided_at: datetime | None = None
    message: str
