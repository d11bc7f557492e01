"""What a reminder or an escalation does to an incident, and what it tells whom (pure).

The deadline tracker in `workflows.incident` decides when (see `workflows.escalation`); these
functions change a draft of the incident's state for one reminder or one escalation change and
return the event to record: its summary, its notices and, for an escalation, the register's
record of it (docs/design.md, Escalation).
"""

from datetime import datetime, timedelta

from schemas.incident import Milestone
from schemas.incident_state import Escalation, IncidentState
from schemas.register import EscalationRecord, EventOutcome, NotificationKind
from schemas.vocabulary import Severity
from workflows.escalation import EscalationChange, escalation_time, recipients
from workflows.incident_state import open_milestones
from workflows.rules.outcome import Effect, Notice


def duration(span: timedelta) -> str:
    """A span as people read it in a notice: '2d 4h', '3h 15m'."""
    days, seconds = span.days, span.seconds
    if days:
        return f"{days}d {seconds // 3600}h"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def as_milestone(escalation: Escalation) -> Milestone:
    """The milestone an escalation is about, as when it was escalated."""
    return Milestone(
        milestone=escalation.milestone,
        kind=escalation.kind,
        due_at=escalation.due_at,
        window=escalation.window,
        extended=False,
    )


def _recorded(summary: str, notices: list[Notice]) -> Effect:
    return Effect(outcome=EventOutcome.RECORDED, summary=summary, message=summary, notices=notices)


def remind(draft: IncidentState, milestone: Milestone, now: datetime) -> Effect:
    """Remind the case owner of `milestone`; the draft remembers it (and forgets reminders of
    milestones no longer open)."""
    still_open = {m.milestone for m in open_milestones(draft)}
    draft.reminded = {name: due for name, due in draft.reminded.items() if name in still_open}
    draft.reminded[milestone.milestone] = milestone.due_at
    left = duration(milestone.due_at - now)
    due = f"{milestone.due_at:%Y-%m-%d %H:%M} UTC"
    summary = f"{milestone.milestone} due {due}, in {left}: case owner reminded"
    notice = Notice(
        NotificationKind.DEADLINE_REMINDER,
        draft.case_owner or "case_owners",
        f"Due in {left}: {milestone.milestone} on {draft.incident_id}",
        f"{milestone.milestone} of {draft.incident_id} is due {due}; it escalates if missed.",
    )
    return _recorded(summary, [notice])


def escalate(
    draft: IncidentState, change: EscalationChange, now: datetime
) -> tuple[Effect, EscalationRecord]:
    """Record an escalation reaching `change.level`, or cleared (level 0), in the draft; who is
    told at each level reached is the policy's escalation ladder."""
    milestone = change.milestone
    previous = draft.escalations.get(milestone.milestone)
    if change.level == 0:
        draft.escalations.pop(milestone.milestone, None)
        told = previous.notified if previous else []
        late = change.late_by
        lateness = f", {duration(late)} late" if late else ""
        summary = f"{milestone.milestone} escalation cleared ({change.cleared_because}{lateness})"
        notices = [
            Notice(
                NotificationKind.ESCALATION_CLEARED,
                recipient,
                f"Cleared: {milestone.milestone} on {draft.incident_id}",
                f"{milestone.milestone} is no longer overdue ({change.cleared_because}).",
            )
            for recipient in told
        ]
    else:
        already = previous.level if previous else 0
        told = []
        for level in range(already + 1, change.level + 1):
            told += recipients(
                level,
                draft.case_owner,
                draft.policy.escalation,
                critical=draft.severity == Severity.CRITICAL,
            )
        draft.escalations[milestone.milestone] = Escalation(
            milestone=milestone.milestone,
            kind=milestone.kind,
            level=change.level,
            due_at=milestone.due_at,
            window=milestone.window,
            overdue_since=previous.overdue_since if previous else now,
            notified=[*(previous.notified if previous else []), *told],
        )
        summary = (
            f"{milestone.milestone} overdue since {milestone.due_at:%Y-%m-%d %H:%M} UTC: "
            f"escalated to level {change.level}"
        )
        notices = [
            Notice(
                NotificationKind.ESCALATION,
                recipient,
                f"Overdue (level {change.level}): {milestone.milestone} on {draft.incident_id}",
                f"{milestone.milestone} of {draft.incident_id} was due "
                f"{milestone.due_at:%Y-%m-%d %H:%M} UTC and is overdue; escalation level "
                f"{change.level}.",
            )
            for recipient in told
        ]
    record = EscalationRecord(
        milestone=milestone.milestone,
        milestone_kind=str(milestone.kind),
        level=change.level,
        due_at=milestone.due_at,
        reached_at=now
        if change.level == 0
        else escalation_time(milestone.due_at, milestone.window, change.level),
        cleared_because=change.cleared_because,
        late_by_seconds=None if change.late_by is None else int(change.late_by.total_seconds()),
        notified=told,
    )
    return _recorded(summary, notices), record
