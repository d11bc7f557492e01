"""Activities of the portfolio report: the portfolio's key figures, and storing the report.

Every figure is computed by PostgreSQL (no per-incident loop here): aggregates, and two capped
lists, of the approvals waiting longest and of the overdue milestones by incident. All are read in
one read-only, repeatable-read transaction so that they agree with each other. Nothing personal
is read: no intake, no event payload, reason or summary, no free text of a decision. The only
identifiers reported are pseudonymous ids: incident ids (workflow ids), approval ids, facility
ids, milestone names (a milestone kind, or `approval:<approval id>`, `action:<action id>`) and the
actor ids of case owners.

Definitions (as of `as_of`, the report's instant; the run happens at that instant, so the counts
of open incidents are the register as it stands, while every figure built from dated rows ignores
rows dated after `as_of`):

- **Open incident**: its step is not `completed`. This keeps incidents whose case status is
  already `closed` but that still await lessons learned or the post-closure follow-up: their
  workflow runs and they still have milestones.
- **Open by step, severity, response level, country, mineral, facility**: counts of open
  incidents. An incident concerning two minerals or facilities counts once under each. Every
  open step, severity, response level (`undetermined` until step 2 decides one) and mineral is
  listed, zeros included; countries and facilities only when they have an open incident, the
  facilities limited to the 25 with the most (ties by id).
- **Overdue incidents**: open incidents whose register row is flagged overdue.
- **Overdue milestones / active escalations**: a milestone is escalated when the latest
  escalation row of that incident and milestone (dated up to `as_of`) has a level of 1 to 3 (a
  level-0 row clears it). Counted per milestone kind and per level, for open incidents.
- **Overdue milestones by incident**: the escalated milestones of open incidents (as just
  defined), one row each: the incident id, its step and case owner as the register stands
  (`incidents.step` and `incidents.case_owner`: escalation rows record neither; no case owner is
  *unassigned*, null in the JSON), the milestone, when it was due (the `due_at` of its latest
  escalation row, so an extended deadline counts from its new date), the days from then to
  `as_of`, and the level reached. Latest first: the most recently due first, ties by incident id
  and then milestone, so the order is the same on every run. At most 200 are listed
  (`ESCALATED_MILESTONES_LISTED`); `escalated_milestones_total` counts them all, and equals the
  sum of the active escalations by level.
- **Time in step**: from `incident_step_stays` (kept by triggers, migration 0007): a stay starts
  at the event that moved the incident into the step (the opening for verification) and ends at
  the event that moved it on. The median and 90th percentile (`percentile_cont`, linear
  interpolation) in days are over the stays that *ended* within the window (the `window_days`
  before `as_of`); a stay still running is not counted, so a step nobody has left yet has no
  figures. Staying in verification over several inconclusive rounds is one stay.
- **On-time rate per milestone kind**: within the window, `met` counts the occurrences of the
  milestone kind that were met, from the register's own records of meeting them: the decision of
  the same name taking effect or being submitted for approval (outcome `accepted` or
  `pending_approval`) for acknowledge, immediate protection, verification (each round), response,
  action plan, check-in, closure, lessons learned and follow-up; an approval being decided
  (approved or rejected) for `approval`; an action ending completed or cancelled for
  `action_due`. `met_late` counts escalations cleared because the milestone was met (an
  escalated milestone was late, by definition of the ladder). The rate is
  `(met - met_late) / met`. A milestone that vanished with an early closure clears as met too,
  with no meeting decision: `met` is never taken below `met_late`. Milestones still overdue are
  not in the rate (they are in the overdue figures).
- **Check-in compliance**: for each severity whose check-in cadence (the deployment policy's
  check-in window) is set, the open incidents in implementation and how many of them are up to
  date: the time since their latest check-in, or since the action plan was approved when none
  came yet (the moment the check-in clock starts in the workflow), is at most the cadence.
- **Approvals waiting longest**: pending approvals of open incidents, oldest request first, at
  most 10, with the days waited until `as_of`.
- **Escalations over time**: escalation levels reached (escalation rows of level 1 to 3, by the
  instant the ladder reached them) per ISO week in UTC, for the 26 weeks ending with the week of
  `as_of`, weeks without any included. The figures (the JSON) and the chart keep every week; the
  Markdown and HTML tables show each run of two or more weeks in a row without any as one row.
"""

