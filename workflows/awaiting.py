"""Who must act on what, by when: the awaited items an incident publishes in its search
attributes, written by the workflow and read back by `remediation inbox`.

See docs/design.md, What operators see. Two search attributes carry them:

- `AwaitingFrom` (KeywordList): who is awaited, one entry each: an actor id (an assigned case
  owner) or `role:<role>` when anyone holding the role may act (`role:verifier`,
  `role:approver`, `role:case_owner` for an unassigned case). Operators filter on it:
  `AwaitingFrom = 'role:approver'`.
- `AwaitingDecision` (Text): one line per awaited decision, joined with "; ", e.g.

      approve action_plan-1 from role:approver except owner.a due 2026-12-10T17:00:00Z
      check_in from owner.a due 2026-12-20T23:59:59Z
      verification from role:verifier

  The decision kind, the approval id for an approval, who is awaited, who may not act (an
  approval's author: four eyes) and the due instant in UTC when a deadline runs. Readable as a
  column of the Web UI, searchable by word (`AwaitingDecision = 'approve'`), and parsed back
  exactly by `parse`.

Every part is an identifier of the contract (kinds, approval ids, pseudonymous actor ids, roles)
and none holds a space, so the line carries no personal data and parses without quoting. This
module imports only the standard library and the picklists: the command line reads it.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

ROLE_PREFIX = "role:"
SEPARATOR = "; "
_DUE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Temporal refuses a search attribute value over 2 KiB (the server's
# `limit.searchAttributeValueSize`), and a refused upsert fails the workflow task. Lines are kept
# earliest due first and the latest dropped beyond this many characters; ids are ASCII, so
# characters are bytes.
MAX_TEXT = 1_800

_LINE = re.compile(
    r"^(?P<kind>[a-z_]+)"
    r"(?: (?P<approval>(?!from )\S+))?"
    r" from (?P<who>\S+)"
    r"(?: except (?P<not_from>\S+))?"
    r"(?: due (?P<due>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ))?$"
)


@dataclass(frozen=True)
class AwaitedItem:
    """One decision an incident awaits."""

    kind: str
    """The decision kind awaited (`approve` for an approval)."""
    awaited_from: str
    """An actor id, or `role:<role>` when anyone holding the role may act."""
    due_at: datetime | None = None
    """When its deadline falls, if one runs."""
    approval_id: str | None = None
    """The pending approval, for `approve`."""
    not_from: str | None = None
    """Who may not act on it: an approval's author."""

    @property
    def role(self) -> str | None:
        """The role awaited, when the item awaits a role rather than a person."""
        if self.awaited_from.startswith(ROLE_PREFIX):
            return self.awaited_from[len(ROLE_PREFIX) :]
        return None

    def awaits(self, actor_id: str | None, roles: Iterable[str]) -> bool:
        """Whether this actor, holding these roles, is the one awaited (never an approval's
        own author)."""
        if actor_id is not None and actor_id == self.not_from:
            return False
        return self.awaited_from == actor_id or self.role in set(roles)


def role_entry(role: str) -> str:
    """The `AwaitingFrom` entry of anyone holding a role."""
    return f"{ROLE_PREFIX}{role}"


def line(item: AwaitedItem) -> str:
    """The item as one line of `AwaitingDecision`."""
    parts = [item.kind]
    if item.approval_id is not None:
        parts.append(item.approval_id)
    parts += ["from", item.awaited_from]
    if item.not_from is not None:
        parts += ["except", item.not_from]
    if item.due_at is not None:
        parts += ["due", item.due_at.astimezone(UTC).strftime(_DUE_FORMAT)]
    return " ".join(parts)


def text(items: Iterable[AwaitedItem]) -> str:
    """`AwaitingDecision`: the lines earliest due first (undated last), within MAX_TEXT."""
    ordered = sorted(items, key=_due_order)
    kept: list[str] = []
    length = 0
    for item in ordered:
        entry = line(item)
        added = len(entry) + (len(SEPARATOR) if kept else 0)
        if length + added > MAX_TEXT:
            break
        kept.append(entry)
        length += added
    return SEPARATOR.join(kept)


def awaiting_from(items: Iterable[AwaitedItem]) -> list[str]:
    """`AwaitingFrom`: everyone awaited, each once, sorted."""
    return sorted({item.awaited_from for item in items})


def parse(value: str | None) -> list[AwaitedItem]:
    """The items of an `AwaitingDecision` value; ValueError names a line that is not one."""
    if not value:
        return []
    items = []
    for entry in value.split(SEPARATOR):
        found = _LINE.match(entry)
        if found is None:
            raise ValueError(f"not an awaited item: {entry!r}")
        due = found["due"]
        items.append(
            AwaitedItem(
                kind=found["kind"],
                awaited_from=found["who"],
                # The pattern matched the format exactly: fromisoformat reads it as UTC, a
                # fiftieth of strptime's cost, which counts at 10,000 incidents.
                due_at=datetime.fromisoformat(due) if due else None,
                approval_id=found["approval"],
                not_from=found["not_from"],
            )
        )
    return items


def _due_order(item: AwaitedItem) -> tuple[bool, datetime, str]:
    due = item.due_at or datetime.max.replace(tzinfo=UTC)
    return (item.due_at is None, due, line(item))
