"""On-call schedules: rotations, layer precedence, restrictions, overrides, clock changes and iCal feeds.

The clock is an argument: every test passes fixed instants. The example
schedule starts Monday 2026-11-02 09:00 Berlin time (08:00 UTC, CET). Europe/
Berlin springs forward on Sunday 2026-03-29 (02:00 CET -> 03:00 CEST, at 01:00
UTC) and falls back on Sunday 2026-10-25 (03:00 CEST -> 02:00 CET, at 01:00 UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from onduty.domain import oncall
from onduty.domain.oncall import (
    OnCall,
    OnCallError,
    OnCallScheduleSpec,
    Shift,
    local_instant,
    next_handoff,
    on_call,
    parse_oncall_schedule,
    parse_rotation,
    shifts,
)
from onduty.domain.specs import DNS_LABEL, DNS_SUBDOMAIN, TIMESTAMP_PATTERN

CRD = Path(__file__).resolve().parents[2] / "crds" / "onduty.dev_oncallschedules.yaml"
BERLIN = ZoneInfo("Europe/Berlin")


def utc(month: int, day: int, hour: int = 0, minute: int = 0, *, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def layer(name: str = "weekly", **fields: Any) -> dict[str, Any]:
    return {"name": name, "start": "2026-11-02T09:00:00", "rotation": "1w", "members": ["alice", "bob", "carol"]} | (
        fields
    )


def schedule(*layers: dict[str, Any], **spec: Any) -> OnCallScheduleSpec:
    return parse_oncall_schedule({"timeZone": "Europe/Berlin", "layers": list(layers)} | spec)


def who(spec: OnCallScheduleSpec, now: datetime, ical_text: str | None = None) -> str | None:
    return on_call(spec, now, ical_text).member


# The brief's example, whole.
EXAMPLE = yaml.safe_load(
    """
    timeZone: Europe/Berlin
    layers:
      - name: weekly
        start: "2026-11-02T09:00:00"
        rotation: 1w
        members: [alice, bob, carol]
      - name: business-hours
        start: "2026-11-02T09:00:00"
        rotation: 1d
        members: [erin, frank]
        restrictions:
          - {days: [Mon, Tue, Wed, Thu, Fri], start: "09:00", end: "17:00"}
    overrides:
      - {member: dave, start: "2026-11-24T18:00:00Z", end: "2026-11-25T09:00:00Z"}
    """
)


# --- rotation math ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "now", "member"),
    [
        pytest.param({}, utc(11, 2, 7, 59), None, id="before-the-layer-starts-nobody"),
        pytest.param({}, utc(11, 2, 8), "alice", id="first-turn-starts-at-start"),
        pytest.param({}, utc(11, 9, 7, 59), "alice", id="last-minute-of-the-first-turn"),
        pytest.param({}, utc(11, 9, 8), "bob", id="handoff-belongs-to-the-next"),
        pytest.param({}, utc(11, 16, 8), "carol", id="third-turn"),
        pytest.param({}, utc(11, 23, 8), "alice", id="wraps-to-the-first"),
        pytest.param({}, utc(11, 2, 8, year=2027), "bob", id="a-year-on"),  # 52 weeks + 4 days later: turn 52
        pytest.param({"rotation": "12h"}, utc(11, 2, 19, 59), "alice", id="12h-day-turn"),
        pytest.param({"rotation": "12h"}, utc(11, 2, 20), "bob", id="12h-night-turn-at-21-local"),
        pytest.param({"rotation": "12h"}, utc(11, 3, 8), "carol", id="12h-next-morning"),
        pytest.param({"rotation": "24h"}, utc(11, 3, 8), "bob", id="24h-is-1d"),
        pytest.param({"rotation": "1w2d"}, utc(11, 11, 7, 59), "alice", id="1w2d-first-turn-nine-days"),
        pytest.param({"rotation": "1w2d"}, utc(11, 11, 8), "bob", id="1w2d-second-turn"),
        pytest.param(
            {"members": ["alice", "alice", "bob"], "rotation": "1d"}, utc(11, 3, 12), "alice", id="repeated-member"
        ),
        pytest.param({"members": ["solo"]}, utc(3, 1, year=2030), "solo", id="one-member-forever"),
    ],
)
def test_rotation_puts_each_member_on_in_turn(fields: dict[str, Any], now: datetime, member: str | None) -> None:
    assert who(schedule(layer(**fields)), now) == member


@pytest.mark.parametrize(
    ("fields", "now", "until"),
    [
        pytest.param({}, utc(11, 1), utc(11, 2, 8), id="nobody-until-the-layer-starts"),
        pytest.param({}, utc(11, 5), utc(11, 9, 8), id="weekly-until-monday-09-local"),
        pytest.param({}, utc(11, 9, 8), utc(11, 16, 8), id="at-a-handoff-until-the-next"),
        pytest.param({"rotation": "12h"}, utc(11, 2, 12), utc(11, 2, 20), id="12h"),
        pytest.param({"members": ["solo"]}, utc(11, 5), None, id="one-member-never-hands-off"),
        pytest.param(
            {"members": ["alice", "alice", "bob"], "rotation": "1d"}, utc(11, 2, 12), utc(11, 4, 8), id="same-member"
        ),
    ],
)
def test_on_call_says_until_the_next_handoff(fields: dict[str, Any], now: datetime, until: datetime | None) -> None:
    spec = schedule(layer(**fields))
    assert on_call(spec, now).until == until
    assert next_handoff(spec, now) == until


def test_a_handoff_beyond_the_first_look_is_still_found() -> None:
    """A four-week turn hands off long after the first two days looked at."""
    spec = schedule(layer(rotation="4w", members=["alice", "bob"]))
    assert next_handoff(spec, utc(11, 3)) == utc(11, 30, 8)


def test_on_call_names_its_source() -> None:
    assert on_call(schedule(layer()), utc(11, 5)) == OnCall("alice", "layer", "weekly", utc(11, 9, 8))
    assert on_call(schedule(layer()), utc(11, 5)).source == "layer weekly"
    assert on_call(schedule(layer()), utc(11, 1)).source is None


@pytest.mark.parametrize(
    ("text", "length"),
    [
        pytest.param("12h", timedelta(hours=12), id="hours"),
        pytest.param("1d", timedelta(days=1), id="day"),
        pytest.param("1w", timedelta(weeks=1), id="week"),
        pytest.param("2w3d4h", timedelta(weeks=2, days=3, hours=4), id="all-three"),
        pytest.param("9999w9999d9999h", timedelta(weeks=9999, days=9999, hours=9999), id="the-longest"),
    ],
)
def test_rotations_read(text: str, length: timedelta) -> None:
    assert parse_rotation(text) == length


# --- layers, restrictions, overrides ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "member", "source"),
    [
        pytest.param(utc(11, 2, 7), None, None, id="before-both-layers"),
        pytest.param(utc(11, 2, 8), "erin", "layer business-hours", id="monday-09-local-upper-layer"),
        pytest.param(utc(11, 2, 15, 59), "erin", "layer business-hours", id="monday-16:59-local"),
        pytest.param(utc(11, 2, 16), "alice", "layer weekly", id="monday-17-local-lower-layer-shows"),
        pytest.param(utc(11, 3, 12), "frank", "layer business-hours", id="tuesday-the-daily-rotation-turned"),
        pytest.param(utc(11, 7, 12), "alice", "layer weekly", id="saturday-restricted-to-weekdays"),
        pytest.param(utc(11, 24, 17, 59), "alice", "layer weekly", id="before-the-override"),
        pytest.param(utc(11, 24, 18), "dave", "override", id="the-override-starts"),
        pytest.param(utc(11, 25, 8, 30), "dave", "override", id="the-override-covers-business-hours"),
        pytest.param(utc(11, 25, 9), "frank", "layer business-hours", id="the-override-ends"),
    ],
)
def test_later_layers_and_overrides_win_where_they_have_someone(
    now: datetime, member: str | None, source: str | None
) -> None:
    found = on_call(parse_oncall_schedule(EXAMPLE), now)
    assert (found.member, found.source) == (member, source)


def test_shifts_merge_every_source_by_precedence() -> None:
    found = shifts(parse_oncall_schedule(EXAMPLE), utc(11, 24), utc(11, 26))
    assert [(s.member, s.start, s.end, s.source) for s in found] == [
        ("alice", utc(11, 24), utc(11, 24, 8), "layer weekly"),
        ("erin", utc(11, 24, 8), utc(11, 24, 16), "layer business-hours"),
        ("alice", utc(11, 24, 16), utc(11, 24, 18), "layer weekly"),
        ("dave", utc(11, 24, 18), utc(11, 25, 9), "override"),
        ("frank", utc(11, 25, 9), utc(11, 25, 16), "layer business-hours"),
        ("alice", utc(11, 25, 16), utc(11, 26), "layer weekly"),
    ]


def test_until_skips_a_change_of_source_for_the_same_member() -> None:
    """alice on her layer, then alice by override: no handoff until the override ends."""
    spec = schedule(
        layer(), overrides=[{"member": "alice", "start": "2026-11-09T08:00:00Z", "end": "2026-11-10T08:00:00Z"}]
    )
    assert on_call(spec, utc(11, 5)).until == utc(11, 10, 8)


@pytest.mark.parametrize(
    ("restrictions", "now", "member"),
    [
        pytest.param([{"start": "09:00", "end": "17:00"}], utc(11, 8, 12), "alice", id="no-days-means-every-day"),
        pytest.param([{"start": "09:00", "end": "17:00"}], utc(11, 8, 16), None, id="outside-the-window"),
        pytest.param([{"days": ["Sat"], "start": "22:00", "end": "24:00"}], utc(11, 7, 22, 59), "alice", id="to-24:00"),
        pytest.param([{"days": ["Sat"], "start": "22:00", "end": "24:00"}], utc(11, 7, 23), None, id="24:00-ends-it"),
        pytest.param(
            [{"days": ["Sat"], "start": "22:00", "end": "24:00"}, {"days": ["Sun"], "start": "00:00", "end": "06:00"}],
            utc(11, 8, 2),
            "alice",
            id="across-midnight-as-two-windows",
        ),
        pytest.param(
            [{"days": ["Mon"], "start": "08:00", "end": "12:00"}, {"days": ["Mon"], "start": "10:00", "end": "18:00"}],
            utc(11, 2, 16, 30),
            "alice",
            id="overlapping-windows-merge",
        ),
        pytest.param([{"days": ["Tue"], "start": "09:00", "end": "17:00"}], utc(11, 2, 12), None, id="other-day"),
    ],
)
def test_restrictions_keep_a_layer_to_its_windows(
    restrictions: list[dict[str, Any]], now: datetime, member: str | None
) -> None:
    assert who(schedule(layer(restrictions=restrictions)), now) == member


def test_a_restricted_turn_still_hands_off_on_the_rotation() -> None:
    """Restrictions mask turns, they do not pause the rotation: Tuesday's window belongs to Tuesday's member."""
    spec = schedule(layer(rotation="1d", restrictions=[{"start": "12:00", "end": "13:00"}]))
    assert [(s.member, s.start) for s in shifts(spec, utc(11, 2), utc(11, 5))] == [
        ("alice", utc(11, 2, 11)),
        ("bob", utc(11, 3, 11)),
        ("carol", utc(11, 4, 11)),
    ]


@pytest.mark.parametrize(
    ("overrides", "now", "member"),
    [
        pytest.param(
            [{"member": "dave", "start": "2026-11-05T10:00:00+01:00", "end": "2026-11-05T12:00:00+01:00"}],
            utc(11, 5, 9),
            "dave",
            id="offset-read",
        ),
        pytest.param(
            [{"member": "dave", "start": "2026-11-05T10:00:00+01:00", "end": "2026-11-05T12:00:00+01:00"}],
            utc(11, 5, 11),
            "alice",
            id="end-is-exclusive",
        ),
        pytest.param(
            [
                {"member": "dave", "start": "2026-11-05T00:00:00Z", "end": "2026-11-06T00:00:00Z"},
                {"member": "erin", "start": "2026-11-05T06:00:00Z", "end": "2026-11-05T12:00:00Z"},
            ],
            utc(11, 5, 7),
            "erin",
            id="the-later-override-wins",
        ),
        pytest.param(
            [{"member": "dave", "start": "2026-11-01T00:00:00Z", "end": "2026-11-01T06:00:00Z"}],
            utc(11, 1, 3),
            "dave",
            id="covers-a-gap",
        ),
    ],
)
def test_overrides_come_above_every_layer(overrides: list[dict[str, Any]], now: datetime, member: str) -> None:
    assert who(schedule(layer(), overrides=overrides), now) == member


def test_shifts_are_cut_to_the_range_and_skip_gaps() -> None:
    spec = schedule(layer(rotation="1d", restrictions=[{"days": ["Mon", "Wed"], "start": "09:00", "end": "17:00"}]))
    found = shifts(spec, utc(11, 2, 12), utc(11, 4, 10))
    assert found == [
        Shift("alice", utc(11, 2, 12), utc(11, 2, 16), "layer", "weekly"),
        Shift("carol", utc(11, 4, 8), utc(11, 4, 10), "layer", "weekly"),
    ]


def test_adjacent_turns_of_one_member_are_one_shift() -> None:
    spec = schedule(layer(rotation="1d", members=["alice", "alice", "bob"]))
    assert [(s.member, s.start, s.end) for s in shifts(spec, utc(11, 2, 8), utc(11, 5, 8))] == [
        ("alice", utc(11, 2, 8), utc(11, 4, 8)),
        ("bob", utc(11, 4, 8), utc(11, 5, 8)),
    ]


# --- clock changes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "range_start", "handoffs"),
    [
        pytest.param(
            "2026-03-26T09:00:00",
            utc(3, 26, 8),
            [utc(3, 26, 8), utc(3, 27, 8), utc(3, 28, 8), utc(3, 29, 7), utc(3, 30, 7), utc(3, 31, 7)],
            id="spring-forward-09:00-local-is-07:00-utc-after",
        ),
        pytest.param(
            "2026-10-22T09:00:00",
            utc(10, 22, 7),
            [utc(10, 22, 7), utc(10, 23, 7), utc(10, 24, 7), utc(10, 25, 8), utc(10, 26, 8)],
            id="fall-back-09:00-local-is-08:00-utc-after",
        ),
    ],
)
def test_a_daily_rotation_hands_off_at_the_same_local_time_across_a_clock_change(
    start: str, range_start: datetime, handoffs: list[datetime]
) -> None:
    spec = schedule(layer(start=start, rotation="1d", members=["a", "b", "c", "d", "e"]))
    found = shifts(spec, range_start, range_start + timedelta(days=5))
    assert [s.start for s in found] == handoffs
    assert {s.start.astimezone(BERLIN).strftime("%H:%M") for s in found} == {"09:00"}
    # The turn across the change lasts an hour less (spring) or more (autumn).
    assert [s.end - s.start for s in found][2] in (timedelta(hours=23), timedelta(hours=25))


@pytest.mark.parametrize(
    ("start", "now", "until"),
    [
        pytest.param("2026-03-28T09:00:00", utc(3, 28, 12), utc(3, 29, 7), id="spring-23h-turn"),
        pytest.param("2026-10-24T09:00:00", utc(10, 24, 12), utc(10, 25, 8), id="autumn-25h-turn"),
        pytest.param("2026-03-28T21:00:00", utc(3, 28, 21), utc(3, 29, 7), id="12h-night-turn-is-10h-in-spring"),
    ],
)
def test_the_next_handoff_keeps_local_time(start: str, now: datetime, until: datetime) -> None:
    rotation = "12h" if start.endswith("21:00:00") else "1d"
    assert next_handoff(schedule(layer(start=start, rotation=rotation)), now) == until


@pytest.mark.parametrize(
    ("local", "instant"),
    [
        pytest.param(datetime(2026, 3, 29, 1, 59), utc(3, 29, 0, 59), id="before-the-gap"),
        pytest.param(datetime(2026, 3, 29, 2, 0), utc(3, 29, 1), id="skipped-02:00-is-the-jump"),
        pytest.param(datetime(2026, 3, 29, 2, 30), utc(3, 29, 1), id="skipped-02:30-is-the-jump"),
        pytest.param(datetime(2026, 3, 29, 3, 0), utc(3, 29, 1), id="03:00-is-the-jump-too"),
        pytest.param(datetime(2026, 10, 25, 2, 30), utc(10, 25, 0, 30), id="repeated-02:30-is-its-first-pass"),
        pytest.param(datetime(2026, 10, 25, 3, 0), utc(10, 25, 2), id="after-the-repeat"),
        pytest.param(datetime(2026, 11, 2, 9, 0), utc(11, 2, 8), id="an-ordinary-day"),
    ],
)
def test_local_times_become_instants(local: datetime, instant: datetime) -> None:
    assert local_instant(local, BERLIN) == instant


def test_a_turn_the_clocks_skip_whole_is_nobodys() -> None:
    """1h turns from 00:00 on spring-forward night: the 02:00 turn never happens, the rotation goes on."""
    spec = schedule(layer(start="2026-03-29T00:00:00", rotation="1h", members=["a", "b", "c", "d"]))
    found = shifts(spec, utc(3, 28, 23), utc(3, 29, 3))
    assert [(s.member, s.start, s.end) for s in found] == [
        ("a", utc(3, 28, 23), utc(3, 29, 0)),  # 00:00-01:00 CET
        ("b", utc(3, 29, 0), utc(3, 29, 1)),  # 01:00-02:00 CET
        ("d", utc(3, 29, 1), utc(3, 29, 2)),  # 03:00-04:00 CEST: c's 02:00 turn did not exist
        ("a", utc(3, 29, 2), utc(3, 29, 3)),
    ]


def test_restriction_windows_keep_local_time_across_a_clock_change() -> None:
    spec = schedule(layer(start="2026-03-23T09:00:00", restrictions=[{"start": "09:00", "end": "17:00"}]))
    found = shifts(spec, utc(3, 28), utc(3, 30))
    assert [(s.start, s.end) for s in found] == [(utc(3, 28, 8), utc(3, 28, 16)), (utc(3, 29, 7), utc(3, 29, 15))]


# --- the iCal feed ---------------------------------------------------------------------------------------

# alice and bob alternate weeks from Monday 2026-11-02 09:00 Berlin time; alice's 16 November is cancelled
# (EXDATE), and bob's series ends after three weeks (COUNT). bob is named by his ATTENDEE CN, as the
# SUMMARY names no member.
ICS = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//onduty tests//EN
BEGIN:VEVENT
UID:alice@onduty.test
DTSTART;TZID=Europe/Berlin:20261102T090000
DTEND;TZID=Europe/Berlin:20261109T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
EXDATE;TZID=Europe/Berlin:20261116T090000
SUMMARY:alice
END:VEVENT
BEGIN:VEVENT
UID:bob@onduty.test
DTSTART;TZID=Europe/Berlin:20261109T090000
DTEND;TZID=Europe/Berlin:20261116T090000
RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3
SUMMARY:Primary on call
ATTENDEE;CN=bob:mailto:bob@example.com
END:VEVENT
END:VCALENDAR
"""
FEED = {"configMapRef": {"name": "oncall-ics", "key": "schedule.ics"}}


