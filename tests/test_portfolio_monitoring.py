"""The monitoring run end to end: the workflow on the engine's worker, and `remediation report`."""

import asyncio
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from schemas.monitoring import (
    MONITORING_WORKFLOW,
    MonitoringKind,
    MonitoringRun,
    StoredReport,
)
from tests.conftest import Cli, Engine
from tests.test_incident_lifecycle import decide, open_incident
from workers.devstack import examples
from workflows.portfolio_monitoring import NOTIFIED_FINDINGS


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


async def run(engine: Engine, kind: MonitoringKind) -> StoredReport:
    result: StoredReport = await engine.client.execute_workflow(
        MONITORING_WORKFLOW,
        MonitoringRun(kind=kind),
        id=f"report-test-{uuid.uuid4().hex[:8]}",
        task_queue=engine.task_queue,
        result_type=StoredReport,
    )
    return result


async def copy_incident(engine: Engine, incident_id: str, new_id: str) -> None:
    """A register row Temporal has never heard of."""
    async with engine.pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "CREATE TEMP TABLE copied ON COMMIT DROP AS "
            "SELECT * FROM incidents WHERE incident_id = $1",
            incident_id,
        )
        await connection.execute(
            "UPDATE copied SET incident_id = $1, external_reference = $1", new_id
        )
        await connection.execute("INSERT INTO incidents SELECT * FROM copied")


async def test_a_portfolio_run_stores_the_report_with_kpis_and_reconciliation(
    engine: Engine,
) -> None:
    for _ in range(2):
        incident_id = await open_incident(engine)
        await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    # An incident the register holds open but Temporal has never heard of.
    orphan = f"incident-ORPHAN-{uuid.uuid4().hex[:8]}"
    await copy_incident(engine, incident_id, orphan)
    stored = await run(engine, MonitoringKind.PORTFOLIO)
    row = await engine.pool.fetchrow(
        "SELECT json FROM reports WHERE report_id = $1", stored.report_id
    )
    assert row is not None
    report = row["json"]
    open_in_register = await engine.pool.fetchval(
        "SELECT count(*) FROM incidents WHERE step <> 'completed'"
    )
    assert report["kpis"]["open_incidents"] == open_in_register >= 2
    reconciliation = report["reconciliation"]
    assert reconciliation is not None
    # The dev server is shared by the whole test session: incidents of other test modules may run
    # there without a row in this module's register, so there may be more findings than ours.
    findings = {(f["incident_id"], f["kind"]) for f in reconciliation["findings"]}
    assert (orphan, "register_open_workflow_missing") in findings
    notified = await engine.pool.fetch(
        "SELECT incident_id, body, recipient, status FROM outbox "
        "WHERE kind = 'reconciliation_finding'"
    )
    # The first NOTIFIED_FINDINGS findings are notified one by one, the rest in one summary.
    listed = [(f["incident_id"], f["kind"]) for f in reconciliation["findings"]]
    one_by_one = {
        (row["incident_id"], row["body"].split(":")[0])
        for row in notified
        if row["incident_id"] != "portfolio"
    }
    assert one_by_one == set(listed[:NOTIFIED_FINDINGS])
    summarised = any(row["incident_id"] == "portfolio" for row in notified)
    assert summarised == (reconciliation["findings_total"] > NOTIFIED_FINDINGS)
    assert {(row["recipient"], row["status"]) for row in notified} == {("operations", "delivered")}
    for path in (stored.json_path, stored.markdown_path, stored.html_path):
        assert await asyncio.to_thread(Path(path).is_file)


async def test_many_findings_are_listed_and_notified_in_bounded_numbers(engine: Engine) -> None:
    incident_id = await open_incident(engine)
    # Acknowledged once its register row exists (the decision waits for the opening).
    await decide(engine, incident_id, "acknowledge", examples.acknowledge())
    for _ in range(25):
        await copy_incident(engine, incident_id, f"incident-LOST-{uuid.uuid4().hex[:8]}")
    before = {
        row["incident_id"]
        for row in await engine.pool.fetch(
            "SELECT incident_id FROM outbox WHERE kind = 'reconciliation_finding'"
        )
    }
    stored = await run(engine, MonitoringKind.PORTFOLIO)
    report = await engine.pool.fetchval(
        "SELECT json FROM reports WHERE report_id = $1", stored.report_id
    )
    reconciliation = report["reconciliation"]
    assert reconciliation["findings_total"] >= 25
    assert len(reconciliation["findings"]) == min(reconciliation["findings_total"], 100)
    notified = {
        row["incident_id"]: row["subject"]
        for row in await engine.pool.fetch(
            "SELECT incident_id, subject FROM outbox WHERE kind = 'reconciliation_finding'"
        )
    }
    first = {f["incident_id"] for f in reconciliation["findings"][:NOTIFIED_FINDINGS]}
    assert set(notified) - {"portfolio"} == (before - {"portfolio"}) | first
    assert "more disagreements between the register and Temporal" in notified["portfolio"]


async def test_a_digest_run_skips_reconciliation(engine: Engine) -> None:
    stored = await run(engine, MonitoringKind.DIGEST)
    report = await engine.pool.fetchval(
        "SELECT json FROM reports WHERE report_id = $1", stored.report_id
    )
    assert report["kind"] == "digest" and report["reconciliation"] is None


async def test_the_report_command_writes_the_html_report(
    cli: Cli, engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "portfolio.html"
    ran = await cli("report", "portfolio", "--format", "html", "--out", str(out))
    assert ran.code == 0, ran.stderr
    assert "Running the portfolio report" in ran.stderr
    tags = _Tags()
    tags.feed(out.read_text())
    assert tags.tags.count("svg") >= 3
    markdown = await cli("report", "digest")
    assert markdown.code == 0, markdown.stderr
    assert markdown.stdout.startswith("#")
    # The yearly due-diligence summary: last year's by default, anonymised aggregates only.
    annual = await cli("report", "annual", "--format", "json")
    assert annual.code == 0, annual.stderr
    report = annual.json
    assert report["kind"] == "annual" and "kpis" not in report
    assert report["annual"]["year"] == int(report["as_of"][:4]) - 1
    # The incidents opened above were received in 2026 (workers/devstack/examples.py).
    this_year = await cli("report", "annual", "--year", "2026")
    assert this_year.code == 0, this_year.stderr
    assert this_year.stdout.startswith("# Due-diligence summary 2026\n")
    received = await engine.pool.fetchval(
        "SELECT count(*) FROM incidents "
        "WHERE received_at >= '2026-01-01Z' AND received_at < '2027-01-01Z'"
    )
    assert received >= 2
    shown = str(received) if received >= 5 else "<5"
    assert f"- Incidents received in 2026: {shown}." in this_year.stdout
    wrong = await cli("report", "digest", "--year", "2026")
    assert wrong.code == 2 and "--year applies to the annual report only" in wrong.stderr
