"""Victims' personal data: only ever sealed under the victim's own key.

The rules: docs/design.md, Victims' data.

Workflows, search attributes, logs and reports carry pseudonymous victim ids (`V-0001`). A
victim's personal data is sealed by the sender with a data key of that victim alone (envelope
encryption: the data key is stored wrapped under the deployment's key ring) before it enters a
payload, so destroying that one key erases the victim everywhere the sealed copy went.
"""

import base64
import binascii
from datetime import date
from typing import Literal

from pydantic import Field, field_validator

from schemas.common import Contract, CountryCode, Name, ShortText

SEALING_ALGORITHM = "AES-256-GCM"
# Base64 of at most ~48 KiB of sealed JSON: enough for the fields below, small for a payload.
SEALED_MAX_CHARS = 65_536


class VictimPersonalData(Contract):
    """What identifies a victim and how to reach them; never leaves the sender unsealed."""

    name: Name = Field(description="Name as the victim gives it.")
    aliases: list[Name] = Field(default_factory=list, max_length=10, description="Other names.")
    date_of_birth: date | None = Field(default=None, description="Date of birth, when known.")
    age: int | None = Field(default=None, ge=0, le=120, description="Age, when no birth date.")
    gender: Name | None = Field(default=None, description="Gender as the victim states it.")
    nationality: CountryCode | None = Field(default=None, description="Nationality (ISO code).")
    languages: list[Name] = Field(default_factory=list, max_length=10, description="Languages.")
    contact: ShortText | None = Field(default=None, description="How to reach them safely.")
    location: ShortText | None = Field(default=None, description="Where they are now.")
    notes: ShortText | None = Field(default=None, description="Anything else identifying.")


class SealedData(Contract):
    """Personal data sealed (AES-256-GCM) under one victim's data key.

    The additional authenticated data is `<incident id>/<victim id>`, so a sealed record cannot
    be replayed onto another victim or incident.
    """

    algorithm: Literal["AES-256-GCM"] = Field(
        default="AES-256-GCM", description="Sealing algorithm."
    )
    ciphertext: str = Field(
        min_length=16,
        max_length=SEALED_MAX_CHARS,
        pattern=r"^[A-Za-z0-9+/]+={0,2}$",
        description="Base64 of the 12-byte nonce followed by the ciphertext and tag.",
    )

    @field_validator("ciphertext")
    @classmethod
    def _decodes_to_a_sealed_record(cls, value: str) -> str:
        try:
            sealed = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
        if len(sealed) < 12 + 16:
            raise ValueError(
                "is too short to be a sealed record (nonce and tag alone are 28 bytes)"
            )
        return value


def sealing_context(incident_id: str, victim_id: str) -> bytes:
    """Additional authenticated data binding a sealed record to its victim."""
    return f"{incident_id}/{victim_id}".encode()
