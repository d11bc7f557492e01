"""The bare workflow the benchmark compares an incident's intake with (measurement (a)).

It has the shape of `IncidentWorkflow`'s intake and none of its work: the same start (input,
search attributes, summary), the same patch markers, the same three activities one after the
other, the same search-attribute upsert and current details, and one timer while it waits, as the
deadline tracker does. Its activities do nothing, and it never decodes its input. What an
incident's intake costs beyond this is the engine's own work.

Registered only on the benchmark's worker (benchmarks/worker.py), never on the engine's.
"""

import contextlib
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.retries import REGISTER_RETRY, REGISTER_TIMEOUT

BARE_WORKFLOW = "BenchmarkBareIntakeWorkflow"
NOOP_ACTIVITY = "benchmark_noop"
BARE_ID_PREFIX = "benchmark-bare-"
BARE_DECISION_WORKFLOW = "BenchmarkBareDecisionWorkflow"
BARE_DECISION_ID_PREFIX = "benchmark-bare-decision-"
BARE_DECISION_UPDATE = "decide"

# The activities of an incident's intake, in order (workflows/incident.py: `run` asks for the
# deployment's policy, `_open_incident` registers the incident, then records its opening event
# and delivers the case owners' notification, which the log channel takes at once).
OPENING_ACTIVITIES = ("deployment_policy", "open_incident", "record_event_and_deliver")
# The patches an incident opened today records (each is a marker command in its history).
PATCH_MARKERS = (
    "awaiting-attributes",
    "victim-protection",
    "deployment-policy",
    "deadline-tracker",
    "deadline-reminders",
    "one-register-write",
    "deliver-on-record",
)
# An incident's first escalation timer is days away; so is this one.
WAIT = timedelta(days=7)


@activity.defn(name=NOOP_ACTIVITY)
async def benchmark_noop(stands_for: str) -> bool:
    """Does nothing: the activity it stands for is named only to read the history."""
    return True


@workflow.defn(name=BARE_WORKFLOW, sandboxed=True)
class BareIntakeWorkflow:
    def __init__(self) -> None:
        self._finished = False

    @workflow.run
    async def run(self, raw_input: RawValue) -> None:
        # The incident checks its patches before its first activity.
        for marker in PATCH_MARKERS:
            workflow.patched(f"benchmark-{marker}")
        workflow.set_current_details("**Verification** — being opened")
        for stands_for in OPENING_ACTIVITIES:
            await workflow.execute_activity(
                NOOP_ACTIVITY,
                stands_for,
                result_type=bool,
                start_to_close_timeout=REGISTER_TIMEOUT,
                retry_policy=REGISTER_RETRY,
                summary=f"no-op standing for {stands_for}",
            )
        # The incident's first `_publish`: every search attribute, one of them unset, with who is
        # awaited for what (an unassigned case's acknowledgement) as an intake publishes it.
        workflow.upsert_search_attributes(
            [
                sa.STEP.value_set("verification"),
                sa.SEVERITY.value_set("medium"),
                sa.RESPONSE_LEVEL.value_unset(),
                sa.MINERAL.value_set(["tin"]),
                sa.COUNTRY.value_set("CD"),
                sa.FACILITY_ID.value_set(["CID000000"]),
                sa.CASE_OWNER.value_set(sa.UNASSIGNED),
                sa.ESCALATION_LEVEL.value_set(0),
                sa.NEXT_DEADLINE.value_set(workflow.now() + WAIT),
                sa.OVERDUE.value_set(False),
                sa.AWAITING_FROM.value_set(["role:case_owner"]),
                sa.AWAITING_DECISION.value_set(
                    "acknowledge from role:case_owner due "
                    f"{workflow.now() + WAIT:%Y-%m-%dT%H:%M:%SZ}"
                ),
            ]
        )
        workflow.set_current_details("**Verification** — awaiting acknowledge")
        # The deadline tracker's one timer; `finish` ends the wait, as a decision would.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._finished, timeout=WAIT)

    @workflow.signal
    def finish(self) -> None:
        self._finished = True


@workflow.defn(name=BARE_DECISION_WORKFLOW, sandboxed=True)
class BareDecisionWorkflow:
    """(b)'s baseline: an open workflow waiting as an incident waits (one timer days away, its
    NextDeadline published), whose update runs one no-op activity where a decision writes to the
    register. `finish` ends it."""

    def __init__(self) -> None:
        self._finished = False

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([sa.NEXT_DEADLINE.value_set(workflow.now() + WAIT)])
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._finished, timeout=WAIT)

    @workflow.update(name=BARE_DECISION_UPDATE)
    async def decide(self, decision: RawValue) -> bool:
        done: bool = await workflow.execute_activity(
            NOOP_ACTIVITY,
            "record_event_with_notifications",
            result_type=bool,
            start_to_close_timeout=REGISTER_TIMEOUT,
            retry_policy=REGISTER_RETRY,
            summary="no-op standing for record_event_with_notifications",
        )
        return done

    @workflow.signal
    def finish(self) -> None:
        self._finished = True