import asyncio
import json
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.database import Connection
from activities.report_rendering import report_html, report_json, report_markdown
from schemas.monitoring import (
    ESCALATED_MILESTONES_LISTED,
    CheckInCompliance,
    EscalatedMilestone,
    EscalationLevels,
    MilestoneOnTime,
    MonitoringKind,
    PortfolioKpis,
    PortfolioReport,
    StepDurations,
    StoredReport,
    WaitingApproval,
    WeeklyEscalations,
)
from schemas.policy import MilestoneKind, Policy
from schemas.vocabulary import Mineral, ResponseLevel, Severity, Step

log = structlog.get_logger(__name__)

# Durations and on-time rates look back this far from the report's instant.
WINDOW = timedelta(days=365)
WEEKS = 26
TOP_FACILITIES = 25
TOP_APPROVALS = 10
UNDETERMINED = "undetermined"
OPEN_STEPS = [step for step in Step if step != Step.COMPLETED]
# Milestone kinds met by the decision of the same name being accepted or submitted for approval.
_MET_BY_DECISION = [
    MilestoneKind.ACKNOWLEDGE,
    MilestoneKind.IMMEDIATE_PROTECTION,
    MilestoneKind.VERIFICATION,
    MilestoneKind.RESPONSE,
    MilestoneKind.ACTION_PLAN,
    MilestoneKind.CHECK_IN,
    MilestoneKind.CLOSURE,
    MilestoneKind.LESSONS_LEARNED,
    MilestoneKind.FOLLOW_UP,
]
_DAY_SECONDS = 86400.0

# --- SQL ------------------------------------------------------------------------------------

# One pass over the open incidents, every breakdown at once.
_OPEN_BREAKDOWN = """
SELECT d.dimension, d.key, count(DISTINCT i.incident_id) AS incidents
FROM incidents AS i
CROSS JOIN LATERAL (
    VALUES ('step', i.step),
           ('severity', i.severity),
           ('response_level', coalesce(i.response_level, $1)),
           ('country', i.country::text)
    UNION ALL SELECT 'mineral', mineral FROM unnest(i.minerals) AS mineral
    UNION ALL SELECT 'facility', facility FROM unnest(i.facility_ids) AS facility
) AS d (dimension, key)
WHERE i.step <> 'completed'
GROUP BY d.dimension, d.key
"""

_OPEN_TOTALS = """
SELECT count(*) AS open_incidents, count(*) FILTER (WHERE overdue) AS overdue_incidents
FROM incidents WHERE step <> 'completed'
"""

# The latest escalation row of each milestone of each open incident says where it stands. The
# counts and the list read the same rows, so they always agree.
_LATEST_ESCALATIONS = """
SELECT DISTINCT ON (e.incident_id, e.milestone)
       e.incident_id, e.milestone, e.milestone_kind, e.level, e.due_at, i.step, i.case_owner
FROM escalations AS e
JOIN incidents AS i ON i.incident_id = e.incident_id AND i.step <> 'completed'
WHERE e.occurred_at <= $1
ORDER BY e.incident_id, e.milestone, e.sequence DESC
"""

_ACTIVE_ESCALATIONS = f"""
SELECT latest.level, latest.milestone_kind, count(*) AS milestones
FROM ({_LATEST_ESCALATIONS}) AS latest
WHERE latest.level >= 1
GROUP BY latest.level, latest.milestone_kind
"""

# (incident, milestone) is unique here, so the order is total. The window's count is taken before
# LIMIT: every escalated milestone, listed or not.
_ESCALATED_MILESTONES = f"""
SELECT latest.incident_id, latest.step, latest.milestone, latest.due_at, latest.level,
       latest.case_owner,
       extract(epoch FROM $1::timestamptz - latest.due_at)::float8 / 86400.0 AS days_late,
       count(*) OVER () AS total
FROM ({_LATEST_ESCALATIONS}) AS latest
WHERE latest.level >= 1
ORDER BY latest.due_at DESC, latest.incident_id, latest.milestone
LIMIT $2
"""

