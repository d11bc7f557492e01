"""The fault suite: nothing is lost or duplicated when anything fails.

Scenarios 1-4 run on the real stack of tests/fault_stack.py: the Temporal dev server with SQLite
persistence, an embedded PostgreSQL of their own, and `remediation worker` as a separate process
(webhook notifications to a local receiver). One seeded scenario (SEED: which incident takes which
path, in which order, and every fault's timing) drives nine incidents — ten with the recurrence
one of them opens — concurrently through different paths: the full process, no remedy,
a rejected plan, an amended plan, imminent danger, inconclusive verification, early closure, a
recurrence at follow-up, and low-severity cases whose acknowledgement and approvals are missed on
purpose so that they escalate. It runs once without faults (the baseline) and once under each
fault, each run in its own Temporal namespace and register database so the incident ids are the
same; every faulty run must then end with every incident completed and a register equal to the
baseline's once the columns that legitimately differ between runs are left out (see
`register_snapshot`), a valid audit chain, and every notification — escalations included —
delivered and seen by the receiver exactly once per idempotency key.

Scenario 5 (a webhook that is down for hours) runs on the time-skipping test server instead.
"""

import asyncio
import json
import random
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import pytest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.audit_trail import verify_chain
from activities.database import REGISTER_UNAVAILABLE, open_pool
from activities.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    delivery_key,
    verify_signature,
)
from schemas.decisions import DecisionKind
from schemas.incident import DecisionResult, IncidentStatus, incident_id_for
from schemas.intake import Intake
from schemas.policy import MilestoneKind, Policy, default_deadlines
from schemas.register import NotificationKey, NotificationKind
from schemas.vocabulary import Step
from tests.conftest import (
    TEST_DATA_CONVERTER,
    TEST_KEY_RING,
    CreateDatabase,
    Received,
    Receiver,
    _handler,
    free_ports,
    installed_binary,
    run_remediation,
)
from tests.fault_stack import (
    TASK_QUEUE,
    WEBHOOK_SECRET,
    FaultStack,
    Run,
    WorkerProcess,
    serving,
    until,
    within,
)
from workers import incident_client as incidents
from workers.devstack import examples
from workers.migrations import apply_migrations
from workers.settings import load_settings
from workers.worker import build_worker

T = TypeVar("T")

SEED = 20261126
RUNS = ("baseline", "kills", "postgres", "temporal", "duplicates", "cli")

# How long a run may take before the suite gives up on it. A SIGKILLed worker loses the
# activities it was running until their start-to-close timeouts expire (30 s for register
# writes, 2 min for a delivery), so a run with kills legitimately takes a few minutes. On a slow
# hour of a 2-core machine, a run with a Temporal restart once passed 240 s with its last two
# decisions still waiting on a timeout of that kind, so the deadline leaves that much room again.
RUN_TIMEOUT_SECONDS = 360.0

# Low-severity acknowledgements and approvals are due within seconds, so they escalate during the
# run on real time. The driver always waits until such an escalation is in the register before it
# acts, so whether a milestone escalates never depends on how fast a run goes; every other window
# keeps its default of days (and the next level of the ladder is at least a day later).
#
# Reminders are off: a reminder is due a fifth of the window before the deadline and is skipped
# once the deadline has passed, so with windows of seconds whether it is sent depends on whether
# the worker happened to be up in that fraction of a second. That is by design (after the
# deadline the escalation tells the case owner instead), but it would make two runs differ.
POLICY = """
version = "fault-suite"
deadline_reminders = false
[deadlines.acknowledge]
low = "2s"
[deadlines.approval]
low = "2s"
"""


# --- The seeded scenario ----------------------------------------------------------------------


