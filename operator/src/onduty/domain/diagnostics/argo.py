"""The ``argoHistory`` diagnostic: an Argo CD Application's sync, health, operation and deploys.

For a GitOps-deployed workload the change that broke it is an Argo CD sync;
the Application's status holds the history, newest last, which this reverses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from onduty.domain.diagnostics.results import Result, one_line
from onduty.domain.diagnostics.specs import ArgoHistory
from onduty.domain.times import ago


def argo_history_result(spec: ArgoHistory, application: Mapping[str, Any], now: datetime) -> Result:
    """An Argo CD Application's sync and health, its operation, and its deploy history, newest first."""
    status = application.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    history = []
    for item in reversed(list(status.get("history") or [])):  # Argo keeps it oldest first
        source = item.get("source") or {}
        entry: dict[str, Any] = {
            "id": item.get("id"),
            "revision": item.get("revision"),
            "deployedAt": item.get("deployedAt"),
        }
        if source:
            entry["source"] = {
                k: source[k] for k in ("repoURL", "path", "chart", "targetRevision") if source.get(k) is not None
            }
        by = item.get("initiatedBy") or {}
        if by.get("automated"):
            entry["initiatedBy"] = "automated"
        elif by.get("username"):
            entry["initiatedBy"] = by["username"]
        history.append(entry)
    details: dict[str, Any] = {
        "application": f"{spec.namespace}/{spec.application}",
        "sync": {"status": sync.get("status", "Unknown"), "revision": sync.get("revision")},
        "health": {"status": health.get("status", "Unknown")},
        "history": history[: spec.limit],
        "total": len(history),
    }
    if health.get("message"):
        details["health"]["message"] = one_line(health["message"], 300)
    operation = status.get("operationState") or {}
    if operation:
        details["operationState"] = {
            "phase": operation.get("phase"),
            "message": one_line(operation.get("message") or "", 300),
            "startedAt": operation.get("startedAt"),
            "finishedAt": operation.get("finishedAt"),
            "revision": (operation.get("syncResult") or {}).get("revision")
            or ((operation.get("operation") or {}).get("sync") or {}).get("revision"),
        }
    summary = f"{sync.get('status', 'Unknown')}"
    if sync.get("revision"):
        summary += f" at {_short_revision(sync['revision'])}"
    summary += f", {health.get('status', 'Unknown')}"
    if history:
        last = history[0]
        summary += f"; last deploy #{last['id']} {ago(last['deployedAt'], now)} ({_short_revision(last['revision'])})"
    else:
        summary += "; no deploy history"
    if operation:
        summary += f"; operation {operation.get('phase')}"
        if operation.get("phase") not in ("Succeeded", "Running") and operation.get("message"):
            summary += f": {operation['message']}"
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _short_revision(revision: Any) -> str:
    text = str(revision or "?")
    return text[:7] if re.fullmatch(r"[0-9a-f]{40}", text) else text
