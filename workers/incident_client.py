"""The client library operators' tools and integrations use: open, decide, signal, query, list.

Every call goes through Temporal; the workflow is the only writer of an incident's state.
"""

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from schemas.facts import FactKind
from schemas.history import TimelineEvent
from schemas.incident_results import DecisionResult, IncidentStatus, PartnerView
from schemas.vocabulary import DecisionKind, Step
from workers.errors import StartupError
from workflows import search_attributes as sa
from workflows.names import (
    INCIDENT_WORKFLOW,
    PARTNER_ACTIONS_QUERY,
    STATUS_QUERY,
    TIMELINE_QUERY,
    handler_name,
)

# Querying an incident or sending it a decision needs its workflow's names only
# (workflows/names.py), never its class: the workflows, with the registry and the activities they
# import, are imported where a workflow is started, and the register's modules (asyncpg, the
# victims' vault) where a victim is recorded, so `remediation status` and `decide` answer quickly.
if TYPE_CHECKING:
    import asyncpg
    from temporalio.common import TypedSearchAttributes

    from schemas.actor import Actor
    from schemas.intake import Intake
    from schemas.policy import Policy
    from schemas.victims import VictimPersonalData
    from workers.keyring import KeyRing


class IncidentExists(Exception):
    """The external reference already opened an incident."""

    def __init__(self, incident_id: str) -> None:
        super().__init__(f"an incident already exists for this reference: {incident_id}")
        self.incident_id = incident_id


class DecisionRejected(Exception):
    """The workflow refused the decision; nothing changed. The message says why."""


class DecisionNotDelivered(StartupError):
    """Temporal handed the decision back without any worker having seen it (its server's
    `UnprocessedUpdate`); nothing changed, and sending it again is safe. A StartupError, so the
    command line prints it as one line."""


@dataclass(frozen=True)
class IncidentListing:
    incident_id: str
    status: str
    step: str | None
    severity: str | None
    case_owner: str | None
    country: str | None
    overdue: bool | None
    started: str


def initial_search_attributes(intake: "Intake") -> "TypedSearchAttributes":
    """Set at start so a new incident is findable in the UI before its first task runs."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from workflows.severity import provisional_severity

    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.STEP, "verification"),
        SearchAttributePair(sa.SEVERITY, provisional_severity(intake)),
        SearchAttributePair(sa.MINERAL, [str(m) for m in intake.minerals]),
        SearchAttributePair(sa.COUNTRY, intake.location.country),
        SearchAttributePair(sa.ESCALATION_LEVEL, 0),
        SearchAttributePair(sa.OVERDUE, False),
    ]
    if intake.facility_ids:
        pairs.append(SearchAttributePair(sa.FACILITY_ID, list(intake.facility_ids)))
    pairs.append(SearchAttributePair(sa.CASE_OWNER, intake.case_owner or sa.UNASSIGNED))
    return TypedSearchAttributes(pairs)


async def open_incident(
    client: Client, intake: "Intake", *, task_queue: str, policy: "Policy | None" = None
) -> str:
    """Start the incident's workflow; raises IncidentExists when the reference was used."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from schemas.incident import IncidentInput, incident_id_for
    from workflows.incident_details import static_summary

    incident_id = incident_id_for(intake.external_reference)
    try:
        await client.start_workflow(
            INCIDENT_WORKFLOW,
            IncidentInput(intake=intake, policy=policy),
            id=incident_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=initial_search_attributes(intake),
            static_summary=static_summary(intake),
        )
    except WorkflowAlreadyStartedError:
        raise IncidentExists(incident_id) from None
    return incident_id


