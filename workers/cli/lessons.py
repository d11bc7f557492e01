"""`remediation lessons`: lessons across incidents, read from the case register.

Registered on the `remediation` app by workers/cli/main.py.
"""

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from schemas.vocabulary import Mineral, RootCause
from workers.cli import support

# The lessons' models (pydantic) are imported when the command runs, not with the command line.
if TYPE_CHECKING:
    from datetime import date

    from schemas.lessons import InvalidLessonsFilter, LessonsFilter, LessonsOverview

# Descriptions of due-diligence changes are cut to this many characters for people (not in JSON).
_DESCRIPTION_WIDTH = 160


def _invalid(error: "InvalidLessonsFilter") -> NoReturn:
    """A filter is not a value the register holds (exit code 2, like any bad input)."""
    for problem in error.problems:
        typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(code=2)


async def _overview(database_url: str, filters: "LessonsFilter") -> "LessonsOverview":
    import asyncpg

    from activities.lessons_analysis import lessons_across_incidents
    from workers.errors import StartupError
    from workers.register import open_register

    pool = await open_register(database_url, max_size=1)
    try:
        return await lessons_across_incidents(
            pool,
            facility=filters.facility,
            country=filters.country,
            mineral=filters.mineral,
            root_cause=filters.root_cause,
        )
    except asyncpg.UndefinedTableError:
        raise StartupError(
            "the case register has no lessons table yet: run `remediation db migrate`"
        ) from None
    finally:
        await pool.close()


def _plain(text: str, width: int = _DESCRIPTION_WIDTH) -> str:
    """Text as one line of printable characters, cut to `width` (free text from the register)."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _day(day: "date") -> str:
    return day.isoformat()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _print_overview(overview: "LessonsOverview") -> None:
    from schemas.lessons import RECURRING_AT, REPEATED_AT

    scope = overview.filters.describe()
    typer.echo(f"Lessons across incidents{f' ({scope})' if scope else ''}")
    typer.echo(
        f"{_plural(overview.lessons_matched, 'lesson')} learned, from "
        f"{_plural(overview.incidents_matched, 'matching incident')} (with lessons or not)."
    )

    typer.echo("")
    typer.echo(f"Root causes (recurring: named in {RECURRING_AT} or more incidents' lessons)")
    if overview.root_causes:
        support._table(
            ["ROOT CAUSE", "INCIDENTS", "SHARE", "RECURRING"],
            [
                [
                    count.root_cause.value,
                    str(count.incidents),
                    _percent(count.share),
                    "yes" if count.recurring else "no",
                ]
                for count in overview.root_causes
            ],
            indent="  ",
        )
    else:
        typer.echo("  none recorded")

    typer.echo("")
    typer.echo("Harm types")
    if overview.harm_types:
        support._table(
            ["HARM TYPE", "INCIDENTS", "SHARE"],
            [
                [count.harm_type.value, str(count.incidents), _percent(count.share)]
                for count in overview.harm_types
            ],
            indent="  ",
        )
    else:
        typer.echo("  none recorded")

    typer.echo("")
    typer.echo(f"Facilities with repeated incidents ({REPEATED_AT} or more)")
    if overview.repeated_facilities:
        support._table(
            ["FACILITY", "INCIDENTS", "FIRST RECEIVED", "LAST RECEIVED"],
            [
                [
                    _plain(facility.facility_id),
                    str(facility.incidents),
                    _day(facility.first_received),
                    _day(facility.last_received),
                ]
                for facility in overview.repeated_facilities
            ],
            indent="  ",
        )
    else:
        typer.echo("  none")

    typer.echo("")
    typer.echo(f"Suppliers with repeated incidents ({REPEATED_AT} or more, names ignoring case)")
    if overview.repeated_suppliers:
        support._table(
            ["SUPPLIER", "INCIDENTS", "FIRST RECEIVED", "LAST RECEIVED"],
            [
                [
                    _plain(supplier.supplier, 60),
                    str(supplier.incidents),
                    _day(supplier.first_received),
                    _day(supplier.last_received),
                ]
                for supplier in overview.repeated_suppliers
            ],
            indent="  ",
        )
    else:
        typer.echo("  none")

    typer.echo("")
    typer.echo("What changed in due diligence as a result")
    if not overview.due_diligence_changes:
        typer.echo("  no changes recorded")
    for area in overview.due_diligence_changes:
        typer.echo(
            f"  {area.area}: {_plural(area.changes, 'change')} in "
            f"{_plural(area.incidents, 'incident')}, latest {_day(area.last_recorded)}"
        )
        for description in area.descriptions:
            typer.echo(f"    - {_plain(description)}")
        if area.more_descriptions:
            typer.echo(f"    … and {area.more_descriptions} more")


def lessons(
    facility: Annotated[
        str | None,
        typer.Option(
            metavar="ID", help="Only incidents concerning this facility (e.g. CID001234)."
        ),
    ] = None,
    country: Annotated[
        str | None,
        typer.Option(
            metavar="CC", help="Only incidents in this country (ISO 3166-1 alpha-2, e.g. CD)."
        ),
    ] = None,
    mineral: Annotated[
        str | None,
        typer.Option(
            metavar="MINERAL",
            help=f"Only incidents concerning this mineral: {', '.join(m.value for m in Mineral)}.",
        ),
    ] = None,
    root_cause: Annotated[
        str | None,
        typer.Option(
            "--root-cause",
            metavar="CAUSE",
            help="Only incidents whose lessons name this root cause: "
            f"{', '.join(c.value for c in RootCause)}.",
        ),
    ] = None,
    as_json: support.JsonOption = False,
) -> None:
    """Lessons across incidents: recurring root causes, facilities and suppliers with repeated
    incidents, and what changed in due diligence as a result.

    Read from the case register: the lessons knowledge base (one entry per incident, written when
    its lessons learned are captured at step 6) and the incidents themselves. Filters combine;
    every section counts only the incidents that match them. With --root-cause only incidents
    with lessons can match, since root causes are known only from lessons.

    Root causes: each root cause the matching lessons name, with the number of incidents and the
    share of the lessons; one named in 2 or more incidents is recurring. Most first.

    Harm types: the harms the matching lessons record (those confirmed at verification, else
    those alleged), counted the same way.

    Facilities with repeated incidents: facility ids named by 2 or more matching incidents,
    whether or not their lessons are captured yet, with the days the first and the latest were
    received (UTC).

    Suppliers with repeated incidents: the same for supplier names, compared ignoring case and
    surrounding spaces, shown as most incidents spell them.

    What changed in due diligence: the changes recorded with the lessons, by area (policy,
    supplier code, audit protocol, sourcing, grievance mechanism, training), with how many, in
    how many incidents, and the distinct descriptions, most recent first (at most 5 per area).

    Prints "No lessons match." when there is nothing to show. Uses DATABASE_URL, or the register
    of the `remediation up` running on the data directory.
    """
    from schemas.lessons import InvalidLessonsFilter, LessonsFilter

    try:
        filters = LessonsFilter.parse(
            facility=facility, country=country, mineral=mineral, root_cause=root_cause
        )
    except InvalidLessonsFilter as error:
        _invalid(error)
    url = support._database_url(support._settings())
    overview = support._run(_overview(url, filters))
    if as_json:
        support._print_json(overview.model_dump(mode="json"))
    elif overview.empty:
        scope = overview.filters.describe()
        typer.echo(f"No lessons match{f' ({scope})' if scope else ''}.")
    else:
        _print_overview(overview)
