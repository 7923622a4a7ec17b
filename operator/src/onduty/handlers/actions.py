"""The remediation catalogue: one executor per action, each bounded, idempotent and dry-runnable.

Every executor works on one target workload (the anchor of the action's
record: the ``onduty.dev/last-<action>`` and ``onduty.dev/action-history``
annotations that cooldowns and rate limits read) and offers:

* ``applied(ctx)`` — did this action id already happen? (a restarted operator asks)
* ``apply(ctx, dry_run=)`` — do it (or ask the API server to validate it with
  ``dryRun=All``), raising :class:`Refused` when it must not run (blast radius,
  an HPA in the way, nothing to undo) and ``Conflict`` when the target moved
  under us (the caller judges again);
* ``progress(ctx, record)`` — for actions whose success is not a workload
  rollout (a Job, a Node, an Argo sync): where it stands;
* ``revert(ctx, record)`` — undo it, for runbooks that ask (scale, rollout undo).

Nothing here deletes namespaces, PVCs or CRDs; the only delete is of one Pod.

Every executor acts in the incident's namespace (``ctx.target.namespace``,
checked by :mod:`onduty.domain.trust` before an executor is called). What
reaches beyond it needs a grant from the RemediationPolicies in scope
(``ctx.grants``): a node (``cordonNode``, and only one the workload's pods run
on), an Argo CD Application in another namespace (and only one that deploys
into this one). ``runJob``'s pods pass the restricted Pod Security Standard
and run as an allowed ServiceAccount of the namespace.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from onduty.adapters import argocd as argo_adapter
from onduty.adapters import helm_rollback
from onduty.adapters.helm import HelmRecordError
from onduty.adapters.kube import Cluster, NotFound, segment
from onduty.domain import argocd as argo_domain
from onduty.domain import podsecurity, trust
from onduty.domain.alerts import rfc3339
from onduty.domain.policies import MAX_RATE_LIMIT_ACTIONS, BlastRadius
from onduty.domain.rollouts import RolloutState
from onduty.domain.runbooks import Step
from onduty.domain.workloads import Workload

ACTION_ID_ANNOTATION = "onduty.dev/action-id"
HISTORY_ANNOTATION = "onduty.dev/action-history"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# The times of the last actions on a workload, for policy rate limits: as many
# as the largest maxActions a policy may set, so no rate limit goes unenforced.
HISTORY_LIMIT = MAX_RATE_LIMIT_ACTIONS


# What a node-scoped incident (a node alert, no workload) can do; its Node is the target.
NODE_SCOPED_ACTIONS = ("cordonNode", "runJob")


def last_action_annotation(action: str) -> str:
    return f"onduty.dev/last-{action}"


class Refused(Exception):
    """The action must not run; ``reason`` is one CamelCase word, the message a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Held(Refused):
    """The action cannot run *yet* (Argo CD's own operation in progress): the step waits and looks again."""


@dataclass
class Context:
    cluster: Cluster
    target: Workload
    workload: dict[str, Any]
    action_id: str
    step: Step
    incident: dict[str, Any]
    limits: BlastRadius | None
    allow_suspend_automated_sync: bool
    now: datetime
    grants: trust.Grants = field(default_factory=trust.Grants)
    platform_runbook: bool = False  # the runbook is in onduty's own namespace (the platform owners')
    limits_from: dict[str, str] = field(
        default_factory=dict
    )  # which policy set each limit (Decision.blast_radius_from)

    def limit_of(self, attr: str) -> str:
        """``"policy NAME's"`` for the policy that set limit ``attr``, so a refusal names the deciding policy."""
        name = self.limits_from.get(attr)
        return f"policy {name}'s" if name else "the policy's"

    @property
    def incident_ref(self) -> str:
        return f"{self.incident['metadata']['namespace']}/{self.incident['metadata']['name']}"


@dataclass
class Applied:
    message: str
    diff: str
    details: dict[str, Any]  # kept in the action record (e.g. what a revert needs)


class Executor(Protocol):
    name: str
    verifies_rollout: bool

    def applied(self, ctx: Context) -> bool: ...
    def apply(self, ctx: Context, *, dry_run: bool) -> Applied: ...
    def progress(self, ctx: Context, record: dict[str, Any]) -> RolloutState: ...
    def revert(self, ctx: Context, record: dict[str, Any]) -> str | None: ...


