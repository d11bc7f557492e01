"""`remediation report`: run a portfolio monitoring report now and print or save it.

Registered on the `remediation` app by workers/cli/main.py.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from schemas.vocabulary import EARLIEST_YEAR, LATEST_YEAR, MONITORING_WORKFLOW, MonitoringKind
from workers.cli import support

# The models, asyncpg and Temporal are imported when the report runs, not with the command line.
if TYPE_CHECKING:
    from temporalio.client import Client

    from schemas.monitoring import StoredReport

# A run on request that has not finished by then (the register down, say) gives up.
REPORT_TIMEOUT = timedelta(hours=1)
# Say what is happening once a report has taken this long, then every so often.
_QUIET_SECONDS = 2.0


class ReportFormat(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


_COLUMN = {ReportFormat.MD: "markdown", ReportFormat.JSON: "json", ReportFormat.HTML: "html"}


async def _run_report(
    client: "Client", kind: MonitoringKind, task_queue: str, year: int | None = None
) -> "StoredReport":
    """Start a monitoring run and wait for it, telling stderr it is still working."""
    import asyncio

    from schemas.monitoring import MonitoringRun, StoredReport
    from workers.devstack.stack import wait_for_poller

    # Without a worker the run would wait for ever: say so instead.
    await wait_for_poller(client, task_queue, timeout=5.0)
    workflow_id = f"report-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    handle = await client.start_workflow(
        MONITORING_WORKFLOW,
        MonitoringRun(kind=kind, year=year),
        id=workflow_id,
        task_queue=task_queue,
        result_type=StoredReport,
        static_summary=f"{kind} report on request",
        execution_timeout=REPORT_TIMEOUT,
    )
    result = asyncio.ensure_future(handle.result())
    started = time.monotonic()
    while True:
        done, _ = await asyncio.wait({result}, timeout=_QUIET_SECONDS)
        if done:
            stored: StoredReport = result.result()
            return stored
        typer.echo(
            f"… still running ({time.monotonic() - started:.0f} s, workflow {workflow_id})",
            err=True,
        )


async def _stored_text(database_url: str, report_id: str, column: str) -> str:
    from workers.register import open_register

    pool = await open_register(database_url, max_size=1)
    try:
        value = await pool.fetchval(f"SELECT {column} FROM reports WHERE report_id = $1", report_id)
    finally:
        await pool.close()
    if value is None:
        raise LookupError(report_id)
    return value if isinstance(value, str) else json.dumps(value, indent=2)


def report(
    kind: Annotated[
        MonitoringKind,
        typer.Argument(
            metavar="KIND",
            help="portfolio (KPIs and reconciliation), digest, or annual (the yearly "
            "due-diligence summary).",
        ),
    ],
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="md, json or html.")
    ] = ReportFormat.MD,
    out: Annotated[
        Path | None, typer.Option(help="Write the report to FILE instead of standard output.")
    ] = None,
    year: Annotated[
        int | None,
        typer.Option(
            min=EARLIEST_YEAR,
            max=LATEST_YEAR,
            help="annual only: the calendar year (UTC) to summarise; last year by default.",
        ),
    ] = None,
) -> None:
    """Run a monitoring report now, as the schedules do, and print or save it.

    The run is a `PortfolioMonitoringWorkflow` on the engine's worker: it computes the key
    figures from the register (open incidents by step, severity, response level, country,
    mineral and facility; overdue milestones and escalations, counted and listed by incident;
    days per step; on-time rates; check-in compliance; approvals waiting longest; escalations
    per week), reconciles the register with Temporal
    (portfolio), and stores the report in the register and the reports directory. The annual
    run instead summarises the incidents received in one calendar year as anonymised aggregates,
    every count from 1 to 4 suppressed (`--year`, last year by default). Needs the worker
    (`remediation up`) and the register.
    """
    from temporalio.client import WorkflowFailureError

    from workers.redaction import redact_url

    if year is not None and kind != MonitoringKind.ANNUAL:
        typer.echo("error: --year applies to the annual report only", err=True)
        raise typer.Exit(code=2)
    settings = support._client_settings()
    database_url = support._database_url(settings)
    typer.echo(f"Running the {kind} report…", err=True)
    try:
        stored = support._run(
            support._with_temporal(
                settings,
                lambda client: _run_report(client, kind, settings.task_queue, year),
                timeout=None,
            )
        )
    except WorkflowFailureError as failure:
        cause = failure.cause
        support._fail(f"the {kind} report failed: {getattr(cause, 'message', cause)}")
    try:
        text = support._run(_stored_text(database_url, stored.report_id, _COLUMN[output_format]))
    except LookupError:
        support._fail(
            f"report {stored.report_id} is not in the register at {redact_url(database_url)}: "
            "is DATABASE_URL the worker's register?"
        )
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        support._fail(f"cannot write {out}: {error.strerror or error}")
    typer.echo(f"{kind} report {stored.report_id} written to {out}", err=True)
