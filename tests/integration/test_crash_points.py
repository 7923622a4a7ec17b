"""onduty killed at every named crash point of every action, then restarted: the action is applied
exactly once and recorded as it happened.

The remediation worker passes named points (:mod:`onduty.services.crashpoints`): ``after-record``
(the action is claimed in the incident, nothing done yet), ``after-write-N`` (the N-th write the
action made to the cluster) and ``before-verify`` (recorded as applied, verification not begun).
For each action and each point it passes, onduty runs with that point armed and dies there with
status 137, as a SIGKILL would leave it; a second onduty, unarmed, then finishes the incident.

Exactly once is shown on what the action changes (a Deployment's generation, the pods' uids, the
Job list, the Argo CD history and the stand-in's syncs, ``helm history``); truthfully recorded, on
the incident (one action record for the step, started and applied once, and, when onduty died
after its last write, "found applied after an operator restart") and on the workload's own record
(the ``onduty.dev/last-<action>`` and ``onduty.dev/action-history`` annotations that cooldowns and
rate limits read: this action, once).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kit import (
    REPO,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    apply_manifest,
    create_argo_application,
    deployment_manifest,
    get_deployment,
    open_step_incident,
    step_outcome,
    wait_for,
)
from onduty.services import crashpoints

ACTION_ID = "onduty.dev/action-id"
HISTORY = "onduty.dev/action-history"
FOUND_APPLIED = "found applied after an operator restart"

# The writes each action makes, in order (crashpoints.CountingWrites counts every write but a GET):
# after-write-N for the last one is after the action is complete, before the incident says so.
WRITES = {
    "rolloutRestart": 1,  # the pod template's annotation, with the workload's record
    "scale": 1,  # spec.replicas, with the record
    "scaleUnderHpa": 2,  # the workload's record; the HPA's minReplicas
    "rolloutUndo": 1,  # one JSON patch: the old template and the record
    "deletePod": 2,  # the record; the pod's delete
    "cordonNode": 2,  # the record; the node's patch
    "runJob": 2,  # the record; the Job's create
    "argoRollback": 2,  # the Application's operation; the record
    # The new revision's Secret (pending-rollback); the ConfigMap; the Deployment; revision 2
    # superseded; revision 3 deployed; the record.
    "helmRollback": 6,
}


def points(writes: int) -> list[str]:
    return ["after-record", *(f"after-write-{n}" for n in range(1, writes + 1)), "before-verify"]


CASES = [pytest.param(action, point, id=f"{action}-{point}") for action, n in WRITES.items() for point in points(n)]


@dataclass
class World:
    cluster: Any
    kube: Any
    namespace: str
    helm: Callable[..., str]
    cleanup: contextlib.ExitStack


@dataclass
class Arranged:
    """One action, ready to be triggered; ``exactly_once`` asserts its effect, given the incident's record."""

    step: dict[str, Any]
    exactly_once: Callable[[dict[str, Any]], None]
    workload: str = "web"
    policy: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def world(cluster, kube, namespace, helm) -> Iterator[World]:
    with contextlib.ExitStack() as stack:
        # open_step_incident's policy is cluster-scoped: it goes with the test, not with the namespace.
        stack.callback(cluster.kubectl, "delete", "remediationpolicy.onduty.dev", f"p-{namespace}", check=False)
        yield World(cluster, kube, namespace, helm, stack)


def deploy(world: World, name: str = "web", *, replicas: int = 2, node: str | None = None) -> dict[str, Any]:
    """A Deployment whose pods are available (on ``node`` if given); returns it as it then is."""
    manifest = json.loads(deployment_manifest(name, world.namespace, replicas))
    if node:
        manifest["spec"]["template"]["spec"]["nodeName"] = node
    apply_manifest(world.cluster, manifest)
    return wait_for(
        lambda: (
            (d := get_deployment(world.cluster, world.namespace, name))["status"].get("availableReplicas") == replicas
            and d
        ),
        timeout=90,
        what=f"deployment {name} to be available",
    )


