"""Trust boundaries on the real API server: a tenant with `edit` in one namespace tries to make onduty reach out.

onduty runs as its ServiceAccount under the RBAC the chart renders (not as the
admin certificate), with the chart's admission policies installed. The tenant
``alice`` holds only the built-in ``edit`` role in her namespace (plus the
chart's roles aggregated into it); ``bob`` also holds the chart's approver role
there. A RemediationPolicy of the kind the README shows allows every action in
alice's namespace. Every attack from the issue is tried by alice; each ends in
a recorded refusal, and a snapshot of ``kube-system``, the other tenant's
namespace and the nodes shows nothing changed.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import argocd_crd, deployment_manifest, drop_namespace, install_chart_rbac, wait_for
from operator_process import OperatorProcess

RELEASE = "onduty"
SYSTEM = "onduty-system"


def _apply(cluster, obj: dict[str, Any] | list[dict[str, Any]], *, as_user: str | None = None) -> None:
    items = obj if isinstance(obj, list) else [obj]
    doc = {"apiVersion": "v1", "kind": "List", "items": items}
    who = ["--as", as_user] if as_user else []
    cluster.kubectl(*who, "apply", "-f", "-", input_=json.dumps(doc))


def _as(cluster, user: str, *args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("--as", user, *args, check=False, input_=input_)


@pytest.fixture(scope="module")
def operator_as_service_account(cluster, tmp_path_factory) -> Iterator[OperatorProcess]:
    """onduty under the chart's RBAC and admission policies, authenticated as its ServiceAccount's token."""
    tmp = tmp_path_factory.mktemp("trust")
    argocd_crd(cluster)
    kubeconfig = install_chart_rbac(cluster, tmp, RELEASE, SYSTEM)
    proc = OperatorProcess(kubeconfig=kubeconfig, log_dir=tmp).start()
    try:
        yield proc
    finally:
        proc.stop()


class World:
    """Two tenants' namespaces, alice and bob, a policy for team A, and a snapshot of what must not change."""

    def __init__(self, cluster, operator: OperatorProcess) -> None:
        self.cluster = cluster
        self.operator = operator
        suffix = uuid.uuid4().hex[:6]
        self.team_a, self.team_b = f"team-a-{suffix}", f"team-b-{suffix}"
        self.alice, self.bob = f"alice-{suffix}", f"bob-{suffix}"

    def setup(self) -> None:
        cluster = self.cluster
        for ns in (self.team_a, self.team_b):
            cluster.kubectl("create", "namespace", ns)
            cluster.kubectl("apply", "-f", "-", input_=deployment_manifest("web", ns))
        bindings = [
            ("alice-edit", self.alice, "edit"),
            ("bob-edit", self.bob, "edit"),
            ("bob-approve", self.bob, f"{RELEASE}-incident-approver"),
        ]
        _apply(
            cluster,
            [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": name, "namespace": self.team_a},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
                }
                for name, user, role in bindings
            ],
        )
        # The README's kind of policy for one namespace: everything allowed there, approval for scale.
        _apply(
            cluster,
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "RemediationPolicy",
                "metadata": {"name": f"tenant-{self.team_a}"},
                "spec": {
                    "scope": {"namespaces": [self.team_a]},
                    "allowedActions": [
                        "rolloutRestart",
                        "scale",
                        "rolloutUndo",
                        "deletePod",
                        "cordonNode",
                        "runJob",
                        "argoRollback",
                        "helmRollback",
                    ],
                    "requireApproval": ["scale"],
                },
            },
        )
        wait_for(
            lambda: (
                _as(
                    cluster, self.alice, "auth", "can-i", "create", "runbooks.onduty.dev", "-n", self.team_a
                ).stdout.strip()
                == "yes"
            ),
            timeout=60,
            what="the chart's roles to be aggregated into edit",
        )
        # The admission policies take effect a moment after they (or their bindings) are written.
        assert self.incident("probe", "TrustProbe").returncode == 0
        wait_for(
            lambda: (
                _as(
                    cluster,
                    self.alice,
                    "annotate",
                    "incident.onduty.dev",
                    "probe",
                    "-n",
                    self.team_a,
                    f"onduty.dev/approve={uuid.uuid4().hex[:8]}",
                    f"onduty.dev/approved-by={self.alice}",
                    "--overwrite",
                ).returncode
                != 0
            ),
            timeout=60,
            what="the approval admission policy to refuse a tenant's approval",
        )
        for ns in (self.team_a, self.team_b):
            wait_for(
                lambda ns=ns: cluster.get_json("deployment", "web", "-n", ns)["status"].get("availableReplicas") == 2,
                timeout=90,
                what=f"web in {ns}",
            )

    def teardown(self) -> None:
        self.cluster.kubectl(
            "delete", "remediationpolicy.onduty.dev", f"tenant-{self.team_a}", "--wait=false", check=False
        )
        for ns in (self.team_a, self.team_b):
            drop_namespace(self.cluster, ns)

    # --- what must not change ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """kube-system's objects, the other tenant's workloads and Jobs, the nodes' schedulability and annotations."""
        state: dict[str, Any] = {}
        for kinds, ns in (
            (
                "daemonsets,deployments,statefulsets,configmaps,secrets,serviceaccounts,jobs,roles,rolebindings",
                "kube-system",
            ),
            ("deployments,statefulsets,daemonsets,jobs,pods,configmaps,secrets,serviceaccounts", self.team_b),
        ):
            for item in self.cluster.get_json(kinds, "-n", ns)["items"]:
                meta = item["metadata"]
                key = f"{ns}/{item['kind']}/{meta['name']}"
                state[key] = (meta["uid"], meta.get("generation"), json.dumps(item.get("spec"), sort_keys=True))
        for item in self.cluster.get_json("clusterrolebindings,clusterroles")["items"]:
            state[f"cluster/{item['kind']}/{item['metadata']['name']}"] = item["metadata"]["uid"]
        for node in self.cluster.get_json("nodes")["items"]:
            state[f"node/{node['metadata']['name']}"] = (
                bool((node.get("spec") or {}).get("unschedulable")),
                sorted((node["metadata"].get("annotations") or {}).items()),
            )
        return state

    # --- a tenant's doings -------------------------------------------------------------------------
    def alice_applies(self, obj: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        obj["metadata"]["namespace"] = self.team_a
        return _as(self.cluster, self.alice, "apply", "-f", "-", input_=json.dumps(obj))

    def runbook(self, name: str, alertname: str, steps: list[dict[str, Any]], **spec: Any) -> None:
        body = {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": name},
            "spec": {"match": {"alertnames": [alertname]}, **spec},
        }
        if steps:
            body["spec"]["remediation"] = {"steps": steps}
        result = self.alice_applies(body)
        assert result.returncode == 0, result.stderr

    def incident(
        self, name: str, alertname: str, workload: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.alice_applies(
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "Incident",
                "metadata": {"name": name},
                "spec": {
                    "title": f"{alertname} raised by hand",
                    "severity": "critical",
                    "source": "manual",
                    "labels": {"alertname": alertname, "severity": "critical"},
                    **({"workload": workload} if workload is not None else {}),
                },
            }
        )

    def wait_incident(self, name: str, predicate: Callable[[dict[str, Any]], Any], what: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.cluster.get_json("incidents.onduty.dev", name, "-n", self.team_a)
            return obj if predicate(obj) else None

        try:
            return wait_for(probe, timeout=60, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- onduty log ---\n{self.operator.tail(80)}") from error

    def denied(self, name: str, step: str) -> dict[str, Any]:
        """The step's action record once it is denied (and the incident's Event saying why)."""
        obj = self.wait_incident(
            name,
            lambda o: any(
                a["step"] == step and a["state"] == "Denied" for a in (o.get("status") or {}).get("actions") or []
            ),
            f"step {step} of {name} to be refused",
        )
        return next(a for a in obj["status"]["actions"] if a["step"] == step)


@pytest.fixture(scope="module")
def world(cluster, operator_as_service_account) -> Iterator[World]:
    w = World(cluster, operator_as_service_account)
    w.setup()
    try:
        yield w
    finally:
        w.teardown()


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    """Every test: kube-system, the other tenant and the nodes are as they were before it."""
    before = world.snapshot()
    yield
    after = world.snapshot()
    changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # kube-system's own controllers may refresh a configmap (leader election, root CA): never a new object.
    assert not changed, f"changed outside the tenant's namespace: {sorted(changed)}"


def _events(cluster, namespace: str, name: str) -> list[str]:
    items = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [f"{e['reason']}: {e['message']}" for e in items]


# --- the incident's target ----------------------------------------------------------------------


def test_an_incident_cannot_name_a_workload_in_another_namespace(world: World, unchanged: None) -> None:
    refused = world.incident(
        "reach-b", "TrustCrossNamespace", {"kind": "Deployment", "name": "web", "namespace": world.team_b}
    )
    assert refused.returncode != 0
    assert "onduty-incident-target" in refused.stderr and world.team_b in refused.stderr

    traversal = world.incident(
        "traverse-b", "TrustCrossNamespace", {"kind": "Deployment", "name": f"../../{world.team_b}/deployments/web"}
    )
    assert traversal.returncode != 0
    assert "spec.workload.name" in traversal.stderr


def test_an_alert_label_with_a_path_in_it_selects_no_target(world: World, unchanged: None) -> None:
    world.runbook("restart-any", "TrustLabelPath", [{"name": "restart", "action": "rolloutRestart"}])
    labels = {
        "alertname": "TrustLabelPath",
        "namespace": world.team_a,
        "deployment": f"../../{world.team_b}/deployments/web",
        "severity": "critical",
    }
    code, _ = post_json(
        world.operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC)))
    )
    assert code == 200

    def denied() -> dict[str, Any] | None:
        for inc in world.cluster.get_json("incidents.onduty.dev", "-n", world.team_a)["items"]:
            if (inc["spec"].get("labels") or {}).get("alertname") == "TrustLabelPath":
                for action in (inc.get("status") or {}).get("actions") or []:
                    if action["state"] == "Denied":
                        return action
        return None

    action = wait_for(denied, timeout=60, what="the restart to be refused for want of a target")
    assert action["reason"] == "NoTarget"
    assert (
        "workload"
        not in next(
            i
            for i in world.cluster.get_json("incidents.onduty.dev", "-n", world.team_a)["items"]
            if i["spec"]["labels"]["alertname"] == "TrustLabelPath"
        )["spec"]
    )


