"""Measurements (a), (b) and (d) of the benchmark (`make bench`): load on the benchmark's own stack.

(a) Intake throughput. "Intake" is: the client starts the incident workflow (as
    `remediation open` does) and the engine opens it — asks for the deployment's policy,
    registers the incident (`open_incident`), records its opening event, queues the case owner's
    notification (delivered in the background) and publishes its search attributes. An incident
    counts as taken in once Temporal's visibility shows its `NextDeadline` search attribute, which
    the workflow first publishes at the end of exactly that work. N incidents are started at once
    (at most START_CONCURRENCY start requests in flight) and the rate is N divided by the time
    from the first start request until the last is taken in. The bare workflow
    (benchmarks/workflow.py) is started and counted the same way. No decision (update) is
    part of an intake: the case owner's `acknowledge` is a later human act, measured in (b).
    Both run in two alternating rounds (bare, incident, incident, bare) to cancel drift.
(b) Decision latency: with the open incidents topped up to the figure, decisions are sent on a
    fixed schedule (open loop: a slow answer never delays the next send) and each latency runs
    from the decision's scheduled send time to its DecisionResult. A third each are
    `acknowledge`, `verification` and `response`, interleaved, each to its own incident chosen at
    random and brought beforehand (untimed) to the step the decision needs, so every decision is
    valid whenever it arrives. An unanswered decision counts with its time to the error.
(d) Memory and monitoring: the open incidents are topped up to the figure and every one is
    driven into step 4 (implementation and monitoring: acknowledged, verified, response and
    action plan approved); the worker process's resident memory (with any children) is sampled
    throughout, then one portfolio monitoring run (`PortfolioMonitoringWorkflow`, KPIs and
    reconciliation) is timed from start to result.

Intakes are fictional and varied (site, facility, supplier, country, mineral) as a real portfolio
is: identical ones would all be related to one another. They name no case owner, so the examples'
case owner takes each case with its acknowledgement, except those opened for (h) (the operations
inbox), which are assigned at intake to one of CASE_OWNERS pseudonymous owners, as a portfolio
shared by a team is; the decisions of their case owner are then sent as that owner.
"""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from benchmarks.report import percentile
from benchmarks.workflow import (
    BARE_DECISION_ID_PREFIX,
    BARE_DECISION_UPDATE,
    BARE_DECISION_WORKFLOW,
    BARE_ID_PREFIX,
    BARE_WORKFLOW,
)
from schemas.decisions import DecisionKind
from schemas.incident import IncidentInput
from schemas.intake import Intake
from schemas.monitoring import MONITORING_WORKFLOW, MonitoringKind, MonitoringRun, StoredReport
from workers import incident_client as incidents
from workers.devstack import examples
from workflows.incident import IncidentWorkflow
from workflows.incident_details import static_summary

Progress = Callable[[str], None]
CpuMeter = Callable[[], dict[str, float]]  # CPU seconds used so far by each part of the stack

START_CONCURRENCY = 100  # start requests in flight at once during intake
DRIVE_CONCURRENCY = 48  # incidents being walked to step 4 at once in (d)
POLL_SECONDS = 0.25  # visibility counts are queries on the server too: not too often
PROGRESS_SECONDS = 5.0
REGISTERED_TIMEOUT_SECONDS = 1800.0
BARE_SEED = 19  # which bare workflows (b)'s baseline decides on
CASE_OWNERS = 50  # the team the incidents opened for (h) are spread over
COUNTRIES = ("CD", "RW", "BO", "PE", "ID", "MM", "CO", "GH", "ZM", "BR")
MINERALS = ("tin", "tantalum", "tungsten", "gold", "cobalt", "mica", "lithium")
# Decisions that take an opened incident into step 4, in order; approve follows each submission
# that needs approval.
TO_MONITORING: tuple[DecisionKind, ...] = (
    DecisionKind.ACKNOWLEDGE,
    DecisionKind.VERIFICATION,
    DecisionKind.RESPONSE,
    DecisionKind.APPROVE,
    DecisionKind.ACTION_PLAN,
    DecisionKind.APPROVE,
)
IN_MONITORING = len(TO_MONITORING)


