"""`remediation audit`: checks of the tamper-evident audit trail.

Registered on the `remediation` app by workers/cli/main.py.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from workers.cli import support

if TYPE_CHECKING:
    from activities.audit_trail import ChainReport

audit_app = typer.Typer(
    help="The append-only, tamper-evident audit trail of the case register.", no_args_is_help=True
)


# Progress goes to stderr only once a check has taken this long, then at most this often.
_QUIET_SECONDS = 2.0


class _Progress:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next = clock() + _QUIET_SECONDS

    def __call__(self, incidents: int, rows: int) -> None:
        if self._clock() >= self._next:
            typer.echo(f"checked {rows} rows across {incidents} incidents ...", err=True)
            self._next = self._clock() + _QUIET_SECONDS


async def _verify(database_url: str, incident_id: str | None) -> "ChainReport":
    from activities.audit_trail import verify_chain
    from workers.errors import StartupError
    from workers.register import open_register

    pool = await open_register(database_url, max_size=1)
    try:
        if not await pool.fetchval("SELECT to_regproc('audit_trail_row_hash') IS NOT NULL"):
            raise StartupError(
                "the case register has no hash chain yet: run `remediation db migrate`"
            )
        return await verify_chain(pool, incident_id, progress=_Progress())
    finally:
        await pool.close()


@audit_app.command("verify")
def verify(
    incident_id: Annotated[
        str | None,
        typer.Argument(
            metavar="INCIDENT", help="Check only this incident (default: every incident)."
        ),
    ] = None,
    as_json: support.JsonOption = False,
) -> None:
    """Check that no audit entry was changed or removed since it was recorded.

    Every entry carries a SHA-256 hash of its content and of the previous entry of the same
    incident, computed by the database when the entry is written. This recomputes every hash and
    follows every link, incident by incident. Prints `audit trail intact: N rows across M
    incidents` and exits 0; otherwise prints one line per broken incident naming its first bad
    row (sequence, entry id) and what failed, and exits 1: "content changed" (the row or its
    hash was edited) or "link broken" (the row before it was removed, moved or edited).

    The chain cannot show that an incident's newest entries were removed, or that someone with
    write access to the database rebuilt a whole chain: that needs the row_hash of each
    incident's newest entry kept outside the database.
    Uses DATABASE_URL, or the register of the `remediation up` running on the data directory.
    """
    url = support._database_url(support._settings())
    report = support._run(_verify(url, incident_id))
    if incident_id is not None and report.rows_checked == 0:
        support._fail(f"the audit trail has no entries for incident {incident_id}")
    if as_json:
        support._print_json(report.model_dump(mode="json"))
    elif report.ok:
        typer.echo(
            f"audit trail intact: {report.rows_checked} rows across "
            f"{report.incidents_checked} incidents"
        )
    else:
        for link in report.broken:
            typer.echo(
                f"incident {link.incident_id}: row {link.sequence} (entry {link.entry_id}): "
                f"{link.failure.description}"
            )
    if not report.ok:
        support._fail(
            f"audit trail broken in {len(report.broken)} of {report.incidents_checked} "
            f"incidents ({report.rows_checked} rows checked)"
        )
