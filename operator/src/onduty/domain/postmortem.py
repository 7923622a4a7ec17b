"""The post-mortem draft of an incident, in Markdown, from what the incident recorded.

Sections follow the well-known templates (Google SRE's example postmortem,
PagerDuty's template): summary, impact, key times with time-to-detect,
-acknowledge, -mitigate and -resolve, the full timeline, what automation did
and what it was not allowed to do, responders, and the sections only people can
write (root cause, trigger, lessons, action items), left empty.

Pure and deterministic: the same incident object renders the same bytes. No
clock is read: an open incident's draft is "as of" its newest recorded time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onduty.domain.annotations import INCIDENT_LABEL
from onduty.domain.durations import format_duration
from onduty.domain.guardrails import read_recorded
from onduty.domain.times import parse_time, rfc3339

# A ConfigMap holds at most 1 MiB; the incident's status is bounded far below
# that, but a draft is cut here rather than refused by the API server.
MAX_BYTES = 900 * 1024

DEFINITIONS = (
    "- **Time to detect**: from the first alert's start (`startsAt`, which already lags the alerting rule's "
    "`for:`) to the incident opening.\n"
    "- **Time to acknowledge**: from the incident opening to the first acknowledgement by a human.\n"
    "- **Time to mitigate**: from the first alert's start to the first remediation verified to work "
    "(`IncidentMitigated`).\n"
    "- **Time to resolve**: from the first alert's start to the incident resolving."
)


@dataclass(frozen=True)
class KeyTimes:
    started: datetime | None  # the earliest alert's startsAt (or the incident's opening, for a manual one)
    opened: datetime | None
    acknowledged: datetime | None
    mitigated: datetime | None
    resolved: datetime | None

    def since(self, origin: datetime | None, moment: datetime | None) -> str:
        if origin is None or moment is None:
            return "—"
        return format_duration(moment - origin) if moment >= origin else "0s"


def key_times(incident: Mapping[str, Any]) -> KeyTimes:
    status = incident.get("status") or {}
    opened = parse_time(status.get("openedAt")) or parse_time((incident.get("metadata") or {}).get("creationTimestamp"))
    starts = [t for t in (parse_time(a.get("startsAt")) for a in status.get("alerts") or []) if t is not None]
    escalation = status.get("escalation") or {}
    acknowledged = parse_time(status.get("acknowledgedAt")) or parse_time(escalation.get("acknowledgedAt"))
    mitigated = next(
        (parse_time(e.get("time")) for e in status.get("timeline") or [] if e.get("reason") == "IncidentMitigated"),
        None,
    )
    return KeyTimes(
        started=min(starts) if starts else opened,
        opened=opened,
        acknowledged=acknowledged,
        mitigated=mitigated,
        resolved=parse_time(status.get("resolvedAt")),
    )


def render(incident: Mapping[str, Any]) -> str:
    """The Markdown draft of ``incident`` (an Incident object as the API server returns it)."""
    metadata = incident.get("metadata") or {}
    spec = incident.get("spec") or {}
    status = incident.get("status") or {}
    name = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    resolved = status.get("phase") == "Resolved"
    times = key_times(incident)
    parts = [
        f"# Post-mortem: {_line(spec.get('title') or metadata.get('name') or 'incident')}",
        "",
        _banner(name, metadata, status, resolved),
        "",
        "## Summary",
        "",
        *_summary(spec, status, times),
        "",
        "## Impact",
        "",
        *_impact(spec, status, times),
        "",
        "## Key times",
        "",
        *_key_times(times),
        "",
        DEFINITIONS,
        "",
        "## Timeline",
        "",
        *_timeline(status),
        "",
        "## Diagnostics",
        "",
        *_diagnostics(status),
        "",
        "## What automation did",
        "",
        *_actions(status),
        "",
        "## What automation was not allowed to do, and why",
        "",
        *_denials(status),
        "",
        "## Responders",
        "",
        *_responders(metadata, status),
        "",
        *_for_people(),
    ]
    text = "\n".join(parts).rstrip("\n") + "\n"
    encoded = text.encode()
    if len(encoded) > MAX_BYTES:
        cut = encoded[:MAX_BYTES].decode(errors="ignore")
        text = cut.rsplit("\n", 1)[0] + f"\n\n_(cut at {MAX_BYTES // 1024} KiB: the incident's status is complete)_\n"
    return text


def _banner(name: str, metadata: Mapping[str, Any], status: Mapping[str, Any], resolved: bool) -> str:
    uid = metadata.get("uid")
    ident = f"`{name}`" + (f" (uid `{uid}`)" if uid else "")
    if resolved:
        return f"_Draft written by onduty from incident {ident} when it resolved. Edit it; it is not rewritten._"
    as_of = _newest_time(status)
    when = f" as of {as_of}" if as_of else ""
    return f"_Draft so far{when}, from incident {ident}, phase {status.get('phase') or 'Open'}: still open._"


def _newest_time(status: Mapping[str, Any]) -> str | None:
    times = [parse_time(e.get("time")) for e in status.get("timeline") or []]
    times += [parse_time(status.get(k)) for k in ("openedAt", "acknowledgedAt", "resolvedAt")]
    known = [t for t in times if t is not None]
    return rfc3339(max(known)) if known else None


def _summary(spec: Mapping[str, Any], status: Mapping[str, Any], times: KeyTimes) -> list[str]:
    runbook = status.get("runbook") or {}
    lines = [
        f"- **What**: {_line(spec.get('title') or '')}",
        f"- **Severity**: {spec.get('severity') or 'unknown'}",
        f"- **Workload**: {_workload(spec)}",
        f"- **Source**: {spec.get('source') or 'manual'}",
        f"- **Runbook**: {_runbook(runbook)}",
        f"- **Outcome**: {status.get('phase') or 'Open'}"
        + (f", after {times.since(times.started, times.resolved)}" if times.resolved else ""),
    ]
    if status.get("lastAction"):
        lines.append(f"- **Last action**: {_line(status['lastAction'])}")
    return lines


def _impact(spec: Mapping[str, Any], status: Mapping[str, Any], times: KeyTimes) -> list[str]:
    end = times.resolved
    duration = times.since(times.started, end) if end else "ongoing"
    targets = sorted({_target(a.get("target") or {}) for a in status.get("actions") or [] if a.get("target")} - {""})
    lines = [
        f"- **Severity**: {spec.get('severity') or 'unknown'}",
        f"- **Affected workloads**: {', '.join([_workload(spec), *[t for t in targets if t != _workload(spec)]])}",
        f"- **Duration**: {duration} (from the first alert's start"
        + (" to resolution)" if end else "; not resolved yet)"),
        f"- **Alerts**: {int(status.get('totalAlerts') or 0)} in all, {int(status.get('firingAlerts') or 0)} "
        f"firing, {int(status.get('resolvedAlerts') or 0)} resolved",
    ]
    truncated = int(status.get("truncatedAlerts") or 0)
    if truncated:
        lines.append(
            f"- **Alerts not seen**: Alertmanager left up to {truncated} alert(s) of this group out of a "
            "notification (its max_alerts); they are not counted above"
        )
    dropped = int(status.get("alertsDropped") or 0)
    alerts = list(status.get("alerts") or [])
    if alerts:
        lines += ["", "| alert | alertname | state | started |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {_cell(a.get('name'))} | {_cell(a.get('alertname'))} | {_cell(a.get('state'))} | "
            f"{_cell(a.get('startsAt'))} |"
            for a in alerts
        ]
        if dropped:
            lines.append(f"\n{dropped} more alert(s) are counted but not listed in the incident.")
    return lines


def _key_times(times: KeyTimes) -> list[str]:
    rows = [
        ("Impact started (first alert's startsAt)", times.started, "—"),
        ("Detected (incident opened)", times.opened, f"time to detect {times.since(times.started, times.opened)}"),
        (
            "Acknowledged",
            times.acknowledged,
            f"time to acknowledge {times.since(times.opened, times.acknowledged)}",
        ),
        ("Mitigated", times.mitigated, f"time to mitigate {times.since(times.started, times.mitigated)}"),
        ("Resolved", times.resolved, f"time to resolve {times.since(times.started, times.resolved)}"),
    ]
    lines = ["| moment | time | measure |", "| --- | --- | --- |"]
    for label, moment, measure in rows:
        lines.append(f"| {label} | {rfc3339(moment) if moment else 'not yet'} | {measure if moment else '—'} |")
    return lines


def _timeline(status: Mapping[str, Any]) -> list[str]:
    entries: list[tuple[str, int, str]] = []
    for index, entry in enumerate(status.get("timeline") or []):
        marker = " ⚠" if entry.get("type") == "Warning" else ""
        entries.append(
            (str(entry.get("time") or ""), index, f"{entry.get('reason')}{marker}: {_line(entry.get('message'))}")
        )
    offset = len(entries)
    for index, note in enumerate(status.get("notifications") or []):
        what = f"{note.get('kind') or 'notice'} via {note.get('notifier')} ({note.get('type') or '?'})"
        outcome = str(note.get("state") or "")
        if note.get("reason"):
            outcome += f": {_line(note['reason'])}"
        who = f" to {', '.join(note['responders'])}" if note.get("responders") else ""
        entries.append((str(note.get("recordedAt") or ""), offset + index, f"Notification: {what}{who} — {outcome}"))
    entries.sort(key=lambda e: (e[0], e[1]))  # stable: same-second entries keep their recorded order
    lines = []
    dropped = int(status.get("timelineDropped") or 0)
    if dropped:
        lines.append(f"_{dropped} earlier timeline entries were dropped to keep the incident small._")
        lines.append("")
    lines += [f"- {time or '?'} — {text}" for time, _, text in entries] or ["_Nothing recorded._"]
    dropped_notes = int(status.get("notificationsDropped") or 0)
    if dropped_notes:
        lines.append(f"\n_{dropped_notes} earlier notifications are not listed._")
    return lines


def _diagnostics(status: Mapping[str, Any]) -> list[str]:
    results = list(status.get("diagnostics") or [])
    if not results:
        return ["_No diagnostics were gathered._"]
    lines = []
    for result in results:
        state = "ok" if result.get("ok") else f"failed: {_line(result.get('error') or '')}"
        cut = " (truncated)" if result.get("truncated") else ""
        lines.append(f"- **{result.get('name')}** ({result.get('type')}, {state}){cut}: {_line(result.get('summary'))}")
    return lines


def _actions(status: Mapping[str, Any]) -> list[str]:
    actions = list(status.get("actions") or [])
    if not actions:
        return ["_No remediation was attempted._"]
    lines: list[str] = []
    for action in actions:
        lines += [
            f"### {action.get('step') or action.get('id')}: {action.get('action')} of "
            f"{_target(action.get('target') or {}) or 'no target'} — {action.get('state')}",
            "",
        ]
        for key, label in (("createdAt", "recorded"), ("appliedAt", "applied"), ("finishedAt", "finished")):
            if action.get(key):
                lines.append(f"- {label}: {action[key]}")
        if action.get("message"):
            lines.append(f"- result: {_line(action['message'])}")
        approval = action.get("approval") or {}
        if approval.get("decidedBy"):
            verb = "approved" if approval.get("approved") else "rejected"
            lines.append(f"- {verb} by {approval['decidedBy']} at {approval.get('decidedAt')}")
        elif approval.get("requestedAt"):
            lines.append(f"- approval requested at {approval['requestedAt']}, never decided")
        if action.get("policies"):
            lines.append(f"- policies in scope: {', '.join(action['policies'])}")
        verdicts = read_recorded(action)
        if verdicts:
            lines += ["", "| guardrail | verdict | reason | message |", "| --- | --- | --- | --- |"]
            lines += [
                f"| {_cell(v.get('guardrail'))} | {'allowed' if v.get('allowed') else 'denied'} | "
                f"{_cell(v.get('reason'))} | {_cell(v.get('message'))} |"
                for v in verdicts
            ]
        if action.get("diff"):
            lines += ["", "Dry-run change (not made):", "", "```diff", str(action["diff"]).rstrip("\n"), "```"]
        lines.append("")
    return lines[:-1]


def _denials(status: Mapping[str, Any]) -> list[str]:
    lines = []
    for action in status.get("actions") or []:
        denied = [v for v in action.get("verdicts") or [] if v.get("allowed") is False]
        if action.get("state") == "DryRun":
            lines.append(
                f"- {action.get('action')} of {_target(action.get('target') or {})}: only a dry run "
                "(a RemediationPolicy in scope sets dryRun)"
            )
        for verdict in denied:
            lines.append(
                f"- {action.get('action')} of {_target(action.get('target') or {})}: "
                f"{verdict.get('guardrail')} — {verdict.get('reason')}: {_line(verdict.get('message'))}"
            )
        approval = action.get("approval") or {}
        if approval.get("decidedBy") and approval.get("approved") is False:
            lines.append(f"- {action.get('action')}: rejected by {approval['decidedBy']}")
    return lines or ["_Nothing: every attempted action was allowed._"]


def _responders(metadata: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    roles: dict[str, list[str]] = {}
    escalation = status.get("escalation") or {}
    if escalation.get("acknowledgedBy"):
        via = f" via {escalation['acknowledgedVia']}" if escalation.get("acknowledgedVia") else ""
        _add(roles, escalation["acknowledgedBy"], f"acknowledged{via}")
    for action in status.get("actions") or []:
        approval = action.get("approval") or {}
        if approval.get("decidedBy"):
            verb = "approved" if approval.get("approved") else "rejected"
            _add(roles, approval["decidedBy"], f"{verb} {action.get('step') or action.get('action')}")
    for note in status.get("notifications") or []:
        if note.get("kind") == "page" or note.get("page"):
            for responder in note.get("responders") or []:
                _add(roles, responder, f"paged (level {int(note.get('level') or 0) + 1})")
    for key, label in (("resolvedBy", "resolved by hand"),):
        if status.get(key):
            _add(roles, str(status[key]), label)
    if not roles:
        return ["_No human is recorded on this incident._"]
    return [f"- {who}: {', '.join(what)}" for who, what in sorted(roles.items())]


def _add(roles: dict[str, list[str]], who: str, what: str) -> None:
    done = roles.setdefault(who, [])
    if what not in done:
        done.append(what)


def _for_people() -> Sequence[str]:
    return [
        "## Root cause",
        "",
        "_To be written: why it happened, not only what broke._",
        "",
        "## Trigger",
        "",
        "_To be written: the change or event that set it off._",
        "",
        "## Lessons learned",
        "",
        "### What went well",
        "",
        "- ",
        "",
        "### What went wrong",
        "",
        "- ",
        "",
        "### Where we got lucky",
        "",
        "- ",
        "",
        "## Action items",
        "",
        "| action item | type (prevent / mitigate / detect) | owner | ticket |",
        "| --- | --- | --- | --- |",
        "|  |  |  |  |",
    ]


def _workload(spec: Mapping[str, Any]) -> str:
    workload = spec.get("workload") or {}
    return f"{workload.get('kind')}/{workload.get('name')}" if workload.get("name") else "none named"


def _target(target: Mapping[str, Any]) -> str:
    return f"{target.get('kind')}/{target.get('name')}" if target.get("name") else ""


def _runbook(runbook: Mapping[str, Any]) -> str:
    if not runbook.get("name"):
        return "none matched"
    return f"{runbook.get('namespace')}/{runbook['name']}" if runbook.get("namespace") else str(runbook["name"])


def _line(value: object) -> str:
    """One line of text (newlines folded), as a list item needs."""
    return " ".join(str(value or "").split())


def _cell(value: object) -> str:
    """One table cell: one line, pipes escaped."""
    return _line(value).replace("|", "\\|")


# --- stored beside the incident ------------------------------------------------------------------------------------

CONFIGMAP_KEY = "postmortem.md"
_SUFFIX = "-postmortem"


def configmap_name(incident_name: str) -> str:
    """``<incident>-postmortem``; a name too long for that keeps its start and a hash of the whole."""
    name = incident_name + _SUFFIX
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(incident_name.encode()).hexdigest()[:10]
    return f"{incident_name[: 253 - len(_SUFFIX) - 11]}-{digest}{_SUFFIX}"


def configmap(incident: Mapping[str, Any], text: str) -> dict[str, Any]:
    """The ConfigMap that keeps ``text``, owned by the incident (deleted with it)."""
    metadata = incident["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(metadata["name"]),
            "namespace": metadata["namespace"],
            "labels": {INCIDENT_LABEL: metadata["name"][:63] if len(metadata["name"]) <= 63 else metadata["uid"]},
            "ownerReferences": [
                {
                    "apiVersion": incident.get("apiVersion") or "onduty.dev/v1alpha1",
                    "kind": "Incident",
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                }
            ],
        },
        "data": {CONFIGMAP_KEY: text},
    }


def due(incident: Mapping[str, Any]) -> bool:
    """Write the draft now: resolved, not written yet, and no message about it still being sent."""
    status = incident.get("status") or {}
    if status.get("phase") != "Resolved" or status.get("postmortem"):
        return False
    return not any(n.get("state") in ("Pending", "Sending") for n in status.get("notifications") or [])


def record(status: dict[str, Any], name: str, text: str, now: datetime, *, problem: str | None = None) -> None:
    """Note in the incident's status where its draft is (in place), or why it could not be written there."""
    if problem:
        status["postmortem"] = {"configMap": name, "error": problem}
        return
    status["postmortem"] = {
        "configMap": name,
        "key": CONFIGMAP_KEY,
        "writtenAt": rfc3339(now),
        "bytes": len(text.encode()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
