"""The soak under faults, scaled down: part of the fault suite (docs/development.md).

Measurement (g) of `make bench` (benchmarks/soak.py) on its own stack: 200 incidents spread over
every stage of a path through the six steps take decisions for two minutes, with two worker
processes on the task queue, one SIGKILLed and restarted every 30 s, PostgreSQL stopped once and
the Temporal dev server restarted once on its SQLite file. Correctness only, never timing: every
decision is answered and applied exactly once in the register (found there by its decision_id),
and the audit chain holds.
"""

import sys
from collections import Counter

import pytest

from benchmarks.load import Portfolio
from benchmarks.soak import PATH, SoakPlan, run_soak
from benchmarks.stack import benchmark_stack

# Half the benchmark's rate: the suite shares the machine, and what is checked is correctness.
PLAN = SoakPlan(incidents=200, seconds=120, rate=5)


def _progress(line: str) -> None:
    print(line, file=sys.stderr)  # shown by pytest when the test fails


@pytest.mark.timeout(1200)
async def test_decisions_under_kills_and_restarts_are_each_applied_once() -> None:
    async with benchmark_stack(with_temporal=True, progress=_progress) as stack:
        result = await run_soak(stack, Portfolio(), PLAN, _progress)
        assert len(stack.workers) == 2

    assert result.problems() == []
    assert Counter(fault.kind for fault in result.faults) == {
        "worker_kill": 4,
        "postgres_restart": 1,
        "temporal_restart": 1,
    }
    timed = result.timed
    assert len(timed) > PLAN.decisions // 2
    assert len(result.answered) == len(timed)
    assert result.register.soak.applied_once == len(timed)
    assert result.register.beforehand.applied_once == len(result.staged)
    assert result.register.chain_ok
    # Every kind of decision of the path was taken under the faults.
    assert {sent.kind for sent in timed} == {str(kind) for kind in PATH}
