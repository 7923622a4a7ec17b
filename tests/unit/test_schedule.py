"""Guardrail time windows: the cron dialect they start on, their time zones, and which instants they contain.

Instants are fixed UTC datetimes. In UTC, around the week of 2026-11-28, a
Saturday. In zones, around 2026's clock changes: Europe/Berlin springs forward
on Sunday 29 March (02:00 CET -> 03:00 CEST, at 01:00 UTC) and falls back on
Sunday 25 October (03:00 CEST -> 02:00 CET, at 01:00 UTC); America/New_York
springs forward on Sunday 8 March (02:00 EST -> 03:00 EDT, at 07:00 UTC) and
falls back on Sunday 1 November (02:00 EDT -> 01:00 EST, at 06:00 UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from onduty.domain.schedule import ScheduleError, Window, cron_problem, time_zone


def utc(day: int, hour: int = 0, minute: int = 0, second: int = 0, *, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# The days of the week in question, by name, so each table row reads as a sentence.
THU, FRI, SAT, SUN, MON, TUE = 26, 27, 28, 29, 30, 1  # TUE is 2026-12-01

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def recurring(expression: str, duration: timedelta, zone: tzinfo = UTC) -> Window:
    return Window("w", expression, duration, zone)


def starts_at(expression: str) -> Window:
    """A one-minute UTC window: it contains a minute exactly when the cron names that minute."""
    return recurring(expression, timedelta(minutes=1))


# --- the dialect: which minutes an expression names (cronsim's reading, in UTC) ----------------


@pytest.mark.parametrize(
    ("expression", "moment", "matches"),
    [
        pytest.param("30 2 * * *", utc(SAT, 2, 30), True, id="exact-minute"),
        pytest.param("30 2 * * *", utc(SAT, 2, 30, 59), True, id="any-second-of-the-minute"),
        pytest.param("30 2 * * *", utc(SAT, 2, 31), False, id="next-minute"),
        pytest.param("30 2 * * *", utc(SAT, 14, 30), False, id="other-hour"),
        pytest.param("0,15,45 * * * *", utc(SAT, 7, 15), True, id="list"),
        pytest.param("0,15,45 * * * *", utc(SAT, 7, 30), False, id="not-in-the-list"),
        pytest.param("* 9-17 * * *", utc(SAT, 17, 59), True, id="range-includes-its-end"),
        pytest.param("* 9-17 * * *", utc(SAT, 18), False, id="range-ends-at-its-end"),
        pytest.param("*/15 * * * *", utc(SAT, 7, 45), True, id="every-15-minutes-at-45"),
        pytest.param("*/15 * * * *", utc(SAT, 7, 50), False, id="every-15-minutes-not-at-50"),
        pytest.param("0-30/10 * * * *", utc(SAT, 7, 20), True, id="range-step"),
        pytest.param("0-30/10 * * * *", utc(SAT, 7, 40), False, id="range-step-stops-at-the-range-end"),
        pytest.param("5/20 * * * *", utc(SAT, 7, 45), True, id="start-step-runs-to-the-field-maximum"),
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
        # A day field that starts with '*' is not a restriction, even with a step (Vixie cron's
        # rule): both must match, and Monday the 30th is not an odd day.
        pytest.param("0 0 */2 * 1", utc(MON), False, id="a-stepped-star-day-field-does-not-count-as-restricted"),
        pytest.param("0 0 */2 * 1", utc(MON) - timedelta(days=7), True, id="a-stepped-star-day-field-and-monday"),
    ],
)
def test_a_cron_expression_names_exactly_the_minutes_it_describes(
    expression: str, moment: datetime, matches: bool
) -> None:
    assert starts_at(expression).contains(moment) is matches


# --- errors name the field ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message_part"),
    [
        pytest.param("0 2 * *", "expected 5 fields", id="four-fields"),
        pytest.param("0 0 2 * * 6", "expected 5 fields", id="six-fields-a-seconds-field-is-not-ours"),
        pytest.param("", "expected 5 fields", id="empty"),
        pytest.param("60 * * * *", "bad minute", id="minute-too-large"),
        pytest.param("* 24 * * *", "bad hour", id="hour-too-large"),
        pytest.param("* * 0 * *", "bad day-of-month", id="day-of-month-zero"),
        pytest.param("* * 32 * *", "bad day-of-month", id="day-of-month-too-large"),
        pytest.param("* * * 13 *", "bad month", id="month-too-large"),
        pytest.param("* * * * 8", "bad day-of-week", id="day-of-week-too-large"),
        pytest.param("*/0 * * * *", "bad minute", id="zero-step"),
        pytest.param("*/x * * * *", "bad minute", id="non-numeric-step"),
        pytest.param("* 17-9 * * *", "bad hour", id="backwards-range"),
        pytest.param("1,,2 * * * *", "bad minute", id="empty-list-item"),
        pytest.param("0 0 30 2 *", "none of the months given has", id="a-day-that-never-comes"),
        pytest.param("0 0 31 4,6 *", "none of the months given has", id="the-31st-of-30-day-months"),
    ],
)
def test_an_invalid_cron_expression_is_refused_naming_the_field(expression: str, message_part: str) -> None:
    assert message_part in (cron_problem(expression) or "")
    with pytest.raises(ScheduleError, match=re.escape(f"cron {expression!r}: ")) as caught:
        recurring(expression, timedelta(hours=1))
    assert message_part in str(caught.value)


@pytest.mark.parametrize(
    "expression",
    [
        "0 2 * * 6",
        "*/15 0-6,22-23 1,15 */2 1-5",
        "0 0 29 2 *",  # leap years only, but it comes
        "0 0 30 2 1",  # either day field: every Monday in February
        "0 2 * * SAT",  # cronsim reads names; a policy's CRD pattern does not (onduty.domain.policies)
    ],
)
def test_cronsim_reads_every_expression_with_a_start_that_comes(expression: str) -> None:
    assert cron_problem(expression) is None


def test_a_schedule_error_is_a_value_error_so_spec_validation_reports_it() -> None:
    assert issubclass(ScheduleError, ValueError)


# --- time zones ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"])
def test_an_iana_zone_name_is_the_zone(name: str) -> None:
    assert time_zone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Europe/Berln", id="misspelt"),
        pytest.param("europe/berlin", id="lower-case"),
        pytest.param("Europe", id="a-region-not-a-zone"),
        pytest.param("", id="empty"),
        pytest.param("CET+1", id="an-offset-spelling"),
        pytest.param("../../etc/passwd", id="a-path"),
        pytest.param("/etc/localtime", id="an-absolute-path"),
        pytest.param("localtime", id="the-machines-local-time"),
        pytest.param("posix/Europe/Berlin", id="a-system-copy-not-an-iana-name"),
    ],
)
def test_an_unknown_zone_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ScheduleError, match=re.escape(f"unknown time zone {name!r}")):
        time_zone(name)


# --- recurring windows in UTC -------------------------------------------------------------------

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
        pytest.param(SATURDAY_NIGHT, utc(SAT, 3, 59, 59) + timedelta(microseconds=999999), True, id="last-instant"),
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
        pytest.param(recurring("0 2 * * 6", timedelta(0)), id="zero-duration"),
        pytest.param(recurring("0 2 * * 6", timedelta(minutes=-5)), id="negative-duration"),
        pytest.param(Window("empty", duration=timedelta(hours=2)), id="no-cron-no-range"),
        pytest.param(Window("half", start=utc(SAT)), id="start-without-end"),
    ],
)
def test_a_window_without_a_start_or_a_length_contains_nothing(window: Window) -> None:
    assert window.contains(utc(SAT, 2)) is False


# --- recurring windows in a time zone -----------------------------------------------------------

BERLIN_SATURDAY_NIGHT = recurring("0 2 * * 6", timedelta(hours=2), BERLIN)
BERLIN_SUNDAY_AS_SEVEN_LATE = recurring("0 23 * * 7", timedelta(hours=2), BERLIN)  # Sun 23:00 - Mon 01:00 local
NEW_YORK_SATURDAY_NIGHT = recurring("0 2 * * 6", timedelta(hours=2), NEW_YORK)
KOLKATA_MORNING = recurring("0 9 * * *", timedelta(hours=1), ZoneInfo("Asia/Kolkata"))  # UTC+05:30


@pytest.mark.parametrize(
    ("window", "now", "contains"),
    [
        # Saturdays 02:00-04:00 Berlin time: 01:00-03:00 UTC in winter (CET)...
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(SAT, 0, 59), False, id="berlin-winter-before"),
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(SAT, 1), True, id="berlin-winter-start"),
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(SAT, 2, 59), True, id="berlin-winter-last-minute"),
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(SAT, 3), False, id="berlin-winter-end"),
        # ...and 00:00-02:00 UTC in summer (CEST).
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(4, 0, month=7), True, id="berlin-summer-start"),
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(4, 2, month=7), False, id="berlin-summer-end"),
        pytest.param(BERLIN_SATURDAY_NIGHT, utc(3, 23, 59, month=7), False, id="berlin-summer-before"),
        # Across local midnight, with Sunday as 7; 21:00-23:00 UTC in summer, all on the UTC Sunday.
        pytest.param(BERLIN_SUNDAY_AS_SEVEN_LATE, utc(5, 21, month=7), True, id="berlin-sunday-as-7-start"),
        pytest.param(BERLIN_SUNDAY_AS_SEVEN_LATE, utc(5, 22, 59, month=7), True, id="berlin-past-local-midnight"),
        pytest.param(BERLIN_SUNDAY_AS_SEVEN_LATE, utc(5, 23, month=7), False, id="berlin-sunday-as-7-end"),
        pytest.param(BERLIN_SUNDAY_AS_SEVEN_LATE, utc(4, 21, month=7), False, id="berlin-sunday-as-7-not-saturday"),
        # New York: 07:00-09:00 UTC in winter (EST), 06:00-08:00 UTC in summer (EDT).
        pytest.param(NEW_YORK_SATURDAY_NIGHT, utc(SAT, 7), True, id="new-york-winter-start"),
        pytest.param(NEW_YORK_SATURDAY_NIGHT, utc(SAT, 6, 30), False, id="new-york-winter-before"),
        pytest.param(NEW_YORK_SATURDAY_NIGHT, utc(4, 6, 30, month=7), True, id="new-york-summer-inside"),
        pytest.param(NEW_YORK_SATURDAY_NIGHT, utc(4, 8, month=7), False, id="new-york-summer-end"),
        # A zone with a half-hour offset: 09:00 IST is 03:30 UTC.
        pytest.param(KOLKATA_MORNING, utc(SAT, 3, 30), True, id="half-hour-offset-start"),
        pytest.param(KOLKATA_MORNING, utc(SAT, 3, 29), False, id="half-hour-offset-before"),
    ],
)
def test_a_zoned_window_keeps_its_local_time_whatever_the_offset(window: Window, now: datetime, contains: bool) -> None:
    assert window.contains(now) is contains


# --- clock changes: as cronsim (and Debian cron) define them -------------------------------------

# Starts at a fixed local time (neither minute nor hour starts with '*').
BERLIN_SUNDAY_0230 = recurring("30 2 * * 0", timedelta(hours=1), BERLIN)
BERLIN_SATURDAY_LATE = recurring("0 22 * * 6", timedelta(hours=6), BERLIN)  # across the change
BERLIN_SUNDAY_0230_SHORT = recurring("30 2 * * 0", timedelta(minutes=20), BERLIN)
BERLIN_SUNDAY_0230_AND_0330 = recurring("30 2,3 * * 0", timedelta(minutes=80), BERLIN)
NEW_YORK_DAILY_0230 = recurring("30 2 * * *", timedelta(hours=1), NEW_YORK)
NEW_YORK_DAILY_0130 = recurring("30 1 * * *", timedelta(hours=1), NEW_YORK)
# Starts at real instants ('*' in the hour field).
BERLIN_HOURLY = recurring("0 * * * *", timedelta(minutes=30), BERLIN)
BERLIN_DAILY_0200 = recurring("0 2 * * *", timedelta(minutes=30), BERLIN)


@pytest.mark.parametrize(
    ("window", "now", "contains"),
    [
        # Spring forward: 02:30 does not exist on 29 March; the window starts at 03:00 CEST (01:00 UTC).
        pytest.param(BERLIN_SUNDAY_0230, utc(29, 0, 30, month=3), False, id="berlin-spring-not-an-hour-early"),
        pytest.param(BERLIN_SUNDAY_0230, utc(29, 0, 59, month=3), False, id="berlin-spring-before-the-gap"),
        pytest.param(BERLIN_SUNDAY_0230, utc(29, 1, 0, month=3), True, id="berlin-spring-starts-after-the-gap"),
        pytest.param(BERLIN_SUNDAY_0230, utc(29, 1, 59, month=3), True, id="berlin-spring-lasts-its-duration"),
        pytest.param(BERLIN_SUNDAY_0230, utc(29, 2, 0, month=3), False, id="berlin-spring-end"),
        # Fall back: 02:30 happens twice on 25 October; the window starts the first time only
        # (02:30 CEST, 00:30 UTC), not again at 02:30 CET (01:30 UTC).
        pytest.param(BERLIN_SUNDAY_0230, utc(25, 0, 29, month=10), False, id="berlin-fall-before"),
        pytest.param(BERLIN_SUNDAY_0230, utc(25, 0, 30, month=10), True, id="berlin-fall-first-pass-starts"),
        pytest.param(BERLIN_SUNDAY_0230, utc(25, 1, 29, month=10), True, id="berlin-fall-into-the-second-pass"),
        pytest.param(BERLIN_SUNDAY_0230, utc(25, 1, 30, month=10), False, id="berlin-fall-second-pass-no-restart"),
        pytest.param(BERLIN_SUNDAY_0230, utc(25, 2, 15, month=10), False, id="berlin-fall-after"),
        # From inside the second pass, the first pass's start is behind, not ahead.
        pytest.param(BERLIN_SUNDAY_0230_SHORT, utc(25, 1, 40, month=10), False, id="berlin-fall-first-pass-is-past"),
        pytest.param(
            BERLIN_SUNDAY_0230_AND_0330, utc(25, 2, 40, month=10), True, id="berlin-fall-a-later-start-still-counts"
        ),
        # The duration is elapsed time: Sat 22:00 CET + 6h is 05:00 CEST on Sunday (03:00 UTC), not 04:00.
        pytest.param(BERLIN_SATURDAY_LATE, utc(28, 21, month=3), True, id="berlin-saturday-across-the-change-starts"),
        pytest.param(BERLIN_SATURDAY_LATE, utc(29, 2, 59, month=3), True, id="berlin-six-elapsed-hours"),
        pytest.param(BERLIN_SATURDAY_LATE, utc(29, 3, month=3), False, id="berlin-six-elapsed-hours-end"),
        # A wildcard hour counts real instants: the repeated 02:00 starts a window each time...
        pytest.param(BERLIN_HOURLY, utc(25, 0, 15, month=10), True, id="berlin-hourly-first-0200"),
        pytest.param(BERLIN_HOURLY, utc(25, 1, 15, month=10), True, id="berlin-hourly-second-0200"),
        pytest.param(BERLIN_DAILY_0200, utc(25, 0, 15, month=10), True, id="berlin-daily-first-0200"),
        pytest.param(BERLIN_DAILY_0200, utc(25, 1, 15, month=10), False, id="berlin-daily-0200-once"),
        # ...and the skipped 02:00 starts none; a fixed 02:00 moves to 03:00 CEST (01:00 UTC).
        pytest.param(BERLIN_HOURLY, utc(29, 0, 15, month=3), True, id="berlin-hourly-0100-cet"),
        pytest.param(BERLIN_HOURLY, utc(29, 1, 15, month=3), True, id="berlin-hourly-0300-cest"),
        pytest.param(BERLIN_DAILY_0200, utc(29, 1, 15, month=3), True, id="berlin-daily-0200-moves-to-0300"),
        pytest.param(BERLIN_DAILY_0200, utc(29, 0, 15, month=3), False, id="berlin-daily-0200-not-at-0100"),
        # New York springs forward on 8 March: 02:30 does not exist; 03:00 EDT is 07:00 UTC.
        pytest.param(NEW_YORK_DAILY_0230, utc(7, 7, 30, month=3), True, id="new-york-day-before-0230-est"),
        pytest.param(NEW_YORK_DAILY_0230, utc(8, 6, 59, month=3), False, id="new-york-spring-before-the-gap"),
        pytest.param(NEW_YORK_DAILY_0230, utc(8, 7, 0, month=3), True, id="new-york-spring-starts-after-the-gap"),
        pytest.param(NEW_YORK_DAILY_0230, utc(8, 8, 0, month=3), False, id="new-york-spring-end"),
        pytest.param(NEW_YORK_DAILY_0230, utc(9, 6, 30, month=3), True, id="new-york-day-after-0230-edt"),
        # New York falls back on 1 November: 01:30 EDT (05:30 UTC) starts it, 01:30 EST (06:30 UTC) does not.
        pytest.param(NEW_YORK_DAILY_0130, utc(1, 5, 30), True, id="new-york-fall-first-pass-starts"),
        pytest.param(NEW_YORK_DAILY_0130, utc(1, 6, 29), True, id="new-york-fall-last-minute"),
        pytest.param(NEW_YORK_DAILY_0130, utc(1, 6, 30), False, id="new-york-fall-second-pass-no-restart"),
        pytest.param(NEW_YORK_DAILY_0130, utc(2, 6, 30), True, id="new-york-day-after-0130-est"),
    ],
)
def test_a_zoned_window_across_a_clock_change_behaves_as_cronsim_defines(
    window: Window, now: datetime, contains: bool
) -> None:
    assert window.contains(now) is contains


def test_the_zone_now_is_given_in_does_not_matter() -> None:
    now = utc(SAT, 1, 30)
    # 02:30 CET on 25 October, the repeated one: by the wall clock alone it is the window's start.
    second_pass = utc(25, 1, 30, month=10).astimezone(BERLIN)

    assert BERLIN_SATURDAY_NIGHT.contains(now.astimezone(BERLIN)) is BERLIN_SATURDAY_NIGHT.contains(now) is True
    assert SATURDAY_NIGHT.contains(now.astimezone(NEW_YORK)) is SATURDAY_NIGHT.contains(now) is False
    assert (second_pass.fold, BERLIN_SUNDAY_0230.contains(second_pass)) == (1, False)


# --- absolute windows ---------------------------------------------------------------------------

FREEZE = Window("december-freeze", start=utc(20, month=12), end=utc(27, month=12))
BERLIN_FREEZE = Window(
    "berlin-freeze",
    start=datetime(2026, 12, 20, tzinfo=BERLIN),  # 2026-12-19T23:00:00Z
    end=datetime(2026, 12, 27, tzinfo=BERLIN),
)


@pytest.mark.parametrize(
    ("window", "now", "contains"),
    [
        pytest.param(FREEZE, utc(19, 23, 59, 59, month=12), False, id="a-second-before-start"),
        pytest.param(FREEZE, utc(20, month=12), True, id="exact-start-is-inside"),
        pytest.param(FREEZE, utc(24, 12, month=12), True, id="middle"),
        pytest.param(FREEZE, utc(26, 23, 59, 59, month=12), True, id="last-second"),
        pytest.param(FREEZE, utc(27, month=12), False, id="exact-end-is-outside"),
        pytest.param(FREEZE, utc(SAT), False, id="weeks-before"),
        pytest.param(BERLIN_FREEZE, utc(19, 23, month=12), True, id="its-own-offset-decides-the-start"),
        pytest.param(BERLIN_FREEZE, utc(26, 23, month=12), False, id="its-own-offset-decides-the-end"),
    ],
)
def test_an_absolute_window_contains_from_start_inclusive_to_end_exclusive(
    window: Window, now: datetime, contains: bool
) -> None:
    assert window.contains(now) is contains


def test_a_window_shows_the_zone_its_cron_is_read_in() -> None:
    assert Window("nightly", "0 2 * * *", timedelta(hours=1), BERLIN).shown == "nightly (Europe/Berlin)"
    assert Window("nightly", "0 2 * * *", timedelta(hours=1)).shown == "nightly (UTC)"
    assert FREEZE.shown == "december-freeze"
