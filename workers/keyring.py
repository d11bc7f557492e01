"""The key ring: named AES-256-GCM keys, one of them current.

Everything the engine encrypts (Temporal payloads, victims' data in the register) is sealed with
the current key and labelled with its id; any key of the ring opens what it sealed. Rotation adds a
new current key and keeps the old ones, which stay as long as anything sealed with them remains.

The worker reads the ring (settings, the local stack's key file) and injects it into the
activities, which see it as a `Sealer` (activities/sealing.py, with the sealing primitives).
"""

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from activities.sealing import KEY_BYTES, KeyRingError, generate_key, open_sealed, seal

__all__ = [
    "KEY_BYTES",
    "KEY_ID_PATTERN",
    "KeyRing",
    "KeyRingError",
    "generate_key",
    "new_key_id",
    "open_sealed",
    "seal",
]

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _check_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.match(key_id):
        raise KeyRingError(
            f"invalid key id {key_id!r}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return key_id


def _decode_key(key_id: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise KeyRingError(f"key {key_id!r} must be a base64 string")
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def new_key_id(existing: Mapping[str, bytes] = MappingProxyType({})) -> str:
    """A date-based id such as `k-20261126-3fa9`, unused in `existing`."""
    while True:
        key_id = f"k-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"
        if key_id not in existing:
            return key_id


@dataclass(frozen=True)
class KeyRing:
    current_key_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
        if self.current_key_id not in self.keys:
            raise KeyRingError(
                f"the current key {self.current_key_id!r} is not in the key ring "
                f"(it holds: {self._ids() or 'no keys'})"
            )
        # Frozen: nobody changes a ring in place, rotation makes a new one.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def __repr__(self) -> str:  # never print key material
        return f"KeyRing(current_key_id={self.current_key_id!r}, key_ids=[{self._ids()}])"

    def _ids(self) -> str:
        return ", ".join(sorted(self.keys))

    @classmethod
    def single(cls, key_id: str | None = None) -> "KeyRing":
        """A new ring of one fresh key."""
        key_id = _check_key_id(key_id) if key_id is not None else new_key_id()
        return cls(key_id, {key_id: generate_key()})

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyRingError(
                f"unknown encryption key {key_id!r}; the key ring holds: {self._ids()}"
            ) from None

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> tuple[str, bytes]:
        """Seal with the current key; returns that key's id with the sealed blob."""
        return self.current_key_id, seal(self.keys[self.current_key_id], plaintext, aad)

    def decrypt(self, key_id: str, blob: bytes, aad: bytes = b"") -> bytes:
        return open_sealed(self.key(key_id), blob, aad)

    @classmethod
    def parse(cls, text: str) -> "KeyRing":
        """Read `{"current": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}}`."""
        try:
            document: Any = json.loads(text)
        except json.JSONDecodeError as error:  # its message names a position, never the text
            raise KeyRingError(f"the key ring is not valid JSON ({error.msg})") from None
        if not isinstance(document, dict):
            raise KeyRingError('the key ring must be a JSON object with "current" and "keys"')
        unknown = sorted(set(document) - {"current", "keys"})
        if unknown:
            raise KeyRingError(f"unknown field(s) in the key ring: {', '.join(unknown)}")
        current, keys = document.get("current"), document.get("keys")
        if not isinstance(keys, dict) or not keys:
            raise KeyRingError('the key ring needs "keys": an object of key id to base64 key')
        if not isinstance(current, str):
            raise KeyRingError('the key ring needs "current": the id of the key that encrypts')
        decoded = {_check_key_id(key_id): _decode_key(key_id, key) for key_id, key in keys.items()}
        return cls(_check_key_id(current), decoded)

    def to_json(self) -> str:
        keys = {key_id: base64.b64encode(key).decode() for key_id, key in self.keys.items()}
        return json.dumps({"current": self.current_key_id, "keys": keys}, indent=2) + "\n"

    def with_new_current_key(self, key_id: str | None = None) -> "KeyRing":
        """Rotation: the same ring plus a fresh key that becomes current."""
        key_id = _check_key_id(key_id) if key_id is not None else new_key_id(self.keys)
        if key_id in self.keys:
            raise KeyRingError(f"the key ring already holds a key {key_id!r}")
        return KeyRing(key_id, {**self.keys, key_id: generate_key()})
