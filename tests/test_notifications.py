"""Delivery of outbox notifications against a real PostgreSQL and a real local HTTP receiver:
signed, recorded, retried by raising, never sent twice once delivered."""

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.case_register import CaseRegister
from activities.notifications import (
    DeliveryFailed,
    DeliveryResult,
    Notifier,
    NotifyChannel,
    NotifySettings,
    delivery_key,
    notifier_activities,
    sign,
    verify_signature,
)
from schemas.intake import Intake
from schemas.register import (
    DELIVERY_ATTEMPT_TIMEOUT,
    IncidentOpening,
    Notification,
    NotificationKey,
    NotificationKind,
)
from schemas.vocabulary import Severity
from tests.conftest import TEST_KEY_RING, Receiver, free_port
from workers.devstack import examples
from workers.errors import StartupError
from workers.settings import NOTIFY_TIMEOUT_MAX_SECONDS, Settings, load_settings

SECRET = "test-webhook-secret-0123456789"
SUBJECT = "Approval requested: action plan"
BODY = "An action plan awaits your approval in the case register."
CREATED = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


# --- Helpers --------------------------------------------------------------------------------


def _webhook_settings(url: str, **changes: Any) -> Settings:
    return load_settings(
        notify_channel="webhook",
        notify_webhook_url=url,
        notify_webhook_secret=SECRET,
        notify_timeout_seconds=5,
        **changes,
    )


async def opened_incident(pool: asyncpg.Pool) -> str:
    """A new incident in the register, owned by `case-owner-7`."""
    intake = Intake.model_validate(examples.intake())
    incident_id = f"incident-{uuid.uuid4().hex[:10]}"
    opening = IncidentOpening(
        incident_id=incident_id,
        intake=intake,
        opened_at=intake.received_at + timedelta(minutes=5),
        provisional_severity=Severity.HIGH,
        case_owner="case-owner-7",
        policy_version="2026.1",
    )
    await ActivityEnvironment().run(CaseRegister(pool, TEST_KEY_RING).open_incident, opening)
    return incident_id


async def _queued(
    pool: asyncpg.Pool,
    *,
    kind: NotificationKind = NotificationKind.APPROVAL_REQUESTED,
    recipient: str = "approver-2",
) -> NotificationKey:
    notification = Notification(
        incident_id=await opened_incident(pool),
        sequence=3,
        kind=kind,
        recipient=recipient,
        subject=SUBJECT,
        body=BODY,
        created_at=CREATED,
    )
    assert await ActivityEnvironment().run(
        CaseRegister(pool, TEST_KEY_RING).queue_notification, notification
    )
    return NotificationKey.of(notification)


async def _row(pool: asyncpg.Pool, key: NotificationKey) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT * FROM outbox WHERE incident_id = $1 AND sequence = $2 AND kind = $3 "
        "AND recipient = $4",
        key.incident_id,
        key.sequence,
        key.kind.value,
        key.recipient,
    )
    assert row is not None
    return row


async def _deliver(notifier: Notifier, key: NotificationKey) -> DeliveryResult:
    return await ActivityEnvironment().run(notifier.deliver_notification, key)


# --- The log channel ------------------------------------------------------------------------


async def test_log_channel_writes_one_line_without_subject_or_body(
    register_pool: asyncpg.Pool,
) -> None:
    key = await _queued(register_pool)
    notifier = Notifier(register_pool, load_settings().notify_settings())
    with capture_logs() as logs:
        result = await _deliver(notifier, key)
    assert result == DeliveryResult(
        delivered=True, channel=NotifyChannel.LOG, attempts=1, already_delivered=False
    )
    delivered = [entry for entry in logs if entry["event"] == "notification delivered"]
    assert len(delivered) == 1
    line = delivered[0]
    assert line["incident_id"] == key.incident_id and line["sequence"] == key.sequence
    assert line["kind"] == "approval_requested" and line["recipient"] == "approver-2"
    assert line["channel"] == "log"
    assert SUBJECT not in str(logs) and BODY not in str(logs)
    row = await _row(register_pool, key)
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert row["delivered_at"] is not None and row["last_error"] is None


# --- The webhook channel --------------------------------------------------------------------


