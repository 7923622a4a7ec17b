"""Each remediation action's rules, without a cluster: bounds, refusals, the writes it plans, how it reads progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from onduty.domain import trust
from onduty.domain.actions import (
    argo_rollback,
    cordon_node,
    delete_pod,
    helm_rollback,
    records,
    restart,
    rollout_undo,
    run_job,
    scale,
)
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Held, Refused
from onduty.domain.annotations import ACTION_HISTORY_ANNOTATION, ACTION_ID, STEP_LABEL, last_action_annotation
from onduty.domain.policies import BlastRadius
from onduty.domain.runbooks import Step
from onduty.domain.workloads import Workload

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WEB = Workload("Deployment", "web", "shop")


def _ctx(
    action: str = "scale",
    *,
    workload: dict[str, Any] | None = None,
    limits: BlastRadius | None = None,
    grants: trust.Grants | None = None,
    labels: dict[str, str] | None = None,
    platform_runbook: bool = False,
    target: Workload = WEB,
    **step: Any,
) -> Context:
    return Context(
        target=target,
        workload=workload or {"metadata": {"resourceVersion": "7", "uid": "u-web"}, "spec": {"replicas": 2}},
        action_id="inc.step",
        step=Step.model_validate({"name": "step", "action": action, **step}),
        incident={"metadata": {"namespace": "shop", "name": "inc"}, "spec": {"labels": labels or {}}},
        limits=limits,
        allow_suspend_automated_sync=False,
        now=NOW,
        grants=grants or trust.Grants(),
        platform_runbook=platform_runbook,
        limits_from={"max_replicas": "caps"},
    )


def _refusal(call: Any) -> str:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.reason


# --- scale ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "limits", "current", "expected"),
    [
        ({"replicas": 5}, None, 2, 5),
        ({"factor": 1.5}, None, 3, 5),  # rounded up
        ({"factor": 3, "maxReplicas": 4}, None, 2, 4),  # the step's own bounds clamp
        ({"factor": 0.25, "minReplicas": 2}, None, 3, 2),  # the step's floor holds
        ({"factor": 2}, None, 0, "CannotScaleFromZero"),
        ({"replicas": 9}, BlastRadius(maxReplicas=8), 2, "BlastRadiusExceeded"),
        ({"factor": 3}, BlastRadius(maxScaleFactor=2), 2, "BlastRadiusExceeded"),
        ({"replicas": 1}, BlastRadius(minAvailable=2), 3, "BlastRadiusExceeded"),
    ],
)
def test_scale_stays_inside_the_step_and_the_policies(
    step: dict[str, Any], limits: BlastRadius | None, current: int, expected: int | str
) -> None:
    ctx = _ctx(limits=limits, **step)
    if isinstance(expected, str):
        assert _refusal(lambda: scale.desired(ctx, current)) == expected
    else:
        assert scale.desired(ctx, current) == expected


def test_a_refusal_names_the_policy_that_set_the_limit() -> None:
    ctx = _ctx(limits=BlastRadius(maxReplicas=8), replicas=9)
    with pytest.raises(Refused, match="policy caps's maxReplicas 8"):
        scale.desired(ctx, 2)


def test_scaling_to_what_runs_is_refused() -> None:
    assert _refusal(lambda: scale.change(_ctx(replicas=2))) == "AlreadyAtScale"


def _hpa(name: str, minimum: int, maximum: int, target: str = "web") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": target},
            "minReplicas": minimum,
            "maxReplicas": maximum,
        },
    }


def test_under_an_hpa_the_floor_is_raised_and_the_workload_only_gets_its_record() -> None:
    ctx = _ctx(replicas=4)
    hpa = scale.hpa_of([_hpa("other", 1, 9, target="api"), _hpa("web-hpa", 2, 6)], WEB)
    assert hpa is not None

    plan = scale.plan(ctx, 2, 4, hpa)

    assert set(plan.workload_patch) == {"metadata"} and plan.workload_patch["metadata"]["resourceVersion"] == "7"
    assert (plan.hpa, plan.hpa_patch) == (
        "web-hpa",
        {"metadata": {"annotations": {ACTION_ID: "inc.step"}}, "spec": {"minReplicas": 4}},
    )
    assert plan.outcome.details == {"from": 2, "to": 4, "hpa": "web-hpa", "hpaMinBefore": 2}


@pytest.mark.parametrize(("current", "want", "reason"), [(4, 2, "HpaManaged"), (2, 7, "HpaMaxReplicas")])
def test_onduty_never_fights_an_hpa(current: int, want: int, reason: str) -> None:
    assert _refusal(lambda: scale.plan(_ctx(replicas=want), current, want, _hpa("web-hpa", 2, 6))) == reason


def test_without_an_hpa_the_replicas_change_with_the_record() -> None:
    plan = scale.plan(_ctx(replicas=4), 2, 4, None)
    assert plan.hpa is None and plan.workload_patch["spec"] == {"replicas": 4}


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"hpa": "web-hpa", "hpaMinBefore": 2}, ("web-hpa", {"spec": {"minReplicas": 2}})),
        ({"from": 3, "to": 6}, (None, {"spec": {"replicas": 3}})),
        ({}, None),
    ],
)
def test_a_scale_reverts_to_what_its_record_says(details: dict[str, Any], expected: tuple[Any, Any] | None) -> None:
    back = scale.revert({"details": details})
    assert (None if back is None else (back.hpa, back.patch)) == expected


# --- rolloutRestart and rolloutUndo -----------------------------------------------------------------


def test_a_restart_carries_its_action_id_on_the_pod_template() -> None:
    ctx = _ctx("rolloutRestart")
    patch = restart.patch(ctx)
    annotations = patch["spec"]["template"]["metadata"]["annotations"]

    assert annotations == {"kubectl.kubernetes.io/restartedAt": "2026-11-30T12:00:00Z", ACTION_ID: "inc.step"}
    assert restart.applied(_ctx("rolloutRestart", workload=patch))


def _rs(revision: int, owner: str = "u-web") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{revision}",
            "ownerReferences": [{"uid": owner}],
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
        },
        "spec": {
            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": {"r": revision}}
        },
    }


def _deployment(revision: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "resourceVersion": "7",
            "uid": "u-web",
            "annotations": {"deployment.kubernetes.io/revision": str(revision), **(annotations or {})},
        }
    }


def test_an_undo_goes_back_to_the_latest_older_revision_of_this_deployment_in_one_guarded_patch() -> None:
    ctx = _ctx("rolloutUndo", workload=_deployment(3))
    by_revision = rollout_undo.revisions(ctx.workload, [_rs(1), _rs(2), _rs(3), _rs(9, owner="someone-else")])

    plan = rollout_undo.plan(ctx, by_revision)

    assert sorted(by_revision) == [1, 2, 3]
    assert plan.ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "7"}
    assert {op["path"] for op in plan.ops if op["op"] == "add"} == {
        "/metadata/annotations/onduty.dev~1last-rolloutUndo",
        "/metadata/annotations/onduty.dev~1action-history",
    }
    assert plan.ops[-1] == {
        "op": "replace",
        "path": "/spec/template",
        "value": {"metadata": {"labels": {"app": "web"}}, "spec": {"r": 2}},
    }
    assert plan.outcome.details == {"fromRevision": 3, "toRevision": 2}


@pytest.mark.parametrize(
    ("revision", "step", "reason"),
    [
        (1, {}, "NoPreviousRevision"),
        (3, {"toRevision": 7}, "RevisionNotFound"),
        (3, {"toRevision": 3}, "AlreadyAtRevision"),
    ],
)
def test_an_undo_with_nowhere_to_go_is_refused(revision: int, step: dict[str, Any], reason: str) -> None:
    ctx = _ctx("rolloutUndo", workload=_deployment(revision), **step)
    assert _refusal(lambda: rollout_undo.plan(ctx, {1: _rs(1), 3: _rs(3)})) == reason


def test_only_deployments_are_undone() -> None:
    ctx = _ctx("rolloutUndo", target=Workload("StatefulSet", "db", "shop"))
    assert _refusal(lambda: rollout_undo.check_kind(ctx)) == "UnsupportedKind"


# --- deletePod and cordonNode --------------------------------------------------------------------


def _pod(name: str, *, ready: bool, restarts: int = 0, node: str = "n1", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"u-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T11:59:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"restartCount": restarts}],
        },
    }


def test_the_worst_pod_goes_first_and_a_terminating_one_is_not_counted() -> None:
    pods = [
        _pod("a", ready=True, restarts=9),
        _pod("b", ready=False, restarts=1),
        _pod("c", ready=False, restarts=5, deleting=True),
    ]
    plan = delete_pod.plan(_ctx("deletePod"), pods)
    assert (plan.pod, plan.uid, plan.outcome.message) == ("b", "u-b", "deleted pod b (not ready, 1 restarts)")


def test_no_pod_goes_below_min_available() -> None:
    ctx = _ctx("deletePod", limits=BlastRadius(minAvailable=2))
    assert (
        _refusal(lambda: delete_pod.plan(ctx, [_pod("a", ready=True), _pod("b", ready=True)])) == "BlastRadiusExceeded"
    )


@pytest.mark.parametrize(
    ("pods", "labels", "expected"),
    [
        ([_pod("a", ready=True, node="n1"), _pod("b", ready=True, node="n1")], {}, "n1"),
        ([_pod("a", ready=True, node="n1"), _pod("b", ready=True, node="n2")], {"node": "n2"}, "n2"),
        ([_pod("a", ready=True, node="n1"), _pod("b", ready=True, node="n2")], {}, "AmbiguousNode"),
        ([], {}, "NoNode"),
        ([_pod("a", ready=True, node="n1")], {"node": "n9"}, "NodeNotRunningWorkload"),
    ],
)
def test_the_node_cordoned_is_one_the_workload_runs_on(
    pods: list[dict[str, Any]], labels: dict[str, str], expected: str
) -> None:
    ctx = _ctx("cordonNode", labels=labels)
    if expected.startswith("n"):
        assert cordon_node.node_among(ctx, pods) == expected
    else:
        assert _refusal(lambda: cordon_node.node_among(ctx, pods)) == expected


def test_only_a_platform_runbook_names_a_node() -> None:
    assert _refusal(lambda: cordon_node.named_node(_ctx("cordonNode", node="n1"))) == "NodeFromRunbook"
    assert cordon_node.named_node(_ctx("cordonNode", node="n1", platform_runbook=True)) == "n1"
    assert cordon_node.named_node(_ctx("cordonNode", target=Workload("Node", "n7", "onduty-system"))) == "n7"


@pytest.mark.parametrize(
    ("nodes", "reason"),
    [
        ([{"metadata": {"name": "n2"}}], "NodeNotFound"),
        (
            [{"metadata": {"name": "n1"}}, {"metadata": {"name": "n2"}, "spec": {"unschedulable": True}}],
            "LastSchedulableNode",
        ),
    ],
)
def test_the_last_schedulable_node_is_never_cordoned(nodes: list[dict[str, Any]], reason: str) -> None:
    assert _refusal(lambda: cordon_node.plan(_ctx("cordonNode"), "n1", nodes)) == reason


def test_a_cordon_is_verified_while_the_node_stays_unschedulable() -> None:
    assert cordon_node.progress("n1", {"spec": {"unschedulable": True}}).done
    assert cordon_node.progress("n1", {"spec": {}}).failed


# --- runJob ----------------------------------------------------------------------------------------

RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "fix",
            "image": "busybox",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
    ],
}


def _job_ctx(pod: dict[str, Any], annotations: dict[str, str] | None = None, **grants: Any) -> Context:
    template = {"metadata": {"annotations": annotations or {}, "namespace": "elsewhere"}, "spec": pod}
    return _ctx("runJob", job={"template": template}, grants=trust.Grants(**grants))


def test_a_job_is_named_by_its_action_and_says_whose_it_is() -> None:
    plan = run_job.plan(_job_ctx(RESTRICTED_POD))

    assert plan.name == run_job.job_name(_job_ctx(RESTRICTED_POD)) and len(plan.name) <= 63
    assert plan.job["metadata"]["labels"][STEP_LABEL] == "step"
    assert plan.job["metadata"]["annotations"][ACTION_ID] == "inc.step"
    assert plan.job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "namespace" not in plan.job["spec"]["template"]["metadata"]


@pytest.mark.parametrize(
    ("pod", "annotations", "grants", "reason"),
    [
        ({**RESTRICTED_POD, "serviceAccountName": "admin"}, None, {}, "ServiceAccountNotAllowed"),
        ({"containers": [{"name": "fix", "image": "busybox"}]}, None, {}, "PodSecurityViolation"),
        (
            RESTRICTED_POD,
            {"container.apparmor.security.beta.kubernetes.io/fix": "unconfined"},
            {},
            "PodSecurityViolation",
        ),
    ],
)
def test_a_job_pod_runs_only_as_the_policies_allow(
    pod: dict[str, Any], annotations: dict[str, str] | None, grants: dict[str, Any], reason: str
) -> None:
    assert _refusal(lambda: run_job.plan(_job_ctx(pod, annotations, **grants))) == reason


@pytest.mark.parametrize(
    ("conditions", "done", "failed"),
    [
        ([], False, False),
        ([{"type": "Complete", "status": "True"}], True, False),
        ([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}], False, True),
    ],
)
def test_a_job_is_verified_by_its_conditions(conditions: list[dict[str, str]], done: bool, failed: bool) -> None:
    state = run_job.progress("j", {"status": {"conditions": conditions}})
    assert (state.done, state.failed) == (done, failed)


# --- Argo CD and Helm --------------------------------------------------------------------------------


def test_argo_cd_busy_holds_the_step_and_anything_else_refuses_it() -> None:
    assert isinstance(argo_rollback.refusal("OperationInProgress", "m"), Held)
    refused = argo_rollback.refusal("AutomatedSyncEnabled", "m")
    assert isinstance(refused, Refused) and not isinstance(refused, Held)


def test_an_application_elsewhere_must_deploy_into_the_incident_namespace() -> None:
    ctx = _ctx("argoRollback", application="shop-app", applicationNamespace="argocd")
    app = {"spec": {"destination": {"namespace": "billing"}}}
    assert _refusal(lambda: argo_rollback.check_destination(ctx, "argocd", app)) == "ApplicationOutsideNamespace"


@pytest.mark.parametrize(
    ("step", "metadata", "expected"),
    [
        ({"release": "named"}, {"annotations": {"meta.helm.sh/release-name": "annotated"}}, "named"),
        (
            {},
            {"annotations": {"meta.helm.sh/release-name": "annotated"}, "labels": {"app.kubernetes.io/instance": "x"}},
            "annotated",
        ),
        ({}, {"labels": {"app.kubernetes.io/instance": "labelled"}}, "labelled"),
        ({}, {}, "NoRelease"),
    ],
)
def test_the_release_is_the_steps_else_the_one_helm_marked_on_the_workload(
    step: dict[str, Any], metadata: dict[str, Any], expected: str
) -> None:
    ctx = _ctx("helmRollback", workload={"metadata": metadata}, **step)
    if expected == "NoRelease":
        assert _refusal(lambda: helm_rollback.release(ctx)) == expected
    else:
        assert helm_rollback.release(ctx) == expected


# --- the target's record -------------------------------------------------------------------------------


def _recorded(action: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": "7", "annotations": {last_action_annotation(action): json.dumps(record)}}}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"at": "2026-11-30T11:00:00Z", "actionId": "earlier"}, datetime(2026, 11, 30, 11, tzinfo=UTC)),
        ({"at": "2026-11-30T11:00:00Z", "actionId": "inc.step"}, None),  # this very action, resumed
        ({"actionId": "earlier"}, None),
    ],
)
def test_the_cooldown_reads_the_last_other_action(record: dict[str, Any], expected: datetime | None) -> None:
    assert records.last_action_at(_recorded("scale", record), "scale", "inc.step") == expected


def test_an_unreadable_time_in_the_record_denies_rather_than_forgets() -> None:
    with pytest.raises(records.UnreadableState):
        records.last_action_at(_recorded("scale", {"at": "yesterday", "actionId": "x"}), "scale", "inc.step")


def test_a_record_written_after_the_action_carries_no_precondition() -> None:
    metadata = records.record_metadata(_ctx(replicas=3), {"node": "n1"}, precondition=False)
    assert "resourceVersion" not in metadata
    assert json.loads(metadata["annotations"][ACTION_HISTORY_ANNOTATION]) == ["2026-11-30T12:00:00Z"]
    assert records.details(json.loads(metadata["annotations"][last_action_annotation("scale")])) == {"node": "n1"}
