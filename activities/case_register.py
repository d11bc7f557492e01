"""Activities of the case register: incidents, their events, the outbox, reports and lessons.

Temporal delivers every activity at least once, so each one is idempotent: a redelivered call finds
its own earlier write (by incident id, event sequence, notification key) and changes nothing. An
activity that writes several tables does so in one transaction, so a retry never meets half a write.

Personal data is never stored in the clear: the intake's reporter and description are sealed under
the key ring (`incidents.confidential`), victims' personal data arrives sealed under each victim's
own key (see `activities.victim_vault`). Nothing personal is logged, audited or reported.
"""

import base64
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import asyncpg
import structlog
from pydantic import JsonValue
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import register_integrity as integrity
from activities.database import Connection
from activities.sealing import Sealer as KeyRing
from schemas.actor import Actor, Role
from schemas.audit import AuditEntry
from schemas.erasure import ErasureRecord, ErasureTarget
from schemas.register import (
    ActionRecord,
    ApprovalRecord,
    ClosureReport,
    ClosureReportRequest,
    EventOutcome,
    EventWithNotifications,
    IncidentOpened,
    IncidentOpening,
    LessonRecord,
    Notification,
    RegisterEvent,
    RelatedIncident,
)
from schemas.vocabulary import CaseStatus, Step

log = structlog.get_logger(__name__)

# Namespace of the audit entries this module writes: entry ids are uuid5(namespace,
# "<incident_id>:<sequence>"), so a redelivered write hits the same row. Never change it.
AUDIT_NAMESPACE = uuid.UUID("fd5987e5-c196-44ae-8d45-20c0fbb2825d")
# Incidents received this close to each other are linked when they share a facility, site or
# supplier (docs/design.md, The six steps: step 1). IncidentOpening carries no window of its own.
# Openings take this transaction-level advisory lock so that two incidents opened at the same
# moment still see each other and get linked. Openings are rare; serialising them costs nothing.
_OPENING_LOCK_KEY = 0x5245_4C41_5445_4421  # "RELATED!"
# Shared facilities named in a link's reason before the rest are counted ("and 3 more").
_FACILITIES_IN_REASON = 3
_REASON_MAX = 200

_AUDIT_PREFIX = {
    EventOutcome.ACCEPTED: "decision",
    EventOutcome.PENDING_APPROVAL: "decision",
    EventOutcome.APPROVED: "decision",
    EventOutcome.REJECTED: "decision",
    EventOutcome.REFUSED: "refused",
    EventOutcome.RECORDED: "fact",
}
# Outcomes after which a decision has taken effect; they make the closure report's timeline.
_EFFECTIVE_OUTCOMES = [EventOutcome.ACCEPTED.value, EventOutcome.APPROVED.value]


def _not_found(incident_id: str) -> ApplicationError:
    return ApplicationError(
        f"incident {incident_id} is not in the case register; open_incident must run first",
        type="IncidentNotFound",
        non_retryable=True,
    )


# --- SQL ------------------------------------------------------------------------------------

_INSERT_AUDIT = """
INSERT INTO audit_trail
    (entry_id, incident_id, occurred_at, actor_id, actor_roles, action, reason, details)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (entry_id) DO NOTHING
"""

# The intake's fields that may identify people; sealed, never stored as plain JSON.
CONFIDENTIAL_INTAKE_FIELDS = frozenset({"reporter", "description"})

_UPSERT_VICTIM = """
INSERT INTO victims (
    incident_id, victim_id, child, recorded_at, recorded_by, updated_sequence, personal_data
)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (incident_id, victim_id) DO UPDATE
SET child = excluded.child,
    updated_sequence = excluded.updated_sequence,
    personal_data = coalesce(excluded.personal_data, victims.personal_data)
WHERE victims.erased_at IS NULL
"""

# Erasure destroys the victim's data key (or leaves a tombstone that stops one being created),
# then drops every sealed copy the register holds.
_DESTROY_VICTIM_KEY = """
INSERT INTO victim_keys (incident_id, victim_id, erased_at, erased_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id, victim_id) DO UPDATE
SET wrapped_key = NULL,
    wrapping_key_id = NULL,
    erased_at = coalesce(victim_keys.erased_at, excluded.erased_at),
    erased_by = coalesce(victim_keys.erased_by, excluded.erased_by)
"""
_ERASE_VICTIM_ROW = """
UPDATE victims SET personal_data = NULL, erased_at = $3, erased_by = $4
WHERE incident_id = $1 AND victim_id = $2
"""
_ERASE_SEALED_PAYLOADS = """
UPDATE incident_events SET payload = payload - 'personal_data'
WHERE incident_id = $1 AND kind = 'record_victim' AND payload ->> 'victim_id' = $2
"""

_INSERT_INCIDENT = """
INSERT INTO incidents (
    incident_id, external_reference, received_at, opened_at, channel, country, region,
    site_name, site_type, tier, minerals, facility_ids, suppliers, alleged_harms,
    affected_persons_estimate, children_affected, migrants_affected, women_affected,
    imminent_danger, provisional_severity, severity, step, case_status, case_owner,
    policy_version, intake, confidential_key_id, confidential, run_lineage, run_id, updated_at
)
VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, clock_timestamp()
)
ON CONFLICT (incident_id) DO NOTHING
RETURNING incident_id
"""

