"""The benchmark's command: the engine's performance figures against their targets.

`make bench` runs it (`python -m benchmarks`, benchmarks/__main__.py). Not part of the test run,
the installed package or the image. The measurements themselves are in benchmarks/load.py ((a),
(b), (d), with benchmarks/replayed_cache.py), benchmarks/lifecycle.py ((c)),
benchmarks/replay.py ((e)), benchmarks/cli.py ((f)), benchmarks/soak.py ((g)) and
benchmarks/inbox.py ((h)); the table and the targets in benchmarks/report.py.
"""

import asyncio
import json
import logging
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from benchmarks import report
from benchmarks.report import MB, Figure, Target, worker_tuning
from workers.cli.support import JsonOption, _fail, _settings
from workers.errors import StartupError
from workers.logs import configure_logging, forward_core_logs
from workers.settings import LogFormat

if TYPE_CHECKING:  # the measurements are imported when a run starts, not for --help
    from benchmarks.load import LatencyResult

# The full figures (`--scale 1`).
INTAKE_COUNT = 1_000  # (a) incidents, and as many bare workflows
OPEN_FOR_DECISIONS = 2_000  # (b)
DECISIONS = 1_200  # (b) at DECISION_RATE: one minute
DECISION_RATE = 20.0  # (b) decisions a second; never scaled
OPEN_IN_MONITORING = 10_000  # (d)
OPEN_FOR_INBOX = 10_000  # (h)
AWAITING_APPROVAL = 200  # (h): a fiftieth of its incidents await an approval

INTAKE_RATIO = Target(">=", 0.8)
DECISION_P99_MS = Target("<=", 150)
DECISION_P99_RATIO = Target("<=", 1.5)
LIFECYCLE_SECONDS = Target("<=", 1)
WORKER_RSS_MB = Target("<=", 600)
CACHED_INCIDENT_MB = Target("<=", 0.1)
PORTFOLIO_SECONDS = Target("<=", 15)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _progress(line: str) -> None:
    typer.echo(f"[{time.strftime('%H:%M:%S')}] {line}", err=True)


@dataclass
class Run:
    """What the measurements found so far."""

    only: tuple[str, ...]
    scale: float
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    async def measure(self, letter: str, work: Callable[[], Awaitable[None]]) -> None:
        """One measurement; a failure is recorded and the others still run."""
        if letter not in self.only:
            return
        _progress(f"({letter}) {report.MEASUREMENT_NAMES[letter]}")
        began = time.monotonic()
        try:
            await work()
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.errors[letter] = f"{type(error).__name__}: {message}"[:500]
            _progress(f"({letter}) failed: {self.errors[letter]}")
            return
        _progress(f"({letter}) done in {time.monotonic() - began:,.0f} s")


async def _replay(run: Run) -> None:
    from benchmarks.replay import measure_replay

    result = await measure_replay()
    count = len(result.seconds)
    run.figures += [
        Figure("e.mean", f"Replay per history, mean ({count} histories)", result.mean_ms, "ms"),
        Figure("e.max", f"Replay per history, max ({result.slowest})", result.max_ms, "ms"),
    ]
    run.details["e"] = {
        "histories": count,
        "mean_ms": round(result.mean_ms, 2),
        "max_ms": round(result.max_ms, 2),
        "per_history_ms": {name: round(s * 1000, 2) for name, s in result.seconds.items()},
        "replay_failures": result.failures,
    }
    if result.failures:
        raise RuntimeError(f"{len(result.failures)} histories failed to replay: {result.failures}")


def _cpu_figure(key: str, label: str, result: "LatencyResult") -> Figure:
    """What a decision cost the stack's processes in CPU, in all and by part (the note)."""
    per = result.cpu_ms_per_decision()
    parts = "; ".join(f"{part} {ms:g} ms" for part, ms in per.items() if part != "total")
    return Figure(key, label, per.get("total"), "ms", 1, note=parts)


