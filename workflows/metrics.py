"""The engine's own counters, exported with the SDK's metrics on the worker's Prometheus endpoint.

The names are a contract with dashboards and alerts (see workers/metrics.py for how they are
exported): the SDK's Prometheus exporter keeps a custom metric's name exactly as created here, with
no `temporal_` prefix and no added suffix.

Labels are fixed vocabularies only (decision kinds, escalation levels, channels): never an incident
id, a victim's data or anything a sender wrote. The SDK adds `namespace`, `task_queue` and
`workflow_type` (or `activity_type`) to every metric recorded through its meters.

In workflow code the counters go through `workflow.metric_meter()`, which records nothing while a
workflow replays its history, so an event counts once however often its code re-runs. Recording a
metric emits no command, so it changes nothing in a workflow's history and needs no patch.
"""

from temporalio import workflow

from schemas.decisions import DecisionKind

INCIDENTS_OPENED = "remediation_incidents_opened_total"
DECISIONS_REFUSED = "remediation_decisions_refused_total"
ESCALATIONS = "remediation_escalations_total"
NOTIFICATIONS_FAILED = "remediation_notifications_failed_total"
# Counted by the register's activities (activities/register_integrity.py).
REGISTER_CONFLICTS = "remediation_register_conflicts_total"

ALL = (INCIDENTS_OPENED, DECISIONS_REFUSED, ESCALATIONS, NOTIFICATIONS_FAILED, REGISTER_CONFLICTS)


def incident_opened() -> None:
    """An incident workflow started for the first time (not a continue-as-new run)."""
    workflow.metric_meter().create_counter(
        INCIDENTS_OPENED, "Incidents opened (first run of an incident workflow)."
    ).add(1)


def decision_refused(kind: DecisionKind) -> None:
    """An update validator, update handler or signal handler refused a decision.

    Update validators run only for live updates: Temporal never replays them (a refused update
    leaves no trace in the history, an accepted one is not validated again), and the live
    activation that runs one is not a replaying one, so the replay-safe meter records it.
    """
    workflow.metric_meter().create_counter(
        DECISIONS_REFUSED, "Decisions refused, by decision kind."
    ).add(1, {"kind": kind.value})


def escalation_raised(level: int) -> None:
    """A milestone's escalation was recorded at `level` (1 to 3)."""
    workflow.metric_meter().create_counter(
        ESCALATIONS, "Escalations raised, by the level reached."
    ).add(1, {"level": str(level)})
