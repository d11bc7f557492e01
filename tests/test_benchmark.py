"""The pure parts of the benchmark (`make bench`): options, percentiles, targets and the table.

No stack and no timing here: the benchmark itself runs with `make bench`, never in the suite.
"""

import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.__main__ import app
from benchmarks.command import Run, _print_table
from benchmarks.inbox import rows_printed
from benchmarks.load import (
    CASE_OWNERS,
    TO_MONITORING,
    LatencyResult,
    OpenIncident,
    Portfolio,
    benchmark_intake,
    case_owner,
    decision_mix,
    decision_payload,
)
from benchmarks.replay import HISTORIES, history_files, history_key_ring
from benchmarks.replayed_cache import ReplayedCache, check_in_payload
from benchmarks.report import (
    INBOX_COMMANDS,
    INBOX_OWNER,
    MEASUREMENT_NAMES,
    MEASUREMENTS,
    Figure,
    Target,
    check_scale,
    cli_figures,
    default_output,
    inbox_figures,
    megabytes_per_cached,
    missed,
    parse_only,
    percentile,
    ratio_of,
    results_document,
    scaled,
    spread,
    table_lines,
    worker_tuning,
)
from benchmarks.soak import Fault, Sent, SoakPlan, recovery, tally
from benchmarks.timeline import CpuSample, by_kind, by_minute
from schemas.decisions import DECISION_MODELS, DecisionKind
from tests.conftest import TEST_KEY_RING
from workers.devstack import examples
from workers.settings import load_settings


def test_only_defaults_to_every_measurement_and_keeps_their_order() -> None:
    assert parse_only(None) == MEASUREMENTS
    assert parse_only("  ") == MEASUREMENTS
    assert parse_only("c, A") == ("a", "c")
    assert parse_only("e,e,b,") == ("b", "e")


def test_a_ratio_needs_both_figures_and_a_baseline() -> None:
    assert ratio_of(150.0, 100.0) == 1.5
    assert ratio_of(None, 100.0) is None
    assert ratio_of(150.0, None) is None
    assert ratio_of(150.0, 0.0) is None


def test_memory_per_cached_incident_counts_what_the_cache_holds() -> None:
    # 1,000 cached of 10,000 open: 250 MB above an idle 150 MB is 0.25 MB each.
    assert megabytes_per_cached(400_000_000, 150_000_000, 10_000, 1_000) == 0.25
    # Fewer open than the cache holds: each open one is cached.
    assert megabytes_per_cached(200_000_000, 150_000_000, 500, 1_000) == 0.1
    assert megabytes_per_cached(200_000_000, 150_000_000, 0, 1_000) is None


def test_memory_per_replayed_incident_is_the_growth_after_the_warm_up() -> None:
    # 270 incidents replayed after the warm-up took the worker from 125 MB to 206 MB.
    replayed = ReplayedCache(270, 125_000_000, 206_000_000, 16.5)
    assert replayed.megabytes_per_incident == pytest.approx(0.3)
    assert replayed.summary()["per_incident_mb"] == 0.3
    assert ReplayedCache(0, 125_000_000, 125_000_000, 0.0).megabytes_per_incident is None


def test_the_check_in_that_replays_an_incident_is_valid_and_comes_from_its_owner() -> None:
    model = DECISION_MODELS[DecisionKind.CHECK_IN]
    assigned = check_in_payload(OpenIncident("incident-BENCH-000007", owner="owner.bench-07"))
    unassigned = check_in_payload(OpenIncident("incident-BENCH-000008"))
    assert model.model_validate(assigned).actor.id == "owner.bench-07"
    assert model.model_validate(unassigned).actor.id == examples.CASE_OWNER["id"]


def test_only_names_the_unknown_measurements() -> None:
    with pytest.raises(ValueError, match="unknown measurement\\(s\\) i, z: choose from a, b"):
        parse_only("a,z,i")


def test_every_measurement_has_a_name_and_the_inbox_is_h() -> None:
    assert set(MEASUREMENT_NAMES) == set(MEASUREMENTS)
    assert MEASUREMENTS[-1] == "h" and parse_only("h") == ("h",)
    assert "inbox" in MEASUREMENT_NAMES["h"]


@pytest.mark.parametrize("scale", [0.0, -0.5, 1.5, float("nan")])
def test_scale_is_a_fraction(scale: float) -> None:
    with pytest.raises(ValueError, match="--scale"):
        check_scale(scale)


