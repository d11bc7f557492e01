"""The real worker against the real stack: dev server, time-skipping server, PostgreSQL."""

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import asyncpg
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from schemas.audit import AuditEntry
from tests.probe_workflow import AuditProbeWorkflow, AuditTrail
from tests.waiting import eventually
from workers.settings import Settings
from workers.worker import build_worker, serve


def _settings(env: WorkflowEnvironment, database_url: str, task_queue: str) -> Settings:
    config = env.client.service_client.config
    return Settings(
        temporal_address=config.target_host,
        temporal_namespace=env.client.namespace,
        task_queue=task_queue,
        database_url=database_url,
        shutdown_grace_seconds=5,
    )


async def test_real_worker_runs_a_workflow_whose_activity_writes_the_register(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    register_pool: asyncpg.Pool,
    json_log: io.StringIO,
) -> None:
    task_queue = f"smoke-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    started = asyncio.Event()
    worker = asyncio.create_task(
        serve(
            _settings(temporal_env, database_url, task_queue),
            stop,
            extra_workflows=[AuditProbeWorkflow],
            extra_activities=[AuditTrail(register_pool).record_audit_entry],
            on_started=started.set,
        )
    )
    await asyncio.wait_for(started.wait(), 30)

    handle = await temporal_env.client.start_workflow(
        AuditProbeWorkflow.run, 0, id=f"probe-{uuid.uuid4()}", task_queue=task_queue
    )
    entry = await handle.result()

    stored = await AuditTrail(register_pool).entries_for(handle.id)
    assert [e.entry_id for e in stored] == [entry.entry_id]
    assert stored[0].action == "system.probe"

    stop.set()
    await asyncio.wait_for(worker, 30)

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    recorded = [line for line in lines if line["event"] == "audit entry recorded"]
    assert len(recorded) == 1
    assert recorded[0]["workflow_id"] == handle.id
    assert recorded[0]["run_id"] == handle.result_run_id
    assert recorded[0]["activity_type"] == "record_audit_entry"
    assert recorded[0]["attempt"] == 1
    assert any(line["event"] == "worker stopped" for line in lines)


@pytest.mark.parametrize("contact", [None, "rmi.contact"])
async def test_the_worker_warns_at_start_when_no_industry_programme_contact_is_configured(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    json_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    contact: str | None,
) -> None:
    """Level 3 of a critical incident promises that contact; none is configured by default."""
    monkeypatch.delenv("REMEDIATION_POLICY_FILE", raising=False)
    if contact is None:
        monkeypatch.delenv("ESCALATION_INDUSTRY_PROGRAMME_CONTACT", raising=False)
    else:
        monkeypatch.setenv("ESCALATION_INDUSTRY_PROGRAMME_CONTACT", contact)
    stop = asyncio.Event()
    started = asyncio.Event()
    settings = _settings(temporal_env, database_url, f"policy-{uuid.uuid4().hex[:8]}")
    worker = asyncio.create_task(serve(settings, stop, on_started=started.set))
    await asyncio.wait_for(started.wait(), 30)
    stop.set()
    await asyncio.wait_for(worker, 30)

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    warnings = [line for line in lines if "industry-programme contact" in line["event"]]
    if contact is not None:
        assert warnings == []
        return
    [warning] = warnings
    assert warning["level"] == "warning"
    assert "ESCALATION_INDUSTRY_PROGRAMME_CONTACT" in warning["event"]
    assert set(warning) == {"event", "level", "logger", "timestamp", "policy_version"}


async def test_timers_run_on_the_time_skipping_server(
    time_skipping_env: WorkflowEnvironment, register_pool: asyncpg.Pool
) -> None:
    task_queue = f"skip-{uuid.uuid4().hex[:8]}"
    settings = Settings(task_queue=task_queue, database_url="postgresql://unused")
    async with build_worker(
        time_skipping_env.client,
        settings,
        register_pool,
        extra_workflows=[AuditProbeWorkflow],
        extra_activities=[AuditTrail(register_pool).record_audit_entry],
    ):
        started_at = await time_skipping_env.get_current_time()
        entry: AuditEntry = await time_skipping_env.client.execute_workflow(
            AuditProbeWorkflow.run, 30, id=f"probe-{uuid.uuid4()}", task_queue=task_queue
        )
    waited = entry.occurred_at - started_at
    assert timedelta(days=30) <= waited < timedelta(days=30, minutes=1)
    stored = await AuditTrail(register_pool).entries_for(entry.incident_id)
    assert [e.occurred_at for e in stored] == [entry.occurred_at]


async def _pollers(client: Client, task_queue: str) -> int:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return len(response.pollers)


def _worker_process(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker"],
        env={**os.environ, "LOG_FORMAT": "json", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_worker_command_logs_config_without_secrets_polls_and_stops_on_sigterm(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    task_queue = f"cmd-{uuid.uuid4().hex[:8]}"
    # Trust authentication ignores the password, so a made-up one shows whether it leaks.
    with_password = database_url.replace("postgres@", "postgres:hunter2-secret@")
    process = _worker_process(
        {
            "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": with_password,
            "TEMPORAL_API_KEY": "",
        }
    )
    try:

        async def polling() -> bool:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            return bool(await _pollers(temporal_env.client, task_queue))

        await eventually(polling, "the worker polling its task queue", timeout=30, interval=0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "hunter2-secret" not in stderr
    events = {json.loads(line)["event"]: json.loads(line) for line in stderr.splitlines()}
    assert events["worker configuration"]["database_url"].startswith("postgresql://postgres:***@")
    assert events["worker configuration"]["task_queue"] == task_queue
    assert "worker stopped" in events


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"},
            "cannot reach the case register at postgresql://postgres@127.0.0.1:1/nowhere",
        ),
        (
            {"TEMPORAL_NAMESPACE": "no-such-namespace"},
            "namespace 'no-such-namespace' does not exist",
        ),
        ({"LOG_LEVEL": "verbose"}, "invalid configuration: LOG_LEVEL: must be one of"),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS: Input should be greater"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: must be a postgresql:// URL"),
        ({"TEMPORAL_TLS_CLIENT_CERT": "/no/such.pem"}, "must be set together"),
    ],
)
async def test_worker_command_explains_what_is_wrong_in_one_line(
    temporal_env: WorkflowEnvironment, database_url: str, env: dict[str, str], message: str
) -> None:
    base = {
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "DATABASE_URL": database_url,
    }
    process = _worker_process({**base, **env})
    try:
        _, stderr = await asyncio.to_thread(process.communicate, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, stderr
    assert message in error_lines[0]
