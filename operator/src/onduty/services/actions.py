"""Carrying out each remediation action: read what its rule needs, ask the rule, write what it says.

Every executor works on one target (the anchor of the action's record, which
cooldowns and rate limits read: :mod:`onduty.domain.actions.records`) and offers:

* ``applied(cluster, ctx)`` — did this action id already happen? (a restarted operator asks)
* ``apply(cluster, ctx, dry_run=)`` — do it (or ask the API server to validate it with
  ``dryRun=All``), raising :class:`~onduty.domain.actions.outcomes.Refused` when it
  must not run and ``Conflict`` when the target moved under us (the caller judges again);
* ``progress(cluster, ctx, record)`` — for actions whose success is not a workload
  rollout (a Job, a Node, an Argo sync): where it stands;
* ``revert(cluster, ctx, record)`` — undo it, for runbooks that ask (scale, rollout undo).

The rules (what to change, bounds, refusals, what counts as progress) are in
:mod:`onduty.domain.actions`, one module per action; the requests in
:mod:`onduty.adapters.workloads`, :mod:`onduty.adapters.argocd` and
:mod:`onduty.adapters.helm_rollback`. The writes of one action happen in the
order its rule gives: a crash between two is repaired by ``applied`` and
``apply`` on the next run. Nothing here deletes namespaces, PVCs or CRDs; the
only delete is of one Pod.
"""

from __future__ import annotations

from typing import Any, Protocol

from onduty.adapters import argocd as argo_adapter
from onduty.adapters import helm_rollback as helm_adapter
from onduty.adapters import workloads
from onduty.adapters.helm import HelmRecordError
from onduty.adapters.kube import Cluster, NotFound
from onduty.domain import trust
from onduty.domain.actions import (
    argo_rollback,
    cordon_node,
    delete_pod,
    helm_rollback,
    pods,
    records,
    restart,
    rollout_undo,
    run_job,
    scale,
)
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, Refused
from onduty.domain.rollouts import RolloutState

# What a node-scoped incident (a node alert, no workload) can do; its Node is the target.


