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
from workers import examples


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


async def test_a_portfolio_run_stores_the_report_with_kpis_and_reconciliation(
    engine: Engine,
) -> None:
    for _ in range(2):
        incident_id = await open_incident(engine)
        await decide(engine, incident_id, "acknowledge", examples.acknowledge())
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
    assert report["reconciliation"] is not None
    for path in (stored.json_path, stored.markdown_path, stored.html_path):
        assert await asyncio.to_thread(Path(path).is_file)


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
    annual = await cli("report", "annual")
    assert annual.code == 1 and "not available yet" in annual.stderr
