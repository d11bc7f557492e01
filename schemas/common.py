"""Constrained types shared by the contract's models."""

import json
import re
from datetime import UTC, date, datetime
from typing import Annotated

import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
)

# The years the register can hold live with the picklists (pure, for the command line's help).
from schemas.vocabulary import EARLIEST_YEAR as EARLIEST_YEAR
from schemas.vocabulary import LATEST_YEAR as LATEST_YEAR

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


# Text is stored in PostgreSQL, which cannot hold NUL in text nor \u0000 or a lone surrogate in
# jsonb: a message that carried one would be accepted and then fail forever in the register write.
# Other control characters (escape sequences, C1 controls) have no place in a case file either.
# Line breaks and tabs are allowed (names pasted from forms carry them, and histories of running
# incidents may hold such names: refusing them now would change how those histories replay).
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# Validation context under which these checks (added after incidents were already running) are
# skipped: a workflow re-reading a message it accepted before them must accept it again, or its
# history would no longer replay. New messages are always checked (update validators, intakes,
# signals of incidents opened since).
ACCEPTED_BEFORE = "accepted_before"


def _lenient(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(ACCEPTED_BEFORE))


def _text(value: str, info: ValidationInfo) -> str:
    if _lenient(info):
        return value
    found = _NOT_TEXT.search(value)
    if found is not None:
        code = ord(found.group())
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"contains a lone surrogate (U+{code:04X}); remove it")
        raise ValueError(f"contains a control character (U+{code:04X}); remove it")
    return value


def _instant(moment: datetime, info: ValidationInfo) -> datetime:
    if _lenient(info):
        return moment
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:
        year = moment.year
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR} (UTC)")
    return moment


def _day(day: date, info: ValidationInfo) -> date:
    if _lenient(info):
        return day
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(f"must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return day


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
# Size limits of every message (intake, decision, fact), on every path. Each free-text field has
# its own (NAME_MAX, SHORT_TEXT_MAX, LONG_TEXT_MAX characters), and the whole message at most
# MESSAGE_MAX_BYTES as compact JSON (`message_size`), so that nothing the workflow makes of a
# message (register writes, refusal records, query answers) nears Temporal's 2 MiB payload limit.
NAME_MAX = 200
SHORT_TEXT_MAX = 1_000
LONG_TEXT_MAX = 10_000
MESSAGE_MAX_BYTES = 256 * 1024


def message_size(value: object) -> int:
    """The size of a decoded message as compact UTF-8 JSON: the same whichever client encoded it
    (an SDK, the HTTP API's shorthand, the Web UI) and however it spaced or escaped it."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX), AfterValidator(_text)]
ShortText = Annotated[str, Field(min_length=1, max_length=SHORT_TEXT_MAX), AfterValidator(_text)]
LongText = Annotated[str, Field(min_length=1, max_length=LONG_TEXT_MAX), AfterValidator(_text)]
# An aware instant within EARLIEST_YEAR..LATEST_YEAR in UTC, so that PostgreSQL's timestamptz
# and the workflow's deadline arithmetic can hold it.
Instant = Annotated[AwareDatetime, AfterValidator(_instant)]
# A calendar day within EARLIEST_YEAR..LATEST_YEAR.
Day = Annotated[date, AfterValidator(_day)]
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
