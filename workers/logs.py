"""Logging: structlog everywhere outside workflows, JSON for machines, readable on a terminal.

The standard library's loggers (the Temporal SDK, asyncpg and the replay-safe `workflow.logger`)
are routed through the same renderer, so one process writes one format.
"""

import logging
import sys
from typing import Any, TextIO

import structlog

from workers.settings import LogFormat

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    log_format: LogFormat = LogFormat.AUTO, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's root logger for this process."""
    stream = stream or sys.stderr
    as_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # asyncpg and the SDK's internals are chatty at debug level; keep them at our level or above.
    logging.getLogger("asyncio").setLevel(max(level, logging.WARNING))


def forward_core_logs() -> None:
    """Temporal's native core writes its warnings to stdout by default, beside a command's own
    output: send them through this process's logging instead (to wherever it writes)."""
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    filter_ = TelemetryFilter(core_level="WARN", other_level="WARN")
    telemetry = TelemetryConfig(logging=LoggingConfig(filter=filter_, forwarding=forwarding))
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
