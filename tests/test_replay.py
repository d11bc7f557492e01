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
from workflows.patches import ONE_REGISTER_WRITE as ONE_REGISTER_WRITE_PATCH

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


async def test_writing_an_event_with_its_notifications_needs_its_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Incidents started before `one-register-write` queued each notification with an
    activity of its own: the change with its patch check left out would fail every one of them
    on their next replay."""
    patched = workflow.patched

    def one_write_everywhere(patch_id: str) -> bool:
        return True if patch_id == ONE_REGISTER_WRITE_PATCH else patched(patch_id)

    # Unsandboxed, so that the workflow code sees the stand-in for workflow.patched.
    monkeypatch.setattr(workflow, "patched", one_write_everywhere)
    before = ROOT / "deadline-reminders" / "happy_path.json"
    history = WorkflowHistory.from_json("before-one-write", before.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=TEST_DATA_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
