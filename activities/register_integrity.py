"""One incident, one run lineage, and no event acknowledged that the register did not store.

An incident's workflow id is `incident-<reference>`, and Temporal lets anyone start that id again
once its run has ended (the default id-reuse policy, over the HTTP API or any SDK client). Such a
second start is not the incident: it must not write into the incident's register row, and the
register must never answer it as if it had. The register tells them apart by the **run lineage**:
the run id of the incident's first run, which every retry and continue-as-new run carries
(`workflow.info().first_execution_run_id`), stored with the row when the incident opens.

The rules, all here:
- An opening whose row exists under another lineage is refused, non-retryable, naming the incident
  and its state; nothing is written. The same lineage is the incident's own retry: idempotent.
- An event of another lineage is refused the same way, and recorded as a conflict.
- An event whose sequence is already stored is the same event retried when it matches the stored
  one (kind, outcome, actor, time): idempotent. Otherwise another event holds that key: refused,
  recorded as a conflict, logged at error and counted; never "already recorded".
- Writes sent before lineages existed carry none and are judged by their sequence alone; a row
  registered before then takes the lineage of the first run that writes to it afterwards.

Conflicts are kept in `register_conflicts` (in a transaction of their own: the refused write's is
rolled back) and reported by every reconciliation run until an operator resolves them.
"""

from dataclasses import dataclass
from datetime import datetime

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.database import Connection
from schemas.refusals import ALREADY_OPENED as ALREADY_OPENED
from workflows.metrics import REGISTER_CONFLICTS

log = structlog.get_logger(__name__)

CONFLICT = "RegisterConflict"

_INSERT_CONFLICT = """
INSERT INTO register_conflicts (incident_id, sequence, run_id, run_lineage, event_kind, detail)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (incident_id, sequence, run_id) DO NOTHING
"""


@dataclass(frozen=True)
class StoredEvent:
    """What identifies an event already in the register."""

    kind: str
    outcome: str
    actor_id: str
    occurred_at: datetime


def foreign_lineage(registered: str | None, arriving: str | None) -> bool:
    """Whether a write of lineage `arriving` comes from another run than the incident's.

    An opening or event sent before lineages existed (`arriving` None) cannot tell, and is judged
    by its key alone. A row without a lineage (`registered` None) was registered before them."""
    return arriving is not None and registered is not None and registered != arriving


def opening_refused(registered: str | None, arriving: str | None) -> bool:
    """Whether an opening meets a row that another run registered.

    A row registered before lineages existed was opened by a run whose opening carried none, so an
    opening that carries one is another run's."""
    return arriving is not None and registered != arriving


def same_event(stored: StoredEvent, kind: str, outcome: str, actor_id: str, at: datetime) -> bool:
    """Whether the event under this key is the one arriving (its activity retried)."""
    return (stored.kind, stored.outcome, stored.actor_id, stored.occurred_at) == (
        kind,
        outcome,
        actor_id,
        at,
    )


def already_opened(incident_id: str, step: str, case_status: str, opened_at: datetime) -> str:
    """Why a second start of an incident's workflow id is refused."""
    return (
        f"{incident_id} is already an incident of the register, opened "
        f"{opened_at:%Y-%m-%d %H:%M} UTC by another run (step {step}, status {case_status}); "
        "this run is refused and wrote nothing. Open a new incident under a new reference."
    )


async def refuse_write(
    connection: Connection,
    *,
    incident_id: str,
    sequence: int,
    run_lineage: str | None,
    event_kind: str,
    detail: str,
) -> ApplicationError:
    """Record the conflict, log it at error, count it; the error to raise (non-retryable).

    `connection` must not be inside the refused write's transaction: that one is rolled back."""
    run_id = activity.info().workflow_run_id or ""
    await connection.execute(
        _INSERT_CONFLICT, incident_id, sequence, run_id, run_lineage, event_kind, detail[:500]
    )
    log.error(
        "register write refused",
        incident_id=incident_id,
        sequence=sequence,
        kind=event_kind,
        run_lineage=run_lineage,
        detail=detail,
    )
    activity.metric_meter().create_counter(
        REGISTER_CONFLICTS, "Register writes refused because their key held something else."
    ).add(1)
    return ApplicationError(detail, type=CONFLICT, non_retryable=True)
