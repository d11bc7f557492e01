"""Lessons across incidents: what `remediation lessons` asks of the register and what it finds.

Aggregates over the lessons knowledge base (step 6 of every incident) and the incidents of the
case register. Nothing here identifies a victim or a reporter: root causes, harm types, facility
ids, supplier names and the descriptions of the due-diligence changes a case owner recorded.
"""

import re
from datetime import date

from pydantic import Field

from schemas.common import _COUNTRY_CODES, Contract, CountryCode, FacilityId
from schemas.vocabulary import HarmType, Mineral, RootCause

# A root cause named in at least this many incidents' lessons is recurring.
RECURRING_AT = 2
# A facility or supplier named by at least this many incidents has repeated incidents.
REPEATED_AT = 2
# Distinct descriptions listed per area of due-diligence change, most recent first.
DESCRIPTIONS_PER_AREA = 5
# An entry of changes_made that does not start with "<area>: " is counted under this area.
UNSPECIFIED_AREA = "unspecified"

# The pattern of schemas.common.FacilityId, checked here to word the refusal for people.
_FACILITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_FACILITY_LENGTH = (2, 32)


class InvalidLessonsFilter(ValueError):
    """One or more filters of `lessons_across_incidents` are not values the register holds."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class LessonsFilter(Contract):
    """Which incidents to look at; every filter given must hold (none given: all incidents)."""

    facility: FacilityId | None = Field(default=None, description="Only this facility's.")
    country: CountryCode | None = Field(default=None, description="Only this country's.")
    mineral: Mineral | None = Field(default=None, description="Only those concerning it.")
    root_cause: RootCause | None = Field(
        default=None, description="Only those whose lessons name it (only incidents with lessons)."
    )

    @classmethod
    def parse(
        cls,
        *,
        facility: str | None = None,
        country: str | None = None,
        mineral: str | None = None,
        root_cause: str | None = None,
    ) -> "LessonsFilter":
        """The filters as typed by a person; InvalidLessonsFilter names every wrong one.

        Minerals and root causes are matched case-insensitively and country codes are upper-cased;
        facility ids are compared exactly, as the register stores them.
        """
        problems: list[str] = []
        facility_id = _facility(facility, problems)
        country_code = _country(country, problems)
        mineral_value = _member(Mineral, "mineral", mineral, problems)
        cause = _member(RootCause, "root cause", root_cause, problems)
        if problems:
            raise InvalidLessonsFilter(problems)
        return cls(
            facility=facility_id,
            country=country_code,
            mineral=Mineral(mineral_value) if mineral_value is not None else None,
            root_cause=RootCause(cause) if cause is not None else None,
        )

    def describe(self) -> str:
        """The filters in words, e.g. 'mineral gold, country CD' ('' when there are none)."""
        named = [
            ("facility", self.facility),
            ("country", self.country),
            ("mineral", self.mineral),
            ("root cause", self.root_cause),
        ]
        return ", ".join(f"{name} {value}" for name, value in named if value is not None)


def _facility(value: str | None, problems: list[str]) -> str | None:
    if value is None:
        return None
    value = value.strip()
    low, high = _FACILITY_LENGTH
    if not low <= len(value) <= high or not _FACILITY_ID.match(value):
        problems.append(
            f"{value!r} is not a facility id: {low} to {high} letters, digits, '_' or '-', "
            "starting with a letter or digit (for example CID001234)"
        )
        return None
    return value


def _country(value: str | None, problems: list[str]) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if code not in _COUNTRY_CODES:
        problems.append(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code: two letters such as CD, RW or ZM"
        )
        return None
    return code


def _member(
    vocabulary: type[Mineral] | type[RootCause], name: str, value: str | None, problems: list[str]
) -> str | None:
    if value is None:
        return None
    folded = value.strip().lower()
    allowed = [member.value for member in vocabulary]
    if folded not in allowed:
        problems.append(f"unknown {name} {value!r}: use one of {', '.join(allowed)}")
        return None
    return folded


class RootCauseCount(Contract):
    root_cause: RootCause
    incidents: int = Field(ge=0, description="Incidents whose lessons name this root cause.")
    share: float = Field(ge=0, le=1, description="Of the lessons matched.")
    recurring: bool = Field(description=f"Named in at least {RECURRING_AT} incidents' lessons.")


class HarmTypeCount(Contract):
    harm_type: HarmType
    incidents: int = Field(ge=0, description="Incidents whose lessons record this harm.")
    share: float = Field(ge=0, le=1, description="Of the lessons matched.")


class RepeatedFacility(Contract):
    facility_id: str = Field(description="Facility id as the incidents name it.")
    incidents: int = Field(ge=REPEATED_AT, description="Matching incidents naming the facility.")
    first_received: date = Field(description="When the first of them was received (UTC day).")
    last_received: date = Field(description="When the latest of them was received (UTC day).")


class RepeatedSupplier(Contract):
    supplier: str = Field(description="The supplier's name as most incidents spell it.")
    incidents: int = Field(
        ge=REPEATED_AT, description="Matching incidents naming it (case and spaces ignored)."
    )
    first_received: date = Field(description="When the first of them was received (UTC day).")
    last_received: date = Field(description="When the latest of them was received (UTC day).")


class DueDiligenceChanges(Contract):
    """The changes recorded in one area of due diligence (schemas.vocabulary.ChangeArea)."""

    area: str = Field(
        description=f"A ChangeArea value, or '{UNSPECIFIED_AREA}' for an entry naming none."
    )
    changes: int = Field(ge=1, description="Changes recorded in this area.")
    incidents: int = Field(ge=1, description="Incidents whose lessons recorded them.")
    last_recorded: date = Field(description="When the latest was recorded (UTC day).")
    descriptions: list[str] = Field(
        description=f"Distinct descriptions, most recent first, at most {DESCRIPTIONS_PER_AREA}."
    )
    more_descriptions: int = Field(ge=0, description="Distinct descriptions not listed.")


class LessonsOverview(Contract):
    """Lessons across the incidents matching the filters (`remediation lessons`)."""

    filters: LessonsFilter
    lessons_matched: int = Field(ge=0, description="Lessons learned recorded for them.")
    incidents_matched: int = Field(ge=0, description="Incidents matching, with lessons or not.")
    root_causes: list[RootCauseCount] = Field(description="Every root cause named; most first.")
    harm_types: list[HarmTypeCount] = Field(description="Harms in the lessons; most first.")
    repeated_facilities: list[RepeatedFacility] = Field(
        description="Facilities of several matching incidents; most first."
    )
    repeated_suppliers: list[RepeatedSupplier] = Field(
        description="Suppliers of several matching incidents; most first."
    )
    due_diligence_changes: list[DueDiligenceChanges] = Field(
        description="What changed in due diligence as a result, by area; most changes first."
    )

    @property
    def empty(self) -> bool:
        """Nothing to show: no lessons, and no facility or supplier with repeated incidents."""
        return not (self.lessons_matched or self.repeated_facilities or self.repeated_suppliers)
