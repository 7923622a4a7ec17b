"""Both installs, run for real on the local control plane: ``helm install`` of ``charts/onduty`` and
``kubectl apply -k manifests/``.

Every object lands, the operator's Pod becomes Ready (kwok plays the kubelet, so the image
``onduty:<appVersion>`` is never pulled: what is proven is the manifests, not the image), its
ServiceAccount holds the rights the RBAC grants, ``helm upgrade`` changes what a value changes, and
``helm uninstall`` / ``kubectl delete -k`` remove everything they created, cluster-scoped objects
included.

Sharing the cluster with the rest of the suite:

- CRDs: the session applied ``crds/`` already (server-side, as the README tells users to upgrade
  them). Installs here skip them (``--skip-crds``; deleting a CRD would delete every test's objects)
  and one test proves that the chart's CRDs and ``manifests/crds`` are exactly what the cluster runs.
- Cluster-scoped names: each release has its own name, so its ClusterRoles, bindings and webhook
  configuration are its own. The admission policies' names are fixed (the operator looks them up by
  name), and the session installed them from ``manifests/admission``: the chart takes them over
  (``--take-ownership``, as when moving from the kustomize install to Helm), uninstalling deletes
  them, and the test puts the session's back and waits until they are in force again.
- The kustomize install runs as an overlay on ``manifests/``: its own namespace and name suffix, and
  without the CRDs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import REPO, wait_for

CHART = REPO / "charts/onduty"
POLICIES = ("onduty-approval", "onduty-incident-target", "onduty-acknowledgement")
CRD_NAMES = {
    f"{plural}.onduty.dev"
    for plural in (
        "alerts",
        "incidents",
        "runbooks",
        "remediationpolicies",
        "escalationpolicies",
        "notifiers",
        "oncallschedules",
    )
} | {"clusterkopfpeerings.kopf.dev"}  # Kopf's peering object, for --peering (replicas > 1)
# helm --wait's own limit, inside the helm fixture's 120 s per command.
HELM_WAIT = "90s"


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _ref(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _present(cluster, manifest: Path, namespace: str) -> set[str]:
    """kind/name of the objects of ``manifest`` that exist in the cluster."""
    result = cluster.kubectl("get", "-f", str(manifest), "-n", namespace, "--ignore-not-found", "-o", "json")
    if not result.stdout.strip():
        return set()
    found = json.loads(result.stdout)
    return {_ref(item) for item in (found["items"] if found["kind"] == "List" else [found])}


def _ready_pods(cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    pods = cluster.get_json("pods", "-n", namespace, "-l", selector)["items"]
    return [
        pod
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions", []))
    ]


def _env(pod: dict[str, Any]) -> dict[str, str | None]:
    """The literal environment of a Pod (or Pod template)'s first container."""
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}


def _can(cluster, account: str, *args: str) -> bool:
    return cluster.kubectl("auth", "can-i", *args, "--as", account, check=False).stdout.strip() == "yes"


def _session_policies_in_force(cluster) -> bool:
    """The incident-target policy refuses an Incident whose workload is in another namespace (a server-side
    dry run: admission runs, nothing is stored)."""
    incident = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "install-probe", "namespace": "default"},
        "spec": {
            "title": "probe",
            "severity": "warning",
            "workload": {"kind": "Deployment", "name": "web", "namespace": "kube-system"},
        },
    }
    result = cluster.kubectl("create", "--dry-run=server", "-f", "-", input_=json.dumps(incident), check=False)
    return result.returncode != 0 and "onduty-incident-target" in result.stderr


@pytest.fixture
def release(cluster, helm, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The chart installed with its defaults (plus the bridge token Secret it asks for) as a release of its own,
    in a fresh namespace; uninstalled afterwards, and the session's admission policies restored."""
    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"onduty-it-{suffix}", f"install-{suffix}"
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "create", "secret", "generic", "onduty-bridge-token", "-n", namespace, "--from-literal=token=install-test"
    )
    try:
        helm(
            "install",
            name,
            str(CHART),
            "-n",
            namespace,
            "--skip-crds",
            "--take-ownership",
            "--wait",
            "--timeout",
            HELM_WAIT,
        )
        manifest = tmp_path / "manifest.yaml"
        manifest.write_text(helm("get", "manifest", name, "-n", namespace))
        yield {"name": name, "namespace": namespace, "manifest": manifest, "helm": helm}
    finally:
        # Whatever state the release is in (a failed install too): Helm's release Secrets say it exists.
        stored = cluster.kubectl("get", "secret", "-n", namespace, "-l", f"owner=helm,name={name}", "-o", "name")
        if stored.stdout.strip():
            helm("uninstall", name, "-n", namespace, "--wait", "--timeout", HELM_WAIT)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("apply", "-k", str(REPO / "manifests/admission"))
        wait_for(lambda: _session_policies_in_force(cluster), timeout=60, what="the session's admission policies")