@dataclass(frozen=True)
class Payloads:
    """Every payload of the scenario, with its dates fixed once for all runs, so two runs send
    byte-identical decisions (the register keeps them)."""

    today: date
    moment: str  # an instant in the past, for arranged_at and consents

    def consent(self, victim_id: str) -> dict[str, Any]:
        return {**examples.consent(victim_id), "recorded_at": self.moment}

    def action(self, action_id: str, **changes: Any) -> dict[str, Any]:
        return examples.action(
            action_id, due_date=(self.today + timedelta(days=60)).isoformat(), **changes
        )

    def action_plan(self, actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return examples.action_plan(
            actions if actions is not None else [self.action("A1"), self.action("A2")],
            consents=[self.consent("V-0001"), self.consent("V-0002")],
        )

    def check_in(self, *completed: str) -> dict[str, Any]:
        items = [examples.progress(action_id, "completed") for action_id in completed]
        return {
            **examples.check_in(items),
            "period_start": (self.today - timedelta(days=7)).isoformat(),
            "period_end": self.today.isoformat(),
        }

    def immediate_protection(self) -> dict[str, Any]:
        return examples.immediate_protection(arranged_at=self.moment)

    @staticmethod
    def close_early() -> dict[str, Any]:
        return {
            "actor": examples.CASE_OWNER,
            "reason": "withdrawn",
            "explanation": "The reporting organisation withdrew the allegation.",
        }

    @staticmethod
    def low_verification() -> dict[str, Any]:
        """Scale, scope and irremediability of 1 and nobody vulnerable: it stays low."""
        return examples.verification(
            scale=1, scope=1, irremediability=1, affected_persons={"adults": 3}
        )


@dataclass(frozen=True)
class Incident:
    path: str
    reference: str
    intake: dict[str, Any]
    start_delay: float

    @property
    def incident_id(self) -> str:
        return incident_id_for(self.reference)


# Which paths the scenario's incidents take, one incident each.
PATHS = (
    "happy",
    "not_substantiated",
    "rejected_plan",
    "amended_plan",
    "imminent_danger",
    "inconclusive",
    "escalated",
    "escalated_close_early",
    "recurrence",
)
LOW_SEVERITY = {"alleged_harms": ["forced_labour"], "migrants_affected": False}
CRITICAL = {"imminent_danger": True, "children_affected": True}


@dataclass(frozen=True)
class Scenario:
    incidents: list[Incident]  # in the order they are opened
    payloads: Payloads


def build_scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    order = list(PATHS)
    rng.shuffle(order)
    planned: list[Incident] = []
    for number, path in enumerate(order, start=1):
        # Its own facility, site and supplier: no two incidents of the scenario are related
        # (except a recurrence and its original), whichever opens first.
        changes: dict[str, Any] = {
            "external_reference": f"FAULT-{seed}-{number:02d}-{path}",
            "facility_ids": [f"CID{seed % 1000:03d}{number:03d}"],
            "suppliers": [f"Fault Supplier {number}"],
            "location": {
                "country": "CD",
                "region": "Fictional Province",
                "site_name": f"Fault Site {number}",
                "site_type": "artisanal_small_scale",
            },
        }
        if path.startswith("escalated"):
            changes |= LOW_SEVERITY
        if path == "imminent_danger":
            changes |= CRITICAL
        intake = examples.intake(**changes)
        planned.append(Incident(path, changes["external_reference"], intake, rng.uniform(0.0, 1.5)))
    now = datetime.now(UTC)  # one clock in UTC: the workflows judge dates by the UTC date
    moment = (now - timedelta(hours=1)).replace(microsecond=0).isoformat()
    return Scenario(planned, Payloads(now.date(), moment))


SCENARIO = build_scenario(SEED)


# --- The driver -------------------------------------------------------------------------------


RETRIED: tuple[type[Exception], ...] = (
    RPCError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    incidents.DecisionNotDelivered,
    *REGISTER_UNAVAILABLE,
)


class Driver:
    """Drives the scenario's incidents through the client library as an integration would:
    every call that fails for want of a server is retried, a decision with the same request id,
    until the run's deadline."""

    def __init__(
        self,
        client: Client,
        pool: asyncpg.Pool,
        scenario: Scenario,
        *,
        duplicates: bool = False,
    ) -> None:
        self.client = client
        self.pool = pool
        self.scenario = scenario
        self.payloads = scenario.payloads
        self.duplicates = duplicates
        self.deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        self.progress = 0
        self._progressed = asyncio.Condition()
        self._calls: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.repeats: Counter[str] = Counter()
        self.recurrences: list[str] = []

    # Progress, for faults that strike at the n-th decision of the run.

    async def _advance(self) -> None:
        async with self._progressed:
            self.progress += 1
            self._progressed.notify_all()

    async def reached(self, decisions: int) -> None:
        async with self._progressed:
            await self._progressed.wait_for(lambda: self.progress >= decisions)

    # Calls, retried while a server is away.

    async def retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        while True:
            try:
                return await call()
            except RETRIED as error:
                if isinstance(error, RPCError) and not incidents.worth_resending(error):
                    raise
                if time.monotonic() > self.deadline:
                    raise AssertionError(f"{what}: still failing at the run's deadline") from error
                self.retried[type(error).__name__] += 1
                await asyncio.sleep(0.5)

    async def open(self, incident: Incident) -> str:
        intake = Intake.model_validate(incident.intake)
        attempts = 0

        async def start() -> str:
            nonlocal attempts
            attempts += 1
            try:
                return await incidents.open_incident(self.client, intake, task_queue=TASK_QUEUE)
            except incidents.IncidentExists as exists:
                # A retried start whose first attempt did reach Temporal: the same incident.
                if attempts == 1:
                    raise
                return exists.incident_id

        return await self.retry(f"open {incident.reference}", start)

    async def decide(self, incident_id: str, kind: str, payload: dict[str, Any]) -> DecisionResult:
        self._calls[incident_id] += 1
        # The same id in every run: the n-th decision sent on this incident.
        request_id = f"{incident_id}/{self._calls[incident_id]}/{kind}"

        def send() -> Awaitable[DecisionResult]:
            return incidents.decide(
                self.client, incident_id, DecisionKind(kind), payload, request_id=request_id
            )

        what = f"{kind} on {incident_id}"
        if not self.duplicates:
            result = await self.retry(what, send)
        else:
            # A client that timed out and resent the same decision: right after the first
            # answer, or while the first call is still in flight. Seeded per request.
            if random.Random(f"{SEED}/{request_id}").random() < 0.5:
                result = await self.retry(what, send)
                again = await self.retry(what, send)
                self.repeats["sequential"] += 1
            else:
                result, again = await asyncio.gather(self.retry(what, send), self.retry(what, send))
                self.repeats["concurrent"] += 1
            assert again == result, f"{what}: the repeat answered {again}, the first {result}"
        await self._advance()
        return result

    async def status(self, incident_id: str) -> IncidentStatus:
        return await self.retry(
            f"status of {incident_id}", lambda: incidents.status(self.client, incident_id)
        )

    async def at_step(self, incident_id: str, step: Step) -> IncidentStatus:
        """Until the workflow itself (not only the register) is at `step`."""

        async def there() -> IncidentStatus | None:
            current = await self.status(incident_id)
            return current if current.step == step else None

        return await until(f"{incident_id} reaches {step}", there, timeout=self.left())

    async def escalated(self, incident_id: str, milestone: str) -> None:
        """Until the register holds the milestone's level-1 escalation."""

        async def recorded() -> bool | None:
            found = await self.pool.fetchval(
                "SELECT true FROM escalations "
                "WHERE incident_id = $1 AND milestone = $2 AND level = 1",
                incident_id,
                milestone,
            )
            return True if found else None

        await until(
            f"{milestone} of {incident_id} escalates",
            recorded,
            timeout=self.left(),
            tolerate=REGISTER_UNAVAILABLE,
        )

    async def outcome(self, incident_id: str) -> dict[str, Any]:
        handle = self.client.get_workflow_handle(incident_id)
        result: dict[str, Any] = await self.retry(f"result of {incident_id}", handle.result)
        return result

    def left(self) -> float:
        return max(self.deadline - time.monotonic(), 1.0)

    # The paths.

    async def approved(self, incident_id: str, kind: str, payload: dict[str, Any]) -> None:
        pending = await self.decide(incident_id, kind, payload)
        assert pending.approval_id is not None, f"{kind} on {incident_id} needs approval"
        await self.decide(incident_id, "approve", examples.approve(pending.approval_id))

    async def to_response(self, incident_id: str, severity: str = "medium") -> str:
        await self.decide(incident_id, "acknowledge", examples.acknowledge(severity))
        await self.decide(incident_id, "verification", examples.verification())
        level = (await self.status(incident_id)).proposed_response_level
        assert level is not None
        return str(level)

    async def to_implementation(self, incident_id: str) -> None:
        level = await self.to_response(incident_id)
        await self.approved(incident_id, "response", examples.response(level))
        await self.approved(incident_id, "action_plan", self.payloads.action_plan())

    async def close_and_learn(self, incident_id: str, *, follow_up: bool = True) -> None:
        await self.approved(incident_id, "closure", examples.closure())
        await self.at_step(incident_id, Step.LESSONS_LEARNED)
        await self.decide(incident_id, "lessons_learned", examples.lessons())
        if follow_up:
            await self.at_step(incident_id, Step.FOLLOW_UP)
            await self.decide(incident_id, "follow_up", examples.follow_up())

    async def close_early(self, incident_id: str) -> None:
        await self.approved(incident_id, "close_early", self.payloads.close_early())

    async def escalated_approval(
        self, incident_id: str, kind: str, payload: dict[str, Any]
    ) -> None:
        """A low-severity approval left until it escalates, then given."""
        pending = await self.decide(incident_id, kind, payload)
        assert pending.approval_id is not None
        await self.escalated(incident_id, f"approval:{pending.approval_id}")
        await self.decide(incident_id, "approve", examples.approve(pending.approval_id))

    async def drive(self, incident: Incident) -> None:
        await asyncio.sleep(incident.start_delay)
        incident_id = await self.open(incident)
        p = self.payloads
        match incident.path:
            case "happy":
                await self.to_implementation(incident_id)
                await self.decide(incident_id, "check_in", p.check_in("A1", "A2"))
                await self.close_and_learn(incident_id)
            case "not_substantiated":
                await self.decide(incident_id, "acknowledge", examples.acknowledge())
                verification = examples.verification("not_substantiated")
                await self.decide(incident_id, "verification", verification)
                await self.close_and_learn(incident_id)
            case "rejected_plan":
                level = await self.to_response(incident_id)
                await self.approved(incident_id, "response", examples.response(level))
                first = await self.decide(incident_id, "action_plan", p.action_plan())
                assert first.approval_id is not None
                await self.decide(incident_id, "reject", examples.reject(first.approval_id))
                revised = [
                    p.action("A1"),
                    p.action(
                        "A2",
                        category="assistance",
                        remedy_type=None,
                        assistance_type="livelihood_support",
                    ),
                ]
                await self.approved(incident_id, "action_plan", p.action_plan(revised))
                await self.close_early(incident_id)
            case "amended_plan":
                await self.to_implementation(incident_id)
                await self.decide(incident_id, "check_in", p.check_in("A1"))
                amendment = {
                    "actor": examples.CASE_OWNER,
                    "add": [p.action("A3", description="Return identity documents.")],
                    "cancel": [{"action_id": "A2", "reason": "Merged into A3."}],
                    "reason": "Workers asked for document return first.",
                }
                await self.approved(incident_id, "amend_plan", amendment)
                await self.decide(incident_id, "check_in", p.check_in("A3"))
                await self.close_and_learn(incident_id)
            case "imminent_danger":
                await self.decide(incident_id, "acknowledge", examples.acknowledge("critical"))
                await self.decide(incident_id, "immediate_protection", p.immediate_protection())
                await self.decide(incident_id, "verification", examples.verification())
                await self.close_early(incident_id)
            case "inconclusive":
                await self.decide(incident_id, "acknowledge", examples.acknowledge())
                for _ in range(2):
                    inconclusive = examples.verification("inconclusive")
                    await self.decide(incident_id, "verification", inconclusive)
                await self.decide(incident_id, "verification", examples.verification())
                await self.close_early(incident_id)
            case "escalated":
                await self.escalated(incident_id, "acknowledge")
                await self.decide(incident_id, "acknowledge", examples.acknowledge("low"))
                await self.decide(incident_id, "verification", p.low_verification())
                level = str((await self.status(incident_id)).proposed_response_level)
                await self.escalated_approval(incident_id, "response", examples.response(level))
                await self.escalated_approval(incident_id, "action_plan", p.action_plan())
                await self.decide(incident_id, "check_in", p.check_in("A1", "A2"))
                await self.escalated_approval(incident_id, "closure", examples.closure())
                await self.at_step(incident_id, Step.LESSONS_LEARNED)
                # Low severity has no post-closure follow-up: lessons complete the incident.
                await self.decide(incident_id, "lessons_learned", examples.lessons())
            case "escalated_close_early":
                await self.escalated(incident_id, "acknowledge")
                await self.decide(incident_id, "acknowledge", examples.acknowledge("low"))
                await self.escalated_approval(incident_id, "close_early", p.close_early())
            case "recurrence":
                await self.decide(incident_id, "acknowledge", examples.acknowledge())
                await self.decide(
                    incident_id, "verification", examples.verification("not_substantiated")
                )
                await self.close_and_learn(incident_id, follow_up=False)
                await self.at_step(incident_id, Step.FOLLOW_UP)
                await self.decide(incident_id, "follow_up", examples.follow_up(recurrence=True))
                recurrence = (await self.outcome(incident_id))["recurrence_incident"]
                assert recurrence, f"{incident_id}: the follow-up opened no recurrence"
                self.recurrences.append(recurrence)
                await self.decide(recurrence, "acknowledge", examples.acknowledge())
                await self.close_early(recurrence)
            case other:
                raise AssertionError(f"unknown path {other}")

    async def drive_all(self) -> None:
        # A task group: when one incident's driving fails, the others stop too.
        async with asyncio.TaskGroup() as group:
            for incident in self.scenario.incidents:
                group.create_task(self.drive(incident))

    def incident_ids(self) -> list[str]:
        return [i.incident_id for i in self.scenario.incidents] + self.recurrences


# --- The register, normalised -----------------------------------------------------------------

# Column types whose values are wall-clock times, durations between them, or bytes that cover
# them (audit hashes) or are random (ciphertext nonces): they differ between any two runs.
VOLATILE_TYPES = frozenset({"timestamp with time zone", "interval", "bytea"})
# Generated numbers and per-attempt bookkeeping: a retried delivery counts another attempt,
# an identity value is spent by a rolled-back or redelivered insert.
VOLATILE_COLUMNS = {
    "audit_trail": {"sequence"},
    "incidents": {"run_lineage", "run_id"},  # Temporal's run ids
    "outbox": {"notification_id", "attempts", "last_error"},
}
# Tables whose row order is part of their content (an audit chain's order); the others are
# compared as sorted lists.
ORDER_BY = {"audit_trail": "incident_id, sequence"}
# Times written into text (summaries, subjects, report Markdown) and lateness in minutes.
_TIME_IN_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}| UTC)?)?"
)
_LATENESS = re.compile(r"\b\d+[dh] \d+[hm] late\b")


