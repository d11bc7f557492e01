"""Measurement (e) of the benchmark (`make bench`): replaying the committed workflow histories.

Every `tests/histories/<version>/<path>.json` is replayed through the current workflow code with
the engine's workflows and the worker's sandbox settings, as tests/test_replay.py does; the time
of each `replay_workflow` call is measured (reading and parsing the JSON file is not). One
replay runs first, untimed, so the figures are not the one-off cost of loading the workflow code
into the sandbox.
"""

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.encryption import encrypted_data_converter
from workers.keyring import KeyRing
from workers.worker import SHARED_WORKFLOW_MODULES, WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "tests" / "histories"


def history_key_ring() -> KeyRing:
    """The fixed key ring the committed histories were recorded under: `TEST_KEY_RING` of
    tests/conftest.py (public test keys, derived from their names; never a real key)."""
    return KeyRing(
        "test-2",
        {
            name: hashlib.sha256(f"remediation {name}".encode()).digest()
            for name in ("test-1", "test-2")
        },
    )


@dataclass(frozen=True)
class ReplayResult:
    seconds: dict[str, float]  # "<version>/<path>": seconds
    failures: dict[str, str]

    @property
    def mean_ms(self) -> float:
        return 1000 * sum(self.seconds.values()) / len(self.seconds)

    @property
    def max_ms(self) -> float:
        return 1000 * max(self.seconds.values())

    @property
    def slowest(self) -> str:
        return max(self.seconds, key=lambda name: self.seconds[name])


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(
        f"replay-{path.parent.name}-{path.stem}", path.read_text(encoding="utf-8")
    )


def history_files(directory: Path = HISTORIES) -> list[Path]:
    return sorted(directory.rglob("*.json"))


async def measure_replay(directory: Path = HISTORIES) -> ReplayResult:
    """(e): see the module's docstring."""
    paths = history_files(directory)
    if not paths:
        raise FileNotFoundError(f"no histories under {directory}")
    # The worker's sandbox settings (the engine's workflow modules shared, not imported into
    # each workflow's sandbox), so the figure is what a worker pays to replay an evicted incident.
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=encrypted_data_converter(history_key_ring()),
        workflow_runner=SHARED_WORKFLOW_MODULES,
    )
    await replayer.replay_workflow(_load(paths[0]), raise_on_replay_failure=False)
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}
    for path in paths:
        name = f"{path.parent.name}/{path.stem}"
        history = _load(path)
        began = time.perf_counter()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        seconds[name] = time.perf_counter() - began
        if result.replay_failure is not None:
            failures[name] = type(result.replay_failure).__name__
    return ReplayResult(seconds, failures)
