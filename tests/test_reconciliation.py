"""Reconciliation of the register with Temporal, on the real dev server, worker and register.

The dev server is shared by the whole session, so every reconciler here is restricted to this
module's own incidents by an id prefix (`Reconciler(incident_prefix=...)`).
"""

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.reconciliation import INCIDENT_WORKFLOW, Reconciler
from schemas.decisions import DecisionKind
from schemas.incident import IncidentInput, incident_id_for
from schemas.intake import Intake
from schemas.monitoring import FindingKind, ReconciliationReport
from schemas.vocabulary import Step
from tests.conftest import Engine
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.devstack import examples


def _tag() -> str:
    return uuid.uuid4().hex[:8].upper()


async def _open(engine: Engine, reference: str) -> str:
    intake = Intake.model_validate(examples.intake(external_reference=reference))
    incident_id = await incidents.open_incident(engine.client, intake, task_queue=engine.task_queue)
    await _register_row(engine.pool, incident_id)
    return incident_id


async def _register_row(pool: asyncpg.Pool, incident_id: str) -> asyncpg.Record:
    row: asyncpg.Record = await eventually(
        lambda: pool.fetchrow("SELECT * FROM incidents WHERE incident_id = $1", incident_id),
        f"{incident_id} in the register",
    )
    return row


async def _decide(engine: Engine, incident_id: str, kind: str, payload: dict[str, Any]) -> None:
    # An update returns once its decision is in the register.
    await incidents.decide(engine.client, incident_id, DecisionKind(kind), payload)


async def _close_early(engine: Engine, incident_id: str) -> None:
    request = {
        "actor": examples.CASE_OWNER,
        "reason": "withdrawn",
        "explanation": "The reporting organisation withdrew the allegation.",
    }
    pending = await incidents.decide(engine.client, incident_id, DecisionKind.CLOSE_EARLY, request)
    assert pending.approval_id
    await _decide(engine, incident_id, "approve", examples.approve(pending.approval_id))
    await engine.client.get_workflow_handle(incident_id).result()


async def _copy_row(pool: asyncpg.Pool, source: str, incident_id: str, reference: str) -> None:
    """A register row with no workflow behind it: a copy of another under new ids."""
    await pool.execute(
        """
        INSERT INTO incidents
        SELECT (jsonb_populate_record(
            NULL::incidents,
            to_jsonb(i) || jsonb_build_object('incident_id', $2::text,
                                              'external_reference', $3::text)
        )).*
        FROM incidents AS i WHERE incident_id = $1
        """,
        source,
        incident_id,
        reference,
    )


async def _ghost(client: Client, reference: str) -> WorkflowHandle[Any, Any]:
    """A running incident workflow that never writes the register: no worker polls its queue."""
    intake = Intake.model_validate(examples.intake(external_reference=reference))
    return await client.start_workflow(
        INCIDENT_WORKFLOW,
        IncidentInput(intake=intake),
        id=incident_id_for(intake.external_reference),
        task_queue=f"no-worker-{uuid.uuid4().hex[:8]}",
        search_attributes=incidents.initial_search_attributes(intake),
    )


async def _wait_running(client: Client, reconciler: Reconciler, expected: set[str]) -> None:
    """Visibility is eventually consistent: wait until it lists exactly these as running."""
    seen: set[str] = set()

    async def exactly() -> bool:
        nonlocal seen
        seen = {e.id async for e in client.list_workflows(reconciler.visibility_query())}
        return seen == expected

    await eventually(
        exactly,
        lambda: f"visibility lists {sorted(seen)} as running, expected {sorted(expected)}",
        timeout=30,
        interval=0.1,
    )


async def _reconcile(
    reconciler: Reconciler, as_of: datetime, env: ActivityEnvironment | None = None
) -> ReconciliationReport:
    return await (env or ActivityEnvironment()).run(reconciler.reconcile_portfolio, as_of)


def _found(report: ReconciliationReport) -> list[tuple[FindingKind, str]]:
    return [(f.kind, f.incident_id) for f in report.findings]


