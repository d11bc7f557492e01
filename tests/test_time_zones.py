"""The pure rule tests hold whatever the machine's time zone.

The engine keeps one clock, in UTC; a rule or an example payload that read the local date would
pass on a UTC machine and fail elsewhere, at some hours only. Each zone below is on a different
local date from UTC for part of the day (Los Angeles behind, Tokyo ahead), so the rule tests run
again in a subprocess under each (`make test`; `make check` runs them once, in the machine's
zone, and skips this).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The tests of the rules themselves: no server, no subprocess, a few seconds each run.
PURE_RULE_TESTS = [
    "tests/test_decision_rules.py",
    "tests/test_victim_rules.py",
    "tests/test_escalation.py",
    "tests/test_severity.py",
]


@pytest.mark.repeat
@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Tokyo"])
def test_the_rule_tests_pass_in_another_time_zone(zone: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", *PURE_RULE_TESTS, "-q", "-p", "no:cacheprovider"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "TZ": zone},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert ran.returncode == 0, f"under TZ={zone}:\n{ran.stdout[-4000:]}\n{ran.stderr[-2000:]}"
