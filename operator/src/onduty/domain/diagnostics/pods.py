"""A workload's pods: which are the most interesting, and the ``podStatus`` finding.

The ``podLogs`` diagnostic reads the logs of the pods ranked first here; the
``podStatus`` diagnostic reports all of them, most interesting first, with the
crash loops and OOM kills named in its summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from onduty.domain.diagnostics.results import Result, counted, one_line
from onduty.domain.diagnostics.specs import PodStatus
from onduty.domain.times import EPOCH, parse_time


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A metav1.LabelSelector as the ``labelSelector`` query parameter."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key", ""), req.get("operator", ""), ",".join(req.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(op, f"!{key}")
        )
    return ",".join(parts)


def container_statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in container_statuses(pod))


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def rank_pods(pods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Most interesting first: not ready, then most restarted, then newest; terminating pods last."""

    def key(pod: Mapping[str, Any]) -> tuple[bool, bool, int, float, str]:
        meta = pod.get("metadata") or {}
        created = parse_time(meta.get("creationTimestamp")) or EPOCH
        return (
            bool(meta.get("deletionTimestamp")),
            is_ready(pod),
            -restarts(pod),
            -created.timestamp(),
            meta.get("name", ""),
        )

    return sorted((dict(p) for p in pods), key=key)


def _state(status: Mapping[str, Any]) -> tuple[str, str, int | None]:
    """(state, reason, exit code) of a container state."""
    for name in ("waiting", "terminated", "running"):
        value = status.get(name)
        if value is not None:
            code = value.get("exitCode") if name == "terminated" else None
            return name, str(value.get("reason") or ""), code
    return "unknown", "", None


def pod_status_result(spec: PodStatus, pods: Sequence[Mapping[str, Any]]) -> Result:
    ranked = rank_pods(pods)
    entries = []
    problems: list[str] = []
    for pod in ranked:
        meta, status = pod.get("metadata", {}), pod.get("status") or {}
        containers = []
        for c in list(status.get("initContainerStatuses") or []) + container_statuses(pod):
            state, reason, code = _state(c.get("state") or {})
            item: dict[str, Any] = {
                "name": c.get("name"),
                "ready": bool(c.get("ready")),
                "restarts": int(c.get("restartCount") or 0),
                "state": state,
            }
            if reason:
                item["reason"] = reason
            if code is not None:
                item["exitCode"] = code
            last_state, last_reason, last_code = _state(c.get("lastState") or {})
            if last_state == "terminated":
                item["lastTerminated"] = {"reason": last_reason, "exitCode": last_code}
                finished = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
                if finished:
                    item["lastTerminated"]["finishedAt"] = finished
            containers.append(item)
            if (reason and reason != "Completed") or (last_reason and last_reason != "Completed"):
                why = reason or state
                if last_reason:
                    why += f" (last terminated {last_reason}" + (
                        f", exit {last_code})" if last_code is not None else ")"
                    )
                problems.append(f"{meta.get('name')}/{c.get('name')}: {why}")
        entry: dict[str, Any] = {
            "name": meta.get("name"),
            "phase": status.get("phase", "Unknown"),
            "ready": is_ready(pod),
            "restarts": restarts(pod),
            "containers": containers,
        }
        if (pod.get("spec") or {}).get("nodeName"):
            entry["node"] = pod["spec"]["nodeName"]
        if meta.get("deletionTimestamp"):
            entry["terminating"] = True
        if status.get("reason"):
            entry["reason"] = status["reason"]
        entries.append(entry)
    if not entries:
        return Result(spec.name, spec.type, True, "no pods", {"pods": []})
    ready = sum(1 for e in entries if e["ready"])
    summary = f"{ready}/{len(entries)} pods ready, {counted(sum(e['restarts'] for e in entries), 'restart')}"
    if problems:
        summary += "; " + "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return Result(spec.name, spec.type, True, one_line(summary), {"pods": entries})
