"""Reads of the case register that only tests make: whole rows, events with their payloads,
actions, links, the stored closure report, lessons, and the sealed part of an intake opened.

`ReadableRegister` is the engine's `CaseRegister` with these reads added.
"""

import json
from typing import Any

from activities.case_register import CaseRegister
from schemas.register import ActionRecord, ClosureReport, LessonRecord, RelatedIncident

_ACTION_COLUMNS = list(ActionRecord.model_fields)
_RELATED = """
SELECT related_incident_id, reason FROM related_incidents
WHERE incident_id = $1
ORDER BY related_incident_id
"""


class ReadableRegister(CaseRegister):
    def open_confidential(self, incident_id: str, key_id: str, sealed: bytes) -> dict[str, Any]:
        """The reporter and description of an incident, for those holding the key ring."""
        opened: dict[str, Any] = json.loads(
            self._key_ring.decrypt(key_id, sealed, incident_id.encode())
        )
        return opened

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
        return [
            LessonRecord.model_validate({name: row[name] for name in LessonRecord.model_fields})
            for row in rows
        ]
