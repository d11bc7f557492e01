"""Part of measurement (d): what a cached incident costs a worker that took it back by replay.

A worker that has run an incident since it opened holds it as it was built, one workflow task at
a time. A worker that starts afresh (a restart, a redeployment, a replica taking over a killed
one's incidents) builds each incident by replaying its whole history when the incident's next
task comes, and holds it as the replay left it. So after the portfolio run, the first worker is
restarted and as many incidents in step 4 as its cache holds take their next decision, a
check-in, which replays each into its cache; its resident memory is read before and after. The
figure is the growth over those incidents, not counting a few taken first so that what the
worker builds on first use (the sandbox's modules, the validators) is not charged to them.

A query replays an incident too, but leaves more behind: docs/benchmark.md, (d).
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from benchmarks.load import OpenIncident, from_its_owner
from benchmarks.report import MB
from benchmarks.stack import BenchmarkStack, RssSampler
from schemas.vocabulary import DecisionKind
from workers import incident_client as incidents
from workers.devstack import examples

WARM_UP = 30  # incidents replayed before the first reading (first-use costs)
DECISIONS_IN_FLIGHT = 8
SETTLE_SECONDS = 2.0  # after the last answer, before memory is read


@dataclass(frozen=True)
class ReplayedCache:
    replayed: int  # incidents replayed into the cache after the warm-up
    warm_rss: int  # the restarted worker after the warm-up (bytes)
    filled_rss: int  # after the rest
    seconds: float  # the rest's check-ins (DECISIONS_IN_FLIGHT at once)

    @property
    def megabytes_per_incident(self) -> float | None:
        if self.replayed <= 0:
            return None
        return (self.filled_rss - self.warm_rss) / self.replayed / MB

    def summary(self) -> dict[str, float | int | None]:
        per_incident = self.megabytes_per_incident
        return {
            "replayed_incidents": self.replayed,
            "warm_up_incidents": WARM_UP,
            "worker_rss_after_warm_up_mb": round(self.warm_rss / MB, 1),
            "worker_rss_filled_mb": round(self.filled_rss / MB, 1),
            "per_incident_mb": None if per_incident is None else round(per_incident, 3),
            "replay_seconds": round(self.seconds, 1),
        }


def check_in_payload(incident: OpenIncident) -> dict[str, Any]:
    """A check-in with the plan's actions under way, from the incident's case owner."""
    progress = [examples.progress(action, "in_progress") for action in ("A1", "A2")]
    return from_its_owner(examples.check_in(progress), incident)


async def _replay_into_cache(client: Client, chosen: list[OpenIncident]) -> None:
    """Each incident's next decision: a worker that does not hold it replays its history first."""
    slots = asyncio.Semaphore(DECISIONS_IN_FLIGHT)

    async def check_in(incident: OpenIncident) -> None:
        async with slots:
            await incidents.decide(
                client, incident.incident_id, DecisionKind.CHECK_IN, check_in_payload(incident)
            )

    await asyncio.gather(*(check_in(incident) for incident in chosen))


async def _settled_rss(sampler: RssSampler) -> int:
    await asyncio.sleep(SETTLE_SECONDS)
    rss = sampler.sample()
    if rss is None:
        raise RuntimeError("the restarted worker is gone")
    return rss


async def measure_replayed_cache(
    stack: BenchmarkStack, in_step_4: list[OpenIncident], cache_size: int
) -> ReplayedCache:
    """Restart the first worker and replay up to `cache_size` of the incidents into its cache."""
    if stack.worker is None or stack.rss is None:
        raise RuntimeError("this measurement needs the benchmark's worker")
    client = stack.require_client()
    await stack.restart(stack.worker)
    chosen = in_step_4[:cache_size]
    warm_up, rest = chosen[:WARM_UP], chosen[WARM_UP:]
    await _replay_into_cache(client, warm_up)
    warm_rss = await _settled_rss(stack.rss)
    began = time.monotonic()
    await _replay_into_cache(client, rest)
    seconds = time.monotonic() - began
    filled_rss = await _settled_rss(stack.rss)
    return ReplayedCache(len(rest), warm_rss, filled_rss, seconds)
