"""Logging: structlog everywhere outside workflows, JSON for machines, readable on a terminal.

The standard library's loggers (the Temporal SDK, asyncpg and the replay-safe `workflow.logger`)
are routed through the same renderer, so one process writes one format.
"""

import logging
import sys
import threading
from typing import Any, TextIO

from workers.settings import LogFormat


def _shared_processors() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    log_format: LogFormat = LogFormat.AUTO, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's root logger for this process."""
    import structlog  # with rich, which its console renderer uses: see configure_logging_when_used

    stream = stream or sys.stderr
    as_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
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


class _ConfigureOnFirstRecord(logging.Handler):
    """The root logger's handler until something logs: configures logging, then passes the record
    on to the handler configured."""

    def __init__(self, log_format: LogFormat, level: int, stream: TextIO | None) -> None:
        super().__init__()
        self._configuration = (log_format, level, stream)
        self._configured = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        root = logging.getLogger()
        with self._configured:
            if self in root.handlers:
                configure_logging(*self._configuration)
        root.handle(record)


def configure_logging_when_used(
    log_format: LogFormat = LogFormat.AUTO, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """As `configure_logging`, done when the standard library first logs a record at `level` or
    above, so that a command that logs nothing does not import structlog and rich (a few tenths of
    a second). Only for work that logs through the standard library alone (Temporal's SDK does):
    a structlog logger used before the first record would write with structlog's defaults."""
    if "structlog" in sys.modules:
        configure_logging(log_format, level, stream)
        return
    root = logging.getLogger()
    root.handlers = [_ConfigureOnFirstRecord(log_format, level, stream)]
    root.setLevel(level)
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
