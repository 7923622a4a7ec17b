"""Session fixtures: the real local control plane, with onduty's CRDs installed.

Integration and e2e tests run against a real kube-apiserver (hack/controlplane.py
builds and starts one). ``ONDUTY_TEST_KUBECONFIG`` points the suite at a cluster
that is already running instead; nothing is skipped either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kit import REPO, deployment_manifest, drop_namespace, helm_env, wait_for
from operator_process import OperatorProcess


@dataclass
class ClusterInfo:
    kubeconfig: Path
    bin_dir: Path

    def kubectl(self, *args: str, check: bool = True, input_: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            input=input_,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def get_json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    import controlplane

    bin_dir = controlplane.find_binaries()
    given = os.environ.get("ONDUTY_TEST_KUBECONFIG")
    local = None
    if given:
        kubeconfig = Path(given)
    else:
        local = controlplane.LocalCluster.start(tmp_path_factory.mktemp("cluster"), bin_dir)
        kubeconfig = local.kubeconfig
    info = ClusterInfo(kubeconfig=kubeconfig, bin_dir=bin_dir)
    try:
        info.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        info.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/alerts.onduty.dev",
            "crd/incidents.onduty.dev",
            "crd/runbooks.onduty.dev",
            "crd/remediationpolicies.onduty.dev",
            "crd/escalationpolicies.onduty.dev",
            "crd/notifiers.onduty.dev",
            "crd/oncallschedules.onduty.dev",
        )
        info.kubectl("create", "namespace", "onduty-system", check=False)
        # As an install has them: approvals only by an identity with the right, in its own name;
        # an incident's workload only in its own namespace.
        info.kubectl("apply", "-k", str(REPO / "manifests/admission"))
        yield info
    finally:
        if local is not None:
            local.stop()


@pytest.fixture
def kube(cluster: ClusterInfo):
    from onduty.adapters.kube import Cluster, load_client

    api = load_client(cluster.kubeconfig)
    yield Cluster(api)
    api.close()


@pytest.fixture
def namespace(cluster: ClusterInfo) -> Iterator[str]:
    """A fresh namespace per test; its incidents lose their finalizers before it goes."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    drop_namespace(cluster, name)


@pytest.fixture
def operator_factory(cluster: ClusterInfo, tmp_path: Path) -> Iterator:
    """Start onduty processes; every one is stopped at teardown (and its log shown on failure)."""
    started: list[OperatorProcess] = []

    def make(
        command: str = "run", extra_args: list[str] | None = None, kubeconfig: Path | None = None
    ) -> OperatorProcess:
        proc = OperatorProcess(
            kubeconfig=kubeconfig or cluster.kubeconfig, log_dir=tmp_path, command=command, extra_args=extra_args or []
        )
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def operator(operator_factory) -> OperatorProcess:
    return operator_factory().start()


@pytest.fixture
def deployment(cluster: ClusterInfo, namespace: str) -> str:
    """A 2-replica Deployment whose pods are Running/Ready on the kwok node."""
    cluster.kubectl("apply", "-f", "-", input_=deployment_manifest("web", namespace))
    wait_for(
        lambda: cluster.get_json("deployment", "web", "-n", namespace)["status"].get("availableReplicas") == 2,
        timeout=90,
        what="deployment web to be available",
    )
    return "web"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures tests measured (``record_property``), so CI logs carry them."""
    lines = [
        f"{report.nodeid}: {name} = {value:.2f}" if isinstance(value, float) else f"{report.nodeid}: {name} = {value}"
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call"
        for name, value in report.user_properties
    ]
    if lines:
        terminalreporter.section("measured")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def restart_policy(cluster: ClusterInfo, namespace: str) -> Iterator[str]:
    """A RemediationPolicy that lets onduty restart workloads in the test's namespace for real.

    Without one, onduty only dry-runs (the safe default), which is what tests of that default rely on.
    """
    name = f"allow-restarts-{namespace}"
    policy = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": {"name": name},
        "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]},
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(policy))
    yield name
    cluster.kubectl("delete", "remediationpolicy.onduty.dev", name, "--wait=false", check=False)


@pytest.fixture
def helm(cluster: ClusterInfo, tmp_path: Path):
    """The real helm CLI, with its config, cache and data kept in the test's own directory."""
    env = helm_env(tmp_path)

    def run(*args: str) -> str:
        result = subprocess.run(
            [str(cluster.bin_dir / "helm"), "--kubeconfig", str(cluster.kubeconfig), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    return run
