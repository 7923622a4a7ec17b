"""Short values for ``kubectl get`` columns that no JSONPath into the spec can print readably.

A RemediationPolicy's scope is a list and two label selectors; ``kubectl get rpol``
prints ``status.scope``, one short line the operator writes when it accepts the
policy. An incident's ``status.runbookURL`` is its alerts' ``runbook_url``
annotation, for ``kubectl get incidents -o wide``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A column wider than this pushes the rest of `kubectl get` off a terminal line; the
# full scope is in the spec.
SCOPE_WIDTH = 60
# The annotation Prometheus alerting rules conventionally carry the runbook link in.
RUNBOOK_URL_ANNOTATION = "runbook_url"
# Longer is no link a person clicks; it is cut from the column, not shortened.
RUNBOOK_URL_LIMIT = 2048


def _selector(selector: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        op = req.get("operator", "")
        values = req.get("values") or []
        if op == "Exists":
            parts.append(str(req.get("key")))
        elif op == "DoesNotExist":
            parts.append(f"!{req.get('key')}")
        else:
            parts.append(f"{req.get('key')} {'in' if op == 'In' else 'notin'} ({','.join(map(str, values))})")
    return ",".join(parts) or "any"


def policy_scope(scope: Mapping[str, Any] | None) -> str:
    """``ns=team-a,team-b; ns-labels=env=prod; workloads=app=web``, or ``all namespaces``; cut at SCOPE_WIDTH."""
    scope = scope or {}
    parts = []
    if scope.get("namespaces"):
        parts.append("ns=" + ",".join(map(str, scope["namespaces"])))
    if scope.get("namespaceSelector") is not None:
        parts.append("ns-labels=" + _selector(scope["namespaceSelector"]))
    if scope.get("workloadSelector") is not None:
        parts.append("workloads=" + _selector(scope["workloadSelector"]))
    text = "; ".join(parts) or "all namespaces"
    return text if len(text) <= SCOPE_WIDTH else text[: SCOPE_WIDTH - 1] + "\u2026"


def record_runbook_url(status: dict[str, Any], annotations: Mapping[str, Any] | None) -> None:
    """Keep the first alert's ``runbook_url`` (an http(s) link) in ``status.runbookURL``, in place."""
    url = str((annotations or {}).get(RUNBOOK_URL_ANNOTATION) or "").strip()
    if status.get("runbookURL") or not url.startswith(("https://", "http://")) or len(url) > RUNBOOK_URL_LIMIT:
        return
    if any(c.isspace() for c in url):
        return
    status["runbookURL"] = url