def test_helm_install_lands_every_object_and_the_operator_pod_becomes_ready(cluster, release) -> None:
    name, namespace, manifest = release["name"], release["namespace"], release["manifest"]
    rendered = _documents(manifest.read_text())
    kinds = {d["kind"] for d in rendered}
    assert {
        "Deployment",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    } <= kinds
    assert _present(cluster, manifest, namespace) == {_ref(d) for d in rendered}

    deployment = cluster.get_json("deployment", name, "-n", namespace)
    assert deployment["status"].get("readyReplicas") == 1
    [pod] = _ready_pods(cluster, namespace, f"app.kubernetes.io/instance={name}")
    [container] = pod["spec"]["containers"]
    assert container["image"] == "onduty:0.1.0"
    assert pod["spec"]["serviceAccountName"] == name
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    service = cluster.get_json("service", f"{name}-bridge", "-n", namespace)
    assert [p["port"] for p in service["spec"]["ports"]] == [9095]

    # The RBAC is in force for the release's ServiceAccount, and no wider than the chart says.
    account = f"system:serviceaccount:{namespace}:{name}"
    assert _can(cluster, account, "patch", "deployments.apps", "-n", "kube-system")
    assert _can(cluster, account, "watch", "remediationpolicies.onduty.dev")
    # Bounded: no deletes of namespaces, PVCs or CRDs, and no way to grant itself more.
    assert not _can(cluster, account, "delete", "namespaces")
    assert not _can(cluster, account, "delete", "persistentvolumeclaims", "-n", "default")
    assert not _can(cluster, account, "delete", "customresourcedefinitions")
    assert not _can(cluster, account, "create", "clusterrolebindings")
    binding = cluster.get_json("clusterrolebinding", f"{name}-operator")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]

    # The admission policies (fixed names) are the release's now, and in force.
    for kind in ("validatingadmissionpolicy", "validatingadmissionpolicybinding"):
        for policy in POLICIES:
            annotations = cluster.get_json(kind, policy)["metadata"].get("annotations", {})
            assert annotations.get("meta.helm.sh/release-name") == name, (kind, policy)
    assert _session_policies_in_force(cluster)


def test_helm_upgrade_with_a_changed_value_changes_the_objects(cluster, release) -> None:
    name, namespace, helm = release["name"], release["namespace"], release["helm"]
    before = cluster.get_json("deployment", name, "-n", namespace)

    changed = ("--set", "logLevel=DEBUG", "--set", "bridge.port=9096")
    helm("upgrade", name, str(CHART), "-n", namespace, "--reuse-values", *changed, "--wait", "--timeout", HELM_WAIT)

    after = cluster.get_json("deployment", name, "-n", namespace)
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    [container] = after["spec"]["template"]["spec"]["containers"]
    assert _env(after["spec"]["template"])["ONDUTY_LOG_LEVEL"] == "DEBUG"
    assert "--bridge-port=9096" in container["args"]
    service = cluster.get_json("service", f"{name}-bridge", "-n", namespace)
    assert [p["port"] for p in service["spec"]["ports"]] == [9096]

    # Recreate: the new Pod, with the new value, is the one that is Ready.
    def upgraded() -> bool:
        pods = _ready_pods(cluster, namespace, f"app.kubernetes.io/instance={name}")
        return len(pods) == 1 and _env(pods[0])["ONDUTY_LOG_LEVEL"] == "DEBUG"

    wait_for(upgraded, timeout=60, what="the upgraded Pod, alone, to be Ready")
    history = json.loads(helm("history", name, "-n", namespace, "-o", "json"))
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]


def test_helm_uninstall_removes_everything_it_installed_cluster_scoped_included(cluster, release) -> None:
    name, namespace, manifest, helm = release["name"], release["namespace"], release["manifest"], release["helm"]
    rendered = _documents(manifest.read_text())
    cluster_scoped = {_ref(d) for d in rendered if "namespace" not in d["metadata"]}
    assert {f"ClusterRole/{name}-operator", f"ClusterRoleBinding/{name}-operator"} <= cluster_scoped
    assert {f"ValidatingAdmissionPolicy/{policy}" for policy in POLICIES} <= cluster_scoped

    helm("uninstall", name, "-n", namespace, "--wait", "--timeout", HELM_WAIT)

    wait_for(lambda: not _present(cluster, manifest, namespace), timeout=60, what="the release's objects to be gone")
    wait_for(
        lambda: not cluster.get_json("pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={name}")["items"],
        timeout=60,
        what="the operator's Pod to be gone",
    )
    assert json.loads(helm("list", "-n", namespace, "-a", "-o", "json")) == []
    # The CRDs were never the release's: they, and everyone's objects, stay.
    assert {c["metadata"]["name"] for c in cluster.get_json("crds")["items"]} >= CRD_NAMES


