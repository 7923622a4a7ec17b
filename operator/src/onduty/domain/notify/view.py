"""The incident as every message tells it, built once from the Incident object.

What an on-call engineer needs at 3 a.m.: what is firing, where, how bad, how
many alerts (and how many Alertmanager left out), what onduty already did and
with what result, what the diagnostics found, where to look, and the commands
to take over. Every channel renders this one view, so Slack and the ticket
never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

# Chat messages and ticket bodies carry the newest actions only; the full
# record is the incident's timeline.
ACTION_LINES = 5
DIAGNOSTICS_CHARS = 1500


@dataclass(frozen=True)
class ActionLine:
    action: str
    state: str  # Pending, AwaitingApproval, Applied, Succeeded, Failed, Denied, DryRun, Closed
    target: str  # "Deployment/web"
    message: str = ""

    @property
    def summary(self) -> str:
        """``restartPods on Deployment/web — Succeeded: 3 pods restarted``: one line per action, every channel."""
        target = f" on {self.target}" if self.target else ""
        detail = f": {self.message}" if self.message else ""
        return f"{self.action}{target} — {self.state}{detail}"


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class IncidentView:
    name: str
    namespace: str
    uid: str
    title: str  # one line: the alert's summary or the alertname and where
    severity: str  # critical, warning, info (onduty's normalised severity)
    phase: str  # Open, Remediating (or AwaitingApproval, Paused, Held), Mitigated, Escalated, Resolved
    state: str  # triggered, acknowledged, resolved (as pagers say it)
    opened_at: datetime | None
    alertname: str = ""
    workload: str = ""  # "Deployment/web", empty when none
    firing_alerts: int = 0
    total_alerts: int = 0
    truncated_alerts: int = 0  # how many Alertmanager left out of one notification
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalation_level: int | None = None
    pending_approval: str = ""  # the action id waiting for a human, if any
    actions: tuple[ActionLine, ...] = ()
    diagnostics: str = ""  # Markdown digest, bounded
    labels: Mapping[str, str] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    public: bool = False  # a status page may show it (the escalation policy decides)

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.workload}" if self.workload else self.namespace

    @property
    def alerts_summary(self) -> str:
        """``3 firing of 5 (2 more left out by Alertmanager)``."""
        text = f"{self.firing_alerts} firing of {self.total_alerts}"
        if self.truncated_alerts:
            text += f" ({self.truncated_alerts} more left out by Alertmanager)"
        return text

    @property
    def commands(self) -> tuple[str, ...]:
        """The commands to take over, in the order a responder needs them (approve only when one waits)."""
        approve = (self.approve_command,) if self.approve_command else ()
        return (self.describe_command, self.ack_command, *approve, self.pause_command)

    @property
    def describe_command(self) -> str:
        return f"kubectl describe incident {self.name} -n {self.namespace}"

    @property
    def ack_command(self) -> str:
        return f"onduty ack {self.name} -n {self.namespace}"

    @property
    def pause_command(self) -> str:
        return f"kubectl annotate incident {self.name} -n {self.namespace} onduty.dev/paused=true"

    @property
    def approve_command(self) -> str:
        if not self.pending_approval:
            return ""
        return f"onduty approve -n {self.namespace} {self.pending_approval}"


def build(
    incident: Mapping[str, Any],
    *,
    public: bool = False,
    prometheus_url: str = "",
) -> IncidentView:
    """The view of an Incident object as the API server returned it."""
    meta = incident.get("metadata") or {}
    spec = incident.get("spec") or {}
    status = incident.get("status") or {}
    labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
    annotations = meta.get("annotations") or {}
    workload = spec.get("workload") or {}
    workload_text = f"{workload.get('kind')}/{workload.get('name')}" if workload.get("name") else ""
    alertname = labels.get("alertname", "")
    title = str(spec.get("title") or alertname or meta.get("name"))
    phase = str(status.get("phase") or "Open")
    escalation = status.get("escalation") or {}
    acknowledged_by = str(escalation.get("acknowledgedBy") or "")
    if phase == "Resolved":
        state = "resolved"
    elif status.get("acknowledgedAt") and acknowledged_by:
        state = "acknowledged"
    else:
        state = "triggered"
    actions = tuple(
        ActionLine(
            action=str(a.get("action", "")),
            state=str(a.get("state", "")),
            target=_target(a.get("target") or {}),
            message=str(a.get("message") or a.get("reason") or ""),
        )
        for a in list(status.get("actions") or [])[-ACTION_LINES:]
    )
    pending = next(
        (str(a.get("id")) for a in reversed(status.get("actions") or []) if a.get("state") == "AwaitingApproval"), ""
    )
    links: list[Link] = []
    runbook_url = str(
        spec.get("runbookURL") or labels.get("runbook_url") or annotations.get("onduty.dev/runbook-url") or ""
    )
    if runbook_url.startswith(("https://", "http://")):
        links.append(Link("Runbook", runbook_url))
    generator = str(spec.get("generatorURL") or annotations.get("onduty.dev/generator-url") or "")
    if generator.startswith(("https://", "http://")):
        links.append(Link("Prometheus", generator))
    elif prometheus_url and alertname:
        expr = f'ALERTS{{alertname="{alertname}",namespace="{meta.get("namespace", "")}"}}'
        links.append(Link("Prometheus", f"{prometheus_url.rstrip('/')}/graph?g0.expr={quote(expr)}"))
    diagnostics = str(status.get("diagnosticsSummary") or "")
    if len(diagnostics) > DIAGNOSTICS_CHARS:
        diagnostics = diagnostics[: DIAGNOSTICS_CHARS - 1] + "…"
    return IncidentView(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        uid=str(meta.get("uid", "")),
        title=title,
        severity=str(spec.get("severity") or "warning"),
        phase=phase,
        state=state,
        opened_at=_time(status.get("openedAt") or meta.get("creationTimestamp")),
        alertname=alertname,
        workload=workload_text,
        firing_alerts=int(status.get("firingAlerts") or 0),
        total_alerts=int(status.get("totalAlerts") or 0),
        truncated_alerts=int(status.get("truncatedAlerts") or 0),
        acknowledged_by=acknowledged_by,
        acknowledged_at=_time(status.get("acknowledgedAt")),
        resolved_at=_time(status.get("resolvedAt")),
        escalation_level=escalation.get("level") if isinstance(escalation.get("level"), int) else None,
        pending_approval=pending,
        actions=actions,
        diagnostics=diagnostics,
        labels=labels,
        links=tuple(links),
        public=public,
    )


def _target(target: Mapping[str, Any]) -> str:
    return f"{target.get('kind')}/{target.get('name')}" if target.get("name") else ""


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
