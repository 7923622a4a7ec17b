"""How long resolved Alerts and Incidents are kept, as pure decisions.

A resolved object is history, and etcd is no archive: every object costs memory
in the API server and every watcher, and a namespace holding years of Alerts
lists slowly. So each kind has a retention, counted from when the object
resolved; an unresolved object is never expired, however old (an Alert while it
fires, an Incident until it resolves).

The defaults are what a platform team picks:

* Alerts, 72 hours: they are raw input, and their incident keeps their
  summary and counts. Three days cover an incident of a Friday night that the
  team looks at on Monday.
* Incidents, 30 days (720h): long enough for the post-mortem review (usually
  within two weeks) and a monthly review of MTTA/MTTR; the durable record is the
  post-mortem itself, and Prometheus keeps the metrics.

``0s`` turns a retention off: objects of that kind are kept for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from onduty.domain.durations import parse_duration
from onduty.domain.times import parse_time

DEFAULT_ALERT_RETENTION = timedelta(hours=72)
DEFAULT_INCIDENT_RETENTION = timedelta(days=30)


def parse_retention(text: str) -> timedelta | None:
    """``72h`` → 72 hours; ``0s`` (or ``0``) → None: keep for ever. ValueError names a bad value."""
    text = text.strip()
    if text == "0":
        return None
    value = parse_duration(text)
    return value if value > timedelta(0) else None


def resolved_since(obj: dict[str, Any]) -> datetime | None:
    """When ``obj`` (an Alert or an Incident) resolved; None while it is unresolved (or of another kind).

    An Alert ended at its ``endsAt``, an Incident at its ``resolvedAt`` (else
    when its ``Resolved`` condition turned true); one written without that time
    counts from its creation, so it still goes one day.
    """
    meta = obj.get("metadata") or {}
    created = parse_time(meta.get("creationTimestamp"))
    if obj.get("kind") == "Alert":
        spec = obj.get("spec") or {}
        if spec.get("state") != "resolved":
            return None
        return parse_time(spec.get("endsAt")) or created
    if obj.get("kind") == "Incident":
        status = obj.get("status") or {}
        if status.get("phase") != "Resolved":
            return None
        condition: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Resolved" and c.get("status") == "True"),
            {},
        )
        return parse_time(status.get("resolvedAt")) or parse_time(condition.get("lastTransitionTime")) or created
    return None


def expires_at(obj: dict[str, Any], retention: timedelta | None) -> datetime | None:
    """When ``obj`` may be deleted; None: never (unresolved, no time to count from, or no retention)."""
    if retention is None:
        return None
    since = resolved_since(obj)
    return None if since is None else since + retention


def expired(obj: dict[str, Any], now: datetime, retention: timedelta | None) -> bool:
    """Whether ``obj`` is resolved and has been for at least ``retention`` at ``now``."""
    due = expires_at(obj, retention)
    return due is not None and now >= due