async def test_a_clean_portfolio_has_no_findings_and_each_inconsistency_is_found_once(
    temporal_env: WorkflowEnvironment, engine: Engine, register_pool: asyncpg.Pool
) -> None:
    tag = _tag()
    reference = f"RC{tag}-{{}}".format
    reconciler = Reconciler(
        register_pool, temporal_env.client, incident_prefix=f"incident-RC{tag}-"
    )

    # A clean portfolio: open in verification, open in response, completed.
    acknowledged = await _open(engine, reference("1-ack"))
    await _decide(engine, acknowledged, "acknowledge", examples.acknowledge())
    verified = await _open(engine, reference("2-resp"))
    await _decide(engine, verified, "acknowledge", examples.acknowledge())
    await _decide(engine, verified, "verification", examples.verification())
    completed = await _open(engine, reference("3-done"))
    await _decide(engine, completed, "acknowledge", examples.acknowledge())
    await _close_early(engine, completed)
    row = await _register_row(register_pool, completed)
    assert row["step"] == Step.COMPLETED
    await _wait_running(temporal_env.client, reconciler, {acknowledged, verified})

    clean = await _reconcile(reconciler, datetime.now(UTC))
    assert clean == ReconciliationReport(incidents_in_register=2, workflows_running=2, findings=[])

    # (b) register open, workflow terminated by hand.
    terminated = await _open(engine, reference("4-term"))
    await _decide(engine, terminated, "acknowledge", examples.acknowledge())
    await temporal_env.client.get_workflow_handle(terminated).terminate("reconciliation test")
    # (a) a register row whose workflow never existed.
    copied = incident_id_for(reference("5-copy"))
    await _copy_row(register_pool, acknowledged, copied, reference("5-copy"))
    # (c) a running incident workflow that never writes the register: no worker polls its queue.
    ghost = await _ghost(temporal_env.client, reference("6-ghost"))
    # (d) the register's escalation level no longer matches the workflow's.
    await register_pool.execute(
        "UPDATE incidents SET escalation_level = 2 WHERE incident_id = $1", verified
    )
    try:
        await _wait_running(temporal_env.client, reconciler, {acknowledged, verified, ghost.id})

        # The ghost started just now: its register row may still be on its way.
        young = await _reconcile(reconciler, datetime.now(UTC))
        assert _found(young) == [
            (FindingKind.ESCALATION_DISAGREES, verified),
            (FindingKind.REGISTER_OPEN_WORKFLOW_CLOSED, terminated),
            (FindingKind.REGISTER_OPEN_WORKFLOW_MISSING, copied),
        ]

        as_of = datetime.now(UTC) + timedelta(minutes=3)
        report = await _reconcile(reconciler, as_of)
        assert (report.incidents_in_register, report.workflows_running) == (4, 3)
        assert _found(report) == [
            (FindingKind.ESCALATION_DISAGREES, verified),
            (FindingKind.REGISTER_OPEN_WORKFLOW_CLOSED, terminated),
            (FindingKind.REGISTER_OPEN_WORKFLOW_MISSING, copied),
            (FindingKind.WORKFLOW_WITHOUT_REGISTER_ROW, ghost.id),
        ]
        details = {f.kind: f.detail for f in report.findings}
        assert details[FindingKind.ESCALATION_DISAGREES] == (
            "register escalation level 2; workflow EscalationLevel 0"
        )
        assert details[FindingKind.REGISTER_OPEN_WORKFLOW_CLOSED] == (
            "register step verification; workflow terminated"
        )
        assert "no workflow" in details[FindingKind.REGISTER_OPEN_WORKFLOW_MISSING]
        assert "no register row" in details[FindingKind.WORKFLOW_WITHOUT_REGISTER_ROW]

        # A retried run reports the same and records each finding once.
        assert await _reconcile(reconciler, as_of) == report
        recorded = await register_pool.fetch(
            "SELECT kind, incident_id FROM reconciliation_findings WHERE as_of = $1 "
            "ORDER BY kind, incident_id",
            as_of,
        )
        assert [(FindingKind(r["kind"]), r["incident_id"]) for r in recorded] == _found(report)
    finally:
        await ghost.terminate("reconciliation test done")


class _CountingListings(Reconciler):
    """Counts the times the whole listing of running workflows is read."""

    listings = 0

    async def _running_workflows(self, *args: Any) -> Any:
        self.listings += 1
        return await super()._running_workflows(*args)