def case_owner(number: int, owners: int = CASE_OWNERS) -> str:
    """The pseudonymous case owner of the incident opened as `number`, one of `owners`."""
    return f"owner.bench-{number % owners:02d}"


def benchmark_intake(number: int, owner: str | None = None) -> Intake:
    """A fictional intake, different from the others in what relates incidents to each other;
    assigned to `owner` when one is given, else to whoever acknowledges it."""
    rng = random.Random(number)
    payload = examples.intake(
        external_reference=f"BENCH-{number:06d}",
        location={
            "country": rng.choice(COUNTRIES),
            "region": "Fictional Province",
            "site_name": f"Benchmark site {number}",
            "site_type": "artisanal_small_scale",
        },
        minerals=[rng.choice(MINERALS)],
        facility_ids=[f"CID{rng.randrange(1_000_000):06d}"],
        suppliers=[f"Fictional Trading {number}"],
    )
    if owner is not None:
        payload["case_owner"] = owner
    return Intake.model_validate(payload)


@dataclass
class OpenIncident:
    incident_id: str
    stage: int = 0  # how many decisions of TO_MONITORING it has taken
    approval_id: str | None = None
    owner: str | None = None  # assigned at intake; None: the examples' owner acknowledges it


@dataclass
class Portfolio:
    """The incidents this run opened, and how far each has been taken."""

    incidents: list[OpenIncident] = field(default_factory=list)
    next_number: int = 0
    proposed_level: str | None = None

    def take_number(self) -> int:
        self.next_number += 1
        return self.next_number


