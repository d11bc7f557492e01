"""The monitoring reports rendered as JSON, Markdown and a self-contained HTML page: the
portfolio report (portfolio, digest) and the yearly due-diligence summary (annual).

Pure functions of a `PortfolioReport`: no I/O, no clock. The HTML page needs nothing from
outside (inline CSS, charts drawn here as inline SVG, no script, no external asset), so it can be
mailed or archived as one file. Every text that reaches the page is escaped with `html.escape`.
The report holds aggregates and pseudonymous ids only (incidents, approvals, facilities,
milestones, case owners' actor ids), so nothing rendered here can identify a victim or a reporter.
"""

import html
import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from activities import markdown
from schemas.monitoring import (
    SMALL_COUNT,
    WITHHELD_COUNT,
    AnnualSummary,
    CountTable,
    PortfolioKpis,
    PortfolioReport,
    ReconciliationReport,
    WeeklyEscalations,
)

NOTHING = markdown.NOTHING
UNASSIGNED = "unassigned"  # a case without a case owner (null in the JSON)
# Chart ids, stable so that tests and readers can find each chart.
CHART_OPEN_BY_STEP = "chart-open-by-step"
CHART_TIME_IN_STEP = "chart-time-in-step"
CHART_ESCALATIONS_BY_WEEK = "chart-escalations-by-week"
_COLOURS = {
    "open": "#2f6f9f",
    "median": "#2f6f9f",
    "p90": "#e08a2c",
    "level_1": "#f2c14e",
    "level_2": "#e08a2c",
    "level_3": "#b83a3a",
}

Row = Sequence[object]
_EN_DASH = "\N{EN DASH}"  # between the ends of a range of weeks


# --- Shared formatting -----------------------------------------------------------------------


def _label(value: object) -> str:
    return str(value).replace("_", " ")


