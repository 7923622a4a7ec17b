"""Times as Kubernetes, Helm and Argo CD write them, and as a responder reads them (``3m10s ago``).

The one place onduty writes and reads RFC 3339: status fields, annotations,
Events and webhook payloads all go through :func:`rfc3339` (to the second, as
Kubernetes writes times), an Alertmanager time onduty stores through
:func:`rfc3339_microseconds`, and every stamp another system wrote is read by
:func:`parse_time` (or :func:`require_time` where an unreadable one must be an
error, not an absence). Helm's own storage format (Go's ``RFC3339Nano``) is
written where Helm's records are made, :func:`onduty.domain.helm.go_time`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from onduty.domain.durations import format_duration

# Where a time that cannot be read sorts: before every other.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 (section 5.6 allows a lower-case "t" and "z", and the API server's
# date-time format accepts them), plus the space Go's and Python's defaults write.
_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(\.\d+)?\s*([Zz]|[+-]\d\d:?\d\d)?")


@overload
def rfc3339(value: datetime) -> str: ...
@overload
def rfc3339(value: None) -> None: ...
@overload
def rfc3339(value: datetime | None) -> str | None: ...
def rfc3339(value: datetime | None) -> str | None:
    """``2024-05-01T12:00:00Z``: RFC 3339 in UTC with a ``Z``, to the second, as Kubernetes writes times.

    None stays None, for a time that is not known (a diagnostic's event without one).
    """
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def rfc3339_microseconds(value: datetime) -> str:
    """``2024-05-01T12:00:00.123456Z``: RFC 3339 in UTC, keeping the microseconds.

    For the times of an Alertmanager alert (``startsAt``, ``endsAt``): which
    episode a delivery belongs to is decided by comparing them, and an alert
    that re-fires within the second its episode ended must not read as a late
    delivery of it.
    """
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 as Kubernetes, Helm (nanoseconds, any offset) and Argo CD write it, in UTC; None if unreadable.

    A time without an offset is taken as UTC (the API server's own fields always carry one).
    """
    if not isinstance(value, str):
        return None
    found = _TIME.match(value.strip())
    if not found:
        return None
    date, clock, fraction, zone = found.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    zone = "+00:00" if zone in (None, "Z", "z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{micro}{zone}").astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with an offset east of UTC
        return None


def require_time(value: Any) -> datetime:
    """:func:`parse_time`, for a time that must be there: raises ``ValueError`` when it cannot be read.

    For what fails closed (a target's record of past actions: an unreadable
    time denies, it is never taken for "no earlier action").
    """
    moment = parse_time(value)
    if moment is None:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:37] + "..."
        raise ValueError(f"not an RFC 3339 time: {shown!r}")
    return moment


def ago(value: Any, now: datetime) -> str:
    """``3m10s ago`` (or ``at <value>`` when the time cannot be read)."""
    moment = parse_time(value)
    if moment is None:
        return f"at {value}" if value else "at an unknown time"
    delta = now - moment
    if delta < timedelta(seconds=1):
        return "just now"
    return f"{format_duration(delta)} ago"
