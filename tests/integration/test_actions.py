"""Every action of the catalogue on a real API server, through a running operator:
what it changes, its bounds, its dry run, and what a SIGKILL in the middle does.
"""

from __future__ import annotations

import json

import pytest

from kit import REPO, RESTRICTED_CONTAINER, deployment_manifest, get_deployment, wait_for

# The set-up these tests share with test_crash_points lives in kit; here under its short names.
from kit import RESTRICTED_POD as RESTRICTED
from kit import apply_manifest as apply
from kit import create_argo_application as create_application
from kit import open_step_incident as setup
from kit import step_outcome as outcome


def test_scale_by_a_factor_within_the_blast_radius(cluster, namespace, deployment, operator):
    name = setup(cluster, namespace, {"action": "scale", "factor": 2}, policy={"blastRadius": {"maxScaleFactor": 2}})
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["message"].split(";")[0]) == ("Succeeded", "all 4 replicas updated and available")
    assert action["details"] == {"from": 2, "to": 4}
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 4


def test_scale_beyond_the_policy_factor_is_refused(cluster, namespace, deployment, operator):
    name = setup(cluster, namespace, {"action": "scale", "replicas": 10}, policy={"blastRadius": {"maxScaleFactor": 2}})
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["reason"]) == ("Denied", "BlastRadiusExceeded")
    assert "maxScaleFactor 2" in action["message"]
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 2


def test_scale_of_a_workload_under_an_hpa_raises_the_hpa_floor(cluster, namespace, deployment, operator):
    apply(
        cluster,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                    }
                ],
            },
        },
    )
    name = setup(cluster, namespace, {"action": "scale", "replicas": 3})
    action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded"
    assert action["details"]["hpa"] == "web"
    hpa = cluster.get_json("hpa", "web", "-n", namespace)
    assert hpa["spec"]["minReplicas"] == 3
    # The HPA controller enforces its floor even without metrics: the Deployment follows.
    wait_for(
        lambda: get_deployment(cluster, namespace)["spec"]["replicas"] == 3,
        timeout=60,
        what="the HPA to scale web to 3",
    )


def test_dry_run_scale_changes_nothing_and_records_the_change(cluster, namespace, deployment, operator):
    name = setup(cluster, namespace, {"action": "scale", "replicas": 3}, policy={"dryRun": True})
    action = outcome(cluster, namespace, name)
    assert action["state"] == "DryRun"
    assert "spec.replicas 2 -> 3" in action["diff"]
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 2
    assert "onduty.dev/last-scale" not in (get_deployment(cluster, namespace)["metadata"].get("annotations") or {})


def test_rollout_undo_goes_back_to_the_previous_revision_like_kubectl(cluster, namespace, deployment, operator):
    cluster.kubectl("set", "image", "deployment/web", "app=registry.local/app:2.0", "-n", namespace)
    wait_for(
        lambda: (
            get_deployment(cluster, namespace)["status"].get("updatedReplicas") == 2
            and get_deployment(cluster, namespace)["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
            == "2"
        ),
        what="revision 2 rolled out",
    )
    replicasets = {rs["metadata"]["name"] for rs in cluster.get_json("replicasets", "-n", namespace)["items"]}
    name = setup(cluster, namespace, {"action": "rolloutUndo"})
    action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded"
    assert action["details"] == {"fromRevision": 2, "toRevision": 1}
    after = get_deployment(cluster, namespace)
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/app:1.0"
    assert after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    # As with kubectl rollout undo, the old ReplicaSet is reused, not a new one made.
    assert {rs["metadata"]["name"] for rs in cluster.get_json("replicasets", "-n", namespace)["items"]} == replicasets


def test_rollout_undo_with_nothing_to_go_back_to_is_refused(cluster, namespace, deployment, operator):
    name = setup(cluster, namespace, {"action": "rolloutUndo"})
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["reason"]) == ("Denied", "NoPreviousRevision")


def test_delete_pod_removes_one_pod_and_its_replacement_becomes_ready(cluster, namespace, deployment, operator):
    before = {p["metadata"]["name"] for p in cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]}
    name = setup(cluster, namespace, {"action": "deletePod"}, policy={"blastRadius": {"minAvailable": 1}})
    action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded"
    assert action["details"]["pod"] in before
    after = {
        p["metadata"]["name"]
        for p in cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
        if not p["metadata"].get("deletionTimestamp")
    }
    assert action["details"]["pod"] not in after
    assert len(after) == 2