_TIME_IN_STEP = """
SELECT step,
       count(*) AS stays,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median_days,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS p90_days
FROM (
    SELECT step, extract(epoch FROM left_at - entered_at)::float8 / 86400.0 AS days
    FROM incident_step_stays
    WHERE left_at IS NOT NULL AND left_at > $1::timestamptz - $2::interval AND left_at <= $1
) AS stays
GROUP BY step
"""

_MILESTONES_MET = """
SELECT kind AS milestone_kind, count(*) AS met
FROM incident_events
WHERE kind = ANY ($3::text[])
  AND outcome IN ('accepted', 'pending_approval')
  AND occurred_at > $1::timestamptz - $2::interval AND occurred_at <= $1
GROUP BY kind
UNION ALL
SELECT 'approval', count(*)
FROM approvals
WHERE status IN ('approved', 'rejected')
  AND decided_at > $1::timestamptz - $2::interval AND decided_at <= $1
UNION ALL
SELECT 'action_due', count(*)
FROM actions AS a
JOIN incident_events AS e ON e.incident_id = a.incident_id AND e.sequence = a.updated_sequence
WHERE a.status IN ('completed', 'cancelled')
  AND e.occurred_at > $1::timestamptz - $2::interval AND e.occurred_at <= $1
"""

_MILESTONES_MET_LATE = """
SELECT milestone_kind, count(*) AS met_late
FROM escalations
WHERE level = 0 AND cleared_because = 'met'
  AND occurred_at > $1::timestamptz - $2::interval AND occurred_at <= $1
GROUP BY milestone_kind
"""

# $2/$3: the severities that have a cadence and the cadence of each, in seconds.
_CHECK_IN_COMPLIANCE = """
WITH cadence AS (
    SELECT * FROM unnest($2::text[], $3::float8[]) AS c (severity, seconds)
),
implementing AS (
    SELECT i.incident_id, i.severity, i.opened_at
    FROM incidents AS i
    WHERE i.step = 'implementation'
),
last_check_in AS (
    SELECT c.incident_id, max(e.occurred_at) AS at
    FROM check_ins AS c
    JOIN implementing USING (incident_id)
    JOIN incident_events AS e ON e.incident_id = c.incident_id AND e.sequence = c.sequence
    WHERE e.occurred_at <= $1
    GROUP BY c.incident_id
),
plan_approved AS (
    SELECT a.incident_id, max(a.decided_at) AS at
    FROM approvals AS a
    JOIN implementing USING (incident_id)
    WHERE a.kind = 'action_plan' AND a.status = 'approved' AND a.decided_at <= $1
    GROUP BY a.incident_id
)
SELECT implementing.severity,
       count(*) AS incidents,
       count(*) FILTER (
           WHERE extract(epoch FROM $1::timestamptz - coalesce(
               greatest(last_check_in.at, plan_approved.at), implementing.opened_at
           )) <= cadence.seconds
       ) AS compliant
FROM implementing
JOIN cadence USING (severity)
LEFT JOIN last_check_in USING (incident_id)
LEFT JOIN plan_approved USING (incident_id)
GROUP BY implementing.severity
"""

_LONGEST_WAITING = """
SELECT a.incident_id, a.approval_id, a.kind, a.requested_at,
       extract(epoch FROM $1::timestamptz - a.requested_at)::float8 / 86400.0 AS waiting_days
FROM approvals AS a
JOIN incidents AS i ON i.incident_id = a.incident_id AND i.step <> 'completed'
WHERE a.status = 'pending' AND a.requested_at <= $1
ORDER BY a.requested_at, a.incident_id, a.approval_id
LIMIT $2
"""

