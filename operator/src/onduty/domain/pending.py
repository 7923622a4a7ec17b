"""What waits for a human or for time, across incidents: ``onduty get pending``.

One row per remediation step that waits: for an approval (with its expiry and
the ``onduty approve`` command that lets it run), for a hold to pass (with the
time it passes, where known) or for a human's pause to be lifted. Built from
the incidents as the API server returns them, so it shows what the operator
recorded, nothing guessed::

    NAMESPACE  INCIDENT  STEP     WAITS FOR                                   AGE
    team-a     inc-1     restart  approval until 2026-11-30T10:42:00Z: ...    3m
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from onduty.domain.annotations import is_paused
from onduty.domain.durations import format_duration
from onduty.domain.pauses import manager_of_pause
from onduty.domain.times import parse_time
from onduty.domain.waiting import waiting_for

Waits = Literal["approval", "hold", "pause"]


@dataclass(frozen=True)
class Pending:
    namespace: str
    incident: str
    step: str
    action: str
    target: str  # Kind/name
    waits: Waits
    reason: str  # ApprovalRequired, or the holding denial's reason
    what: str  # one line: what it waits for, until when
    since: str | None  # when it started waiting (RFC 3339)
    until: str | None  # when the approval expires or the hold passes (RFC 3339), where known
    command: str | None  # what a human runs to let it go on (approvals)

    def age(self, now: datetime) -> str:
        started = parse_time(self.since) if self.since else None
        if started is None:
            return "-"
        return format_duration(timedelta(seconds=max(0, int((now - started).total_seconds()))))


def pending(incidents: Iterable[dict[str, Any]]) -> list[Pending]:
    """Every step that waits, of every unresolved incident in ``incidents``, oldest wait first."""
    rows = []
    for incident in incidents:
        meta = incident.get("metadata") or {}
        status = incident.get("status") or {}
        if status.get("phase") == "Resolved":
            continue
        for action in status.get("actions") or []:
            row = _row(str(meta.get("namespace", "")), str(meta.get("name", "")), action, incident)
            if row is not None:
                rows.append(row)
    return sorted(rows, key=lambda r: (r.since or "", r.namespace, r.incident, r.step))


def _row(namespace: str, incident: str, action: dict[str, Any], obj: dict[str, Any]) -> Pending | None:
    target = action.get("target") or {}
    common = {
        "namespace": namespace,
        "incident": incident,
        "step": str(action.get("step", "")),
        "action": str(action.get("action", "")),
        "target": f"{target.get('kind')}/{target.get('name')}",
    }
    if action.get("state") == "AwaitingApproval":
        approval = action.get("approval") or {}
        expires = approval.get("expiresAt")
        command = f"onduty approve -n {namespace} {incident} --step {common['step']}"
        until = f" until {expires}" if expires else ""
        return Pending(
            **common,
            waits="approval",
            reason="ApprovalRequired",
            what=f"approval{until}: {command}",
            since=approval.get("requestedAt"),
            until=expires,
            command=command,
        )
    held = action.get("held")
    if action.get("state") == "Pending" and isinstance(held, dict) and not action.get("startedAt"):
        paused = held.get("reason") == "AutomationPaused"
        # Who paused it, as far as the API server tells: the client that wrote the annotation (not a user).
        manager = manager_of_pause(obj) if paused and is_paused(obj) else None
        return Pending(
            **common,
            waits="pause" if paused else "hold",
            reason=str(held.get("reason", "")),
            what=waiting_for(held) + (f", set with {manager}" if manager else ""),
            since=held.get("since"),
            until=held.get("until"),
            command=None,
        )
    return None


def table(rows: list[Pending], now: datetime, *, all_namespaces: bool) -> str:
    """The rows as kubectl prints a list: a header, one line each, columns aligned."""
    header = [*(["NAMESPACE"] if all_namespaces else []), "INCIDENT", "STEP", "ACTION", "WAITS FOR", "AGE"]
    lines = [
        [*([r.namespace] if all_namespaces else []), r.incident, r.step, f"{r.action} {r.target}", r.what, r.age(now)]
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "   ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    )


def to_json(rows: list[Pending], now: datetime) -> str:
    """The rows as a JSON document: ``{"items": [...]}``, each with its age."""
    return json.dumps({"items": [{**asdict(r), "age": r.age(now)} for r in rows]}, indent=2)
