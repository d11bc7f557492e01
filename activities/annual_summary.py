"""The yearly due-diligence summary (OECD Step 5 style) and the anonymised export of closed cases.

Both describe the incidents **received in one calendar year (UTC)**, as the register stands when
they are made (`as_of`): incidents received after `as_of` are left out, an incident counts as
closed when it was closed by `as_of`, actions count under their status as last recorded. Both are
meant to leave the company: they read only coarse, structured columns — never the intake (reporter,
description), an event's reason, summary or free text, a victim, an incident or facility id or an
external reference. From event payloads only enumerated fields are read (a verification's outcome,
harms confirmed and methods of control; a closure's status), each checked against the vocabulary;
from the lessons only the root causes and the area of each change (the text before its colon).

**The summary** (`AnnualSummary`), definitions:

- *Incidents*: received in the year. Every incident counts under exactly one country, severity,
  response level (`undetermined` until step 2 decides one), supply-chain tier, channel, harm basis
  and status; under each of its minerals, harm types and (once lessons are captured) root causes.
- *Harm types*: those confirmed by the latest verification that reached a finding (not
  inconclusive) when it substantiated the allegation, fully or partly; else those alleged at
  intake (the rule of the lessons knowledge base). *Harm basis* says which of the two they are.
- *Status*: closed when closed by `as_of`, else open. A closed incident's *case status* is the
  status its closure decision gave (closed, or closed and referred to a partner; closed early
  counts as closed); its *outcome* is why it closed (remediation completed, not substantiated, no
  link to the supply chain, or closed early as a duplicate, merged, out of scope or withdrawn).
- *Median days to close*: from receipt to closure over the closed incidents, in whole days; left
  out when fewer than 5 incidents are closed (the median of so few is nearly one case's own).
- *Actions*: the remediation actions of the year's incidents, by category, by type within each
  category, and by status (completed, cancelled, open: not started, in progress or blocked). The
  *completed share* is completed / all actions, shown only when both counts are shown exactly.
- *Lessons*: incidents whose lessons were captured by `as_of`; their root causes; the
  due-diligence changes made (each change once, by area).

**Suppression rule** (the same in every table):

1. *Small counts*: every count from 1 to 4 is published as `<5` (`SMALL_COUNT`), totals included.
   Zero is published as 0.
2. *No recovery by subtraction*: in a table whose rows add up to a published total (each item
   under exactly one row), the published figures are audited as a reader would use them: a `<5`
   is 1 to 4, an `x` is 5 or more, a shown count is exact, and the rows add up to the total (1 to
   4 when the total itself is `<5`). While any suppressed row could be worked out exactly from
   that — one `<5` alone, or several whose sum forces each (two `<5` adding up to 2, say) — the
   smallest shown non-zero row (the first in the table's order on a tie) is withheld too, as `x`
   (`WITHHELD_COUNT`). If every non-zero row is suppressed and one could still be worked out,
   the whole breakdown is withheld (no rows, not even which categories occur). The audit reads
   the figures as published, as statistical offices audit suppressed tables; it does not model a
   reader who re-runs this rule on guessed counts to learn from which rows it chose.
3. *Nested tables*: types within a category and the closed incidents' breakdowns add up to a row
   of another table; they are shown only when that row is shown exactly, and withheld otherwise,
   so that nothing they add up to can sharpen a suppressed row of the parent.
4. Tables where an item may count under several rows (minerals, harm types, root causes) add up
   to no published figure; rule 1 applies alone.

Rows are listed in a fixed order (the vocabulary's; countries alphabetically), never by count, so
the order says nothing about suppressed counts.

**The export** (`ClosedCaseExport`): one row per incident received in the year and closed by
`as_of`, in random order, numbered from 1 at random (the number is no identifier and differs on
every export), as JSON or CSV (lists joined with `;`). Field names follow IOM's Human Trafficking
Case Data Standard (HTCDS, as the Counter-Trafficking Data Collaborative publishes it) where HTCDS
has the field, and the engine's own names otherwise; values follow `HTCDS_NAMES` where HTCDS has a
name for them and are the engine's values otherwise:

- `row` (engine): the random row number of this export.
- `yearOfRegistration` (HTCDS): the year the allegation was received (the export's year).
- `CountryOfExploitation` (HTCDS): ISO 3166-1 alpha-2 country of the site.
- `typeOfLabourConcatenated` (HTCDS): always `MiningOrDrilling` (`HTCDS_LABOUR_EXPLOITATION_TYPE`).
- `typeOfExploitConcatenated` (HTCDS): the harm types (confirmed where verified, else alleged):
  `ForcedLabour`, `HumanTrafficking`, `DebtBondage`, `SexualExploitation`; the engine's value for
  the child-labour types and other serious abuses, which HTCDS does not name.
- `harm_basis` (engine): `confirmed` (by verification) or `alleged`.
- `meansOfControlConcatenated` (HTCDS): the methods of control observed by the verification that
  confirmed the harms (none when they are only alleged), by their HTCDS names (`DebtBondage`,
  `WithholdsDocuments`, `RestrictsMovement`, `Threats`, ...).
- `caseStatus` (HTCDS): `Closed` or `ClosedReferred`.
- `minerals` (engine): the minerals concerned.
- `response_level` (engine): the response level, `undetermined` if none was set.
- `outcome` (engine): how the case ended (`CaseOutcome`).

The export is not k-anonymised: a case alone in its country and year remains recognisable to
whoever already knows of it. Share it under the industry programme's data-sharing terms.
"""