# --- helmRollback of a release whose Secrets the tenant wrote -----------------------------------


def _release_secret(
    release: str, namespace: str, version: int, status: str, objects: list[dict[str, Any]]
) -> dict[str, Any]:
    record = {
        "name": release,
        "namespace": namespace,
        "version": version,
        "info": {
            "first_deployed": "2026-11-01T09:00:00Z",
            "last_deployed": f"2026-11-0{version}T09:00:00Z",
            "deleted": "",
            "description": "Install complete" if version == 1 else "Upgrade complete",
            "status": status,
        },
        "chart": {"metadata": {"name": "evil", "version": f"0.{version}.0"}, "templates": []},
        "config": {},
        "manifest": "".join("---\n" + yaml.safe_dump(o) for o in objects),
    }
    encoded = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helm.sh/release.v1",
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{version}",
            "labels": {"owner": "helm", "name": release, "status": status, "version": str(version)},
        },
        # Secret data is base64 of the stored bytes; Helm stores base64(gzip(json)) itself.
        "data": {"release": base64.b64encode(encoded.encode()).decode()},
    }


PRIVILEGED_DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "node-shell", "namespace": "kube-system"},
    "spec": {
        "selector": {"matchLabels": {"app": "node-shell"}},
        "template": {
            "metadata": {"labels": {"app": "node-shell"}},
            "spec": {
                "hostPID": True,
                "containers": [{"name": "sh", "image": "busybox", "securityContext": {"privileged": True}}],
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            },
        },
    },
}


