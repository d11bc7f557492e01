"""Reconciliation of the case register with Temporal: do both still tell the same story?

The workflow of an incident is the only writer of its register row, so the two agree unless
something went wrong outside the engine (a workflow terminated by hand, a row restored from a
backup, an edit in the database, a lost register). `reconcile_portfolio` compares them and
reports every disagreement as a `ReconciliationFinding`:

- `register_open_workflow_closed`: the register says the incident is open (step other than
  `completed`) but its workflow has ended (completed, failed, cancelled, terminated, timed out);
  the detail names the Temporal status;
- `register_open_workflow_missing`: the register says open and Temporal has no workflow under the
  incident's id at all;
- `workflow_without_register_row`: an `IncidentWorkflow` is running and the register has no row
  for it. A workflow writes its row with its first activity, so workflows started less than
  `registration_grace` (two minutes) before `as_of` are not judged yet;
- `escalation_disagrees`: the register's `incidents.escalation_level` of an open incident is not
  the workflow's `EscalationLevel` search attribute; the detail gives both levels;
- `register_ended_workflow_running`: an `IncidentWorkflow` is running under the id of an incident
  the register has ended (a second start of the id; see activities/register_integrity.py);
- `workflow_not_register_lineage`: the running workflow of an incident is not of the incident's
  run lineage (the run id of its first run, kept by every retry and continue-as-new run);
- `register_write_conflict`: the register refused a write because its key held something else
  (another event under that sequence, another lineage); reported until an operator resolves it.

Every candidate is confirmed against the live state before it becomes a finding: visibility (the
list of running workflows) is eventually consistent and a run can overlap a workflow that is
moving on (completing, continuing as new, recording an escalation). A workflow that `describe()`
shows running, or in the middle of continuing as new, is not closed; an incident whose register
row says `completed` once re-read is not open; an escalation level is compared only while the
workflow is quiescent (no workflow task and no register write activity in flight; it is described
again for about a second before giving up), with the register re-read after the workflow's
attributes. A disagreement still in flight is left to the next run.

Visibility is asked as little as possible, because it lists about a thousand workflows a second
(the dev server's store): the running workflows with an escalation are listed once; each page of
open register incidents is counted by id (`WorkflowId IN (...)`), and listed only when fewer are
running than the page holds; the whole listing of running workflows is read only when more are
running than the open register incidents counted, which is when a workflow may have no register
row. A count can be off by a run while visibility catches up with a continue-as-new; what that
hides is found by the next run.

Runs are resumable. Open incidents are read from the register in pages, by keyset on
`incident_id`; after each page the activity heartbeats `(last_incident_id, counts)`, and a retry
(a worker restarted mid-run) resumes after that incident. Findings are recorded in
`reconciliation_findings` as they are found, keyed by the run's `as_of` and unique per
(kind, incident), so a retried run records each once; the report returned is read back from that
table, sorted by (kind, incident_id), and therefore includes what earlier attempts of the same
run found. Findings name incidents and states only, never personal data.

The `incident_prefix` of a `Reconciler` restricts the run to incidents whose id starts with it,
in the register and in Temporal alike. Production keeps the default (`incident-`, every incident);
tests sharing one Temporal server use it to reconcile their own incidents only.
"""

import asyncio
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from temporalio import activity
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from schemas.incident import WORKFLOW_ID_PREFIX
from schemas.monitoring import (
    FINDINGS_LISTED,
    FindingKind,
    ReconciliationFinding,
    ReconciliationReport,
)
from schemas.vocabulary import Step
from workflows import search_attributes as sa
from workflows.names import INCIDENT_WORKFLOW as INCIDENT_WORKFLOW

log = structlog.get_logger(__name__)

