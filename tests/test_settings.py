"""The settings model: environment in, effective configuration out, secrets never shown."""

import pytest

from workers.errors import StartupError
from workers.settings import LogFormat, load_settings


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