def test_the_chart_and_kustomize_carry_exactly_the_crds_the_cluster_runs(cluster, helm) -> None:
    # What helm install would create: the chart's crds/, as helm reads them (--include-crds).
    rendered = _documents(helm("template", "crds", str(CHART), "--include-crds"))
    from_helm = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "CustomResourceDefinition"}
    canonical = {
        d["metadata"]["name"]: d
        for path in sorted((REPO / "crds").glob("*.yaml"))
        for d in _documents(path.read_text())
    }
    assert set(from_helm) == CRD_NAMES
    assert from_helm == canonical
    # What Helm (or kustomize) would apply changes nothing on the cluster the session set up from crds/.
    # kubectl diff exits 0 with no difference, 1 with one, more on an error.
    crds = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(from_helm.values())})
    diff = cluster.kubectl("diff", "--server-side", "--field-manager=kubectl", "-f", "-", input_=crds, check=False)
    assert (diff.returncode, diff.stdout) == (0, ""), diff.stderr
    diff = cluster.kubectl(
        "diff", "--server-side", "--field-manager=kubectl", "-k", str(REPO / "manifests/crds"), check=False
    )
    assert (diff.returncode, diff.stdout) == (0, ""), diff.stderr


# --- kubectl apply -k manifests/ ------------------------------------------------------------------------


def _overlay(tmp: Path, namespace: str, suffix: str) -> Path:
    """manifests/ as a user's overlay would take it, in its own namespace with its own names, CRDs left out."""
    overlay = tmp / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(REPO / "manifests", overlay)],
                "namespace": namespace,
                "nameSuffix": f"-{suffix}",
                "patches": [
                    {
                        "target": {"kind": "CustomResourceDefinition"},
                        "patch": yaml.safe_dump(
                            {
                                "$patch": "delete",
                                "apiVersion": "apiextensions.k8s.io/v1",
                                "kind": "CustomResourceDefinition",
                                "metadata": {"name": "any"},
                            }
                        ),
                    }
                ],
                "configurations": ["references.yaml"],
            }
        )
    )
    # kustomize does not know that a policy binding names its policy: teach it, so the suffix reaches both.
    (overlay / "references.yaml").write_text(
        yaml.safe_dump(
            {
                "nameReference": [
                    {
                        "kind": "ValidatingAdmissionPolicy",
                        "group": "admissionregistration.k8s.io",
                        "fieldSpecs": [
                            {
                                "kind": "ValidatingAdmissionPolicyBinding",
                                "group": "admissionregistration.k8s.io",
                                "path": "spec/policyName",
                            }
                        ],
                    }
                ]
            }
        )
    )
    return overlay


def test_kubectl_apply_k_brings_up_the_operator_and_delete_k_removes_it(cluster, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:6]
    namespace = f"kz-{suffix}"
    overlay = _overlay(tmp_path, namespace, suffix)
    built = tmp_path / "built.yaml"
    built.write_text(cluster.kubectl("kustomize", str(overlay)).stdout)
    objects = _documents(built.read_text())
    assert not [d for d in objects if d["kind"] == "CustomResourceDefinition"]
    # Everything of manifests/ but the CRDs: the same objects, renamed.
    base = [d for d in _documents(cluster.kubectl("kustomize", str(REPO / "manifests")).stdout)]
    assert sorted(d["kind"] for d in objects) == sorted(
        d["kind"] for d in base if d["kind"] != "CustomResourceDefinition"
    )
    try:
        cluster.kubectl("apply", "-k", str(overlay))
        cluster.kubectl(
            "create", "secret", "generic", "onduty-bridge-token", "-n", namespace, "--from-literal=token=install-test"
        )
        # Rendered names, without the metadata.namespace kustomize puts on kinds it does not know are cluster-scoped.
        assert {_ref(d) for d in objects} <= _present(cluster, built, namespace)
        [pod] = wait_for(
            lambda: _ready_pods(cluster, namespace, "app.kubernetes.io/name=onduty"),
            timeout=90,
            what="the operator's Pod to be Ready",
        )
        assert pod["spec"]["serviceAccountName"] == f"onduty-{suffix}"
        # The namespace enforces the restricted Pod Security Standard, and the Pod was admitted.
        labels = cluster.get_json("namespace", namespace)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        account = f"system:serviceaccount:{namespace}:onduty-{suffix}"
        assert _can(cluster, account, "patch", "deployments.apps", "-n", "kube-system")
        binding = cluster.get_json("validatingadmissionpolicybinding", f"onduty-approval-{suffix}")
        assert binding["spec"]["policyName"] == f"onduty-approval-{suffix}"
    finally:
        cluster.kubectl("delete", "-k", str(overlay), "--ignore-not-found", "--wait=false", check=False)

    wait_for(lambda: not _present(cluster, built, namespace), timeout=120, what="the kustomize install to be gone")
    assert {c["metadata"]["name"] for c in cluster.get_json("crds")["items"]} >= CRD_NAMES
    assert _session_policies_in_force(cluster)