def _plain(value: Any) -> Any:
    """A register value as JSON-comparable data, with times in text replaced by placeholders."""
    if isinstance(value, str):
        return _LATENESS.sub("<late> late", _TIME_IN_TEXT.sub("<time>", value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, date | Decimal | UUID):
        return str(value)
    return value


Snapshot = dict[str, list[str]]


async def register_snapshot(pool: asyncpg.Pool) -> Snapshot:
    """Every table of the register, each row as canonical JSON without what differs between
    two runs of the same scenario; counts and content stay."""
    columns: dict[str, list[str]] = defaultdict(list)
    for row in await pool.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
    ):
        volatile = VOLATILE_COLUMNS.get(row["table_name"], set())
        if row["data_type"] in VOLATILE_TYPES or row["column_name"] in volatile:
            columns[row["table_name"]].append("")  # the table is listed even if all go
            continue
        columns[row["table_name"]].append(row["column_name"])
    snapshot: Snapshot = {}
    for table, names in sorted(columns.items()):
        kept = [name for name in names if name]
        order = ORDER_BY.get(table)
        query = f'SELECT {", ".join(kept)} FROM "{table}"' + (f" ORDER BY {order}" if order else "")
        rows = [
            json.dumps(_plain(dict(row)), sort_keys=True, default=str)
            for row in await pool.fetch(query)
        ]
        snapshot[table] = rows if order else sorted(rows)
    return snapshot


