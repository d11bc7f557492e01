"""Opening an incident in the register: its row (the intake with its confidential fields sealed),
the links to related incidents, and the opening's audit entry, written once.

Incidents received this close to each other are linked when they share a facility, site or
supplier (docs/design.md, The six steps).
"""

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import register_integrity as integrity
from activities.audit_entries import audit_entry_id, write_audit
from activities.database import Connection
from activities.sealing import Sealer
from schemas.audit import AuditEntry
from schemas.register import IncidentOpening, RelatedIncident
from schemas.vocabulary import CaseStatus, Step

log = structlog.get_logger(__name__)

# Incidents received this close to each other are linked when they share a facility, site or
# supplier (docs/design.md, The six steps: step 1). IncidentOpening carries no window of its own.
# Openings take this transaction-level advisory lock so that two incidents opened at the same
# moment still see each other and get linked. Openings are rare; serialising them costs nothing.
_OPENING_LOCK_KEY = 0x5245_4C41_5445_4421  # "RELATED!"


# Shared facilities named in a link's reason before the rest are counted ("and 3 more").
_FACILITIES_IN_REASON = 3


_REASON_MAX = 200


# The intake's fields that may identify people; sealed, never stored as plain JSON.
CONFIDENTIAL_INTAKE_FIELDS = frozenset({"reporter", "description"})


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


def plain_values(items: Sequence[str]) -> list[str]:
    # Enum members are str subclasses; the register stores their plain values.
    return [str(item) for item in items]


def seal_confidential(
    key_ring: Sealer, opening: IncidentOpening
) -> tuple[dict[str, Any], str, bytes]:
    """The intake as stored: plain fields as JSON, the confidential ones sealed."""
    intake = opening.intake.model_dump(mode="json")
    confidential = {name: intake.pop(name) for name in sorted(CONFIDENTIAL_INTAKE_FIELDS)}
    key_id, sealed = key_ring.encrypt(
        json.dumps(confidential).encode(), opening.incident_id.encode()
    )
    return intake, key_id, sealed


async def register_opening(
    connection: Connection, key_ring: Sealer, opening: IncidentOpening
) -> tuple[bool, list[RelatedIncident]]:
    """Register the incident, link related incidents and audit the opening, at most once, in the
    caller's transaction: whether this call registered it, and the links its opening made.

    A redelivered opening of the incident's own run changes nothing and returns the first
    opening's links; an opening of another run is refused (activities/register_integrity.py).
    """
    intake = opening.intake
    location = intake.location
    stored_intake, key_id, confidential = seal_confidential(key_ring, opening)
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
        plain_values(intake.minerals),
        list(intake.facility_ids),
        list(intake.suppliers),
        plain_values(intake.alleged_harms),
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
        await _same_run_or_refuse(connection, opening)
        related = await _links_made_by(connection, opening.incident_id)
    else:
        related = await _link_related(
            connection,
            opening.incident_id,
            timedelta(days=opening.related_window_days),
        )
        await write_audit(
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
    return inserted is not None, related


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
    connection: Connection, incident_id: str, window: timedelta
) -> list[RelatedIncident]:
    candidates = await connection.fetch(_FIND_RELATED, incident_id, window)
    related = [
        RelatedIncident(
            incident_id=row["incident_id"],
            reason=_link_reason(row["shared_facilities"], row["same_site"], row["same_supplier"]),
        )
        for row in candidates
    ]
    links = [(incident_id, r.incident_id, r.reason, incident_id) for r in related]
    links += [(r.incident_id, incident_id, r.reason, incident_id) for r in related]
    if links:
        await connection.executemany(_INSERT_LINK, links)
    return related


async def _links_made_by(connection: Connection, incident_id: str) -> list[RelatedIncident]:
    rows = await connection.fetch(_LINKS_MADE_BY, incident_id)
    return [
        RelatedIncident(incident_id=row["related_incident_id"], reason=row["reason"])
        for row in rows
    ]
