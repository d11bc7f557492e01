"""How a worker delivers notifications: its channel and webhook settings.

A module of its own so that the settings (workers/settings.py), which every command reads, do not
import the notification activity with Temporal's SDK, asyncpg and structlog.
"""

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import SecretStr


class NotifyChannel(StrEnum):
    """How queued notifications leave the outbox."""

    LOG = "log"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class NotifySettings:
    """How this worker delivers notifications.

    The worker builds it from its settings (NOTIFY_*, checked there: workers/settings.py) and
    passes it to the `Notifier`; activities never read the environment.
    """

    channel: NotifyChannel = NotifyChannel.LOG
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0