def snapshot_differences(expected: Snapshot, actual: Snapshot) -> list[str]:
    """What differs, table by table: missing and extra rows (a few of each), or the order."""
    problems: list[str] = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table, []), actual.get(table, [])
        if want == got:
            continue
        missing = list((Counter(want) - Counter(got)).elements())
        extra = list((Counter(got) - Counter(want)).elements())
        problems.append(
            f"{table}: {len(want)} rows expected, {len(got)} found; "
            f"missing {missing[:3]}; extra {extra[:3]}"
            + ("" if missing or extra else "; same rows in another order")
        )
    return problems


# --- Deliveries -------------------------------------------------------------------------------


def check_deliveries(received: list[Received], outbox: list[asyncpg.Record]) -> dict[str, int]:
    """Every outbox row reached the receiver, signed, under its idempotency key, always with the
    same body; nothing else arrived. Returns how many times each kind arrived after
    de-duplicating by the key."""
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in received:
        assert verify_signature(
            WEBHOOK_SECRET.encode(), request.body, request.header(SIGNATURE_HEADER)
        ), f"bad signature on {request.header(DELIVERY_HEADER)}"
        bodies[request.header(DELIVERY_HEADER)].add(request.body)
    expected: dict[str, str] = {}
    for row in outbox:
        key = NotificationKey(
            incident_id=row["incident_id"],
            sequence=row["sequence"],
            kind=NotificationKind(row["kind"]),
            recipient=row["recipient"],
        )
        expected[delivery_key(key)] = row["kind"]
        assert row["status"] == "delivered" and row["delivered_at"] is not None, dict(row)
    assert set(bodies) == set(expected), (
        f"received but never queued: {sorted(set(bodies) - set(expected))[:5]}; "
        f"queued but never received: {sorted(set(expected) - set(bodies))[:5]}"
    )
    for delivery, variants in bodies.items():
        assert len(variants) == 1, f"{delivery} arrived with {len(variants)} different bodies"
    return dict(Counter(expected.values()))