@pytest.mark.parametrize(
    ("target_objects", "reason"),
    [
        ([PRIVILEGED_DAEMONSET], "ObjectOutsideNamespace"),
        (
            [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "tenant-is-admin"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [
                        {"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}
                    ],
                }
            ],
            "ClusterScopedObject",
        ),
    ],
    ids=["daemonset-in-kube-system", "cluster-role-binding"],
)
def test_a_forged_helm_release_cannot_write_outside_the_namespace(
    world: World, unchanged: None, target_objects: list[dict[str, Any]], reason: str
) -> None:
    release = f"evil-{uuid.uuid4().hex[:5]}"
    harmless = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{release}-cm"}, "data": {"a": "b"}}
    for secret in (
        _release_secret(release, world.team_a, 1, "superseded", target_objects),
        _release_secret(release, world.team_a, 2, "deployed", [harmless]),
    ):
        result = world.alice_applies(secret)
        assert result.returncode == 0, result.stderr
    world.runbook(
        f"rollback-{release}", f"Trust{release}", [{"name": "rollback", "action": "helmRollback", "release": release}]
    )
    created = world.incident(f"inc-{release}", f"Trust{release}", {"kind": "Deployment", "name": "web"})
    assert created.returncode == 0, created.stderr

    action = world.denied(f"inc-{release}", "rollback")

    assert action["reason"] == reason
    assert target_objects[0]["metadata"]["name"] in action["message"]
    secrets = world.cluster.get_json("secrets", "-n", world.team_a, "-l", f"owner=helm,name={release}")["items"]
    assert sorted(s["metadata"]["name"] for s in secrets) == [
        f"sh.helm.release.v1.{release}.v1",
        f"sh.helm.release.v1.{release}.v2",
    ], "no revision was written"
    assert any("RemediationSkipped" in e for e in _events(world.cluster, world.team_a, f"inc-{release}"))