def test_scaled_counts_round_and_keep_a_minimum() -> None:
    assert check_scale(0.05) == 0.05
    assert scaled(10_000, 1) == 10_000
    assert scaled(2_000, 0.05) == 100
    assert scaled(1_200, 0.001, minimum=3) == 3


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1201)]  # 1 .. 1200, shuffled order must not matter
    values.reverse()
    assert percentile(values, 50) == 600
    assert percentile(values, 99) == 1188
    assert percentile(values, 100) == 1200
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0], 50) == 1.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_spread_is_median_min_and_max() -> None:
    assert spread([0.5, 0.1, 0.3, 0.9, 0.2]) == (0.3, 0.1, 0.9)
    assert spread([0.4, 0.2]) == pytest.approx((0.3, 0.2, 0.4))
    with pytest.raises(ValueError):
        spread([])


def test_the_command_line_figures_are_medians_against_their_targets() -> None:
    """(f): help within 0.3 s, status and decide within 0.6 s; describe is the comparison."""
    runs = {
        "help": [0.31, 0.25, 0.2, 0.29, 0.26],
        "status": [0.7, 0.5, 0.55, 0.9, 0.58],
        "decide": [0.61, 0.65, 0.62, 0.5, 0.7],
        "describe": [0.05, 0.04, 0.06, 0.05, 0.05],
    }
    figures = {figure.key: figure for figure in cli_figures(runs)}

    assert list(figures) == ["f.help", "f.status", "f.decide", "f.describe"]
    assert figures["f.help"].value == 0.26 and figures["f.help"].met is True
    assert figures["f.status"].value == 0.58 and figures["f.status"].met is True
    assert figures["f.decide"].value == 0.62 and figures["f.decide"].met is False
    assert figures["f.describe"].met is None and figures["f.describe"].target is None
    assert "median of 5 (0.20 to 0.31 s)" in figures["f.help"].label
    assert figures["f.status"].target_text() == "≤ 0.60 s"


def test_the_inbox_figures_are_medians_with_their_rows_against_one_second() -> None:
    """(h): one case owner's and an approver's inbox within 1 s; everything awaited has no
    target. Each line names its command and the rows it printed."""
    runs = {
        "owner": [0.61, 0.58, 0.7, 0.55, 0.6],
        "approver": [1.2, 0.9, 1.1, 1.05, 1.3],
        "everything": [6.1, 6.0, 6.3, 5.9, 6.2],
    }
    rows = {"owner": 196, "approver": 200, "everything": 10_001}
    figures = {figure.key: figure for figure in inbox_figures(runs, rows)}

    assert list(figures) == ["h.owner", "h.approver", "h.everything"]
    assert figures["h.owner"].value == 0.6 and figures["h.owner"].met is True
    assert figures["h.approver"].value == 1.1 and figures["h.approver"].met is False
    assert figures["h.everything"].met is None and figures["h.everything"].target is None
    assert figures["h.owner"].label == (
        "remediation inbox --as owner.bench-07, 196 rows, median of 5 (0.55 to 0.70 s)"
    )
    assert figures["h.approver"].label.startswith(
        "remediation inbox --as approver.sofia --role approver, 200 rows"
    )
    assert figures["h.everything"].label.startswith("remediation inbox --json, 10,001 rows")
    assert figures["h.owner"].target_text() == "≤ 1.00 s"


def test_the_inbox_rows_are_counted_from_what_the_command_printed() -> None:
    table = "DUE (UTC) ...\n\nTo act:\n  remediation decide ...\n\n196 awaited, 3 overdue.\n"
    assert rows_printed(table, as_json=False) == 196
    assert rows_printed("Nothing awaits owner.bench-07.\n", as_json=False) == 0
    assert rows_printed('[{"incident_id": "a"}, {"incident_id": "b"}]', as_json=True) == 2
    assert rows_printed("[]", as_json=True) == 0
    with pytest.raises(ValueError, match="closing line"):
        rows_printed("Traceback (most recent call last):\n", as_json=False)


def test_the_inbox_incidents_are_spread_over_fifty_case_owners() -> None:
    owners = [case_owner(number) for number in range(1, 10_001)]
    assert len(set(owners)) == CASE_OWNERS == 50
    assert owners.count(INBOX_OWNER) == 200  # a fiftieth of them
    assert case_owner(7) == INBOX_OWNER and INBOX_OWNER in INBOX_COMMANDS["owner"][0]
    assert sorted(set(owners))[:2] == ["owner.bench-00", "owner.bench-01"]
    assert benchmark_intake(7, case_owner(7)).case_owner == "owner.bench-07"
    assert benchmark_intake(7).case_owner is None  # the other measurements' intakes
    # The same intake otherwise: only who owns it differs.
    assert benchmark_intake(7, case_owner(7)).model_copy(update={"case_owner": None}) == (
        benchmark_intake(7)
    )


