"""(h) The operations inbox with many open incidents: whole `remediation inbox` processes against
the benchmark's own stack, which read every decision awaited from Temporal's visibility store.

The portfolio is topped up to the figure, the incidents opened here assigned at intake to one of
`load.CASE_OWNERS` pseudonymous case owners (`owner.bench-00` …), as a team's portfolio is; those
opened before by other measurements stay as they are (acknowledged by the examples' owner, or
unassigned). Enough of them are then brought to await an approval (acknowledge, verification,
response; untimed) that the approvers have a realistic share. Once visibility lists every open
incident with its `AwaitingDecision` published and every pending approval under
`AwaitingFrom = 'role:approver'`, and the engine has done what the staging left it (its processes
below QUIET_CORES of a core, as when every incident waits for people), three commands are timed
as (f) times its own (benchmarks/cli.py: the same environment, once untimed, then `RUNS` times,
each the whole process):

- one case owner's inbox, `remediation inbox --as owner.bench-07`: what awaits them by name, a
  fiftieth of the incidents opened here;
- an approver's, `remediation inbox --as approver.sofia --role approver`: every pending approval
  (none of them the approver's own);
- everything awaited from anyone, `remediation inbox --json` (no target): one row or more for each
  open incident, the cost of the whole portfolio.

The rows each run printed are counted from its output (the table's closing `N awaited` line, the
JSON's length).
"""

import asyncio
import json
import os
import time
from dataclasses import dataclass

from temporalio.client import Client

from benchmarks import load
from benchmarks.cli import RUNS, cli_environment, timed_output
from benchmarks.report import INBOX_COMMANDS
from benchmarks.stack import BenchmarkStack, cpu_seconds
from schemas.vocabulary import Role
from workers.devstack.dev_server import installed_binary
from workers.ui_views import RUNNING_INCIDENTS, awaiting_query
from workflows import search_attributes as sa
from workflows.awaiting import role_entry

AWAITING_APPROVAL_STAGES = (3, 5)  # load.TO_MONITORING: a response, an action plan submitted
PUBLISHED_TIMEOUT_SECONDS = 900.0
# An engine with nothing to do: its processes (workers, Temporal, PostgreSQL) together below this
# share of one core over QUIET_WINDOW_SECONDS; waited for at most QUIET_TIMEOUT_SECONDS.
QUIET_CORES = 0.2
QUIET_WINDOW_SECONDS = 2.0
QUIET_TIMEOUT_SECONDS = 120.0
PUBLISHED = f"{RUNNING_INCIDENTS} AND {sa.AWAITING_DECISION.name} IS NOT NULL"
AWAITING_APPROVAL = awaiting_query([role_entry(Role.APPROVER)])


@dataclass(frozen=True)
class InboxTimes:
    """Seconds of wall time and rows printed of each run, by inbox (`owner`, `approver`,
    `everything`)."""

    seconds: dict[str, list[float]]
    rows: dict[str, list[int]]
    running_incidents: int
    awaiting_approval: int
    published_wait_seconds: float
    load_average: list[float]  # the machine's 1-minute load average before and after the runs
    quiet_wait_seconds: float
    engine_cores_before: float  # the engine's CPU use over the last window before the runs


def awaiting_approval(portfolio: load.Portfolio) -> int:
    """The portfolio's incidents with an approval pending."""
    return sum(i.stage in AWAITING_APPROVAL_STAGES for i in portfolio.incidents)


def rows_printed(output: str, as_json: bool) -> int:
    """The rows an inbox printed: the JSON's length, or the table's closing `N awaited, M
    overdue.` (0 for `Nothing awaits …`)."""
    if as_json:
        rows = json.loads(output)
        assert isinstance(rows, list)
        return len(rows)
    last = output.strip().splitlines()[-1] if output.strip() else ""
    if last.startswith("Nothing "):
        return 0
    count, _, rest = last.partition(" ")
    if not rest.startswith("awaited,"):
        raise ValueError(f"not an inbox's closing line: {last!r}")
    return int(count)


