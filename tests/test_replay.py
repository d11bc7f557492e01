"""Replays committed histories of every path through the current workflow code.

A change to `IncidentWorkflow` that would break incidents already running (nondeterminism) fails
here. Regenerate the histories only for a deliberate, patched change:
`RECORD_HISTORIES=1 .venv/bin/pytest tests/test_incident_lifecycle.py`.
"""

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.incident import IncidentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
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


def test_a_history_is_committed_for_every_path() -> None:
    assert {path.stem for path in HISTORIES} >= PATHS


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
