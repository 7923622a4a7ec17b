"""The ``rolloutHistory`` diagnostic: a Deployment's revisions, as ``kubectl rollout history`` shows them.

"What changed?" is the first question in an incident; for a Deployment the
answer is in the ReplicaSets it owns and their revision annotations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from onduty.domain.diagnostics.results import Result, counted, one_line
from onduty.domain.diagnostics.specs import RolloutHistory
from onduty.domain.rollouts import REVISION_ANNOTATION
from onduty.domain.times import ago

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"


def _images(template: Mapping[str, Any]) -> list[str]:
    spec = template.get("spec") or {}
    return [str(c.get("image", "")) for c in spec.get("containers") or []]


def rollout_history_result(
    spec: RolloutHistory, deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]], now: datetime
) -> Result:
    """The Deployment's revisions from the ReplicaSets it owns, newest first (``kubectl rollout history``)."""
    uid = (deployment.get("metadata") or {}).get("uid")
    current = str(((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, ""))
    revisions = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        if not any(ref.get("uid") == uid and ref.get("controller") for ref in meta.get("ownerReferences") or []):
            continue
        annotations = meta.get("annotations") or {}
        try:
            revision = int(annotations.get(REVISION_ANNOTATION, "0"))
        except ValueError:
            revision = 0
        entry: dict[str, Any] = {
            "revision": revision,
            "replicaSet": meta.get("name"),
            "createdAt": meta.get("creationTimestamp"),
            "images": _images((rs.get("spec") or {}).get("template") or {}),
            "replicas": int((rs.get("status") or {}).get("replicas") or 0),
        }
        if annotations.get(CHANGE_CAUSE_ANNOTATION):
            entry["changeCause"] = one_line(annotations[CHANGE_CAUSE_ANNOTATION], 300)
        if str(revision) == current:
            entry["current"] = True
        revisions.append(entry)
    revisions.sort(key=lambda e: e["revision"], reverse=True)
    kept = revisions[: spec.limit]
    details = {"revisions": kept, "total": len(revisions), "currentRevision": current or None}
    if not kept:
        return Result(spec.name, spec.type, True, "no revisions recorded (no ReplicaSets owned)", details)
    parts = [_describe_revision(e, now) for e in kept[:2]]
    summary = f"{counted(len(revisions), 'revision')}; " + "; ".join(parts)
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _describe_revision(entry: Mapping[str, Any], now: datetime) -> str:
    label = "current revision" if entry.get("current") else "revision"
    text = f"{label} {entry['revision']} created {ago(entry['createdAt'], now)} ({', '.join(entry['images'])})"
    if entry.get("changeCause"):
        text += f" change-cause {entry['changeCause']!r}"
    return text