_ESCALATIONS_BY_WEEK = """
WITH weeks AS (
    SELECT generate_series(
        date_trunc('week', $1::timestamptz AT TIME ZONE 'UTC') - ($2::int - 1) * interval '1 week',
        date_trunc('week', $1::timestamptz AT TIME ZONE 'UTC'),
        interval '1 week'
    ) AS week_start
),
reached AS (
    SELECT date_trunc('week', reached_at AT TIME ZONE 'UTC') AS week_start, level
    FROM escalations
    WHERE level > 0
      AND reached_at >= (SELECT min(week_start) FROM weeks) AT TIME ZONE 'UTC'
      AND reached_at <= $1::timestamptz
)
SELECT to_char(weeks.week_start, 'IYYY-"W"IW') AS week,
       weeks.week_start::date AS week_start,
       count(reached.level) FILTER (WHERE reached.level = 1) AS level_1,
       count(reached.level) FILTER (WHERE reached.level = 2) AS level_2,
       count(reached.level) FILTER (WHERE reached.level = 3) AS level_3,
       count(reached.level) AS total
FROM weeks
LEFT JOIN reached USING (week_start)
GROUP BY weeks.week_start
ORDER BY weeks.week_start
"""

# A retried store finds the row of the first call and keeps it. The id has a resolution of one
# second (it names the files too): one report per kind and second.
_INSERT_REPORT = """
INSERT INTO reports (report_id, kind, as_of, generated_at, json, markdown, html)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
RETURNING report_id
"""

_STORED_REPORT = """
SELECT report_id, kind, as_of, generated_at, json, markdown, html
FROM reports WHERE report_id = $1
"""


# --- Helpers --------------------------------------------------------------------------------


def report_id(kind: str, as_of: datetime) -> str:
    """The report's id and file stem: `<kind>-<as_of in UTC as %Y%m%dT%H%M%SZ>`."""
    return f"{kind}-{as_of.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _zeros(keys: Iterable[str]) -> dict[str, int]:
    # Enum members are str subclasses; the figures are keyed by their plain values.
    return dict.fromkeys((str(key) for key in keys), 0)