import csv
import io
import json
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.database import Connection
from schemas.common import EARLIEST_YEAR, LATEST_YEAR
from schemas.monitoring import (
    SMALL_COUNT,
    WITHHELD_COUNT,
    AnnualSummary,
    CaseOutcome,
    ClosedCaseExport,
    ClosedCaseRow,
    CountTable,
    PublishedCount,
)
from schemas.vocabulary import (
    HTCDS_LABOUR_EXPLOITATION_TYPE,
    HTCDS_NAMES,
    ActionCategory,
    ActionStatus,
    AssistanceType,
    CaseStatus,
    ChangeArea,
    Channel,
    EarlyClosureReason,
    HarmType,
    MethodOfControl,
    Mineral,
    RemedyType,
    ResponseLevel,
    RootCause,
    Severity,
    SupplyChainTier,
    VerificationOutcome,
)

log = structlog.get_logger(__name__)

THRESHOLD = 5
"""Counts below this (and above zero) are never published."""
UNDETERMINED: Final = "undetermined"
OTHER: Final = "other"
OPEN: Final = "open"
CLOSED: Final = "closed"
CONFIRMED: Final = "confirmed"
ALLEGED: Final = "alleged"
CAPTURED: Final = "captured"
NOT_CAPTURED: Final = "not_captured"
OPEN_ACTION_STATUSES = frozenset(
    {ActionStatus.NOT_STARTED, ActionStatus.IN_PROGRESS, ActionStatus.BLOCKED}
)
_DAY_SECONDS = 86400.0
_CONCLUSIVE = frozenset(
    {VerificationOutcome.SUBSTANTIATED, VerificationOutcome.PARTIALLY_SUBSTANTIATED}
)
# The closure reasons the incident workflow writes (workflows/rules/); an early closure
# writes "closed early: <reason>". A reason not listed here counts as `other`: its text is never
# published.
_OUTCOMES = {
    "remediation completed": CaseOutcome.REMEDIATION_COMPLETED,
    "not substantiated": CaseOutcome.NOT_SUBSTANTIATED,
    "no link to the company's supply chain": CaseOutcome.NO_LINK,
    **{
        f"closed early: {reason.value}": CaseOutcome(f"closed_early_{reason.value}")
        for reason in EarlyClosureReason
    },
}

# --- SQL ------------------------------------------------------------------------------------

# $1, $2: the year's first instant and the next year's; $3: as_of.
_COHORT = "i.received_at >= $1 AND i.received_at < $2 AND i.received_at <= $3"


def _enum_array(path: str) -> str:
    return (
        f"ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(e.payload -> '{path}') "
        f"WHEN 'array' THEN e.payload -> '{path}' ELSE '[]'::jsonb END))"
    )