async def stage_approvals(
    client: Client, task_queue: str, portfolio: load.Portfolio, count: int, progress: load.Progress
) -> None:
    """Bring incidents chosen at random among those not yet acknowledged to await an approval,
    until `count` of the portfolio do (untimed)."""
    missing = count - awaiting_approval(portfolio)
    if missing <= 0:
        return
    if portfolio.proposed_level is None:
        await load.learn_proposed_level(client, task_queue, portfolio, load.Ticker(progress))
    progress(f"(h) bringing {missing:,} incidents to await an approval (untimed)")
    await load.stage_for_decisions(client, portfolio, [3] * missing, progress, seed=23)


async def wait_published(
    client: Client, incidents: int, approvals: int, progress: load.Progress
) -> float:
    """Wait until visibility lists `incidents` running incidents with their awaited decisions
    published, `approvals` of them awaiting an approver; the seconds waited."""
    ticker = load.Ticker(progress)
    began = time.monotonic()
    deadline = began + PUBLISHED_TIMEOUT_SECONDS
    while True:
        published = (await client.count_workflows(PUBLISHED)).count
        pending = (await client.count_workflows(AWAITING_APPROVAL)).count
        if published >= incidents and pending >= approvals:
            return time.monotonic() - began
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"visibility lists {published:,} of {incidents:,} incidents with their awaited "
                f"decisions, {pending:,} of {approvals:,} awaiting an approval"
            )
        line = (
            f"  {published:,}/{incidents:,} incidents with their awaited decisions published, "
            f"{pending:,}/{approvals:,} awaiting an approval"
        )
        ticker(lambda line=line: line)  # type: ignore[misc]
        await asyncio.sleep(load.POLL_SECONDS)


async def wait_quiet(pids: list[int], progress: load.Progress) -> tuple[float, float]:
    """Wait until the engine's processes use less than QUIET_CORES of a core, as an engine whose
    incidents all wait for people does (the notifications and register writes of the staging
    done); the seconds waited and the last window's use, in cores. Gives up waiting, without
    failing, after QUIET_TIMEOUT_SECONDS."""
    began = time.monotonic()
    cores = float("inf")
    while time.monotonic() - began < QUIET_TIMEOUT_SECONDS:
        used = cpu_seconds(pids)
        await asyncio.sleep(QUIET_WINDOW_SECONDS)
        cores = max(0.0, cpu_seconds(pids) - used) / QUIET_WINDOW_SECONDS
        if cores < QUIET_CORES:
            break
    waited = time.monotonic() - began
    progress(f"(h) the engine uses {cores:.2f} of a core after {waited:.0f} s")
    return waited, cores


async def measure_inbox(
    stack: BenchmarkStack,
    portfolio: load.Portfolio,
    open_count: int,
    approvals: int,
    progress: load.Progress,
) -> InboxTimes:
    """(h): see the module's docstring."""
    client = stack.require_client()
    queue = stack.settings.task_queue
    await load.ensure_open(client, queue, portfolio, open_count, progress, assigned=True)
    await stage_approvals(client, queue, portfolio, approvals, progress)
    pending = awaiting_approval(portfolio)
    progress(
        f"(h) waiting for visibility to list {len(portfolio.incidents):,} incidents' awaited "
        f"decisions ({pending:,} approvals)"
    )
    waited = await wait_published(client, len(portfolio.incidents), pending, progress)
    running = (await client.count_workflows(RUNNING_INCIDENTS)).count
    quiet_wait, cores = await wait_quiet(stack.engine_pids(), progress)
    env = cli_environment(stack)
    remediation = str(installed_binary("remediation", "the `remediation` command is not installed"))
    seconds: dict[str, list[float]] = {}
    rows: dict[str, list[int]] = {}
    load_before = os.getloadavg()[0]
    for name, (arguments, _) in INBOX_COMMANDS.items():
        argv = [remediation, "inbox", *arguments]
        as_json = "--json" in arguments
        progress(f"(h) {' '.join(['remediation', 'inbox', *arguments])}")
        await timed_output(argv, env)  # warm-up, untimed
        seconds[name], rows[name] = [], []
        for _ in range(RUNS):
            elapsed, output = await timed_output(argv, env)
            seconds[name].append(elapsed)
            rows[name].append(rows_printed(output, as_json))
    load_average = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return InboxTimes(
        seconds, rows, running, pending, waited, load_average, quiet_wait, round(cores, 3)
    )
