"""The one way every process of the engine connects to Temporal.

`connect` gives the SDK's client, with the encrypting data converter; `connect_service` only the
service client under it, for a command that reads visibility and nothing else (search attributes
are never encrypted), without importing the SDK's client module, a fifth of such a command's
imports. Both take the same address, TLS and API key from the settings.
"""

import atexit
import gc
from typing import TYPE_CHECKING

from temporalio.runtime import Runtime
from temporalio.service import ConnectConfig, ServiceClient, TLSConfig

from workers.encryption import encrypted_data_converter, require_key_ring
from workers.errors import StartupError
from workers.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

# A client's native half must be freed while the interpreter is fully alive: freed by the garbage
# collector during interpreter shutdown, it can abort the process (temporalio/sdk-python#300).
# One collection at exit frees it first.
atexit.register(gc.collect)


def _tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS as the settings ask: an API key, a TLS file or a server name implies it (Temporal
    Cloud takes an API key over TLS with the system's CAs); a client certificate and key make it
    mTLS; the server name overrides the name the certificate is verified against (and SNI)."""
    if not settings.uses_tls:
        return False
    return TLSConfig(
        server_root_ca_cert=(
            settings.temporal_tls_ca_cert.read_bytes() if settings.temporal_tls_ca_cert else None
        ),
        client_cert=(
            settings.temporal_tls_client_cert.read_bytes()
            if settings.temporal_tls_client_cert
            else None
        ),
        client_private_key=(
            settings.temporal_tls_client_key.read_bytes()
            if settings.temporal_tls_client_key
            else None
        ),
        domain=settings.temporal_tls_server_name,
    )


def _api_key(settings: Settings) -> str | None:
    return settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None


def _unreachable(settings: Settings, error: RuntimeError) -> StartupError:
    return StartupError(
        f"cannot reach Temporal at {settings.temporal_address} "
        f"(namespace {settings.temporal_namespace}): {error}. "
        "Check TEMPORAL_ADDRESS and the TLS settings, or start the local stack with "
        "`remediation up`."
    )


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> "Client":
    """Connect with pydantic payloads encrypted by the key ring (required: see
    workers/encryption.py); a server that cannot be reached is a StartupError.

    `runtime` is the SDK runtime of the client and of any worker built on it: the worker passes
    the one serving its metrics (workers/metrics.py); None is the SDK's default runtime.
    """
    from temporalio.client import Client

    data_converter = encrypted_data_converter(require_key_ring(settings))
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter,
            tls=_tls_config(settings),
            api_key=_api_key(settings),
            runtime=runtime,
        )
    except RuntimeError as error:
        raise _unreachable(settings, error) from None


async def connect_service(settings: Settings) -> ServiceClient:
    """Connect for visibility only (listing and counting workflows by their search attributes,
    which are never encrypted): no data converter, so no key ring; a server that cannot be
    reached is a StartupError, as with `connect`. The namespace is the settings'."""
    config = ConnectConfig(
        target_host=settings.temporal_address,
        tls=_tls_config(settings),
        api_key=_api_key(settings),
    )
    try:
        return await ServiceClient.connect(config)
    except RuntimeError as error:
        raise _unreachable(settings, error) from None