# Candidates are found from the stored row, so detection reads exactly what was registered.
_FIND_RELATED = """
SELECT candidate.incident_id,
       ARRAY(
           SELECT facility FROM unnest(candidate.facility_ids) AS facility
           WHERE facility = ANY (opened.facility_ids) ORDER BY facility
       ) AS shared_facilities,
       coalesce(
           opened.site_name IS NOT NULL
           AND candidate.country = opened.country
           AND lower(candidate.site_name) = lower(opened.site_name),
           false
       ) AS same_site,
       register_fold_names(candidate.suppliers) && register_fold_names(opened.suppliers)
           AS same_supplier
FROM incidents AS opened
JOIN incidents AS candidate
  ON candidate.incident_id <> opened.incident_id
 AND candidate.received_at BETWEEN opened.received_at - $2::interval
                               AND opened.received_at + $2::interval
 AND (
        candidate.facility_ids && opened.facility_ids
     OR (opened.site_name IS NOT NULL
         AND candidate.country = opened.country
         AND lower(candidate.site_name) = lower(opened.site_name))
     OR register_fold_names(candidate.suppliers) && register_fold_names(opened.suppliers)
 )
WHERE opened.incident_id = $1
ORDER BY candidate.incident_id
"""

_INSERT_LINK = """
INSERT INTO related_incidents (incident_id, related_incident_id, reason, linked_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id, related_incident_id) DO NOTHING
"""

_LINKS_MADE_BY = """
SELECT related_incident_id, reason FROM related_incidents
WHERE incident_id = $1 AND linked_by = $1
ORDER BY related_incident_id
"""

_REGISTERED_RUN = """
SELECT run_lineage, step, case_status, opened_at FROM incidents WHERE incident_id = $1
"""

_STORED_EVENT = """
SELECT kind, outcome, actor_id, occurred_at FROM incident_events
WHERE incident_id = $1 AND sequence = $2
"""

# A row registered before run lineages existed takes the lineage of the first run writing to it.
_ADOPT_LINEAGE = """
UPDATE incidents SET run_lineage = $2 WHERE incident_id = $1 AND run_lineage IS NULL
"""

_INSERT_EVENT = """
INSERT INTO incident_events
    (incident_id, sequence, kind, outcome, actor_id, actor_roles, occurred_at, reason, summary,
     payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (incident_id, sequence) DO NOTHING
RETURNING sequence
"""

# An event older than the row's last one never rolls the snapshot back.
_APPLY_SNAPSHOT = """
UPDATE incidents
SET step = $3, case_status = $4, severity = $5, response_level = $6, relationship = $7,
    case_owner = $8, closed_at = $9, closure_reason = $10, escalation_level = $11,
    overdue = $12, next_deadline = $13, last_sequence = $2, run_id = $14,
    updated_at = clock_timestamp()
WHERE incident_id = $1 AND last_sequence < $2
"""

_INSERT_ESCALATION = """
INSERT INTO escalations
    (incident_id, sequence, milestone, milestone_kind, level, due_at, reached_at, occurred_at,
     cleared_because, late_by, notified)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""

_UPSERT_APPROVAL = """
INSERT INTO approvals
    (incident_id, approval_id, kind, author_id, requested_at, due_at, status, decided_by,
     decided_at, comments, updated_sequence)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (incident_id, approval_id) DO UPDATE
SET kind = EXCLUDED.kind, author_id = EXCLUDED.author_id, requested_at = EXCLUDED.requested_at,
    due_at = EXCLUDED.due_at, status = EXCLUDED.status, decided_by = EXCLUDED.decided_by,
    decided_at = EXCLUDED.decided_at, comments = EXCLUDED.comments,
    updated_sequence = EXCLUDED.updated_sequence
WHERE approvals.updated_sequence <= EXCLUDED.updated_sequence
"""

_ACTION_COLUMNS = list(ActionRecord.model_fields)
_UPSERT_ACTION = f"""
INSERT INTO actions (incident_id, {", ".join(_ACTION_COLUMNS)}, updated_sequence)
VALUES ({", ".join(f"${n}" for n in range(1, len(_ACTION_COLUMNS) + 3))})
ON CONFLICT (incident_id, action_id) DO UPDATE
SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _ACTION_COLUMNS if c != "action_id")},
    updated_sequence = EXCLUDED.updated_sequence
WHERE actions.updated_sequence <= EXCLUDED.updated_sequence
"""

_INSERT_CHECK_IN = """
INSERT INTO check_ins
    (incident_id, sequence, period_start, period_end, submitted_by, actions_reported,
     victim_feedback, new_risks)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (incident_id, sequence) DO NOTHING