class UnreadableState(Exception):
    """An annotation the guardrails read (history, last action) that does not parse: they deny, never guess."""

    def __init__(self, annotation: str, value: str, why: str) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"annotation {annotation} on the target cannot be read ({why}): {shown!r}")
        self.annotation = annotation


def history(workload: dict[str, Any]) -> list[datetime]:
    """When actions ran on the workload (any kind, oldest first); raises :class:`UnreadableState`."""
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(HISTORY_ANNOTATION)
    if raw is None:
        return []
    try:
        values = json.loads(raw)
        if not isinstance(values, list):
            raise TypeError("not a list")
        return [datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t in values]
    except (ValueError, TypeError) as error:
        raise UnreadableState(HISTORY_ANNOTATION, raw, str(error)) from error


def record_metadata(ctx: Context, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The workload's action record, with the resourceVersion the guardrails were judged on.

    Written again for the same action (an operator killed after writing it, before the
    action's own write, does it all again), it keeps its first time and adds no second
    entry to the history: rate limits count one action once.
    """
    previous = last_record(ctx.workload, ctx.step.action)
    again = previous.get("actionId") == ctx.action_id
    now = str(previous["at"]) if again and previous.get("at") else rfc3339(ctx.now)
    record = {"at": now, "actionId": ctx.action_id, "incident": ctx.incident_ref, **(extra or {})}
    kept = [rfc3339(t) for t in history(ctx.workload)[-HISTORY_LIMIT + 1 :]]
    times = kept if again and kept and kept[-1] == now else [*kept, now]
    return {
        "resourceVersion": ctx.workload["metadata"]["resourceVersion"],
        "annotations": {
            last_action_annotation(ctx.step.action): json.dumps(record),
            HISTORY_ANNOTATION: json.dumps(times),
        },
    }


def last_record(workload: dict[str, Any], action: str) -> dict[str, Any]:
    """The workload's record of the last ``action`` ({} if none); raises :class:`UnreadableState`."""
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(last_action_annotation(action))
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise UnreadableState(last_action_annotation(action), raw, str(error)) from error
    if not isinstance(value, dict) or ("at" in value and not isinstance(value["at"], str)):
        raise UnreadableState(last_action_annotation(action), raw, "not a record")
    return value


def _shown(patch: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in patch.items() if k != "metadata"}, sort_keys=True)


class _NoProgress:
    verifies_rollout = True

    def progress(self, ctx: Context, record: dict[str, Any]) -> RolloutState:
        return RolloutState(True, False, "nothing beyond the rollout to wait for")

    def revert(self, ctx: Context, record: dict[str, Any]) -> str | None:
        return None


class RolloutLike(_NoProgress):
    """Actions whose whole effect is a workload rollout: its state is the verification message."""


class RolloutRestart(RolloutLike):
    name = "rolloutRestart"

    def applied(self, ctx: Context) -> bool:
        template = (ctx.workload.get("spec") or {}).get("template", {}).get("metadata") or {}
        return bool((template.get("annotations") or {}).get(ACTION_ID_ANNOTATION) == ctx.action_id)

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        now = rfc3339(ctx.now)
        patch = {
            "metadata": record_metadata(ctx),
            "spec": {
                "template": {
                    "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now, ACTION_ID_ANNOTATION: ctx.action_id}}
                }
            },
        }
        ctx.cluster.patch_workload(ctx.target.kind, ctx.target.namespace, ctx.target.name, patch, dry_run=dry_run)
        return Applied(
            f"pod template annotated {RESTARTED_AT_ANNOTATION}; a new rollout starts",
            f"{ctx.target}: merge patch {_shown(patch)}",
            {},
        )


class Scale(RolloutLike):
    """Scale to a number or by a factor, inside the runbook's and the policies' bounds; HPA-aware."""

    name = "scale"

    def applied(self, ctx: Context) -> bool:
        """The record on the workload names this action and, under an HPA, the HPA carries it too.

        Under an HPA the workload's record is written before the HPA's floor is
        raised: an operator killed between the two finds the record and must
        still raise the floor.
        """
        record = last_record(ctx.workload, self.name)
        if record.get("actionId") != ctx.action_id:
            return False
        if not record.get("hpa"):
            return True
        path = (
            f"/apis/autoscaling/v2/namespaces/{segment(ctx.target.namespace)}"
            f"/horizontalpodautoscalers/{segment(record['hpa'])}"
        )
        try:
            hpa = ctx.cluster.request("GET", path)
        except NotFound:
            return True  # the HPA is gone: nothing left to raise
        return (hpa["metadata"].get("annotations") or {}).get(ACTION_ID_ANNOTATION) == ctx.action_id

    def desired(self, ctx: Context, current: int) -> int:
        step, limits = ctx.step, ctx.limits or BlastRadius()
        if step.replicas is not None:
            want = step.replicas
        elif step.factor is not None:
            if current == 0:
                raise Refused(
                    "CannotScaleFromZero", f"{ctx.target} has 0 replicas; a factor of {step.factor:g} means nothing"
                )
            want = math.ceil(current * step.factor)
        else:
            raise Refused("NoScaleGiven", "the step gives neither replicas nor factor")
        want = max(step.min_replicas or 0, min(want, step.max_replicas or want))
        if limits.max_replicas is not None and want > limits.max_replicas:
            raise Refused(
                "BlastRadiusExceeded",
                f"{want} replicas exceed {ctx.limit_of('max_replicas')} maxReplicas {limits.max_replicas}",
            )
        if limits.max_scale_factor is not None and current > 0 and want / current > limits.max_scale_factor:
            raise Refused(
                "BlastRadiusExceeded",
                f"scaling {ctx.target} from {current} to {want} is a factor of {want / current:.2g}, "
                f"over {ctx.limit_of('max_scale_factor')} maxScaleFactor {limits.max_scale_factor:g}",
            )
        if limits.min_available is not None and want < limits.min_available:
            raise Refused(
                "BlastRadiusExceeded",
                f"{want} replicas is below {ctx.limit_of('min_available')} minAvailable {limits.min_available}",
            )
        return want

    def _hpa(self, ctx: Context) -> dict[str, Any] | None:
        hpas = ctx.cluster.request(
            "GET", f"/apis/autoscaling/v2/namespaces/{segment(ctx.target.namespace)}/horizontalpodautoscalers"
        )
        for hpa in hpas.get("items", []):
            ref = hpa["spec"].get("scaleTargetRef") or {}
            if ref.get("kind") == ctx.target.kind and ref.get("name") == ctx.target.name:
                return dict(hpa)
        return None

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        current = int((ctx.workload.get("spec") or {}).get("replicas", 1))
        want = self.desired(ctx, current)
        if want == current:
            raise Refused("AlreadyAtScale", f"{ctx.target} already has {current} replicas")
        hpa = self._hpa(ctx)
        query = {"dryRun": "All"} if dry_run else None
        if hpa is not None:
            # Fight no HPA: raise its floor instead, and let it scale.
            name, spec = hpa["metadata"]["name"], hpa["spec"]
            if want < current:
                raise Refused(
                    "HpaManaged",
                    f"HPA {name} manages {ctx.target}; onduty does not scale it down behind the HPA's back",
                )
            if want > int(spec.get("maxReplicas", want)):
                raise Refused(
                    "HpaMaxReplicas", f"HPA {name} allows at most {spec.get('maxReplicas')} replicas; {want} asked"
                )
            before = int(spec.get("minReplicas", 1))
            ctx.cluster.patch_workload(
                ctx.target.kind,
                ctx.target.namespace,
                ctx.target.name,
                {"metadata": record_metadata(ctx, {"from": current, "to": want, "hpa": name, "hpaMinBefore": before})},
                dry_run=dry_run,
            )
            patch = {"metadata": {"annotations": {ACTION_ID_ANNOTATION: ctx.action_id}}, "spec": {"minReplicas": want}}
            ctx.cluster.request(
                "PATCH",
                f"/apis/autoscaling/v2/namespaces/{segment(ctx.target.namespace)}/horizontalpodautoscalers/{segment(name)}",
                query=query,
                body=patch,
                content_type="application/merge-patch+json",
            )
            return Applied(
                f"HPA {name} minReplicas {before} → {want} (the HPA scales {ctx.target})",
                f"HorizontalPodAutoscaler/{name}: minReplicas {before} -> {want}",
                {"from": current, "to": want, "hpa": name, "hpaMinBefore": before},
            )
        patch = {"metadata": record_metadata(ctx, {"from": current, "to": want}), "spec": {"replicas": want}}
        ctx.cluster.patch_workload(ctx.target.kind, ctx.target.namespace, ctx.target.name, patch, dry_run=dry_run)
        return Applied(
            f"replicas {current} → {want}",
            f"{ctx.target}: spec.replicas {current} -> {want}",
            {"from": current, "to": want},
        )

    def revert(self, ctx: Context, record: dict[str, Any]) -> str | None:
        details = record.get("details") or {}
        if details.get("hpa"):
            ctx.cluster.request(
                "PATCH",
                f"/apis/autoscaling/v2/namespaces/{segment(ctx.target.namespace)}/horizontalpodautoscalers/{segment(details['hpa'])}",
                body={"spec": {"minReplicas": details["hpaMinBefore"]}},
                content_type="application/merge-patch+json",
            )
            return f"HPA {details['hpa']} minReplicas back to {details['hpaMinBefore']}"
        if "from" in details:
            ctx.cluster.patch_workload(
                ctx.target.kind, ctx.target.namespace, ctx.target.name, {"spec": {"replicas": details["from"]}}
            )
            return f"replicas back to {details['from']}"
        return None


class RolloutUndo(RolloutLike):
    """What `kubectl rollout undo` does: the old ReplicaSet's pod template back on the Deployment."""

    name = "rolloutUndo"

    def applied(self, ctx: Context) -> bool:
        return last_record(ctx.workload, self.name).get("actionId") == ctx.action_id

    def _revisions(self, ctx: Context) -> dict[int, dict[str, Any]]:
        uid = ctx.workload["metadata"]["uid"]
        path = f"/apis/apps/v1/namespaces/{segment(ctx.target.namespace)}/replicasets"
        out: dict[int, dict[str, Any]] = {}
        for rs in ctx.cluster.request("GET", path).get("items", []):
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or []):
                revision = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
                if revision and revision.isdigit():
                    out[int(revision)] = rs
        return out

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        if ctx.target.kind != "Deployment":
            raise Refused("UnsupportedKind", f"rollout undo works on Deployments, not {ctx.target.kind}")
        revisions = self._revisions(ctx)
        current = int((ctx.workload["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0)
        wanted = ctx.step.to_revision
        if wanted is None:
            older = [r for r in revisions if r < current]
            if not older:
                raise Refused("NoPreviousRevision", f"{ctx.target} has no revision before {current} to go back to")
            wanted = max(older)
        if wanted not in revisions:
            raise Refused("RevisionNotFound", f"{ctx.target} has no revision {wanted} (has {sorted(revisions)})")
        if wanted == current:
            raise Refused("AlreadyAtRevision", f"{ctx.target} is already at revision {wanted}")
        template = _template_of(revisions[wanted])
        record = record_metadata(ctx, {"fromRevision": current, "toRevision": wanted})
        # One JSON patch: the template is replaced (a merge patch would merge the
        # old template into the new), the record is added, and the `test` op is
        # the resourceVersion precondition: all of it happens, or none.
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": record["resourceVersion"]}
        ]
        if ctx.workload["metadata"].get("annotations") is None:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        for key, value in record["annotations"].items():
            ops.append(
                {
                    "op": "add",
                    "path": "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1"),
                    "value": value,
                }
            )
        ops.append({"op": "replace", "path": "/spec/template", "value": template})
        ctx.cluster.request(
            "PATCH",
            ctx.cluster.workload_path(ctx.target.kind, ctx.target.namespace, ctx.target.name),
            query={"dryRun": "All"} if dry_run else None,
            body=ops,
            content_type="application/json-patch+json",
        )
        return Applied(
            f"back to revision {wanted} (from {current})",
            f"{ctx.target}: spec.template := ReplicaSet {revisions[wanted]['metadata']['name']} (revision {wanted})",
            {"fromRevision": current, "toRevision": wanted},
        )

    def revert(self, ctx: Context, record: dict[str, Any]) -> str | None:
        details = record.get("details") or {}
        back = details.get("fromRevision")
        if not back:
            return None
        revisions = self._revisions(ctx)
        if back not in revisions:
            return None
        ops = [{"op": "replace", "path": "/spec/template", "value": _template_of(revisions[back])}]
        ctx.cluster.request(
            "PATCH",
            ctx.cluster.workload_path(ctx.target.kind, ctx.target.namespace, ctx.target.name),
            body=ops,
            content_type="application/json-patch+json",
        )
        return f"template of revision {back} restored"


def _template_of(replicaset: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's pod template as the Deployment holds it (without the controller's hash label)."""
    template: dict[str, Any] = json.loads(json.dumps(replicaset["spec"]["template"]))
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return template


def _pods_of(ctx: Context) -> list[dict[str, Any]]:
    """The target workload's pods (by its matchLabels selector), in its namespace."""
    selector = ((ctx.workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not selector:
        raise Refused("NoSelector", f"{ctx.target} has no matchLabels selector to find its pods")
    query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}
    path = f"/api/v1/namespaces/{segment(ctx.target.namespace)}/pods"
    return list(ctx.cluster.request("GET", path, query=query).get("items", []))


class DeletePod(RolloutLike):
    """Delete the one worst pod of the workload (most restarts, not ready); its controller replaces it."""

    name = "deletePod"

    def applied(self, ctx: Context) -> bool:
        record = last_record(ctx.workload, self.name)
        if record.get("actionId") != ctx.action_id:
            return False
        try:
            pod = ctx.cluster.request(
                "GET", f"/api/v1/namespaces/{segment(ctx.target.namespace)}/pods/{segment(record['pod'])}"
            )
        except NotFound:
            return True
        return pod["metadata"]["uid"] != record.get("uid") or bool(pod["metadata"].get("deletionTimestamp"))

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        pods = [p for p in _pods_of(ctx) if not p["metadata"].get("deletionTimestamp")]
        if not pods:
            raise Refused("NoPods", f"{ctx.target} has no pods")

        def ready(pod: dict[str, Any]) -> bool:
            return any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            )

        def restarts(pod: dict[str, Any]) -> int:
            return sum(int(c.get("restartCount", 0)) for c in (pod.get("status") or {}).get("containerStatuses") or [])

        worst = max(pods, key=lambda p: (not ready(p), restarts(p), p["metadata"]["name"]))
        available_after = sum(1 for p in pods if ready(p)) - (1 if ready(worst) else 0)
        floor = (ctx.limits.min_available if ctx.limits else None) or 0
        if available_after < floor:
            raise Refused(
                "BlastRadiusExceeded",
                f"deleting {worst['metadata']['name']} leaves {available_after} ready pods, below"
                f" {ctx.limit_of('min_available')} minAvailable {floor}",
            )
        name, uid = worst["metadata"]["name"], worst["metadata"]["uid"]
        ctx.cluster.patch_workload(
            ctx.target.kind,
            ctx.target.namespace,
            ctx.target.name,
            {"metadata": record_metadata(ctx, {"pod": name, "uid": uid})},
            dry_run=dry_run,
        )
        ctx.cluster.request(
            "DELETE",
            f"/api/v1/namespaces/{segment(ctx.target.namespace)}/pods/{segment(name)}",
            # With a body, the API server reads every delete option from it, dryRun included.
            body={"preconditions": {"uid": uid}, **({"dryRun": ["All"]} if dry_run else {})},
        )
        why = "not ready" if not ready(worst) else "ready"
        return Applied(
            f"deleted pod {name} ({why}, {restarts(worst)} restarts)",
            f"Pod/{name} (uid {uid}): delete",
            {"pod": name, "uid": uid},
        )


class CordonNode(_NoProgress):
    """Mark the node the incident names (label ``node``) unschedulable, as `kubectl cordon` does."""

    name = "cordonNode"
    verifies_rollout = False

    def _node(self, ctx: Context) -> str:
        """The node to cordon: one the workload's pods run on (the incident's ``node`` label picks among them).

        A node named by a runbook step is taken only from a runbook of onduty's
        own namespace; a tenant's runbook or alert label cannot pick an
        arbitrary node.
        """
        if ctx.target.kind == "Node":  # a node-scoped incident: its node, chosen in the platform's namespace
            return ctx.target.name
        if ctx.step.node:
            if not ctx.platform_runbook:
                raise Refused(
                    "NodeFromRunbook",
                    f"step {ctx.step.name}: node {ctx.step.node!r}: only runbooks in onduty's own namespace may name"
                    " a node; others cordon the node the incident's pods run on",
                )
            return trust.name(ctx.step.node, field=f"step {ctx.step.name}: node")
        label = (ctx.incident["spec"].get("labels") or {}).get("node")
        hosts = sorted({str(n) for n in (p.get("spec", {}).get("nodeName") for p in _pods_of(ctx)) if n})
        if label:
            name = trust.name(label, field="the incident's node label")
            if name not in hosts:
                raise Refused(
                    "NodeNotRunningWorkload",
                    f"node {name} (the incident's node label) runs no pod of {ctx.target}; onduty cordons only a"
                    f" node the incident's workload runs on ({', '.join(hosts) or 'none'})",
                )
            return name
        if len(hosts) != 1:
            raise Refused(
                "NoNode" if not hosts else "AmbiguousNode",
                f"{ctx.target} runs on {len(hosts)} node(s) ({', '.join(hosts) or 'none'}) and the incident has no"
                " node label to choose one",
            )
        return hosts[0]

    def applied(self, ctx: Context) -> bool:
        try:
            node = ctx.cluster.request("GET", f"/api/v1/nodes/{segment(self._node(ctx))}")
        except (NotFound, Refused, trust.Untrusted):
            return False
        return (node["metadata"].get("annotations") or {}).get(ACTION_ID_ANNOTATION) == ctx.action_id

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        name = self._node(ctx)
        nodes = ctx.cluster.request("GET", "/api/v1/nodes").get("items", [])
        schedulable = [n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("unschedulable")]
        if name not in {n["metadata"]["name"] for n in nodes}:
            raise Refused("NodeNotFound", f"node {name} does not exist")
        if schedulable == [name]:
            raise Refused(
                "LastSchedulableNode", f"node {name} is the last schedulable node; cordoning it stops all scheduling"
            )
        ctx.cluster.patch_workload(
            ctx.target.kind,
            ctx.target.namespace,
            ctx.target.name,
            {"metadata": record_metadata(ctx, {"node": name})},
            dry_run=dry_run,
        )
        patch = {"metadata": {"annotations": {ACTION_ID_ANNOTATION: ctx.action_id}}, "spec": {"unschedulable": True}}
        ctx.cluster.request(
            "PATCH",
            f"/api/v1/nodes/{segment(name)}",
            query={"dryRun": "All"} if dry_run else None,
            body=patch,
            content_type="application/merge-patch+json",
        )
        return Applied(f"node {name} cordoned", f"Node/{name}: spec.unschedulable false -> true", {"node": name})

    def progress(self, ctx: Context, record: dict[str, Any]) -> RolloutState:
        name = (record.get("details") or {}).get("node") or self._node(ctx)
        node = ctx.cluster.request("GET", f"/api/v1/nodes/{segment(name)}")
        if (node.get("spec") or {}).get("unschedulable"):
            return RolloutState(True, False, f"node {name} is unschedulable")
        return RolloutState(False, True, f"node {name} is schedulable again (someone uncordoned it)")


class RunJob(_NoProgress):
    """A Job from the runbook's template, with a deadline: the "custom script" remediation."""

    name = "runJob"
    verifies_rollout = False

    def job_name(self, ctx: Context) -> str:
        return f"onduty-{ctx.step.name}-{hashlib.sha256(ctx.action_id.encode()).hexdigest()[:8]}"[:63]

    def applied(self, ctx: Context) -> bool:
        try:
            ctx.cluster.request(
                "GET", f"/apis/batch/v1/namespaces/{segment(ctx.target.namespace)}/jobs/{segment(self.job_name(ctx))}"
            )
        except NotFound:
            return False
        return True

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        spec = ctx.step.job
        if spec is None:
            raise Refused("NoJobTemplate", "the step has no job template")
        template = json.loads(json.dumps(spec.template))
        template.setdefault("spec", {})["restartPolicy"] = "Never"
        template.get("metadata", {}).pop("namespace", None)  # the Job's pods live where the Job does
        self._admit(ctx, template["spec"], template.get("metadata", {}).get("annotations") or {})
        name = self.job_name(ctx)
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": "onduty", "onduty.dev/step": ctx.step.name},
                "annotations": {ACTION_ID_ANNOTATION: ctx.action_id, "onduty.dev/incident": ctx.incident_ref},
            },
            "spec": {
                "template": template,
                "backoffLimit": spec.backoff_limit,
                "activeDeadlineSeconds": spec.active_deadline_seconds,
                # Kept an hour for the post-mortem, then garbage-collected.
                "ttlSecondsAfterFinished": 3600,
            },
        }
        ctx.cluster.patch_workload(
            ctx.target.kind,
            ctx.target.namespace,
            ctx.target.name,
            {"metadata": record_metadata(ctx, {"job": name})},
            dry_run=dry_run,
        )
        ctx.cluster.request(
            "POST",
            f"/apis/batch/v1/namespaces/{segment(ctx.target.namespace)}/jobs",
            query={"dryRun": "All"} if dry_run else None,
            body=job,
        )
        return Applied(
            f"job {name} created (deadline {spec.active_deadline_seconds}s)",
            f"Job/{name}: create {_shown(job)}",
            {"job": name},
        )

    @staticmethod
    def _admit(ctx: Context, pod_spec: dict[str, Any], annotations: dict[str, Any]) -> None:
        """The pod spec passes the Pod Security Standard the policies ask for and runs as an allowed account."""
        account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
        if account not in ctx.grants.job_service_accounts:
            raise Refused(
                "ServiceAccountNotAllowed",
                f"step {ctx.step.name}: job.template.spec.serviceAccountName {account!r} is not among the"
                " ServiceAccounts the policies in scope allow for runJob"
                f" ({', '.join(ctx.grants.job_service_accounts) or 'none'})",
            )
        level: podsecurity.Level = "baseline" if ctx.grants.job_pod_security == "baseline" else "restricted"
        problems = podsecurity.violations(pod_spec, level) + _apparmor_annotations(annotations)
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            raise Refused(
                "PodSecurityViolation",
                f"step {ctx.step.name}: the job's pod template does not pass the {level} Pod Security Standard:"
                f" {shown}",
            )

    def progress(self, ctx: Context, record: dict[str, Any]) -> RolloutState:
        name = (record.get("details") or {}).get("job") or self.job_name(ctx)
        job = ctx.cluster.request(
            "GET", f"/apis/batch/v1/namespaces/{segment(ctx.target.namespace)}/jobs/{segment(name)}"
        )
        for cond in (job.get("status") or {}).get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") == "Complete":
                return RolloutState(True, False, f"job {name} completed")
            if cond.get("status") == "True" and cond.get("type") == "Failed":
                return RolloutState(False, True, f"job {name} failed: {cond.get('reason')}: {cond.get('message', '')}")
        return RolloutState(False, False, f"job {name} running")