def _most_first(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ApplicationError(
            "as_of must be an aware datetime (with a time zone)",
            type="NaiveInstant",
            non_retryable=True,
        )
    return moment.astimezone(UTC)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# --- The activities -------------------------------------------------------------------------


class PortfolioRegister:
    """Reads the portfolio's figures from the register and stores reports.

    The pool is injected by the worker; reports are also written as files under `reports_dir`
    (created when missing); `policy` gives the check-in cadence per severity.
    """

    def __init__(
        self, pool: asyncpg.Pool, reports_dir: Path, *, policy: Policy | None = None
    ) -> None:
        self._pool = pool
        self._reports_dir = Path(reports_dir)
        self._policy = policy if policy is not None else Policy()

    def _check_in_cadence(self) -> dict[Severity, timedelta]:
        windows = self._policy.deadlines.get(MilestoneKind.CHECK_IN)
        if windows is None:
            return {}
        cadence = {severity: windows.for_severity(severity) for severity in Severity}
        return {severity: window for severity, window in cadence.items() if window is not None}

    @activity.defn(name="portfolio_kpis")
    async def portfolio_kpis(self, as_of: datetime) -> PortfolioKpis:
        """The portfolio's key figures as of `as_of` (definitions in the module's docstring)."""
        as_of = _aware(as_of)
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            kpis = await self._kpis(connection, as_of)
        log.info("portfolio figures computed", open_incidents=kpis.open_incidents)
        return kpis

    async def _kpis(self, connection: Connection, as_of: datetime) -> PortfolioKpis:
        breakdown: dict[str, dict[str, int]] = {
            "step": _zeros(OPEN_STEPS),
            "severity": _zeros(reversed(Severity)),
            "response_level": _zeros([*ResponseLevel, UNDETERMINED]),
            "country": {},
            "mineral": _zeros(Mineral),
            "facility": {},
        }
        for row in await connection.fetch(_OPEN_BREAKDOWN, UNDETERMINED):
            breakdown[row["dimension"]][row["key"]] = row["incidents"]
        totals = await connection.fetchrow(_OPEN_TOTALS)
        assert totals is not None
        facilities = _most_first(breakdown["facility"])
        overdue_by_kind, active = await self._escalated(connection, as_of)
        escalated_milestones, escalated_total = await self._escalated_milestones(connection, as_of)
        return PortfolioKpis(
            as_of=as_of,
            window_days=WINDOW.days,
            open_incidents=totals["open_incidents"],
            open_by_step=breakdown["step"],
            open_by_severity=breakdown["severity"],
            open_by_response_level=breakdown["response_level"],
            open_by_country=_most_first(breakdown["country"]),
            open_by_mineral=breakdown["mineral"],
            open_by_facility=dict(list(facilities.items())[:TOP_FACILITIES]),
            facilities_with_open_incidents=len(facilities),
            overdue_incidents=totals["overdue_incidents"],
            overdue_milestones_by_kind=overdue_by_kind,
            active_escalations=active,
            escalated_milestones=escalated_milestones,
            escalated_milestones_total=escalated_total,
            time_in_step=await self._time_in_step(connection, as_of),
            on_time=await self._on_time(connection, as_of),
            check_in_compliance=await self._check_in_compliance(connection, as_of),
            longest_waiting_approvals=[
                WaitingApproval(
                    incident_id=row["incident_id"],
                    approval_id=row["approval_id"],
                    kind=row["kind"],
                    requested_at=row["requested_at"],
                    waiting_days=round(row["waiting_days"], 2),
                )
                for row in await connection.fetch(_LONGEST_WAITING, as_of, TOP_APPROVALS)
            ],
            escalations_by_week=[
                WeeklyEscalations.model_validate(dict(row))
                for row in await connection.fetch(_ESCALATIONS_BY_WEEK, as_of, WEEKS)
            ],
        )

    @staticmethod
    async def _escalated(
        connection: Connection, as_of: datetime
    ) -> tuple[dict[str, int], EscalationLevels]:
        by_kind: dict[str, int] = {}
        by_level = {1: 0, 2: 0, 3: 0}
        for row in await connection.fetch(_ACTIVE_ESCALATIONS, as_of):
            kind, milestones = row["milestone_kind"], row["milestones"]
            by_kind[kind] = by_kind.get(kind, 0) + milestones
            by_level[row["level"]] += milestones
        levels = EscalationLevels(level_1=by_level[1], level_2=by_level[2], level_3=by_level[3])
        return _most_first(by_kind), levels

    @staticmethod
    async def _escalated_milestones(
        connection: Connection, as_of: datetime
    ) -> tuple[list[EscalatedMilestone], int]:
        """The overdue milestones listed, latest first, and how many there are in all."""
        rows = await connection.fetch(_ESCALATED_MILESTONES, as_of, ESCALATED_MILESTONES_LISTED)
        listed = [
            EscalatedMilestone(
                incident_id=row["incident_id"],
                step=row["step"],
                milestone=row["milestone"],
                due_at=row["due_at"],
                days_late=round(row["days_late"], 2),
                level=row["level"],
                case_owner=row["case_owner"],
            )
            for row in rows
        ]
        return listed, rows[0]["total"] if rows else 0

    @staticmethod
    async def _time_in_step(connection: Connection, as_of: datetime) -> list[StepDurations]:
        rows = {row["step"]: row for row in await connection.fetch(_TIME_IN_STEP, as_of, WINDOW)}
        durations = []
        for step in OPEN_STEPS:
            row = rows.get(step.value)
            durations.append(
                StepDurations(
                    step=step,
                    stays=0 if row is None else row["stays"],
                    median_days=None if row is None else _days(row["median_days"]),
                    p90_days=None if row is None else _days(row["p90_days"]),
                )
            )
        return durations

    @staticmethod
    async def _on_time(connection: Connection, as_of: datetime) -> list[MilestoneOnTime]:
        met = {
            row["milestone_kind"]: row["met"]
            for row in await connection.fetch(
                _MILESTONES_MET, as_of, WINDOW, [kind.value for kind in _MET_BY_DECISION]
            )
        }
        late = {
            row["milestone_kind"]: row["met_late"]
            for row in await connection.fetch(_MILESTONES_MET_LATE, as_of, WINDOW)
        }
        figures = []
        for kind in MilestoneKind:
            met_late = late.get(kind.value, 0)
            met_total = max(met.get(kind.value, 0), met_late)
            figures.append(
                MilestoneOnTime(
                    milestone_kind=kind,
                    met=met_total,
                    met_late=met_late,
                    on_time_rate=_rate(met_total - met_late, met_total),
                )
            )
        return figures

    async def _check_in_compliance(
        self, connection: Connection, as_of: datetime
    ) -> list[CheckInCompliance]:
        cadence = self._check_in_cadence()
        rows = {
            row["severity"]: row
            for row in await connection.fetch(
                _CHECK_IN_COMPLIANCE,
                as_of,
                [severity.value for severity in cadence],
                [window.total_seconds() for window in cadence.values()],
            )
        }
        figures = []
        for severity in reversed(Severity):
            if severity not in cadence:
                continue
            row = rows.get(severity.value)
            incidents = 0 if row is None else row["incidents"]
            compliant = 0 if row is None else row["compliant"]
            figures.append(
                CheckInCompliance(
                    severity=severity,
                    cadence_days=round(cadence[severity].total_seconds() / _DAY_SECONDS, 2),
                    incidents=incidents,
                    compliant=compliant,
                    rate=_rate(compliant, incidents),
                )
            )
        return figures

    @activity.defn(name="store_portfolio_report")
    async def store_portfolio_report(self, report: PortfolioReport) -> StoredReport:
        """Store the report once per (kind, as_of), in the register and as JSON, Markdown and
        HTML files `<reports_dir>/<kind>-<as_of:%Y%m%dT%H%M%SZ>.{json,md,html}`.

        Idempotent: a retry (or a second run for the same instant) finds the stored row and
        rewrites the files from it, so the files always match what the register holds.
        """
        kind = report.kind.value
        as_of = _aware(report.as_of)
        identifier = report_id(kind, as_of)
        document = report_json(report)
        markdown = report_markdown(report)
        page = report_html(report)
        async with self._pool.acquire() as connection, connection.transaction():
            inserted = await connection.fetchval(
                _INSERT_REPORT,
                identifier,
                kind,
                as_of,
                report.generated_at,
                document,
                markdown,
                page,
            )
            stored = await connection.fetchrow(_STORED_REPORT, identifier)
        assert stored is not None
        paths = {
            suffix: self._reports_dir / f"{stored['report_id']}.{suffix}"
            for suffix in ("json", "md", "html")
        }
        await asyncio.to_thread(
            self._write_files,
            {
                paths["json"]: json.dumps(stored["json"], indent=2, ensure_ascii=False) + "\n",
                paths["md"]: stored["markdown"],
                paths["html"]: stored["html"],
            },
        )
        newly_stored = inserted is not None
        log.info(
            "portfolio report stored" if newly_stored else "portfolio report already stored",
            report_id=stored["report_id"],
        )
        return StoredReport(
            report_id=stored["report_id"],
            kind=MonitoringKind(stored["kind"]),
            as_of=stored["as_of"],
            generated_at=stored["generated_at"],
            json_path=str(paths["json"]),
            markdown_path=str(paths["md"]),
            html_path=str(paths["html"]),
            newly_stored=newly_stored,
        )

    def _write_files(self, files: dict[Path, str]) -> None:
        self._reports_dir.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            _write_atomically(path, text)

    # --- Reads for the CLI and tests (not activities) ---------------------------------------

    async def stored_report(self, kind: str, as_of: datetime) -> dict[str, Any] | None:
        """The stored report of that kind and instant, if any."""
        row = await self._pool.fetchrow(_STORED_REPORT, report_id(kind, _aware(as_of)))
        return None if row is None else dict(row)


def portfolio_activities(register: PortfolioRegister) -> list[Callable[..., Any]]:
    """The portfolio's activities, bound to it, for the worker to register."""
    return [register.portfolio_kpis, register.store_portfolio_report]
