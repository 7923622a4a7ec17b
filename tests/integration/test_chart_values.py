"""The chart's values are checked against ``charts/onduty/values.schema.json`` by the real helm CLI.

A misspelt or mistyped value fails ``helm lint``, ``helm template`` (and so ``helm install``) with a
message that names it, instead of being ignored and leaving the default in force; the defaults and the
values the README and values.yaml document are accepted. No cluster is needed: helm renders locally.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from kit import REPO, helm_env

CHART = REPO / "charts/onduty"

# What the README ("Install in a cluster") and the comments in values.yaml show, together.
DOCUMENTED = {
    "image": {"repository": "registry.example.com/platform/onduty", "tag": "0.1.0"},
    "rbac": {
        "aggregateApproverToAdmin": True,
        "namespaces": ["team-a", "team-b"],
        "nodes": False,
        "helmRollbackKinds": [
            {"apiGroups": [""], "resources": ["configmaps", "services", "serviceaccounts"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"]},
        ],
    },
    "admissionPolicies": {"create": False},
    "replicas": 2,
    "peering": {"enabled": True, "name": "onduty-a", "lifetimeSeconds": 30},
    "podDisruptionBudget": {"enabled": True},
    "globalNamespace": "onduty-global",
    "notifiers": {"allowedNetworks": ["10.20.0.0/16"]},
    "bridge": {"token": {"enabled": False}},
    "extraArgs": ["--poll-seconds=2"],
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
}


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    import controlplane

    return controlplane.find_binaries() / "helm"


def _helm(helm_bin: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_bin), *args], capture_output=True, text=True, env=helm_env(tmp), timeout=120, check=False
    )


def test_the_defaults_and_the_documented_values_are_accepted(helm_bin: Path, tmp_path: Path) -> None:
    documented = tmp_path / "documented.yaml"
    documented.write_text(yaml.safe_dump(DOCUMENTED))
    for values in ((), ("-f", str(documented)), ("--set-json", "rbac.helmRollbackKinds=[]")):
        linted = _helm(helm_bin, tmp_path, "lint", "--strict", str(CHART), *values)
        assert linted.returncode == 0, linted.stdout + linted.stderr
        rendered = _helm(helm_bin, tmp_path, "template", "onduty", str(CHART), "-n", "onduty-system", *values)
        assert rendered.returncode == 0, rendered.stderr
    # The documented values did take effect (the schema let them through, unchanged).
    rendered = _helm(helm_bin, tmp_path, "template", "onduty", str(CHART), "-n", "onduty-system", "-f", str(documented))
    [deployment] = [d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/platform/onduty:0.1.0"
    assert "--poll-seconds=2" in container["args"]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        pytest.param(("--set", "replicas=two"), ["/replicas", "want integer"], id="replicas-not-a-number"),
        pytest.param(("--set", "replicaCount=1"), ["'replicaCount' not allowed"], id="unknown-top-level-key"),
        pytest.param(("--set", "rbac.namespace=team-a"), ["/rbac", "'namespace' not allowed"], id="unknown-nested-key"),
        pytest.param(
            ("--set", "image.pullPolicy=Sometimes"), ["/image/pullPolicy", "IfNotPresent"], id="bad-pull-policy"
        ),
        pytest.param(("--set", "logLevel=TRACE"), ["/logLevel", "WARNING"], id="bad-log-level"),
        pytest.param(("--set", "bridge.port=70000"), ["/bridge/port", "65"], id="port-out-of-range"),
        pytest.param(("--set", "rbac.nodes=maybe"), ["/rbac/nodes", "want boolean"], id="not-a-boolean"),
        pytest.param(("--set", "rbac.namespaces={Team_A}"), ["/rbac/namespaces/0", "Team_A"], id="bad-namespace"),
        pytest.param(
            ("--set", "rbac.helmRollbackKinds[0].apiGroups={apps}", "--set", "rbac.helmRollbackKinds[0].resources={*}"),
            ["/rbac/helmRollbackKinds/0/resources/0"],
            id="wildcard-rollback-kind",
        ),
        pytest.param(
            ("--set", "admissionWebhook.timeoutSeconds=60"), ["/admissionWebhook/timeoutSeconds", "30"], id="timeout"
        ),
    ],
)
def test_a_bad_value_is_refused_naming_it(helm_bin: Path, tmp_path: Path, values: tuple[str, ...], named: list[str]):
    for command in (("lint", "--strict", str(CHART)), ("template", "onduty", str(CHART))):
        result = _helm(helm_bin, tmp_path, *command, *values)
        output = result.stdout + result.stderr
        assert result.returncode != 0, f"helm {command[0]} accepted {values}"
        assert "schema" in output, output
        for text in named:
            assert text in output, output


def test_more_than_one_replica_without_peering_is_refused_with_the_reason(helm_bin: Path, tmp_path: Path) -> None:
    """A valid type the chart still refuses: the template says why, which a schema could not."""
    result = _helm(helm_bin, tmp_path, "template", "onduty", str(CHART), "--set", "replicas=2")
    assert result.returncode != 0
    assert "replicas is 2" in result.stderr and "set peering.enabled=true" in result.stderr


def test_two_replicas_with_peering_render_a_rolling_update_a_budget_and_their_peering(
    helm_bin: Path, tmp_path: Path
) -> None:
    values = ("--set", "replicas=2", "--set", "peering.enabled=true", "--set", "peering.lifetimeSeconds=20")
    result = _helm(helm_bin, tmp_path, "template", "onduty", str(CHART), "-n", "onduty-system", *values)
    assert result.returncode == 0, result.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout) if d}
    deployment = docs["Deployment", "onduty"]["spec"]
    assert deployment["replicas"] == 2
    assert deployment["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    args = deployment["template"]["spec"]["containers"][0]["args"]
    assert {"--peering", "--peering-name=onduty", "--peering-lifetime=20"} <= set(args)
    assert docs["ClusterKopfPeering", "onduty"]["apiVersion"] == "kopf.dev/v1"
    budget = docs["PodDisruptionBudget", "onduty"]["spec"]
    assert budget["minAvailable"] == 1
    assert budget["selector"]["matchLabels"] == deployment["selector"]["matchLabels"]
    # One replica: neither a budget (it would block every drain) nor peering.
    single = _helm(helm_bin, tmp_path, "template", "onduty", str(CHART), "-n", "onduty-system")
    kinds = {d["kind"] for d in yaml.safe_load_all(single.stdout) if d}
    assert not kinds & {"PodDisruptionBudget", "ClusterKopfPeering"}