def ical(text: str) -> str:
    """A calendar holding ``text``'s events (the lines between VEVENT markers included)."""
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//onduty tests//EN\n{text}END:VCALENDAR\n"


def test_an_ical_feed_with_rrule_and_exdate_is_expanded() -> None:
    spec = parse_oncall_schedule({"timeZone": "Europe/Berlin", "ical": FEED})
    found = shifts(spec, utc(11, 1), utc(12, 28), ical_text=ICS)
    assert [(s.member, s.start, s.end, s.source) for s in found] == [
        ("alice", utc(11, 2, 8), utc(11, 9, 8), "ical"),
        ("bob", utc(11, 9, 8), utc(11, 16, 8), "ical"),
        # 16 November: EXDATE, nobody
        ("bob", utc(11, 23, 8), utc(11, 30, 8), "ical"),
        ("alice", utc(11, 30, 8), utc(12, 7, 8), "ical"),
        ("bob", utc(12, 7, 8), utc(12, 14, 8), "ical"),
        ("alice", utc(12, 14, 8), utc(12, 21, 8), "ical"),
        # 21 December: bob's COUNT is spent, nobody
    ]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(utc(11, 3), OnCall("alice", "ical", None, utc(11, 9, 8)), id="alice-from-summary"),
        pytest.param(utc(11, 10), OnCall("bob", "ical", None, utc(11, 16, 8)), id="bob-from-attendee-cn"),
        pytest.param(utc(11, 17), OnCall(None, None, None, utc(11, 23, 8)), id="exdate-nobody"),
    ],
)
def test_on_call_from_an_ical_feed(now: datetime, expected: OnCall) -> None:
    spec = parse_oncall_schedule({"timeZone": "Europe/Berlin", "ical": FEED})
    assert on_call(spec, now, ical_text=ICS) == expected


