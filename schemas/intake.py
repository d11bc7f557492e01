"""The intake: what is known when an allegation opens an incident.

See docs/design.md, The six steps (step 1).
"""

from pydantic import Field, model_validator

from schemas.actor import Actor
from schemas.common import (
    ActorId,
    Contract,
    CountryCode,
    FacilityId,
    Instant,
    LongText,
    Name,
    ShortText,
)
from schemas.vocabulary import Channel, HarmType, Mineral, SiteType, SupplyChainTier

EXTERNAL_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"


class Reporter(Contract):
    """Who reported the allegation; confidential, and may be anonymous."""

    anonymous: bool = Field(description="True when the reporter did not identify themselves.")
    name: Name | None = Field(default=None, description="Reporter's name, when given.")
    contact: ShortText | None = Field(
        default=None, description="How to reach the reporter through the original channel."
    )

    @model_validator(mode="after")
    def _anonymous_has_no_identity(self) -> "Reporter":
        if self.anonymous and self.name is not None:
            raise ValueError("an anonymous reporter has no name")
        return self


class Location(Contract):
    """Where the harm occurred."""

    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country of the site.")
    region: Name | None = Field(default=None, description="Province, district or region.")
    site_name: Name | None = Field(default=None, description="Name of the mine or facility site.")
    site_type: SiteType = Field(description="Artisanal/small-scale or large-scale mine, or not.")


class Intake(Contract):
    """An allegation of exploitation; starting an incident workflow with it opens the case."""

    external_reference: str = Field(
        pattern=EXTERNAL_REFERENCE_PATTERN,
        description="Sender's reference; the same reference never opens two incidents.",
    )
    received_at: Instant = Field(description="When the allegation was received.")
    channel: Channel = Field(description="How the allegation reached the company.")
    reporter: Reporter | None = Field(
        default=None, description="Who reported it; omit when unknown."
    )
    description: LongText = Field(description="The allegation in the reporter's or sender's words.")
    location: Location = Field(description="Where the harm occurred.")
    minerals: list[Mineral] = Field(min_length=1, max_length=7, description="Minerals concerned.")
    tier: SupplyChainTier = Field(description="Supply-chain tier where the harm occurred.")
    facility_ids: list[FacilityId] = Field(
        default_factory=list, max_length=50, description="Facilities involved (e.g. CID001234)."
    )
    suppliers: list[Name] = Field(
        default_factory=list, max_length=50, description="Suppliers or traders involved."
    )
    alleged_harms: list[HarmType] = Field(
        min_length=1, max_length=7, description="Harm types alleged."
    )
    affected_persons_estimate: int = Field(
        ge=0, le=1_000_000, description="Estimated number of affected persons (0 if unknown)."
    )
    children_affected: bool = Field(description="Whether children are among those affected.")
    migrants_affected: bool = Field(description="Whether migrants are among those affected.")
    women_affected: bool = Field(description="Whether women are among those affected.")
    imminent_danger: bool = Field(description="Whether anyone is in imminent danger now.")
    case_owner: ActorId | None = Field(
        default=None,
        description="Case owner to assign; when omitted, whoever acknowledges the case owns it.",
    )
    opened_by: Actor = Field(description="Person or integration that submits the intake.")

    @model_validator(mode="after")
    def _distinct_lists(self) -> "Intake":
        for name in ("minerals", "facility_ids", "alleged_harms"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a value twice")
        if self.received_at.year < 1990:
            raise ValueError("received_at is implausibly early")
        return self
