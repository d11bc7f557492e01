"""What a long paced measurement did minute by minute, so that a figure that moved late in a run
can be told apart from one that was high throughout: the decisions due in each minute, how fast
they were answered, and how busy the machine and each part of the stack were meanwhile.

(g) runs for ten minutes with faults striking on a timetable; its p99 alone cannot say whether a
backlog built up after one fault or the engine fell behind as the incidents' histories grew.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psutil

from benchmarks.report import percentile

WINDOW_SECONDS = 60.0


class Timed(Protocol):
    """A decision as a paced measurement keeps it (times in seconds into the run)."""

    @property
    def kind(self) -> str: ...

    @property
    def due(self) -> float: ...

    @property
    def latency(self) -> float | None: ...


@dataclass(frozen=True)
class CpuSample:
    at: float  # seconds into the run
    machine: float  # CPU seconds the whole machine has been busy, all cores, since it booted
    parts: dict[str, float]  # CPU seconds each part of the stack has used so far


def machine_busy_seconds() -> float:
    """CPU seconds spent on anything but waiting, summed over the cores."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


async def sample_cpu(
    parts: Callable[[], dict[str, float]],
    seconds_into_run: Callable[[], float],
    until: float,
    samples: list[CpuSample],
    every: float = WINDOW_SECONDS,
) -> None:
    """Appends a sample now and every `every` seconds until `until` seconds into the run."""
    while True:
        now = seconds_into_run()
        samples.append(CpuSample(now, machine_busy_seconds(), parts()))
        if now >= until:
            return
        await asyncio.sleep(min(every, until - now))


def _latencies(decisions: Sequence[Timed]) -> dict[str, Any]:
    answered = [d.latency for d in decisions if d.latency is not None]
    return {
        "sent": len(decisions),
        "unanswered": len(decisions) - len(answered),
        "p50_s": round(percentile(answered, 50), 2) if answered else None,
        "p99_s": round(percentile(answered, 99), 2) if answered else None,
    }


def by_kind(decisions: Sequence[Timed]) -> dict[str, dict[str, Any]]:
    """Each kind of decision's count and latency percentiles, in the order first sent."""
    kinds: dict[str, list[Timed]] = {}
    for decision in decisions:
        kinds.setdefault(decision.kind, []).append(decision)
    return {kind: _latencies(each) for kind, each in kinds.items()}


def _cpu_between(first: CpuSample, last: CpuSample) -> dict[str, float | None]:
    """Cores busy on average between two samples, for the machine and each part; a part whose
    process was restarted in between (its counter fell) is left out, as its CPU cannot be told."""
    span = last.at - first.at
    used: dict[str, float | None] = {"machine": round((last.machine - first.machine) / span, 2)}
    for part, seconds in last.parts.items():
        before = first.parts.get(part)
        grew = None if before is None else seconds - before
        used[part] = None if grew is None or grew < 0 else round(grew / span, 2)
    return used


def by_minute(
    decisions: Sequence[Timed], cpu: Sequence[CpuSample], window: float = WINDOW_SECONDS
) -> list[dict[str, Any]]:
    """Per window of the run (by the time each decision was due): the decisions and their
    latencies, and the cores the machine and the stack's parts kept busy over that window."""
    if not decisions:
        return []
    windows = int(max(d.due for d in decisions) // window) + 1
    rows = []
    for index in range(windows):
        start, end = index * window, (index + 1) * window
        due = [d for d in decisions if start <= d.due < end]
        row: dict[str, Any] = {"from_s": round(start), **_latencies(due)}
        # A second's slack each side: the first sample is taken just before the run begins.
        inside = [s for s in cpu if start - 1.0 <= s.at <= end + 1.0]
        if len(inside) >= 2 and inside[-1].at - inside[0].at >= window / 2:
            row["cores_busy"] = _cpu_between(inside[0], inside[-1])
        rows.append(row)
    return rows
