"""One settings model, read from the environment, for every process of the engine."""

import logging
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.notify_settings import NotifyChannel, NotifySettings
from schemas.vocabulary import DELIVERY_ATTEMPT_TIMEOUT
from workers.errors import StartupError
from workers.keyring import KeyRing, KeyRingError
from workers.redaction import redact_url


class LogFormat(StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


# An HMAC key shorter than this is too easy to guess; receivers verify signatures with it.
NOTIFY_SECRET_MIN_LENGTH = 16
# A webhook request must end well inside its delivery attempt, or Temporal retries the attempt
# before the outcome is recorded on the outbox row.
NOTIFY_TIMEOUT_MAX_SECONDS = 90.0
# The codec server's bearer token guards decrypted payloads; a short one is too easy to guess.
CODEC_TOKEN_MIN_LENGTH = 16
# The SDK's own default number of concurrent long polls per task type (temporalio.worker.Worker's
# PollerBehaviorSimpleMaximum); kept here so that an unset variable changes nothing.
DEFAULT_POLLERS = 5
# The SDK's default is 10 s (Worker's sticky_queue_schedule_to_start_timeout). A live worker takes
# a task from its sticky queue within milliseconds, so a shorter wait costs nothing while every
# worker is up; when one is killed, each incident it had cached waits this long for its next task
# (docs/benchmark.md, (g)).
DEFAULT_STICKY_QUEUE_TIMEOUT_SECONDS = 3.0


class Settings(BaseSettings):
    """Configuration of the worker and the command line; each field is one environment variable."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    temporal_address: str = Field(
        default="localhost:7233", description="Temporal frontend address, host:port."
    )
    temporal_namespace: str = Field(default="default", description="Temporal namespace.")
    task_queue: str = Field(
        default="remediation", min_length=1, description="Task queue the worker polls."
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the case register. `remediation up` runs an embedded "
        "PostgreSQL when unset.",
    )
    temporal_tls: bool = Field(
        default=False, description="Connect to Temporal over TLS (implied by any TLS file or key)."
    )
    temporal_tls_ca_cert: Path | None = Field(
        default=None, description="CA certificate (PEM) to verify the Temporal server."
    )
    temporal_tls_client_cert: Path | None = Field(
        default=None, description="Client certificate (PEM) for mTLS."
    )
    temporal_tls_client_key: Path | None = Field(
        default=None, description="Client private key (PEM) for mTLS."
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Server name to verify, when it differs from the address host."
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="API key for Temporal Cloud or a secured cluster."
    )
    log_format: LogFormat = Field(
        default=LogFormat.AUTO,
        description="auto (readable on a terminal, JSON otherwise), json or console.",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=3600,
        description="On SIGTERM/SIGINT, how long in-flight activities may finish before they are "
        "cancelled and handed back to Temporal. Keep it a few seconds below the orchestrator's "
        "grace period (Kubernetes: terminationGracePeriodSeconds), or the process is killed "
        "before it has handed its activities back.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Apply pending register migrations when the worker starts. With false, a "
        "worker whose register is behind stays not ready and waits for `remediation db migrate`.",
    )
    worker_max_concurrent_activities: int = Field(
        default=100, ge=1, description="Activities this worker runs at once."
    )
    worker_max_concurrent_workflow_tasks: int = Field(
        default=100, ge=1, description="Workflow tasks this worker runs at once."
    )
    worker_max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Workflows kept in memory between tasks (0: every task replays the history).",
    )
    worker_max_concurrent_activity_polls: int = Field(
        default=DEFAULT_POLLERS,
        ge=1,
        description="Concurrent long polls for activity tasks.",
    )
    worker_max_concurrent_workflow_task_polls: int = Field(
        default=DEFAULT_POLLERS,
        ge=1,
        description="Concurrent long polls for workflow tasks.",
    )
    worker_sticky_queue_timeout_seconds: float = Field(
        default=DEFAULT_STICKY_QUEUE_TIMEOUT_SECONDS,
        gt=0,
        le=300,
        description="How long a workflow task waits on the queue of the worker that has the "
        "workflow cached before any worker may take it (replaying the history). A killed worker's "
        "incidents wait this long for their next task.",
    )
    health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the worker's /healthz (liveness) and /readyz (readiness) endpoints; "
        "none when unset.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the worker's Prometheus endpoint /metrics; none when unset.",
    )
    ops_bind_host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="Address the health and metrics endpoints listen on.",
    )
    data_dir: Path = Field(
        default=Path(".data"),
        validation_alias="REMEDIATION_DATA_DIR",
        description="Data directory of `remediation up` (Temporal SQLite file, PostgreSQL, logs).",
    )
    reports_dir: Path | None = Field(
        default=None,
        validation_alias="REMEDIATION_REPORTS_DIR",
        description="Where portfolio reports are written (default: `<data dir>/reports`).",
    )
    policy_file: Path | None = Field(
        default=None,
        validation_alias="REMEDIATION_POLICY_FILE",
        description="TOML file overlaying the default policy (deadlines, escalation contacts, "
        "limits) for new incidents; the defaults apply when unset.",
    )
    notify_channel: NotifyChannel = Field(
        default=NotifyChannel.LOG,
        description="How notifications are delivered: log (one structured log line each, no "
        "subject or body) or webhook (signed JSON POST to NOTIFY_WEBHOOK_URL).",
    )
    notify_webhook_url: str | None = Field(
        default=None,
        description="http(s) URL that receives notifications; required when NOTIFY_CHANNEL is "
        "webhook.",
    )
    notify_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC-SHA256 signature of every webhook body (at least "
        f"{NOTIFY_SECRET_MIN_LENGTH} characters); required when NOTIFY_CHANNEL is webhook.",
    )
    notify_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=NOTIFY_TIMEOUT_MAX_SECONDS,
        description="How long one webhook delivery may take before it counts as failed (at most "
        f"{NOTIFY_TIMEOUT_MAX_SECONDS:g}: each delivery attempt has "
        f"{DELIVERY_ATTEMPT_TIMEOUT.total_seconds():g} s in all).",
    )
    remediation_keys: SecretStr | None = Field(
        default=None,
        description='The key ring as JSON text: {"current": "<id>", "keys": {"<id>": "<base64 '
        'of 32 bytes>"}}. Encrypts every payload sent to Temporal.',
    )
    remediation_key_file: Path | None = Field(
        default=None,
        description="File holding the key ring JSON (instead of REMEDIATION_KEYS).",
    )
    codec_server_token: SecretStr | None = Field(
        default=None,
        description="Bearer token every codec server request must carry (at least "
        f"{CODEC_TOKEN_MIN_LENGTH} characters). `remediation up` generates one when unset.",
    )
    codec_server_port: int = Field(
        default=8234, ge=1, le=65535, description="Port of the codec server."
    )
    codec_cors_origin: str = Field(
        default="http://localhost:8233",
        description="The one browser origin (the Temporal Web UI) allowed to call the codec "
        "server.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in ("debug", "info", "warning", "error"):
            raise ValueError("must be one of debug, info, warning, error")
        return level

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value or None

    @field_validator("notify_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("remediation_keys")
    @classmethod
    def _key_ring_text(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                KeyRing.parse(value.get_secret_value())
            except KeyRingError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("remediation_key_file")
    @classmethod
    def _key_ring_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                KeyRing.parse(value.read_text(encoding="utf-8"))
            except OSError as error:
                raise ValueError(f"cannot read {value}: {error.strerror or error}") from None
            except UnicodeDecodeError:
                raise ValueError(f"{value} is not UTF-8 text") from None
            except KeyRingError as error:
                raise ValueError(f"{value}: {error}") from None
        return value

    @field_validator("codec_server_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < CODEC_TOKEN_MIN_LENGTH:
            raise ValueError(f"must be at least {CODEC_TOKEN_MIN_LENGTH} characters")
        return value

    @field_validator("codec_cors_origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError("must be an origin such as http://localhost:8233 (no path)")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _one_key_ring(self) -> "Settings":
        if self.remediation_keys is not None and self.remediation_key_file is not None:
            raise ValueError("set REMEDIATION_KEYS or REMEDIATION_KEY_FILE, not both")
        return self

    @model_validator(mode="after")
    def _webhook_configured(self) -> "Settings":
        if self.notify_channel is not NotifyChannel.WEBHOOK:
            return self
        missing = [
            name
            for name, value in (
                ("NOTIFY_WEBHOOK_URL", self.notify_webhook_url),
                ("NOTIFY_WEBHOOK_SECRET", self.notify_webhook_secret),
            )
            if value is None
        ]
        if missing:
            raise ValueError(f"NOTIFY_CHANNEL=webhook requires {' and '.join(missing)}")
        secret = self.notify_webhook_secret
        if secret is not None and len(secret.get_secret_value()) < NOTIFY_SECRET_MIN_LENGTH:
            raise ValueError(
                f"NOTIFY_WEBHOOK_SECRET must be at least {NOTIFY_SECRET_MIN_LENGTH} characters"
            )
        return self

    @model_validator(mode="after")
    def _client_cert_and_key_together(self) -> "Settings":
        if (self.temporal_tls_client_cert is None) != (self.temporal_tls_client_key is None):
            raise ValueError(
                "TEMPORAL_TLS_CLIENT_CERT and TEMPORAL_TLS_CLIENT_KEY must be set together"
            )
        for path in (
            self.temporal_tls_ca_cert,
            self.temporal_tls_client_cert,
            self.temporal_tls_client_key,
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    @model_validator(mode="after")
    def _sticky_polls(self) -> "Settings":
        # With a workflow cache the SDK splits workflow polls between the sticky and the normal
        # queue and refuses fewer than two (an error at worker start, far from the setting).
        if (
            self.worker_max_cached_workflows > 0
            and self.worker_max_concurrent_workflow_task_polls < 2
        ):
            raise ValueError(
                "WORKER_MAX_CONCURRENT_WORKFLOW_TASK_POLLS must be at least 2 unless "
                "WORKER_MAX_CACHED_WORKFLOWS is 0"
            )
        return self

    @model_validator(mode="after")
    def _ops_ports_differ(self) -> "Settings":
        if self.health_port is not None and self.health_port == self.metrics_port:
            raise ValueError("HEALTH_PORT and METRICS_PORT must differ")
        return self

    @property
    def uses_tls(self) -> bool:
        # A server name only means something to TLS: setting it alone must not leave the
        # connection in plain text with the name silently ignored.
        return (
            self.temporal_tls
            or self.temporal_api_key is not None
            or self.temporal_tls_ca_cert is not None
            or self.temporal_tls_client_cert is not None
            or self.temporal_tls_server_name is not None
        )

    @property
    def logging_level(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level.upper()]

    @property
    def effective_reports_dir(self) -> Path:
        return self.reports_dir or self.data_dir / "reports"

    def notify_settings(self) -> NotifySettings:
        """What the notification activity needs (injected into its `Notifier`)."""
        return NotifySettings(
            channel=self.notify_channel,
            webhook_url=self.notify_webhook_url,
            webhook_secret=self.notify_webhook_secret,
            timeout_seconds=self.notify_timeout_seconds,
        )

    def public_view(self) -> dict[str, Any]:
        """The effective configuration, secrets masked, for logs and `remediation config`."""
        secrets = {
            "temporal_api_key",
            "notify_webhook_secret",
            "remediation_keys",
            "codec_server_token",
        }
        view = self.model_dump(mode="json", exclude=secrets)
        view["database_url"] = redact_url(self.database_url) if self.database_url else None
        view["temporal_api_key"] = "***" if self.temporal_api_key else None
        view["notify_webhook_url"] = (
            redact_url(self.notify_webhook_url) if self.notify_webhook_url else None
        )
        view["notify_webhook_secret"] = "***" if self.notify_webhook_secret else None
        view["remediation_keys"] = "***" if self.remediation_keys else None
        view["codec_server_token"] = "***" if self.codec_server_token else None
        view["temporal_tls"] = self.uses_tls
        # Named as the environment variables are (their aliases), so the output can be acted on.
        for field in ("data_dir", "reports_dir", "policy_file"):
            view[f"remediation_{field}"] = view.pop(field)
        return view


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; turn validation errors into one readable StartupError."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"]).upper() or "configuration"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {message}" if item["loc"] else message)
        raise StartupError("invalid configuration: " + "; ".join(problems)) from None
