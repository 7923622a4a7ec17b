"""A human pausing or resuming an incident's automation leaves a record.

``onduty.dev/paused`` is written by a person (``kubectl annotate``); the
timeline says when it was set and removed, and by which client if the
object's ``managedFields`` name one (the manager: ``kubectl-annotate``,
``onduty``, Argo CD…; the API server records no user there).

The timeline itself is the memory: the last pause entry says what was last
recorded, so an operator that restarts, or sees the same watch event twice,
records each change once and never a change that did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from onduty.domain import timeline
from onduty.domain.annotations import PAUSED_ANNOTATION, is_paused
from onduty.domain.timeline import Entry

PAUSED = "AutomationPausedByUser"
RESUMED = "AutomationResumed"


def manager_of_pause(obj: Mapping[str, Any]) -> str | None:
    """The field manager that set ``onduty.dev/paused`` on ``obj`` (None when no managedFields say)."""
    key = f"f:{PAUSED_ANNOTATION}"
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        annotations = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
        if key in annotations and entry.get("manager"):
            return str(entry["manager"])
    return None


def recorded_paused(status: Mapping[str, Any]) -> bool:
    """Whether the timeline's last pause record says paused (no record: not paused)."""
    for item in reversed(status.get("timeline") or []):
        if item.get("reason") in (PAUSED, RESUMED):
            return bool(item.get("reason") == PAUSED)
    return False


def pause_change(status: Mapping[str, Any], obj: Mapping[str, Any], *, by: str | None = None) -> Entry | None:
    """The entry for a pause set or removed since the timeline last said, or None if nothing changed."""
    paused = is_paused(obj)
    if paused == recorded_paused(status):
        return None
    who = f" by {by}" if by else ""
    if paused:
        return Entry(
            PAUSED,
            f"automation paused{who} (annotation {PAUSED_ANNOTATION}); no action runs until it is removed",
            "Warning",
        )
    return Entry(RESUMED, f"automation resumed{who} (annotation {PAUSED_ANNOTATION} removed)")


def record_pause(status: dict[str, Any], obj: Mapping[str, Any], *, now: datetime) -> list[Entry]:
    """Append the pause change (if any) to the timeline, in place; the entries to post as Events."""
    by = manager_of_pause(obj) if is_paused(obj) else None
    entry = pause_change(status, obj, by=by)
    if entry is None:
        return []
    timeline.append(status, entry, now)
    return [entry]


def needs_record(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj``'s pause annotation differs from its timeline's last record (cheap: no I/O)."""
    return pause_change(obj.get("status") or {}, obj) is not None