# A new incident's workflow writes its register row with its first activity.
REGISTRATION_GRACE = timedelta(minutes=2)
PAGE_SIZE = 500
# While listing a large portfolio's workflows, heartbeat every so many (the resume point is kept).
_LISTING_HEARTBEAT_EVERY = 1000
# Prefixes and ids go into visibility queries: only characters of incident ids, never a quote.
_PREFIX = re.compile(r"^[A-Za-z0-9._:-]*$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]+$")
# Statuses under which a workflow is still alive (continuing as new: its next run is starting).
_ALIVE = frozenset({WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW})
# The activities through which a workflow writes its register row (the first for incidents
# started before events were written with their notifications).
_REGISTER_WRITES = frozenset({"record_event", "record_event_with_notifications"})
# A workflow caught between its register write and its search attributes is described again a
# few times before its escalation level is left to the next run.
_SETTLE_ATTEMPTS = 5
_SETTLE_PAUSE_SECONDS = 0.2

_OPEN_PAGE = """
SELECT incident_id, step, escalation_level, run_id, run_lineage FROM incidents
WHERE incident_id > $1 AND starts_with(incident_id, $2) AND step <> $3
ORDER BY incident_id
LIMIT $4
"""

_ROW = """
SELECT step, escalation_level, run_lineage, updated_at FROM incidents WHERE incident_id = $1
"""

_REGISTERED = """
SELECT incident_id, step, run_lineage FROM incidents WHERE incident_id = ANY($1::text[])
"""

_UNRESOLVED_CONFLICTS = """
SELECT incident_id, count(*) AS conflicts, max(detected_at) AS latest,
       (array_agg(detail ORDER BY detected_at DESC))[1] AS detail
FROM register_conflicts
WHERE resolved_at IS NULL AND starts_with(incident_id, $1)
GROUP BY incident_id
ORDER BY incident_id
"""

_INSERT_FINDING = """
INSERT INTO reconciliation_findings (as_of, kind, incident_id, detail)
VALUES ($1, $2, $3, $4)
ON CONFLICT (as_of, kind, incident_id) DO NOTHING
"""

_FINDINGS_OF_RUN = """
SELECT kind, incident_id, detail FROM reconciliation_findings
WHERE as_of = $1 AND starts_with(incident_id, $2)
ORDER BY kind, incident_id
LIMIT $3
"""
_FINDINGS_BY_KIND = """
SELECT kind, count(*) AS findings FROM reconciliation_findings
WHERE as_of = $1 AND starts_with(incident_id, $2)
GROUP BY kind ORDER BY kind
"""


@dataclass(frozen=True)
class _Running:
    """A running incident workflow as visibility lists it."""

    escalation_level: int
    started_at: datetime


@dataclass
class _Progress:
    """Where a run stands: the heartbeat details `(last_incident_id, counts)`."""

    last_incident_id: str = ""
    incidents_in_register: int = 0
    running_in_register: int = 0  # of those, listed running

    @classmethod
    def resumed(cls, details: Sequence[Any]) -> "_Progress":
        """The progress a previous attempt heartbeated; a fresh start when there is none."""
        if len(details) < 2:
            return cls()
        last, counts = details[0], details[1]
        if not isinstance(last, str) or not isinstance(counts, dict):
            return cls()

        def count(name: str) -> int:
            value = counts.get(name, 0)
            return value if isinstance(value, int) and value >= 0 else 0

        return cls(last, count("incidents_in_register"), count("running_in_register"))

    def details(self) -> tuple[str, dict[str, int]]:
        return self.last_incident_id, {
            "incidents_in_register": self.incidents_in_register,
            "running_in_register": self.running_in_register,
        }


def _level(value: int | None) -> int:
    """The EscalationLevel attribute; absent means nothing is escalated."""
    return 0 if value is None else value


