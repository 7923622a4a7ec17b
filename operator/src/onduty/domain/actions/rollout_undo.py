"""``rolloutUndo``: what ``kubectl rollout undo`` does, the old ReplicaSet's pod template back on the Deployment.

One JSON patch does it all: the ``test`` op is the resourceVersion
precondition, the record is added, the template replaced (a merge patch would
merge the old template into the new). All of it happens, or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, Refused
from onduty.domain.actions.records import last_record, record_metadata
from onduty.domain.rollouts import REVISION_ANNOTATION

NAME = "rolloutUndo"


def applied(ctx: Context) -> bool:
    """The record and the template change are one write: the record alone proves it."""
    return last_record(ctx.workload, NAME).get("actionId") == ctx.action_id


def check_kind(ctx: Context) -> None:
    if ctx.target.kind != "Deployment":
        raise Refused("UnsupportedKind", f"rollout undo works on Deployments, not {ctx.target.kind}")


def revisions(workload: dict[str, Any], replicasets: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The workload's ReplicaSets (of those in its namespace) by the revision the controller gave them."""
    uid = workload["metadata"]["uid"]
    out: dict[int, dict[str, Any]] = {}
    for rs in replicasets:
        if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or []):
            revision = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
            if revision and revision.isdigit():
                out[int(revision)] = rs
    return out


def template_of(replicaset: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's pod template as the Deployment holds it (without the controller's hash label)."""
    template: dict[str, Any] = json.loads(json.dumps(replicaset["spec"]["template"]))
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return template


def _pointer(key: str) -> str:
    """An annotation key as a JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Plan:
    ops: list[dict[str, Any]]  # one JSON patch of the Deployment
    outcome: Applied


def plan(ctx: Context, by_revision: dict[int, dict[str, Any]]) -> Plan:
    """Back to the step's revision, or the one before the current; raises :class:`Refused` when there is none."""
    current = int((ctx.workload["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0)
    wanted = ctx.step.to_revision
    if wanted is None:
        older = [r for r in by_revision if r < current]
        if not older:
            raise Refused("NoPreviousRevision", f"{ctx.target} has no revision before {current} to go back to")
        wanted = max(older)
    if wanted not in by_revision:
        raise Refused("RevisionNotFound", f"{ctx.target} has no revision {wanted} (has {sorted(by_revision)})")
    if wanted == current:
        raise Refused("AlreadyAtRevision", f"{ctx.target} is already at revision {wanted}")
    template = template_of(by_revision[wanted])
    record = record_metadata(ctx, {"fromRevision": current, "toRevision": wanted})
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": record["resourceVersion"]}
    ]
    if ctx.workload["metadata"].get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    for key, value in record["annotations"].items():
        ops.append({"op": "add", "path": "/metadata/annotations/" + _pointer(key), "value": value})
    ops.append({"op": "replace", "path": "/spec/template", "value": template})
    return Plan(
        ops,
        Applied(
            f"back to revision {wanted} (from {current})",
            f"{ctx.target}: spec.template := ReplicaSet {by_revision[wanted]['metadata']['name']} (revision {wanted})",
            {"fromRevision": current, "toRevision": wanted},
        ),
    )


def revert_revision(record: dict[str, Any]) -> int | None:
    """The revision an undo came from (what its revert goes back to); None when the record does not say."""
    back = (record.get("details") or {}).get("fromRevision")
    return back or None


def revert_ops(by_revision: dict[int, dict[str, Any]], back: int) -> list[dict[str, Any]] | None:
    """The JSON patch that restores revision ``back``'s template; None when that revision is gone."""
    if back not in by_revision:
        return None
    return [{"op": "replace", "path": "/spec/template", "value": template_of(by_revision[back])}]