class Executor(Protocol):
    name: str
    verifies_rollout: bool

    def applied(self, cluster: Cluster, ctx: Context) -> bool: ...
    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied: ...
    def progress(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> RolloutState: ...
    def revert(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> str | None: ...


class _NoProgress:
    verifies_rollout = True

    def progress(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> RolloutState:
        return RolloutState(True, False, "nothing beyond the rollout to wait for")

    def revert(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> str | None:
        return None


class RolloutLike(_NoProgress):
    """Actions whose whole effect is a workload rollout: its state is the verification message."""


def _patch_target(cluster: Cluster, ctx: Context, patch: dict[str, Any], *, dry_run: bool = False) -> None:
    cluster.patch_workload(ctx.target.kind, ctx.target.namespace, ctx.target.name, patch, dry_run=dry_run)


def _pods(cluster: Cluster, ctx: Context) -> list[dict[str, Any]]:
    """The target workload's pods (by its matchLabels selector), in its namespace."""
    return workloads.list_pods(cluster, ctx.target.namespace, pods.selector(ctx))


class RolloutRestart(RolloutLike):
    name = restart.NAME

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        return restart.applied(ctx)

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        patch = restart.patch(ctx)
        _patch_target(cluster, ctx, patch, dry_run=dry_run)
        return restart.outcome(ctx, patch)


class Scale(RolloutLike):
    name = scale.NAME

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        seen = scale.recorded(ctx)
        if not seen.named or seen.hpa is None:
            return seen.named
        try:
            hpa = workloads.get_hpa(cluster, ctx.target.namespace, seen.hpa)
        except NotFound:
            return True  # the HPA is gone: nothing left to raise
        return records.marked(hpa, ctx.action_id)

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        current, want = scale.change(ctx)
        hpa = scale.hpa_of(workloads.list_hpas(cluster, ctx.target.namespace), ctx.target)
        plan = scale.plan(ctx, current, want, hpa)
        _patch_target(cluster, ctx, plan.workload_patch, dry_run=dry_run)
        if plan.hpa is not None and plan.hpa_patch is not None:
            workloads.patch_hpa(cluster, ctx.target.namespace, plan.hpa, plan.hpa_patch, dry_run=dry_run)
        return plan.outcome

    def revert(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> str | None:
        back = scale.revert(record)
        if back is None:
            return None
        if back.hpa is not None:
            workloads.patch_hpa(cluster, ctx.target.namespace, back.hpa, back.patch)
        else:
            _patch_target(cluster, ctx, back.patch)
        return back.message


class RolloutUndo(RolloutLike):
    name = rollout_undo.NAME

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        return rollout_undo.applied(ctx)

    def _revisions(self, cluster: Cluster, ctx: Context) -> dict[int, dict[str, Any]]:
        return rollout_undo.revisions(ctx.workload, workloads.list_replicasets(cluster, ctx.target.namespace))

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        rollout_undo.check_kind(ctx)
        plan = rollout_undo.plan(ctx, self._revisions(cluster, ctx))
        target = ctx.target
        workloads.json_patch_workload(cluster, target.kind, target.namespace, target.name, plan.ops, dry_run=dry_run)
        return plan.outcome

    def revert(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> str | None:
        back = rollout_undo.revert_revision(record)
        if not back:
            return None
        ops = rollout_undo.revert_ops(self._revisions(cluster, ctx), back)
        if ops is None:
            return None
        workloads.json_patch_workload(cluster, ctx.target.kind, ctx.target.namespace, ctx.target.name, ops)
        return f"template of revision {back} restored"


class DeletePod(RolloutLike):
    name = delete_pod.NAME

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        record = delete_pod.recorded_pod(ctx)
        if record is None:
            return False
        try:
            pod = workloads.get_pod(cluster, ctx.target.namespace, record["pod"])
        except NotFound:
            return True
        return delete_pod.gone(pod, record)

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        plan = delete_pod.plan(ctx, _pods(cluster, ctx))
        _patch_target(cluster, ctx, plan.workload_patch, dry_run=dry_run)
        workloads.delete_pod(cluster, ctx.target.namespace, plan.pod, uid=plan.uid, dry_run=dry_run)
        return plan.outcome


class CordonNode(_NoProgress):
    name = cordon_node.NAME
    verifies_rollout = False

    def _node(self, cluster: Cluster, ctx: Context) -> str:
        named = cordon_node.named_node(ctx)
        return named if named is not None else cordon_node.node_among(ctx, _pods(cluster, ctx))

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        try:
            node = workloads.get_node(cluster, self._node(cluster, ctx))
        except (NotFound, Refused, trust.Untrusted):
            return False
        return records.marked(node, ctx.action_id)

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        name = self._node(cluster, ctx)
        plan = cordon_node.plan(ctx, name, workloads.list_nodes(cluster))
        _patch_target(cluster, ctx, plan.workload_patch, dry_run=dry_run)
        workloads.patch_node(cluster, name, plan.node_patch, dry_run=dry_run)
        return plan.outcome

    def progress(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> RolloutState:
        name = cordon_node.recorded_node(record) or self._node(cluster, ctx)
        return cordon_node.progress(name, workloads.get_node(cluster, name))


class RunJob(_NoProgress):
    name = run_job.NAME
    verifies_rollout = False

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        try:
            workloads.get_job(cluster, ctx.target.namespace, run_job.job_name(ctx))
        except NotFound:
            return False
        return True

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        plan = run_job.plan(ctx)
        _patch_target(cluster, ctx, plan.workload_patch, dry_run=dry_run)
        workloads.create_job(cluster, ctx.target.namespace, plan.job, dry_run=dry_run)
        return plan.outcome

    def progress(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> RolloutState:
        name = run_job.recorded_job(ctx, record)
        return run_job.progress(name, workloads.get_job(cluster, ctx.target.namespace, name))


class ArgoRollback(_NoProgress):
    name = argo_rollback.NAME

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        """The Application carries this rollback *and* the workload its record (written after it).

        An operator killed between the two writes must still write the record
        (cooldowns and rate limits read it): :meth:`apply` runs again, the
        adapter finds the rollback already requested and writes nothing to the
        Application, and the record is written with the rollback's target.
        """
        if not argo_rollback.recorded(ctx):
            return False
        try:
            app = argo_adapter.get_application(
                cluster, argo_rollback.application_namespace(ctx), argo_rollback.application(ctx)
            )
        except (NotFound, Refused, trust.Untrusted):
            return False
        return argo_adapter.applied_by(app, ctx.action_id)

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        namespace = argo_rollback.application_namespace(ctx)
        if namespace != ctx.target.namespace:
            app = argo_adapter.get_application(cluster, namespace, argo_rollback.application(ctx))
            argo_rollback.check_destination(ctx, namespace, app)
        result = argo_adapter.rollback(
            cluster,
            namespace,
            argo_rollback.application(ctx),
            to_id=ctx.step.to_history_id,
            action_id=ctx.action_id,
            allow_suspend_automated=ctx.allow_suspend_automated_sync,
            dry_run=dry_run,
            reason=f"onduty incident {ctx.incident_ref}",
        )
        if result.outcome == "Refused":
            raise argo_rollback.refusal(result.reason, result.message)
        details = argo_rollback.details(ctx, namespace, result.target_revision, result.target_revisions)
        if not dry_run:
            _patch_target(cluster, ctx, argo_rollback.record_patch(ctx, details))
        return Applied(result.message, result.diff, details)

    def progress(self, cluster: Cluster, ctx: Context, record: dict[str, Any]) -> RolloutState:
        namespace, name = argo_rollback.recorded_application(ctx, record)
        return argo_rollback.progress(argo_adapter.get_application(cluster, namespace, name), record)


class HelmRollback(RolloutLike):
    """Roll a Helm release back through Helm's own release storage; `helm history` shows it as helm would."""

    name = helm_rollback.NAME

    def applied(self, cluster: Cluster, ctx: Context) -> bool:
        """The release's rollback revision is finished *and* the workload carries the record (written after it).

        Killed between the two, the operator runs :meth:`apply` again: the adapter
        answers ``AlreadyApplied`` with the revisions it wrote, and the record is written.
        """
        if not helm_rollback.recorded(ctx):
            return False
        try:
            return helm_adapter.applied_by(cluster, ctx.target.namespace, helm_rollback.release(ctx), ctx.action_id)
        except (Refused, trust.Untrusted, HelmRecordError):
            return False

    def apply(self, cluster: Cluster, ctx: Context, *, dry_run: bool) -> Applied:
        release = helm_rollback.release(ctx)
        try:
            result = helm_adapter.rollback(
                cluster,
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
            _patch_target(cluster, ctx, helm_rollback.record_patch(ctx, release, result.new_revision))
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
