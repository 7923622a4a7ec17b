"""``deletePod``: delete the one worst pod of the workload (not ready, most restarts); its controller replaces it.

The only delete onduty ever makes, of one Pod, with its uid as a precondition,
and never below the policies' ``minAvailable`` ready pods. The workload's
record (naming the pod and its uid) is written first, then the pod deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onduty.domain.actions import pods as pod_rules
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, Refused
from onduty.domain.actions.records import last_record, record_metadata

NAME = "deletePod"


def recorded_pod(ctx: Context) -> dict[str, Any] | None:
    """The workload's record of this very action (naming the pod and its uid), or None when it is not there."""
    record = last_record(ctx.workload, NAME)
    return record if record.get("actionId") == ctx.action_id else None


def gone(pod: dict[str, Any], record: dict[str, Any]) -> bool:
    """The recorded pod was deleted: another pod has its name now, or it is terminating."""
    return bool(pod["metadata"]["uid"] != record.get("uid") or pod["metadata"].get("deletionTimestamp"))


@dataclass(frozen=True)
class Plan:
    """The writes, in order: the workload's record, then the delete of ``pod`` (uid ``uid``)."""

    workload_patch: dict[str, Any]
    pod: str
    uid: str
    outcome: Applied


def plan(ctx: Context, pods: list[dict[str, Any]]) -> Plan:
    """Which pod goes (``pods``: the workload's); raises :class:`Refused` with none, or below ``minAvailable``."""
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    if not live:
        raise Refused("NoPods", f"{ctx.target} has no pods")
    worst = max(live, key=lambda p: (not pod_rules.ready(p), pod_rules.restarts(p), p["metadata"]["name"]))
    available_after = sum(1 for p in live if pod_rules.ready(p)) - (1 if pod_rules.ready(worst) else 0)
    floor = (ctx.limits.min_available if ctx.limits else None) or 0
    if available_after < floor:
        raise Refused(
            "BlastRadiusExceeded",
            f"deleting {worst['metadata']['name']} leaves {available_after} ready pods, below"
            f" {ctx.limit_of('min_available')} minAvailable {floor}",
        )
    name, uid = worst["metadata"]["name"], worst["metadata"]["uid"]
    why = "not ready" if not pod_rules.ready(worst) else "ready"
    return Plan(
        {"metadata": record_metadata(ctx, {"pod": name, "uid": uid})},
        name,
        uid,
        Applied(
            f"deleted pod {name} ({why}, {pod_rules.restarts(worst)} restarts)",
            f"Pod/{name} (uid {uid}): delete",
            {"pod": name, "uid": uid},
        ),
    )
