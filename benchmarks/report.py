"""The pure parts of the benchmark (`make bench`): options, percentiles, figures against their
targets, the table and the results document. No I/O here, so tests/test_benchmark.py checks it in
milliseconds."""

import math
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from workers.settings import Settings

MEASUREMENTS = ("a", "b", "c", "d", "e", "f", "g", "h")
MEASUREMENT_NAMES = {
    "a": "intake throughput against a bare workflow",
    "b": "decision latency under steady load",
    "c": "a whole lifecycle on the time-skipping server",
    "d": "worker memory and a portfolio run with many open incidents",
    "e": "replay time of the committed histories",
    "f": "the command line's answer: remediation --help, status and decide",
    "g": "a soak of decisions while workers are killed and servers restarted",
    "h": "the operations inbox with many open incidents",
}
NO_TARGET = "—"


def parse_only(text: str | None) -> tuple[str, ...]:
    """`--only a,c` as the measurements to run, in their order; None or empty: all of them."""
    if text is None or not text.strip():
        return MEASUREMENTS
    chosen = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(chosen - set(MEASUREMENTS))
    if unknown:
        raise ValueError(
            f"unknown measurement(s) {', '.join(unknown)}: choose from {', '.join(MEASUREMENTS)}"
        )
    return tuple(m for m in MEASUREMENTS if m in chosen)


def check_scale(scale: float) -> float:
    """`--scale`: a fraction of the full figures, more than 0 and at most 1."""
    if not (0 < scale <= 1) or math.isnan(scale):
        raise ValueError(f"--scale must be more than 0 and at most 1, not {scale}")
    return scale


def scaled(full: int, scale: float, minimum: int = 1) -> int:
    """A count of the full run, scaled (never below `minimum`)."""
    return max(minimum, round(full * scale))


def ratio_of(value: float | None, baseline: float | None) -> float | None:
    """`value / baseline`, or None when either was not measured or the baseline is 0."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


MB = 1_000_000  # the stricter megabyte: RSS bytes / 10^6


def megabytes_per_cached(
    peak_bytes: int, idle_bytes: int, open_workflows: int, cache_size: int
) -> float | None:
    """Worker memory per cached incident (1 MB = 10^6 bytes): what the worker holds above its
    idle self, over the incidents its cache holds (every open one, up to the cache's size). An
    upper bound: it also counts what the worker builds on first use."""
    cached = min(open_workflows, cache_size)
    if cached <= 0:
        return None
    return (peak_bytes - idle_bytes) / cached / MB


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q % of all at or below it
    (p99 of 1,200 latencies is the 1,188th smallest)."""
    if not values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is not in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max (the median of an even count is the mean of the middle two)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median, ordered[0], ordered[-1]


@dataclass(frozen=True)
class Target:
    """What a figure must be: at most (`<=`) or at least (`>=`) a value, in the figure's unit."""

    op: Literal["<=", ">="]
    value: float

    def met(self, value: float) -> bool:
        return value <= self.value if self.op == "<=" else value >= self.value

    def text(self, unit: str, digits: int) -> str:
        sign = "≤" if self.op == "<=" else "≥"
        return f"{sign} {_number(self.value, digits)}{_unit(unit)}"


@dataclass(frozen=True)
class Figure:
    """One line of the table."""

    key: str  # "a.ratio": the measurement's letter, then the figure
    label: str
    value: float | None  # None: not measured (the measurement failed)
    unit: str = ""
    digits: int = 1
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.target.met(self.value)

    def value_text(self) -> str:
        if self.value is None:
            return "not measured"
        return f"{_number(self.value, self.digits)}{_unit(self.unit)}"

    def target_text(self) -> str:
        return NO_TARGET if self.target is None else self.target.text(self.unit, self.digits)

    def result_text(self) -> str:
        met = self.met
        return NO_TARGET if met is None else ("met" if met else "MISSED")

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "target": None
            if self.target is None
            else {"op": self.target.op, "value": self.target.value},
            "met": self.met,
            "note": self.note,
        }


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _unit(unit: str) -> str:
    if not unit:
        return ""
    return unit if unit.startswith("/") else f" {unit}"


