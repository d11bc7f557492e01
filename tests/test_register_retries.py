"""At-least-once delivery: an activity that wrote to the register and then failed is retried, and
the retry leaves exactly one row of the event and of each notification it queued, and sends none
of them again."""

import uuid
from datetime import timedelta

import asyncpg
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_register import CaseRegister
from activities.event_recording import EventRecorder
from activities.notifications import Notifier
from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.policy import Policy
from schemas.register import EventRecorded, EventWithNotifications
from tests.conftest import TEST_KEY_RING
from workers import incident_client as incidents
from workers.devstack import examples
from workers.settings import load_settings
from workers.worker import activities_for
from workflows.incident import IncidentWorkflow


async def test_a_register_write_retried_after_a_failure_leaves_one_row(
    temporal_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    settings = load_settings(task_queue="unused", database_url="postgresql://unused")
    recorder = EventRecorder(
        CaseRegister(register_pool, TEST_KEY_RING),
        Notifier(register_pool, settings.notify_settings()),
    )
    failed_after_write: list[int] = []

    # The acknowledgement notifies the reporter, so one activity records it and delivers that.
    @activity.defn(name="record_event_and_deliver")
    async def record_then_fail_once(write: EventWithNotifications) -> EventRecorded:
        recorded = await recorder.record_event_and_deliver(write)
        if write.event.kind == "acknowledge" and activity.info().attempt == 1:
            failed_after_write.append(write.event.sequence)
            raise RuntimeError("worker lost its connection after the commit")
        return recorded

    engine_activities = activities_for(register_pool, settings, Policy(), temporal_env.client)
    others = [a for a in engine_activities if a.__name__ != "record_event_and_deliver"]
    task_queue = f"retries-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[IncidentWorkflow],
        activities=[record_then_fail_once, *others],
        graceful_shutdown_timeout=timedelta(seconds=1),
    ):
        intake = Intake.model_validate(examples.intake())
        incident_id = await incidents.open_incident(
            temporal_env.client, intake, task_queue=task_queue
        )
        result = await incidents.decide(
            temporal_env.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
        )
    assert failed_after_write == [result.sequence]
    rows = await register_pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = $1 AND kind = 'acknowledge'",
        incident_id,
    )
    audit = await register_pool.fetchval(
        "SELECT count(*) FROM audit_trail WHERE incident_id = $1 AND action LIKE '%acknowledge'",
        incident_id,
    )
    notifications = await register_pool.fetch(
        "SELECT status, attempts FROM outbox WHERE incident_id = $1 AND sequence = $2",
        incident_id,
        result.sequence,
    )
    assert (rows, audit) == (1, 1)
    # Delivered by the first attempt; the retry found it delivered and sent nothing.
    assert [tuple(row) for row in notifications] == [("delivered", 1)]