# --- runJob -----------------------------------------------------------------------------------------

RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "fix",
            "image": "registry.local/fix:1",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
    ],
}


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        (
            {
                "containers": [{"name": "x", "image": "busybox", "securityContext": {"privileged": True}}],
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            },
            "PodSecurityViolation",
        ),
        ({**RESTRICTED_POD, "serviceAccountName": "deployer"}, "ServiceAccountNotAllowed"),
    ],
    ids=["privileged-hostpath", "other-service-account"],
)
def test_run_job_refuses_a_pod_that_is_not_restricted_or_runs_as_another_account(
    world: World, unchanged: None, pod: dict[str, Any], reason: str
) -> None:
    tag = uuid.uuid4().hex[:5]
    world.runbook(
        f"job-{tag}", f"TrustJob{tag}", [{"name": "script", "action": "runJob", "job": {"template": {"spec": pod}}}]
    )
    assert world.incident(f"job-{tag}", f"TrustJob{tag}", {"kind": "Deployment", "name": "web"}).returncode == 0

    action = world.denied(f"job-{tag}", "script")

    assert action["reason"] == reason
    assert world.cluster.get_json("jobs", "-A", "-l", "app.kubernetes.io/managed-by=onduty")["items"] == [] or all(
        j["metadata"]["annotations"].get("onduty.dev/incident") != f"{world.team_a}/job-{tag}"
        for j in world.cluster.get_json("jobs", "-A", "-l", "app.kubernetes.io/managed-by=onduty")["items"]
    )


def test_run_job_with_a_restricted_pod_runs_in_the_incidents_namespace(world: World, unchanged: None) -> None:
    world.runbook(
        "job-ok", "TrustJobOk", [{"name": "script", "action": "runJob", "job": {"template": {"spec": RESTRICTED_POD}}}]
    )
    assert world.incident("job-ok", "TrustJobOk", {"kind": "Deployment", "name": "web"}).returncode == 0

    obj = world.wait_incident(
        "job-ok",
        lambda o: any(a["state"] in ("Applied", "Succeeded") for a in (o.get("status") or {}).get("actions") or []),
        "the restricted job to run",
    )

    job = obj["status"]["actions"][0]["details"]["job"]
    assert world.cluster.get_json("job", job, "-n", world.team_a)["metadata"]["namespace"] == world.team_a


# --- nodes and Argo CD Applications elsewhere need a platform grant -------------------------------


def test_cordon_node_needs_a_platform_grant_and_never_takes_a_node_from_a_tenant_runbook(
    world: World, unchanged: None
) -> None:
    node = world.cluster.get_json("nodes")["items"][0]["metadata"]["name"]
    world.runbook("cordon", "TrustCordon", [{"name": "cordon", "action": "cordonNode", "node": node}])
    assert world.incident("cordon", "TrustCordon", {"kind": "Deployment", "name": "web"}).returncode == 0

    action = world.denied("cordon", "cordon")

    assert action["reason"] == "ClusterScopedActionNotAllowed"
    assert "allowClusterScopedActions" in action["message"]


