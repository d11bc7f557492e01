"""Sealing with AES-256-GCM, and what activities need of the deployment's key ring.

Activities never build or read a key ring: the worker injects one (workers/keyring.py, its
`KeyRing`), and the activities see it only as a `Sealer`, which seals with the current key and
opens with the key a blob names. The primitives here (`generate_key`, `seal`, `open_sealed`) are
shared by that ring and by the victims' per-person data keys (activities/victim_vault.py).
"""

import os
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyRingError(Exception):
    """A bad key ring, an unknown key id or a failed decryption; never carries key material."""


class Sealer(Protocol):
    """The key ring as activities use it (workers/keyring.py's `KeyRing` is one)."""

    def encrypt(self, plaintext: bytes, aad: bytes = b"") -> tuple[str, bytes]:
        """Seal with the current key; returns that key's id with the sealed blob."""
        ...

    def decrypt(self, key_id: str, blob: bytes, aad: bytes = b"") -> bytes:
        """Open a blob sealed with the key `key_id`; raises KeyRingError otherwise."""
        ...


def generate_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate: a random 12-byte nonce, then the ciphertext with its tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """The plaintext of `seal(key, plaintext, aad)`; anything else raises KeyRingError."""
    if len(blob) < NONCE_BYTES + 16:
        raise KeyRingError("the encrypted data is truncated")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise KeyRingError(
            "decryption failed: the data was altered or sealed with another key"
        ) from None