def test_an_assigned_incident_takes_its_case_owners_decisions_from_that_owner() -> None:
    portfolio = Portfolio(proposed_level="supplier_corrective")
    assigned = OpenIncident("incident-BENCH-000007", owner="owner.bench-07")
    unassigned = OpenIncident("incident-BENCH-000008")

    def actor(kind: DecisionKind, incident: OpenIncident) -> str:
        if kind == DecisionKind.APPROVE:
            incident.approval_id = "response-1"
        return str(decision_payload(kind, incident, portfolio)["actor"]["id"])

    for kind in (DecisionKind.ACKNOWLEDGE, DecisionKind.RESPONSE, DecisionKind.ACTION_PLAN):
        assert actor(kind, assigned) == "owner.bench-07"
        assert actor(kind, unassigned) == examples.CASE_OWNER["id"]
    assert actor(DecisionKind.VERIFICATION, assigned) == examples.VERIFIER["id"]
    assert actor(DecisionKind.APPROVE, assigned) == examples.APPROVER["id"]
    assert examples.CASE_OWNER["id"] == "owner.amara"  # the examples' own owner is untouched


def test_targets_are_met_at_their_bound_and_missed_beyond_it() -> None:
    at_most = Target("<=", 150)
    at_least = Target(">=", 0.8)
    assert at_most.met(150) and not at_most.met(150.1)
    assert at_least.met(0.8) and not at_least.met(0.79)
    assert at_most.text("ms", 0) == "≤ 150 ms"
    assert at_least.text("", 2) == "≥ 0.80"


def test_a_figure_without_target_or_value_is_neither_met_nor_missed() -> None:
    informative = Figure("e.mean", "Replay per history, mean", 12.34, "ms")
    failed = Figure("b.p99", "Decision latency p99", None, "ms", 0, Target("<=", 150))
    assert informative.met is None and informative.result_text() == "—"
    assert informative.target_text() == "—"
    assert failed.met is None and failed.value_text() == "not measured"
    assert missed([informative, failed]) == []


def test_the_table_shows_value_target_and_result_side_by_side() -> None:
    figures = [
        Figure("a.ratio", "Intake ratio, incident / bare", 0.91, "", 2, Target(">=", 0.8)),
        Figure("a.rate", "Intake rate, incidents", 1234.5, "/s"),
        Figure("b.p99", "Decision latency p99", 180.4, "ms", 0, Target("<=", 150)),
    ]
    lines = table_lines(figures)
    assert lines[0].split() == ["FIGURE", "VALUE", "TARGET", "RESULT"]
    assert lines[1].endswith("0.91  ≥ 0.80    met")
    assert "1,234.5/s" in lines[2] and lines[2].endswith("—")
    assert lines[3].endswith("180 ms  ≤ 150 ms  MISSED")
    # Values are right-aligned in one column.
    values = zip(lines[1:], ["0.91", "/s", "ms"], strict=True)
    ends = {line.index(value) + len(value) for line, value in values}
    assert len(ends) == 1
    assert [f.key for f in missed(figures)] == ["b.p99"]
    assert len(lines) == 4  # no notes, no lines for them


def test_notes_follow_the_table_each_under_its_figure_name() -> None:
    figures = [
        Figure("b.p99", "Decision latency p99", 180.4, "ms", 0, Target("<=", 150)),
        Figure("b.cpu", "Engine's CPU per decision", 91.8, "ms", note="temporal 52, workers 36.8"),
    ]
    lines = table_lines(figures)
    assert lines[3:] == ["", "Engine's CPU per decision: temporal 52, workers 36.8"]


def test_the_results_document_carries_figures_targets_and_misses() -> None:
    started = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    figure = Figure("c.lifecycle", "Lifecycle", 1.5, "s", 2, Target("<=", 1))
    document = results_document(
        started=started,
        finished=started,
        scale=0.05,
        only=("c",),
        figures=[figure],
        details={"c": {"decisions": 38}},
        errors={},
        versions={"temporalio": "1"},
    )
    assert document["figures"] == [
        {
            "key": "c.lifecycle",
            "label": "Lifecycle",
            "value": 1.5,
            "unit": "s",
            "target": {"op": "<=", "value": 1},
            "met": False,
            "note": "",
        }
    ]
    assert document["missed"] == ["c.lifecycle"]
    assert document["full_scale"] is False
    assert default_output(Path(".data"), started) == Path(
        ".data/benchmark/results-20261126T030000Z.json"
    )