def test_delete_pod_that_would_break_min_available_is_refused(cluster, namespace, deployment, operator):
    name = setup(cluster, namespace, {"action": "deletePod"}, policy={"blastRadius": {"minAvailable": 2}})
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["reason"]) == ("Denied", "BlastRadiusExceeded")
    assert len(cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]) == 2


CORDON_ALLOWED = {"allowClusterScopedActions": ["cordonNode"]}


def test_cordon_node_marks_the_node_the_workload_runs_on_unschedulable(cluster, namespace, deployment, operator):
    node = f"kwok-extra-{namespace}"
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node, "annotations": {"kwok.x-k8s.io/node": "fake"}, "labels": {"type": "kwok"}},
        },
    )
    try:
        # A workload whose pods run on the extra node: onduty cordons only a node the incident's pods run on.
        pinned = json.loads(deployment_manifest("pinned", namespace, replicas=1))
        pinned["spec"]["template"]["spec"]["nodeName"] = node
        apply(cluster, pinned)
        wait_for(
            lambda: get_deployment(cluster, namespace, "pinned")["status"].get("availableReplicas") == 1,
            what="pinned to run on the extra node",
        )
        name = setup(
            cluster,
            namespace,
            {"action": "cordonNode"},
            labels={"node": node},
            workload="pinned",
            policy=CORDON_ALLOWED,
        )
        action = outcome(cluster, namespace, name)
        assert action["state"] == "Succeeded"
        assert cluster.get_json("node", node)["spec"]["unschedulable"] is True
        assert cluster.get_json("node", "kwok-node-0")["spec"].get("unschedulable") is not True
    finally:
        cluster.kubectl("delete", "node", node, "--wait=false", check=False)


def test_cordoning_the_last_schedulable_node_is_refused(cluster, namespace, deployment, operator):
    nodes = [n["metadata"]["name"] for n in cluster.get_json("nodes")["items"] if not n["spec"].get("unschedulable")]
    if len(nodes) != 1:  # another test's extra node is still going away
        wait_for(
            lambda: len([n for n in cluster.get_json("nodes")["items"] if not n["spec"].get("unschedulable")]) == 1,
            what="a single schedulable node",
        )
    name = setup(cluster, namespace, {"action": "cordonNode"}, labels={"node": "kwok-node-0"}, policy=CORDON_ALLOWED)
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["reason"]) == ("Denied", "LastSchedulableNode")
    assert cluster.get_json("node", "kwok-node-0")["spec"].get("unschedulable") is not True


def test_run_job_runs_the_template_to_completion(cluster, namespace, deployment, operator):
    template = {
        "spec": {
            **RESTRICTED,
            "containers": [
                {
                    "name": "clean",
                    "image": "registry.local/tools:1",
                    "command": ["sh", "-c", "rm -rf /tmp/*"],
                    **RESTRICTED_CONTAINER,
                }
            ],
        }
    }
    name = setup(cluster, namespace, {"action": "runJob", "job": {"template": template, "activeDeadlineSeconds": 120}})
    action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded"
    job = cluster.get_json("job", action["details"]["job"], "-n", namespace)
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["metadata"]["annotations"]["onduty.dev/action-id"] == action["id"]
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])


def test_sigkill_during_verification_neither_loses_nor_repeats_the_action(cluster, namespace, operator_factory):
    manifest = json.loads(deployment_manifest("slow", namespace, replicas=2))
    manifest["spec"]["minReadySeconds"] = 4  # the rollout takes a few seconds: time to kill the operator in it
    apply(cluster, manifest)
    wait_for(
        lambda: get_deployment(cluster, namespace, "slow")["status"].get("availableReplicas") == 2,
        timeout=60,
        what="slow available",
    )
    generation = get_deployment(cluster, namespace, "slow")["metadata"]["generation"]
    first = operator_factory().start()
    name = setup(cluster, namespace, {"action": "rolloutRestart"}, workload="slow")
    wait_for(
        lambda: (
            (cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}).get("lastAction")
            == "rolloutRestart Applied"
        ),
        timeout=60,
        interval=0.05,
        what="the restart to be applied",
    )
    first.kill()  # SIGKILL: no cleanup, mid-verification
    assert (
        (cluster.get_json("incident.onduty.dev", name, "-n", namespace)["status"]["lastAction"])
        == "rolloutRestart Applied"
    )
    operator_factory().start()
    action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded"
    assert (
        get_deployment(cluster, namespace, "slow")["metadata"]["generation"] == generation + 1
    )  # restarted exactly once
    timeline = cluster.get_json("incident.onduty.dev", name, "-n", namespace)["status"]["timeline"]
    assert [e["reason"] for e in timeline].count("RemediationApplied") == 1


