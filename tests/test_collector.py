"""The worker process's collector tuning, checked in a fresh interpreter: it changes
process-wide state that the test process must not carry."""

import json
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

_REPORT = """
import gc, json
from workers.collector import tune_for_long_lived_worker
before = gc.get_threshold()
tune_for_long_lived_worker()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_the_worker_freezes_what_it_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _REPORT],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(done.stdout)
    assert report["after"] == report["before"]  # collected as often as before
    assert report["frozen"] > 1_000  # the imported modules' objects at least
