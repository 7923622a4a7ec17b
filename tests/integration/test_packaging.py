"""The two ways to install onduty grant the same permissions and carry the same CRDs."""

from __future__ import annotations

import subprocess

import yaml

from kit import REPO


def _cluster_roles(documents: str) -> dict[str, list]:
    return {
        d["metadata"]["name"]: d.get("rules", [])
        for d in yaml.safe_load_all(documents)
        if isinstance(d, dict) and d.get("kind") == "ClusterRole"
    }


def test_kustomize_and_helm_grant_the_same_cluster_roles(cluster, helm):
    kustomized = subprocess.run(
        [str(cluster.bin_dir / "kubectl"), "kustomize", str(REPO / "manifests")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rendered = helm("template", "onduty", str(REPO / "charts/onduty"), "-n", "onduty-system")
    from_kustomize, from_helm = _cluster_roles(kustomized), _cluster_roles(rendered)
    assert from_kustomize  # the operator role and the per-kind editor/viewer roles
    assert from_kustomize == from_helm
    operator_rules = from_kustomize["onduty-operator"]
    assert not any("*" in rule.get("resources", []) or "*" in rule.get("verbs", []) for rule in operator_rules)


def test_helm_lint_is_clean(helm):
    helm("lint", "--strict", str(REPO / "charts/onduty"))


def test_the_chart_and_kustomize_carry_the_canonical_crds():
    for crd in sorted((REPO / "crds").glob("*.yaml")):
        assert (REPO / "charts/onduty/crds" / crd.name).read_text() == crd.read_text()
        assert (REPO / "manifests/crds" / crd.name).read_text() == crd.read_text()