# One row per incident of the year, coarse columns only: no id, no reference, no intake.
_INCIDENTS = f"""
SELECT i.country, i.minerals, i.alleged_harms, i.severity, i.response_level, i.tier, i.channel,
       i.received_at, i.closed_at, i.case_status, i.closure_reason,
       verification.outcome AS verification_outcome,
       coalesce(verification.harms_confirmed, '{{}}') AS harms_confirmed,
       coalesce(verification.methods_of_control, '{{}}') AS methods_of_control,
       closure.status AS closure_status
FROM incidents AS i
LEFT JOIN LATERAL (
    SELECT e.payload ->> 'outcome' AS outcome,
           {_enum_array("harms_confirmed")} AS harms_confirmed,
           {_enum_array("methods_of_control")} AS methods_of_control
    FROM incident_events AS e
    WHERE e.incident_id = i.incident_id
      AND e.kind = 'verification' AND e.outcome = 'accepted' AND e.occurred_at <= $3
      AND e.payload ->> 'outcome' IN ('substantiated', 'partially_substantiated',
                                      'not_substantiated')
    ORDER BY e.sequence DESC
    LIMIT 1
) AS verification ON true
LEFT JOIN LATERAL (
    SELECT e.payload ->> 'status' AS status
    FROM incident_events AS e
    WHERE e.incident_id = i.incident_id
      AND e.kind = 'closure' AND e.outcome IN ('accepted', 'pending_approval')
      AND e.occurred_at <= $3
    ORDER BY e.sequence DESC
    LIMIT 1
) AS closure ON true
WHERE {_COHORT}
"""

_ACTIONS = f"""
SELECT a.category, a.action_type, a.status
FROM actions AS a
JOIN incidents AS i USING (incident_id)
WHERE {_COHORT}
"""

# Only the area of each change: the text after the colon is never read.
_LESSONS = f"""
SELECT l.root_causes,
       ARRAY(
           SELECT split_part(change, ':', 1)
           FROM jsonb_array_elements_text(l.changes_made) AS change
       ) AS change_areas
FROM lessons AS l
JOIN incidents AS i USING (incident_id)
WHERE {_COHORT} AND l.recorded_at <= $3
"""


# --- Suppression ----------------------------------------------------------------------------


def published(count: int) -> PublishedCount:
    """A count as it may be published: 1 to 4 become `<5`."""
    return SMALL_COUNT if 0 < count < THRESHOLD else count


def _bounds(cell: PublishedCount) -> tuple[float, float]:
    """What a reader knows of a published count: the least and most it can be."""
    if cell == SMALL_COUNT:
        return 1, THRESHOLD - 1
    if cell == WITHHELD_COUNT:
        return THRESHOLD, float("inf")
    assert isinstance(cell, int)
    return cell, cell


def determined(rows: Mapping[str, PublishedCount], total: PublishedCount) -> list[str]:
    """The suppressed rows a reader can work out exactly from the published rows and total.

    Each row is between its bounds and the rows add up to the total, so a row lies between
    `total's least - the others' most` and `total's most - the others' least`; a suppressed row
    whose range holds a single value is determined. (With one sum and bounds per row, this range
    is exactly the set of values the row can take.)
    """
    total_low, total_high = _bounds(total)
    bounds = {key: _bounds(cell) for key, cell in rows.items()}
    found = []
    for key, cell in rows.items():
        if isinstance(cell, int):
            continue
        low, high = bounds[key]
        others_low = sum(b[0] for other, b in bounds.items() if other != key)
        others_high = sum(b[1] for other, b in bounds.items() if other != key)
        if min(high, total_high - others_low) <= max(low, total_low - others_high):
            found.append(key)
    return found


def partition_table(counts: Mapping[str, int], total: PublishedCount) -> CountTable:
    """A table whose rows add up to `total` (as published), suppressed by rules 1 and 2."""
    rows: dict[str, PublishedCount] = {key: published(count) for key, count in counts.items()}
    while determined(rows, total):
        shown = [key for key, cell in rows.items() if isinstance(cell, int) and cell > 0]
        if not shown:
            return CountTable(rows={}, total=total, withheld=True)
        rows[min(shown, key=lambda key: counts[key])] = WITHHELD_COUNT
    return CountTable(rows=rows, total=total)


