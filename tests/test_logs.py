"""Logging configured when first used: a command that logs nothing never imports structlog, and one
that logs writes what `configure_logging` would have (in a fresh process: the suite's own has long
imported structlog)."""

import json
import subprocess
import sys

PROGRAM = """
import logging, sys
from workers.logs import configure_logging_when_used
from workers.settings import LogFormat

configure_logging_when_used(LogFormat.JSON, logging.INFO)
logging.getLogger("temporalio.quiet").debug("below the level")
print("structlog" in sys.modules, flush=True)
logging.getLogger("temporalio.loud").warning("first %s", "record")
print("structlog" in sys.modules, flush=True)
logging.getLogger("temporalio.loud").info("second")
import structlog
structlog.get_logger("engine").info("third", incident_id="incident-X")
"""


def test_logging_is_configured_by_the_first_record_at_the_level() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )

    assert ran.stdout.split() == ["False", "True"]
    records = [json.loads(line) for line in ran.stderr.splitlines()]
    assert [(r["event"], r["level"], r["logger"]) for r in records] == [
        ("first record", "warning", "temporalio.loud"),
        ("second", "info", "temporalio.loud"),
        ("third", "info", "engine"),
    ]
    assert records[2]["incident_id"] == "incident-X"
    assert all("timestamp" in record for record in records)