def _in_flight(description: WorkflowExecutionDescription) -> bool:
    """Whether the workflow is between its register write and its search attributes."""
    raw: DescribeWorkflowExecutionResponse = description.raw_description
    if raw.HasField("pending_workflow_task"):
        return True
    return any(p.activity_type.name in _REGISTER_WRITES for p in raw.pending_activities)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Reconciler:
    """Compares the case register with Temporal; the pool and client are the worker's."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: Client,
        *,
        incident_prefix: str = WORKFLOW_ID_PREFIX,
        registration_grace: timedelta = REGISTRATION_GRACE,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if not incident_prefix or not _PREFIX.match(incident_prefix):
            raise ValueError(f"not a usable incident id prefix: {incident_prefix!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._pool = pool
        self._client = client
        self._prefix = incident_prefix
        self._grace = registration_grace
        self._page_size = page_size

    def visibility_query(self) -> str:
        """The running incident workflows this reconciler compares with the register."""
        return (
            f"WorkflowType = '{INCIDENT_WORKFLOW}' AND ExecutionStatus = 'Running' "
            f"AND WorkflowId STARTS_WITH '{self._prefix}'"
        )

    @activity.defn(name="reconcile_portfolio")
    async def reconcile_portfolio(self, as_of: datetime) -> ReconciliationReport:
        """Compare register and Temporal, record the findings, report them (sorted)."""
        as_of = _utc(as_of)
        progress = _Progress.resumed(activity.info().heartbeat_details)
        if progress.last_incident_id:
            log.info(
                "reconciliation resumed",
                after_incident_id=progress.last_incident_id,
                incidents_in_register=progress.incidents_in_register,
            )
        # Listing every running workflow costs visibility about a millisecond per workflow (11 s
        # for 10,000 on the dev server), counting a page of them by id a few milliseconds: a
        # page is listed only when its count says one of its incidents is not running, and the
        # whole portfolio only when the counts say a running workflow has no open register row.
        escalated = await self._escalated_running()
        listing: dict[str, _Running] | None = None
        while True:
            rows = await self._pool.fetch(
                _OPEN_PAGE,
                progress.last_incident_id,
                self._prefix,
                Step.COMPLETED.value,
                self._page_size,
            )
            if not rows:
                break
            ids = [row["incident_id"] for row in rows]
            running = await self._running_among(ids, escalated)
            if running is None:
                if listing is None:
                    listing = await self._running_workflows(progress)
                running = {i: listing[i].escalation_level for i in ids if i in listing}
            await self._record(as_of, await self._check_open(rows, running, progress))
            await self._record(as_of, await self._check_lineage(rows, running))
            progress.last_incident_id = ids[-1]
            progress.incidents_in_register += len(rows)
            progress.running_in_register += len(running)
            activity.heartbeat(*progress.details())
            if len(rows) < self._page_size:
                break
        workflows_running = await self._count_running()
        if workflows_running > progress.running_in_register:
            # Some running workflow has no open register row (or visibility is catching up):
            # only the whole listing says which.
            if listing is None:
                listing = await self._running_workflows(progress)
            await self._without_open_row(listing, as_of, progress)
            workflows_running = len(listing)
        await self._record(as_of, await self._write_conflicts())
        by_kind = await self._findings_by_kind(as_of)
        report = ReconciliationReport(
            incidents_in_register=progress.incidents_in_register,
            workflows_running=workflows_running,
            findings=await self._findings_of_run(as_of),
            findings_total=sum(by_kind.values()),
            findings_by_kind=by_kind,
        )
        log.info(
            "portfolio reconciled",
            as_of=as_of.isoformat(),
            incidents_in_register=report.incidents_in_register,
            workflows_running=report.workflows_running,
            findings=len(report.findings),
        )
        return report

    # --- Temporal ---------------------------------------------------------------------------

    async def _running_workflows(self, progress: _Progress) -> dict[str, _Running]:
        """Every running incident workflow (the SDK pages the listing)."""
        running: dict[str, _Running] = {}
        async for execution in self._client.list_workflows(self.visibility_query()):
            if not execution.id.startswith(self._prefix):
                continue
            running[execution.id] = _Running(
                _level(execution.typed_search_attributes.get(sa.ESCALATION_LEVEL)),
                _utc(execution.start_time),
            )
            if len(running) % _LISTING_HEARTBEAT_EVERY == 0:
                activity.heartbeat(*progress.details())
        return running

    async def _running_among(
        self, incident_ids: Sequence[str], escalated: dict[str, int]
    ) -> dict[str, int] | None:
        """The escalation level of each of these incidents whose workflow is running; None when
        an id cannot be put in a visibility query (then only the whole listing answers).

        When visibility counts as many running as there are ids, all are running and their
        levels are those of `escalated` (0 when absent); otherwise the page is listed."""
        if not all(_SAFE_ID.match(incident_id) for incident_id in incident_ids):
            return None
        quoted = ", ".join(f"'{incident_id}'" for incident_id in incident_ids)
        query = f"{self.visibility_query()} AND WorkflowId IN ({quoted})"
        if (await self._client.count_workflows(query)).count == len(incident_ids):
            return {incident_id: escalated.get(incident_id, 0) for incident_id in incident_ids}
        running: dict[str, int] = {}
        async for execution in self._client.list_workflows(query, page_size=len(incident_ids)):
            running[execution.id] = _level(
                execution.typed_search_attributes.get(sa.ESCALATION_LEVEL)
            )
        return running

    async def _escalated_running(self) -> dict[str, int]:
        """The running incident workflows with an escalation, by id (usually a few)."""
        query = f"{self.visibility_query()} AND {sa.ESCALATION_LEVEL.name} > 0"
        return {
            execution.id: _level(execution.typed_search_attributes.get(sa.ESCALATION_LEVEL))
            async for execution in self._client.list_workflows(query)
            if execution.id.startswith(self._prefix)
        }

    async def _count_running(self) -> int:
        return (await self._client.count_workflows(self.visibility_query())).count

    async def _describe(self, incident_id: str) -> WorkflowExecutionDescription | None:
        """The latest run of the incident's workflow; None when Temporal has none."""
        try:
            return await self._client.get_workflow_handle(incident_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def _runs_among(self, incident_ids: Sequence[str]) -> dict[str, str]:
        """The run id of each of these incidents' running workflows."""
        quoted = ", ".join(f"'{incident_id}'" for incident_id in incident_ids)
        query = f"{self.visibility_query()} AND WorkflowId IN ({quoted})"
        return {
            execution.id: execution.run_id or ""
            async for execution in self._client.list_workflows(query, page_size=len(incident_ids))
        }

    async def _count_runs(self, run_ids: Sequence[str]) -> int:
        quoted = ", ".join(f"'{run_id}'" for run_id in run_ids)
        query = f"{self.visibility_query()} AND RunId IN ({quoted})"
        return (await self._client.count_workflows(query)).count

    # --- the register -----------------------------------------------------------------------

    async def _open_row(self, incident_id: str) -> asyncpg.Record | None:
        """The incident's register row, re-read, if the register still holds it open."""
        row = await self._pool.fetchrow(_ROW, incident_id)
        if row is None or row["step"] == Step.COMPLETED.value:
            return None
        return row

    async def _record(self, as_of: datetime, findings: Iterable[ReconciliationFinding]) -> None:
        rows = [(as_of, f.kind.value, f.incident_id, f.detail) for f in findings]
        if rows:
            await self._pool.executemany(_INSERT_FINDING, rows)

    async def _findings_by_kind(self, as_of: datetime) -> dict[str, int]:
        rows = await self._pool.fetch(_FINDINGS_BY_KIND, as_of, self._prefix)
        return {row["kind"]: row["findings"] for row in rows}

    async def _findings_of_run(self, as_of: datetime) -> list[ReconciliationFinding]:
        rows = await self._pool.fetch(_FINDINGS_OF_RUN, as_of, self._prefix, FINDINGS_LISTED)
        findings = [
            ReconciliationFinding(
                kind=FindingKind(row["kind"]), incident_id=row["incident_id"], detail=row["detail"]
            )
            for row in rows
        ]
        return sorted(findings, key=lambda f: (f.kind.value, f.incident_id))

    # --- the checks -------------------------------------------------------------------------

    async def _check_open(
        self, rows: Sequence[asyncpg.Record], running: dict[str, int], progress: _Progress
    ) -> list[ReconciliationFinding]:
        """Findings about one page of open register incidents."""
        findings = []
        for row in rows:
            # Alive while a slow Temporal answers (the SDK throttles heartbeats); the resume
            # point moves only once the page's findings are recorded.
            activity.heartbeat(*progress.details())
            incident_id: str = row["incident_id"]
            workflow_level = running.get(incident_id)
            finding: ReconciliationFinding | None
            if workflow_level is None:
                finding = await self._not_running(incident_id)
            elif workflow_level != row["escalation_level"]:
                finding = await self._escalation(incident_id)
            else:
                finding = None
            if finding is not None:
                findings.append(finding)
        return findings

    async def _not_running(self, incident_id: str) -> ReconciliationFinding | None:
        """An open incident visibility does not list as running: ended, missing, or lagging."""
        description = await self._describe(incident_id)
        if description is not None and description.status in _ALIVE:
            return None  # visibility lagged behind a start or a continue-as-new
        # A workflow writes `completed` to its row before it ends: re-read after describing.
        row = await self._open_row(incident_id)
        if row is None:
            return None
        if description is None:
            return ReconciliationFinding(
                kind=FindingKind.REGISTER_OPEN_WORKFLOW_MISSING,
                incident_id=incident_id,
                detail=f"register step {row['step']}; no workflow {incident_id} in Temporal",
            )
        status = description.status.name.lower() if description.status else "unknown"
        return ReconciliationFinding(
            kind=FindingKind.REGISTER_OPEN_WORKFLOW_CLOSED,
            incident_id=incident_id,
            detail=f"register step {row['step']}; workflow {status}",
        )

    async def _escalation(self, incident_id: str) -> ReconciliationFinding | None:
        """Confirm an escalation disagreement on the live workflow and a re-read row."""
        for attempt in range(_SETTLE_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_SETTLE_PAUSE_SECONDS)
            description = await self._describe(incident_id)
            if description is None or description.status != WorkflowExecutionStatus.RUNNING:
                return None  # it has just ended: the next run judges it
            if not _in_flight(description):
                break
        else:
            return None
        workflow_level = _level(description.typed_search_attributes.get(sa.ESCALATION_LEVEL))
        row = await self._open_row(incident_id)
        if row is None or row["escalation_level"] == workflow_level:
            return None
        return ReconciliationFinding(
            kind=FindingKind.ESCALATION_DISAGREES,
            incident_id=incident_id,
            detail=(
                f"register escalation level {row['escalation_level']}; "
                f"workflow EscalationLevel {workflow_level}"
            ),
        )

    async def _check_lineage(
        self, rows: Sequence[asyncpg.Record], running: dict[str, int]
    ) -> list[ReconciliationFinding]:
        """Findings about running workflows of one page that are not their incident's lineage.

        The register keeps the run that wrote each incident's latest event: when visibility
        counts every such run running, all are the incidents' own. Otherwise the runs that differ
        (a continue-as-new that has not written yet, or another lineage) are described."""
        known = {
            row["incident_id"]: row
            for row in rows
            if row["incident_id"] in running and row["run_id"] and row["run_lineage"]
        }
        if not known:
            return []
        run_ids = [row["run_id"] for row in known.values()]
        if not all(_SAFE_ID.match(run_id) for run_id in run_ids) or not all(
            _SAFE_ID.match(incident_id) for incident_id in known
        ):
            return []
        if await self._count_runs(run_ids) == len(run_ids):
            return []
        findings = []
        for incident_id, run_id in (await self._runs_among(list(known))).items():
            if run_id == known[incident_id]["run_id"]:
                continue
            finding = await self._foreign_run(incident_id)
            if finding is not None:
                findings.append(finding)
        return findings

    async def _foreign_run(self, incident_id: str) -> ReconciliationFinding | None:
        """The running workflow of this incident, if it is confirmed to be another lineage's."""
        description = await self._describe(incident_id)
        if description is None or description.status != WorkflowExecutionStatus.RUNNING:
            return None
        lineage = description.raw_description.workflow_execution_info.first_run_id
        row = await self._pool.fetchrow(_ROW, incident_id)
        if not lineage or row is None or row["run_lineage"] in (None, lineage):
            return None
        return ReconciliationFinding(
            kind=FindingKind.WORKFLOW_NOT_REGISTER_LINEAGE,
            incident_id=incident_id,
            detail=(
                f"workflow run {description.run_id} of lineage {lineage} is running; the "
                f"register's incident is lineage {row['run_lineage']} (step {row['step']})"
            ),
        )

    async def _running_after_end(self, incident_id: str) -> ReconciliationFinding | None:
        """A running workflow under the id of an incident the register has ended, confirmed."""
        description = await self._describe(incident_id)
        if description is None or description.status != WorkflowExecutionStatus.RUNNING:
            return None
        row = await self._pool.fetchrow(_ROW, incident_id)
        if row is None or row["step"] != Step.COMPLETED.value:
            return None
        if _own_run_finishing(description, row["run_lineage"], row["updated_at"]):
            return None
        return ReconciliationFinding(
            kind=FindingKind.REGISTER_ENDED_WORKFLOW_RUNNING,
            incident_id=incident_id,
            detail=_ended_detail(description, row["run_lineage"]),
        )

    async def _write_conflicts(self) -> list[ReconciliationFinding]:
        """Every incident with a register write refused and not yet resolved."""
        rows = await self._pool.fetch(_UNRESOLVED_CONFLICTS, self._prefix)
        return [
            ReconciliationFinding(
                kind=FindingKind.REGISTER_WRITE_CONFLICT,
                incident_id=row["incident_id"],
                detail=(
                    f"{row['conflicts']} write(s) refused, latest "
                    f"{row['latest']:%Y-%m-%d %H:%M} UTC: {row['detail']}"
                )[:500],
            )
            for row in rows
        ]

    async def _without_open_row(
        self, running: dict[str, _Running], as_of: datetime, progress: _Progress
    ) -> None:
        """Record the running workflows old enough to have their register row, without an open
        one: no row at all, or a row the register has ended (chunk by chunk, so a retry after a
        lost register does not start from nothing)."""
        judged = sorted(
            incident_id
            for incident_id, workflow in running.items()
            if workflow.started_at <= as_of - self._grace
        )
        for start in range(0, len(judged), self._page_size):
            chunk = judged[start : start + self._page_size]
            registered = {r["incident_id"]: r for r in await self._pool.fetch(_REGISTERED, chunk)}
            findings = []
            for incident_id in chunk:
                activity.heartbeat(*progress.details())
                row = registered.get(incident_id)
                if row is not None:
                    if row["step"] == Step.COMPLETED.value:
                        ended = await self._running_after_end(incident_id)
                        findings += [ended] if ended is not None else []
                    continue
                description = await self._describe(incident_id)
                if description is None or description.status != WorkflowExecutionStatus.RUNNING:
                    continue  # ended since it was listed: not a running workflow any more
                if await self._pool.fetchrow(_ROW, incident_id) is not None:
                    continue  # its row has just arrived
                started = running[incident_id].started_at.isoformat(timespec="seconds")
                findings.append(
                    ReconciliationFinding(
                        kind=FindingKind.WORKFLOW_WITHOUT_REGISTER_ROW,
                        incident_id=incident_id,
                        detail=f"workflow running since {started}; no register row",
                    )
                )
            await self._record(as_of, findings)


def _own_run_finishing(
    description: WorkflowExecutionDescription, lineage: str | None, completed_at: datetime
) -> bool:
    """Whether a workflow running after its incident completed is the incident's own run
    delivering its last notifications (a channel can be down for hours), not a second start.

    Without a lineage on the row (registered before lineages), a run that started before the
    register completed the incident is its own."""
    run_lineage = description.raw_description.workflow_execution_info.first_run_id
    if lineage is not None and run_lineage:
        return run_lineage == lineage
    return _utc(description.start_time) < _utc(completed_at)


def _ended_detail(description: WorkflowExecutionDescription, lineage: str | None) -> str:
    run_lineage = description.raw_description.workflow_execution_info.first_run_id
    started = _utc(description.start_time).isoformat(timespec="seconds")
    return (
        f"register step completed (lineage {lineage or 'unknown'}); workflow run "
        f"{description.run_id} of lineage {run_lineage or 'unknown'} running since {started}"
    )


def reconciliation_activities(reconciler: Reconciler) -> list[Callable[..., Any]]:
    """The reconciler's activities, bound to it, for the worker to register."""
    return [reconciler.reconcile_portfolio]