async def test_webhook_posts_a_signed_notification(
    register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    key = await _queued(register_pool, kind=NotificationKind.ESCALATION, recipient="hr-lead")
    notifier = Notifier(register_pool, _webhook_settings(receiver.url).notify_settings())
    before = int(datetime.now(UTC).timestamp())
    with capture_logs() as logs:
        result = await _deliver(notifier, key)
    assert result == DeliveryResult(
        delivered=True, channel=NotifyChannel.WEBHOOK, attempts=1, already_delivered=False
    )
    [request] = receiver.requests
    assert request.path == "/hooks/remediation"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Remediation-Delivery") == f"{key.incident_id}:3:escalation:hr-lead"
    assert before - 1 <= int(request.header("X-Remediation-Timestamp")) <= before + 60
    signature = request.header("X-Remediation-Signature")
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET.encode(), request.body, signature)
    assert not verify_signature(b"another-secret-0123456789", request.body, signature)
    assert not verify_signature(SECRET.encode(), request.body + b" ", signature)
    row = await _row(register_pool, key)
    assert json.loads(request.body) == {
        "notification_id": row["notification_id"],
        "incident_id": key.incident_id,
        "sequence": 3,
        "kind": "escalation",
        "recipient": "hr-lead",
        "subject": SUBJECT,
        "body": BODY,
        "created_at": "2026-11-20T11:00:00+00:00",
    }
    assert row["status"] == "delivered" and row["attempts"] == 1 and row["last_error"] is None
    assert SUBJECT not in str(logs) and BODY not in str(logs) and SECRET not in str(logs)


async def test_a_failed_delivery_raises_is_recorded_and_the_retry_delivers(
    register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    key = await _queued(register_pool)
    notifier = Notifier(register_pool, _webhook_settings(receiver.url).notify_settings())
    receiver.fail_next(1)

    with pytest.raises(DeliveryFailed, match="503"):
        await _deliver(notifier, key)
    row = await _row(register_pool, key)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "503" in row["last_error"] and BODY not in row["last_error"]
    assert row["delivered_at"] is None

    result = await _deliver(notifier, key)
    assert result.delivered and not result.already_delivered and result.attempts == 2
    row = await _row(register_pool, key)
    assert row["status"] == "delivered" and row["attempts"] == 2
    assert row["last_error"] is None and row["delivered_at"] is not None
    assert len(receiver.requests) == 2
    # The same key both times, so the receiver can tell a retry from a new notification.
    assert len({request.header("X-Remediation-Delivery") for request in receiver.requests}) == 1


async def test_a_delivered_notification_is_never_sent_again(
    register_pool: asyncpg.Pool, receiver: Receiver
) -> None:
    key = await _queued(register_pool)
    notifier = Notifier(register_pool, _webhook_settings(receiver.url).notify_settings())
    await _deliver(notifier, key)
    delivered_at = (await _row(register_pool, key))["delivered_at"]

    again = await _deliver(notifier, key)
    assert again == DeliveryResult(
        delivered=True, channel=NotifyChannel.WEBHOOK, attempts=1, already_delivered=True
    )
    assert len(receiver.requests) == 1
    row = await _row(register_pool, key)
    assert row["attempts"] == 1 and row["delivered_at"] == delivered_at


async def test_an_unreachable_receiver_raises_and_is_recorded(
    register_pool: asyncpg.Pool,
) -> None:
    key = await _queued(register_pool)
    nobody = f"http://127.0.0.1:{free_port()}/hooks"
    notifier = Notifier(register_pool, _webhook_settings(nobody).notify_settings())
    with pytest.raises(DeliveryFailed, match="unreachable"):
        await _deliver(notifier, key)
    row = await _row(register_pool, key)
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "refused" in row["last_error"].lower()


async def test_a_redirect_is_a_failure(register_pool: asyncpg.Pool, receiver: Receiver) -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", receiver.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        key = await _queued(register_pool)
        url = f"http://127.0.0.1:{server.server_address[1]}/old"
        with pytest.raises(DeliveryFailed, match="307"):
            await _deliver(Notifier(register_pool, _webhook_settings(url).notify_settings()), key)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert receiver.requests == []
    assert (await _row(register_pool, key))["status"] == "failed"


async def test_a_notification_never_queued_is_not_retried(register_pool: asyncpg.Pool) -> None:
    key = NotificationKey(
        incident_id=f"incident-{uuid.uuid4().hex[:10]}",
        sequence=1,
        kind=NotificationKind.ESCALATION,
        recipient="case-owner-7",
    )
    with pytest.raises(ApplicationError) as raised:
        await _deliver(Notifier(register_pool, load_settings().notify_settings()), key)
    assert raised.value.type == "NotificationNotFound" and raised.value.non_retryable


def test_the_worker_registers_the_delivery(register_pool: asyncpg.Pool) -> None:
    notifier = Notifier(register_pool, load_settings().notify_settings())
    assert notifier_activities(notifier) == [notifier.deliver_notification]


# --- Signatures and keys --------------------------------------------------------------------


def test_signatures() -> None:
    body = b'{"kind":"escalation"}'
    header = sign(b"k" * 16, body)
    assert verify_signature(b"k" * 16, body, header)
    assert verify_signature(b"k" * 16, body, f"  {header} ")
    assert not verify_signature(b"k" * 16, body, header.removeprefix("sha256="))
    assert not verify_signature(b"k" * 16, body, "sha256=")
    assert not verify_signature(b"k" * 16, body, "sha256=é")


def test_delivery_key_cannot_be_ambiguous() -> None:
    key = NotificationKey(
        incident_id="a:b", sequence=2, kind=NotificationKind.ITEM_RETURNED, recipient="c\nd"
    )
    assert delivery_key(key) == "a%3Ab:2:item_returned:c%0Ad"


# --- Settings -------------------------------------------------------------------------------


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_CHANNEL", "webhook")
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", "https://hooks.example.org/remediation")
    monkeypatch.setenv("NOTIFY_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("NOTIFY_TIMEOUT_SECONDS", "2.5")
    settings = load_settings()
    assert settings.notify_channel is NotifyChannel.WEBHOOK
    assert settings.notify_webhook_url == "https://hooks.example.org/remediation"
    assert settings.notify_webhook_secret is not None
    assert settings.notify_webhook_secret.get_secret_value() == SECRET
    assert settings.notify_timeout_seconds == 2.5


def test_settings_default_to_the_log_channel() -> None:
    settings = load_settings()
    assert settings.notify_channel is NotifyChannel.LOG
    assert settings.notify_webhook_url is None and settings.notify_webhook_secret is None
    assert settings.notify_timeout_seconds == 10


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"notify_webhook_secret": SECRET},
            "NOTIFY_CHANNEL=webhook requires NOTIFY_WEBHOOK_URL",
        ),
        (
            {"notify_webhook_url": "https://hooks.example.org/x"},
            "NOTIFY_CHANNEL=webhook requires NOTIFY_WEBHOOK_SECRET",
        ),
        ({}, "requires NOTIFY_WEBHOOK_URL and NOTIFY_WEBHOOK_SECRET"),
        (
            {"notify_webhook_url": "https://hooks.example.org/x", "notify_webhook_secret": "short"},
            "NOTIFY_WEBHOOK_SECRET must be at least 16 characters",
        ),
        (
            {"notify_webhook_url": "ftp://hooks.example.org/x", "notify_webhook_secret": SECRET},
            "NOTIFY_WEBHOOK_URL: must be an http:// or https:// URL",
        ),
    ],
)
def test_an_incomplete_webhook_configuration_is_refused(
    changes: dict[str, str], message: str
) -> None:
    with pytest.raises(StartupError) as raised:
        load_settings(notify_channel="webhook", **changes)
    assert message in str(raised.value)
    assert SECRET not in str(raised.value)


