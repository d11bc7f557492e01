"""Ready-made views of the Temporal Web UI: a workflow list whose URL carries its visibility
query, so that an operator can bookmark "awaiting my approval" once (docs/operations.md,
Ready-made views).

Only pseudonymous ids and picklist values go into a query, never personal data.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from schemas.vocabulary import Role, Severity
from workflows import search_attributes as sa
from workflows.awaiting import role_entry
from workflows.names import INCIDENT_WORKFLOW

RUNNING_INCIDENTS = f"WorkflowType = '{INCIDENT_WORKFLOW}' AND ExecutionStatus = 'Running'"


@dataclass(frozen=True)
class View:
    name: str
    query: str


def _quoted(value: str) -> str:
    """A visibility string literal (ids never hold a quote; doubled to be safe)."""
    return "'" + value.replace("'", "''") + "'"


def _running(condition: str) -> str:
    return f"{RUNNING_INCIDENTS} AND {condition}"


def awaited_entries(actor_id: str | None, roles: Iterable[str]) -> list[str]:
    """The `AwaitingFrom` entries that concern this actor and these roles."""
    entries = [actor_id] if actor_id is not None else []
    return entries + sorted(role_entry(role) for role in set(roles))


def awaiting_query(awaited: list[str]) -> str:
    """Running incidents awaiting any of these `AwaitingFrom` entries."""
    entries = ", ".join(_quoted(entry) for entry in awaited)
    return _running(f"{sa.AWAITING_FROM.name} IN ({entries})")


def views(actor_id: str | None, roles: Iterable[str] = ()) -> list[View]:
    """The views of an operator: their own when an actor id is given (with the roles they
    hold, what awaits them as one of those), then the team's."""
    mine = []
    if actor_id is not None:
        mine = [
            View("my cases", _running(f"{sa.CASE_OWNER.name} = {_quoted(actor_id)}")),
            View("awaiting me", awaiting_query(awaited_entries(actor_id, roles))),
        ]
    return [
        *mine,
        View("awaiting my approval", awaiting_query([role_entry(Role.APPROVER)])),
        View("awaiting verification", awaiting_query([role_entry(Role.VERIFIER)])),
        View("unassigned", _running(f"{sa.CASE_OWNER.name} = {_quoted(sa.UNASSIGNED)}")),
        View("overdue", _running(f"{sa.OVERDUE.name} = true")),
        View("critical", _running(f"{sa.SEVERITY.name} = {_quoted(Severity.CRITICAL)}")),
        View("escalated to level 2 or more", _running(f"{sa.ESCALATION_LEVEL.name} >= 2")),
    ]


def list_url(ui_url: str, namespace: str, query: str) -> str:
    """The Web UI's workflow list showing exactly what `query` selects."""
    return (
        f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows"
        f"?query={quote(query, safe='')}"
    )


def demo_views(ui_url: str, namespace: str) -> list[dict[str, str]]:
    """The views `remediation up` prints: the demo case owner's (`up --demo`), then the
    team's."""
    from workers.devstack.examples import CASE_OWNER

    owner = str(CASE_OWNER["id"])
    named = {"my cases": f"my cases ({owner})", "awaiting me": f"awaiting {owner}"}
    return [
        {"name": named.get(view.name, view.name), "url": list_url(ui_url, namespace, view.query)}
        for view in views(owner, [Role.CASE_OWNER])
    ]
