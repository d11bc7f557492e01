"""Constrained types shared by the contract's models."""

from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Computed once at import: workflows validate models inside the sandbox, where pycountry must
# not lazily read its database files.
_COUNTRY_CODES = frozenset(country.alpha_2 for country in pycountry.countries)
_CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)


def _iso_country(code: str) -> str:
    if code not in _COUNTRY_CODES:
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-2 country code")
    return code


def _iso_currency(code: str) -> str:
    if code not in _CURRENCY_CODES:
        raise ValueError(f"'{code}' is not an ISO 4217 currency code")
    return code


class Contract(BaseModel):
    """Base of every message: unknown fields are refused, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code."),
    AfterValidator(_iso_country),
]
CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code."),
    AfterValidator(_iso_currency),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ShortText = Annotated[str, Field(min_length=1, max_length=1_000)]
LongText = Annotated[str, Field(min_length=1, max_length=10_000)]
ActorId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@:+-]+$")]
FacilityId = Annotated[
    str,
    Field(
        min_length=2,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="Facility identifier as the industry uses it, e.g. a smelter's CID001234.",
    ),
]
VictimId = Annotated[
    str,
    Field(
        min_length=3,
        max_length=40,
        pattern=r"^V-[A-Za-z0-9-]+$",
        description="Pseudonymous victim id such as V-0001; never a name.",
    ),
]
ActionId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="Identifier of an action, unique within the incident.",
    ),
]