def nested_table(counts: Mapping[str, int], parent: PublishedCount) -> CountTable:
    """A table adding up to a row of another table: shown only when that row is (rule 3)."""
    if not isinstance(parent, int):
        return CountTable(rows={}, total=parent, withheld=True)
    return partition_table(counts, parent)


def overlapping_table(counts: Mapping[str, int]) -> CountTable:
    """A table where an item may count under several rows (rule 4)."""
    return CountTable(rows={key: published(count) for key, count in counts.items()})


def _counts(keys: Iterable[str], values: Iterable[str]) -> dict[str, int]:
    """Counts of `values` under `keys` (in that order, zeros included); anything else, if it
    occurs, under `other`."""
    counts = dict.fromkeys((str(key) for key in keys), 0)
    for value, count in Counter(values).items():
        key = value if value in counts else OTHER
        counts[key] = counts.get(key, 0) + count
    return counts


# --- Reading the register -------------------------------------------------------------------


def _valid(values: Iterable[str], vocabulary: type[StrEnum]) -> list[str]:
    allowed = {member.value for member in vocabulary}
    return [value for value in values if value in allowed]


def _known(value: str, vocabulary: type[StrEnum]) -> str:
    return value if value in {member.value for member in vocabulary} else OTHER


@dataclass(frozen=True)
class _Incident:
    """What the summary and the export know of one incident: coarse values only."""

    country: str
    minerals: list[str]
    harms: list[str]
    harm_basis: Literal["confirmed", "alleged"]
    methods_of_control: list[str]
    severity: str
    response_level: str
    tier: str
    channel: str
    closed: bool
    closure_status: CaseStatus | None
    outcome: CaseOutcome | None
    days_to_close: float | None


def _incident(row: asyncpg.Record, as_of: datetime) -> _Incident:
    confirmed = _valid(row["harms_confirmed"], HarmType)
    conclusive = row["verification_outcome"] in _CONCLUSIVE and bool(confirmed)
    closed = row["closed_at"] is not None and row["closed_at"] <= as_of
    closure_status, outcome, days_to_close = None, None, None
    if closed:
        # A case in post-closure follow-up no longer says it was referred; its closure does.
        referred = CaseStatus.CLOSED_REFERRED.value in (row["case_status"], row["closure_status"])
        closure_status = CaseStatus.CLOSED_REFERRED if referred else CaseStatus.CLOSED
        outcome = _OUTCOMES.get(row["closure_reason"] or "", CaseOutcome.OTHER)
        days_to_close = (row["closed_at"] - row["received_at"]).total_seconds() / _DAY_SECONDS
    level = row["response_level"]
    return _Incident(
        country=row["country"],
        minerals=_valid(row["minerals"], Mineral),
        harms=confirmed if conclusive else _valid(row["alleged_harms"], HarmType),
        harm_basis=CONFIRMED if conclusive else ALLEGED,
        methods_of_control=_valid(row["methods_of_control"], MethodOfControl) if conclusive else [],
        severity=_known(row["severity"], Severity),
        response_level=UNDETERMINED if level is None else _known(level, ResponseLevel),
        tier=_known(row["tier"], SupplyChainTier),
        channel=_known(row["channel"], Channel),
        closed=closed,
        closure_status=closure_status,
        outcome=outcome,
        days_to_close=days_to_close,
    )


@dataclass(frozen=True)
class _Action:
    category: str
    action_type: str
    status: str


@dataclass(frozen=True)
class _Lessons:
    root_causes: list[str]
    change_areas: list[str]


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ApplicationError(
            f"year must lie between {EARLIEST_YEAR} and {LATEST_YEAR}",
            type="InvalidYear",
            non_retryable=True,
        )
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ApplicationError(
            "as_of must be an aware datetime (with a time zone)",
            type="NaiveInstant",
            non_retryable=True,
        )
    return moment.astimezone(UTC)


# --- The summary from what was read ---------------------------------------------------------


