"""Is a rollout finished? The same rules ``kubectl rollout status`` applies.

Takes the workload object as the API returns it (a plain dict) and answers
with a value; the caller decides how long to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What `kubectl rollout restart` sets on the pod template (onduty's rolloutRestart too).
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
# The revision the Deployment controller writes on a Deployment and each ReplicaSet it owns.
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class RolloutState:
    done: bool
    failed: bool
    message: str


def rollout_state(kind: str, obj: dict[str, Any]) -> RolloutState:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {}) or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return RolloutState(False, False, "waiting for the controller to observe the new generation")
    if kind == "Deployment":
        return _deployment(spec, status)
    if kind == "StatefulSet":
        return _statefulset(spec, status)
    if kind == "DaemonSet":
        return _daemonset(status)
    return RolloutState(False, True, f"rollout status of kind {kind} is not supported")


def _deployment(spec: dict[str, Any], status: dict[str, Any]) -> RolloutState:
    for cond in status.get("conditions", []) or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(False, True, f"deployment exceeded its progress deadline: {cond.get('message', '')}")
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return RolloutState(False, False, f"{updated} of {want} replicas updated")
    if total > updated:
        return RolloutState(False, False, f"{total - updated} old replicas are pending termination")
    if available < updated:
        return RolloutState(False, False, f"{available} of {updated} updated replicas are available")
    return RolloutState(True, False, f"all {want} replicas updated and available")


def _statefulset(spec: dict[str, Any], status: dict[str, Any]) -> RolloutState:
    want = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    updated = status.get("updatedReplicas", 0)
    if ready < want:
        return RolloutState(False, False, f"{ready} of {want} pods are ready")
    strategy = spec.get("updateStrategy") or {}
    partition = ((strategy.get("rollingUpdate") or {}).get("partition")) or 0
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and partition:
        # A partitioned rollout is done once the pods at or above the partition are updated.
        if updated < want - partition:
            return RolloutState(False, False, f"{updated} of {want - partition} pods above the partition updated")
        return RolloutState(True, False, f"partitioned rollout complete: {updated} new pods")
    if status.get("updateRevision") != status.get("currentRevision") or updated < want:
        return RolloutState(False, False, f"{updated} of {want} pods updated to the new revision")
    return RolloutState(True, False, f"all {want} pods updated and ready")


def _daemonset(status: dict[str, Any]) -> RolloutState:
    want = status.get("desiredNumberScheduled", 0)
    updated = status.get("updatedNumberScheduled", 0)
    available = status.get("numberAvailable", 0)
    if updated < want:
        return RolloutState(False, False, f"{updated} of {want} updated pods are scheduled")
    if available < want:
        return RolloutState(False, False, f"{available} of {want} updated pods are available")
    return RolloutState(True, False, f"all {want} pods updated and available")
