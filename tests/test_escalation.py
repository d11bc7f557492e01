"""The escalation ladder's arithmetic (docs/design.md, Escalation ladder)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from schemas.incident import Milestone
from schemas.policy import EscalationContacts, MilestoneKind
from workflows.escalation import (
    escalation_time,
    grace,
    level_at,
    next_escalation,
    next_wakeup,
    plan_escalations,
    recipients,
    reminder_time,
    reminders_due,
)

DUE = datetime(2026, 12, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (7 * DAY, timedelta(days=1, hours=18)),  # critical verification: a quarter of 7 days
        (30 * DAY, timedelta(days=7, hours=12)),
        (DAY, DAY),  # a quarter of a day is less than the one-day minimum
        (2 * DAY, DAY),
        (4 * DAY, DAY),
    ],
)
def test_grace_is_a_quarter_of_the_window_and_at_least_a_day(
    window: timedelta, expected: timedelta
) -> None:
    assert grace(window) == expected


def test_levels_come_at_the_deadline_then_one_grace_apart() -> None:
    window = 7 * DAY
    assert escalation_time(DUE, window, 1) == DUE
    assert escalation_time(DUE, window, 2) == DUE + timedelta(days=1, hours=18)
    assert escalation_time(DUE, window, 3) == DUE + timedelta(days=3, hours=12)
    with pytest.raises(ValueError, match="from 1 to 3"):
        escalation_time(DUE, window, 4)


@pytest.mark.parametrize(
    ("offset", "level"),
    [
        (-timedelta(seconds=1), 0),
        (timedelta(0), 1),
        (timedelta(days=1, hours=17, minutes=59), 1),
        (timedelta(days=1, hours=18), 2),
        (timedelta(days=3, hours=12), 3),
        (timedelta(days=400), 3),
    ],
)
def test_level_at_a_moment(offset: timedelta, level: int) -> None:
    assert level_at(DUE, 7 * DAY, DUE + offset) == level


def test_next_escalation_until_the_top_of_the_ladder() -> None:
    window = 7 * DAY
    assert next_escalation(DUE, window, DUE - DAY) == DUE
    assert next_escalation(DUE, window, DUE) == DUE + timedelta(days=1, hours=18)
    assert next_escalation(DUE, window, DUE + 2 * DAY) == DUE + timedelta(days=3, hours=12)
    assert next_escalation(DUE, window, DUE + 4 * DAY) is None


def milestone(
    name: str, due: datetime, *, window: timedelta = 7 * DAY, extended: bool = False
) -> Milestone:
    return Milestone(
        milestone=name,
        kind=MilestoneKind.VERIFICATION,
        due_at=due,
        window=window,
        extended=extended,
    )


@dataclass
class Recorded:
    kind: MilestoneKind
    level: int
    due_at: datetime
    window: timedelta


def test_plan_raises_only_above_the_recorded_level() -> None:
    open_now = [milestone("verification", DUE)]
    changes = plan_escalations({}, open_now, DUE + 2 * DAY)
    assert [(c.milestone.milestone, c.level) for c in changes] == [("verification", 2)]
    recorded = {"verification": Recorded(MilestoneKind.VERIFICATION, 2, DUE, 7 * DAY)}
    assert plan_escalations(recorded, open_now, DUE + 2 * DAY) == []


def test_plan_clears_a_met_milestone_with_how_late_it_was() -> None:
    recorded = {"verification": Recorded(MilestoneKind.VERIFICATION, 1, DUE, 7 * DAY)}
    [change] = plan_escalations(recorded, [], DUE + timedelta(hours=5))
    assert (change.level, change.cleared_because, change.late_by) == (0, "met", timedelta(hours=5))


def test_plan_treats_a_recurring_milestone_with_a_new_deadline_as_met() -> None:
    recorded = {"check_in": Recorded(MilestoneKind.CHECK_IN, 1, DUE, 14 * DAY)}
    next_one = milestone("check_in", DUE + 14 * DAY, window=14 * DAY)
    [change] = plan_escalations(recorded, [next_one], DUE + DAY)
    assert (change.level, change.cleared_because) == (0, "met")


def test_plan_clears_an_extended_milestone_and_escalates_it_again_later() -> None:
    recorded = {"verification": Recorded(MilestoneKind.VERIFICATION, 1, DUE, 7 * DAY)}
    moved = milestone("verification", DUE + 10 * DAY, extended=True)
    [change] = plan_escalations(recorded, [moved], DUE + DAY)
    assert (change.level, change.cleared_because) == (0, "extended")
    [again] = plan_escalations({}, [moved], DUE + 10 * DAY)
    assert again.level == 1


def test_next_wakeup_is_the_earliest_escalation_of_any_milestone() -> None:
    soon = milestone("acknowledge", DUE + DAY)
    later = milestone("verification", DUE + 5 * DAY)
    assert next_wakeup([later, soon], DUE) == (DUE + DAY, "escalation of acknowledge")
    assert next_wakeup([], DUE) is None


@pytest.mark.parametrize(
    ("level", "case_owner", "critical", "told"),
    [
        (1, "owner.lucas", False, ["owner.lucas"]),  # after a reassign, the new owner
        (1, None, False, ["case_owners"]),
        (2, "owner.lucas", True, ["hr.lead"]),
        (3, "owner.lucas", False, ["cso"]),
        (3, "owner.lucas", True, ["cso", "rmi.contact"]),
    ],
)
def test_who_is_told_at_each_level(
    level: int, case_owner: str | None, critical: bool, told: list[str]
) -> None:
    contacts = EscalationContacts(
        human_rights_lead="hr.lead",
        executive_sponsor="cso",
        industry_programme_contact="rmi.contact",
    )
    assert recipients(level, case_owner, contacts, critical=critical) == told


@pytest.mark.parametrize(
    ("window", "lead"),
    [
        (7 * DAY, timedelta(days=1, hours=9, minutes=36)),  # a fifth of a week
        (DAY, timedelta(hours=4, minutes=48)),
        (30 * DAY, 6 * DAY),
        (180 * DAY, 7 * DAY),  # never more than a week ahead
        (timedelta(0), timedelta(0)),
    ],
)
def test_the_reminder_comes_a_fifth_of_the_window_ahead_at_most_a_week(
    window: timedelta, lead: timedelta
) -> None:
    assert reminder_time(DUE, window) == DUE - lead


def test_a_milestone_is_reminded_once_per_deadline_and_never_once_overdue() -> None:
    verification = milestone("verification", DUE)
    remind_at = reminder_time(DUE, 7 * DAY)
    assert reminders_due([verification], {}, remind_at - timedelta(seconds=1)) == []
    assert reminders_due([verification], {}, remind_at) == [verification]
    assert reminders_due([verification], {"verification": DUE}, remind_at) == []
    assert reminders_due([verification], {}, DUE) == []  # overdue: the ladder takes over
    extended = milestone("verification", DUE + 3 * DAY, extended=True)
    assert reminders_due([extended], {"verification": DUE}, DUE + 2 * DAY) == [extended]


def test_next_wakeup_includes_reminders_only_where_they_are_on() -> None:
    verification = milestone("verification", DUE)
    remind_at = reminder_time(DUE, 7 * DAY)
    before = remind_at - DAY
    assert next_wakeup([verification], before) == (DUE, "escalation of verification")
    assert next_wakeup([verification], before, {}) == (remind_at, "reminder of verification")
    reminded = {"verification": DUE}
    assert next_wakeup([verification], remind_at, reminded) == (
        DUE,
        "escalation of verification",
    )
    # No reminder for a milestone with no time before its deadline (an action due at once).
    instant = milestone("action:A1", DUE, window=timedelta(0))
    assert next_wakeup([instant], DUE - DAY, {}) == (DUE, "escalation of action:A1")