# --- Running a scenario -----------------------------------------------------------------------


Faults = Callable[[Driver, WorkerProcess], Coroutine[Any, Any, None]]


@dataclass
class Played:
    snapshot: Snapshot
    outcomes: dict[str, dict[str, Any]]
    executions: list[tuple[str, str]]
    delivered: dict[str, int]
    decisions: int
    driver: Driver
    # Activity attempts after the first (from the histories): what Temporal had to retry.
    activity_retries: int
    worker_starts: int
    worker_kills: int


@dataclass
class Suite:
    stack: FaultStack
    receiver: Receiver
    baseline_played: "Played | None" = None

    def received(self, run: Run) -> list[Received]:
        with self.receiver.lock:
            return [r for r in self.receiver.requests if r.path == f"/{run.name}"]

    async def baseline(self) -> Played:
        """The scenario without faults, played once for the module."""
        if self.baseline_played is None:
            self.baseline_played = await play(self, "baseline", None)
        return self.baseline_played


async def play(suite: Suite, run_name: str, faults: Faults | None, **driving: Any) -> Played:
    """Play the scenario in a run of its own, with `faults` alongside; then wait for every
    incident to complete and read back the register and what the receiver got."""
    stack = suite.stack
    run = await stack.new_run(run_name)
    worker = stack.worker(run)
    pool = await open_pool(run.database_url, max_size=4)
    try:
        await worker.start()
        client = await Client.connect(
            stack.temporal.address, namespace=run.namespace, data_converter=TEST_DATA_CONVERTER
        )
        driver = Driver(client, pool, SCENARIO, **driving)
        # A task group: a failing driver stops the faults, and failing faults stop the driver.
        async with asyncio.TaskGroup() as group:
            group.create_task(within("the scenario's decisions", driver.drive_all(), driver.left()))
            if faults is not None:
                group.create_task(faults(driver, worker))
        ids = driver.incident_ids()
        results = await within(
            "every incident completes",
            asyncio.gather(*(driver.outcome(incident_id) for incident_id in ids)),
            driver.left(),
        )
        outcomes = dict(zip(ids, results, strict=True))
        executions = await _executions(driver, len(ids))
        # Completed incidents have delivered everything they queued: their workflows wait
        # for every delivery before they end.
        outbox = await pool.fetch("SELECT * FROM outbox ORDER BY incident_id, sequence")
        delivered = check_deliveries(suite.received(run), outbox)
        report = await verify_chain(pool, None)
        assert report.ok, f"audit chain broken: {report.broken}"
        assert report.incidents_checked == len(ids)
        snapshot = await register_snapshot(pool)
        assert worker.exit_code() is None, "the worker died on its own"
        return Played(
            snapshot=snapshot,
            outcomes=outcomes,
            executions=executions,
            delivered=delivered,
            decisions=driver.progress,
            driver=driver,
            activity_retries=await _activity_retries(client, ids),
            worker_starts=worker.starts,
            worker_kills=worker.kills,
        )
    finally:
        await worker.stop()
        await pool.close()
        # A failed test must not leave a server down for the next one.
        await stack.ensure_running()