class Ticker:
    """A progress line every PROGRESS_SECONDS, not more often."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._last = time.monotonic()

    def __call__(self, line: Callable[[], str], *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_SECONDS:
            self._last = now
            self._progress(line())


async def _bounded(
    work: Sequence[Callable[[], Awaitable[None]]], concurrency: int, on_done: Callable[[], None]
) -> None:
    """Run every piece of work, at most `concurrency` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one(piece: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await piece()
        on_done()

    await asyncio.gather(*(one(piece) for piece in work))


async def registered_count(client: Client, workflow_type: str) -> int:
    """Workflows of the type that have finished their opening (published NextDeadline)."""
    query = f"WorkflowType = '{workflow_type}' AND NextDeadline IS NOT NULL"
    return (await client.count_workflows(query)).count


async def wait_registered(
    client: Client, workflow_type: str, expected: int, ticker: Ticker, what: str
) -> None:
    deadline = time.monotonic() + REGISTERED_TIMEOUT_SECONDS
    while (count := await registered_count(client, workflow_type)) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {count} of {expected} {what} were taken in")
        ticker(lambda count=count: f"  {count:,}/{expected:,} {what} taken in")  # type: ignore[misc]
        await asyncio.sleep(POLL_SECONDS)


async def start_bare(client: Client, task_queue: str, number: int, intake: Intake) -> None:
    """Started exactly as `incident_client.open_incident` starts an incident."""
    await client.start_workflow(
        BARE_WORKFLOW,
        IncidentInput(intake=intake, policy=None),
        id=f"{BARE_ID_PREFIX}{number:06d}",
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=incidents.initial_search_attributes(intake),
        static_summary=static_summary(intake),
    )


async def open_incidents(
    client: Client,
    task_queue: str,
    portfolio: Portfolio,
    count: int,
    ticker: Ticker,
    *,
    assigned: bool = False,
) -> None:
    """Start `count` more incidents, at most START_CONCURRENCY start requests at once; each
    assigned to one of CASE_OWNERS case owners at intake when `assigned`."""
    numbers = [portfolio.take_number() for _ in range(count)]
    intakes = [
        benchmark_intake(number, case_owner(number) if assigned else None) for number in numbers
    ]
    started = 0

    def one(intake: Intake) -> Callable[[], Awaitable[None]]:
        async def start() -> None:
            incident_id = await incidents.open_incident(client, intake, task_queue=task_queue)
            portfolio.incidents.append(OpenIncident(incident_id, owner=intake.case_owner))

        return start

    def done() -> None:
        nonlocal started
        started += 1
        ticker(lambda: f"  {started:,}/{count:,} incidents started")

    await _bounded([one(intake) for intake in intakes], START_CONCURRENCY, done)


@dataclass(frozen=True)
class IntakeResult:
    count: int  # per kind
    incident_seconds: float
    bare_seconds: float
    rounds: list[dict[str, Any]]
    shapes: dict[str, dict[str, int]]

    @property
    def incident_rate(self) -> float:
        return self.count / self.incident_seconds

    @property
    def bare_rate(self) -> float:
        return self.count / self.bare_seconds

    @property
    def ratio(self) -> float:
        return self.incident_rate / self.bare_rate


async def measure_intake(
    client: Client, task_queue: str, portfolio: Portfolio, count: int, progress: Progress
) -> IntakeResult:
    """(a): see the module's docstring."""
    ticker = Ticker(progress)
    first, second = count // 2, count - count // 2
    plan = [("bare", first), ("incident", first), ("incident", second), ("bare", second)]
    seconds = {"bare": 0.0, "incident": 0.0}
    taken_in = {"bare": 0, "incident": 0}
    rounds = []
    bare_numbers = 0
    for kind, size in plan:
        progress(f"(a) intake of {size:,} {kind} workflows")
        began = time.monotonic()
        if kind == "incident":
            await open_incidents(client, task_queue, portfolio, size, ticker)
            workflow_type = IncidentWorkflow.__name__
        else:
            numbers = range(bare_numbers + 1, bare_numbers + size + 1)
            bare_numbers += size

            def start(number: int) -> Callable[[], Awaitable[None]]:
                return lambda: start_bare(client, task_queue, number, benchmark_intake(number))

            await _bounded([start(n) for n in numbers], START_CONCURRENCY, lambda: None)
            workflow_type = BARE_WORKFLOW
        taken_in[kind] += size
        await wait_registered(client, workflow_type, taken_in[kind], ticker, f"{kind} workflows")
        elapsed = time.monotonic() - began
        seconds[kind] += elapsed
        rounds.append({"kind": kind, "count": size, "seconds": round(elapsed, 3)})
        progress(f"    {size / elapsed:,.1f}/s")
    shapes = {
        "incident": await history_shape(client, portfolio.incidents[0].incident_id),
        "bare": await history_shape(client, f"{BARE_ID_PREFIX}{1:06d}"),
    }
    await _finish(client, [f"{BARE_ID_PREFIX}{n:06d}" for n in range(1, bare_numbers + 1)])
    return IntakeResult(count, seconds["incident"], seconds["bare"], rounds, shapes)


async def _finish(client: Client, workflow_ids: list[str]) -> None:
    """End bare workflows (one `finish` signal each), so they leave the worker's cache."""

    def finish(workflow_id: str) -> Callable[[], Awaitable[None]]:
        async def send() -> None:
            await client.get_workflow_handle(workflow_id).signal("finish")

        return send

    await _bounded([finish(each) for each in workflow_ids], START_CONCURRENCY, lambda: None)


_SHAPE_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities",
    EventType.EVENT_TYPE_TIMER_STARTED: "timers",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search_attribute_upserts",
    EventType.EVENT_TYPE_MARKER_RECORDED: "markers",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "workflow_tasks",
}


async def history_shape(client: Client, workflow_id: str) -> dict[str, int]:
    """What a workflow's history holds so far, by kind of command (to show both intakes match)."""
    shape = dict.fromkeys(_SHAPE_EVENTS.values(), 0)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        name = _SHAPE_EVENTS.get(event.event_type)
        if name is not None:
            shape[name] += 1
    return shape


# --- (b) decisions ----------------------------------------------------------------------------


def decision_payload(
    kind: DecisionKind, incident: OpenIncident, portfolio: Portfolio
) -> dict[str, Any]:
    """The next decision on the way to step 4, valid at the incident's stage: the case owner's
    from the incident's assigned owner, or the examples' owner."""
    return from_its_owner(_example_decision(kind, incident, portfolio), incident)