def test_the_worker_tuning_is_named_by_its_variables_with_overrides_applied() -> None:
    tuning = worker_tuning(load_settings(worker_max_cached_workflows=2500))
    assert tuning["WORKER_MAX_CACHED_WORKFLOWS"] == 2500
    assert all(name.startswith("WORKER_") for name in tuning)


def test_the_table_says_when_decisions_met_a_cache_smaller_than_the_open_incidents() -> None:
    def table(open_incidents: int) -> str:
        run = Run(("b",), 1.0)
        run.details["worker"] = worker_tuning(load_settings(worker_max_cached_workflows=1000))
        run.details["b"] = {"open_incidents": open_incidents}
        out = io.StringIO()
        _print_table(run, Path("results.json"), out)
        return out.getvalue()

    assert "Worker cache: 1,000 incidents" in table(500)
    assert "replays its history" not in table(500)
    assert "(b) had 2,000 open incidents for 1,000 cached" in table(2000)


def test_decisions_are_a_third_of_each_kind_interleaved() -> None:
    mix = decision_mix(1_200)
    assert [mix.count(stage) for stage in (0, 1, 2)] == [400, 400, 400]
    assert mix[:4] == [0, 1, 2, 0]
    assert [str(TO_MONITORING[stage]) for stage in (0, 1, 2)] == [
        "acknowledge",
        "verification",
        "response",
    ]


def test_unanswered_decisions_raise_the_percentiles_instead_of_leaving_them() -> None:
    result = LatencyResult(
        open_incidents=2_000,
        rate=20,
        scheduled=100,
        latencies_ms=[10.0] * 98,
        unanswered_ms=[60_000.0, 61_000.0],
        by_kind_ms={"acknowledge": [10.0] * 98},
        failures={"WorkflowUpdateRPCTimeoutOrCancelledError": 2},
        send_lag_ms_max=1.0,
        seconds=5.0,
    )
    summary = result.summary()
    assert summary["all"]["p99_ms"] == 60_000.0
    assert summary["answered_only"]["p99_ms"] == 10.0
    assert (summary["answered"], summary["unanswered"]) == (98, 2)


def test_cpu_per_decision_divides_what_each_part_used_by_the_decisions_sent() -> None:
    result = LatencyResult(
        open_incidents=2_000,
        rate=20,
        scheduled=400,
        latencies_ms=[10.0] * 400,
        unanswered_ms=[],
        by_kind_ms={"acknowledge": [10.0] * 400},
        failures={},
        send_lag_ms_max=1.0,
        seconds=20.0,
        cpu_seconds={"temporal": 20.8, "workers": 14.72, "postgresql": 1.2},
    )
    assert result.cpu_ms_per_decision() == {
        "temporal": 52.0,
        "workers": 36.8,
        "postgresql": 3.0,
        "total": 91.8,
    }
    assert result.summary()["cpu_ms_per_decision"]["total"] == 91.8
    unmeasured = LatencyResult(2_000, 20, 400, [], [], {}, {}, 1.0, 20.0)
    assert unmeasured.cpu_ms_per_decision() == {}


def test_benchmark_intakes_differ_where_incidents_relate() -> None:
    first, second = benchmark_intake(1), benchmark_intake(2)
    assert first.external_reference != second.external_reference
    assert first.location.site_name != second.location.site_name
    assert first.suppliers != second.suppliers
    assert benchmark_intake(1) == first  # the same number, the same intake


def test_replay_uses_the_key_ring_the_histories_were_recorded_under() -> None:
    assert history_key_ring().to_json() == TEST_KEY_RING.to_json()
    assert history_files(HISTORIES)


