"""`remediation export`: anonymised exports from the case register.

Registered on the `remediation` app by workers/cli/main.py. Reads the register directly (no worker,
no Temporal, no key ring: nothing sealed is opened).
"""

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from schemas.vocabulary import EARLIEST_YEAR, LATEST_YEAR
from workers.cli import support

if TYPE_CHECKING:
    from schemas.monitoring import ClosedCaseExport

export_app = typer.Typer(
    help="Anonymised exports from the case register (no personal data, no ids, no free text).",
    no_args_is_help=True,
)


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


async def _closed_cases(database_url: str, year: int) -> "ClosedCaseExport":
    from activities.annual_summary import AnnualSummaryRegister
    from workers.register import open_register

    pool = await open_register(database_url, max_size=1)
    try:
        return await AnnualSummaryRegister(pool).closed_case_export(year, datetime.now(UTC))
    finally:
        await pool.close()


@export_app.command("cases")
def cases(
    year: Annotated[
        int,
        typer.Option(
            min=EARLIEST_YEAR,
            max=LATEST_YEAR,
            help="The calendar year (UTC) the cases were received in.",
        ),
    ],
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="json or csv.")
    ] = ExportFormat.JSON,
    out: Annotated[
        Path | None, typer.Option(help="Write the export to FILE instead of standard output.")
    ] = None,
) -> None:
    """Export the closed cases received in YEAR, anonymised, one row each.

    Rows are in random order with a random row number, and hold coarse values only: the year,
    country, minerals, harm types (confirmed where verified, else alleged), methods of control,
    response level, HTCDS case status and outcome. Field names are HTCDS's where HTCDS has one
    (activities/annual_summary.py lists the mapping). No incident, facility or victim id, no
    free text, no date finer than the year. A case counts once it is closed. Needs the register.

    Caution: the rows are not grouped or suppressed like the annual summary. A case alone in its
    country and year stays recognisable to anyone who already knows of it, so share the export
    only where that is acceptable (for example with an industry programme under agreement), and
    publish the annual summary instead.
    """
    from activities.annual_summary import export_csv, export_json

    settings = support._settings()
    database_url = support._database_url(settings)
    export = support._run(_closed_cases(database_url, year))
    typer.echo(
        "note: rows are not suppressed like the annual summary; a case alone in its country and "
        "year stays recognisable to whoever already knows of it",
        err=True,
    )
    text = export_json(export) if output_format == ExportFormat.JSON else export_csv(export)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        support._fail(f"cannot write {out}: {error.strerror or error}")
    typer.echo(f"{len(export.rows)} closed case(s) of {year} written to {out}", err=True)
