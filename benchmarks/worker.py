"""The benchmark's worker process: the engine's worker, exactly as `remediation worker` builds it,
plus the bare workflow of measurement (a) and its no-op activity.

Started by the benchmark's stack (benchmarks/stack.py) as `python -m benchmarks.worker`, configured
by the environment like `remediation worker`, so its memory is measured as a process of its own.
"""

import asyncio
import signal

import structlog

from benchmarks.workflow import BareDecisionWorkflow, BareIntakeWorkflow, benchmark_noop
from workers.collector import tune_for_long_lived_worker
from workers.logs import configure_logging
from workers.policy_file import load_policy
from workers.register import open_register
from workers.settings import Settings, load_settings
from workers.temporal_client import connect
from workers.worker import build_worker

log = structlog.get_logger(__name__)


async def run(settings: Settings) -> None:
    assert settings.database_url is not None, "the benchmark passes DATABASE_URL"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = await connect(settings)
    pool = await open_register(settings.database_url)
    try:
        # The engine's own worker (its tuning included) with one workflow and one activity more:
        # what is measured is the worker the engine runs, not a copy that could drift from it.
        worker = build_worker(
            client,
            settings,
            pool,
            policy=load_policy(settings.policy_file),
            extra_workflows=[BareIntakeWorkflow, BareDecisionWorkflow],
            extra_activities=[benchmark_noop],
        )
        async with worker:
            log.info("benchmark worker polling", task_queue=settings.task_queue)
            await stop.wait()
    finally:
        await pool.close()


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_format, settings.logging_level)
    tune_for_long_lived_worker()  # as `remediation worker` does
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