def test_the_ical_feed_is_the_lowest_layer() -> None:
    spec = schedule(
        layer(
            name="weekends", members=["sam"], restrictions=[{"days": ["Sat", "Sun"], "start": "00:00", "end": "24:00"}]
        ),
        ical=FEED,
    )
    assert who(spec, utc(11, 4), ICS) == "alice"  # Wednesday: the feed
    assert who(spec, utc(11, 7, 12), ICS) == "sam"  # Saturday: the layer above it
    assert who(spec, utc(11, 17), ICS) is None  # the EXDATE week, on a Tuesday


@pytest.mark.parametrize(
    ("events", "now", "member"),
    [
        pytest.param(
            "BEGIN:VEVENT\nUID:f\nDTSTART:20261102T090000\nDTEND:20261102T170000\nSUMMARY:alice\nEND:VEVENT\n",
            utc(11, 2, 8),
            "alice",
            id="floating-time-is-local-to-the-schedule",
        ),
        pytest.param(
            "BEGIN:VEVENT\nUID:d\nDTSTART;VALUE=DATE:20261104\nSUMMARY:alice\nEND:VEVENT\n",
            utc(11, 3, 23),
            "alice",
            id="all-day-starts-at-local-midnight",
        ),
        pytest.param(
            "BEGIN:VEVENT\nUID:d\nDTSTART;VALUE=DATE:20261104\nSUMMARY:alice\nEND:VEVENT\n",
            utc(11, 4, 23),
            None,
            id="all-day-ends-at-the-next-local-midnight",
        ),
        pytest.param(
            "BEGIN:VEVENT\nUID:u\nDTSTART:20261105T090000Z\nDURATION:PT8H\nSUMMARY:alice\nEND:VEVENT\n",
            utc(11, 5, 16, 59),
            "alice",
            id="duration-instead-of-dtend",
        ),
        pytest.param(
            "BEGIN:VEVENT\nUID:a\nDTSTART:20261105T000000Z\nDTEND:20261106T000000Z\nSUMMARY:alice\nEND:VEVENT\n"
            "BEGIN:VEVENT\nUID:b\nDTSTART:20261105T100000Z\nDTEND:20261105T120000Z\nSUMMARY:bob\nEND:VEVENT\n",
            utc(11, 5, 11),
            "bob",
            id="overlapping-events-the-later-start-decides",
        ),
        pytest.param(
            "BEGIN:VEVENT\nUID:a\nDTSTART;TZID=Europe/Berlin:20260323T090000\nDTEND;TZID=Europe/Berlin:20260330T090000\n"
            "RRULE:FREQ=WEEKLY\nSUMMARY:alice\nEND:VEVENT\n",
            utc(3, 30, 7),
            "alice",  # the weekly series' next turn begins at 09:00 CEST = 07:00 UTC
            id="rrule-across-a-clock-change-keeps-local-time",
        ),
    ],
)
def test_ical_events_are_read_as_on_call_turns(events: str, now: datetime, member: str | None) -> None:
    spec = parse_oncall_schedule({"timeZone": "Europe/Berlin", "ical": FEED})
    assert who(spec, now, ical(events)) == member