def test_helm_rollback_through_the_operator_shows_in_helm_history(cluster, namespace, operator, helm):
    chart = REPO / "tests/fixtures/charts/demo"
    helm("install", "shop", str(chart), "-n", namespace, "--wait", "--timeout", "60s")
    helm(
        "upgrade",
        "shop",
        str(chart),
        "-n",
        namespace,
        "--set",
        "image=registry.local/demo:2.0",
        "--wait",
        "--timeout",
        "60s",
    )
    name = setup(cluster, namespace, {"action": "helmRollback"}, workload="shop")
    action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded", action
    assert (action["details"]["release"], action["details"]["toRevision"], action["details"]["newRevision"]) == (
        "shop",
        1,
        3,
    )
    history = json.loads(helm("history", "shop", "-n", namespace, "-o", "json"))
    assert [(h["revision"], h["status"], h["description"]) for h in history][-2:] == [
        (2, "superseded", "Upgrade complete"),
        (3, "deployed", "Rollback to 1"),
    ]
    image = get_deployment(cluster, namespace, "shop")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.local/demo:1.0"


def test_argo_rollback_through_the_operator_notes_out_of_sync(cluster, namespace, deployment, operator, kube):
    from argocd_standin import ArgoStandIn

    create_application(cluster, kube, namespace, automated={"prune": True})
    old = "a" * 40
    with ArgoStandIn(kube, namespace):
        name = setup(
            cluster,
            namespace,
            {"action": "argoRollback", "application": "web"},
            policy={"allowSuspendAutomatedSync": True},
        )
        action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded", action
    assert "OutOfSync" in action["message"]
    app = kube.request("GET", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications/web")
    assert "automated" not in (app["spec"].get("syncPolicy") or {})
    assert app["status"]["history"][-1]["revision"] == old
    assert app["status"]["sync"]["status"] == "OutOfSync"


def test_argo_rollback_is_refused_while_automated_sync_is_on_unless_the_policy_allows_suspending_it(
    cluster, namespace, deployment, operator, kube
):
    create_application(cluster, kube, namespace, automated={})
    name = setup(cluster, namespace, {"action": "argoRollback", "application": "web"})
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["reason"]) == ("Denied", "AutomatedSyncEnabled")
    app = kube.request("GET", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications/web")
    assert "operation" not in app


def test_failed_verification_stops_automation_escalates_and_reverts_when_asked(cluster, namespace, operator):
    manifest = json.loads(deployment_manifest("stuck", namespace, replicas=2))
    apply(cluster, manifest)
    wait_for(
        lambda: get_deployment(cluster, namespace, "stuck")["status"].get("availableReplicas") == 2,
        what="stuck available",
    )
    # New pods can never be scheduled: the scale-up cannot become healthy.
    cluster.kubectl(
        "patch",
        "deployment",
        "stuck",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"template":{"spec":{"nodeSelector":{"no-such-node":"true"}}},"strategy":{"rollingUpdate":{"maxUnavailable":0}}}}',
    )
    name = setup(
        cluster,
        namespace,
        {"action": "scale", "replicas": 3, "revertOnFailure": True, "verify": {"rolloutHealthyWithin": "5s"}},
        workload="stuck",
    )
    action = outcome(cluster, namespace, name)
    assert (action["state"], action["reason"]) == ("Failed", "VerificationTimeout")
    assert "reverted: replicas back to 2" in action["message"]
    incident = cluster.get_json("incident.onduty.dev", name, "-n", namespace)
    assert incident["status"]["phase"] == "Escalated"
    assert any(c["type"] == "EscalationRequired" and c["status"] == "True" for c in incident["status"]["conditions"])
    assert get_deployment(cluster, namespace, "stuck")["spec"]["replicas"] == 2


