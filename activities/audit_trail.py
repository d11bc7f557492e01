"""Verification of the append-only audit trail of the case register.

Entries are written with the events they audit (activities/audit_entries.py).

The trail is a hash chain per incident (migration 0005): the database hashes every row as it is
inserted and links it to the previous row of the same incident. `verify_chain` recomputes the
hashes with the same SQL function, so the encoding lives in one place only.
"""

from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from uuid import UUID

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, computed_field

log = structlog.get_logger(__name__)

# --- verification of the hash chain ----------------------------------------------------------


class ChainFailure(StrEnum):
    """Which check a row failed."""

    CONTENT_CHANGED = "content_changed"
    LINK_BROKEN = "link_broken"

    @property
    def description(self) -> str:
        if self is ChainFailure.CONTENT_CHANGED:
            # The recomputed hash differs from the stored one: the row or its hash was altered.
            return "content changed"
        # The row is intact but does not follow the row before it: one was removed or moved.
        return "link broken (previous row missing or changed)"


class BrokenLink(BaseModel):
    """The first row of an incident whose chain does not hold."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    sequence: int
    entry_id: UUID
    failure: ChainFailure


class ChainReport(BaseModel):
    """What `verify_chain` checked and the first broken link of each broken incident."""

    model_config = ConfigDict(frozen=True)

    incidents_checked: int
    rows_checked: int
    broken: list[BrokenLink]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return not self.broken


# One page of incidents is checked per statement: each incident's rows in sequence order, the
# content check (stored hash against the recomputed one) and the link check (previous_hash
# against the row_hash of the row before it), reduced in SQL to one row per incident.
_CHECK_INCIDENTS = """
WITH checked AS (
    SELECT
        entry.incident_id,
        entry.sequence,
        entry.entry_id,
        entry.row_hash IS NOT DISTINCT FROM audit_trail_row_hash(entry) AS content_ok,
        entry.previous_hash IS NOT DISTINCT FROM
            lag(entry.row_hash) OVER (PARTITION BY entry.incident_id ORDER BY entry.sequence)
            AS link_ok
    FROM audit_trail AS entry
    WHERE entry.incident_id = ANY($1::text[])
),
first_broken AS (
    SELECT DISTINCT ON (incident_id) incident_id, sequence, entry_id, content_ok
    FROM checked
    WHERE NOT (content_ok AND link_ok)
    ORDER BY incident_id, sequence
)
SELECT
    incident_id,
    counted.row_count,
    first_broken.sequence,
    first_broken.entry_id,
    first_broken.content_ok
FROM (SELECT incident_id, count(*) AS row_count FROM checked GROUP BY incident_id) AS counted
LEFT JOIN first_broken USING (incident_id)
ORDER BY incident_id
"""

# Keyset pagination over the trail's incidents, served by the (incident_id, sequence) index.
_NEXT_INCIDENTS = """
SELECT DISTINCT incident_id FROM audit_trail
WHERE $1::text IS NULL OR incident_id > $1
ORDER BY incident_id
LIMIT $2
"""

Progress = Callable[[int, int], None]
"""Called after each page with the incidents and rows checked so far."""


async def _pages(
    pool: asyncpg.Pool, incident_id: str | None, page_size: int
) -> AsyncIterator[list[str]]:
    if incident_id is not None:
        yield [incident_id]
        return
    after: str | None = None
    while page := [r["incident_id"] for r in await pool.fetch(_NEXT_INCIDENTS, after, page_size)]:
        yield page
        after = page[-1]


async def verify_chain(
    pool: asyncpg.Pool,
    incident_id: str | None,
    *,
    progress: Progress | None = None,
    page_size: int = 500,
) -> ChainReport:
    """Check the chain of one incident, or of every incident when `incident_id` is None.

    Incidents are checked a page at a time, so memory stays bounded however long the trail is;
    each incident is checked in one statement, so rows recorded meanwhile never look broken.
    """
    incidents = rows = 0
    broken: list[BrokenLink] = []
    async for page in _pages(pool, incident_id, page_size):
        for result in await pool.fetch(_CHECK_INCIDENTS, page):
            incidents += 1
            rows += result["row_count"]
            if result["sequence"] is not None:
                broken.append(
                    BrokenLink(
                        incident_id=result["incident_id"],
                        sequence=result["sequence"],
                        entry_id=result["entry_id"],
                        failure=ChainFailure.LINK_BROKEN
                        if result["content_ok"]
                        else ChainFailure.CONTENT_CHANGED,
                    )
                )
        if progress is not None:
            progress(incidents, rows)
    return ChainReport(incidents_checked=incidents, rows_checked=rows, broken=broken)