def live_pod_uids(world: World, app: str = "web") -> set[str]:
    pods = world.cluster.get_json("pods", "-n", world.namespace, "-l", f"app={app}")["items"]
    return {p["metadata"]["uid"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def assert_changed(workload: dict[str, Any], generation: int, changes: int, what: str) -> None:
    """The Deployment changed ``changes`` times since ``generation``: its generation counts changes to
    its spec *and* to its annotations (onduty's record is one)."""
    meta = workload["metadata"]
    ours = {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith("onduty.dev/")}
    assert meta["generation"] == generation + changes, (
        f"{what}: generation {meta['generation']}, not {generation} + {changes}; onduty's annotations: {ours}"
    )


def last_record(workload: dict[str, Any], action: str) -> dict[str, Any]:
    raw = (workload["metadata"].get("annotations") or {}).get(f"onduty.dev/last-{action}")
    assert raw, f"the workload carries no onduty.dev/last-{action} record"
    return dict(json.loads(raw))


# --- each action, set up as the action tests do, with what "exactly once" means for it -------------


def rollout_restart(world: World) -> Arranged:
    before = deploy(world)

    def exactly_once(action: dict[str, Any]) -> None:
        after = get_deployment(world.cluster, world.namespace)
        assert_changed(after, before["metadata"]["generation"], 1, "one restart, with its record")
        assert after["spec"]["template"]["metadata"]["annotations"][ACTION_ID] == action["id"]

    return Arranged({"action": "rolloutRestart"}, exactly_once)


def scale(world: World) -> Arranged:
    before = deploy(world)

    def exactly_once(action: dict[str, Any]) -> None:
        after = get_deployment(world.cluster, world.namespace)
        assert after["spec"]["replicas"] == 3
        assert_changed(after, before["metadata"]["generation"], 1, "one scale, with its record")

    return Arranged({"action": "scale", "replicas": 3}, exactly_once)


def scale_under_hpa(world: World) -> Arranged:
    before = deploy(world)
    apply_manifest(
        world.cluster,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": world.namespace},
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

    def exactly_once(action: dict[str, Any]) -> None:
        hpa = world.cluster.get_json("hpa", "web", "-n", world.namespace)
        assert hpa["spec"]["minReplicas"] == 3
        assert hpa["metadata"]["annotations"][ACTION_ID] == action["id"]
        record = last_record(get_deployment(world.cluster, world.namespace), "scale")
        assert (record["hpa"], record["hpaMinBefore"], record["from"], record["to"]) == ("web", 2, 2, 3)
        # The HPA controller enforces its floor: the Deployment follows, in one scale.
        wait_for(
            lambda: get_deployment(world.cluster, world.namespace)["spec"]["replicas"] == 3,
            timeout=60,
            what="the HPA to scale web to 3",
        )
        after = get_deployment(world.cluster, world.namespace)
        assert_changed(after, before["metadata"]["generation"], 2, "the record, then the HPA's one scale")

    return Arranged({"action": "scale", "replicas": 3}, exactly_once)


def rollout_undo(world: World) -> Arranged:
    deploy(world)
    world.cluster.kubectl("set", "image", "deployment/web", "app=registry.local/app:2.0", "-n", world.namespace)

    def revision_2_rolled_out() -> dict[str, Any] | None:
        d = get_deployment(world.cluster, world.namespace)
        done = (
            d["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "2"
            and d["status"].get("updatedReplicas") == 2
            and d["status"].get("availableReplicas") == 2
        )
        return d if done else None

    before = wait_for(revision_2_rolled_out, what="revision 2 rolled out")

    def exactly_once(action: dict[str, Any]) -> None:
        after = get_deployment(world.cluster, world.namespace)
        assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/app:1.0"
        assert_changed(after, before["metadata"]["generation"], 1, "one undo, with its record")
        assert after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    return Arranged({"action": "rolloutUndo"}, exactly_once)


def delete_pod(world: World) -> Arranged:
    generation = deploy(world)["metadata"]["generation"]
    before = live_pod_uids(world)
    assert len(before) == 2

    def exactly_once(action: dict[str, Any]) -> None:
        after = get_deployment(world.cluster, world.namespace)
        assert before - live_pod_uids(world) == {last_record(after, "deletePod")["uid"]}
        assert_changed(after, generation, 1, "the record, written once")

    return Arranged({"action": "deletePod"}, exactly_once, policy={"blastRadius": {"minAvailable": 1}})


def cordon_node(world: World) -> Arranged:
    node = f"kwok-extra-{world.namespace}"
    apply_manifest(
        world.cluster,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node, "annotations": {"kwok.x-k8s.io/node": "fake"}, "labels": {"type": "kwok"}},
        },
    )
    world.cleanup.callback(world.cluster.kubectl, "delete", "node", node, "--wait=false", check=False)
    # onduty cordons only a node the incident's workload runs on.
    generation = deploy(world, "pinned", replicas=1, node=node)["metadata"]["generation"]

    def exactly_once(action: dict[str, Any]) -> None:
        pinned = get_deployment(world.cluster, world.namespace, "pinned")
        assert_changed(pinned, generation, 1, "the record, written once")
        cordoned = world.cluster.get_json("node", node)
        assert cordoned["spec"]["unschedulable"] is True
        assert cordoned["metadata"]["annotations"][ACTION_ID] == action["id"]
        assert world.cluster.get_json("node", "kwok-node-0")["spec"].get("unschedulable") is not True

    return Arranged(
        {"action": "cordonNode"},
        exactly_once,
        workload="pinned",
        policy={"allowClusterScopedActions": ["cordonNode"]},
        labels={"node": node},
    )


def run_job(world: World) -> Arranged:
    generation = deploy(world)["metadata"]["generation"]
    container = {"name": "clean", "image": "registry.local/tools:1", "command": ["true"], **RESTRICTED_CONTAINER}
    template = {"spec": {**RESTRICTED_POD, "containers": [container]}}

    def exactly_once(action: dict[str, Any]) -> None:
        jobs = world.cluster.get_json("jobs", "-n", world.namespace)["items"]
        assert [j["metadata"]["annotations"][ACTION_ID] for j in jobs] == [action["id"]]
        assert any(c["type"] == "Complete" and c["status"] == "True" for c in jobs[0]["status"]["conditions"])
        assert_changed(get_deployment(world.cluster, world.namespace), generation, 1, "the record, written once")

    return Arranged({"action": "runJob", "job": {"template": template, "activeDeadlineSeconds": 120}}, exactly_once)


def argo_rollback(world: World) -> Arranged:
    from argocd_standin import ArgoStandIn

    generation = deploy(world)["metadata"]["generation"]
    create_argo_application(world.cluster, world.kube, world.namespace, automated={"prune": True})
    argo = world.cleanup.enter_context(ArgoStandIn(world.kube, world.namespace))

    def exactly_once(action: dict[str, Any]) -> None:
        app = world.kube.request("GET", f"/apis/argoproj.io/v1alpha1/namespaces/{world.namespace}/applications/web")
        assert argo.synced == [("web", "a" * 40)]  # one operation, carried out once
        assert f"Argo CD synced {world.namespace}/web to revision {'a' * 40}." in action["message"], action
        assert [(h["id"], h["revision"]) for h in app["status"]["history"]] == [
            (0, "a" * 40),
            (1, "b" * 40),
            (2, "a" * 40),
        ]
        assert app["metadata"]["annotations"][ACTION_ID] == action["id"]
        assert_changed(get_deployment(world.cluster, world.namespace), generation, 1, "the record, written once")

    return Arranged(
        {"action": "argoRollback", "application": "web"}, exactly_once, policy={"allowSuspendAutomatedSync": True}
    )


def helm_rollback(world: World) -> Arranged:
    chart = str(REPO / "tests/fixtures/charts/demo")
    world.helm("install", "shop", chart, "-n", world.namespace, "--wait", "--timeout", "60s")
    world.helm(
        "upgrade",
        "shop",
        chart,
        "-n",
        world.namespace,
        "--set",
        "image=registry.local/demo:2.0",
        "--wait",
        "--timeout",
        "60s",
    )
    generation = get_deployment(world.cluster, world.namespace, "shop")["metadata"]["generation"]

    def exactly_once(action: dict[str, Any]) -> None:
        history = json.loads(world.helm("history", "shop", "-n", world.namespace, "-o", "json"))
        assert [(h["revision"], h["status"], h["description"]) for h in history] == [
            (1, "superseded", "Install complete"),
            (2, "superseded", "Upgrade complete"),
            (3, "deployed", "Rollback to 1"),
        ]
        shop = get_deployment(world.cluster, world.namespace, "shop")
        assert shop["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/demo:1.0"
        assert_changed(shop, generation, 2, "the old template applied, then the record")

    return Arranged({"action": "helmRollback"}, exactly_once, workload="shop")


ARRANGE: dict[str, Callable[[World], Arranged]] = {
    "rolloutRestart": rollout_restart,
    "scale": scale,
    "scaleUnderHpa": scale_under_hpa,
    "rolloutUndo": rollout_undo,
    "deletePod": delete_pod,
    "cordonNode": cordon_node,
    "runJob": run_job,
    "argoRollback": argo_rollback,
    "helmRollback": helm_rollback,
}


@pytest.mark.parametrize(("action", "point"), CASES)
def test_onduty_killed_at_any_point_applies_the_action_exactly_once_and_records_it_truly(
    world, operator_factory, action, point
):
    cluster, namespace = world.cluster, world.namespace
    onduty = operator_factory()
    onduty.env = {crashpoints.ENABLE: "1", crashpoints.AT: point}
    onduty.start(wait=False)  # it starts up while the action is set up
    arranged = ARRANGE[action](world)
    name = open_step_incident(
        cluster, namespace, arranged.step, policy=arranged.policy, labels=arranged.labels, workload=arranged.workload
    )
    wait_for(lambda: onduty.process.exit_code is not None, timeout=90, interval=0.1, what=f"onduty to die at {point}")
    assert onduty.process.exit_code == crashpoints.EXIT_STATUS, onduty.tail()
    assert f"crash point {point} reached" in onduty.tail(), onduty.tail()
    # It died in this incident's step, where the point says: claimed; applied only once it says so.
    at_crash = cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}
    assert len(at_crash.get("actions") or []) == 1, at_crash
    claimed = at_crash["actions"][0]
    assert claimed["startedAt"], claimed
    assert claimed["state"] == ("Applied" if point == "before-verify" else "Pending"), claimed

    onduty.env = {}
    onduty.start(wait=False)
    try:
        record = step_outcome(cluster, namespace, name, timeout=120)
    except AssertionError as error:
        raise AssertionError(f"{error}\nthe restarted onduty's log ends:\n{onduty.tail()}") from None
    onduty.kill()  # its work is done; what follows only reads

    # Exactly once: on what the action changes.
    assert record["state"] == "Succeeded", f"{record['state']} {record.get('reason')}: {record.get('message')}"
    arranged.exactly_once(record)
    # Recorded truthfully, in the incident: one record for the step, claimed once, applied once, ...
    status = cluster.get_json("incident.onduty.dev", name, "-n", namespace)["status"]
    assert [a["step"] for a in status["actions"]] == ["fix"]
    assert record["startedAt"] and record["appliedAt"]
    timeline = status["timeline"]
    assert [e["reason"] for e in timeline].count("RemediationStarted") == 1, timeline
    applied = [e["message"] for e in timeline if e["reason"] == "RemediationApplied"]
    assert len(applied) == 1, timeline
    # ... and, killed after the action's last write, found applied by the next onduty; killed
    # before acting, or after recording it applied, applied by onduty as usual.
    if point == f"after-write-{WRITES[action]}":
        assert FOUND_APPLIED in applied[0], applied
    elif point in ("after-record", "before-verify"):
        assert FOUND_APPLIED not in applied[0], applied
    # ... and on the workload: its record names this action, and its history counts it once.
    workload = get_deployment(cluster, namespace, arranged.workload)
    assert last_record(workload, arranged.step["action"])["actionId"] == record["id"]
    assert len(json.loads(workload["metadata"]["annotations"][HISTORY])) == 1, workload["metadata"]["annotations"]