async def _measure_on_stack(run: Run) -> None:
    from benchmarks import load
    from benchmarks.lifecycle import measure_lifecycle
    from benchmarks.replayed_cache import measure_replayed_cache
    from benchmarks.stack import benchmark_stack

    with_temporal = any(letter in run.only for letter in "abdfgh")
    async with benchmark_stack(with_temporal=with_temporal, progress=_progress) as stack:
        portfolio = load.Portfolio()
        if with_temporal:
            # (b) and (d) depend on how many incidents the worker keeps cached: say which tuning
            # (the defaults, or the WORKER_* variables passed to it) the figures were made with.
            run.details["worker"] = worker_tuning(stack.settings)

        async def lifecycle() -> None:
            url = await stack.create_database("lifecycle")
            result = await measure_lifecycle(url, stack.key_ring, stack.root)
            run.figures.append(
                Figure(
                    "c.lifecycle",
                    f"Lifecycle, {result.timed.simulated_days} days of check-ins (time-skipping)",
                    result.timed.seconds,
                    "s",
                    2,
                    LIFECYCLE_SECONDS,
                )
            )
            timed = result.timed
            run.details["c"] = {
                "seconds": round(timed.seconds, 3),
                "cold_seconds": round(result.cold_seconds, 3),
                "decisions": timed.decisions,
                "check_ins": timed.check_ins,
                "simulated_days": timed.simulated_days,
                "case_status": timed.case_status,
            }

        async def intake() -> None:
            count = report.scaled(INTAKE_COUNT, run.scale, minimum=2)
            client = stack.require_client()
            result = await load.measure_intake(
                client, stack.settings.task_queue, portfolio, count, _progress
            )
            run.figures += [
                Figure(
                    "a.incident_rate",
                    f"Intake rate, incidents ({count:,})",
                    result.incident_rate,
                    "/s",
                ),
                Figure(
                    "a.bare_rate", f"Intake rate, bare workflow ({count:,})", result.bare_rate, "/s"
                ),
                Figure(
                    "a.ratio", "Intake ratio, incident / bare", result.ratio, "", 2, INTAKE_RATIO
                ),
            ]
            same = result.shapes["incident"] == result.shapes["bare"]
            run.details["a"] = {
                "count_per_kind": count,
                "incident_seconds": round(result.incident_seconds, 3),
                "bare_seconds": round(result.bare_seconds, 3),
                "incident_rate_per_second": round(result.incident_rate, 2),
                "bare_rate_per_second": round(result.bare_rate, 2),
                "ratio": round(result.ratio, 3),
                "rounds": result.rounds,
                "history_shapes": result.shapes,
                "shapes_match": same,
            }
            if not same:
                _progress(f"(a) warning: the histories differ in shape: {result.shapes}")

        async def decisions() -> None:
            client = stack.require_client()
            queue = stack.settings.task_queue
            open_count = report.scaled(OPEN_FOR_DECISIONS, run.scale)
            count = report.scaled(DECISIONS, run.scale, minimum=3)
            await load.ensure_open(client, queue, portfolio, open_count, _progress)
            await load.learn_proposed_level(client, queue, portfolio, load.Ticker(_progress))
            mix = load.decision_mix(count)
            _progress(f"(b) preparing {count:,} incidents for their decisions (untimed)")
            chosen = await load.stage_for_decisions(client, portfolio, mix, _progress)
            _progress(f"(b) {count:,} decisions at {DECISION_RATE:g}/s on {open_count:,} incidents")
            result = await load.measure_decisions(
                client,
                portfolio,
                chosen,
                rate=DECISION_RATE,
                progress=_progress,
                cpu=stack.cpu_seconds,
            )
            summary = result.summary()
            run.details["b"] = summary
            every = summary["all"]
            note = (
                f"{len(result.unanswered_ms)} unanswered, counted at their time to the error"
                if result.unanswered_ms
                else ""
            )
            label = f"({result.open_incidents:,} open, {DECISION_RATE:g}/s)"
            run.figures += [
                Figure("b.p50", f"Decision latency p50 {label}", every.get("p50_ms"), "ms", 0),
                Figure(
                    "b.p99",
                    f"Decision latency p99 ({every['count']:,} decisions)",
                    every.get("p99_ms"),
                    "ms",
                    0,
                    DECISION_P99_MS,
                    note,
                ),
            ]
            if result.failures:
                _progress(f"(b) decisions not answered: {result.failures}")
            _progress(
                f"(b) baseline: the same {count:,} decisions at {DECISION_RATE:g}/s to "
                f"{open_count:,} bare workflows"
            )
            bare = await load.measure_bare_decisions(
                client,
                queue,
                open_count,
                count,
                rate=DECISION_RATE,
                progress=_progress,
                cpu=stack.cpu_seconds,
            )
            bare_every = bare.summary()["all"]
            run.details["b"]["bare"] = bare.summary()
            run.figures += [
                Figure(
                    "b.bare_p99",
                    f"Bare workflow's decision p99 ({bare_every['count']:,}, same traffic)",
                    bare_every.get("p99_ms"),
                    "ms",
                    0,
                ),
                Figure(
                    "b.ratio",
                    "Decision p99 ratio, engine / bare",
                    report.ratio_of(every.get("p99_ms"), bare_every.get("p99_ms")),
                    "",
                    2,
                    DECISION_P99_RATIO,
                ),
                _cpu_figure("b.cpu", "Engine's CPU per decision", result),
                _cpu_figure("b.bare_cpu", "Bare workflow's CPU per decision", bare),
            ]
            if bare.failures:
                _progress(f"(b) bare decisions not answered: {bare.failures}")

        async def inbox() -> None:
            from benchmarks.inbox import measure_inbox

            open_count = report.scaled(OPEN_FOR_INBOX, run.scale)
            approvals = report.scaled(AWAITING_APPROVAL, run.scale)
            times = await measure_inbox(stack, portfolio, open_count, approvals, _progress)
            last_rows = {name: counts[-1] for name, counts in times.rows.items()}
            run.figures += report.inbox_figures(times.seconds, last_rows)
            run.details["h"] = {
                "open_incidents": len(portfolio.incidents),
                "running_incidents": times.running_incidents,
                "case_owners": load.CASE_OWNERS,
                "assigned_to_the_owner": sum(
                    i.owner == report.INBOX_OWNER for i in portfolio.incidents
                ),
                "awaiting_approval": times.awaiting_approval,
                "published_wait_seconds": round(times.published_wait_seconds, 1),
                "load_average_before_and_after": times.load_average,
                "quiet_wait_seconds": round(times.quiet_wait_seconds, 1),
                "engine_cores_before": times.engine_cores_before,
                "runs": len(times.seconds["owner"]),
                "commands": {
                    name: "remediation inbox " + " ".join(arguments)
                    for name, (arguments, _) in report.INBOX_COMMANDS.items()
                },
                "seconds": {
                    name: [round(value, 3) for value in values]
                    for name, values in times.seconds.items()
                },
                "rows": last_rows,
                "rows_per_run": times.rows,
            }

        async def monitoring() -> None:
            client = stack.require_client()
            queue = stack.settings.task_queue
            assert stack.rss is not None
            began = time.monotonic()
            target = report.scaled(OPEN_IN_MONITORING, run.scale)
            await load.ensure_open(client, queue, portfolio, target, _progress)
            if portfolio.proposed_level is None:
                await load.learn_proposed_level(client, queue, portfolio, load.Ticker(_progress))
            _progress(
                f"(d) taking {target:,} incidents into step 4 (implementation and monitoring)"
            )
            failed = await load.drive_to_monitoring(client, portfolio, _progress)
            in_monitoring = sum(i.stage == load.IN_MONITORING for i in portfolio.incidents)
            _progress("(d) portfolio monitoring run")
            portfolio_run = await load.portfolio_run(client, queue)
            seconds = portfolio_run.seconds
            stack.rss.sample()
            peak = stack.rss.peak(since=began)
            assert peak is not None
            run.figures += [
                Figure(
                    "d.rss",
                    f"Worker peak RSS ({in_monitoring:,} incidents in monitoring)",
                    peak / MB,
                    "MB",
                    0,
                    WORKER_RSS_MB,
                ),
                Figure(
                    "d.portfolio", "Portfolio monitoring run", seconds, "s", 1, PORTFOLIO_SECONDS
                ),
            ]
            overall = stack.rss.peak()
            idle = stack.rss.samples[0][1]  # the worker just started, before any workflow
            cache_size = stack.settings.worker_max_cached_workflows
            per_cached = report.megabytes_per_cached(
                peak, idle, len(portfolio.incidents), cache_size
            )
            run.figures.append(
                Figure(
                    "d.per_cached",
                    f"Worker memory per cached incident (cache of {cache_size:,})",
                    per_cached,
                    "MB",
                    3,
                    CACHED_INCIDENT_MB,
                )
            )
            run.details["d"] = {
                "worker_idle_rss_mb": round(idle / MB, 1),
                "worker_cache_size": cache_size,
                "open_incidents": len(portfolio.incidents),
                "in_monitoring": in_monitoring,
                "failed_on_the_way": failed,
                "worker_peak_rss_mb": round(peak / MB, 1),
                "worker_peak_rss_whole_run_mb": round((overall or peak) / MB, 1),
                "rss_samples": len(stack.rss.samples),
                "portfolio_seconds": round(seconds, 3),
                "portfolio_report_id": portfolio_run.stored.report_id,
                "portfolio_activity_seconds": portfolio_run.activity_seconds,
                "open_and_drive_seconds": round(time.monotonic() - began - seconds, 1),
            }
            _progress(
                f"(d) restarting the worker; up to {cache_size:,} incidents replayed into its "
                "cache by a check-in each"
            )
            in_step_4 = [i for i in portfolio.incidents if i.stage == load.IN_MONITORING]
            replayed = await measure_replayed_cache(stack, in_step_4, cache_size)
            run.figures.append(
                Figure(
                    "d.per_replayed",
                    f"Worker memory per incident replayed into its cache ({replayed.replayed:,})",
                    replayed.megabytes_per_incident,
                    "MB",
                    3,
                    CACHED_INCIDENT_MB,
                )
            )
            run.details["d"]["replayed_cache"] = replayed.summary()
            if failed:
                raise RuntimeError(f"{failed} incidents could not be taken into monitoring")

        async def commands() -> None:
            from benchmarks.cli import RUNS, measure_commands

            times = await measure_commands(stack, portfolio)
            run.figures += report.cli_figures(times.seconds)
            run.details["f"] = {
                "runs": RUNS,
                "seconds": {
                    name: [round(value, 3) for value in values]
                    for name, values in times.seconds.items()
                },
            }

        # (f) first, while the worker has nothing else to do: an operator's command on a quiet
        # engine.
        await run.measure("f", commands)

        async def soak() -> None:
            from benchmarks.soak import SoakPlan, run_soak

            result = await run_soak(stack, portfolio, SoakPlan.scaled(run.scale), _progress)
            run.figures += result.figures()
            run.details["g"] = result.details()
            problems = result.problems()
            if problems:
                _progress(f"(g) correctness: {'; '.join(problems)}")

        await run.measure("c", lifecycle)
        await run.measure("a", intake)
        await run.measure("b", decisions)
        # (h) before (d): it needs only open incidents, which (d) then takes into step 4.
        await run.measure("h", inbox)
        await run.measure("d", monitoring)
        await run.measure("g", soak)
        stack.keep = bool(run.errors)


