"""The worker's Prometheus endpoint: the SDK's metrics and the engine's own counters.

With METRICS_PORT set, the worker's Temporal client (and so its worker) runs on a Runtime whose
telemetry serves `http://OPS_BIND_HOST:METRICS_PORT/metrics`. The SDK's metrics are named
`temporal_*` (its default prefix); the engine's counters (workflows/metrics.py) keep their names
exactly: the prefix applies to the SDK's own metrics only, and counters get no `_total` added
(`counters_total_suffix` stays off, so the names that already end in `_total` are not doubled).

Only `remediation worker` (and the worker of `remediation up`) opens the endpoint: the other
commands connect on the SDK's default runtime, so running one beside a worker never competes for
the port.

A Runtime owns a thread pool and, here, the listening socket, and has no close: one is made per
process and address and reused, so a second `serve()` in the same process (a restarted worker,
the tests) shares the endpoint instead of failing with "address in use" against its own earlier
Runtime.
"""

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from workers.errors import StartupError
from workers.settings import Settings

_RUNTIMES: dict[str, Runtime] = {}


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Runtime serving /metrics on METRICS_PORT, or None when METRICS_PORT is unset.

    The endpoint lives as long as the Runtime, which is kept for the life of the process and
    returned again for the same address.
    """
    if settings.metrics_port is None:
        return None
    host = settings.ops_bind_host
    # An IPv6 address (e.g. "::") needs brackets before the port in a socket address.
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    address = f"{host}:{settings.metrics_port}"
    runtime = _RUNTIMES.get(address)
    if runtime is not None:
        return runtime
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError as error:  # the SDK reports a port in use or a bad address this way
        raise StartupError(
            f"the metrics endpoint cannot listen on {address} ({error}); "
            "choose another METRICS_PORT or OPS_BIND_HOST"
        ) from None
    _RUNTIMES[address] = runtime
    return runtime