# --- errors name the field and the value -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"timeZone": "Mars/Olympus", "layers": [layer()]},
            "spec.timeZone: unknown time zone 'Mars/Olympus': give an IANA name such as Europe/Berlin or UTC",
            id="bad-zone",
        ),
        pytest.param(
            {"timeZone": None, "layers": [layer()]}, "spec.timeZone: required", id="no-zone"
        ),  # null is absent
        pytest.param(
            {"layers": [layer(rotation="1 week")]},
            "spec.layers[0].rotation: '1 week' is not a duration; write 1w",
            id="rotation-in-words",
        ),
        pytest.param(
            {"layers": [layer(rotation="2 days and 12 hours")]},
            "spec.layers[0].rotation: '2 days and 12 hours' is not a duration; write 2d12h",
            id="rotation-in-longer-words",
        ),
        pytest.param(
            {"layers": [layer(rotation="1d1w")]},
            "spec.layers[0].rotation: '1d1w' is not a duration; write 1w1d",
            id="rotation-out-of-order",
        ),
        pytest.param(
            {"layers": [layer(rotation="90m")]},
            "spec.layers[0].rotation: '90m' is not a duration such as 12h, 1d or 1w",
            id="rotation-in-minutes",
        ),
        pytest.param(
            {"layers": [layer(rotation="0h")]},
            "spec.layers[0].rotation: '0h' is not a duration such as 12h, 1d or 1w",
            id="rotation-zero",
        ),
        pytest.param(
            {"layers": [layer(rotation="")]}, "spec.layers[0].rotation: '' is not a duration", id="rotation-empty"
        ),
        pytest.param(
            {"layers": [layer(members=[])]},
            "spec.layers[0].members: a layer needs at least one member",
            id="no-members",
        ),
        pytest.param(
            {"layers": [layer(members=["alice", "Bob Smith"])]},
            "spec.layers[0].members[1]: 'Bob Smith' is not a member name",
            id="member-with-a-space",
        ),
        pytest.param(
            {"layers": [layer(start="2026-11-02T09:00:00Z")]},
            "spec.layers[0].start: '2026-11-02T09:00:00Z' carries a UTC offset; give the local time without one",
            id="start-with-offset",
        ),
        pytest.param(
            {"layers": [layer(start="2026-11-02 09:00")]},
            "spec.layers[0].start: '2026-11-02 09:00' is not a local date and time such as 2026-11-02T09:00:00",
            id="start-malformed",
        ),
        pytest.param(
            {"layers": [layer(start="2026-02-30T09:00:00")]},
            "spec.layers[0].start: '2026-02-30T09:00:00' is not a date and time that exists",
            id="start-that-does-not-exist",
        ),
        pytest.param(
            {"layers": [layer(restrictions=[{"days": ["Mon"], "start": "17:00", "end": "09:00"}])]},
            "spec.layers[0].restrictions[0]: end '09:00' must be after start '17:00'",
            id="restriction-end-before-start",
        ),
        pytest.param(
            {"layers": [layer(restrictions=[{"start": "09:00", "end": "09:00"}])]},
            "spec.layers[0].restrictions[0]: end '09:00' must be after start '09:00'",
            id="restriction-empty",
        ),
        pytest.param(
            {"layers": [layer(restrictions=[{"start": "9:00", "end": "17:00"}])]},
            "spec.layers[0].restrictions[0].start: '9:00' is not a local time of day such as 09:00",
            id="restriction-clock",
        ),
        pytest.param(
            {"layers": [layer(restrictions=[{"start": "09:00", "end": "24:30"}])]},
            "spec.layers[0].restrictions[0].end: '24:30' is not a local time of day such as 17:00",
            id="restriction-past-midnight",
        ),
        pytest.param(
            {"layers": [layer(restrictions=[{"days": ["Monday"], "start": "09:00", "end": "17:00"}])]},
            "spec.layers[0].restrictions[0].days[0]: must be one of 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat' or 'Sun',"
            " not 'Monday'",
            id="restriction-day",
        ),
        pytest.param(
            {"layers": [layer(restrictions=[{"days": ["Mon", "Mon"], "start": "09:00", "end": "17:00"}])]},
            "spec.layers[0].restrictions[0].days: duplicate value 'Mon'",
            id="restriction-day-twice",
        ),
        pytest.param(
            {"layers": [layer(name="Weekly")]},
            "spec.layers[0].name: 'Weekly' is not a lower-case DNS label",
            id="layer-name",
        ),
        pytest.param(
            {"layers": [layer(), layer()]},
            "spec.layers: layer names must be unique, repeated: weekly",
            id="layer-names-repeat",
        ),
        pytest.param(
            {"layers": []}, "spec: a schedule needs at least one layer or an ical feed", id="no-layer-no-feed"
        ),
        pytest.param(
            {
                "layers": [layer()],
                "overrides": [{"member": "dave", "start": "2026-11-25T09:00:00Z", "end": "2026-11-24T18:00:00Z"}],
            },
            "spec.overrides[0]: end '2026-11-24T18:00:00Z' must be after start '2026-11-25T09:00:00Z'",
            id="override-end-before-start",
        ),
        pytest.param(
            {
                "layers": [layer()],
                "overrides": [{"member": "dave", "start": "2026-11-24T18:00:00", "end": "2026-11-25T09:00:00Z"}],
            },
            "spec.overrides[0].start: '2026-11-24T18:00:00' is not an RFC 3339 time with a UTC offset",
            id="override-without-offset",
        ),
        pytest.param(
            {"layers": [layer()], "overrides": [{"start": "2026-11-24T18:00:00Z", "end": "2026-11-25T09:00:00Z"}]},
            "spec.overrides[0].member: required",
            id="override-without-member",
        ),
        pytest.param(
            {"ical": {"configMapRef": {"name": "Oncall", "key": "schedule.ics"}}},
            "spec.ical.configMapRef.name: 'Oncall' is not a lower-case RFC 1123 subdomain",
            id="configmap-name",
        ),
        pytest.param(
            {"ical": {"configMapRef": {"name": "oncall", "key": "a/b"}}},
            "spec.ical.configMapRef.key: 'a/b' is not a value matching",
            id="configmap-key",
        ),
        pytest.param(
            {"layers": [layer(rotation=7)]},
            "spec.layers[0].rotation: must be of type string, not integer",
            id="json-type",
        ),
        pytest.param({"layers": [layer(owner="x")]}, "spec.layers[0].owner: unknown field", id="unknown"),
        pytest.param(
            {"layers": [layer()], "time_zone": "UTC"},
            "time_zone: unknown field (the CRD calls it timeZone)",
            id="python-name",
        ),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field_and_the_value(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(OnCallError) as caught:
        parse_oncall_schedule({"timeZone": "Europe/Berlin"} | spec)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("not a calendar", "not iCalendar text: Content line could not be parsed", id="not-ical"),
        pytest.param("BEGIN:VEVENT\nEND:VEVENT\n", "it holds a VEVENT, not a VCALENDAR", id="not-a-vcalendar"),
        pytest.param(
            ical(
                "BEGIN:VEVENT\nUID:x1\nDTSTART:20261102T090000Z\nDTEND:20261103T090000Z\nSUMMARY:On call\nEND:VEVENT\n"
            ),
            "event 'On call' (UID 'x1') names no member: its SUMMARY is not a member name and it has no ATTENDEE",
            id="no-member",
        ),
        pytest.param(
            ical(
                "BEGIN:VEVENT\nUID:x2\nDTSTART:20261102T090000Z\nDTEND:20261103T090000Z\nSUMMARY:On call\n"
                "ATTENDEE;CN=alice:mailto:a@example.com\nATTENDEE;CN=bob:mailto:b@example.com\nEND:VEVENT\n"
            ),
            "event 'On call' (UID 'x2') names 2 attendees ['alice', 'bob']; an on-call event names one",
            id="two-attendees",
        ),
        pytest.param(
            ical(
                "BEGIN:VEVENT\nUID:x3\nDTSTART:20261102T090000Z\nDTEND:20261103T090000Z\nSUMMARY:On call\n"
                "ATTENDEE;CN=Bob Smith:mailto:b@example.com\nEND:VEVENT\n"
            ),
            "event 'On call' (UID 'x3'): ATTENDEE CN 'Bob Smith' is not a member name",
            id="attendee-no-member-name",
        ),
        pytest.param(
            ical("BEGIN:VEVENT\nUID:x4\nDTSTART:20261102T090000Z\nRRULE:FREQ=SOMETIMES\nSUMMARY:alice\nEND:VEVENT\n"),
            "cannot expand the calendar's events",
            id="bad-rrule",
        ),
        pytest.param(
            ical("BEGIN:VEVENT\nUID:x5\nDTSTART:tomorrow\nSUMMARY:alice\nEND:VEVENT\n"),
            "cannot expand the calendar's events: Cannot access 'dt' on broken property 'DTSTART'",
            id="bad-dtstart",
        ),
    ],
)
def test_an_unusable_ical_feed_is_refused_naming_the_configmap(text: str, message: str) -> None:
    spec = parse_oncall_schedule({"timeZone": "Europe/Berlin", "ical": FEED})
    with pytest.raises(OnCallError) as caught:
        on_call(spec, utc(11, 2, 12), ical_text=text)
    assert str(caught.value).startswith("spec.ical.configMapRef (ConfigMap oncall-ics key schedule.ics): ")
    assert message in str(caught.value)


