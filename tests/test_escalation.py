"""The escalation ladder's arithmetic (DESIGN §5)."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.escalation import escalation_time, grace, level_at, next_escalation

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