def from_its_owner(payload: dict[str, Any], incident: OpenIncident) -> dict[str, Any]:
    """An example decision of the case owner's, sent as the incident's assigned owner if it has
    one; anyone else's decision unchanged."""
    if incident.owner is not None and payload["actor"] == examples.CASE_OWNER:
        payload["actor"] = {**examples.CASE_OWNER, "id": incident.owner}
    return payload


def _example_decision(
    kind: DecisionKind, incident: OpenIncident, portfolio: Portfolio
) -> dict[str, Any]:
    if kind == DecisionKind.ACKNOWLEDGE:
        return examples.acknowledge("medium")
    if kind == DecisionKind.VERIFICATION:
        return examples.verification()
    if kind == DecisionKind.RESPONSE:
        assert portfolio.proposed_level is not None
        return examples.response(portfolio.proposed_level)
    if kind == DecisionKind.ACTION_PLAN:
        return examples.action_plan()
    assert kind == DecisionKind.APPROVE and incident.approval_id is not None
    return examples.approve(incident.approval_id)


async def take_next_decision(client: Client, incident: OpenIncident, portfolio: Portfolio) -> str:
    """Send the incident's next decision on the way to step 4; return its kind."""
    kind = TO_MONITORING[incident.stage]
    payload = decision_payload(kind, incident, portfolio)
    result = await incidents.decide(client, incident.incident_id, kind, payload)
    incident.approval_id = result.approval_id
    incident.stage += 1
    return str(kind)


async def learn_proposed_level(
    client: Client, task_queue: str, portfolio: Portfolio, ticker: Ticker
) -> None:
    """The response level the engine proposes for the benchmark's verification (the same for
    every benchmark intake), read once from an incident opened for that alone."""
    await open_incidents(client, task_queue, portfolio, 1, ticker)
    spare = portfolio.incidents.pop()
    for _ in range(2):
        await take_next_decision(client, spare, portfolio)
    status = await incidents.status(client, spare.incident_id)
    assert status.proposed_response_level is not None
    portfolio.proposed_level = str(status.proposed_response_level)


async def ensure_open(
    client: Client,
    task_queue: str,
    portfolio: Portfolio,
    count: int,
    progress: Progress,
    *,
    assigned: bool = False,
) -> None:
    """Top the portfolio up to `count` incidents (those opened now assigned to case owners when
    `assigned`) and wait until all are taken in."""
    ticker = Ticker(progress)
    missing = count - len(portfolio.incidents)
    if missing > 0:
        whose = f", assigned to {CASE_OWNERS} case owners" if assigned else ""
        progress(f"opening {missing:,} more incidents (to {count:,}{whose})")
        await open_incidents(client, task_queue, portfolio, missing, ticker, assigned=assigned)
    await wait_registered(
        client, IncidentWorkflow.__name__, portfolio.next_number, ticker, "incidents"
    )


@dataclass(frozen=True)
class LatencyResult:
    open_incidents: int
    rate: float
    scheduled: int
    latencies_ms: list[float]  # answered decisions
    unanswered_ms: list[float]  # failed ones, at their time to the error (a lower bound)
    by_kind_ms: dict[str, list[float]]
    failures: dict[str, int]
    send_lag_ms_max: float
    seconds: float
    # CPU seconds each part of the stack used from the first decision's time to the last answer
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def cpu_ms_per_decision(self) -> dict[str, float]:
        """What a decision cost each part of the stack in CPU, and all of them together (ms):
        with the cores busy, this is what decides how many decisions a second the machine can
        answer before they queue."""
        per = {part: seconds * 1000 / self.scheduled for part, seconds in self.cpu_seconds.items()}
        if per:
            per["total"] = sum(per.values())
        return {part: round(ms, 1) for part, ms in per.items()}

    @property
    def every_ms(self) -> list[float]:
        """Every decision sent: an unanswered one counts with its time to the error, so a
        server that stops answering raises the percentiles instead of leaving them."""
        return self.latencies_ms + self.unanswered_ms

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, Any]:
            if not values:
                return {"count": 0}
            return {
                "count": len(values),
                "p50_ms": round(percentile(values, 50), 1),
                "p99_ms": round(percentile(values, 99), 1),
                "max_ms": round(max(values), 1),
            }

        return {
            "open_incidents": self.open_incidents,
            "rate_per_second": self.rate,
            "scheduled": self.scheduled,
            "answered": len(self.latencies_ms),
            "unanswered": len(self.unanswered_ms),
            "failures": self.failures,
            "answered_per_second": round(len(self.latencies_ms) / self.seconds, 2),
            "seconds_until_last_answer": round(self.seconds, 1),
            "send_lag_ms_max": round(self.send_lag_ms_max, 1),
            "cpu_ms_per_decision": self.cpu_ms_per_decision(),
            "all": stats(self.every_ms),
            "answered_only": stats(self.latencies_ms),
            "by_kind": {kind: stats(values) for kind, values in self.by_kind_ms.items()},
        }