def test_a_feed_needs_its_text_and_text_needs_a_feed() -> None:
    with_feed = parse_oncall_schedule({"timeZone": "UTC", "ical": FEED})
    with pytest.raises(OnCallError, match="no iCal text was given"):
        on_call(with_feed, utc(11, 2))
    with pytest.raises(OnCallError, match=r"spec\.ical is not set, yet iCal text was given"):
        on_call(schedule(layer()), utc(11, 2), ical_text=ICS)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda s: on_call(s, datetime(2026, 11, 2)), "now must be timezone-aware", id="naive-now"),
        pytest.param(lambda s: next_handoff(s, datetime(2026, 11, 2)), "now must be timezone-aware", id="naive-next"),
        pytest.param(lambda s: shifts(s, utc(11, 2), datetime(2026, 11, 3)), "end must be timezone-aware", id="naive"),
        pytest.param(lambda s: shifts(s, utc(11, 3), utc(11, 2)), "must be after start", id="backwards-range"),
    ],
)
def test_moments_must_be_aware_and_ranges_forward(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(schedule(layer()))


# --- the CRD says what the model says --------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for key, child in (node.get("properties") or {}).items():
        found += _walk(child, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), dict):
        found += _walk(node["items"], f"{path}[]")
    return found


def test_the_crd_checks_the_models_patterns() -> None:
    # A pattern, or a CEL rule that checks one and says what is wrong with examples.
    patterns = {path: node["pattern"] for path, node in _walk(_schema()) if "pattern" in node} | {
        path: found[1]
        for path, node in _walk(_schema())
        for rule in node.get("x-kubernetes-validations", [])
        if (found := re.fullmatch(r"self\.matches\('([^']*)'\)", rule["rule"]))
    }
    assert patterns == {
        "spec.layers[].name": DNS_LABEL,
        "spec.layers[].start": oncall.LOCAL_TIME_PATTERN,
        "spec.layers[].rotation": oncall.ROTATION_PATTERN,
        "spec.layers[].members[]": oncall.MEMBER_PATTERN,
        "spec.layers[].restrictions[].start": oncall.CLOCK_PATTERN,
        "spec.layers[].restrictions[].end": oncall.CLOCK_END_PATTERN,
        "spec.overrides[].member": oncall.MEMBER_PATTERN,
        "spec.overrides[].start": TIMESTAMP_PATTERN,
        "spec.overrides[].end": TIMESTAMP_PATTERN,
        "spec.ical.configMapRef.name": DNS_SUBDOMAIN,
        "spec.ical.configMapRef.key": oncall.CONFIGMAP_KEY_PATTERN,
        "status.conditions[].reason": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    }