def test_options_are_checked_before_anything_starts(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--only", "x", "--output", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert "unknown measurement(s) x" in result.output
    result = runner.invoke(app, ["--scale", "2"])
    assert result.exit_code == 2
    assert "--scale must be more than 0 and at most 1" in result.output
    assert not (tmp_path / "r.json").exists()


def test_help_explains_every_measurement() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for opening in ("(a) Intake throughput", "(b) Decision latency", "(c) One whole lifecycle"):
        assert opening in text
    assert "(d) 10,000 open incidents" in text and "(e) Replay time" in text
    assert "(f) The command line" in text
    assert "(g) Soak under faults" in text
    assert "(h) The operations inbox with 10,000 open incidents" in text
    for option in ("--scale", "--only", "--output", "--json"):
        assert option in text


def test_the_engine_command_line_has_no_benchmark() -> None:
    """The benchmark is not installed: `make bench` runs it, `remediation` does not know it."""
    from workers.cli import app as engine

    assert CliRunner().invoke(engine, ["benchmark", "--help"]).exit_code != 0


def test_the_soak_kills_a_worker_every_30_s_and_restarts_each_server_once() -> None:
    full = SoakPlan.scaled(1)
    assert (full.incidents, full.seconds, full.rate, full.decisions) == (2_000, 600, 10, 6_000)
    faults = full.faults()
    assert Counter(kind for _, kind in faults) == {
        "worker_kill": 20,
        "postgres_restart": 1,
        "temporal_restart": 1,
    }
    assert [at for at, kind in faults if kind == "worker_kill"][:3] == [15, 45, 75]
    assert tuple(kind for _, kind in faults if kind != "worker_kill") == (
        "postgres_restart",
        "temporal_restart",
    )
    assert [at for at, _ in faults] == sorted(at for at, _ in faults)
    small = SoakPlan.scaled(0.1)
    assert (small.incidents, small.seconds) == (200, 60)


def _sent(decision_id: str, sequence: int | None, due: float = 0.0) -> Sent:
    answered = None if sequence is None else due + 1.0
    return Sent(decision_id, "incident-1", "acknowledge", due, True, answered, sequence)


def test_each_decision_is_found_once_twice_or_never_in_the_register() -> None:
    events = {
        "once": [("incident-1", 3)],
        "twice": [("incident-1", 4), ("incident-1", 5)],
        "elsewhere": [("incident-1", 9)],
    }
    sent = [_sent("once", 3), _sent("twice", 4), _sent("lost", None), _sent("elsewhere", 6)]
    counted = tally(events, sent)
    assert (counted.applied_once, counted.duplicated, counted.lost) == (2, 1, 1)
    assert counted.wrong_sequence == 1


def test_recovery_waits_for_every_decision_the_fault_held_up() -> None:
    fault = Fault("worker_kill", 15.0, began=15.0, ended=19.0)
    before = _sent("before", 1, due=10.0)  # answered at 11, before the kill
    held = Sent("held", "incident-2", "verification", 14.5, True, answered_at=45.0, sequence=2)
    during = Sent("during", "incident-3", "response", 17.0, True, answered_at=21.0, sequence=3)
    after = Sent("after", "incident-4", "approve", 25.0, True, answered_at=60.0, sequence=4)
    assert recovery(fault, [before, held, during, after]) == 30.0
    assert recovery(fault, [before]) == 4.0  # nothing held up: back when the worker polls
    never = Sent("never", "incident-5", "closure", 16.0, True)
    assert recovery(fault, [held, never]) is None


def test_the_soak_timeline_groups_decisions_by_the_minute_they_were_due() -> None:
    early = [Sent(f"e{n}", "incident-1", "acknowledge", n, True, n + 0.1, n) for n in range(10)]
    late = Sent("late", "incident-2", "closure", 65.0, True, answered_at=95.0, sequence=1)
    lost = Sent("lost", "incident-3", "closure", 70.0, True)
    cpu = [
        CpuSample(0.0, 100.0, {"temporal": 10.0, "worker_kept": 5.0}),
        CpuSample(60.0, 190.0, {"temporal": 40.0, "worker_kept": 2.0}),  # the worker restarted
        CpuSample(120.0, 300.0, {"temporal": 100.0, "worker_kept": 32.0}),
    ]
    first, second = by_minute([*early, late, lost], cpu)
    assert (first["from_s"], first["sent"], first["unanswered"]) == (0, 10, 0)
    assert first["p50_s"] == first["p99_s"] == pytest.approx(0.1)
    assert first["cores_busy"] == {"machine": 1.5, "temporal": 0.5, "worker_kept": None}
    assert (second["from_s"], second["sent"], second["unanswered"]) == (60, 2, 1)
    assert second["p99_s"] == 30.0
    assert second["cores_busy"] == {"machine": 1.83, "temporal": 1.0, "worker_kept": 0.5}
    assert by_minute([], cpu) == []


def test_the_soak_latency_by_kind_keeps_the_order_first_sent() -> None:
    sent = [
        Sent("a", "incident-1", "closure", 0.0, True, 2.0, 1),
        Sent("b", "incident-2", "acknowledge", 0.0, True, 0.5, 1),
        Sent("c", "incident-3", "closure", 1.0, True),
    ]
    kinds = by_kind(sent)
    assert list(kinds) == ["closure", "acknowledge"]
    assert kinds["closure"] == {"sent": 2, "unanswered": 1, "p50_s": 2.0, "p99_s": 2.0}
    assert kinds["acknowledge"]["p99_s"] == 0.5