_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def _apparmor_annotations(annotations: dict[str, Any]) -> list[str]:
    """The pod template's AppArmor annotations (the field's older form): only confining profiles pass."""
    return [
        f"spec.template.metadata.annotations[{key}]: AppArmor profile {value!r} is not allowed; use runtime/default"
        " or localhost/<profile>"
        for key, value in sorted(annotations.items())
        if key.startswith(_APPARMOR_PREFIX) and not (value == "runtime/default" or str(value).startswith("localhost/"))
    ]


class ArgoRollback(_NoProgress):
    """Roll an Argo CD Application back to its previous (or a named) history entry."""

    name = "argoRollback"

    def _app(self, ctx: Context) -> str:
        if not ctx.step.application:
            raise Refused("NoApplication", "the step names no Argo CD application")
        return trust.name(ctx.step.application, field=f"step {ctx.step.name}: application")

    @staticmethod
    def _namespace(ctx: Context) -> str:
        """The Application's namespace: the incident's, or one the policies in scope list in argoCDNamespaces."""
        return trust.Boundary(ctx.target.namespace).other_namespace(
            ctx.step.application_namespace,
            field=f"step {ctx.step.name}: applicationNamespace",
            allowed=ctx.grants.argocd_namespaces,
            what=f"Argo CD Application {ctx.step.application}",
        )

    def applied(self, ctx: Context) -> bool:
        """The Application carries this rollback *and* the workload its record (written after it).

        An operator killed between the two writes must still write the record
        (cooldowns and rate limits read it): :meth:`apply` runs again, the
        adapter finds the rollback already requested and writes nothing to the
        Application, and the record is written with the rollback's target.
        """
        if last_record(ctx.workload, self.name).get("actionId") != ctx.action_id:
            return False
        try:
            app = argo_adapter.get_application(ctx.cluster, self._namespace(ctx), self._app(ctx))
        except (NotFound, Refused, trust.Untrusted):
            return False
        return argo_adapter.applied_by(app, ctx.action_id)

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        namespace = self._namespace(ctx)
        if namespace != ctx.target.namespace:
            # An Application elsewhere (Argo CD's own namespace) is ours to touch only if it deploys here.
            app = argo_adapter.get_application(ctx.cluster, namespace, self._app(ctx))
            destination = ((app.get("spec") or {}).get("destination") or {}).get("namespace")
            if destination != ctx.target.namespace:
                raise Refused(
                    "ApplicationOutsideNamespace",
                    f"Argo CD Application {namespace}/{self._app(ctx)} deploys into namespace {destination!r}, not"
                    f" the incident's namespace {ctx.target.namespace!r}",
                )
        result = argo_adapter.rollback(
            ctx.cluster,
            namespace,
            self._app(ctx),
            to_id=ctx.step.to_history_id,
            action_id=ctx.action_id,
            allow_suspend_automated=ctx.allow_suspend_automated_sync,
            dry_run=dry_run,
            reason=f"onduty incident {ctx.incident_ref}",
        )
        if result.outcome == "Refused":
            if result.reason in argo_domain.HOLDING_REASONS:
                raise Held(result.reason, result.message)
            raise Refused(result.reason, result.message)
        details = {
            "application": self._app(ctx),
            "namespace": namespace,
            "revision": result.target_revision,
            "revisions": list(result.target_revisions),
        }
        if not dry_run:
            # The record carries what verification needs: a restarted operator finds it there.
            meta = record_metadata(ctx, details)
            meta.pop("resourceVersion")  # the rollback is done and owned by its action id
            ctx.cluster.patch_workload(ctx.target.kind, ctx.target.namespace, ctx.target.name, {"metadata": meta})
        return Applied(result.message, result.diff, details)

    def progress(self, ctx: Context, record: dict[str, Any]) -> RolloutState:
        details = record.get("details") or {}
        app = argo_adapter.get_application(
            ctx.cluster, details.get("namespace") or self._namespace(ctx), details.get("application") or self._app(ctx)
        )
        state = argo_domain.rollback_state(app, details.get("revision", ""), tuple(details.get("revisions") or ()))
        return RolloutState(state.done, state.failed, state.message)


