"""One incident per reference, whatever starts its workflow: a second start of an incident's id
refuses itself, the register never acknowledges a write it did not store, and reconciliation finds
the runs that are not their incident's.

The second start goes through Temporal's HTTP API, as an integration without an SDK sends it.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.reconciliation import Reconciler
from activities.register_integrity import ALREADY_OPENED, CONFLICT
from schemas.monitoring import FindingKind
from tests import http_api as api
from tests.conftest import TEST_KEY_RING, Engine
from tests.register_reads import ReadableRegister
from tests.test_case_register import _event, _opening
from tests.test_reconciliation import (
    _close_early,
    _decide,
    _found,
    _ghost,
    _open,
    _reconcile,
    _register_row,
    _wait_running,
)
from tests.waiting import eventually
from workers.devstack import examples


def _tag() -> str:
    return uuid.uuid4().hex[:8].upper()


async def _register_state(pool: asyncpg.Pool, incident_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT step, case_status, case_owner, last_sequence, run_lineage FROM incidents "
        "WHERE incident_id = $1",
        incident_id,
    )
    assert row is not None
    counts = {
        table: await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE incident_id = $1", incident_id
        )
        for table in ("incident_events", "outbox", "audit_trail")
    }
    return {**dict(row), **counts}


async def test_a_second_start_of_an_ended_incident_over_the_http_api_refuses_itself(
    temporal_env: WorkflowEnvironment, engine: Engine, http_api: str
) -> None:
    reference = f"LIN{_tag()}"
    intake = examples.intake(external_reference=reference)
    incident_id = await _open(engine, reference)
    await _decide(engine, incident_id, "acknowledge", examples.acknowledge())
    await _close_early(engine, incident_id)
    before = await _register_state(engine.pool, incident_id)
    assert before["step"] == "completed" and before["run_lineage"]

    started = await api.start(http_api, incident_id, engine.task_queue, {"intake": intake})
    assert started.status == 200, started.text
    second = temporal_env.client.get_workflow_handle(incident_id, run_id=started.body["runId"])
    with pytest.raises(WorkflowFailureError) as failed:
        await second.result()
    refusal = failed.value.cause
    assert isinstance(refusal, ApplicationError)
    assert refusal.type == ALREADY_OPENED
    assert f"{incident_id} is already an incident of the register" in refusal.message
    assert "step completed" in refusal.message and "status closed" in refusal.message
    assert refusal.failure is not None and not refusal.failure.stack_trace
    # Nothing was written: no event, no notification, no audit entry.
    assert await _register_state(engine.pool, incident_id) == before


async def test_a_restarted_incident_id_refuses_itself_while_the_incident_runs(
    temporal_env: WorkflowEnvironment, engine: Engine, http_api: str
) -> None:
    """Terminate-and-start over the HTTP API: the new run refuses itself; the incident's row
    stays as it was, for reconciliation to report the terminated workflow."""
    reference = f"LIN{_tag()}"
    incident_id = await _open(engine, reference)
    await _decide(engine, incident_id, "acknowledge", examples.acknowledge())
    before = await _register_state(engine.pool, incident_id)

    started = await api.post(
        f"{http_api}/workflows/{incident_id}",
        {
            "workflowType": {"name": "IncidentWorkflow"},
            "taskQueue": {"name": engine.task_queue},
            "input": [{"intake": examples.intake(external_reference=reference)}],
            "workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING",
        },
    )
    assert started.status == 200, started.text
    second = temporal_env.client.get_workflow_handle(incident_id, run_id=started.body["runId"])
    with pytest.raises(WorkflowFailureError) as failed:
        await second.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == ALREADY_OPENED
    assert "step verification" in failed.value.cause.message
    assert await _register_state(engine.pool, incident_id) == before


async def test_an_incident_continued_as_new_keeps_writing_under_its_lineage(
    engine: Engine,
) -> None:
    """Every run of the incident carries its first run's id, so the register accepts them all."""
    reference = f"LIN{_tag()}"
    incident_id = await _open(engine, reference)
    lineage = (await _register_row(engine.pool, incident_id))["run_lineage"]
    handle = engine.client.get_workflow_handle(incident_id)
    first_run = (await handle.describe()).run_id
    assert lineage == first_run
    await _decide(engine, incident_id, "acknowledge", examples.acknowledge())
    row = await _register_row(engine.pool, incident_id)
    assert (row["run_lineage"], row["run_id"]) == (lineage, first_run)


# --- the register's own rule -------------------------------------------------------------------


