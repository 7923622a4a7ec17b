"""Times as Kubernetes, Helm and Argo CD write them, and as a responder reads them (``3m10s ago``).

The one place onduty writes and reads RFC 3339: status fields, annotations,
Events and webhook payloads all go through :func:`rfc3339`, and every stamp
another system wrote is read by :func:`parse_time`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from onduty.domain.durations import format_duration

# Where a time that cannot be read sorts: before every other.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?")


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, seconds precision, as Kubernetes writes times."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 as Kubernetes, Helm (nanoseconds, any offset) and Argo CD write it; None if unreadable."""
    if not isinstance(value, str):
        return None
    found = _TIME.match(value.strip())
    if not found:
        return None
    date, clock, fraction, zone = found.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    zone = "+00:00" if zone in (None, "Z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{micro}{zone}").astimezone(UTC)
    except ValueError:
        return None


def ago(value: Any, now: datetime) -> str:
    """``3m10s ago`` (or ``at <value>`` when the time cannot be read)."""
    moment = parse_time(value)
    if moment is None:
        return f"at {value}" if value else "at an unknown time"
    delta = now - moment
    if delta < timedelta(seconds=1):
        return "just now"
    return f"{format_duration(delta)} ago"


def stamp(moment: datetime | None) -> str | None:
    """``2024-05-01T12:00:00Z``: a moment as Kubernetes writes it, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z") if moment else None
