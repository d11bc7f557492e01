"""Measurement (a) compares an incident's intake with the benchmark's bare workflow: the two must
keep the same shape in Temporal (activities, timers, upserts, patch markers, workflow tasks), or
the ratio compares different things. A change to the incident's intake fails here until the bare
workflow follows it (benchmarks/workflow.py).

Measurement (h) times the inbox over incidents assigned at intake to the benchmark's case owners,
which (d) then takes into step 4: each must be in its owner's inbox, and take its owner's
decisions."""

import asyncio
import random
import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from benchmarks.inbox import stage_approvals
from benchmarks.load import (
    OpenIncident,
    Portfolio,
    benchmark_intake,
    case_owner,
    history_shape,
    start_bare,
    take_next_decision,
)
from benchmarks.workflow import BARE_ID_PREFIX, BareIntakeWorkflow, benchmark_noop
from schemas.incident import incident_id_for
from tests.conftest import Engine
from tests.waiting import eventually
from workers import inbox
from workers import incident_client as incidents

SETTLE_SECONDS = 30


async def test_the_bare_workflow_has_the_shape_of_an_incident_intake(
    temporal_env: WorkflowEnvironment, engine: Engine
) -> None:
    number = random.randrange(100_000, 1_000_000)
    intake = benchmark_intake(number)
    client = temporal_env.client
    incident_id = await incidents.open_incident(client, intake, task_queue=engine.task_queue)
    assert incident_id == incident_id_for(intake.external_reference)
    bare_queue = f"bare-{uuid.uuid4().hex[:8]}"
    bare_id = f"{BARE_ID_PREFIX}{number:06d}"
    async with Worker(
        client,
        task_queue=bare_queue,
        workflows=[BareIntakeWorkflow],
        activities=[benchmark_noop],
        graceful_shutdown_timeout=timedelta(seconds=1),
    ):
        await start_bare(client, bare_queue, number, intake)
        try:
            # Both end their intake waiting at a timer days away; their shapes then stay put.
            shapes: tuple[dict[str, int], dict[str, int]] = ({}, {})

            async def alike() -> bool:
                nonlocal shapes
                shapes = await asyncio.gather(
                    history_shape(client, incident_id), history_shape(client, bare_id)
                )
                return shapes[0] == shapes[1] and shapes[0]["timers"] == 1

            await eventually(
                alike,
                lambda: f"the incident's and the bare workflow's shapes alike: {shapes}",
                timeout=SETTLE_SECONDS,
                interval=0.1,
            )
            incident = shapes[0]
            assert incident["activities"] >= 3 and incident["timers"] == 1
        finally:
            await client.get_workflow_handle(bare_id).signal(BareIntakeWorkflow.finish)


async def test_an_incident_of_the_inbox_measurement_awaits_its_owner_and_takes_their_decisions(
    temporal_env: WorkflowEnvironment, engine: Engine
) -> None:
    client = temporal_env.client
    number = random.randrange(100_000, 1_000_000)
    owner = case_owner(number)
    intake = benchmark_intake(number, owner)
    incident_id = await incidents.open_incident(client, intake, task_queue=engine.task_queue)
    assigned = OpenIncident(incident_id, owner=owner)
    portfolio = Portfolio(incidents=[assigned])

    async def in_the_owners_inbox() -> list[inbox.InboxRow] | None:
        found = await inbox.read(client.workflow_service, client.namespace, owner, set())
        return [row for row in found.rows if row.incident_id == incident_id] or None

    [row] = await eventually(in_the_owners_inbox, "the incident in its owner's inbox")
    assert (row.item.kind, row.item.awaited_from, row.case_owner) == ("acknowledge", owner, owner)

    # (h) brings it to await an approval with its owner's decisions, as (d) then goes on.
    await stage_approvals(client, engine.task_queue, portfolio, 1, lambda line: None)
    assert assigned.stage == 3 and assigned.approval_id is not None
    assert portfolio.proposed_level is not None

    async def awaiting_an_approver() -> list[inbox.InboxRow] | None:
        found = await inbox.read(
            client.workflow_service, client.namespace, "approver.sofia", {"approver"}
        )
        return [row for row in found.rows if row.incident_id == incident_id] or None

    [approval] = await eventually(awaiting_an_approver, "the approval in an approver's inbox")
    assert approval.item.not_from == owner
    assert not [
        row
        for row in (await inbox.read(client.workflow_service, client.namespace, owner, set())).rows
        if row.incident_id == incident_id
    ]
    assert await take_next_decision(client, assigned, portfolio) == "approve"