def test_argo_rollback_of_an_application_in_another_namespace_is_refused(world: World, unchanged: None) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payments", "namespace": world.team_b},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": world.team_b},
            "source": {"repoURL": "https://git.local/b.git", "path": "payments", "targetRevision": "main"},
        },
    }
    world.cluster.kubectl("apply", "-f", "-", input_=json.dumps(app))
    world.runbook(
        "argo",
        "TrustArgo",
        [
            {
                "name": "rollback",
                "action": "argoRollback",
                "application": "payments",
                "applicationNamespace": world.team_b,
            }
        ],
    )
    assert world.incident("argo", "TrustArgo", {"kind": "Deployment", "name": "web"}).returncode == 0

    action = world.denied("argo", "rollback")

    assert action["reason"] == "OutsideNamespace"
    assert world.team_b in action["message"]
    stored = world.cluster.get_json("applications.argoproj.io", "payments", "-n", world.team_b)
    assert "operation" not in stored


# --- diagnostics read only the incident's namespace ---------------------------------------------


def test_diagnostics_cannot_read_another_namespace(world: World, unchanged: None) -> None:
    world.cluster.kubectl(
        "annotate",
        "deployment",
        "web",
        "-n",
        world.team_a,
        "meta.helm.sh/release-name=payments",
        f"meta.helm.sh/release-namespace={world.team_b}",
        "--overwrite",
    )
    world.runbook(
        "peek",
        "TrustPeek",
        [],
        diagnostics=[
            {"name": "argo", "type": "argoHistory", "application": "payments", "namespace": world.team_b},
            {"name": "helm", "type": "helmHistory"},
            {"name": "pods", "type": "podStatus"},
        ],
    )
    assert world.incident("peek", "TrustPeek", {"kind": "Deployment", "name": "web"}).returncode == 0

    obj = world.wait_incident("peek", lambda o: (o.get("status") or {}).get("diagnostics"), "diagnostics")

    results = {r["name"]: r for r in obj["status"]["diagnostics"]}
    assert not results["argo"]["ok"] and world.team_b in results["argo"]["error"]
    assert not results["helm"]["ok"] and "meta.helm.sh/release-namespace" in results["helm"]["error"]
    assert results["pods"]["ok"], results["pods"]  # its own namespace is readable


# --- approval -----------------------------------------------------------------------------------------


def test_only_an_identity_with_the_approve_right_approves_and_is_recorded_by_name(
    world: World, unchanged: None
) -> None:
    world.runbook("scale", "TrustScale", [{"name": "scale", "action": "scale", "replicas": 3}])
    assert world.incident("scale", "TrustScale", {"kind": "Deployment", "name": "web"}).returncode == 0
    world.wait_incident(
        "scale",
        lambda o: any(a["state"] == "AwaitingApproval" for a in (o.get("status") or {}).get("actions") or []),
        "the scale to wait for approval",
    )

    def annotate(user: str, **annotations: str) -> subprocess.CompletedProcess[str]:
        pairs = [f"onduty.dev/{k.replace('_', '-')}={v}" for k, v in annotations.items()]
        return _as(
            world.cluster, user, "annotate", "incident.onduty.dev", "scale", "-n", world.team_a, *pairs, "--overwrite"
        )

    self_approval = annotate(world.alice, approve="scale", approved_by=world.alice)
    assert self_approval.returncode != 0 and "approve" in self_approval.stderr
    in_bobs_name = annotate(world.alice, approve="scale", approved_by=world.bob)
    assert in_bobs_name.returncode != 0
    bob_for_alice = annotate(world.bob, approve="scale", approved_by=world.alice)
    assert bob_for_alice.returncode != 0 and world.bob in bob_for_alice.stderr
    annotations = (
        world.cluster.get_json("incident.onduty.dev", "scale", "-n", world.team_a)["metadata"].get("annotations") or {}
    )
    assert "onduty.dev/approve" not in annotations

    accepted = annotate(world.bob, approve="scale", approved_by=world.bob)
    assert accepted.returncode == 0, accepted.stderr

    obj = world.wait_incident(
        "scale",
        lambda o: any((a.get("approval") or {}).get("approved") for a in (o.get("status") or {}).get("actions") or []),
        "the approval to be recorded",
    )
    approval = obj["status"]["actions"][0]["approval"]
    assert approval["decidedBy"] == world.bob
