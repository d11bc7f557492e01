"""Lessons across incidents: recurring root causes, repeated facilities and suppliers, and what
changed in due diligence as a result (`remediation lessons`).

Every figure is an aggregate computed by PostgreSQL, read in one read-only, repeatable-read
transaction so that the figures agree with each other. Nothing personal is read: no intake, no
event, no victim; only the lessons' root causes, harm types and due-diligence changes, and the
incidents' facility ids, supplier names and when they were received.

Definitions:

- **Matching**: an incident matches when it concerns the facility, is in the country and concerns
  the mineral given (each filter only when given), and, with a root cause, when its lessons name
  that root cause: root causes are known only once lessons are captured, so with a root cause only
  incidents with lessons match. A lesson matches by the same facility, country and mineral (the
  lessons carry the incident's own) and root cause.
- **Root causes** and **harm types**: per value, the matching lessons naming it (one lesson per
  incident), with its share of the lessons matched; most first, ties by name. Every value named
  is listed; a root cause named in `RECURRING_AT` (2) or more incidents' lessons is *recurring*.
- **Repeated facilities**: facility ids named by `REPEATED_AT` (2) or more matching incidents,
  lessons or not, with the UTC days the first and the latest of them were received; most first,
  ties by id. Facility ids are compared exactly, as related-incident detection does.
- **Repeated suppliers**: the same, for supplier names compared as `register_fold_names` folds
  them (case and surrounding spaces ignored), shown as most incidents spell them.
- **Due-diligence changes**: the `changes_made` entries of the matching lessons ("area: change"),
  per area: how many, in how many incidents, the latest day one was recorded, and the distinct
  descriptions, most recently recorded first (ties by text), at most `DESCRIPTIONS_PER_AREA` (5);
  most changes first, ties by area, an entry naming no area last.
"""

from datetime import UTC, date, datetime

import asyncpg

from activities.database import Connection
from schemas.lessons import (
    DESCRIPTIONS_PER_AREA,
    RECURRING_AT,
    REPEATED_AT,
    UNSPECIFIED_AREA,
    DueDiligenceChanges,
    HarmTypeCount,
    LessonsFilter,
    LessonsOverview,
    RepeatedFacility,
    RepeatedSupplier,
    RootCauseCount,
)
from schemas.vocabulary import HarmType, Mineral, RootCause

# {lessons} is the condition on the lessons (alias l), {incidents} on the incidents (alias i);
# both take the same numbered arguments.
_TOTALS = """
SELECT (SELECT count(*) FROM lessons l WHERE {lessons}) AS lessons,
       (SELECT count(*) FROM incidents i WHERE {incidents}) AS incidents
"""

# Root causes are distinct within a lesson (LessonsLearned refuses a repeat); counting distinct
# incidents keeps a row written otherwise from counting twice.
_PER_VALUE = """
SELECT value, count(DISTINCT l.incident_id) AS incidents
FROM lessons l CROSS JOIN LATERAL unnest(l.{column}) AS value
WHERE {lessons}
GROUP BY value
ORDER BY incidents DESC, value
"""

_REPEATED_FACILITIES = """
SELECT facility_id,
       count(DISTINCT i.incident_id) AS incidents,
       min(i.received_at) AS first_received,
       max(i.received_at) AS last_received
FROM incidents i CROSS JOIN LATERAL unnest(i.facility_ids) AS facility_id
WHERE {incidents}
GROUP BY facility_id
HAVING count(DISTINCT i.incident_id) >= {repeated}
ORDER BY incidents DESC, facility_id
"""

# Each name folded by register_fold_names itself, so the comparison is related-incident
# detection's; shown as most incidents spell it (ties: the first spelling in sort order).
_REPEATED_SUPPLIERS = """
SELECT folded,
       mode() WITHIN GROUP (ORDER BY btrim(name)) AS supplier,
       count(DISTINCT i.incident_id) AS incidents,
       min(i.received_at) AS first_received,
       max(i.received_at) AS last_received
FROM incidents i
     CROSS JOIN LATERAL unnest(i.suppliers) AS name
     CROSS JOIN LATERAL (SELECT (register_fold_names(ARRAY[name]))[1] AS folded) AS f
WHERE ({incidents}) AND folded <> ''
GROUP BY folded
HAVING count(DISTINCT i.incident_id) >= {repeated}
ORDER BY incidents DESC, folded
"""

# changes_made holds "area: change" lines (workflows/incident.py); a line naming no area is
# counted under '' (shown as UNSPECIFIED_AREA).
_CHANGES = """
WITH entries AS (
    SELECT l.incident_id, l.recorded_at, entry
    FROM lessons l CROSS JOIN LATERAL jsonb_array_elements_text(l.changes_made) AS entry
    WHERE {lessons}
), parsed AS (
    SELECT incident_id, recorded_at,
           CASE WHEN entry ~ '^[a-z_]+: ' THEN split_part(entry, ': ', 1) ELSE '' END AS area,
           CASE WHEN entry ~ '^[a-z_]+: ' THEN substr(entry, strpos(entry, ': ') + 2)
                ELSE entry END AS description
    FROM entries
), areas AS (
    SELECT area,
           count(*) AS changes,
           count(DISTINCT incident_id) AS incidents,
           max(recorded_at) AS last_recorded
    FROM parsed
    GROUP BY area
), descriptions AS (
    SELECT area, description,
           row_number() OVER (
               PARTITION BY area ORDER BY max(recorded_at) DESC, description
           ) AS position,
           count(*) OVER (PARTITION BY area) AS distinct_descriptions
    FROM parsed
    GROUP BY area, description
)
SELECT a.area, a.changes, a.incidents, a.last_recorded,
       max(d.distinct_descriptions) AS distinct_descriptions,
       array_agg(d.description ORDER BY d.position)
           FILTER (WHERE d.position <= {listed}) AS descriptions
FROM areas a JOIN descriptions d USING (area)
GROUP BY a.area, a.changes, a.incidents, a.last_recorded
ORDER BY a.changes DESC, a.area = '', a.area
"""