async def _activity_retries(client: Client, incident_ids: list[str]) -> int:
    retries = 0
    for incident_id in incident_ids:
        async for event in client.get_workflow_handle(incident_id).fetch_history_events():
            if event.HasField("activity_task_started_event_attributes"):
                retries += event.activity_task_started_event_attributes.attempt - 1
    return retries


async def _executions(driver: Driver, expected: int) -> list[tuple[str, str]]:
    """Every workflow of the run's namespace and its status, once visibility has caught up."""

    async def listed() -> list[tuple[str, str]] | None:
        found = sorted(
            [
                (execution.id, (execution.status or WorkflowExecutionStatus.RUNNING).name)
                async for execution in driver.client.list_workflows("")
            ]
        )
        done = len(found) >= expected and all(s != "RUNNING" for _, s in found)
        return found if done else None

    return await until("visibility lists every incident as ended", listed, timeout=30)


def assert_like_baseline(played: Played, baseline: Played) -> None:
    assert played.executions == baseline.executions
    assert all(status == "COMPLETED" for _, status in played.executions)

    def without_times(outcomes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {i: {k: v for k, v in o.items() if k != "closed_at"} for i, o in outcomes.items()}

    assert without_times(played.outcomes) == without_times(baseline.outcomes)
    problems = snapshot_differences(baseline.snapshot, played.snapshot)
    assert not problems, "the register differs from the uninterrupted run:\n" + "\n".join(problems)
    assert played.delivered == baseline.delivered


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    with serving(server) as url:
        yield receiver, url


@pytest.fixture(scope="module")
async def suite(fault_receiver: tuple[Receiver, str]) -> AsyncIterator[Suite]:
    receiver, url = fault_receiver
    root = Path(tempfile.mkdtemp(prefix="remediation-faults-"))
    policy_file = root / "policy.toml"
    policy_file.write_text(POLICY)
    stack = FaultStack(
        root,
        runs=RUNS,
        remediation_binary=installed_binary("remediation"),
        key_ring_json=TEST_KEY_RING.to_json(),
        policy_file=policy_file,
        ports=free_ports(4),
        webhook_base=url,
    )
    try:
        await stack.start()
        yield Suite(stack, receiver)
    finally:
        await stack.stop()
    shutil.rmtree(root, ignore_errors=True)


# --- 1. The worker is SIGKILLed ------------------------------------------------------------------

KILLS = 3


# Each of these may also be the first to need the baseline, and play it.
SCENARIO_TEST_TIMEOUT = 2 * RUN_TIMEOUT_SECONDS


@pytest.mark.timeout(SCENARIO_TEST_TIMEOUT)
async def test_sigkilled_worker_loses_and_duplicates_nothing(suite: Suite) -> None:
    """SIGKILL the worker process at seeded points of the run (after the n-th decision of the
    scenario, plus a seeded fraction of a second) and start a new one each time.

    The kills fall in the first half of the run: whatever a killed worker was running comes back
    only when its start-to-close timeout expires (up to two minutes for a delivery), and those
    waits then overlap with the rest of the run instead of adding to it."""
    baseline = await suite.baseline()
    rng = random.Random(f"{SEED}/kills")
    thresholds = sorted(
        rng.sample(range(baseline.decisions // 20, baseline.decisions * 9 // 20), KILLS)
    )

    async def kill_and_restart(driver: Driver, worker: WorkerProcess) -> None:
        for threshold in thresholds:
            await driver.reached(threshold)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            await worker.kill()
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            await worker.start()

    played = await play(suite, "kills", kill_and_restart)
    assert played.worker_kills == KILLS
    assert_like_baseline(played, baseline)


# --- 2. PostgreSQL goes away -------------------------------------------------------------------

# Two: the register's outages cost the run only the activities' retry backoff.
OUTAGES = 2


@pytest.mark.timeout(SCENARIO_TEST_TIMEOUT)
async def test_postgres_restarted_mid_step_loses_and_duplicates_nothing(suite: Suite) -> None:
    """Stop PostgreSQL (fast shutdown: open transactions roll back, connections drop) in the
    middle of the run, keep it down for a few seconds while activities fail and Temporal retries
    them, then start it again on the same data; twice, at seeded points."""
    baseline = await suite.baseline()
    rng = random.Random(f"{SEED}/postgres")
    thresholds = sorted(
        rng.sample(range(baseline.decisions // 5, baseline.decisions * 7 // 10), OUTAGES)
    )

    async def restart_postgres(driver: Driver, worker: WorkerProcess) -> None:
        for threshold in thresholds:
            await driver.reached(threshold)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            await suite.stack.restart_postgres(down_for=rng.uniform(2.0, 5.0))

    played = await play(suite, "postgres", restart_postgres)
    assert played.worker_starts == 1, "the worker had to be restarted"
    assert played.activity_retries > 0, "no activity failed: the outages missed the run"
    assert_like_baseline(played, baseline)


# --- 3. The Temporal server goes away ----------------------------------------------------------


@pytest.mark.timeout(SCENARIO_TEST_TIMEOUT)
async def test_temporal_restarted_mid_lifecycle_loses_and_duplicates_nothing(suite: Suite) -> None:
    """Stop the Temporal dev server in the middle of the run (at a seeded point) and start it
    again on the same SQLite file a few seconds later. The worker process rides it out (it is
    never restarted) and the driver retries its calls while the server is down.

    One restart: what the server held only in memory when it stopped (a task being handed to
    the worker, a completion that could not be reported) comes back only at its start-to-close
    timeout, up to two minutes later, so each restart can add that much to the run."""
    baseline = await suite.baseline()
    rng = random.Random(f"{SEED}/temporal")
    threshold = rng.randrange(baseline.decisions // 5, baseline.decisions * 3 // 5)
    probed: list[IncidentStatus] = []

    async def restart_temporal(driver: Driver, worker: WorkerProcess) -> None:
        temporal = suite.stack.temporal
        await driver.reached(threshold)
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        await temporal.stop()
        # A call made while the server is away: answered once it is back.
        probe = asyncio.ensure_future(driver.status(SCENARIO.incidents[0].incident_id))
        await asyncio.sleep(rng.uniform(2.0, 4.0))
        assert not probe.done(), "a status query was answered with no server"
        await temporal.start()
        probed.append(await probe)

    played = await play(suite, "temporal", restart_temporal)
    assert played.worker_starts == 1, "the worker had to be restarted"
    assert len(probed) == 1
    assert_like_baseline(played, baseline)


# --- 4. The same decision sent twice -----------------------------------------------------------


@pytest.mark.timeout(SCENARIO_TEST_TIMEOUT)
async def test_a_decision_resent_with_its_request_id_is_applied_once(suite: Suite) -> None:
    """Every decision of the scenario is sent twice with the same request id — seeded per
    decision: again after the first answer, or concurrently with the first call — as a client
    that timed out would. Each is applied once (the register equals the baseline's, where each
    was sent once) and the repeat returns the first call's DecisionResult."""
    baseline = await suite.baseline()
    played = await play(suite, "duplicates", None, duplicates=True)
    assert played.driver.repeats["sequential"] > 0 and played.driver.repeats["concurrent"] > 0
    assert sum(played.driver.repeats.values()) == baseline.decisions
    assert_like_baseline(played, baseline)


async def test_the_decide_command_resent_with_its_request_id_is_applied_once(
    suite: Suite,
) -> None:
    """`remediation decide --request-id` twice, as an operator retrying after a timeout: the
    repeat prints the first call's result and the timeline holds the decision once; the same
    decision under another request id is a new one, and refused."""
    stack = suite.stack
    run = await stack.new_run("cli")
    worker = stack.worker(run)
    try:
        await worker.start()
        client = await Client.connect(
            stack.temporal.address, namespace=run.namespace, data_converter=TEST_DATA_CONVERTER
        )
        intake = Intake.model_validate(examples.intake())
        incident_id = await incidents.open_incident(client, intake, task_queue=TASK_QUEUE)
        env = {
            "TEMPORAL_ADDRESS": stack.temporal.address,
            "TEMPORAL_NAMESPACE": run.namespace,
            "TASK_QUEUE": TASK_QUEUE,
        }
        acknowledge = json.dumps(examples.acknowledge())
        args = ("decide", incident_id, "acknowledge", "-", "--json")
        first = await run_remediation(*args, "--request-id", "ack-1", stdin=acknowledge, env=env)
        # Once the first has answered, in any order.
        again, other, signalled = await asyncio.gather(
            run_remediation(*args, "--request-id", "ack-1", stdin=acknowledge, env=env),
            run_remediation(*args, "--request-id", "ack-2", stdin=acknowledge, env=env),
            run_remediation(*args, "--request-id", "ack-3", "--signal", stdin=acknowledge, env=env),
        )
        timeline = await incidents.timeline(client, incident_id)
    finally:
        await worker.stop()
    assert (first.code, again.code) == (0, 0), first.stderr + again.stderr
    assert again.json == first.json
    assert first.json["outcome"] == "accepted" and first.json["duplicate"] is False
    assert other.code == 1 and "refused" in other.stderr
    assert signalled.code == 2 and "--request-id applies to updates" in signalled.stderr
    assert [event.kind for event in timeline].count("acknowledge") == 1


# --- 5. The notification endpoint is down for hours ----------------------------------------------

OUTAGE = timedelta(hours=8)
# Longer than the delivery retries' longest backoff (an hour), so every queued notification gets
# another attempt once the endpoint is back.
RECOVERY = timedelta(hours=1, minutes=5)


async def test_a_webhook_down_for_hours_gets_every_notification_once_when_it_is_back(
    time_skipping_env: WorkflowEnvironment,
    create_database: CreateDatabase,
    receiver: Receiver,
) -> None:
    """Hours of real time cannot pass in a test, so this runs on the time-skipping test server,
    with the worker in-process (the only way to run one against it); the delivery attempts are
    still real POSTs to a real HTTP receiver, recorded in a real PostgreSQL register.

    The receiver answers 503 to everything for eight hours of workflow time, while three incidents
    open, are reminded of and then miss their two-hour acknowledgement, and escalate: every
    notification queues in the outbox and fails, retried with backoff up to an hour apart. Once
    the receiver answers again, every one is delivered within the hour, each reaches it exactly
    once after de-duplicating by its idempotency header, and the outbox holds each once."""
    env = time_skipping_env
    url = await create_database()
    connection = await asyncpg.connect(url)
    try:
        await apply_migrations(connection)
    finally:
        await connection.close()
    pool = await open_pool(url)
    settings = load_settings(
        task_queue=f"outage-{SEED}",
        database_url=url,
        notify_channel="webhook",
        notify_webhook_url=receiver.url,
        notify_webhook_secret=WEBHOOK_SECRET,
        notify_timeout_seconds=5,
    )
    deadlines = default_deadlines()
    acknowledge = deadlines[MilestoneKind.ACKNOWLEDGE]
    deadlines[MilestoneKind.ACKNOWLEDGE] = acknowledge.model_copy(
        update={"medium": timedelta(hours=2)}
    )
    policy = Policy(version="webhook-outage", deadlines=deadlines)
    receiver.fail_next(1_000_000)  # down until told otherwise
    try:
        async with build_worker(env.client, settings, pool, policy=policy):
            ids = []
            for number in range(3):
                intake = Intake.model_validate(
                    examples.intake(external_reference=f"OUTAGE-{SEED}-{number}")
                )
                ids.append(
                    await incidents.open_incident(
                        env.client, intake, task_queue=settings.task_queue
                    )
                )
            await env.sleep(OUTAGE)
            during = await pool.fetch("SELECT * FROM outbox ORDER BY incident_id, sequence")
            with receiver.lock:  # back up; every request so far was refused
                receiver.failures = 0
                refused = len(receiver.requests)
            await env.sleep(RECOVERY)
            after = await pool.fetch("SELECT * FROM outbox ORDER BY incident_id, sequence")
            # Then each incident is acknowledged and closed, so that its workflow completes:
            # the clearings are delivered at once now.
            for incident_id in ids:
                for kind, payload in (
                    ("acknowledge", examples.acknowledge()),
                    ("close_early", Payloads.close_early()),
                ):
                    result = await incidents.decide(
                        env.client, incident_id, DecisionKind(kind), payload
                    )
                assert result.approval_id is not None
                await incidents.decide(
                    env.client,
                    incident_id,
                    DecisionKind.APPROVE,
                    examples.approve(result.approval_id),
                )
                await env.client.get_workflow_handle(incident_id).result()
            final = await pool.fetch("SELECT * FROM outbox ORDER BY incident_id, sequence")
    finally:
        await pool.close()

    queued = Counter(row["kind"] for row in during)
    per_incident = {"case_owner_assigned": 3, "deadline_reminder": 3, "escalation": 3}
    assert {kind: queued[kind] for kind in per_incident} == per_incident, queued
    for row in during:
        assert (row["status"], row["delivered_at"]) == ("failed", None), dict(row)
        assert row["last_error"] == "webhook answered HTTP 503 Service Unavailable"
        assert row["attempts"] >= 5, f"{row['kind']} was tried only {row['attempts']} times"
    assert all(row["status"] == "delivered" for row in after), [dict(r) for r in after]
    assert [row["notification_id"] for row in after] == [r["notification_id"] for r in during]

    duplicates = Counter(
        (row["incident_id"], row["sequence"], row["kind"], row["recipient"]) for row in final
    )
    assert max(duplicates.values()) == 1, "an outbox row was queued twice"
    check_deliveries(receiver.requests, final)
    # Every attempt the outbox counted reached the receiver, and nothing else did.
    assert sum(row["attempts"] for row in final) == len(receiver.requests)
    # After the outage each notification arrived once: nothing delivered was sent again.
    accepted = Counter(request.header(DELIVERY_HEADER) for request in receiver.requests[refused:])
    assert set(accepted.values()) == {1}, accepted.most_common(3)
    assert len(accepted) == len(final)
