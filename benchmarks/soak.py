"""Measurement (g) of the benchmark (`make bench`): a soak under faults.

Open incidents are spread over every stage of one path (acknowledge, verification, response and
its approval, action plan and its approval, two check-ins, closure and its approval), brought
there beforehand (untimed). Then decisions go out on a fixed schedule (open loop), each the next
one of an incident that has none in flight, while a second worker process polls the same task
queue and faults strike on a fixed timetable: the second worker is SIGKILLed and restarted every
KILL_EVERY_SECONDS, PostgreSQL is stopped for POSTGRES_DOWN_SECONDS once (a third into the run)
and the Temporal dev server for TEMPORAL_DOWN_SECONDS once (two thirds in), on its SQLite file.

Every decision carries a `decision_id` (the payload's idempotency key, stored with the event in
the register's `incident_events.payload`) and is sent as an update whose id is the same; a call
that fails for want of a server is sent again, unchanged, until DRAIN_SECONDS after the last
send. Afterwards the register is read: a decision applied once has exactly one event carrying its
id (at the sequence its answer named), a duplicated one more than one, a lost one none. The
audit chain is verified, and every decision's event must have its audit entry.

A fault's recovery time runs from the fault (the kill, the stop) until every decision sent
before the worker polled again or the server was back, and unanswered when the fault struck,
had its answer.
"""

import asyncio
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import uuid4

from temporalio.api.enums.v1 import TimeoutType
from temporalio.client import Client

from activities.audit_entries import audit_entry_id
from activities.audit_trail import verify_chain
from activities.database import open_pool
from benchmarks import load
from benchmarks.report import Figure, Target, percentile, scaled
from benchmarks.stack import BenchmarkStack, cpu_seconds
from benchmarks.timeline import CpuSample, by_kind, by_minute, sample_cpu
from schemas.decisions import DecisionKind
from workers import incident_client as incidents
from workers.devstack import examples
from workflows.incident import IncidentWorkflow

Progress = Callable[[str], None]

# The full figures (`--scale 1`); --scale scales the incidents and the duration, not the rate
# nor the faults' timing.
SOAK_INCIDENTS = 2_000
SOAK_SECONDS = 600.0
SOAK_RATE = 10.0  # decisions a second
KILL_EVERY_SECONDS = 30.0
POSTGRES_DOWN_SECONDS = 5.0
TEMPORAL_DOWN_SECONDS = 3.0
# After the last send, how long a decision still unanswered is sent again before it counts as
# unanswered (a delivery's or register write's start-to-close timeout is at most two minutes).
DRAIN_SECONDS = 300.0
RESEND_SECONDS = 0.5
HISTORY_READS = 16  # histories read at once when counting timed-out tasks afterwards

P99_SECONDS = Target("<=", 10)
NONE = Target("<=", 0)

# The path of every soak incident, one decision after the other: into step 4, a check-in with
# the actions under way, one with them completed, and the closure with its approval.
PATH: tuple[DecisionKind, ...] = (
    *load.TO_MONITORING,
    DecisionKind.CHECK_IN,
    DecisionKind.CHECK_IN,
    DecisionKind.CLOSURE,
    DecisionKind.APPROVE,
)


@dataclass(frozen=True)
class SoakPlan:
    incidents: int
    seconds: float
    rate: float = SOAK_RATE
    kill_every: float = KILL_EVERY_SECONDS
    postgres_down: float = POSTGRES_DOWN_SECONDS
    temporal_down: float = TEMPORAL_DOWN_SECONDS
    drain_seconds: float = DRAIN_SECONDS
    seed: int = 20261202

    @classmethod
    def scaled(cls, scale: float) -> "SoakPlan":
        return cls(scaled(SOAK_INCIDENTS, scale, minimum=20), max(30.0, SOAK_SECONDS * scale))

    @property
    def decisions(self) -> int:
        return round(self.seconds * self.rate)

    def faults(self) -> list[tuple[float, str]]:
        """(seconds into the run, fault), in order: a kill every `kill_every` seconds (the first
        half-way into the first period), PostgreSQL a third into the run, Temporal two thirds."""
        timetable = [
            (self.kill_every * (k + 0.5), "worker_kill")
            for k in range(int(self.seconds / self.kill_every + 0.5))
            if self.kill_every * (k + 0.5) < self.seconds
        ]
        timetable += [
            (self.seconds / 3, "postgres_restart"),
            (self.seconds * 2 / 3, "temporal_restart"),
        ]
        return sorted(timetable)


