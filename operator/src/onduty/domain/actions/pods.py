"""A workload's pods, as the actions that look at them (``deletePod``, ``cordonNode``) read them."""

from __future__ import annotations

from typing import Any

from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Refused


def selector(ctx: Context) -> str:
    """The label selector of the target's pods (its matchLabels); raises :class:`Refused` when it has none."""
    match = ((ctx.workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not match:
        raise Refused("NoSelector", f"{ctx.target} has no matchLabels selector to find its pods")
    return ",".join(f"{k}={v}" for k, v in sorted(match.items()))


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or []
    )


def restarts(pod: dict[str, Any]) -> int:
    return sum(int(c.get("restartCount", 0)) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def hosts(pods: list[dict[str, Any]]) -> list[str]:
    """The nodes the pods run on, sorted, each once."""
    return sorted({str(n) for n in (p.get("spec", {}).get("nodeName") for p in pods) if n})
