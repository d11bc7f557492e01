"""The escalation ladder as pure functions of a milestone's deadline and window.

The ladder is stated in docs/design.md, Escalation ladder.

At the deadline: level 1 (case owner reminded). After a grace of a quarter of the milestone's
window (at least one day): level 2 (human-rights lead). After another grace: level 3 (executive
sponsor; for critical incidents also the industry-programme contact when configured).

Before the deadline: one reminder to the case owner, a fifth of the window ahead (at most a week),
so that a milestone can be met rather than escalated.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from schemas.incident import Milestone
from schemas.policy import EscalationContacts, MilestoneKind

ZERO = timedelta(0)
MIN_GRACE = timedelta(days=1)
TOP_LEVEL = 3
MAX_REMINDER_LEAD = timedelta(days=7)


def grace(window: timedelta) -> timedelta:
    """A quarter of the milestone's window, at least a day."""
    return max(window / 4, MIN_GRACE)


def escalation_time(due_at: datetime, window: timedelta, level: int) -> datetime:
    """When the milestone reaches `level` (1 at the deadline, then one grace per level)."""
    if not 1 <= level <= TOP_LEVEL:
        raise ValueError(f"escalation levels run from 1 to {TOP_LEVEL}, not {level}")
    return due_at + grace(window) * (level - 1)


def level_at(due_at: datetime, window: timedelta, now: datetime) -> int:
    """The level a milestone has reached at `now`: 0 before its deadline."""
    level = 0
    for candidate in range(1, TOP_LEVEL + 1):
        if now >= escalation_time(due_at, window, candidate):
            level = candidate
    return level


def next_escalation(due_at: datetime, window: timedelta, now: datetime) -> datetime | None:
    """The next time the milestone escalates after `now`, or None at the top of the ladder."""
    level = level_at(due_at, window, now)
    return None if level == TOP_LEVEL else escalation_time(due_at, window, level + 1)


@dataclass(frozen=True)
class EscalationChange:
    """What the deadline tracker must record now for one milestone."""

    milestone: Milestone
    level: int  # the level reached; 0 when the escalation clears
    cleared_because: str | None = None  # "met" or "extended"
    late_by: timedelta | None = None


def plan_escalations(
    escalations: Mapping[str, "EscalationLike"], milestones: list[Milestone], now: datetime
) -> list[EscalationChange]:
    """Clear escalations whose milestone was met or extended, then raise every open milestone
    whose level at `now` is above the level already recorded."""
    open_now = {m.milestone: m for m in milestones}
    changes: list[EscalationChange] = []
    still_escalated: dict[str, int] = {}
    for name, escalation in escalations.items():
        current = open_now.get(name)
        if current is None or (current.due_at != escalation.due_at and not current.extended):
            # Met: gone, or a recurring milestone (check-in) that started its next occurrence.
            met = Milestone(
                milestone=name,
                kind=escalation.kind,
                due_at=escalation.due_at,
                window=escalation.window,
                extended=False,
            )
            changes.append(EscalationChange(met, 0, "met", max(now - escalation.due_at, ZERO)))
        elif (
            current.due_at != escalation.due_at
            and level_at(current.due_at, current.window, now) < escalation.level
        ):
            changes.append(EscalationChange(current, 0, "extended"))
        else:
            still_escalated[name] = escalation.level
    for milestone in milestones:
        level = level_at(milestone.due_at, milestone.window, now)
        if level > still_escalated.get(milestone.milestone, 0):
            changes.append(EscalationChange(milestone, level))
    return changes


def reminder_time(due_at: datetime, window: timedelta) -> datetime:
    """When the case owner is reminded of a milestone: a fifth of its window before the
    deadline, at most a week before."""
    return due_at - min(window / 5, MAX_REMINDER_LEAD)


def reminders_due(
    milestones: list[Milestone], reminded: Mapping[str, datetime], now: datetime
) -> list[Milestone]:
    """Milestones whose reminder time has come and whose deadline has not, not yet reminded for
    this deadline (`reminded` maps a milestone to the deadline it was reminded of)."""
    return [
        m
        for m in milestones
        if reminder_time(m.due_at, m.window) <= now < m.due_at
        and reminded.get(m.milestone) != m.due_at
    ]


def next_wakeup(
    milestones: list[Milestone],
    now: datetime,
    reminded: Mapping[str, datetime] | None = None,
) -> tuple[datetime, str] | None:
    """The earliest moment any open milestone escalates, or is to be reminded of when
    `reminded` is given (incidents started before reminders existed pass None), and what
    happens then ("escalation of <milestone>" or "reminder of <milestone>")."""
    upcoming = [
        (when, f"escalation of {m.milestone}")
        for m in milestones
        if (when := next_escalation(m.due_at, m.window, now)) is not None
    ]
    if reminded is not None:
        upcoming += [
            (at, f"reminder of {m.milestone}")
            for m in milestones
            if reminded.get(m.milestone) != m.due_at
            and now < (at := reminder_time(m.due_at, m.window)) < m.due_at
        ]
    return min(upcoming) if upcoming else None


def recipients(
    level: int, case_owner: str | None, contacts: EscalationContacts, *, critical: bool
) -> list[str]:
    """Who is told when a milestone reaches `level`."""
    if level == 1:
        return [case_owner or "case_owners"]
    if level == 2:
        return [contacts.human_rights_lead]
    told = [contacts.executive_sponsor]
    if critical and contacts.industry_programme_contact:
        told.append(contacts.industry_programme_contact)
    return told


class EscalationLike(Protocol):
    kind: MilestoneKind
    level: int
    due_at: datetime
    window: timedelta