@dataclass
class SoakIncident:
    incident_id: str
    stage: int = 0  # decisions of PATH taken
    approval_id: str | None = None
    busy: bool = False  # a decision is in flight
    retired: bool = False  # a decision went unanswered: what comes next is not known

    @property
    def free(self) -> bool:
        return not (self.busy or self.retired) and self.stage < len(PATH)


@dataclass
class Sent:
    """One decision sent, and what became of it (times are the event loop's)."""

    decision_id: str
    incident_id: str
    kind: str
    due: float
    timed: bool
    answered_at: float | None = None
    sequence: int | None = None
    duplicate: bool = False  # answered as already applied: an earlier attempt had landed
    resends: int = 0
    error: str | None = None

    @property
    def latency(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.due


@dataclass
class Fault:
    kind: str
    planned_at: float  # seconds into the run
    began: float
    ended: float  # the worker polling again, the server back
    recovery_seconds: float | None = None  # None: something it held up was never answered


def payload(kind: DecisionKind, incident: SoakIncident, level: str) -> dict[str, Any]:
    """The incident's next decision along PATH, valid at its stage."""
    if kind == DecisionKind.CHECK_IN:
        status = "in_progress" if PATH[: incident.stage].count(kind) == 0 else "completed"
        body = examples.check_in([examples.progress(a, status) for a in ("A1", "A2")])
    elif kind == DecisionKind.CLOSURE:
        body = examples.closure()
    else:
        portfolio = load.Portfolio(proposed_level=level)
        opened = load.OpenIncident(incident.incident_id, approval_id=incident.approval_id)
        body = load.decision_payload(kind, opened, portfolio)
    return body


class Sender:
    """Sends decisions, each with its own decision_id as payload key and update id, again and
    again while the failure is one of a server being away."""

    def __init__(self, client: Client, level: str) -> None:
        self.client = client
        self.level = level
        self.resend_until = float("inf")  # the loop's time after which a failure is final
        self.sent: list[Sent] = []
        self.loop = asyncio.get_running_loop()

    async def next_decision(self, incident: SoakIncident, due: float, *, timed: bool) -> Sent:
        kind = PATH[incident.stage]
        decision_id = str(uuid4())
        body = {**payload(kind, incident, self.level), "decision_id": decision_id}
        sent = Sent(decision_id, incident.incident_id, str(kind), due, timed)
        self.sent.append(sent)
        incident.busy = True
        try:
            while True:
                try:
                    result = await incidents.decide(
                        self.client, incident.incident_id, kind, body, request_id=decision_id
                    )
                    break
                except Exception as error:
                    if incidents.worth_resending(error) and self.loop.time() < self.resend_until:
                        sent.resends += 1
                        await asyncio.sleep(RESEND_SECONDS)
                        continue
                    first = str(error).splitlines()[0] if str(error) else ""
                    sent.error = f"{type(error).__name__}: {first}"[:300]
                    incident.retired = True
                    return sent
            sent.answered_at = self.loop.time()
            sent.sequence = result.sequence
            sent.duplicate = result.duplicate
            incident.approval_id = result.approval_id
            incident.stage += 1
            return sent
        finally:
            incident.busy = False


@dataclass(frozen=True)
class Tally:
    """What the register holds of some decisions sent."""

    applied_once: int = 0
    duplicated: int = 0
    lost: int = 0
    wrong_sequence: int = 0  # applied once, but not at the sequence the answer named


@dataclass(frozen=True)
class RegisterCheck:
    soak: Tally  # the decisions of the timed run
    beforehand: Tally  # those that brought the incidents to their stages
    without_audit_entry: int  # events of the soak's decisions with no audit entry
    chain_ok: bool
    chain_broken: int
    incidents_checked: int


def tally(events: dict[str, list[tuple[str, int]]], sent: list[Sent]) -> Tally:
    """Each decision against the events carrying its decision_id: one (at the sequence its
    answer named, when it was answered), more than one, or none."""
    once = duplicated = lost = wrong = 0
    for each in sent:
        found = events.get(each.decision_id, [])
        if not found:
            lost += 1
        elif len(found) > 1:
            duplicated += 1
        else:
            once += 1
            if each.sequence is not None and found[0] != (each.incident_id, each.sequence):
                wrong += 1
    return Tally(once, duplicated, lost, wrong)


async def check_register(
    database_url: str, soak: list[Sent], beforehand: list[Sent]
) -> RegisterCheck:
    pool = await open_pool(database_url, max_size=2)
    try:
        rows = await pool.fetch(
            "SELECT incident_id, sequence, payload->>'decision_id' AS decision_id "
            "FROM incident_events WHERE payload ? 'decision_id'"
        )
        audited = {row["entry_id"] for row in await pool.fetch("SELECT entry_id FROM audit_trail")}
        chain = await verify_chain(pool, None)
    finally:
        await pool.close()
    events: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        events.setdefault(row["decision_id"], []).append((row["incident_id"], row["sequence"]))
    missing_audit = sum(
        audit_entry_id(incident_id, sequence) not in audited
        for found in events.values()
        for incident_id, sequence in found
    )
    return RegisterCheck(
        tally(events, soak),
        tally(events, beforehand),
        missing_audit,
        chain.ok,
        len(chain.broken),
        chain.incidents_checked,
    )


async def timed_out_tasks(client: Client, incident_ids: list[str]) -> dict[str, int]:
    """Workflow tasks and activity attempts the histories show timed out, by kind: a workflow
    task left on a killed worker's sticky queue times out schedule-to-start."""
    counts: Counter[str] = Counter()

    def read(incident_id: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            handle = client.get_workflow_handle(incident_id)
            async for event in handle.fetch_history_events():
                if event.HasField("workflow_task_timed_out_event_attributes"):
                    kind = event.workflow_task_timed_out_event_attributes.timeout_type
                    counts[f"workflow_task_{TimeoutType.Name(kind).lower()}"] += 1
                elif event.HasField("activity_task_timed_out_event_attributes"):
                    counts["activity_attempt"] += 1

        return run

    await load._bounded([read(i) for i in incident_ids], HISTORY_READS, lambda: None)
    return {key.replace("timeout_type_", ""): value for key, value in sorted(counts.items())}


@dataclass
class SoakResult:
    plan: SoakPlan
    sent: list[Sent]
    faults: list[Fault]
    register: RegisterCheck
    not_sent: int  # scheduled when no incident was free for a decision
    timed_out: dict[str, int]
    seconds: float
    worker_sticky_queue_timeout_seconds: float
    staged: list[Sent] = field(default_factory=list)
    cpu: list[CpuSample] = field(default_factory=list)  # every minute while decisions went out

    @property
    def timed(self) -> list[Sent]:
        return [s for s in self.sent if s.timed]

    @property
    def answered(self) -> list[Sent]:
        return [s for s in self.timed if s.answered_at is not None]

    def latencies(self) -> list[float]:
        return [s.latency for s in self.answered if s.latency is not None]

    def recovery_by_kind(self) -> dict[str, float | None]:
        worst: dict[str, float | None] = {}
        for fault in self.faults:
            previous = worst.get(fault.kind, 0.0)
            value = fault.recovery_seconds
            worst[fault.kind] = None if value is None or previous is None else max(previous, value)
        return worst

    def figures(self) -> list[Figure]:
        timed = self.timed
        latencies = self.latencies()
        p50 = percentile(latencies, 50) if latencies else None
        p99 = percentile(latencies, 99) if latencies else None
        unanswered = len(timed) - len(self.answered)
        note = f"{unanswered} unanswered" if unanswered else ""
        register = self.register
        label = f"({self.plan.incidents:,} open, {self.plan.rate:g}/s, {self.plan.seconds:,.0f} s)"
        figures = [
            Figure("g.sent", f"Soak: decisions sent {label}", len(timed), "", 0),
            Figure(
                "g.answered",
                "Soak: decisions answered",
                len(self.answered),
                "",
                0,
                Target(">=", len(timed)),
                note,
            ),
            Figure(
                "g.applied_once",
                "Soak: decisions applied exactly once (register)",
                register.soak.applied_once,
                "",
                0,
                Target(">=", len(timed)),
            ),
            Figure(
                "g.duplicated", "Soak: decisions duplicated", register.soak.duplicated, "", 0, NONE
            ),
            Figure("g.lost", "Soak: decisions lost", register.soak.lost, "", 0, NONE),
            Figure("g.p50", "Soak: decision latency p50 under faults", p50, "s", 1),
            Figure(
                "g.p99", "Soak: decision latency p99 under faults", p99, "s", 1, P99_SECONDS, note
            ),
        ]
        names = {
            "worker_kill": "a worker SIGKILLed",
            "postgres_restart": "PostgreSQL restarted",
            "temporal_restart": "Temporal restarted",
        }
        for kind, worst in self.recovery_by_kind().items():
            count = sum(f.kind == kind for f in self.faults)
            times = f" (worst of {count})" if count > 1 else ""
            figures.append(
                Figure(
                    f"g.recovery.{kind}",
                    f"Soak: recovery after {names[kind]}{times}",
                    worst,
                    "s",
                    1,
                    None,
                    "" if worst is not None else "never recovered",
                )
            )
        return figures

    def details(self) -> dict[str, Any]:
        latencies = self.latencies()
        failures = Counter(s.error.split(":")[0] for s in self.timed if s.error)
        register = self.register
        return {
            "open_incidents": self.plan.incidents,
            "seconds": self.plan.seconds,
            "rate_per_second": self.plan.rate,
            "worker_sticky_queue_timeout_seconds": self.worker_sticky_queue_timeout_seconds,
            "sent": len(self.timed),
            "staged_beforehand": len(self.staged),
            "not_sent_no_incident_free": self.not_sent,
            "answered": len(self.answered),
            "answered_as_already_applied": sum(s.duplicate for s in self.timed),
            "resends": sum(s.resends for s in self.timed),
            "failures": dict(failures),
            "register": {
                "soak": asdict(register.soak),
                "beforehand": asdict(register.beforehand),
                "events_without_audit_entry": register.without_audit_entry,
                "audit_chain_ok": register.chain_ok,
                "audit_chain_broken_incidents": register.chain_broken,
                "audit_chain_incidents_checked": register.incidents_checked,
            },
            "latency_s": {
                "p50": round(percentile(latencies, 50), 2) if latencies else None,
                "p90": round(percentile(latencies, 90), 2) if latencies else None,
                "p99": round(percentile(latencies, 99), 2) if latencies else None,
                "max": round(max(latencies), 2) if latencies else None,
            },
            "faults": [
                {
                    "kind": f.kind,
                    "planned_at_s": round(f.planned_at, 1),
                    "struck_at_s": round(f.began, 1),
                    "back_after_s": round(f.ended - f.began, 1),
                    "recovery_s": None
                    if f.recovery_seconds is None
                    else round(f.recovery_seconds, 1),
                }
                for f in self.faults
            ],
            "timed_out": self.timed_out,
            "seconds_until_last_answer": round(self.seconds, 1),
            "latency_by_kind": by_kind(self.timed),
            # Cores: `worker_kept` is the worker never killed; the killed one is what the
            # machine's figure has beyond the parts named.
            "by_minute": by_minute(self.timed, self.cpu),
        }

    def problems(self) -> list[str]:
        """What makes the soak a failure of correctness (the fault suite asserts none)."""
        register = self.register
        problems = []
        unanswered = [s for s in [*self.staged, *self.sent] if s.answered_at is None]
        if unanswered:
            problems.append(f"{len(unanswered)} decisions unanswered: {unanswered[0].error}")
        for name, counts in (("of the soak", register.soak), ("beforehand", register.beforehand)):
            for what, count in (
                ("lost", counts.lost),
                ("duplicated", counts.duplicated),
                ("recorded at another sequence than answered", counts.wrong_sequence),
            ):
                if count:
                    problems.append(f"{count} decisions {name} {what}")
        if register.without_audit_entry:
            problems.append(f"{register.without_audit_entry} events without their audit entry")
        if not register.chain_ok:
            problems.append(f"audit chain broken in {register.chain_broken} incidents")
        return problems


def recovery(fault: Fault, sent: list[Sent]) -> float | None:
    """From the fault until every decision it held up had its answer: those sent before the
    worker or server was back and not yet answered when it struck."""
    held = [
        s
        for s in sent
        if s.timed
        and s.due <= fault.ended
        and (s.answered_at is None or s.answered_at >= fault.began)
    ]
    if any(s.answered_at is None for s in held):
        return None
    last = max((s.answered_at for s in held if s.answered_at is not None), default=fault.ended)
    return max(last, fault.ended) - fault.began


async def _stage(
    sender: Sender, chosen: list[SoakIncident], targets: list[int], progress: Progress
) -> None:
    """Bring each incident to its stage beforehand (untimed)."""
    ticker = load.Ticker(progress)
    total = sum(targets)

    def bring(incident: SoakIncident, target: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            while incident.stage < target and not incident.retired:
                await sender.next_decision(incident, sender.loop.time(), timed=False)

        return run

    def done() -> None:
        staged = sum(i.stage for i in chosen)
        ticker(lambda: f"  {staged:,}/{total:,} decisions made beforehand")

    work = [bring(i, t) for i, t in zip(chosen, targets, strict=True)]
    await load._bounded(work, load.DRIVE_CONCURRENCY, done)
    failed = [s for s in sender.sent if s.error]
    if failed:
        raise RuntimeError(f"{len(failed)} decisions failed beforehand: {failed[0].error}")


async def run_soak(
    stack: BenchmarkStack,
    portfolio: load.Portfolio,
    plan: SoakPlan,
    progress: Progress,
) -> SoakResult:
    """(g): see the module's docstring. Starts the second worker if the stack has only one."""
    client = stack.require_client()
    queue = stack.settings.task_queue
    assert stack.dev_server is not None, "the soak restarts the stack's own Temporal dev server"
    ticker = load.Ticker(progress)
    before = len(portfolio.incidents)
    progress(f"(g) opening {plan.incidents:,} incidents for the soak")
    await load.open_incidents(client, queue, portfolio, plan.incidents, ticker)
    await load.wait_registered(
        client, IncidentWorkflow.__name__, portfolio.next_number, ticker, "incidents"
    )
    if portfolio.proposed_level is None:
        await load.learn_proposed_level(client, queue, portfolio, ticker)
    assert portfolio.proposed_level is not None
    opened = [SoakIncident(i.incident_id) for i in portfolio.incidents[before:]]
    for each in portfolio.incidents[before:]:
        each.stage = load.IN_MONITORING  # taken by the soak: no other measurement uses them
    rng = random.Random(plan.seed)
    rng.shuffle(opened)
    targets = [index % len(PATH) for index in range(len(opened))]
    loop = asyncio.get_running_loop()
    sender = Sender(client, portfolio.proposed_level)
    progress(f"(g) bringing them to every stage of the path (untimed): {sum(targets):,} decisions")
    await _stage(sender, opened, targets, progress)
    staged = list(sender.sent)
    sender.sent.clear()

    while len(stack.workers) < 2:
        await stack.start_worker()
        progress(f"(g) second worker polling (pid {stack.workers[-1].pid})")
    victim = stack.workers[-1]
    sticky = stack.settings.worker_sticky_queue_timeout_seconds

    queue_of_incidents: deque[SoakIncident] = deque(opened)

    def pick() -> SoakIncident | None:
        for _ in range(len(queue_of_incidents)):
            incident = queue_of_incidents.popleft()
            if incident.retired or incident.stage >= len(PATH):
                continue
            queue_of_incidents.append(incident)
            if incident.free:
                return incident
        return None

    begin = loop.time() + 0.5
    sender.resend_until = begin + plan.seconds + plan.drain_seconds
    faults: list[Fault] = []
    cpu: list[CpuSample] = []
    kept = stack.workers[0]

    def cpu_parts() -> dict[str, float]:
        parts = stack.cpu_seconds()
        del parts["workers"]
        return {**parts, "worker_kept": cpu_seconds([kept.pid] if kept.pid else [])}

    async def strike() -> None:
        for offset, kind in plan.faults():
            await asyncio.sleep(max(0.0, begin + offset - loop.time()))
            began = loop.time()
            progress(f"(g) {kind.replace('_', ' ')} at {began - begin:,.0f} s")
            if kind == "worker_kill":
                await stack.kill_and_restart(victim)
            elif kind == "postgres_restart":
                await stack.postgres.restart(plan.postgres_down)
            else:
                assert stack.dev_server is not None
                await stack.dev_server.restart(plan.temporal_down)
            faults.append(Fault(kind, offset, began - begin, loop.time() - begin))

    progress(
        f"(g) {plan.decisions:,} decisions at {plan.rate:g}/s for {plan.seconds:,.0f} s, "
        f"{len(plan.faults())} faults"
    )
    striking = asyncio.create_task(strike())
    sampling = asyncio.create_task(
        sample_cpu(cpu_parts, lambda: loop.time() - begin, plan.seconds, cpu)
    )
    tasks = []
    not_sent = 0
    try:
        for index in range(plan.decisions):
            due = begin + index / plan.rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            incident = pick()
            if incident is None:
                not_sent += 1
                continue
            tasks.append(asyncio.create_task(sender.next_decision(incident, due, timed=True)))
            ticker(
                lambda index=index: (  # type: ignore[misc]
                    f"  {index + 1:,}/{plan.decisions:,} sent, "
                    f"{sum(s.answered_at is not None for s in sender.sent):,} answered"
                )
            )
        await striking
        await sampling
    except BaseException:
        striking.cancel()
        sampling.cancel()
        raise
    await asyncio.gather(*tasks)
    seconds = loop.time() - begin
    # Times relative to the run's start, as the faults' are.
    for decision in sender.sent:
        decision.due -= begin
        if decision.answered_at is not None:
            decision.answered_at -= begin
    for fault in faults:
        fault.recovery_seconds = recovery(fault, sender.sent)
    progress("(g) reading the register and the histories")
    register = await check_register(stack.database_url, sender.sent, staged)
    timed_out = await timed_out_tasks(client, [i.incident_id for i in opened])
    return SoakResult(
        plan, sender.sent, faults, register, not_sent, timed_out, seconds, sticky, staged, cpu
    )
