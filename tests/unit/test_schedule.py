"""Guardrail time windows: the cron dialect they start on, and which instants they contain.

All instants are fixed UTC datetimes around the week of 2026-11-28, a Saturday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onduty.domain.schedule import Cron, ScheduleError, Window


def utc(day: int, hour: int = 0, minute: int = 0, second: int = 0, *, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# The days of the week in question, by name, so each table row reads as a sentence.
THU, FRI, SAT, SUN, MON, TUE = 26, 27, 28, 29, 30, 1  # TUE is 2026-12-01
ALL_DAYS = frozenset(range(1, 32))
ALL_MONTHS = frozenset(range(1, 13))


# --- parsing: the sets each field stands for -----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field", "values"),
    [
        pytest.param("30 2 * * *", "minutes", {30}, id="single-minute"),
        pytest.param("30 2 * * *", "hours", {2}, id="single-hour"),
        pytest.param("30 2 * * *", "days", ALL_DAYS, id="star-day-of-month-is-every-day"),
        pytest.param("30 2 * * *", "months", ALL_MONTHS, id="star-month-is-every-month"),
        pytest.param("0,15,45 * * * *", "minutes", {0, 15, 45}, id="list"),
        pytest.param("* 9-17 * * *", "hours", set(range(9, 18)), id="range-includes-both-ends"),
        pytest.param("*/15 * * * *", "minutes", {0, 15, 30, 45}, id="star-step"),
        pytest.param("0-30/10 * * * *", "minutes", {0, 10, 20, 30}, id="range-step"),
        pytest.param("5/20 * * * *", "minutes", {5, 25, 45}, id="start-step-runs-to-the-field-maximum"),
        pytest.param("* * 1,15-17 * *", "days", {1, 15, 16, 17}, id="list-of-value-and-range"),
        pytest.param("* * * 1-12/3 *", "months", {1, 4, 7, 10}, id="month-step"),
        pytest.param("* * * * 1-5", "weekdays", {1, 2, 3, 4, 5}, id="weekday-range"),
    ],
)
def test_each_cron_field_stands_for_the_values_the_standard_dialect_gives_it(
    expression: str, field: str, values: set[int]
) -> None:
    cron = Cron.parse(expression)

    assert getattr(cron, field) == frozenset(values)


@pytest.mark.parametrize(
    ("expression", "days_restricted", "weekdays_restricted"),
    [
        ("0 2 * * *", False, False),
        ("0 2 1 * *", True, False),
        ("0 2 * * 1", False, True),
        ("0 2 1,15 * 1-5", True, True),
    ],
)
def test_a_day_field_counts_as_restricted_unless_it_is_a_star(
    expression: str, days_restricted: bool, weekdays_restricted: bool
) -> None:
    cron = Cron.parse(expression)

    assert (cron.days_restricted, cron.weekdays_restricted) == (days_restricted, weekdays_restricted)


# --- matching: minutes, days of the week, and the Vixie rule ---------------------------------


@pytest.mark.parametrize(
    ("expression", "moment", "matches"),
    [
        pytest.param("30 2 * * *", utc(SAT, 2, 30), True, id="exact-minute"),
        pytest.param("30 2 * * *", utc(SAT, 2, 30, 59), True, id="any-second-of-the-minute"),
        pytest.param("30 2 * * *", utc(SAT, 2, 31), False, id="next-minute"),
        pytest.param("30 2 * * *", utc(SAT, 14, 30), False, id="other-hour"),
        pytest.param("*/15 * * * *", utc(SAT, 7, 45), True, id="every-15-minutes-at-45"),
        pytest.param("*/15 * * * *", utc(SAT, 7, 50), False, id="every-15-minutes-not-at-50"),
        pytest.param("0 0 * 12 *", utc(TUE, month=12), True, id="month-matches"),
        pytest.param("0 0 * 12 *", utc(SUN), False, id="month-does-not-match"),
        pytest.param("0 2 * * 6", utc(SAT, 2), True, id="six-is-saturday"),
        pytest.param("0 2 * * 6", utc(FRI, 2), False, id="six-is-not-friday"),
        pytest.param("0 2 * * 1", utc(MON, 2), True, id="one-is-monday"),
        pytest.param("0 2 * * 0", utc(SUN, 2), True, id="zero-is-sunday"),
        pytest.param("0 2 * * 7", utc(SUN, 2), True, id="seven-is-sunday"),
        pytest.param("0 2 * * 0", utc(SAT, 2), False, id="zero-is-not-saturday"),
        pytest.param("0 2 * * 7", utc(MON, 2), False, id="seven-is-not-monday"),
        pytest.param("0 2 * * 0-6", utc(SUN, 2), True, id="range-from-zero-includes-sunday"),
        pytest.param("0 2 * * 1-7", utc(SUN, 2), True, id="range-to-seven-includes-sunday"),
        pytest.param("0 2 * * 0,3", utc(SUN, 2), True, id="list-with-zero-includes-sunday"),
        pytest.param("0 2 * * 1-5", utc(SUN, 2), False, id="weekdays-exclude-sunday"),
        # Vixie cron: both day fields restricted -> either may match.
        pytest.param("0 0 1 * 1", utc(TUE, month=12), True, id="both-restricted-day-of-month-alone-matches"),
        pytest.param("0 0 1 * 1", utc(MON), True, id="both-restricted-day-of-week-alone-matches"),
        pytest.param("0 0 1 * 1", utc(SUN), False, id="both-restricted-neither-matches"),
        # Only one restricted -> that one decides (the star matches every day).
        pytest.param("0 0 1 * *", utc(TUE, month=12), True, id="only-day-of-month-on-the-1st"),
        pytest.param("0 0 1 * *", utc(MON), False, id="only-day-of-month-not-on-a-monday"),
        pytest.param("0 0 * * 1", utc(MON), True, id="only-day-of-week-on-a-monday"),
        pytest.param("0 0 * * 1", utc(TUE, month=12), False, id="only-day-of-week-not-on-the-1st"),
    ],
)
def test_a_cron_expression_matches_exactly_the_minutes_it_describes(
    expression: str, moment: datetime, matches: bool
) -> None:
    assert Cron.parse(expression).matches(moment) is matches


# --- errors name the field ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message_part"),
    [
        pytest.param("0 2 * *", "expected 5 fields", id="four-fields"),
        pytest.param("0 2 * * * *", "expected 5 fields", id="six-fields"),
        pytest.param("", "expected 5 fields", id="empty"),
        pytest.param("60 * * * *", "minute field '60' is outside 0-59", id="minute-too-large"),
        pytest.param("* 24 * * *", "hour field '24' is outside 0-23", id="hour-too-large"),
        pytest.param("* * 0 * *", "day of month field '0' is outside 1-31", id="day-of-month-zero"),
        pytest.param("* * 32 * *", "day of month field '32' is outside 1-31", id="day-of-month-too-large"),
        pytest.param("* * * 13 *", "month field '13' is outside 1-12", id="month-too-large"),
        pytest.param("* * * * 8", "day of week field '8' is outside 0-7", id="day-of-week-too-large"),
        pytest.param("* * * * mon", "day of week field 'mon' is not a number", id="day-name"),
        pytest.param("* * * JAN *", "month field 'JAN' is not a number", id="month-name"),
        pytest.param("*/0 * * * *", "minute field '*/0'", id="zero-step"),
        pytest.param("*/x * * * *", "minute field '*/x' is not a number", id="non-numeric-step"),
        pytest.param("* 17-9 * * *", "hour field '17-9' is outside 0-23", id="backwards-range"),
        pytest.param("* -1 * * *", "hour field '-1'", id="negative"),
        pytest.param("1,,2 * * * *", "minute field '1,,2' is not a number", id="empty-list-item"),
    ],
)
def test_an_invalid_cron_expression_is_refused_naming_the_field(expression: str, message_part: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        Cron.parse(expression)

    assert message_part in str(caught.value)
    assert f"cron {expression!r}" in str(caught.value)


def test_a_schedule_error_is_a_value_error_so_spec_validation_reports_it() -> None:
    assert issubclass(ScheduleError, ValueError)


# --- recurring windows --------------------------------------------------------------------------


def recurring(expression: str, duration: timedelta) -> Window:
    return Window("w", Cron.parse(expression), duration)


SATURDAY_NIGHT = recurring("0 2 * * 6", timedelta(hours=2))  # Saturdays 02:00-04:00
NIGHTLY_ACROSS_MIDNIGHT = recurring("0 23 * * *", timedelta(hours=2))  # every day 23:00-01:00
SATURDAY_INTO_SUNDAY = recurring("0 22 * * 6", timedelta(hours=4))  # Sat 22:00 - Sun 02:00
SUNDAY_AS_ZERO_INTO_MONDAY = recurring("0 22 * * 0", timedelta(hours=4))  # Sun 22:00 - Mon 02:00
SUNDAY_AS_SEVEN_INTO_MONDAY = recurring("0 22 * * 7", timedelta(hours=4))
NEW_YEAR = recurring("0 22 31 12 *", timedelta(hours=4))  # 31 Dec 22:00 - 1 Jan 02:00
WHOLE_WEEK_FROM_MONDAY = recurring("0 0 * * 1", timedelta(days=7))
ONE_MINUTE = recurring("0 2 * * 6", timedelta(minutes=1))


@pytest.mark.parametrize(
    ("window", "now", "contains"),
    [
        pytest.param(SATURDAY_NIGHT, utc(SAT, 1, 59, 59), False, id="a-second-before-start"),
        pytest.param(SATURDAY_NIGHT, utc(SAT, 2), True, id="exact-start-is-inside"),
        pytest.param(SATURDAY_NIGHT, utc(SAT, 3, 15), True, id="middle"),
        pytest.param(SATURDAY_NIGHT, utc(SAT, 3, 59, 59), True, id="last-second"),
        pytest.param(SATURDAY_NIGHT, utc(SAT, 4), False, id="exact-end-is-outside"),
        pytest.param(SATURDAY_NIGHT, utc(FRI, 3), False, id="same-time-other-day"),
        pytest.param(SATURDAY_NIGHT, utc(SAT, 2) - timedelta(days=7), True, id="previous-week"),
        pytest.param(NIGHTLY_ACROSS_MIDNIGHT, utc(FRI, 22, 59), False, id="midnight-before-start"),
        pytest.param(NIGHTLY_ACROSS_MIDNIGHT, utc(FRI, 23), True, id="midnight-start"),
        pytest.param(NIGHTLY_ACROSS_MIDNIGHT, utc(SAT, 0, 0), True, id="midnight-itself"),
        pytest.param(NIGHTLY_ACROSS_MIDNIGHT, utc(SAT, 0, 59, 59), True, id="midnight-last-second"),
        pytest.param(NIGHTLY_ACROSS_MIDNIGHT, utc(SAT, 1), False, id="midnight-end"),
        pytest.param(SATURDAY_INTO_SUNDAY, utc(SUN, 1, 30), True, id="saturday-window-runs-into-sunday"),
        pytest.param(SATURDAY_INTO_SUNDAY, utc(SUN, 2), False, id="saturday-window-ends-sunday"),
        pytest.param(SATURDAY_INTO_SUNDAY, utc(SUN, 22, 30), False, id="saturday-window-not-on-sunday-night"),
        pytest.param(SUNDAY_AS_SEVEN_INTO_MONDAY, utc(MON, 1, 30), True, id="sunday-as-7-runs-into-monday"),
        pytest.param(SUNDAY_AS_SEVEN_INTO_MONDAY, utc(SAT, 23), False, id="sunday-as-7-not-on-saturday"),
        pytest.param(SUNDAY_AS_ZERO_INTO_MONDAY, utc(MON, 1, 30), True, id="sunday-as-0-runs-into-monday"),
        pytest.param(SUNDAY_AS_ZERO_INTO_MONDAY, utc(SUN, 22), True, id="sunday-as-0-exact-start"),
        pytest.param(SUNDAY_AS_ZERO_INTO_MONDAY, utc(SAT, 23), False, id="sunday-as-0-not-on-saturday"),
        pytest.param(NEW_YEAR, utc(1, 1, 30, month=1, year=2027), True, id="runs-into-the-new-year"),
        pytest.param(NEW_YEAR, utc(31, 21, 59, month=12), False, id="new-year-before-start"),
        pytest.param(WHOLE_WEEK_FROM_MONDAY, utc(SUN, 23, 59), True, id="week-long-last-minute"),
        pytest.param(WHOLE_WEEK_FROM_MONDAY, utc(SAT, 12), True, id="week-long-mid-week"),
        pytest.param(ONE_MINUTE, utc(SAT, 2, 0, 59), True, id="one-minute-last-second"),
        pytest.param(ONE_MINUTE, utc(SAT, 2, 1), False, id="one-minute-end"),
    ],
)
def test_a_recurring_window_contains_from_its_start_inclusive_to_its_end_exclusive(
    window: Window, now: datetime, contains: bool
) -> None:
    assert window.contains(now) is contains


@pytest.mark.parametrize(
    "window",
    [
        pytest.param(Window("zero", Cron.parse("0 2 * * 6"), timedelta(0)), id="zero-duration"),
        pytest.param(Window("negative", Cron.parse("0 2 * * 6"), timedelta(minutes=-5)), id="negative-duration"),
        pytest.param(Window("empty", duration=timedelta(hours=2)), id="no-cron-no-range"),
        pytest.param(Window("half", start=utc(SAT)), id="start-without-end"),
    ],
)
def test_a_window_without_a_start_or_a_length_contains_nothing(window: Window) -> None:
    assert window.contains(utc(SAT, 2)) is False


# --- absolute windows ---------------------------------------------------------------------------

FREEZE = Window("december-freeze", start=utc(20, month=12), end=utc(27, month=12))


@pytest.mark.parametrize(
    ("now", "contains"),
    [
        pytest.param(utc(19, 23, 59, 59, month=12), False, id="a-second-before-start"),
        pytest.param(utc(20, month=12), True, id="exact-start-is-inside"),
        pytest.param(utc(24, 12, month=12), True, id="middle"),
        pytest.param(utc(26, 23, 59, 59, month=12), True, id="last-second"),
        pytest.param(utc(27, month=12), False, id="exact-end-is-outside"),
        pytest.param(utc(SAT), False, id="weeks-before"),
    ],
)
def test_an_absolute_window_contains_from_start_inclusive_to_end_exclusive(now: datetime, contains: bool) -> None:
    assert FREEZE.contains(now) is contains
