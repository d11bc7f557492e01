"""Envelope encryption of victims' personal data: one data key per victim.

The rules: docs/design.md, Victims' data.

A victim's data key is random, stored in `victim_keys` wrapped under the deployment's key ring,
and used to seal their personal data before it enters any payload (`seal_personal_data`). Erasure
destroys the wrapped key, which makes every sealed copy unreadable wherever it went: the register,
event payloads, Temporal's history. The key ring alone cannot open a sealed record.
"""

import base64
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from activities.sealing import KeyRingError, Sealer, generate_key, open_sealed, seal
from schemas.victims import SealedData, VictimPersonalData, sealing_context


class VictimErased(Exception):
    """The victim's key was destroyed: their personal data is gone and none can be recorded."""

    def __init__(self, incident_id: str, victim_id: str, erased_at: datetime) -> None:
        super().__init__(
            f"{victim_id} of {incident_id} was erased on {erased_at:%Y-%m-%d %H:%M} UTC; "
            "their personal data cannot be recorded or read"
        )


_CREATE_KEY = """
INSERT INTO victim_keys (incident_id, victim_id, wrapping_key_id, wrapped_key)
VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id, victim_id) DO NOTHING
"""
_READ_KEY = """
SELECT wrapping_key_id, wrapped_key, erased_at FROM victim_keys
WHERE incident_id = $1 AND victim_id = $2
"""


def _unwrap(row: asyncpg.Record, ring: Sealer, incident_id: str, victim_id: str) -> bytes:
    if row["erased_at"] is not None:
        raise VictimErased(incident_id, victim_id, row["erased_at"])
    return ring.decrypt(
        row["wrapping_key_id"], row["wrapped_key"], sealing_context(incident_id, victim_id)
    )


async def victim_data_key(
    pool: asyncpg.Pool, ring: Sealer, incident_id: str, victim_id: str
) -> bytes:
    """The victim's data key, created on first use; raises VictimErased after an erasure."""
    context = sealing_context(incident_id, victim_id)
    wrapping_key_id, wrapped = ring.encrypt(generate_key(), context)
    async with pool.acquire() as connection:
        # A concurrent first use keeps whichever key was stored first, so both seal alike.
        await connection.execute(_CREATE_KEY, incident_id, victim_id, wrapping_key_id, wrapped)
        row = await connection.fetchrow(_READ_KEY, incident_id, victim_id)
    assert row is not None
    return _unwrap(row, ring, incident_id, victim_id)


def seal_personal_data(
    key: bytes, incident_id: str, victim_id: str, data: VictimPersonalData
) -> SealedData:
    blob = seal(key, data.model_dump_json().encode(), sealing_context(incident_id, victim_id))
    return SealedData(ciphertext=base64.b64encode(blob).decode())


def open_personal_data(
    key: bytes, incident_id: str, victim_id: str, sealed: bytes
) -> VictimPersonalData:
    plaintext = open_sealed(key, sealed, sealing_context(incident_id, victim_id))
    return VictimPersonalData.model_validate_json(plaintext)


@dataclass(frozen=True)
class VictimView:
    """A victim as the register holds them, with their personal data opened when it exists."""

    incident_id: str
    victim_id: str
    child: bool
    recorded_at: datetime
    recorded_by: str
    personal_data: VictimPersonalData | None
    erased_at: datetime | None
    erased_by: str | None


async def read_victim(
    pool: asyncpg.Pool, ring: Sealer, incident_id: str, victim_id: str
) -> VictimView | None:
    """The victim's record, None when the incident has no such victim."""
    row = await pool.fetchrow(
        "SELECT * FROM victims WHERE incident_id = $1 AND victim_id = $2", incident_id, victim_id
    )
    if row is None:
        return None
    personal_data = None
    if row["personal_data"] is not None:
        key_row = await pool.fetchrow(_READ_KEY, incident_id, victim_id)
        if key_row is None:
            raise KeyRingError(f"{victim_id}'s data key is missing from the register")
        key = _unwrap(key_row, ring, incident_id, victim_id)
        personal_data = open_personal_data(key, incident_id, victim_id, row["personal_data"])
    return VictimView(
        incident_id=incident_id,
        victim_id=victim_id,
        child=row["child"],
        recorded_at=row["recorded_at"],
        recorded_by=row["recorded_by"],
        personal_data=personal_data,
        erased_at=row["erased_at"],
        erased_by=row["erased_by"],
    )