@pytest.mark.parametrize(
    ("step", "labels"),
    [
        ({"action": "rolloutRestart"}, {}),
        ({"action": "deletePod"}, {}),
        (
            {
                "action": "runJob",
                "job": {
                    "template": {
                        "spec": {**RESTRICTED, "containers": [{"name": "x", "image": "x", **RESTRICTED_CONTAINER}]}
                    }
                },
            },
            {},
        ),
        ({"action": "cordonNode"}, {"node": "kwok-node-0"}),
    ],
    ids=["rolloutRestart", "deletePod", "runJob", "cordonNode"],
)
def test_dry_run_of_each_action_changes_nothing(cluster, namespace, deployment, operator, step, labels):
    pods = sorted(p["metadata"]["uid"] for p in cluster.get_json("pods", "-n", namespace)["items"])
    generation = get_deployment(cluster, namespace)["metadata"]["generation"]
    nodes = cluster.get_json("nodes")["items"]
    if step["action"] == "cordonNode":
        extra = f"kwok-extra-{namespace}"  # cordoning the last node is refused before any dry run
        apply(
            cluster,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": extra, "annotations": {"kwok.x-k8s.io/node": "fake"}},
            },
        )
    try:
        name = setup(cluster, namespace, step, policy={"dryRun": True, **CORDON_ALLOWED}, labels=labels)
        action = outcome(cluster, namespace, name)
    finally:
        if step["action"] == "cordonNode":
            cluster.kubectl("delete", "node", f"kwok-extra-{namespace}", "--wait=false", check=False)
    assert action["state"] == "DryRun", action
    assert action["diff"]
    assert get_deployment(cluster, namespace)["metadata"]["generation"] == generation
    assert sorted(p["metadata"]["uid"] for p in cluster.get_json("pods", "-n", namespace)["items"]) == pods
    assert cluster.get_json("jobs", "-n", namespace)["items"] == []
    assert not cluster.get_json("node", "kwok-node-0")["spec"].get("unschedulable")
    # Every node keeps its schedulability (one that an earlier test's cleanup took away meanwhile is no change).
    was = {n["metadata"]["name"]: bool(n["spec"].get("unschedulable")) for n in nodes}
    now = {n["metadata"]["name"]: bool(n["spec"].get("unschedulable")) for n in cluster.get_json("nodes")["items"]}
    assert "kwok-node-0" in was and {name: now.get(name, before) for name, before in was.items()} == was


def test_argo_rollback_waits_while_argo_cd_runs_its_own_operation(cluster, namespace, deployment, operator, kube):
    from argocd_standin import ArgoStandIn

    create_application(cluster, kube, namespace, automated={"prune": True})
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications/web"
    # Argo CD is syncing on its own: a rollback must wait for it, not be refused for good.
    kube.request(
        "PATCH",
        path,
        body={
            "status": {
                "operationState": {
                    "phase": "Running",
                    "startedAt": "2026-11-30T09:59:00Z",
                    "operation": {"sync": {"revision": "b" * 40}},
                }
            }
        },
        content_type="application/merge-patch+json",
    )
    name = setup(
        cluster, namespace, {"action": "argoRollback", "application": "web"}, policy={"allowSuspendAutomatedSync": True}
    )
    wait_for(
        lambda: (
            "OperationInProgress"
            in [
                e["reason"]
                for e in (cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}).get(
                    "timeline", []
                )
            ]
        ),
        what="the rollback to wait for Argo CD's own operation",
    )
    assert "operation" not in kube.request("GET", path)
    waiting = (cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}).get("actions") or []
    assert [a["state"] for a in waiting] in ([], ["Pending"])  # claimed at most, never applied or denied

    kube.request(
        "PATCH",
        path,
        body={"status": {"operationState": {"phase": "Succeeded", "finishedAt": "2026-11-30T10:00:00Z"}}},
        content_type="application/merge-patch+json",
    )
    with ArgoStandIn(kube, namespace):
        action = outcome(cluster, namespace, name)
    assert action["state"] == "Succeeded", action
    assert kube.request("GET", path)["status"]["history"][-1]["revision"] == "a" * 40
