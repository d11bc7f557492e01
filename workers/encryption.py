"""Where the key ring comes from, and the data converter that encrypts with it.

Every process of the engine that talks to Temporal encrypts: an engine client without a key ring
would put victims' data into workflow histories in the clear, so `connect` refuses to start one.
"""

import dataclasses
import os
import secrets
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from workers.codec import EncryptionCodec
from workers.errors import StartupError
from workers.failures import RefusalFailureConverter
from workers.keyring import KeyRing, KeyRingError
from workers.running_stack import read_running_stack
from workers.settings import Settings

KEY_FILE = "keys.json"
CODEC_TOKEN_FILE = "codec-token"

MISSING_KEY_RING = (
    "no encryption key ring: set REMEDIATION_KEYS (the key ring JSON) or REMEDIATION_KEY_FILE "
    "(`remediation keys generate` makes one), or start the local stack with `remediation up`"
)


def encrypted_data_converter(ring: KeyRing) -> DataConverter:
    """Pydantic payloads, each sealed with the ring's current key (AES-256-GCM); refusals sent
    without a stack trace (workers/failures.py)."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=RefusalFailureConverter,
    )


def read_key_file(path: Path) -> KeyRing:
    try:
        return KeyRing.parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StartupError(f"cannot read the key ring {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, KeyRingError) as error:
        raise StartupError(f"the key ring {path} is invalid: {error}") from None


def key_ring_from(settings: Settings) -> KeyRing | None:
    """REMEDIATION_KEYS, else REMEDIATION_KEY_FILE, else the ring of the `remediation up`
    running on the data directory (so commands work against it without setup), else None."""

    if settings.remediation_keys is not None:
        try:
            return KeyRing.parse(settings.remediation_keys.get_secret_value())
        except KeyRingError as error:
            raise StartupError(f"REMEDIATION_KEYS is invalid: {error}") from None
    if settings.remediation_key_file is not None:
        return read_key_file(settings.remediation_key_file)
    stack = read_running_stack(settings.data_dir.resolve())
    if stack is not None and stack.key_file:
        return read_key_file(Path(stack.key_file))
    return None


def require_key_ring(settings: Settings) -> KeyRing:
    ring = key_ring_from(settings)
    if ring is None:
        raise StartupError(MISSING_KEY_RING)
    return ring


def _write_private(path: Path, text: str) -> None:
    """Create `path` readable by its owner only; never overwrite (O_EXCL)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def ensure_local_key_file(data_dir: Path) -> Path:
    """`<data_dir>/keys.json`, generated once (mode 0600) for the local stack."""
    path = data_dir / KEY_FILE
    if not path.exists():
        try:
            _write_private(path, KeyRing.single().to_json())
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError as error:
            raise StartupError(f"cannot create {path}: {error.strerror or error}") from None
    read_key_file(path)  # an edited, broken file stops `up` here with a clear message
    return path


def ensure_local_codec_token(data_dir: Path) -> str:
    """The codec server token in `<data_dir>/codec-token`, generated once (mode 0600)."""
    path = data_dir / CODEC_TOKEN_FILE
    try:
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(32) + "\n")
        token = path.read_text(encoding="utf-8").strip()
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise StartupError(f"cannot use {path}: {error.strerror or error}") from None
    if len(token) < 16:
        raise StartupError(f"{path} holds a token shorter than 16 characters; delete it")
    return token