def test_an_invalid_timeout_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_TIMEOUT_SECONDS", "0")
    with pytest.raises(StartupError, match="NOTIFY_TIMEOUT_SECONDS"):
        load_settings()


def test_a_webhook_timeout_must_end_inside_the_delivery_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Longer, and Temporal would retry the attempt while its request is still waiting.
    assert DELIVERY_ATTEMPT_TIMEOUT.total_seconds() > NOTIFY_TIMEOUT_MAX_SECONDS
    monkeypatch.setenv("NOTIFY_TIMEOUT_SECONDS", "120")
    with pytest.raises(StartupError, match="NOTIFY_TIMEOUT_SECONDS"):
        load_settings()


def test_public_view_masks_the_webhook_secret() -> None:
    settings = _webhook_settings("https://bot:p4ss@hooks.example.org/remediation")
    view = settings.public_view()
    assert SECRET not in json.dumps(view) and "p4ss" not in json.dumps(view)
    assert view["notify_webhook_secret"] == "***"
    assert view["notify_webhook_url"] == "https://bot:***@hooks.example.org/remediation"
    assert view["notify_channel"] == "webhook" and view["notify_timeout_seconds"] == 5
    assert load_settings().public_view()["notify_webhook_secret"] is None


def test_the_worker_injects_its_notification_settings_and_their_repr_hides_the_secret() -> None:
    injected = _webhook_settings("https://hooks.example.org/remediation").notify_settings()
    assert injected == NotifySettings(
        channel=NotifyChannel.WEBHOOK,
        webhook_url="https://hooks.example.org/remediation",
        webhook_secret=injected.webhook_secret,
        timeout_seconds=5,
    )
    assert injected.webhook_secret is not None
    assert injected.webhook_secret.get_secret_value() == SECRET
    assert SECRET not in repr(injected)