def decision_mix(decisions: int) -> list[int]:
    """For each timed decision of (b), the stage its incident must be at: acknowledge (0),
    verification (1) and response (2), a third each, interleaved."""
    return [index % 3 for index in range(decisions)]


async def stage_for_decisions(
    client: Client, portfolio: Portfolio, mix: list[int], progress: Progress, seed: int = 20
) -> list[OpenIncident]:
    """A distinct incident, chosen at random among those not yet acknowledged, for each timed
    decision, brought beforehand (untimed) to the stage that decision needs: then every timed
    decision is valid whenever it arrives and however slowly the others are answered."""
    fresh = [incident for incident in portfolio.incidents if incident.stage == 0]
    if len(mix) > len(fresh):
        raise ValueError(f"{len(mix)} decisions need as many incidents not yet acknowledged")
    chosen = random.Random(seed).sample(fresh, len(mix))
    ticker = Ticker(progress)
    staged = 0
    total = sum(mix)

    def bring(incident: OpenIncident, stage: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            nonlocal staged
            while incident.stage < stage:
                await take_next_decision(client, incident, portfolio)
                staged += 1

        return run

    def done() -> None:
        ticker(lambda: f"  {staged:,}/{total:,} decisions made beforehand")

    work = [bring(incident, stage) for incident, stage in zip(chosen, mix, strict=True)]
    await _bounded(work, DRIVE_CONCURRENCY, done)
    return chosen


async def measure_decisions(
    client: Client,
    portfolio: Portfolio,
    chosen: list[OpenIncident],
    *,
    rate: float,
    progress: Progress,
    cpu: CpuMeter | None = None,
) -> LatencyResult:
    """(b): see the module's docstring. Decision i goes to `chosen[i]` at its scheduled time."""

    async def send(index: int) -> str:
        return await take_next_decision(client, chosen[index], portfolio)

    return await _paced(len(portfolio.incidents), len(chosen), rate, send, progress, cpu)


async def measure_bare_decisions(
    client: Client,
    task_queue: str,
    open_count: int,
    count: int,
    *,
    rate: float,
    progress: Progress,
    cpu: CpuMeter | None = None,
) -> LatencyResult:
    """(b)'s baseline: the same traffic (`count` decisions at `rate`, each to its own workflow
    of `open_count` open ones, chosen at random, with an acknowledgement as its payload) to a bare
    workflow whose update runs one no-op activity. They are ended afterwards, so that they leave
    the worker's cache."""
    ticker = Ticker(progress)
    ids = [f"{BARE_DECISION_ID_PREFIX}{number:06d}" for number in range(1, open_count + 1)]

    def start(workflow_id: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await client.start_workflow(
                BARE_DECISION_WORKFLOW,
                id=workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )

        return run

    started = 0

    def done() -> None:
        nonlocal started
        started += 1
        ticker(lambda: f"  {started:,}/{open_count:,} bare workflows started")

    await _bounded([start(each) for each in ids], START_CONCURRENCY, done)
    await wait_registered(client, BARE_DECISION_WORKFLOW, open_count, ticker, "bare workflows")
    chosen = random.Random(BARE_SEED).sample(ids, count)
    payload = examples.acknowledge("medium")

    async def send(index: int) -> str:
        handle = client.get_workflow_handle(chosen[index])
        await handle.execute_update(BARE_DECISION_UPDATE, payload, result_type=bool)
        return "bare"

    try:
        return await _paced(open_count, count, rate, send, progress, cpu)
    finally:
        await _finish(client, ids)


async def _paced(
    open_count: int,
    count: int,
    rate: float,
    send: Callable[[int], Awaitable[str]],
    progress: Progress,
    cpu: CpuMeter | None = None,
) -> LatencyResult:
    """Send `count` decisions at a fixed `rate`, open loop (a slow answer never delays the next
    one); each is timed from its scheduled time to its answer, or to its error. With `cpu`, what
    each part of the stack used meanwhile is kept too."""
    latencies: list[float] = []
    unanswered: list[float] = []
    by_kind: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    lag_max = 0.0
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.5

    async def one(index: int, due: float) -> None:
        try:
            kind = await send(index)
        except Exception as error:  # counted, and its time to the error is kept
            name = type(error).__name__
            failures[name] = failures.get(name, 0) + 1
            unanswered.append((loop.time() - due) * 1000)
            return
        elapsed_ms = (loop.time() - due) * 1000
        latencies.append(elapsed_ms)
        by_kind.setdefault(kind, []).append(elapsed_ms)

    ticker = Ticker(progress)
    tasks = []
    cpu_before = cpu() if cpu else {}
    for index in range(count):
        due = begin + index / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        lag_max = max(lag_max, (loop.time() - due) * 1000)
        tasks.append(asyncio.create_task(one(index, due)))
        ticker(lambda index=index: f"  {index + 1:,}/{count:,} decisions sent")  # type: ignore[misc]
    await asyncio.gather(*tasks)
    seconds = loop.time() - begin
    cpu_after = cpu() if cpu else {}
    return LatencyResult(
        open_count,
        rate,
        count,
        latencies,
        unanswered,
        by_kind,
        failures,
        lag_max,
        seconds,
        {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after},
    )


# --- (d) memory and the portfolio run ---------------------------------------------------------


async def drive_to_monitoring(client: Client, portfolio: Portfolio, progress: Progress) -> int:
    """Take every open incident into step 4; returns how many failed on the way."""
    ticker = Ticker(progress)
    pending = [i for i in portfolio.incidents if i.stage < IN_MONITORING]
    total = len(portfolio.incidents)
    failed = 0

    def walk(incident: OpenIncident) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            nonlocal failed
            try:
                while incident.stage < IN_MONITORING:
                    await take_next_decision(client, incident, portfolio)
            except Exception:  # reported as a count: the rest still make the figure
                failed += 1

        return run

    def done() -> None:
        ticker(
            lambda: (
                f"  {sum(i.stage == IN_MONITORING for i in portfolio.incidents):,}/{total:,} "
                "incidents in monitoring"
            )
        )

    await _bounded([walk(incident) for incident in pending], DRIVE_CONCURRENCY, done)
    return failed


@dataclass(frozen=True)
class PortfolioRun:
    seconds: float
    stored: StoredReport
    activity_seconds: dict[str, float]  # each activity, from scheduled to completed


async def activity_durations(client: Client, workflow_id: str) -> dict[str, float]:
    """How long each activity of a workflow took, scheduled to completed, from its history."""
    scheduled: dict[int, tuple[str, datetime]] = {}
    durations: dict[str, float] = {}
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attributes = event.activity_task_completed_event_attributes
            name, began = scheduled[attributes.scheduled_event_id]
            durations[name] = durations.get(name, 0.0) + (at - began).total_seconds()
    return {name: round(seconds, 3) for name, seconds in durations.items()}


async def portfolio_run(client: Client, task_queue: str) -> PortfolioRun:
    """One portfolio monitoring run, as a schedule starts it; its wall time from start to result,
    and where it went."""
    began = time.monotonic()
    handle = await client.start_workflow(
        MONITORING_WORKFLOW,
        MonitoringRun(kind=MonitoringKind.PORTFOLIO),
        id=f"benchmark-portfolio-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}",
        task_queue=task_queue,
        result_type=StoredReport,
        execution_timeout=timedelta(hours=1),
    )
    stored: StoredReport = await handle.result()
    seconds = time.monotonic() - began
    return PortfolioRun(seconds, stored, await activity_durations(client, handle.id))
