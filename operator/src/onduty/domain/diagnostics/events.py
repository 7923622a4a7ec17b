"""The ``events`` diagnostic: what Kubernetes said about a workload, newest first.

Events come in two API versions with different time fields and repeat counts;
this reads both, and names the latest Warning in the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from onduty.domain.diagnostics.results import Result, counted, one_line
from onduty.domain.diagnostics.specs import Events
from onduty.domain.times import EPOCH, ago, parse_time, rfc3339


def event_time(event: Mapping[str, Any]) -> datetime | None:
    series = event.get("series") or {}
    for value in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        moment = parse_time(value)
        if moment is not None:
            return moment
    return None


def events_result(spec: Events, events: Iterable[Mapping[str, Any]], now: datetime) -> Result:
    """The newest events first (deduplicated by uid), Warnings named in the summary."""
    unique = {str((e.get("metadata") or {}).get("uid") or id(e)): e for e in events}
    ordered = sorted(unique.values(), key=lambda e: event_time(e) or EPOCH, reverse=True)
    entries = []
    for event in ordered[: spec.limit]:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
        entry: dict[str, Any] = {
            "time": rfc3339(event_time(event)),
            "type": event.get("type", "Normal"),
            "reason": event.get("reason", ""),
            "object": f"{involved.get('kind', '?')}/{involved.get('name', '?')}",
            "message": one_line(event.get("message") or event.get("note") or "", 300),
        }
        if count > 1:
            entry["count"] = count
        entries.append(entry)
    if not entries:
        return Result(spec.name, spec.type, True, "no recent events", {"events": [], "total": 0})
    warnings = [e for e in entries if e["type"] == "Warning"]
    summary = f"{counted(len(ordered), 'event')} ({len(warnings)} Warning)"
    if len(ordered) > len(entries):
        summary += f", newest {len(entries)} kept"
    latest = warnings[0] if warnings else entries[0]
    times = f" (x{latest['count']})" if latest.get("count") else ""
    summary += (
        f"; latest {latest['type']} {latest['reason']} on {latest['object']} {ago(latest['time'], now)}:"
        f" {latest['message']}{times}"
    )
    return Result(spec.name, spec.type, True, one_line(summary), {"events": entries, "total": len(ordered)})
