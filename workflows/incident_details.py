"""What operators read in the Temporal UI: the static summary and the current details (Markdown).

Both pass through the payload codec but stay readable in the UI, so they carry case metadata
only: never a description, a reporter, a victim id or any free text a person typed.
"""

from datetime import UTC, datetime

from schemas.incident_state import IncidentState
from schemas.intake import Intake
from schemas.vocabulary import STEP_NUMBERS, Step
from workflows.awaiting import AwaitedItem
from workflows.incident_state import awaited_items, open_milestones


def static_summary(intake: Intake) -> str:
    """One line set when the workflow starts, e.g. 'gold · CD · mine_site · forced_labour'."""
    minerals = ", ".join(intake.minerals)
    harms = ", ".join(intake.alleged_harms)
    return f"{minerals} · {intake.location.country} · {intake.tier} · {harms}"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "no deadline"


def _who(item: AwaitedItem) -> str:
    role = item.role
    if role is None:
        return item.awaited_from
    someone = f"an {role}" if role[0] in "aeiou" else f"a {role}"
    return someone.replace("_", " ")


def _awaited_line(state: IncidentState, item: AwaitedItem) -> str:
    """One awaited decision: what, from whom (never an approval's author), by when."""
    if item.approval_id is None:
        return f"- `{item.kind}` from {_who(item)}, by {_when(item.due_at)}"
    pending = state.approvals[item.approval_id]
    return (
        f"- approval `{item.approval_id}` ({pending.summary}) from {_who(item)} other than "
        f"{item.not_from}, by {_when(item.due_at)}"
    )


def current_details(state: IncidentState) -> str:
    """Where the case stands and what is awaited from whom, by when."""
    if state.step == Step.COMPLETED:
        heading = f"**Completed** — {state.case_status}"
        reason = f" ({state.closure_reason})" if state.closure_reason else ""
        return f"{heading}{reason}\n\nSeverity {state.severity}."
    if state.step == Step.FOLLOW_UP:
        heading = "**Post-closure follow-up** (the six steps are done)"
    else:
        heading = f"**Step {STEP_NUMBERS[state.step]} of 6: {state.step.replace('_', ' ')}**"
    lines = [
        heading,
        "",
        f"- Severity: {state.severity}{'' if state.severity_confirmed else ' (provisional)'}",
        f"- Response level: {state.response.level if state.response else '—'}",
        "- Business relationship: "
        + (state.response.business_relationship if state.response else "—"),
        f"- Case owner: {state.case_owner or 'unassigned'}",
    ]
    if state.escalations:
        top = max(e.level for e in state.escalations.values())
        lines += ["", f"**Overdue — escalation level {top}**", ""]
        for escalation in state.escalations.values():
            lines.append(
                f"- `{escalation.milestone}` was due {_when(escalation.due_at)}, overdue since "
                f"{_when(escalation.overdue_since)}; level {escalation.level}; told "
                f"{', '.join(escalation.notified)}"
            )
    awaited = awaited_items(state, open_milestones(state))
    if awaited:
        lines += ["", "**Awaiting**", ""]
        for item in sorted(awaited, key=lambda i: (i.due_at is None, i.due_at or state.opened_at)):
            lines.append(_awaited_line(state, item))
    if state.returned:
        lines += ["", "**Returned for revision**", ""]
        for returned in state.returned:
            lines.append(f"- `{returned.approval_id}` back with {returned.author}")
    if state.actions:
        done = sum(1 for a in state.actions.values() if a.resolved)
        lines += ["", f"Actions: {done} of {len(state.actions)} resolved."]
    return "\n".join(lines)
