"""Go-style durations in runbook specs: parsing and the short human rendering."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from onduty.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("250ms", timedelta(milliseconds=250)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
        ("2h45m30s500ms", timedelta(hours=2, minutes=45, seconds=30, milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        ("0.5s", timedelta(milliseconds=500)),
        ("0s", timedelta(0)),
        ("90m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("99999d", timedelta(days=99999)),
        ("5m5m", timedelta(minutes=10)),  # Go adds repeated units too
    ],
)
def test_a_go_duration_parses_to_its_length(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "10",
        "m",
        "-5m",
        "+5m",
        "1w",
        "1.5d",
        "100000d",
        "1h1d",
        "d",
        "10 m",
        "1h 30m",
        " 10m",
        "10m\n",
        "1.m",
        ".5s",
        "1us",
        "1ns",
        "10M",
        "1h-30m",
    ],
)
def test_a_value_that_is_not_a_duration_is_rejected_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "0s"),
        (timedelta(milliseconds=999), "0s"),
        (timedelta(seconds=1, milliseconds=900), "1s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=60), "1m"),
        (timedelta(minutes=4, seconds=10), "4m10s"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=1, seconds=5), "1h5s"),
        (timedelta(hours=1, minutes=1, seconds=1), "1h1m1s"),
        (timedelta(days=2), "48h"),
    ],
)
def test_a_duration_renders_the_short_way_people_read_it(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize("text", ["30s", "15m", "1h30m", "2h5s", "1h1m1s"])
def test_a_rendered_duration_parses_back_to_the_same_length(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
