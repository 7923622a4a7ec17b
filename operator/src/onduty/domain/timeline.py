"""The incident's durable record: a bounded timeline and metav1.Condition-shaped conditions.

Events expire after an hour; ``status.timeline`` is what the post-mortem is
built from. It is bounded because an object in etcd must stay well under
1.5 MiB: the newest entries are kept and the number dropped is counted, so a
reader knows the record is not complete.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from onduty.domain.times import rfc3339

# 200 entries of ~300 bytes is ~60 KiB: far from etcd's limit, and more than a
# noisy incident produces before a human takes over.
TIMELINE_LIMIT = 200

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Entry:
    """One timeline entry; the same values become a Kubernetes Event."""

    reason: str
    message: str
    type: EventType = "Normal"


def append(status: dict[str, Any], entry: Entry, now: datetime, limit: int = TIMELINE_LIMIT) -> None:
    """Append an entry to ``status['timeline']`` in place, keeping at most ``limit``."""
    timeline = list(status.get("timeline") or [])
    timeline.append({"time": rfc3339(now), "type": entry.type, "reason": entry.reason, "message": entry.message})
    overflow = len(timeline) - limit
    if overflow > 0:
        timeline = timeline[overflow:]
        status["timelineDropped"] = int(status.get("timelineDropped") or 0) + overflow
    status["timeline"] = timeline


def set_condition(
    status: dict[str, Any],
    *,
    type_: str,
    true: bool,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> None:
    """Set one condition in place; ``lastTransitionTime`` moves only when the status flips."""
    value = "True" if true else "False"
    conditions = [dict(c) for c in status.get("conditions") or []]
    current = next((c for c in conditions if c.get("type") == type_), None)
    if current is None:
        current = {"type": type_, "lastTransitionTime": rfc3339(now)}
        conditions.append(current)
    elif current.get("status") != value:
        current["lastTransitionTime"] = rfc3339(now)
    current.update({"status": value, "reason": reason, "message": message})
    if generation is not None:
        current["observedGeneration"] = generation
    status["conditions"] = conditions


def condition_is(status: dict[str, Any], type_: str, value: bool) -> bool:
    want = "True" if value else "False"
    return any(c.get("type") == type_ and c.get("status") == want for c in status.get("conditions") or [])


def merged(entries: Sequence[Entry], reasons: Collection[str]) -> list[Entry]:
    """``entries`` with those of each reason in ``reasons`` as one entry, where the first of them was,
    that says how many and lists their messages ("3 AlertJoined: alert a …; alert b …; alert c …")."""
    groups: dict[str, list[Entry]] = {}
    order: list[Entry | str] = []
    for entry in entries:
        if entry.reason not in reasons:
            order.append(entry)
            continue
        if entry.reason not in groups:
            groups[entry.reason] = []
            order.append(entry.reason)
        groups[entry.reason].append(entry)
    out = []
    for item in order:
        if isinstance(item, Entry):
            out.append(item)
            continue
        same = groups[item]
        if len(same) == 1:
            out.append(same[0])
        else:
            message = f"{len(same)} {item}: " + "; ".join(e.message for e in same)
            out.append(Entry(item, message, "Warning" if any(e.type == "Warning" for e in same) else "Normal"))
    return out