def _conditions(filters: LessonsFilter) -> tuple[str, str, list[object]]:
    """The WHERE conditions on the lessons (l) and on the incidents (i), and their arguments.

    Containment (@>) rather than = ANY, so that the GIN indexes serve the filters.
    """
    lessons: list[str] = []
    incidents: list[str] = []
    arguments: list[object] = []

    def argument(value: str) -> str:
        arguments.append(value)
        return f"${len(arguments)}::text"

    if filters.facility is not None:
        placeholder = argument(filters.facility)
        lessons.append(f"l.facility_ids @> ARRAY[{placeholder}]")
        incidents.append(f"i.facility_ids @> ARRAY[{placeholder}]")
    if filters.country is not None:
        placeholder = argument(filters.country)
        lessons.append(f"l.country = {placeholder}")
        incidents.append(f"i.country = {placeholder}")
    if filters.mineral is not None:
        placeholder = argument(filters.mineral.value)
        lessons.append(f"l.minerals @> ARRAY[{placeholder}]")
        incidents.append(f"i.minerals @> ARRAY[{placeholder}]")
    if filters.root_cause is not None:
        placeholder = argument(filters.root_cause.value)
        lessons.append(f"l.root_causes @> ARRAY[{placeholder}]")
        incidents.append(
            "EXISTS (SELECT 1 FROM lessons c WHERE c.incident_id = i.incident_id"
            f" AND c.root_causes @> ARRAY[{placeholder}])"
        )
    return " AND ".join(lessons) or "true", " AND ".join(incidents) or "true", arguments


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def lessons_across_incidents(
    pool: asyncpg.Pool,
    *,
    facility: str | None = None,
    country: str | None = None,
    mineral: str | Mineral | None = None,
    root_cause: str | RootCause | None = None,
) -> LessonsOverview:
    """Lessons across the incidents matching every filter given (definitions in the docstring).

    Raises InvalidLessonsFilter, naming every filter that is not a value the register can hold
    (and the values allowed), before reading anything.
    """
    filters = LessonsFilter.parse(
        facility=facility, country=country, mineral=mineral, root_cause=root_cause
    )
    async with (
        pool.acquire() as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await _overview(connection, filters)


async def _overview(connection: Connection, filters: LessonsFilter) -> LessonsOverview:
    on_lessons, on_incidents, arguments = _conditions(filters)
    totals = await connection.fetchrow(
        _TOTALS.format(lessons=on_lessons, incidents=on_incidents), *arguments
    )
    assert totals is not None
    lessons = int(totals["lessons"])
    per_cause = await connection.fetch(
        _PER_VALUE.format(column="root_causes", lessons=on_lessons), *arguments
    )
    per_harm = await connection.fetch(
        _PER_VALUE.format(column="harm_types", lessons=on_lessons), *arguments
    )
    facilities = await connection.fetch(
        _REPEATED_FACILITIES.format(incidents=on_incidents, repeated=REPEATED_AT), *arguments
    )
    suppliers = await connection.fetch(
        _REPEATED_SUPPLIERS.format(incidents=on_incidents, repeated=REPEATED_AT), *arguments
    )
    changes = await connection.fetch(
        _CHANGES.format(lessons=on_lessons, listed=DESCRIPTIONS_PER_AREA), *arguments
    )
    return LessonsOverview(
        filters=filters,
        lessons_matched=lessons,
        incidents_matched=int(totals["incidents"]),
        root_causes=[
            RootCauseCount(
                root_cause=RootCause(row["value"]),
                incidents=row["incidents"],
                share=_share(row["incidents"], lessons),
                recurring=row["incidents"] >= RECURRING_AT,
            )
            for row in per_cause
        ],
        harm_types=[
            HarmTypeCount(
                harm_type=HarmType(row["value"]),
                incidents=row["incidents"],
                share=_share(row["incidents"], lessons),
            )
            for row in per_harm
        ],
        repeated_facilities=[
            RepeatedFacility(
                facility_id=row["facility_id"],
                incidents=row["incidents"],
                first_received=_day(row["first_received"]),
                last_received=_day(row["last_received"]),
            )
            for row in facilities
        ],
        repeated_suppliers=[
            RepeatedSupplier(
                supplier=row["supplier"],
                incidents=row["incidents"],
                first_received=_day(row["first_received"]),
                last_received=_day(row["last_received"]),
            )
            for row in suppliers
        ],
        due_diligence_changes=[
            DueDiligenceChanges(
                area=row["area"] or UNSPECIFIED_AREA,
                changes=row["changes"],
                incidents=row["incidents"],
                last_recorded=_day(row["last_recorded"]),
                descriptions=list(row["descriptions"]),
                more_descriptions=row["distinct_descriptions"] - len(row["descriptions"]),
            )
            for row in changes
        ],
    )
