"""Delivery of the notifications the workflow queued in the outbox.

Who is told what: docs/design.md, Escalation ladder.

The register writes a notification once, with the event that caused it
(activities/case_register.py). The first attempt to send it is made by the activity that recorded
the event (`deliver_first`, activities/event_recording.py); what that attempt did not deliver, the
`deliver_notification` activity here sends with retries. Both send through the configured channel
and record the outcome on the outbox row:

    queued --> sending --> delivered
                  |  ^
                  v  |
                 failed   (the activity raises; Temporal retries it with the workflow's policy)

Temporal delivers every activity at least once, and a worker can die between sending and
recording, so a notification may reach the receiver more than once. A row already `delivered` is
never sent again; beyond that, receivers deduplicate on the notification's key, which every
webhook carries in the `X-Remediation-Delivery` header and in its (signed) body.

Channels:

- log: one structured log line per notification, with ids, kind and recipient only;
- webhook: a JSON POST of the notification, signed with HMAC-SHA256 of the exact body bytes
  (`X-Remediation-Signature: sha256=<hex>`); any 2xx answer is success. Redirects are not
  followed. Receivers check the signature with `verify_signature`.

Notifications never carry victims' data, but subjects and bodies are still never logged and never
written to `last_error`.
"""

import asyncio
import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
import structlog
from pydantic import Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

# How notifications are sent is settings (workers/settings.py reads it without this module's SDK
# and driver imports); re-exported here, where it is used.
from activities.notify_settings import NotifyChannel as NotifyChannel
from activities.notify_settings import NotifySettings as NotifySettings
from schemas.common import Contract
from schemas.register import NotificationKey
from workflows.metrics import NOTIFICATIONS_FAILED

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Remediation-Signature"
DELIVERY_HEADER = "X-Remediation-Delivery"
TIMESTAMP_HEADER = "X-Remediation-Timestamp"
_SIGNATURE_PREFIX = "sha256="
_USER_AGENT = "remediation-engine"
# last_error is for operators: short, and never the notification's subject or body.
_ERROR_MAX = 300
# The decision that caused a notification waits for the activity recording it, which makes the
# first delivery attempt (activities/event_recording.py): a channel that does not answer within
# this, all notifications of the event together, holds the decision up no longer, and what it did
# not take is delivered in the background with retries.
FIRST_ATTEMPT_BUDGET_SECONDS = 1.5


class DeliveryResult(Contract):
    """What `deliver_notification` did."""

    delivered: bool = Field(description="Whether the notification has been delivered.")
    channel: NotifyChannel = Field(
        description="Channel of this worker (the outbox does not record which channel an "
        "earlier delivery used)."
    )
    attempts: int = Field(ge=0, description="Delivery attempts recorded on the outbox row.")
    already_delivered: bool = Field(
        description="True when an earlier attempt had delivered it and nothing was sent now."
    )


class DeliveryFailed(Exception):
    """One delivery attempt failed; the message is short and holds no subject or body.

    A plain (retryable) exception: Temporal retries the activity with the workflow's policy.
    """


def delivery_key(key: NotificationKey) -> str:
    """`<incident_id>:<sequence>:<kind>:<recipient>`, each part percent-encoded (so no part can
    contain ':' and the header stays ASCII): the receiver's idempotency key."""
    parts = (key.incident_id, str(key.sequence), key.kind.value, key.recipient)
    return ":".join(quote(part, safe="") for part in parts)


def sign(secret: bytes, body: bytes) -> str:
    """The `X-Remediation-Signature` value of a body: `sha256=<hex HMAC-SHA256>`."""
    return _SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """Whether `header` is the signature of the exact `body` bytes with `secret`.

    The comparison takes the same time wherever the first difference is.
    """
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


# --- SQL ------------------------------------------------------------------------------------

# The row is locked while it is claimed, so two deliveries of the same key count two attempts.
_LOAD_FOR_UPDATE = """
SELECT notification_id, status, attempts, subject, body, created_at
FROM outbox
WHERE incident_id = $1 AND sequence = $2 AND kind = $3 AND recipient = $4
FOR UPDATE
"""

_CLAIM = """
UPDATE outbox SET status = 'sending', attempts = attempts + 1
WHERE notification_id = $1
RETURNING attempts
"""

# A delivery that raced with this one and already succeeded keeps its first delivered_at.
_MARK_DELIVERED = """
UPDATE outbox
SET status = 'delivered', delivered_at = coalesce(delivered_at, clock_timestamp()),
    last_error = NULL
WHERE notification_id = $1
"""

# A failure never overwrites a success recorded meanwhile by a concurrent delivery.
_MARK_FAILED = """
UPDATE outbox SET status = 'failed', last_error = $2
WHERE notification_id = $1 AND status <> 'delivered'
"""


