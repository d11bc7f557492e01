"""The escalation ladder of DESIGN §5 as pure functions of a milestone's deadline and window.

At the deadline: level 1 (case owner reminded). After a grace of a quarter of the milestone's
window (at least one day): level 2 (human-rights lead). After another grace: level 3 (executive
sponsor; for critical incidents also the industry-programme contact when configured).
"""

from datetime import datetime, timedelta

MIN_GRACE = timedelta(days=1)
TOP_LEVEL = 3


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