def _instant(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _number(value: float | int | Decimal | None, *, decimals: int | None = None) -> str:
    """A number as a cell or a bar's label shows it: a whole number as it is, any other to two
    decimals without trailing zeros; with `decimals`, exactly that many (the labels of an axis
    share the decimals of its step, so that no two of them read alike)."""
    if value is None:
        return NOTHING
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _percent(rate: float | None) -> str:
    return NOTHING if rate is None else f"{rate * 100:.1f} %"


def _text(value: object) -> str:
    if value is None:
        return NOTHING
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _number(value)
    return str(value)


def _counts(counts: dict[str, int], *, label: bool = True) -> list[Row]:
    return [[_label(key) if label else key, count] for key, count in counts.items()]


def _kpis(report: PortfolioReport) -> PortfolioKpis:
    if report.kpis is None:
        raise ValueError(f"the {report.kind} report holds no key figures")
    return report.kpis


def _title(report: PortfolioReport) -> str:
    if report.annual is not None:
        return f"Due-diligence summary {report.annual.year}"
    return f"Portfolio report — as of {_instant(report.as_of)}"


def _sections(report: PortfolioReport) -> list[tuple[str, str | None, Sequence[str], list[Row]]]:
    """Every table of the report: (heading, note, header, rows), in reading order."""
    if report.annual is not None:
        return _annual_sections(report.annual)
    kpis = _kpis(report)
    window = f"stays that ended in the {kpis.window_days} days before the report"
    facilities_note = (
        f"{len(kpis.open_by_facility)} of {kpis.facilities_with_open_incidents} facilities "
        "with an open incident, most first."
    )
    escalations = kpis.active_escalations
    return [
        ("Open incidents by step", None, ["Step", "Open"], _counts(kpis.open_by_step)),
        ("Open incidents by severity", None, ["Severity", "Open"], _counts(kpis.open_by_severity)),
        (
            "Open incidents by response level",
            None,
            ["Response level", "Open"],
            _counts(kpis.open_by_response_level),
        ),
        (
            "Open incidents by country",
            None,
            ["Country", "Open"],
            _counts(kpis.open_by_country, label=False),
        ),
        (
            "Open incidents by mineral",
            "An incident concerning several minerals counts under each.",
            ["Mineral", "Open"],
            _counts(kpis.open_by_mineral),
        ),
        (
            "Open incidents by facility",
            facilities_note,
            ["Facility", "Open"],
            _counts(kpis.open_by_facility, label=False),
        ),
        (
            "Active escalations by level",
            None,
            ["Level", "Milestones"],
            [
                ["L1 — case owner", escalations.level_1],
                ["L2 — human-rights lead", escalations.level_2],
                ["L3 — executive sponsor", escalations.level_3],
            ],
        ),
        (
            "Overdue milestones by kind",
            None,
            ["Milestone", "Escalated"],
            _counts(kpis.overdue_milestones_by_kind),
        ),
        (
            "Overdue milestones by incident",
            _escalated_note(kpis),
            ["Incident", "Step", "Milestone", "Due", "Days late", "Level", "Case owner"],
            [
                [
                    m.incident_id,
                    _label(m.step),
                    m.milestone,
                    m.due_at,
                    m.days_late,
                    f"L{m.level}",
                    m.case_owner or UNASSIGNED,
                ]
                for m in kpis.escalated_milestones
            ],
        ),
        (
            "Time in step",
            f"Days, over the {window}.",
            ["Step", "Stays", "Median (days)", "90th percentile (days)"],
            [[_label(d.step), d.stays, d.median_days, d.p90_days] for d in kpis.time_in_step],
        ),
        (
            "Milestones met on time",
            f"Milestones met in the {kpis.window_days} days before the report; one that "
            "escalated before being met was late.",
            ["Milestone", "Met", "Met late", "On time"],
            [
                [_label(m.milestone_kind), m.met, m.met_late, _percent(m.on_time_rate)]
                for m in kpis.on_time
            ],
        ),
        (
            "Check-in compliance",
            "Open incidents in implementation whose last check-in (or the plan's approval) is "
            "no older than the cadence.",
            ["Severity", "Cadence (days)", "In implementation", "Up to date", "Rate"],
            [
                [_label(c.severity), c.cadence_days, c.incidents, c.compliant, _percent(c.rate)]
                for c in kpis.check_in_compliance
            ],
        ),
        (
            "Approvals waiting longest",
            None,
            ["Incident", "Approval", "Kind", "Requested", "Waiting (days)"],
            [
                [a.incident_id, a.approval_id, _label(a.kind), a.requested_at, a.waiting_days]
                for a in kpis.longest_waiting_approvals
            ],
        ),
        (
            "Escalations per week",
            "Escalation levels reached per ISO week (UTC). Two or more weeks in a row without "
            "any are one row; the JSON lists every week.",
            ["Week", "Starts", "L1", "L2", "L3", "Total"],
            _week_rows(kpis.escalations_by_week),
        ),
        *_reconciliation_sections(report.reconciliation),
    ]


def _escalated_note(kpis: PortfolioKpis) -> str:
    note = (
        "Milestones of open incidents escalated as of the report (their latest escalation "
        "reached level 1 to 3 and no later one cleared it), the most recently due first, ties "
        "by incident and milestone. Days late: from the due time to the report's instant. Step "
        "and case owner as the register stands."
    )
    listed, total = len(kpis.escalated_milestones), kpis.escalated_milestones_total
    if total > listed:
        note += f" The {listed} most recently due of {total} are listed; all are counted above."
    return note


def _week_rows(weeks: Sequence[WeeklyEscalations]) -> list[Row]:
    """The rows of the escalations-per-week table: a row per week with escalations, and one row
    per run of two or more weeks in a row without any, so half a year of quiet weeks is one line:
    its first and last week joined by an en dash, the first week's Monday, zeros, and the total
    `0 (8 weeks without escalations)`. A single quiet week keeps a row of its own."""
    rows: list[Row] = []
    for quiet, run in groupby(weeks, key=lambda week: week.total == 0):
        run_weeks = list(run)
        if quiet and len(run_weeks) >= 2:
            first, last = run_weeks[0], run_weeks[-1]
            summary = f"0 ({len(run_weeks)} weeks without escalations)"
            rows.append(
                [f"{first.week} {_EN_DASH} {last.week}", first.week_start, 0, 0, 0, summary]
            )
        else:
            rows += [_week_row(week) for week in run_weeks]
    return rows


def _week_row(week: WeeklyEscalations) -> Row:
    return [week.week, week.week_start, week.level_1, week.level_2, week.level_3, week.total]


def _reconciliation_sections(
    reconciliation: ReconciliationReport | None,
) -> list[tuple[str, str | None, Sequence[str], list[Row]]]:
    if reconciliation is None:
        return []
    listed = len(reconciliation.findings)
    more = reconciliation.findings_total - listed
    listing = (
        f" {reconciliation.findings_total} finding(s); the first {listed} are listed, all are in "
        "the register's reconciliation_findings."
        if more > 0
        else ""
    )
    return [
        (
            "Reconciliation with Temporal",
            f"{reconciliation.incidents_in_register} open incident(s) in the register, "
            f"{reconciliation.workflows_running} incident workflow(s) running.{listing}",
            ["Finding", "Incident", "Detail"],
            [[_label(f.kind), f.incident_id, f.detail] for f in reconciliation.findings],
        )
    ]


# --- The yearly due-diligence summary --------------------------------------------------------

ANNUAL_LEGEND = (
    f"Anonymised aggregates of the incidents received in the year: no personal data, no incident "
    f"or facility id, no free text, no date finer than the year. {SMALL_COUNT} is a count from 1 "
    f"to 4; {WITHHELD_COUNT} is a count of 5 or more withheld so that a smaller one cannot be "
    "worked out from the total."
)
_WITHHELD_NOTE = "Withheld: no breakdown can be shown without revealing a count below 5."


def _count_rows(table: CountTable, *, label: bool = True) -> list[Row]:
    rows: list[Row] = [[_label(key) if label else key, count] for key, count in table.rows.items()]
    if table.total is not None and rows:
        rows.append(["Total", table.total])
    return rows


def _note(table: CountTable, note: str | None = None) -> str | None:
    if table.withheld:
        return f"{note} {_WITHHELD_NOTE}" if note else _WITHHELD_NOTE
    return note


def _annual_sections(
    summary: AnnualSummary,
) -> list[tuple[str, str | None, Sequence[str], list[Row]]]:
    several = "An incident counts under each of its {}; the rows add up to no total."
    tables: list[tuple[str, str | None, str, CountTable, bool]] = [
        ("Incidents by country", None, "Country", summary.by_country, False),
        ("Incidents by mineral", several.format("minerals"), "Mineral", summary.by_mineral, True),
        (
            "Harm types: confirmed or alleged",
            "Confirmed by verification, or only alleged (not yet verified, or not confirmed).",
            "Basis",
            summary.harm_basis,
            True,
        ),
        (
            "Incidents by harm type",
            "Confirmed where verification confirmed any, else as alleged. "
            + several.format("harm types"),
            "Harm type",
            summary.by_harm_type,
            True,
        ),
        ("Incidents by severity", None, "Severity", summary.by_severity, True),
        ("Incidents by response level", None, "Response level", summary.by_response_level, True),
        ("Incidents by supply-chain tier", None, "Tier", summary.by_tier, True),
        ("Incidents by channel", None, "Channel", summary.by_channel, True),
        ("Open and closed incidents", None, "Status", summary.by_status, True),
        (
            "Closed incidents by case status",
            "HTCDS case status given at closure.",
            "Case status",
            summary.closed_by_case_status,
            True,
        ),
        ("Closed incidents by outcome", None, "Outcome", summary.closed_by_outcome, True),
        ("Remediation actions by category", None, "Category", summary.actions_by_category, True),
        ("Remedy actions by type", None, "Type", summary.remedy_actions_by_type, True),
        ("Assistance actions by type", None, "Type", summary.assistance_actions_by_type, True),
        (
            "Remediation actions by status",
            "Open: not started, in progress or blocked.",
            "Status",
            summary.actions_by_status,
            True,
        ),
        ("Lessons learned", None, "Lessons", summary.lessons, True),
        (
            "Root causes found",
            several.format("root causes"),
            "Root cause",
            summary.by_root_cause,
            True,
        ),
        ("Due-diligence changes made, by area", None, "Area", summary.changes_by_area, True),
    ]
    # A withheld table has no header: only its note is shown.
    return [
        (
            heading,
            _note(table, note),
            [] if table.withheld else [column, "Count"],
            _count_rows(table, label=label),
        )
        for heading, note, column, table, label in tables
    ]


def _annual_summary_lines(summary: AnnualSummary) -> list[str]:
    closed = summary.by_status.rows.get("closed", WITHHELD_COUNT)
    median = summary.median_days_to_close
    share = summary.completed_share
    return [
        f"Incidents received in {summary.year}: {summary.incidents}.",
        f"Closed: {closed}.",
        "Median days from receipt to closure: "
        + (NOTHING if median is None else str(median))
        + ".",
        f"Remediation actions: {summary.actions}; completed: {_percent(share)}.",
        f"Due-diligence changes made: {summary.changes}.",
    ]


def _summary_lines(report: PortfolioReport) -> list[str]:
    if report.annual is not None:
        return _annual_summary_lines(report.annual)
    return _summary(_kpis(report))


def _summary(kpis: PortfolioKpis) -> list[str]:
    escalated = kpis.active_escalations
    return [
        f"Open incidents: {kpis.open_incidents}.",
        f"Overdue incidents: {kpis.overdue_incidents}.",
        f"Milestones escalated now: {escalated.level_1 + escalated.level_2 + escalated.level_3}.",
        f"Approvals pending longest: {len(kpis.longest_waiting_approvals)} listed.",
    ]


def _preamble(report: PortfolioReport) -> str:
    if report.annual is not None:
        return f"State of the register as of {_instant(report.as_of)}. {ANNUAL_LEGEND}"
    return (
        "No personal data: aggregates, and the pseudonymous ids of incidents, approvals, "
        "facilities, milestones and case owners."
    )


# --- JSON ------------------------------------------------------------------------------------


def report_json(report: PortfolioReport) -> dict[str, Any]:
    """The report for machines: the contract's own JSON form (without the empty half: an
    annual report has no key figures, the others no annual summary)."""
    if report.annual is not None:
        return report.model_dump(mode="json", exclude={"kpis", "reconciliation"})
    return report.model_dump(mode="json", exclude={"annual"})


# --- Markdown --------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: list[Row]) -> list[str]:
    if not rows:
        return ["None."]
    return markdown.table(header, [[_text(value) for value in row] for row in rows])


def report_markdown(report: PortfolioReport) -> str:
    """The report for people, as Markdown tables."""
    lines = [
        f"# {_title(report)}",
        "",
        f"Generated {_instant(report.generated_at)}. {_preamble(report)}",
        "",
        *(f"- {line}" for line in _summary_lines(report)),
    ]
    for heading, note, header, rows in _sections(report):
        lines += ["", f"## {heading}", ""]
        table = _md_table(header, rows) if header else []
        if note:
            lines += [note, ""] if table else [note]
        lines += table
    return "\n".join(lines) + "\n"


# --- HTML ------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(_text(value), quote=True)


def _tick_step(largest: float, *, whole: bool) -> Decimal:
    """The step between an axis's ticks: the smallest 1, 2 or 5 times a power of ten that divides
    the axis from 0 to `largest` into at most 5 parts; at least 1 when the values are whole
    numbers, and 1 when there is nothing to draw (all zero).

    Decimal arithmetic on the value as written (`repr`: days are already rounded to hundredths),
    so that 0.01 / 5 is exactly 0.002 rather than a binary neighbour that would pick 0.005, and
    every multiple of the step prints exactly.
    """
    if not (math.isfinite(largest) and largest > 0):
        return Decimal(1)
    wanted = Decimal(repr(largest)) / 5
    power = wanted.adjusted()  # the exponent of its leading digit: floor(log10(wanted))
    candidates = [Decimal(m).scaleb(power) for m in (1, 2, 5)] + [Decimal(1).scaleb(power + 1)]
    step = next(candidate for candidate in candidates if candidate >= wanted)
    return max(step, Decimal(1)) if whole else step


def _axis(largest: float, *, whole: bool) -> tuple[float, list[str]]:
    """A chart's value axis up to its tallest bar `largest`: the top of the axis (the first tick
    at or above it) and the label of every tick from 0 up.

    Every label has the decimals the step needs and no more (a step of 0.002 reads 0.000, 0.002,
    0.004, never 0, 0, 0.01), so no two labels read alike; all zero draws an axis from 0 to 1.
    """
    step = _tick_step(largest, whole=whole)
    parts = 1
    if math.isfinite(largest) and largest > 0:
        parts = max(math.ceil(Decimal(repr(largest)) / step), 1)
    # The step is one significant digit, so its leading digit's place is its last one.
    decimals = max(-step.adjusted(), 0)
    labels = [_number(step * tick, decimals=decimals) for tick in range(parts + 1)]
    return float(step * parts), labels


# Presentation attributes on the elements themselves, so a chart copied out of the page (or
# opened alone) looks the same.
_INK, _MUTED, _GRID = "#1d2733", "#52606d", "#e3e8ee"


def _svg_text(x: float, y: float, text: str, *, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{_MUTED}"{extra}>'
        f"{_e(text)}</text>"
    )


def _svg_bars(
    *,
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    stacked: bool,
    unit: str,
    group_width: int,
    whole: bool,
    slanted_labels: bool = False,
) -> str:
    """A bar chart as inline SVG: one group per category, one bar per series side by side (or
    one stacked bar). `series` holds (name, colour key, values); None draws no bar."""
    columns = [[values[i] or 0.0 for _, _, values in series] for i in range(len(categories))]
    totals = [sum(column) if stacked else max(column, default=0.0) for column in columns]
    axis_top, tick_labels = _axis(max(totals, default=0.0), whole=whole)
    # Room for the longest tick label (about 7 px a character) right of the unit's label.
    left = max(56, 28 + 7 * max(len(label) for label in tick_labels))
    top, plot_height = 30, 180
    bottom = 64 if slanted_labels else 30
    legend_height = 26 if len(series) > 1 else 0
    width = left + group_width * max(len(categories), 1) + 16
    height = top + plot_height + bottom + legend_height
    scale = plot_height / axis_top
    base = top + plot_height
    parts = [
        f'<svg id="{_e(chart_id)}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-labelledby="{_e(chart_id)}-title" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="system-ui, sans-serif" '
        f'font-size="11" class="chart">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for tick, tick_label in enumerate(tick_labels):
        y = base - plot_height * tick / (len(tick_labels) - 1)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 16}" y2="{y:.1f}" stroke="{_GRID}"/>'
        )
        parts.append(_svg_text(left - 6, y + 4, tick_label, anchor="end"))
    middle = top + plot_height / 2
    parts.append(_svg_text(14, middle, unit, extra=f' transform="rotate(-90 14 {middle:.1f})"'))
    inner = group_width - 8
    bar_width = inner if stacked else inner / max(len(series), 1)
    for index, category in enumerate(categories):
        x0 = left + index * group_width + 4
        stack = 0.0
        for position, (name, colour, values) in enumerate(series):
            amount = values[index]
            if amount is None or (stacked and amount == 0):
                continue
            x = x0 if stacked else x0 + position * bar_width
            y = base - (stack + amount) * scale
            if stacked:
                stack += amount
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_width - 1, 1):.1f}" '
                f'height="{amount * scale:.1f}" fill="{_COLOURS[colour]}">'
                f"<title>{_e(category)}: {_e(name)} {_e(_number(amount))}</title></rect>"
            )
            if not stacked and amount:
                parts.append(
                    f'<text x="{x + bar_width / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                    f'fill="{_INK}">{_e(_number(amount))}</text>'
                )
        if stacked and stack:
            parts.append(
                f'<text x="{x0 + inner / 2:.1f}" y="{base - stack * scale - 3:.1f}" '
                f'text-anchor="middle" fill="{_INK}">{_e(_number(stack))}</text>'
            )
        label_x = x0 + inner / 2
        if slanted_labels:
            turn = f' transform="rotate(-60 {label_x:.1f} {base + 10})"'
            parts.append(_svg_text(label_x, base + 10, category, anchor="end", extra=turn))
        else:
            parts.append(_svg_text(label_x, base + 16, category))
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 16}" y2="{base}" stroke="{_MUTED}"/>')
    x = float(left)
    for name, colour, _ in series if len(series) > 1 else ():
        y = height - 10
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 10}" width="12" height="12" fill="{_COLOURS[colour]}"/>'
        )
        parts.append(_svg_text(x + 16, y, name, anchor="start"))
        x += 28 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _charts(kpis: PortfolioKpis) -> list[tuple[str, str]]:
    steps = [_label(step) for step in kpis.open_by_step]
    weeks = kpis.escalations_by_week
    return [
        (
            "Open incidents per step",
            _svg_bars(
                chart_id=CHART_OPEN_BY_STEP,
                title="Open incidents per step",
                categories=steps,
                series=[("open incidents", "open", [float(n) for n in kpis.open_by_step.values()])],
                stacked=False,
                unit="incidents",
                group_width=96,
                whole=True,
            ),
        ),
        (
            "Time in step (median and 90th percentile, days)",
            _svg_bars(
                chart_id=CHART_TIME_IN_STEP,
                title="Time in step: median and 90th percentile (days)",
                categories=[_label(d.step) for d in kpis.time_in_step],
                series=[
                    ("median", "median", [d.median_days for d in kpis.time_in_step]),
                    ("90th percentile", "p90", [d.p90_days for d in kpis.time_in_step]),
                ],
                stacked=False,
                unit="days",
                group_width=96,
                whole=False,
            ),
        ),
        (
            "Escalations per week",
            _svg_bars(
                chart_id=CHART_ESCALATIONS_BY_WEEK,
                title="Escalation levels reached per ISO week",
                categories=[w.week for w in weeks],
                series=[
                    ("level 1", "level_1", [float(w.level_1) for w in weeks]),
                    ("level 2", "level_2", [float(w.level_2) for w in weeks]),
                    ("level 3", "level_3", [float(w.level_3) for w in weeks]),
                ],
                stacked=True,
                unit="escalations",
                group_width=30,
                whole=True,
                slanted_labels=True,
            ),
        ),
    ]


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2733;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
p.note { color: #52606d; margin: .25rem 0 .5rem; }
ul.summary { display: flex; gap: 1.5rem; list-style: none; padding: 0; flex-wrap: wrap; }
ul.summary li { background: #eef3f8; border-radius: 6px; padding: .5rem .9rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d5dde5; padding: .3rem .6rem; text-align: left; }
th { background: #eef3f8; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 2rem; overflow-x: auto; } figcaption { font-weight: 600; }
"""


def _html_table(header: Sequence[str], rows: list[Row]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(value)}</td>'
            if isinstance(value, int | float) and not isinstance(value, bool)
            else f"<td>{_e(value)}</td>"
            for value in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: PortfolioReport) -> str:
    """The report as one self-contained HTML page (the portfolio report with three inline SVG
    charts)."""
    title = _title(report)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">Generated {_e(report.generated_at)}. {_e(_preamble(report))}</p>',
        '<ul class="summary">',
        *(f"<li>{_e(line)}</li>" for line in _summary_lines(report)),
        "</ul>",
    ]
    if report.annual is None:
        parts.append("<h2>Charts</h2>")
        for caption, svg in _charts(_kpis(report)):
            parts.append(f"<figure><figcaption>{_e(caption)}</figcaption>{svg}</figure>")
    for heading, note, header, rows in _sections(report):
        parts.append(f"<h2>{_e(heading)}</h2>")
        if note:
            parts.append(f'<p class="note">{_e(note)}</p>')
        if header:
            parts.append(_html_table(header, rows))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
