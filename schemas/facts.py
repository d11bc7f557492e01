"""Facts: what anyone may add to an incident's timeline (signals only, never refused for their
timing): a note, a reference to evidence."""

from enum import StrEnum

from pydantic import Field

from schemas.actor import Actor
from schemas.common import Contract, Name, ShortText


class FactKind(StrEnum):
    """Plain facts: signals only, recorded in the timeline, never refused for the step."""

    NOTE = "note"
    EVIDENCE_ADDED = "evidence_added"


class Note(Contract):
    """A note added to the case (signal only)."""

    actor: Actor = Field(description="Who adds the note.")
    text: ShortText = Field(description="The note; no victims' names.")


class EvidenceAdded(Contract):
    """A reference to evidence filed elsewhere (signal only)."""

    actor: Actor = Field(description="Who added the evidence.")
    reference: Name = Field(description="Where the evidence is filed (document id, URL).")
    description: ShortText = Field(description="What it shows; no victims' names.")


FACT_MODELS: dict[FactKind, type[Contract]] = {
    FactKind.NOTE: Note,
    FactKind.EVIDENCE_ADDED: EvidenceAdded,
}