async def test_a_write_whose_key_holds_another_event_is_refused_loudly(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    opening = _opening().model_copy(update={"run_lineage": "lineage-a"})
    env = ActivityEnvironment()
    await env.run(register.open_incident, opening)
    incident_id = opening.incident_id
    event = _event(incident_id, 1).model_copy(update={"run_lineage": "lineage-a"})

    assert await env.run(register.record_event, event) is True
    # The same event again (its activity retried) is idempotent.
    assert await env.run(register.record_event, event) is False

    other = event.model_copy(
        update={"kind": "verification", "occurred_at": event.occurred_at + timedelta(hours=1)}
    )
    with pytest.raises(ApplicationError) as refused:
        await env.run(register.record_event, other)
    assert refused.value.type == CONFLICT and refused.value.non_retryable
    assert "already recorded as acknowledge" in refused.value.message

    foreign = _event(incident_id, 2).model_copy(update={"run_lineage": "lineage-b"})
    with pytest.raises(ApplicationError) as foreign_refused:
        await env.run(register.record_event, foreign)
    assert foreign_refused.value.type == CONFLICT
    assert "lineage lineage-b" in foreign_refused.value.message

    kinds = await register_pool.fetch(
        "SELECT sequence, kind FROM incident_events WHERE incident_id = $1 ORDER BY sequence",
        incident_id,
    )
    assert [(r["sequence"], r["kind"]) for r in kinds] == [(1, "acknowledge")]
    conflicts = await register_pool.fetch(
        "SELECT sequence, event_kind, run_lineage FROM register_conflicts "
        "WHERE incident_id = $1 ORDER BY sequence",
        incident_id,
    )
    assert [tuple(r) for r in conflicts] == [
        (1, "verification", "lineage-a"),
        (2, "acknowledge", "lineage-b"),
    ]


async def test_an_opening_of_another_lineage_writes_nothing(register_pool: asyncpg.Pool) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    opening = _opening().model_copy(update={"run_lineage": "lineage-a"})
    env = ActivityEnvironment()
    first = await env.run(register.open_incident, opening)
    assert await env.run(register.open_incident, opening) == first  # its own retry

    with pytest.raises(ApplicationError) as refused:
        await env.run(
            register.open_incident, opening.model_copy(update={"run_lineage": "lineage-b"})
        )
    assert refused.value.type == ALREADY_OPENED and refused.value.non_retryable
    audits = await register_pool.fetchval(
        "SELECT count(*) FROM audit_trail WHERE incident_id = $1", opening.incident_id
    )
    assert audits == 1


async def test_a_row_registered_before_lineages_takes_its_first_writers(
    register_pool: asyncpg.Pool,
) -> None:
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    opening = _opening()  # no lineage: sent by a workflow from before lineages existed
    env = ActivityEnvironment()
    await env.run(register.open_incident, opening)
    incident_id = opening.incident_id
    await env.run(register.record_event, _event(incident_id, 1))
    adopted = _event(incident_id, 2).model_copy(update={"run_lineage": "lineage-a"})
    assert await env.run(register.record_event, adopted) is True
    row = await register.incident_row(incident_id)
    assert row is not None and row["run_lineage"] == "lineage-a"
    with pytest.raises(ApplicationError):
        await env.run(
            register.record_event,
            _event(incident_id, 3).model_copy(update={"run_lineage": "lineage-b"}),
        )


# --- reconciliation ----------------------------------------------------------------------------


async def test_reconciliation_finds_runs_that_are_not_their_incidents(
    temporal_env: WorkflowEnvironment, engine: Engine, register_pool: asyncpg.Pool
) -> None:
    """A workflow running under an ended incident's id, one running under an open incident's id
    but of another lineage (both started before second starts refused themselves: here, on a
    queue no worker polls), and a refused register write are all findings."""
    tag = _tag()
    reference = f"RL{tag}-{{}}".format
    reconciler = Reconciler(
        register_pool, temporal_env.client, incident_prefix=f"incident-RL{tag}-"
    )
    ended = await _open(engine, reference("1-ended"))
    await _decide(engine, ended, "acknowledge", examples.acknowledge())
    await _close_early(engine, ended)
    replaced = await _open(engine, reference("2-replaced"))
    await _decide(engine, replaced, "acknowledge", examples.acknowledge())
    healthy = await _open(engine, reference("3-healthy"))
    await temporal_env.client.get_workflow_handle(replaced).terminate("lineage test")
    after_end = await _ghost(temporal_env.client, reference("1-ended"))
    foreign = await _ghost(temporal_env.client, reference("2-replaced"))
    register = ReadableRegister(register_pool, TEST_KEY_RING)
    # The clash takes sequence 1 only once the incident's own opening event holds it: written
    # earlier, the test's write would be the one stored and the workflow's the one refused.
    lineage = await eventually(
        lambda: register_pool.fetchval(
            "SELECT run_lineage FROM incidents WHERE incident_id = $1 AND last_sequence >= 1",
            healthy,
        ),
        f"{healthy}'s opening event in the register",
    )
    clash = _event(healthy, 1).model_copy(update={"run_lineage": lineage})
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(register.record_event, clash)
    try:
        await _wait_running(temporal_env.client, reconciler, {healthy, after_end.id, foreign.id})
        report = await _reconcile(reconciler, datetime.now(UTC) + timedelta(minutes=3))
        assert _found(report) == [
            (FindingKind.REGISTER_ENDED_WORKFLOW_RUNNING, ended),
            (FindingKind.REGISTER_WRITE_CONFLICT, healthy),
            (FindingKind.WORKFLOW_NOT_REGISTER_LINEAGE, replaced),
        ]
        details = {f.kind: f.detail for f in report.findings}
        assert str(after_end.result_run_id) in details[FindingKind.REGISTER_ENDED_WORKFLOW_RUNNING]
        assert "step verification" in details[FindingKind.WORKFLOW_NOT_REGISTER_LINEAGE]
        assert "already recorded as system_opened" in details[FindingKind.REGISTER_WRITE_CONFLICT]
    finally:
        for ghost in (after_end, foreign):
            await ghost.terminate("lineage test done")
