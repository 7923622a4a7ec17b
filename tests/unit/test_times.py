"""Times as onduty writes them (to the second, or to the microsecond for Alertmanager's) and reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from onduty.domain.times import parse_time, require_time, rfc3339, rfc3339_microseconds

MOMENT = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_kubernetes_times_drop_the_fraction_and_an_unknown_time_stays_unknown() -> None:
    assert rfc3339(MOMENT) == "2024-05-01T12:00:00Z"
    assert rfc3339(None) is None


def test_alertmanager_times_keep_the_microseconds_their_episodes_are_ordered_by() -> None:
    assert rfc3339_microseconds(MOMENT) == "2024-05-01T12:00:00.123456Z"
    assert parse_time(rfc3339_microseconds(MOMENT)) == MOMENT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01t12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # RFC 3339 allows lower case
        ("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # no offset: UTC
        ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC
        ("", None),
        (5, None),
    ],
)
def test_what_cannot_be_read_is_none(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "", None, 1714564800])
def test_a_time_that_must_be_there_fails_loudly(value: Any) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        require_time(value)