class HelmRollback(RolloutLike):
    """Roll a Helm release back through Helm's own release storage; `helm history` shows it as helm would."""

    name = "helmRollback"

    def release(self, ctx: Context) -> str:
        meta = ctx.workload["metadata"]
        release = (
            ctx.step.release
            or (meta.get("annotations") or {}).get("meta.helm.sh/release-name")
            or (meta.get("labels") or {}).get("app.kubernetes.io/instance")
        )
        if not release:
            raise Refused("NoRelease", f"the step names no release and {ctx.target} carries no Helm release annotation")
        return trust.name(str(release), field="the Helm release name")

    def applied(self, ctx: Context) -> bool:
        """The release's rollback revision is finished *and* the workload carries the record (written after it).

        Killed between the two, the operator runs :meth:`apply` again: the adapter
        answers ``AlreadyApplied`` with the revisions it wrote, and the record is written.
        """
        if last_record(ctx.workload, self.name).get("actionId") != ctx.action_id:
            return False
        try:
            return helm_rollback.applied_by(ctx.cluster, ctx.target.namespace, self.release(ctx), ctx.action_id)
        except (Refused, trust.Untrusted, HelmRecordError):
            return False

    def apply(self, ctx: Context, *, dry_run: bool) -> Applied:
        release = self.release(ctx)
        try:
            result = helm_rollback.rollback(
                ctx.cluster,
                ctx.target.namespace,
                release,
                to_revision=ctx.step.to_revision,
                action_id=ctx.action_id,
                dry_run=dry_run,
            )
        except HelmRecordError as error:  # anyone who may write the namespace's Secrets can write such a record
            raise Refused("ReleaseUnreadable", f"Helm release {ctx.target.namespace}/{release}: {error}") from error
        if result.outcome in ("Refused", "Failed"):
            raise Refused(result.reason, result.message)
        if not dry_run:
            # The rollback is done and owned by its action id; the record needs no
            # precondition (the rollout it started keeps changing the workload).
            meta = record_metadata(ctx, {"release": release, "revision": result.new_revision})
            meta.pop("resourceVersion")
            ctx.cluster.patch_workload(ctx.target.kind, ctx.target.namespace, ctx.target.name, {"metadata": meta})
        return Applied(
            result.message,
            result.summary,
            {"release": release, "toRevision": result.target_revision, "newRevision": result.new_revision},
        )


_ALL: list[Executor] = [
    RolloutRestart(),
    Scale(),
    RolloutUndo(),
    DeletePod(),
    CordonNode(),
    RunJob(),
    ArgoRollback(),
    HelmRollback(),
]
EXECUTORS: dict[str, Executor] = {e.name: e for e in _ALL}