async def run_benchmark(only: tuple[str, ...], scale: float) -> Run:
    """Every chosen measurement, (e) first while nothing else runs on the machine."""
    run = Run(only, scale)
    await run.measure("e", lambda: _replay(run))
    if any(letter in only for letter in "abcdfgh"):
        await _measure_on_stack(run)
    order = {letter: index for index, letter in enumerate(report.MEASUREMENTS)}
    run.figures.sort(key=lambda figure: order[figure.key[0]])
    return run


def _versions() -> dict[str, str]:
    versions = {
        "remediation-engine": version("remediation-engine"),
        "temporalio": version("temporalio"),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    if commit:
        versions["commit"] = commit
    return versions


def _print_table(run: Run, output: Path, out: TextIO | None = None) -> None:
    for line in report.table_lines(run.figures):
        typer.echo(line, file=out)
    if run.scale != 1:
        typer.echo(
            f"\nScale {run.scale:g}: fewer incidents than the targets are set for; the targets "
            "are shown for reference.",
            file=out,
        )
    tuning = run.details.get("worker")
    if tuning:
        cached = tuning["WORKER_MAX_CACHED_WORKFLOWS"]
        typer.echo(f"\nWorker cache: {cached:,} incidents (WORKER_MAX_CACHED_WORKFLOWS).", file=out)
        open_for_decisions = run.details.get("b", {}).get("open_incidents", 0)
        if open_for_decisions > cached:
            typer.echo(
                f"(b) had {open_for_decisions:,} open incidents for {cached:,} cached: a decision "
                "on an evicted incident replays its history first (docs/benchmark.md).",
                file=out,
            )
    for letter, error in run.errors.items():
        typer.echo(f"({letter}) could not be measured: {error}", file=out)
    typer.echo(f"\nResults written to {output}", file=out)


def benchmark(
    scale: Annotated[
        float,
        typer.Option(
            help="Fraction of the full figures to run, e.g. 0.05 for a quick check: the "
            "incident counts of (a), (b), (d), (g) and (h), the number of decisions of (b) and "
            "the duration of (g) are scaled; the rates, (c) and (e) are not."
        ),
    ] = 1.0,
    only: Annotated[
        str | None,
        typer.Option(
            "--only", metavar="LIST", help="Only these measurements, e.g. `a,c` (default: all)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            metavar="PATH",
            help="Where to write the results (JSON); default "
            "<data dir>/benchmark/results-<UTC timestamp>.json.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Measure the engine's performance figures against their targets, on a stack of its own.

    Starts embedded PostgreSQL, a Temporal dev server (its own SQLite file) and the worker as a
    separate process, on free ports, as `remediation up` does, in a temporary directory (in
    memory under /dev/shm where there is one, so a slow disk's syncs do not stand in for the
    engine's cost), and removes them after: the data directory's register and a running
    `remediation up` are never touched. Prints a table (figure, value, target, met or MISSED),
    writes the results as JSON, and reports progress on stderr. The full figures take hours on a
    small machine: (d) alone opens 10,000 incidents and sends them 60,000 decisions. Exits 1
    when a measurement could not be made; a missed target is reported, not an error.
    WORKER_* tuning variables are passed on to the benchmark's worker.

    (a) Intake throughput, target ratio >= 0.8. Intake: the incident workflow is started as
    `remediation open` starts it, and the engine asks for the deployment's policy, registers the
    incident, records its opening event and queues the case owner's notification in one
    activity (delivered in the background) and publishes its search attributes; it is taken in
    when Temporal's visibility shows its NextDeadline. 1,000 incidents are started at once (100
    start requests in flight) and the rate is their number over the time until the last is
    taken in. A bare workflow of the same shape (the same start, patch markers, three
    activities in sequence and one in the background, search-attribute upsert and timer; no-op
    activities, no decoding; no update, as an intake has none) is measured the same way on the
    same server, in alternating rounds. The ratio is incident rate / bare rate; both histories'
    shapes are in the results.

    (b) Decision latency p50 and p99 with 2,000 open incidents, target p99 <= 150 ms. Decisions
    go out on a fixed schedule of 20 a second for a minute (1,200; open loop: a slow answer never
    delays the next one): a third each acknowledge, verification and response, each to its own
    incident chosen at random and brought to that step beforehand (untimed); each latency runs
    from the decision's scheduled time to its result (an unanswered one: to its error). Then
    the baseline, in the same run: the same traffic to 2,000 open bare workflows whose update
    runs one no-op activity; the ratio engine p99 / bare p99, target <= 1.5. For both, the CPU
    a decision cost (no target): what the Temporal dev server, the workers, PostgreSQL and the
    benchmark's own process used from the first decision to the last answer, over the decisions
    sent. When the engine's total nears what the cores give at 20 a second (100 ms on two
    cores), decisions queue.

    (c) One whole lifecycle on the time-skipping server, target <= 1 s wall: intake, the six
    steps with approvals, a check-in a day before each is due for a year (the cadence the
    severity sets), closure, lessons learned and the follow-up, from the start request to the
    workflow's result (after one untimed warm-up run).

    (d) 10,000 open incidents in monitoring (each taken into step 4 by its decisions): the
    worker's peak resident memory, itself and its children sampled with psutil every 0.25 s
    (target <= 600 MB, 1 MB = 10^6 bytes), and one portfolio monitoring run
    (PortfolioMonitoringWorkflow: key figures and reconciliation), target <= 15 s. And the
    worker's memory per cached incident, target <= 0.1 MB: its peak above its first sample (the
    worker just started) over the incidents its cache holds (the open ones, up to its size).
    Then the worker is restarted and as many incidents in step 4 as its cache holds are replayed
    into it by their next decision (a check-in each): its memory per incident so replayed, same
    target, after a warm-up of 30 incidents.

    (e) Replay time of each committed history in tests/histories/ (mean and max; no target).

    (f) The command line's answer, against the benchmark's stack: whole processes of
    `remediation --help` (target <= 0.3 s), `remediation status ID` on an open incident and
    `remediation decide ID acknowledge FILE` on a fresh incident each run (a real accepted
    decision; targets <= 0.6 s), and beside them `temporal workflow describe -w ID` on the same
    incident (no target): each once untimed, then five times; the median, with min and max.

    (g) Soak under faults: 2,000 open incidents spread over every stage of a path through the
    six steps (brought there beforehand, untimed) take decisions at 10 a second for 10 minutes,
    each the next one of an incident with none in flight, with two worker processes on the task
    queue; one is SIGKILLed and restarted every 30 s, PostgreSQL is stopped for 5 s once and the
    Temporal dev server for 3 s once (on its SQLite file). A call that fails for want of a server
    is sent again with the same update id and decision_id. Figures: decisions sent, answered,
    applied exactly once, duplicated and lost (target 0 each; read from the register's events by
    decision_id), latency p50 and p99 (target <= 10 s) and the time to recover after each kind of
    fault. --scale scales the incidents and the duration, not the rate nor the faults' timing.

    (h) The operations inbox with 10,000 open incidents, those opened for it assigned at intake to
    one of 50 case owners (owner.bench-00 to owner.bench-49), 200 of them brought beforehand to
    await an approval (untimed). Once Temporal's visibility lists every open incident with its
    AwaitingDecision published and the engine is idle again (below 0.2 of a core), whole
    processes of `remediation inbox --as owner.bench-07` (one case owner's inbox; target
    <= 1 s), `remediation inbox --as approver.sofia --role approver` (an approver's; target
    <= 1 s) and `remediation inbox --json` (everything awaited from anyone; no target), in (f)'s
    environment: each once untimed, then five times; the median, with min and max, and the rows
    each printed.
    """
    try:
        chosen = report.parse_only(only)
        report.check_scale(scale)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if any(letter in chosen for letter in "abcdfgh") and find_spec("psutil") is None:
        _fail(
            "the benchmark needs the `test` extra (psutil, temporal-test-server): run `make bench`"
        )
    settings = _settings()
    started = datetime.now(UTC)
    path = output or report.default_output(settings.data_dir, started)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _fail(f"cannot write to {path.parent}: {error.strerror or error}")
    # The benchmark's own engine logs (the lifecycle's in-process worker) go to a file beside the
    # results, at the configured level, so stderr shows progress only and logging still costs
    # what it costs in production.
    log_path = path.with_suffix(".log")
    with log_path.open("a", encoding="utf-8") as log_file:
        configure_logging(LogFormat.JSON, settings.logging_level, stream=log_file)
        forward_core_logs()
        _progress(f"benchmark at scale {scale:g}: {', '.join(chosen)}")
        try:
            run = asyncio.run(run_benchmark(chosen, scale))
        except StartupError as error:
            _fail(str(error))
        finally:
            # The SDK's native core hands over its buffered warnings (a client's retries while a
            # server was down) when it gets round to it, after the file is closed: dropped, not
            # printed by Python's last-resort handler over the table.
            logging.getLogger().handlers = [logging.NullHandler()]
    document = report.results_document(
        started=started,
        finished=datetime.now(UTC),
        scale=scale,
        only=chosen,
        figures=run.figures,
        details=run.details,
        errors=run.errors,
        versions=_versions(),
    )
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        _fail(f"cannot write {path}: {error.strerror or error}")
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        _print_table(run, path)
    if run.errors:
        raise typer.Exit(code=1)
