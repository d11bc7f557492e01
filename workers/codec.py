"""Payload encryption: every payload leaves this process sealed with the key ring's current key.

The whole serialized payload (its metadata and data) is the plaintext, so Temporal sees neither
the content nor its encoding. The key id travels in the clear in the metadata, so a payload sealed
before a rotation is still opened with the older key of the ring.
"""

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from workers.keyring import KeyRing, KeyRingError

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"


class PayloadDecryptionError(KeyRingError):
    """An encrypted payload that the key ring cannot open."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        encoded = []
        for payload in payloads:
            key_id, sealed = self.ring.encrypt(payload.SerializeToString())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id.encode()},
                    data=sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(payload) for payload in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        # Plain payloads (JSON typed into the Web UI or sent to the HTTP API, and histories
        # recorded before encryption) are accepted as they are.
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        if not key_id:
            raise PayloadDecryptionError(f"an encrypted payload has no {KEY_ID_METADATA}")
        try:
            plaintext = self.ring.decrypt(key_id, payload.data)
        except KeyRingError as error:
            raise PayloadDecryptionError(f"cannot decrypt a payload: {error}") from None
        return Payload.FromString(plaintext)
