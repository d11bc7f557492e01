"""Replays committed histories of every path through the current workflow code.

A change to `IncidentWorkflow` that would break incidents already running (nondeterminism) fails
here. Each folder of tests/histories/ holds the paths as one version of the workflow ran them;
never edit or delete a folder. After a change that is patched (`workflow.patched`), record the
new version's histories into a new folder:
`RECORD_HISTORIES=<folder> .venv/bin/pytest tests/test_incident_lifecycle.py
tests/test_victim_protection.py tests/test_deadline_reminders.py`.
"""

import asyncio
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from tests.conftest import TEST_DATA_CONVERTER
from workers.worker import SHARED_WORKFLOW_MODULES, WORKFLOWS
from workflows.patches import DELIVER_ON_RECORD, ONE_REGISTER_WRITE

ROOT = Path(__file__).parent / "histories"
HISTORIES = sorted(ROOT.rglob("*.json"))
VERSIONS = sorted(path for path in ROOT.iterdir() if path.is_dir())
PATHS = {
    "happy_path",
    "not_substantiated",
    "no_link",
    "inconclusive_rounds",
    "plan_rejected_then_approved",
    "plan_amended",
    "closed_early",
    "imminent_danger",
}


@pytest.mark.parametrize("version", VERSIONS, ids=[path.name for path in VERSIONS])
def test_every_version_has_a_history_for_every_path(version: Path) -> None:
    assert {path.stem for path in version.glob("*.json")} >= PATHS


@pytest.mark.parametrize(
    "path", HISTORIES, ids=[f"{path.parent.name}/{path.stem}" for path in HISTORIES]
)
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.parent.name}-{path.stem}", text)
    # The suite's encrypting converter: histories recorded before encryption hold plain payloads,
    # which it passes through; those recorded since are sealed with the test key ring. The
    # worker's sandbox too, with the engine's workflow modules shared, as the worker runs them.
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=TEST_DATA_CONVERTER,
        workflow_runner=SHARED_WORKFLOW_MODULES,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


@pytest.mark.parametrize(
    ("patch_id", "before"),
    [
        # Incidents started before `one-register-write` queued each notification with an
        # activity of its own.
        (ONE_REGISTER_WRITE, "deadline-reminders"),
        # Incidents started before `deliver-on-record` delivered every notification with an
        # activity of its own.
        (DELIVER_ON_RECORD, "awaiting-attributes"),
    ],
)
async def test_a_change_in_how_events_are_written_needs_its_patch(
    patch_id: str, before: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change with its patch check left out would fail every incident started before it on
    its next replay."""
    patched = workflow.patched

    def taken_everywhere(asked: str) -> bool:
        return True if asked == patch_id else patched(asked)

    # Unsandboxed, so that the workflow code sees the stand-in for workflow.patched.
    monkeypatch.setattr(workflow, "patched", taken_everywhere)
    history = WorkflowHistory.from_json(
        f"before-{patch_id}", (ROOT / before / "happy_path.json").read_text()
    )
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=TEST_DATA_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