def summarise(
    year: int,
    incidents: Sequence[_Incident],
    actions: Sequence[_Action],
    lessons: Sequence[_Lessons],
) -> AnnualSummary:
    """The summary of one year's incidents, every count suppressed by the module's rule."""
    total = published(len(incidents))
    closed = [incident for incident in incidents if incident.closed]
    status = partition_table(
        {OPEN: len(incidents) - len(closed), CLOSED: len(closed)},
        total,
    )
    closed_cell = status.rows.get(CLOSED, WITHHELD_COUNT)

    def each(values: Iterable[str], keys: Iterable[str]) -> CountTable:
        return partition_table(_counts(keys, values), total)

    def several(lists: Iterable[list[str]], keys: Iterable[str]) -> CountTable:
        return overlapping_table(_counts(keys, (value for items in lists for value in items)))

    remedy_types = [a.action_type for a in actions if a.category == ActionCategory.REMEDY]
    assistance_types = [a.action_type for a in actions if a.category == ActionCategory.ASSISTANCE]
    actions_total = published(len(actions))
    by_category = partition_table(
        _counts(ActionCategory, (a.category for a in actions)), actions_total
    )
    completed = sum(a.status == ActionStatus.COMPLETED for a in actions)
    by_status = partition_table(
        {
            ActionStatus.COMPLETED.value: completed,
            ActionStatus.CANCELLED.value: sum(a.status == ActionStatus.CANCELLED for a in actions),
            OPEN: sum(a.status in OPEN_ACTION_STATUSES for a in actions),
        },
        actions_total,
    )
    completed_cell = by_status.rows.get(ActionStatus.COMPLETED.value)
    share_known = isinstance(completed_cell, int) and isinstance(actions_total, int)
    areas = [area for lesson in lessons for area in lesson.change_areas]
    changes_total = published(len(areas))
    durations = [i.days_to_close for i in closed if i.days_to_close is not None]
    return AnnualSummary(
        year=year,
        incidents=total,
        by_country=each((i.country for i in incidents), sorted({i.country for i in incidents})),
        by_mineral=several((i.minerals for i in incidents), Mineral),
        harm_basis=each((i.harm_basis for i in incidents), [CONFIRMED, ALLEGED]),
        by_harm_type=several((i.harms for i in incidents), HarmType),
        by_severity=each((i.severity for i in incidents), reversed(Severity)),
        by_response_level=each(
            (i.response_level for i in incidents), [*ResponseLevel, UNDETERMINED]
        ),
        by_tier=each((i.tier for i in incidents), SupplyChainTier),
        by_channel=each((i.channel for i in incidents), Channel),
        by_status=status,
        closed_by_case_status=nested_table(
            _counts(
                [CaseStatus.CLOSED, CaseStatus.CLOSED_REFERRED],
                (str(i.closure_status) for i in closed),
            ),
            closed_cell,
        ),
        closed_by_outcome=nested_table(
            _counts(CaseOutcome, (str(i.outcome) for i in closed)), closed_cell
        ),
        median_days_to_close=round(statistics.median(durations))
        if len(durations) >= THRESHOLD
        else None,
        actions=actions_total,
        actions_by_category=by_category,
        remedy_actions_by_type=nested_table(
            _counts(RemedyType, remedy_types),
            by_category.rows.get(ActionCategory.REMEDY.value, WITHHELD_COUNT),
        ),
        assistance_actions_by_type=nested_table(
            _counts(AssistanceType, assistance_types),
            by_category.rows.get(ActionCategory.ASSISTANCE.value, WITHHELD_COUNT),
        ),
        actions_by_status=by_status,
        completed_share=round(completed / len(actions), 4) if share_known and actions else None,
        lessons=partition_table(
            {CAPTURED: len(lessons), NOT_CAPTURED: len(incidents) - len(lessons)}, total
        ),
        by_root_cause=several((lesson.root_causes for lesson in lessons), RootCause),
        changes=changes_total,
        changes_by_area=partition_table(_counts(ChangeArea, areas), changes_total),
    )


def _htcds(value: StrEnum) -> str:
    return HTCDS_NAMES.get(value, value.value)


