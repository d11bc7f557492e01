"""An event recorded with the first delivery of its notifications, in one activity: against a real
PostgreSQL and a real local HTTP receiver, then through a real worker on the dev server."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import notifications
from activities.case_register import CaseRegister
from activities.event_recording import EventRecorder, event_recording_activities
from activities.notifications import Notifier, NotifyChannel
from schemas.actor import Actor, Role
from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.policy import Policy
from schemas.register import (
    EventOutcome,
    EventRecorded,
    EventWithNotifications,
    IncidentSnapshot,
    Notification,
    NotificationKey,
    NotificationKind,
    RegisterEvent,
)
from schemas.vocabulary import CaseStatus, Severity, Step
from tests.conftest import TEST_KEY_RING, Receiver, free_port
from tests.test_notifications import opened_incident
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples
from workers.settings import load_settings
from workers.worker import build_worker

SECRET = "test-webhook-secret-0123456789"
OCCURRED = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
# The owner `opened_incident` gives the incident.
OWNER = Actor(id="case-owner-7", roles=[Role.CASE_OWNER])


def _recorder(pool: asyncpg.Pool, url: str) -> EventRecorder:
    settings = load_settings(
        notify_channel="webhook",
        notify_webhook_url=url,
        notify_webhook_secret=SECRET,
        notify_timeout_seconds=5,
    )
    return EventRecorder(
        CaseRegister(pool, TEST_KEY_RING), Notifier(pool, settings.notify_settings())
    )


async def _write(pool: asyncpg.Pool, recipients: list[str]) -> EventWithNotifications:
    """An acknowledgement of a newly opened incident, notifying each of `recipients`."""
    incident_id = await opened_incident(pool)
    event = RegisterEvent(
        incident_id=incident_id,
        sequence=1,
        kind="acknowledge",
        outcome=EventOutcome.ACCEPTED,
        actor=OWNER,
        occurred_at=OCCURRED,
        reason=None,
        summary="acknowledge accepted",
        payload={"kind": "acknowledge"},
        snapshot=IncidentSnapshot(
            step=Step.VERIFICATION,
            case_status=CaseStatus.ACTIVE,
            severity=Severity.HIGH,
            response_level=None,
            relationship=None,
            case_owner=OWNER.id,
        ),
    )
    return EventWithNotifications(
        event=event,
        notifications=[
            Notification(
                incident_id=incident_id,
                sequence=1,
                kind=NotificationKind.REPORTER_ACKNOWLEDGED,
                recipient=recipient,
                subject="Your report was received",
                body="We received your report and have opened a case.",
                created_at=OCCURRED,
            )
            for recipient in recipients
        ],
    )


def _keys(write: EventWithNotifications) -> list[NotificationKey]:
    return [NotificationKey.of(notification) for notification in write.notifications]


async def _outbox(pool: asyncpg.Pool, incident_id: str) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(
        "SELECT recipient, status, attempts, last_error IS NOT NULL AS failed_before "
        "FROM outbox WHERE incident_id = $1 ORDER BY notification_id",
        incident_id,
    )
    return [tuple(row) for row in rows]


async def _events(pool: asyncpg.Pool, incident_id: str) -> int:
    count = await pool.fetchval(
        "SELECT count(*) FROM incident_events WHERE incident_id = $1", incident_id
    )
    return int(count)


# --- The activity ---------------------------------------------------------------------------


async def test_the_event_is_recorded_and_its_notifications_delivered_by_one_call(
    register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    write = await _write(register_pool, ["reporter", OWNER.id])
    recorder = _recorder(register_pool, receiver.url)

    recorded = await ActivityEnvironment().run(recorder.record_event_and_deliver, write)

    assert recorded == EventRecorded(stored=True, undelivered=[])
    incident_id = write.event.incident_id
    assert await _events(register_pool, incident_id) == 1
    assert await _outbox(register_pool, incident_id) == [
        ("reporter", "delivered", 1, False),
        (OWNER.id, "delivered", 1, False),
    ]
    assert len(receiver.requests) == 2


async def test_a_retried_call_writes_and_sends_nothing_again(
    register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    write = await _write(register_pool, ["reporter"])
    recorder = _recorder(register_pool, receiver.url)
    await ActivityEnvironment().run(recorder.record_event_and_deliver, write)

    again = await ActivityEnvironment().run(recorder.record_event_and_deliver, write)

    assert again == EventRecorded(stored=False, undelivered=[])
    incident_id = write.event.incident_id
    assert await _events(register_pool, incident_id) == 1
    assert await _outbox(register_pool, incident_id) == [("reporter", "delivered", 1, False)]
    assert len(receiver.requests) == 1


async def test_what_the_channel_refuses_is_left_for_the_background_delivery(
    register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    write = await _write(register_pool, ["reporter", OWNER.id])
    recorder = _recorder(register_pool, receiver.url)
    receiver.fail_next(1)  # the first notification's first attempt

    recorded = await ActivityEnvironment().run(recorder.record_event_and_deliver, write)

    first, _ = _keys(write)
    assert recorded == EventRecorded(stored=True, undelivered=[first])
    incident_id = write.event.incident_id
    assert await _outbox(register_pool, incident_id) == [
        ("reporter", "failed", 1, True),
        (OWNER.id, "delivered", 1, False),
    ]
    # The delivery the workflow then schedules takes it from there.
    notifier = Notifier(register_pool, load_settings().notify_settings())
    delivered = await ActivityEnvironment().run(notifier.deliver_notification, first)
    assert delivered.delivered and delivered.attempts == 2


async def test_an_unreachable_channel_does_not_fail_the_recording(
    register_pool: asyncpg.Pool,
) -> None:
    write = await _write(register_pool, ["reporter", OWNER.id])
    recorder = _recorder(register_pool, f"http://127.0.0.1:{free_port()}/hooks")

    recorded = await ActivityEnvironment().run(recorder.record_event_and_deliver, write)

    assert recorded == EventRecorded(stored=True, undelivered=_keys(write))
    incident_id = write.event.incident_id
    assert await _events(register_pool, incident_id) == 1
    assert await _outbox(register_pool, incident_id) == [
        ("reporter", "failed", 1, True),
        (OWNER.id, "failed", 1, True),
    ]


@pytest.fixture
def stalled_receiver() -> Iterator[str]:
    """A webhook that takes two seconds to answer."""

    class Stalled(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(2)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stalled)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_a_channel_slower_than_the_first_attempts_time_is_left_for_later(
    register_pool: asyncpg.Pool, stalled_receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notifications, "FIRST_ATTEMPT_BUDGET_SECONDS", 0.3)
    write = await _write(register_pool, ["reporter", OWNER.id])
    recorder = _recorder(register_pool, stalled_receiver)

    recorded = await ActivityEnvironment().run(recorder.record_event_and_deliver, write)

    # The first attempt gave up when the time was spent; the second was not made at all.
    assert recorded == EventRecorded(stored=True, undelivered=_keys(write))
    row = await register_pool.fetchrow(
        "SELECT status, attempts, last_error FROM outbox WHERE incident_id = $1 "
        "AND recipient = 'reporter'",
        write.event.incident_id,
    )
    assert row is not None
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "timed out" in row["last_error"]
    assert await _outbox(register_pool, write.event.incident_id) == [
        ("reporter", "failed", 1, True),
        (OWNER.id, "queued", 0, False),
    ]


def test_the_worker_registers_the_recording(register_pool: asyncpg.Pool) -> None:
    recorder = _recorder(register_pool, "http://127.0.0.1:9/hooks")
    assert event_recording_activities(recorder) == [recorder.record_event_and_deliver]


# --- Through the workflow -------------------------------------------------------------------


async def _activity_types(env: WorkflowEnvironment, incident_id: str) -> list[str]:
    history = await env.client.get_workflow_handle(incident_id).fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def test_a_decision_that_notifies_costs_one_activity_when_the_channel_takes_it(
    temporal_env: WorkflowEnvironment, register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    """The acknowledgement notifies the reporter: recorded and delivered by one activity. When
    the channel refuses the first attempt, the workflow delivers it in the background."""
    task_queue = f"recording-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        task_queue=task_queue,
        database_url="postgresql://unused",
        notify_channel=NotifyChannel.WEBHOOK,
        notify_webhook_url=receiver.url,
        notify_webhook_secret=SecretStr(SECRET),
    )
    client = temporal_env.client
    async with build_worker(client, settings, register_pool, policy=Policy()):
        taken = await incidents.open_incident(
            client, Intake.model_validate(examples.intake()), task_queue=task_queue
        )
        await incidents.decide(client, taken, DecisionKind.ACKNOWLEDGE, examples.acknowledge())
        receiver.fail_next(1)
        refused = await incidents.open_incident(
            client, Intake.model_validate(examples.intake()), task_queue=task_queue
        )
        await incidents.decide(client, refused, DecisionKind.ACKNOWLEDGE, examples.acknowledge())

        async def all_delivered() -> bool:
            statuses = await register_pool.fetch(
                "SELECT status FROM outbox WHERE incident_id = ANY($1)", [taken, refused]
            )
            return bool(statuses) and all(row["status"] == "delivered" for row in statuses)

        await eventually(all_delivered, "every notification delivered", timeout=30)
        taken_types = await _activity_types(temporal_env, taken)
        refused_types = await _activity_types(temporal_env, refused)

    assert "deliver_notification" not in taken_types
    assert taken_types.count("record_event_and_deliver") == len(await _outbox(register_pool, taken))
    # The opening's notification (to the case owners) met the refusal; only it is delivered
    # again, by an activity of its own.
    assert refused_types.count("deliver_notification") == 1
    assert [row[2] for row in await _outbox(register_pool, refused)] == [2, 1]
