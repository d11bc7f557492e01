"""The closure report of an incident: what was decided and done, rendered from the register as
Markdown for people and JSON for machines (docs/design.md, Closure criteria).

Only columns that hold no personal data are read: never the intake, event payloads, reasons or
free-text fields of decisions and actions.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
from pydantic import JsonValue

from activities import markdown
from activities.database import Connection
from schemas.register import ClosureReport, ClosureReportRequest, EventOutcome

# Outcomes after which a decision has taken effect; they make the closure report's timeline.
_EFFECTIVE_OUTCOMES = [EventOutcome.ACCEPTED.value, EventOutcome.APPROVED.value]


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
        return markdown.NOTHING
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return markdown.table(header, [[_cell(value) for value in row] for row in rows])


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


async def write_closure_report(
    connection: Connection, request: ClosureReportRequest
) -> ClosureReport | None:
    """Render and store the incident's closure report; None when the register has no incident
    of that id. A retry rewrites the same report; a later request replaces it."""
    incident_id = request.incident_id
    incident = await connection.fetchrow(_REPORT_INCIDENT, incident_id)
    if incident is None:
        return None
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
        _UPSERT_CLOSURE_REPORT, incident_id, report.markdown, report.report, report.generated_at
    )
    return report