def export_rows(year: int, incidents: Sequence[_Incident]) -> ClosedCaseExport:
    """One row per closed incident, shuffled and numbered at random (no order of receipt,
    closure or id survives)."""
    closed = [incident for incident in incidents if incident.closed]
    random.SystemRandom().shuffle(closed)
    return ClosedCaseExport(
        year=year,
        rows=[
            ClosedCaseRow(
                row=number,
                yearOfRegistration=year,
                CountryOfExploitation=incident.country,
                typeOfLabourConcatenated=HTCDS_LABOUR_EXPLOITATION_TYPE,
                typeOfExploitConcatenated=[_htcds(HarmType(harm)) for harm in incident.harms],
                harm_basis=incident.harm_basis,
                meansOfControlConcatenated=[
                    _htcds(MethodOfControl(method)) for method in incident.methods_of_control
                ],
                caseStatus=_htcds(incident.closure_status or CaseStatus.CLOSED),
                minerals=list(incident.minerals),
                response_level=incident.response_level,
                outcome=incident.outcome or CaseOutcome.OTHER,
            )
            for number, incident in enumerate(closed, start=1)
        ],
    )


def export_json(export: ClosedCaseExport) -> str:
    """The export as JSON: the year and the rows."""
    return json.dumps(export.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


EXPORT_FIELDS = list(ClosedCaseRow.model_fields)


def export_csv(export: ClosedCaseExport) -> str:
    """The export as CSV, one header line and one line per row; lists joined with `;`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    for row in export.rows:
        values = row.model_dump(mode="json")
        writer.writerow(
            [
                ";".join(value) if isinstance(value, list) else value
                for value in (values[name] for name in EXPORT_FIELDS)
            ]
        )
    return buffer.getvalue()


# --- The activities -------------------------------------------------------------------------


class AnnualSummaryRegister:
    """Reads one year of the register for the summary and the export; the pool is injected."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _read(
        self, year: int, as_of: datetime, *, with_actions_and_lessons: bool
    ) -> tuple[list[_Incident], list[_Action], list[_Lessons]]:
        start, end = _year_bounds(year)
        as_of = _aware(as_of)
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            incidents = [
                _incident(row, as_of)
                for row in await connection.fetch(_INCIDENTS, start, end, as_of)
            ]
            if not with_actions_and_lessons:
                return incidents, [], []
            return (
                incidents,
                await self._actions(connection, start, end, as_of),
                [
                    _Lessons(
                        root_causes=_valid(row["root_causes"], RootCause),
                        change_areas=[_known(area, ChangeArea) for area in row["change_areas"]],
                    )
                    for row in await connection.fetch(_LESSONS, start, end, as_of)
                ],
            )

    @staticmethod
    async def _actions(
        connection: Connection, start: datetime, end: datetime, as_of: datetime
    ) -> list[_Action]:
        actions = []
        for row in await connection.fetch(_ACTIONS, start, end, as_of):
            category = _known(row["category"], ActionCategory)
            types: type[StrEnum] = (
                RemedyType if category == ActionCategory.REMEDY else AssistanceType
            )
            actions.append(
                _Action(
                    category=category,
                    action_type=_known(row["action_type"], types),
                    status=_known(row["status"], ActionStatus),
                )
            )
        return actions

    @activity.defn(name="annual_summary")
    async def annual_summary(self, year: int, as_of: datetime) -> AnnualSummary:
        """The yearly due-diligence summary of the incidents received in `year` (UTC), as the
        register stands at `as_of` (definitions and suppression in the module's docstring)."""
        incidents, actions, lessons = await self._read(year, as_of, with_actions_and_lessons=True)
        summary = summarise(year, incidents, actions, lessons)
        log.info("annual summary computed", year=year)
        return summary

    @activity.defn(name="closed_case_export")
    async def closed_case_export(self, year: int, as_of: datetime) -> ClosedCaseExport:
        """The anonymised export of the incidents received in `year` and closed by `as_of`."""
        incidents, _, _ = await self._read(year, as_of, with_actions_and_lessons=False)
        export = export_rows(year, incidents)
        log.info("closed cases exported", year=year, rows=len(export.rows))
        return export


def annual_summary_activities(register: AnnualSummaryRegister) -> list[Callable[..., Any]]:
    """The summary's activities, bound to it, for the worker to register."""
    return [register.annual_summary, register.closed_case_export]
