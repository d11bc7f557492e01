"""The audit trail's entries for the register's events: their ids and action names, and the one
insert every writer uses (the database chains and hashes each row; see activities/audit_trail.py).
"""

import re
import uuid

from activities.database import Connection
from schemas.audit import AuditEntry
from schemas.register import EventOutcome

# Namespace of the audit entries this module writes: entry ids are uuid5(namespace,
# "<incident_id>:<sequence>"), so a redelivered write hits the same row. Never change it.
AUDIT_NAMESPACE = uuid.UUID("fd5987e5-c196-44ae-8d45-20c0fbb2825d")


_AUDIT_PREFIX = {
    EventOutcome.ACCEPTED: "decision",
    EventOutcome.PENDING_APPROVAL: "decision",
    EventOutcome.APPROVED: "decision",
    EventOutcome.REJECTED: "decision",
    EventOutcome.REFUSED: "refused",
    EventOutcome.RECORDED: "fact",
}


_INSERT_AUDIT = """
INSERT INTO audit_trail
    (entry_id, incident_id, occurred_at, actor_id, actor_roles, action, reason, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (entry_id) DO NOTHING
RETURNING sequence
"""


def audit_entry_id(incident_id: str, sequence: int) -> uuid.UUID:
    """Id of the audit entry of an incident's event (sequence 0 is the opening)."""
    return uuid.uuid5(AUDIT_NAMESPACE, f"{incident_id}:{sequence}")


def audit_action(outcome: EventOutcome, kind: str) -> str:
    """The audit trail's dotted lower-case action name for an event, e.g. 'refused.closure'."""
    prefix = _AUDIT_PREFIX[outcome]
    if kind.startswith("system_"):
        prefix, kind = "system", kind.removeprefix("system_")
    segments = []
    for raw in kind.lower().split("."):
        segment = re.sub(r"[^a-z0-9_]+", "_", raw).strip("_")
        if segment:
            segments.append(segment if segment[0].isalpha() else f"k{segment}")
    return ".".join([prefix, *(segments or ["unnamed"])])


async def write_audit(connection: Connection, entry: AuditEntry) -> int | None:
    """Write the entry once: the trail's sequence it got, or None when it was already there."""
    sequence: int | None = await connection.fetchval(
        _INSERT_AUDIT,
        entry.entry_id,
        entry.incident_id,
        entry.occurred_at,
        entry.actor.id,
        [role.value for role in entry.actor.roles],
        entry.action,
        entry.reason,
        entry.details,
    )
    return sequence