def table_lines(figures: Iterable[Figure]) -> list[str]:
    """The table: FIGURE, VALUE, TARGET, RESULT, columns padded to their widest cell; then each
    figure's note, if it has one, on a line of its own."""
    figures = list(figures)
    headers = ["FIGURE", "VALUE", "TARGET", "RESULT"]
    rows = [[f.label, f.value_text(), f.target_text(), f.result_text()] for f in figures]
    widths = [max(len(row[c]) for row in [headers, *rows]) for c in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            cell.rjust(width) if column == 1 and row is not headers else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    notes = [f"{figure.label}: {figure.note}" for figure in figures if figure.note]
    return [*lines, *(["", *notes] if notes else [])]


def missed(figures: Iterable[Figure]) -> list[Figure]:
    return [figure for figure in figures if figure.met is False]


def default_output(data_dir: Path, started: datetime) -> Path:
    """`<data dir>/benchmark/results-<UTC timestamp>.json`."""
    return data_dir / "benchmark" / f"results-{started:%Y%m%dT%H%M%SZ}.json"


def worker_tuning(settings: Settings) -> dict[str, float]:
    """The worker's WORKER_* settings (defaults or overrides), by their variable names."""
    values = settings.model_dump()
    return {name.upper(): values[name] for name in sorted(values) if name.startswith("worker_")}


def results_document(
    *,
    started: datetime,
    finished: datetime,
    scale: float,
    only: Sequence[str],
    figures: Sequence[Figure],
    details: dict[str, Any],
    errors: dict[str, str],
    versions: dict[str, str],
) -> dict[str, Any]:
    """Everything a later run is compared with: the figures with their targets, each
    measurement's details, the machine and versions."""
    return {
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "scale": scale,
        "measurements": list(only),
        "full_scale": scale == 1,
        "figures": [figure.as_json() for figure in figures],
        "missed": [figure.key for figure in missed(figures)],
        "errors": errors,
        "details": details,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Other work on the machine shows here: the figures are only as quiet as it was.
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],
        },
        "versions": versions,
    }


# (f): whole processes, median of the runs. `temporal workflow describe` is the comparison: what
# a command against the same server costs when it is one compiled binary.
CLI_HELP_SECONDS = Target("<=", 0.3)
CLI_ANSWER_SECONDS = Target("<=", 0.6)
CLI_COMMANDS = {
    "help": ("remediation --help", CLI_HELP_SECONDS),
    "status": ("remediation status ID", CLI_ANSWER_SECONDS),
    "decide": ("remediation decide ID acknowledge", CLI_ANSWER_SECONDS),
    "describe": ("temporal workflow describe -w ID", None),
}


def cli_figures(seconds: Mapping[str, Sequence[float]]) -> list[Figure]:
    """(f)'s lines: each command's median over its runs, with the min and max in the label."""
    figures = []
    for name, (command, target) in CLI_COMMANDS.items():
        median, low, high = spread(seconds[name])
        label = f"{command}, median of {len(seconds[name])} ({low:.2f} to {high:.2f} s)"
        figures.append(Figure(f"f.{name}", label, median, "s", 2, target))
    return figures


# (h): whole `remediation inbox` processes with many open incidents, median of the runs; each
# line names the rows its command printed. Everything awaited is there to show what the whole
# portfolio costs, with no target.
INBOX_SECONDS = Target("<=", 1)
INBOX_OWNER = "owner.bench-07"  # one of the 50 case owners the inbox's incidents are spread over
INBOX_APPROVER = "approver.sofia"
INBOX_COMMANDS: dict[str, tuple[tuple[str, ...], Target | None]] = {
    "owner": (("--as", INBOX_OWNER), INBOX_SECONDS),
    "approver": (("--as", INBOX_APPROVER, "--role", "approver"), INBOX_SECONDS),
    "everything": (("--json",), None),
}


def inbox_figures(seconds: Mapping[str, Sequence[float]], rows: Mapping[str, int]) -> list[Figure]:
    """(h)'s lines: each inbox's median over its runs, with its rows, min and max in the
    label."""
    figures = []
    for name, (arguments, target) in INBOX_COMMANDS.items():
        median, low, high = spread(seconds[name])
        label = (
            f"remediation inbox {' '.join(arguments)}, {rows[name]:,} rows, median of "
            f"{len(seconds[name])} ({low:.2f} to {high:.2f} s)"
        )
        figures.append(Figure(f"h.{name}", label, median, "s", 2, target))
    return figures
