"""The operations inbox: every decision awaited from a person or a role, across all running
incidents, read from Temporal's visibility store (the `AwaitingFrom` and `AwaitingDecision`
search attributes, workflows/awaiting.py), never from the incidents themselves, so it answers as
fast at 10,000 open incidents as at ten.

Who is "me": the items awaited from the actor by name (the case owner of their cases), and those
awaited from a role the actor holds: the roles given with `--role`, and those the deployment's
policy lists them under (its `[roles]` directory). An approval is never in its author's inbox.
"""

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from schemas.vocabulary import DecisionKind, Role
from workers.ui_views import RUNNING_INCIDENTS, awaited_entries, awaiting_query
from workflows import awaiting
from workflows import search_attributes as sa
from workflows.awaiting import AwaitedItem

if TYPE_CHECKING:
    from temporalio.api.common.v1 import Payload
    from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsResponse
    from temporalio.service import WorkflowService

    from schemas.policy import RoleDirectory

# What the command shows when no actor is named.
SOMEONE = "ACTOR_ID"
# Visibility answers at most this many incidents a page (the server's default limit).
PAGE_SIZE = 1000
# The search attributes a row shows, of the dozen an incident publishes.
SHOWN = (
    sa.AWAITING_DECISION.name,
    sa.STEP.name,
    sa.SEVERITY.name,
    sa.CASE_OWNER.name,
    sa.ESCALATION_LEVEL.name,
)
_JSON = b"json/plain"


@dataclass(frozen=True)
class Inbox:
    """What a read found: the rows, earliest due first, and the incidents whose awaited items
    could not be read (left out, and named)."""

    rows: list["InboxRow"]
    unreadable: list[str]


@dataclass(frozen=True)
class InboxRow:
    """One awaited decision, with the incident's figures operators sort and act by."""

    incident_id: str
    step: str | None
    severity: str | None
    case_owner: str | None
    escalation_level: int
    item: AwaitedItem

    def overdue(self, now: datetime) -> bool:
        return self.item.due_at is not None and self.item.due_at < now


def listed_roles(directory: "RoleDirectory", actor_id: str) -> set[str]:
    """The roles a policy's directory lists the actor under (an unlisted role is open to anyone
    claiming it, so it says nothing about this actor)."""
    return {role for role, holders in directory if holders and actor_id in holders}


def query(actor_id: str | None, roles: Iterable[str]) -> str:
    """The visibility query of the incidents that may hold items for this actor or roles."""
    entries = awaited_entries(actor_id, roles)
    return awaiting_query(entries) if entries else RUNNING_INCIDENTS


def rows_of(
    incident_id: str,
    attributes: dict[str, object],
    actor_id: str | None,
    roles: Iterable[str],
) -> list[InboxRow]:
    """The incident's awaited items for this actor and roles (every item when neither is
    given); ValueError when its `AwaitingDecision` is not the engine's (a workflow started with
    attributes of its own)."""
    held = set(roles)
    items = awaiting.parse(_text(attributes.get(sa.AWAITING_DECISION.name)))
    level = attributes.get(sa.ESCALATION_LEVEL.name)
    return [
        InboxRow(
            incident_id=incident_id,
            step=_text(attributes.get(sa.STEP.name)),
            severity=_text(attributes.get(sa.SEVERITY.name)),
            case_owner=_text(attributes.get(sa.CASE_OWNER.name)),
            escalation_level=level if isinstance(level, int) else 0,
            item=item,
        )
        for item in items
        if (actor_id is None and not held) or item.awaits(actor_id, held)
    ]


def ordered(rows: Iterable[InboxRow]) -> list[InboxRow]:
    """Earliest due first; items without a deadline last; then by incident."""
    return sorted(
        rows,
        key=lambda row: (
            row.item.due_at is None,
            row.item.due_at.timestamp() if row.item.due_at else 0.0,
            row.incident_id,
            awaiting.line(row.item),
        ),
    )


def command(row: InboxRow, actor_id: str | None) -> str:
    """The exact command that acts on the row."""
    actor = actor_id or SOMEONE
    item = row.item
    # A named person is awaited only as the incident's case owner (pending_decisions).
    role = item.role or Role.CASE_OWNER
    if item.kind == DecisionKind.APPROVE and item.approval_id is not None:
        payload = f'{{"approval_id": "{item.approval_id}"}}'
        return (
            f"echo '{payload}' | remediation decide {row.incident_id} approve - "
            f"--as {actor} --role {role}"
        )
    return (
        f"remediation decide {row.incident_id} {item.kind} {item.kind}.json "
        f"--as {actor} --role {role}"
    )


def shown_attributes(fields: Mapping[str, "Payload"]) -> dict[str, object]:
    """The attributes a row shows, decoded from a listed incident's search attributes (JSON,
    as Temporal keeps them; never encrypted)."""
    values: dict[str, object] = {}
    for name in SHOWN:
        payload = fields.get(name)
        if payload is not None and payload.metadata.get("encoding") == _JSON:
            values[name] = json.loads(payload.data)
    return values


async def read(
    visibility: "WorkflowService",
    namespace: str,
    actor_id: str | None,
    roles: Iterable[str],
    *,
    page_size: int = PAGE_SIZE,
    page_timeout: float | None = None,
) -> Inbox:
    """Every awaited item for this actor and roles in the namespace, earliest due first, and
    the incidents whose items could not be read.

    `visibility` is the workflow service of a client (`Client.workflow_service`) or of a bare
    service client (`ServiceClient.workflow_service`, which the command uses: it needs neither
    the SDK's client nor its data converter). The pages come from the visibility API itself, and
    only the attributes a row shows are decoded: the SDK's `list_workflows` decodes every
    attribute of every incident twice (its deprecated untyped view too), most of the command's
    own time at 10,000 incidents. The next page is asked for while this one is read.

    `page_timeout` bounds each page (seconds), not the whole read: everything awaited across a
    large portfolio takes about a second per thousand open incidents, so a bound on the whole
    would refuse a read that is only long. A page over its bound raises TimeoutError."""
    from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest

    held = set(roles)

    async def page(token: bytes) -> "ListWorkflowExecutionsResponse":
        request = ListWorkflowExecutionsRequest(
            namespace=namespace,
            query=query(actor_id, held),
            page_size=page_size,
            next_page_token=token,
        )
        return await visibility.list_workflow_executions(request, retry=True)

    rows: list[InboxRow] = []
    unreadable: list[str] = []
    coming: asyncio.Task[ListWorkflowExecutionsResponse] | None = asyncio.create_task(page(b""))
    try:
        while coming is not None:
            listed = await asyncio.wait_for(coming, page_timeout)
            token = listed.next_page_token
            coming = asyncio.create_task(page(token)) if token else None
            for info in listed.executions:
                attributes = shown_attributes(info.search_attributes.indexed_fields)
                try:
                    rows += rows_of(info.execution.workflow_id, attributes, actor_id, held)
                except ValueError:
                    unreadable.append(info.execution.workflow_id)
    finally:
        if coming is not None:
            coming.cancel()
    return Inbox(ordered(rows), unreadable)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