"""

_INSERT_NOTIFICATION = """
INSERT INTO outbox (incident_id, sequence, kind, recipient, subject, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (incident_id, sequence, kind, recipient) DO NOTHING
RETURNING notification_id
"""

# Only columns that carry no personal data are read for the closure report: never the intake,
# event payloads, reasons or free-text fields of decisions and actions.
_REPORT_INCIDENT = """
SELECT incident_id, external_reference, received_at, opened_at, country, minerals,
       facility_ids, tier, alleged_harms, severity, response_level, relationship, case_status,
       closed_at, closure_reason
FROM incidents WHERE incident_id = $1
"""

_REPORT_TIMELINE = """
SELECT DISTINCT ON (kind) kind, sequence, occurred_at
FROM incident_events
WHERE incident_id = $1 AND outcome = ANY ($2::text[])
ORDER BY kind, sequence
"""

_REPORT_ACTIONS = """
SELECT action_id, category, action_type, responsible_party, status, progress_percent, due_date,
       budget_amount, spend_to_date, currency, completion_verified_by IS NOT NULL AS verified
FROM actions WHERE incident_id = $1
ORDER BY action_id
"""

_REPORT_APPROVALS = """
SELECT approval_id, kind, status, requested_at, decided_at
FROM approvals WHERE incident_id = $1
ORDER BY requested_at, approval_id
"""

_RELATED = """
SELECT related_incident_id, reason FROM related_incidents
WHERE incident_id = $1
ORDER BY related_incident_id
"""

# A retry rewrites the same report; a later request (new generated_at) replaces it.
_UPSERT_CLOSURE_REPORT = """
INSERT INTO closure_reports (incident_id, markdown, report, generated_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id) DO UPDATE
SET markdown = EXCLUDED.markdown, report = EXCLUDED.report, generated_at = EXCLUDED.generated_at
"""

_INSERT_LESSONS = """
INSERT INTO lessons
    (incident_id, recorded_at, minerals, country, facility_ids, harm_types, root_causes,
     root_cause_notes, due_diligence_gaps, changes_made, supplier_engagement_outcome,
     shared_with_industry_programme, anonymised_summary)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (incident_id) DO NOTHING
RETURNING incident_id
"""


# --- Helpers --------------------------------------------------------------------------------


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


async def _queue(connection: Connection, notification: Notification) -> bool:
    """Put the notification in the outbox unless it is there; True when this call put it."""
    notification_id = await connection.fetchval(
        _INSERT_NOTIFICATION,
        notification.incident_id,
        notification.sequence,
        notification.kind.value,
        notification.recipient,
        notification.subject,
        notification.body,
        notification.created_at,
    )
    return notification_id is not None


async def _write_audit(connection: Connection, entry: AuditEntry) -> None:
    await connection.execute(
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


async def _erase_victim(
    connection: Connection, incident_id: str, victim_id: str, at: datetime, by: str
) -> None:
    await connection.execute(_DESTROY_VICTIM_KEY, incident_id, victim_id, at, by)
    await connection.execute(_ERASE_VICTIM_ROW, incident_id, victim_id, at, by)
    await connection.execute(_ERASE_SEALED_PAYLOADS, incident_id, victim_id)


def _link_reason(shared_facilities: Sequence[str], same_site: bool, same_supplier: bool) -> str:
    parts = []
    if shared_facilities:
        named = ", ".join(shared_facilities[:_FACILITIES_IN_REASON])
        more = len(shared_facilities) - _FACILITIES_IN_REASON
        parts.append(f"same facility {named}" + (f" and {more} more" if more > 0 else ""))
    if same_site:
        parts.append("same site")
    if same_supplier:
        parts.append("same supplier")
    reason = "; ".join(parts)
    return reason if len(reason) <= _REASON_MAX else reason[: _REASON_MAX - 1] + "…"


def _values(items: Sequence[str]) -> list[str]:
    # Enum members are str subclasses; the register stores their plain values.
    return [str(item) for item in items]


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _day(moment: datetime | date | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).date().isoformat()
    return moment.isoformat()


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _lesson_from(row: asyncpg.Record) -> LessonRecord:
    return LessonRecord.model_validate({name: row[name] for name in LessonRecord.model_fields})


# --- The closure report ---------------------------------------------------------------------


@dataclass(frozen=True)
class _ClosureFacts:
    """What the closure report may say: read column by column, so no personal data gets in."""

    incident: asyncpg.Record
    timeline: list[asyncpg.Record]
    actions: list[asyncpg.Record]
    check_ins: int
    approvals: list[asyncpg.Record]
    related: list[asyncpg.Record]
    generated_at: datetime


def _totals(actions: list[asyncpg.Record]) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"budget": Decimal(0), "spend": Decimal(0)}
    )
    for action in actions:
        totals[action["currency"]]["budget"] += action["budget_amount"]
        totals[action["currency"]]["spend"] += action["spend_to_date"]
    return dict(sorted(totals.items()))


def _report_json(facts: _ClosureFacts) -> dict[str, JsonValue]:
    incident = facts.incident
    approvals_by_status: dict[str, int] = defaultdict(int)
    for approval in facts.approvals:
        approvals_by_status[approval["status"]] += 1
    return {
        "incident_id": incident["incident_id"],
        "external_reference": incident["external_reference"],
        "generated_at": _instant(facts.generated_at),
        "received_on": _day(incident["received_at"]),
        "opened_on": _day(incident["opened_at"]),
        "country": incident["country"],
        "minerals": list(incident["minerals"]),
        "facility_ids": list(incident["facility_ids"]),
        "tier": incident["tier"],
        "harms_alleged": list(incident["alleged_harms"]),
        "severity": incident["severity"],
        "response_level": incident["response_level"],
        "relationship": incident["relationship"],
        # "relationship" is the relationship to the harm; this key says so (the business
        # relationship decided at step 2 is another thing).
        "relationship_to_harm": incident["relationship"],
        "timeline": [
            {"kind": event["kind"], "sequence": event["sequence"], "on": _day(event["occurred_at"])}
            for event in sorted(facts.timeline, key=lambda event: event["sequence"])
        ],
        "actions": [
            {
                "action_id": action["action_id"],
                "category": action["category"],
                "action_type": action["action_type"],
                "responsible_party": action["responsible_party"],
                "status": action["status"],
                "progress_percent": action["progress_percent"],
                "due_date": _day(action["due_date"]),
                "budget": _money(action["budget_amount"]),
                "spend_to_date": _money(action["spend_to_date"]),
                "currency": action["currency"],
                "completion_verified": action["verified"],
            }
            for action in facts.actions
        ],
        "totals_by_currency": {
            currency: {"budget": _money(sums["budget"]), "spend": _money(sums["spend"])}
            for currency, sums in _totals(facts.actions).items()
        },
        "check_ins": facts.check_ins,
        "approvals": {
            "by_status": dict(sorted(approvals_by_status.items())),
            "items": [
                {
                    "approval_id": approval["approval_id"],
                    "kind": approval["kind"],
                    "status": approval["status"],
                    "requested_on": _day(approval["requested_at"]),
                    "decided_on": _day(approval["decided_at"]),
                }
                for approval in facts.approvals
            ],
        },
        "closure": {
            "status": incident["case_status"],
            "reason": incident["closure_reason"],
            "closed_on": _day(incident["closed_at"]),
        },
        "related_incidents": [
            {"incident_id": link["related_incident_id"], "reason": link["reason"]}
            for link in facts.related
        ],
    }


def _cell(value: object) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        text = ", ".join(str(item) for item in value)
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _label(value: str | None) -> str | None:
    return None if value is None else value.replace("_", " ")


def _report_markdown(facts: _ClosureFacts) -> str:
    incident = facts.incident
    lines = [
        f"# Closure report — incident {incident['incident_id']}",
        "",
        f"Generated {_instant(facts.generated_at)}. This report holds no personal data; the case "
        "register has the full record for authorised readers.",
        "",
        "## Incident",
        "",
        *_table(
            ["Field", "Value"],
            [
                ["Incident", incident["incident_id"]],
                ["External reference", incident["external_reference"]],
                ["Received", _day(incident["received_at"])],
                ["Opened", _day(incident["opened_at"])],
                ["Country", incident["country"]],
                ["Minerals", list(incident["minerals"])],
                ["Facilities", list(incident["facility_ids"])],
                ["Supply-chain tier", _label(incident["tier"])],
                ["Harms alleged", [_label(h) for h in incident["alleged_harms"]]],
                ["Severity", incident["severity"]],
                ["Response level", _label(incident["response_level"])],
                ["Relationship to the harm", _label(incident["relationship"])],
            ],
        ),
        "",
        "## Timeline",
        "",
    ]
    timeline = sorted(facts.timeline, key=lambda event: event["sequence"])
    if timeline:
        lines += _table(
            ["Decision", "Date", "Event"],
            [[_label(e["kind"]), _day(e["occurred_at"]), e["sequence"]] for e in timeline],
        )
    else:
        lines.append("No decision took effect.")
    lines += ["", "## Actions", ""]
    if facts.actions:
        lines += _table(
            [
                "Action",
                "Category",
                "Type",
                "Responsible",
                "Status",
                "Progress",
                "Due",
                "Budget",
                "Spend",
                "Completion verified",
            ],
            [
                [
                    a["action_id"],
                    a["category"],
                    _label(a["action_type"]),
                    _label(a["responsible_party"]),
                    _label(a["status"]),
                    f"{a['progress_percent']} %",
                    _day(a["due_date"]),
                    f"{_money(a['budget_amount'])} {a['currency']}",
                    f"{_money(a['spend_to_date'])} {a['currency']}",
                    a["verified"],
                ]
                for a in facts.actions
            ],
        )
        lines += ["", "Totals by currency:", ""]
        lines += _table(
            ["Currency", "Budget", "Spend"],
            [
                [currency, _money(sums["budget"]), _money(sums["spend"])]
                for currency, sums in _totals(facts.actions).items()
            ],
        )
    else:
        lines.append("No actions were planned.")
    lines += ["", "## Monitoring", "", f"Check-ins recorded: {facts.check_ins}.", ""]
    lines += ["## Approvals", ""]
    if facts.approvals:
        lines += _table(
            ["Approval", "Decision", "Status", "Requested", "Decided"],
            [
                [
                    a["approval_id"],
                    _label(a["kind"]),
                    a["status"],
                    _day(a["requested_at"]),
                    _day(a["decided_at"]),
                ]
                for a in facts.approvals
            ],
        )
    else:
        lines.append("No approvals were requested.")
    lines += [
        "",
        "## Closure",
        "",
        *_table(
            ["Field", "Value"],
            [
                ["Case status", _label(incident["case_status"])],
                ["Closed", _day(incident["closed_at"])],
                ["Reason", incident["closure_reason"]],
            ],
        ),
        "",
        "## Related incidents",
        "",
    ]
    if facts.related:
        lines += _table(
            ["Incident", "Shared"],
            [[link["related_incident_id"], link["reason"]] for link in facts.related],
        )
    else:
        lines.append("None found.")
    return "\n".join(lines) + "\n"


# --- The activities -------------------------------------------------------------------------


class CaseRegister:
    """Reads and writes the case register; the pool is injected by the worker."""

    def __init__(self, pool: asyncpg.Pool, key_ring: KeyRing) -> None:
        self._pool = pool
        self._key_ring = key_ring

    def _seal_confidential(self, opening: IncidentOpening) -> tuple[dict[str, Any], str, bytes]:
        """The intake as stored: plain fields as JSON, the confidential ones sealed."""
        intake = opening.intake.model_dump(mode="json")
        confidential = {name: intake.pop(name) for name in sorted(CONFIDENTIAL_INTAKE_FIELDS)}
        key_id, sealed = self._key_ring.encrypt(
            json.dumps(confidential).encode(), opening.incident_id.encode()
        )
        return intake, key_id, sealed

    def open_confidential(self, incident_id: str, key_id: str, sealed: bytes) -> dict[str, Any]:
        """The reporter and description of an incident, for those holding the key ring."""
        opened: dict[str, Any] = json.loads(
            self._key_ring.decrypt(key_id, sealed, incident_id.encode())
        )
        return opened

    @activity.defn(name="open_incident")
    async def open_incident(self, opening: IncidentOpening) -> IncidentOpened:
        """Register the incident, link related incidents and audit the opening, at most once.

        A redelivered opening changes nothing and returns the links the first one made.
        """
        intake = opening.intake
        location = intake.location
        stored_intake, key_id, confidential = self._seal_confidential(opening)
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", _OPENING_LOCK_KEY)
                inserted = await connection.fetchval(
                    _INSERT_INCIDENT,
                    opening.incident_id,
                    intake.external_reference,
                    intake.received_at,
                    opening.opened_at,
                    intake.channel.value,
                    location.country,
                    location.region,
                    location.site_name,
                    location.site_type.value,
                    intake.tier.value,
                    _values(intake.minerals),
                    list(intake.facility_ids),
                    list(intake.suppliers),
                    _values(intake.alleged_harms),
                    intake.affected_persons_estimate,
                    intake.children_affected,
                    intake.migrants_affected,
                    intake.women_affected,
                    intake.imminent_danger,
                    opening.provisional_severity.value,
                    Step.VERIFICATION.value,
                    CaseStatus.ACTIVE.value,
                    opening.case_owner,
                    opening.policy_version,
                    stored_intake,
                    key_id,
                    confidential,
                    opening.run_lineage,
                    activity.info().workflow_run_id,
                )
                if inserted is None:
                    await self._same_run_or_refuse(connection, opening)
                    related = await self._links_made_by(connection, opening.incident_id)
                else:
                    related = await self._link_related(
                        connection,
                        opening.incident_id,
                        timedelta(days=opening.related_window_days),
                    )
                    await _write_audit(
                        connection,
                        AuditEntry(
                            entry_id=audit_entry_id(opening.incident_id, 0),
                            incident_id=opening.incident_id,
                            occurred_at=opening.opened_at,
                            actor=intake.opened_by,
                            action="incident.opened",
                            details={
                                "provisional_severity": opening.provisional_severity.value,
                                "policy_version": opening.policy_version,
                                "related_incidents": len(related),
                            },
                        ),
                    )
        except asyncpg.UniqueViolationError as error:
            # Only external_reference can collide here: incident_id conflicts are DO NOTHING.
            holder = await self._pool.fetchval(
                "SELECT incident_id FROM incidents WHERE external_reference = $1",
                intake.external_reference,
            )
            raise ApplicationError(
                f"the external reference of incident {opening.incident_id} already opened "
                f"incident {holder}",
                type="DuplicateExternalReference",
                non_retryable=True,
            ) from error
        log.info(
            "incident opened" if inserted is not None else "incident already opened",
            incident_id=opening.incident_id,
            related_incidents=len(related),
        )
        return IncidentOpened(related=related)

    @staticmethod
    async def _same_run_or_refuse(connection: Connection, opening: IncidentOpening) -> None:
        """An opening of a registered incident is its own run's retry, or refused."""
        row = await connection.fetchrow(_REGISTERED_RUN, opening.incident_id)
        assert row is not None  # the insert met it, under the opening lock
        if integrity.opening_refused(row["run_lineage"], opening.run_lineage):
            message = integrity.already_opened(
                opening.incident_id, row["step"], row["case_status"], row["opened_at"]
            )
            log.error(
                "second start of an incident refused",
                incident_id=opening.incident_id,
                run_lineage=opening.run_lineage,
                registered_lineage=row["run_lineage"],
            )
            raise ApplicationError(message, type=integrity.ALREADY_OPENED, non_retryable=True)

    async def _link_related(
        self, connection: Connection, incident_id: str, window: timedelta
    ) -> list[RelatedIncident]:
        candidates = await connection.fetch(_FIND_RELATED, incident_id, window)
        related = [
            RelatedIncident(
                incident_id=row["incident_id"],
                reason=_link_reason(
                    row["shared_facilities"], row["same_site"], row["same_supplier"]
                ),
            )
            for row in candidates
        ]
        links = [(incident_id, r.incident_id, r.reason, incident_id) for r in related]
        links += [(r.incident_id, incident_id, r.reason, incident_id) for r in related]
        if links:
            await connection.executemany(_INSERT_LINK, links)
        return related

    async def _links_made_by(
        self, connection: Connection, incident_id: str
    ) -> list[RelatedIncident]:
        rows = await connection.fetch(_LINKS_MADE_BY, incident_id)
        return [
            RelatedIncident(incident_id=row["related_incident_id"], reason=row["reason"])
            for row in rows
        ]

    @activity.defn(name="record_event")
    async def record_event(self, event: RegisterEvent) -> bool:
        """Record the event with everything it changes, in one transaction, at most once.

        Returns True when this call recorded it, False when the sequence was already recorded
        (then nothing is written).
        """
        return await self._record(event, [])

    @activity.defn(name="record_event_with_notifications")
    async def record_event_with_notifications(self, write: EventWithNotifications) -> bool:
        """`record_event`, queueing the event's notifications in the same transaction.

        Returns True when this call recorded them, False when the event was already recorded
        (then nothing is written: its notifications were queued with it).
        """
        return await self._record(write.event, write.notifications)

    async def _record(self, event: RegisterEvent, notifications: list[Notification]) -> bool:
        async with self._pool.acquire() as connection:
            stored, refusal = await self._write(connection, event, notifications)
            if refusal is not None:  # recorded outside the rolled-back write
                raise await integrity.refuse_write(
                    connection,
                    incident_id=event.incident_id,
                    sequence=event.sequence,
                    run_lineage=event.run_lineage,
                    event_kind=event.kind,
                    detail=refusal,
                )
        log.info(
            "event recorded" if stored else "event already recorded",
            incident_id=event.incident_id,
            sequence=event.sequence,
            kind=event.kind,
            notifications=len(notifications),
        )
        return stored

    async def _write(
        self, connection: Connection, event: RegisterEvent, notifications: list[Notification]
    ) -> tuple[bool, str | None]:
        """Write the event in one transaction: whether this call stored it, and why it was
        refused if it was (then nothing of it is written)."""
        async with connection.transaction():
            # Locking the incident row serialises concurrent writers of the same incident.
            lineage = await connection.fetchrow(
                "SELECT run_lineage FROM incidents WHERE incident_id = $1 FOR UPDATE",
                event.incident_id,
            )
            if lineage is None:
                raise _not_found(event.incident_id)
            if integrity.foreign_lineage(lineage["run_lineage"], event.run_lineage):
                return False, (
                    f"event {event.sequence} ({event.kind}) of {event.incident_id} comes from a "
                    f"run of lineage {event.run_lineage}, not the incident's "
                    f"{lineage['run_lineage']}: not recorded"
                )
            inserted = await connection.fetchval(
                _INSERT_EVENT,
                event.incident_id,
                event.sequence,
                event.kind,
                event.outcome.value,
                event.actor.id,
                [role.value for role in event.actor.roles],
                event.occurred_at,
                event.reason,
                event.summary,
                event.payload,
            )
            if inserted is None:
                return False, await self._same_event_or_refusal(connection, event)
            await self._apply_event(connection, event)
            for notification in notifications:
                await _queue(connection, notification)
            if lineage["run_lineage"] is None and event.run_lineage is not None:
                await connection.execute(_ADOPT_LINEAGE, event.incident_id, event.run_lineage)
            return True, None

    @staticmethod
    async def _same_event_or_refusal(connection: Connection, event: RegisterEvent) -> str | None:
        """None when the stored event under this sequence is this one (a retried write)."""
        row = await connection.fetchrow(_STORED_EVENT, event.incident_id, event.sequence)
        assert row is not None  # the insert met it, under the row lock
        stored = integrity.StoredEvent(
            row["kind"], row["outcome"], row["actor_id"], row["occurred_at"]
        )
        if integrity.same_event(
            stored, event.kind, event.outcome.value, event.actor.id, event.occurred_at
        ):
            return None
        return (
            f"event {event.sequence} of {event.incident_id} is already recorded as "
            f"{stored.kind} ({stored.outcome}) at {stored.occurred_at.isoformat()}; "
            f"this {event.kind} ({event.outcome.value}) was not recorded"
        )

    async def _apply_event(self, connection: Connection, event: RegisterEvent) -> None:
        snapshot = event.snapshot
        await connection.execute(
            _APPLY_SNAPSHOT,
            event.incident_id,
            event.sequence,
            snapshot.step.value,
            snapshot.case_status.value,
            snapshot.severity.value,
            None if snapshot.response_level is None else snapshot.response_level.value,
            None if snapshot.relationship is None else snapshot.relationship.value,
            snapshot.case_owner,
            snapshot.closed_at,
            snapshot.closure_reason,
            snapshot.escalation_level,
            snapshot.overdue,
            snapshot.next_deadline,
            activity.info().workflow_run_id,
        )
        if event.escalation is not None:
            escalation = event.escalation
            await connection.execute(
                _INSERT_ESCALATION,
                event.incident_id,
                event.sequence,
                escalation.milestone,
                escalation.milestone_kind,
                escalation.level,
                escalation.due_at,
                escalation.reached_at,
                event.occurred_at,
                escalation.cleared_because,
                None
                if escalation.late_by_seconds is None
                else timedelta(seconds=escalation.late_by_seconds),
                list(escalation.notified),
            )
        if event.approvals:
            await connection.executemany(
                _UPSERT_APPROVAL,
                [self._approval_row(event, approval) for approval in event.approvals],
            )
        if event.actions:
            await connection.executemany(
                _UPSERT_ACTION,
                [self._action_row(event, action) for action in event.actions],
            )
        if event.victim is not None:
            victim = event.victim
            sealed = victim.personal_data
            await connection.execute(
                _UPSERT_VICTIM,
                event.incident_id,
                victim.victim_id,
                victim.child,
                event.occurred_at,
                victim.recorded_by,
                event.sequence,
                None if sealed is None else base64.b64decode(sealed.ciphertext),
            )
        if event.erased_victim is not None:
            await _erase_victim(
                connection,
                event.incident_id,
                event.erased_victim,
                event.occurred_at,
                event.actor.id,
            )
        if event.check_in is not None:
            check_in = event.check_in
            await connection.execute(
                _INSERT_CHECK_IN,
                event.incident_id,
                event.sequence,
                check_in.period_start,
                check_in.period_end,
                check_in.submitted_by,
                check_in.actions_reported,
                None
                if check_in.victim_feedback is None
                else check_in.victim_feedback.model_dump(mode="json"),
                list(check_in.new_risks),
            )
        await _write_audit(
            connection,
            AuditEntry(
                entry_id=audit_entry_id(event.incident_id, event.sequence),
                incident_id=event.incident_id,
                occurred_at=event.occurred_at,
                actor=event.actor,
                action=audit_action(event.outcome, event.kind),
                reason=event.reason,
                details={
                    "sequence": event.sequence,
                    "outcome": event.outcome.value,
                    "summary": event.summary,
                },
            ),
        )

    @staticmethod
    def _approval_row(event: RegisterEvent, approval: ApprovalRecord) -> tuple[object, ...]:
        return (
            event.incident_id,
            approval.approval_id,
            approval.kind,
            approval.author_id,
            approval.requested_at,
            approval.due_at,
            approval.status.value,
            approval.decided_by,
            approval.decided_at,
            approval.comments,
            event.sequence,
        )

    @staticmethod
    def _action_row(event: RegisterEvent, action: ActionRecord) -> tuple[object, ...]:
        fields = action.model_dump(mode="python")
        values = [fields[name] for name in _ACTION_COLUMNS]
        # Enum members become their plain values; dates and decimals keep their types.
        return (
            event.incident_id,
            *(value.value if isinstance(value, Enum) else value for value in values),
            event.sequence,
        )

    @activity.defn(name="erasure_target")
    async def erasure_target(self, incident_id: str, victim_id: str) -> ErasureTarget:
        """What the register knows of an ended incident's victim, before erasing them."""
        incident = await self._pool.fetchrow(
            "SELECT case_owner, step FROM incidents WHERE incident_id = $1", incident_id
        )
        if incident is None:
            return ErasureTarget(incident_found=False)
        victim = await self._pool.fetchrow(
            "SELECT erased_at FROM victims WHERE incident_id = $1 AND victim_id = $2",
            incident_id,
            victim_id,
        )
        return ErasureTarget(
            incident_found=True,
            incident_completed=incident["step"] == Step.COMPLETED.value,
            case_owner=incident["case_owner"],
            victim_recorded=victim is not None,
            erased_at=None if victim is None else victim["erased_at"],
        )

    @activity.defn(name="erase_victim_record")
    async def erase_victim_record(self, record: ErasureRecord) -> bool:
        """Destroy the victim's data key and sealed data, and audit it, once (a redelivery
        finds the audit entry and changes nothing); True when this call erased."""
        entry_id = uuid.uuid5(AUDIT_NAMESPACE, f"{record.incident_id}:erasure:{record.victim_id}")
        async with self._pool.acquire() as connection, connection.transaction():
            done = await connection.fetchval(
                "SELECT true FROM audit_trail WHERE entry_id = $1", entry_id
            )
            if done:
                return False
            await _erase_victim(
                connection,
                record.incident_id,
                record.victim_id,
                record.erased_at,
                record.approved_by,
            )
            await _write_audit(
                connection,
                AuditEntry(
                    entry_id=entry_id,
                    incident_id=record.incident_id,
                    occurred_at=record.erased_at,
                    actor=Actor(id=record.approved_by, roles=(Role.APPROVER,)),
                    action="victim.erased",
                    reason=record.reason,
                    details={"victim_id": record.victim_id, "requested_by": record.requested_by},
                ),
            )
        log.info("victim erased", incident_id=record.incident_id, victim_id=record.victim_id)
        return True

    @activity.defn(name="queue_notification")
    async def queue_notification(self, notification: Notification) -> bool:
        """Queue the notification in the outbox once; True when this call queued it."""
        async with self._pool.acquire() as connection:
            queued = await _queue(connection, notification)
        log.info(
            "notification queued" if queued else "notification already queued",
            incident_id=notification.incident_id,
            sequence=notification.sequence,
            kind=notification.kind.value,
        )
        return queued

    @activity.defn(name="write_closure_report")
    async def write_closure_report(self, request: ClosureReportRequest) -> ClosureReport:
        """Render the closure report from the register (Markdown and JSON) and store it.

        The report is built only from columns that hold no personal data, so no intake text,
        reporter, victim id or free text of a decision can reach it.
        """
        incident_id = request.incident_id
        async with self._pool.acquire() as connection, connection.transaction():
            incident = await connection.fetchrow(_REPORT_INCIDENT, incident_id)
            if incident is None:
                raise _not_found(incident_id)
            facts = _ClosureFacts(
                incident=incident,
                timeline=await connection.fetch(_REPORT_TIMELINE, incident_id, _EFFECTIVE_OUTCOMES),
                actions=await connection.fetch(_REPORT_ACTIONS, incident_id),
                check_ins=await connection.fetchval(
                    "SELECT count(*) FROM check_ins WHERE incident_id = $1", incident_id
                ),
                approvals=await connection.fetch(_REPORT_APPROVALS, incident_id),
                related=await connection.fetch(_RELATED, incident_id),
                generated_at=request.generated_at,
            )
            report = ClosureReport(
                incident_id=incident_id,
                markdown=_report_markdown(facts),
                report=_report_json(facts),
                generated_at=request.generated_at,
            )
            await connection.execute(
                _UPSERT_CLOSURE_REPORT,
                incident_id,
                report.markdown,
                report.report,
                report.generated_at,
            )
        log.info("closure report written", incident_id=incident_id)
        return report

    @activity.defn(name="store_lessons")
    async def store_lessons(self, record: LessonRecord) -> bool:
        """Add the incident's lessons to the knowledge base once; True when this call did."""
        stored = await self._pool.fetchval(
            _INSERT_LESSONS,
            record.incident_id,
            record.recorded_at,
            _values(record.minerals),
            record.country,
            list(record.facility_ids),
            _values(record.harm_types),
            _values(record.root_causes),
            record.root_cause_notes,
            list(record.due_diligence_gaps),
            list(record.changes_made),
            record.supplier_engagement_outcome,
            record.shared_with_industry_programme,
            record.anonymised_summary,
        )
        log.info(
            "lessons stored" if stored is not None else "lessons already stored",
            incident_id=record.incident_id,
        )
        return stored is not None

    # --- Reads for the CLI, reports and tests (not activities) ------------------------------

    async def incident_row(self, incident_id: str) -> dict[str, Any] | None:
        """The incident's register row, intake included (personal data: do not log it)."""
        row = await self._pool.fetchrow(
            "SELECT * FROM incidents WHERE incident_id = $1", incident_id
        )
        return None if row is None else dict(row)

    async def events_for(self, incident_id: str) -> list[dict[str, Any]]:
        """The incident's events in order, payloads included (personal data: do not log them)."""
        rows = await self._pool.fetch(
            "SELECT * FROM incident_events WHERE incident_id = $1 ORDER BY sequence", incident_id
        )
        return [dict(row) for row in rows]

    async def actions_for(self, incident_id: str) -> list[ActionRecord]:
        """The incident's actions as last recorded, by action id."""
        rows = await self._pool.fetch(
            "SELECT * FROM actions WHERE incident_id = $1 ORDER BY action_id", incident_id
        )
        return [
            ActionRecord.model_validate({name: row[name] for name in _ACTION_COLUMNS})
            for row in rows
        ]

    async def related_for(self, incident_id: str) -> list[RelatedIncident]:
        """Every incident linked to this one, whichever opening found the link."""
        rows = await self._pool.fetch(_RELATED, incident_id)
        return [
            RelatedIncident(incident_id=row["related_incident_id"], reason=row["reason"])
            for row in rows
        ]

    async def closure_report(self, incident_id: str) -> ClosureReport | None:
        """The stored closure report, if one was written."""
        row = await self._pool.fetchrow(
            "SELECT * FROM closure_reports WHERE incident_id = $1", incident_id
        )
        if row is None:
            return None
        return ClosureReport(
            incident_id=row["incident_id"],
            markdown=row["markdown"],
            report=row["report"],
            generated_at=row["generated_at"],
        )

    async def find_lessons(
        self,
        *,
        mineral: str | None = None,
        country: str | None = None,
        facility_id: str | None = None,
        harm_type: str | None = None,
        root_cause: str | None = None,
    ) -> list[LessonRecord]:
        """Lessons matching every criterion given (none given: all), oldest first."""
        conditions: list[str] = []
        arguments: list[object] = []
        for column, value in (
            ("minerals", mineral),
            ("facility_ids", facility_id),
            ("harm_types", harm_type),
            ("root_causes", root_cause),
        ):
            if value is not None:
                arguments.append(str(value))
                # Containment (@>) rather than = ANY so that the GIN index serves the search.
                conditions.append(f"{column} @> ARRAY[${len(arguments)}::text]")
        if country is not None:
            arguments.append(country)
            conditions.append(f"country = ${len(arguments)}")
        where = " AND ".join(conditions) or "true"
        rows = await self._pool.fetch(
            f"SELECT * FROM lessons WHERE {where} ORDER BY recorded_at, incident_id", *arguments
        )
        return [_lesson_from(row) for row in rows]


def case_register_activities(register: CaseRegister) -> list[Callable[..., Any]]:
    """The register's activities, bound to it, for the worker to register."""
    return [
        register.open_incident,
        register.record_event,
        register.record_event_with_notifications,
        register.queue_notification,
        register.write_closure_report,
        register.store_lessons,
        register.erasure_target,
        register.erase_victim_record,
    ]