async def test_every_running_workflow_is_listed_only_when_one_has_no_open_register_row(
    temporal_env: WorkflowEnvironment, engine: Engine, register_pool: asyncpg.Pool
) -> None:
    tag = _tag()
    reconciler = _CountingListings(
        register_pool, temporal_env.client, incident_prefix=f"incident-RL{tag}-", page_size=1
    )
    opened = [await _open(engine, f"RL{tag}-{number}") for number in (1, 2)]
    await _wait_running(temporal_env.client, reconciler, set(opened))

    clean = await _reconcile(reconciler, datetime.now(UTC))
    assert clean == ReconciliationReport(incidents_in_register=2, workflows_running=2, findings=[])
    assert reconciler.listings == 0  # each page's incidents were asked for by id

    ghost = await _ghost(temporal_env.client, f"RL{tag}-3")
    try:
        await _wait_running(temporal_env.client, reconciler, {*opened, ghost.id})
        report = await _reconcile(reconciler, datetime.now(UTC) + timedelta(minutes=3))
        assert _found(report) == [(FindingKind.WORKFLOW_WITHOUT_REGISTER_ROW, ghost.id)]
        assert report.workflows_running == 3
        assert reconciler.listings == 1
    finally:
        await ghost.terminate("reconciliation test done")


async def test_a_retried_run_resumes_after_the_heartbeated_incident(
    temporal_env: WorkflowEnvironment, engine: Engine, register_pool: asyncpg.Pool
) -> None:
    tag = _tag()
    source = await _open(engine, f"RS{tag}-0")
    await _decide(engine, source, "acknowledge", examples.acknowledge())
    copies = []
    for number in range(1, 6):
        reference = f"RS{tag}-{number}"
        copies.append(incident_id_for(reference))
        await _copy_row(register_pool, source, copies[-1], reference)
    reconciler = Reconciler(
        register_pool, temporal_env.client, incident_prefix=f"incident-RS{tag}-", page_size=2
    )
    await _wait_running(temporal_env.client, reconciler, {source})

    # The previous attempt got through the page ending at the second copy, having counted 7.
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, heartbeat_details=[copies[1], {"incidents_in_register": 7}]
    )
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    report = await _reconcile(reconciler, datetime.now(UTC), env)

    assert _found(report) == [
        (FindingKind.REGISTER_OPEN_WORKFLOW_MISSING, incident_id) for incident_id in copies[2:]
    ]
    assert (report.incidents_in_register, report.workflows_running) == (7 + 3, 1)
    # Beats inside a page keep the resume point; it moves once each page is recorded.
    assert resume_points(beats) == [
        (copies[1], 7),
        (copies[3], 9),
        (copies[4], 10),
    ]

    # A fresh run (no heartbeat) starts from the beginning.
    fresh_beats: list[tuple[Any, ...]] = []
    fresh_env = ActivityEnvironment()
    fresh_env.on_heartbeat = lambda *details: fresh_beats.append(details)
    fresh = await _reconcile(reconciler, datetime.now(UTC), fresh_env)
    assert _found(fresh) == [
        (FindingKind.REGISTER_OPEN_WORKFLOW_MISSING, incident_id) for incident_id in copies
    ]
    assert fresh.incidents_in_register == 6
    assert [point for point, _ in resume_points(fresh_beats)] == [
        "",
        copies[0],
        copies[2],
        copies[4],
    ]


def resume_points(beats: list[tuple[Any, ...]]) -> list[tuple[str, int]]:
    """The distinct resume points heartbeated, in order."""
    points = [(beat[0], beat[1]["incidents_in_register"]) for beat in beats]
    return list(dict.fromkeys(points))


async def test_the_findings_table_accepts_exactly_the_finding_kinds(
    register_pool: asyncpg.Pool,
) -> None:
    definition = await register_pool.fetchval(
        """
        SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
        WHERE c.conrelid = 'reconciliation_findings'::regclass AND c.contype = 'c'
          AND pg_get_constraintdef(c.oid) LIKE '%kind%'
        """
    )
    assert definition is not None
    allowed = {part.split("'")[1] for part in definition.split("::text")[:-1] if "'" in part}
    assert allowed == {kind.value for kind in FindingKind}


def test_a_prefix_that_could_break_the_visibility_query_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        Reconciler(None, None, incident_prefix="incident-' OR 'a' = 'a")  # type: ignore[arg-type]