# --- Delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outgoing:
    """A claimed outbox row on its way out."""

    notification_id: int
    key: NotificationKey
    subject: str
    body: str
    created_at: datetime
    attempt: int


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET to another address; it counts as a failure."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> None:
        return None


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _ERROR_MAX else message[: _ERROR_MAX - 1] + "…"


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST synchronously (run in a thread); the 2xx status, or DeliveryFailed."""
    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=timeout) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        raise DeliveryFailed(_short(f"webhook answered HTTP {error.code} {error.reason}")) from None
    except urllib.error.URLError as error:
        raise DeliveryFailed(_short(f"webhook unreachable: {error.reason}")) from None
    except TimeoutError:
        raise DeliveryFailed(f"webhook timed out after {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryFailed(_short(f"webhook failed: {type(error).__name__}: {error}")) from None
    if not 200 <= status < 300:
        raise DeliveryFailed(f"webhook answered HTTP {status}")
    return status


class Notifier:
    """Delivers outbox notifications; the pool and settings are injected by the worker."""

    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="deliver_notification")
    async def deliver_notification(self, key: NotificationKey) -> DeliveryResult:
        """Send the queued notification once it is in the outbox; idempotent once delivered.

        Raises NotificationNotFound (non-retryable) when no such notification was queued, and
        DeliveryFailed (retryable) when the channel did not take it; the row then says 'failed'
        with the reason in last_error.
        """
        return await self._attempt(key, self._settings.timeout_seconds)

    async def deliver_first(self, keys: list[NotificationKey]) -> list[NotificationKey]:
        """One attempt at each of the notifications an event has just queued, all within
        FIRST_ATTEMPT_BUDGET_SECONDS; returns the keys not delivered, in order.

        Never raises for a notification it could not deliver: the attempt is recorded on its row
        (status, attempts, last_error), counted and logged like any other, and the workflow then
        delivers it in the background with retries.
        """
        deadline = time.monotonic() + FIRST_ATTEMPT_BUDGET_SECONDS
        undelivered: list[NotificationKey] = []
        for key in keys:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                undelivered.append(key)
                continue
            try:
                await self._attempt(key, min(self._settings.timeout_seconds, remaining))
            except Exception:  # already recorded on the row, counted and logged by _attempt
                undelivered.append(key)
        return undelivered

    async def _attempt(self, key: NotificationKey, timeout_seconds: float) -> DeliveryResult:
        channel = self._settings.channel
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                _LOAD_FOR_UPDATE, key.incident_id, key.sequence, key.kind.value, key.recipient
            )
            if row is None:
                raise ApplicationError(
                    f"notification {delivery_key(key)} is not in the outbox; "
                    "queue_notification must run first",
                    type="NotificationNotFound",
                    non_retryable=True,
                )
            if row["status"] == "delivered":
                log.info(
                    "notification already delivered",
                    notification_id=row["notification_id"],
                    incident_id=key.incident_id,
                    sequence=key.sequence,
                    kind=key.kind.value,
                )
                return DeliveryResult(
                    delivered=True,
                    channel=channel,
                    attempts=row["attempts"],
                    already_delivered=True,
                )
            attempt = await connection.fetchval(_CLAIM, row["notification_id"])
        outgoing = _Outgoing(
            notification_id=row["notification_id"],
            key=key,
            subject=row["subject"],
            body=row["body"],
            created_at=row["created_at"],
            attempt=attempt,
        )
        try:
            await self._send(outgoing, timeout_seconds)
        except Exception as error:
            reason = (
                str(error)
                if isinstance(error, DeliveryFailed)
                else _short(f"{type(error).__name__}: {error}")
            )
            await self._pool.execute(_MARK_FAILED, outgoing.notification_id, reason)
            # Every failed attempt counts, retries included: the rate is what an alert watches.
            activity.metric_meter().create_counter(
                NOTIFICATIONS_FAILED, "Notification delivery attempts that failed, by channel."
            ).add(1, {"channel": channel.value})
            log.warning(
                "notification delivery failed",
                notification_id=outgoing.notification_id,
                incident_id=key.incident_id,
                sequence=key.sequence,
                kind=key.kind.value,
                channel=channel.value,
                attempt=attempt,
                error=reason,
            )
            raise
        await self._pool.execute(_MARK_DELIVERED, outgoing.notification_id)
        return DeliveryResult(
            delivered=True, channel=channel, attempts=attempt, already_delivered=False
        )

    async def _send(self, outgoing: _Outgoing, timeout_seconds: float) -> None:
        if self._settings.channel is NotifyChannel.WEBHOOK:
            status = await self._post_webhook(outgoing, timeout_seconds)
            extra: dict[str, Any] = {"http_status": status}
        else:
            extra = {}
        # For the log channel this line is the delivery itself.
        log.info(
            "notification delivered",
            notification_id=outgoing.notification_id,
            incident_id=outgoing.key.incident_id,
            sequence=outgoing.key.sequence,
            kind=outgoing.key.kind.value,
            recipient=outgoing.key.recipient,
            channel=self._settings.channel.value,
            attempt=outgoing.attempt,
            **extra,
        )

    async def _post_webhook(self, outgoing: _Outgoing, timeout_seconds: float) -> int:
        settings = self._settings
        url, secret = settings.webhook_url, settings.webhook_secret
        if url is None or secret is None:  # Settings refuses this; a guard for hand-built ones.
            raise DeliveryFailed("webhook channel without NOTIFY_WEBHOOK_URL or secret")
        key = outgoing.key
        body = json.dumps(
            {
                "notification_id": outgoing.notification_id,
                "incident_id": key.incident_id,
                "sequence": key.sequence,
                "kind": key.kind.value,
                "recipient": key.recipient,
                "subject": outgoing.subject,
                "body": outgoing.body,
                "created_at": outgoing.created_at.astimezone(UTC).isoformat(),
            },
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            DELIVERY_HEADER: delivery_key(key),
            SIGNATURE_HEADER: sign(secret.get_secret_value().encode("utf-8"), body),
            TIMESTAMP_HEADER: str(int(time.time())),
        }
        return await asyncio.to_thread(_post, url, body, headers, timeout_seconds)


def notifier_activities(notifier: Notifier) -> list[Callable[..., Any]]:
    """The activities to register on the worker."""
    return [notifier.deliver_notification]