def test_the_crd_offers_the_models_days_and_bounds() -> None:
    layers = _schema()["properties"]["spec"]["properties"]["layers"]
    restriction = layers["items"]["properties"]["restrictions"]["items"]
    assert restriction["properties"]["days"]["items"]["enum"] == list(oncall.WEEKDAYS)
    assert layers["maxItems"] == OnCallScheduleSpec.model_fields["layers"].metadata[0].max_length
    assert layers["items"]["properties"]["members"]["items"]["maxLength"] == oncall.MEMBER_MAX_LENGTH


def test_every_field_of_the_crd_is_described() -> None:
    # metadata aside: the API server refuses anything there but its type.
    undescribed = [
        path for path, node in _walk(_schema()) if path not in ("", "metadata") and "description" not in node
    ]
    assert undescribed == []


def test_the_crds_rules_say_what_the_model_says() -> None:
    spec = _schema()["properties"]["spec"]
    restriction = spec["properties"]["layers"]["items"]["properties"]["restrictions"]["items"]
    assert spec["x-kubernetes-validations"][0]["message"] == "a schedule needs at least one layer or an ical feed"
    assert restriction["x-kubernetes-validations"][0]["message"].startswith("end must be after start")
    assert (
        spec["properties"]["overrides"]["items"]["x-kubernetes-validations"][0]["message"] == "end must be after start"
    )


def test_the_crd_is_found_as_oncall_in_the_onduty_category() -> None:
    names = yaml.safe_load(CRD.read_text())["spec"]["names"]
    assert (names["kind"], names["shortNames"], names["categories"]) == ("OnCallSchedule", ["oncall"], ["onduty"])
