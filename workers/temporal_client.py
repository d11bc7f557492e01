"""The one way every process of the engine connects to Temporal."""

import atexit
import gc

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from workers.encryption import encrypted_data_converter, require_key_ring
from workers.errors import StartupError
from workers.settings import Settings

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


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect with pydantic payloads encrypted by the key ring (required: see
    workers/encryption.py); a server that cannot be reached is a StartupError.

    `runtime` is the SDK runtime of the client and of any worker built on it: the worker passes
    the one serving its metrics (workers/metrics.py); None is the SDK's default runtime.
    """
    data_converter = encrypted_data_converter(require_key_ring(settings))
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter,
            tls=_tls_config(settings),
            api_key=(
                settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
            ),
            runtime=runtime,
        )
    except RuntimeError as error:
        raise StartupError(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {error}. "
            "Check TEMPORAL_ADDRESS and the TLS settings, or start the local stack with "
            "`remediation up`."
        ) from None
