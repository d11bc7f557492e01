"""The settings model: environment in, effective configuration out, secrets never shown."""

import re
from pathlib import Path

import pytest

from workers.errors import StartupError
from workers.settings import LogFormat, Settings, load_settings


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "remediation-prod")
    monkeypatch.setenv("TASK_QUEUE", "incidents")
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/register")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("REMEDIATION_DATA_DIR", "/var/lib/remediation")
    settings = load_settings()
    assert settings.temporal_address == "temporal.internal:7233"
    assert settings.temporal_namespace == "remediation-prod"
    assert settings.task_queue == "incidents"
    assert settings.log_format is LogFormat.JSON
    assert str(settings.data_dir) == "/var/lib/remediation"
    assert settings.uses_tls is False


def test_public_view_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/register")
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-abc")
    view = load_settings().public_view()
    assert "s3cret" not in str(view) and "key-abc" not in str(view)
    assert view["database_url"] == "postgresql://app:***@db:5432/register"
    assert view["temporal_api_key"] == "***"
    assert view["temporal_tls"] is True  # an API key implies TLS


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "")
    monkeypatch.setenv("DATABASE_URL", "")
    settings = load_settings()
    assert settings.temporal_api_key is None and settings.database_url is None


def test_every_problem_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    monkeypatch.setenv("DATABASE_URL", "mysql://db")
    with pytest.raises(StartupError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert "LOG_FORMAT" in message and "DATABASE_URL: must be a postgresql:// URL" in message


def test_worker_tuning_and_ops_endpoints_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings()
    assert defaults.worker_max_concurrent_activities == 100
    assert defaults.worker_max_concurrent_workflow_tasks == 100
    assert defaults.worker_max_cached_workflows == 1000
    assert defaults.worker_max_concurrent_activity_polls == 5  # the SDK's own default
    assert defaults.worker_max_concurrent_workflow_task_polls == 5
    assert defaults.worker_sticky_queue_timeout_seconds == 3.0  # the SDK's is 10 s
    assert defaults.health_port is None and defaults.metrics_port is None
    assert defaults.ops_bind_host == "0.0.0.0"
    for name, value in {
        "WORKER_MAX_CONCURRENT_ACTIVITIES": "7",
        "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "8",
        "WORKER_MAX_CACHED_WORKFLOWS": "0",
        "WORKER_MAX_CONCURRENT_ACTIVITY_POLLS": "2",
        "WORKER_MAX_CONCURRENT_WORKFLOW_TASK_POLLS": "1",
        "WORKER_STICKY_QUEUE_TIMEOUT_SECONDS": "1.5",
        "HEALTH_PORT": "8080",
        "METRICS_PORT": "9090",
        "OPS_BIND_HOST": "127.0.0.1",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (
        settings.worker_max_concurrent_activities,
        settings.worker_max_concurrent_workflow_tasks,
        settings.worker_max_cached_workflows,
        settings.worker_max_concurrent_activity_polls,
        settings.worker_max_concurrent_workflow_task_polls,
        settings.worker_sticky_queue_timeout_seconds,
    ) == (7, 8, 0, 2, 1, 1.5)
    assert (settings.health_port, settings.metrics_port, settings.ops_bind_host) == (
        8080,
        9090,
        "127.0.0.1",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORKER_MAX_CONCURRENT_ACTIVITIES": "0"}, "WORKER_MAX_CONCURRENT_ACTIVITIES: Input"),
        ({"WORKER_MAX_CACHED_WORKFLOWS": "-1"}, "WORKER_MAX_CACHED_WORKFLOWS: Input"),
        ({"WORKER_MAX_CONCURRENT_ACTIVITY_POLLS": "0"}, "WORKER_MAX_CONCURRENT_ACTIVITY_POLLS"),
        (
            {"WORKER_MAX_CONCURRENT_WORKFLOW_TASK_POLLS": "1"},
            "WORKER_MAX_CONCURRENT_WORKFLOW_TASK_POLLS must be at least 2 unless",
        ),
        ({"WORKER_STICKY_QUEUE_TIMEOUT_SECONDS": "0"}, "WORKER_STICKY_QUEUE_TIMEOUT_SECONDS: In"),
        ({"HEALTH_PORT": "70000"}, "HEALTH_PORT: Input should be less than"),
        ({"HEALTH_PORT": "9000", "METRICS_PORT": "9000"}, "HEALTH_PORT and METRICS_PORT"),
    ],
)
def test_worker_tuning_and_ports_are_checked(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StartupError, match=message):
        load_settings()


@pytest.mark.parametrize(
    ("env", "tls"),
    [
        ({}, False),
        ({"TEMPORAL_TLS": "true"}, True),
        ({"TEMPORAL_API_KEY": "key-abc"}, True),  # Temporal Cloud: an API key goes over TLS
        ({"TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}, True),  # only TLS has a server name
    ],
)
def test_what_implies_tls(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tls: bool) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings().uses_tls is tls


def _documented_configuration_variables() -> set[str]:
    """The variables of the configuration table in docs/operations.md."""
    operations = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
    text = operations.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", section, flags=re.MULTILINE))


def test_the_configuration_table_lists_exactly_the_settings() -> None:
    variables = {
        str(field.validation_alias) if field.validation_alias else name.upper()
        for name, field in Settings.model_fields.items()
    }
    assert _documented_configuration_variables() == variables


def test_the_effective_configuration_names_each_setting_by_its_environment_variable() -> None:
    view = load_settings().public_view()
    environment = {
        (field.validation_alias if isinstance(field.validation_alias, str) else name).lower()
        for name, field in Settings.model_fields.items()
    }
    assert set(view) == environment