def _handle(client: Client, incident_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(incident_id)


def _failure_message(error: BaseException) -> str:
    cause = error.__cause__
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return cause.message if isinstance(cause, ApplicationError) else str(error)


# Statuses that answer a call (a refusal, a missing incident): sending it again changes nothing.
_ANSWERS = frozenset(
    {
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.NOT_FOUND,
        RPCStatusCode.ALREADY_EXISTS,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.UNAUTHENTICATED,
    }
)


def worth_resending(error: BaseException) -> bool:
    """Whether a call failed for want of a server (one restarting, or a call that outlived its
    deadline) rather than being answered: then send it again, a decision with the same
    `request_id`."""
    if isinstance(error, (WorkflowUpdateRPCTimeoutOrCancelledError, DecisionNotDelivered)):
        return True
    return isinstance(error, RPCError) and error.status not in _ANSWERS


# Temporal rejects an update on its own, with this failure type, when the worker completed the
# workflow task that carried it without processing it: a task from before a server restart, for
# one. The workflow never saw it, so it is sent again, after UNPROCESSED_PAUSE_SECONDS times the
# attempts so far, up to UNPROCESSED_ATTEMPTS in all.
_UNPROCESSED_UPDATE = "UnprocessedUpdate"
UNPROCESSED_ATTEMPTS = 3
UNPROCESSED_PAUSE_SECONDS = 0.5


def _unprocessed(error: WorkflowUpdateFailedError) -> bool:
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == _UNPROCESSED_UPDATE


async def decide(
    client: Client,
    incident_id: str,
    kind: DecisionKind,
    decision: BaseModel | dict[str, Any],
    *,
    request_id: str | None = None,
) -> DecisionResult:
    """Send a decision as an update; raises DecisionRejected with the validator's message.

    `request_id` is the update's id. A caller that retries a decision after a timeout or a lost
    connection must resend it with the same id: Temporal then applies it once and answers the
    retry with the first call's DecisionResult. Without one, every call is a new update, and a
    retry of a decision that did land is applied again (unless its payload has a decision_id).
    Temporal remembers update ids per workflow run; the payload's decision_id also holds across
    a continue-as-new.
    """
    for attempt in range(1, UNPROCESSED_ATTEMPTS + 1):
        try:
            result: DecisionResult = await _handle(client, incident_id).execute_update(
                handler_name(kind), decision, id=request_id, result_type=DecisionResult
            )
            return result
        except WorkflowUpdateFailedError as error:
            if not _unprocessed(error):
                raise DecisionRejected(_failure_message(error)) from None
        if attempt < UNPROCESSED_ATTEMPTS:
            await asyncio.sleep(UNPROCESSED_PAUSE_SECONDS * attempt)
    raise DecisionNotDelivered(
        f"Temporal handed the {kind} decision on {incident_id} back unprocessed "
        f"{UNPROCESSED_ATTEMPTS} times (its workflow task ended without it, as happens while a "
        "server restarts): nothing changed; send it again"
    )


async def record_victim(
    client: Client,
    pool: "asyncpg.Pool",
    key_ring: "KeyRing",
    incident_id: str,
    *,
    victim_id: str,
    child: bool,
    personal_data: "VictimPersonalData | None",
    actor: "Actor",
) -> DecisionResult:
    """Record a victim, their personal data sealed here under their own data key first, so it
    never enters Temporal or the register readable by anyone without that key."""
    from activities.victim_vault import seal_personal_data, victim_data_key
    from schemas.decisions import RecordVictim

    sealed = None
    if personal_data is not None:
        key = await victim_data_key(pool, key_ring, incident_id, victim_id)
        sealed = seal_personal_data(key, incident_id, victim_id, personal_data)
    decision = RecordVictim(actor=actor, victim_id=victim_id, child=child, personal_data=sealed)
    return await decide(client, incident_id, DecisionKind.RECORD_VICTIM, decision)


class ErasureRefused(Exception):
    """The erasure request was refused; the message says why."""


@dataclass(frozen=True)
class ErasureRequested:
    workflow_id: str  # the incident's, or the erasure workflow's once the incident has ended
    approval_id: str
    message: str


async def request_erasure(
    client: Client,
    incident_id: str,
    victim_id: str,
    *,
    reason: str,
    actor: "Actor",
    task_queue: str,
) -> ErasureRequested:
    """Ask for a victim's erasure: the `erase_victim` decision of a running incident, or, once
    the incident has ended, a `VictimErasureWorkflow`. Either waits for an approver."""
    from temporalio.client import WorkflowFailureError
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError

    from schemas.decisions import EraseVictim
    from schemas.erasure import ERASURE_APPROVAL_ID, ErasureRequest, erasure_workflow_id
    from workflows.victim_erasure import VictimErasureWorkflow

    handle = _handle(client, incident_id)
    described = await handle.describe()
    running = described.status == WorkflowExecutionStatus.RUNNING
    # A completed incident may still run a little (a notification being delivered): it takes no
    # decision any more, so its erasure is a workflow of its own too.
    if running and (await status(client, incident_id)).step != Step.COMPLETED:
        decision = EraseVictim(actor=actor, victim_id=victim_id, reason=reason)
        try:
            result = await decide(client, incident_id, DecisionKind.ERASE_VICTIM, decision)
        except DecisionRejected as refusal:
            raise ErasureRefused(str(refusal)) from None
        return ErasureRequested(incident_id, result.approval_id or "", result.message)
    request = ErasureRequest(
        incident_id=incident_id, victim_id=victim_id, reason=reason, requested_by=actor
    )
    workflow_id = erasure_workflow_id(incident_id, victim_id)
    try:
        erasure = await client.start_workflow(
            VictimErasureWorkflow.run,
            request,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"erasure of {victim_id} of {incident_id}",
        )
    except WorkflowAlreadyStartedError:
        raise ErasureRefused(
            f"the erasure of {victim_id} is already awaiting approval ({workflow_id})"
        ) from None
    # The request is checked against the register first: the update answers with the verdict.
    try:
        outcome = await erasure.execute_update(VictimErasureWorkflow.awaiting_approval)
    except (WorkflowUpdateFailedError, RPCError):
        try:
            await erasure.result()
        except WorkflowFailureError as failure:
            raise ErasureRefused(_failure_message(failure)) from None
        raise
    return ErasureRequested(workflow_id, ERASURE_APPROVAL_ID, outcome.message)


async def partner_actions(client: Client, incident_id: str, partner: str) -> PartnerView:
    view: PartnerView = await _handle(client, incident_id).query(
        PARTNER_ACTIONS_QUERY, partner, result_type=PartnerView
    )
    return view


async def signal(
    client: Client,
    incident_id: str,
    kind: DecisionKind | FactKind,
    payload: BaseModel | dict[str, Any],
) -> None:
    """Send a decision or a fact as a signal (validated when the workflow handles it)."""
    name = handler_name(kind) if isinstance(kind, DecisionKind) else kind.value
    await _handle(client, incident_id).signal(name, payload)


async def status(client: Client, incident_id: str) -> IncidentStatus:
    result: IncidentStatus = await _handle(client, incident_id).query(
        STATUS_QUERY, result_type=IncidentStatus
    )
    return result


async def timeline(client: Client, incident_id: str) -> list[TimelineEvent]:
    events: list[TimelineEvent] = await _handle(client, incident_id).query(
        TIMELINE_QUERY, result_type=list[TimelineEvent]
    )
    return events


def list_query(
    *,
    step: str | None = None,
    severity: str | None = None,
    overdue: bool = False,
    include_closed: bool = False,
) -> str:
    """A visibility query over the search attributes."""
    clauses = [f"WorkflowType = '{INCIDENT_WORKFLOW}'"]
    if not include_closed:
        clauses.append("ExecutionStatus = 'Running'")
    if step:
        clauses.append(f"{sa.STEP.name} = '{step}'")
    if severity:
        clauses.append(f"{sa.SEVERITY.name} = '{severity}'")
    if overdue:
        clauses.append(f"{sa.OVERDUE.name} = true")
    return " AND ".join(clauses)


async def list_incidents(client: Client, query: str, *, limit: int = 1000) -> list[IncidentListing]:
    listings = []
    async for execution in client.list_workflows(query, limit=limit):
        attributes = execution.typed_search_attributes
        listings.append(
            IncidentListing(
                incident_id=execution.id,
                status=(execution.status or WorkflowExecutionStatus.RUNNING).name.lower(),
                step=attributes.get(sa.STEP),
                severity=attributes.get(sa.SEVERITY),
                case_owner=attributes.get(sa.CASE_OWNER),
                country=attributes.get(sa.COUNTRY),
                overdue=attributes.get(sa.OVERDUE),
                started=execution.start_time.isoformat(timespec="seconds"),
            )
        )
    return listings
