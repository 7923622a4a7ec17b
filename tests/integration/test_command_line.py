"""``onduty approve|reject|ack|oncall`` against the real API server, as a user runs them.

A decision succeeds only when it decides something: an action that is not
waiting, whose request expired, or that finished is an error (exit status 1)
and the incident is left as it was. Without ``-n``, the namespace is the kube
context's, as kubectl's is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import onduty_cli
from onduty.domain.times import rfc3339

ADMIN = "onduty-admin"  # the test cluster's admin, as the API server authenticates it


@pytest.fixture
def context_kubeconfig(cluster, namespace: str, tmp_path: Path) -> Path:
    """The cluster's kubeconfig, its current context set to the test's namespace (as `kubens` would)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    [current] = [c for c in config["contexts"] if c["name"] == config["current-context"]]
    current["context"]["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def incident_with_action(cluster, namespace: str, **action: Any) -> str:
    """An incident whose status holds one action of step ``fix`` (as the operator records it); its name."""
    name = f"incident-{uuid.uuid4().hex[:6]}"
    manifest = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "title": "cli test",
            "severity": "critical",
            "labels": {"alertname": "KubePodCrashLooping"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(manifest))
    uid = cluster.get_json("incident.onduty.dev", name, "-n", namespace)["metadata"]["uid"]
    now = rfc3339(datetime.now(UTC))
    recorded = {
        "id": f"{uid}.fix",
        "step": "fix",
        "action": "rolloutRestart",
        "createdAt": now,
        "target": {"kind": "Deployment", "name": "web", "namespace": namespace},
        "verdicts": [],
        **action,
    }
    status = {"status": {"phase": "Remediating", "openedAt": now, "actions": [recorded]}}
    cluster.kubectl(
        "patch", "incident.onduty.dev", name, "-n", namespace, "--subresource=status", "--type=merge", "-p",
        json.dumps(status),
    )  # fmt: skip
    return name


def annotations(cluster, namespace: str, name: str) -> dict[str, str]:
    return cluster.get_json("incident.onduty.dev", name, "-n", namespace)["metadata"].get("annotations") or {}


def waiting(expires: datetime) -> dict[str, Any]:
    return {
        "state": "AwaitingApproval",
        "reason": "ApprovalRequired",
        "approval": {"requestedAt": rfc3339(datetime.now(UTC)), "expiresAt": rfc3339(expires)},
    }


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_waiting_action_is_decided_in_the_kube_contexts_namespace(
    cluster, namespace: str, context_kubeconfig: Path, verb: str
) -> None:
    name = incident_with_action(cluster, namespace, **waiting(datetime.now(UTC) + timedelta(minutes=10)))

    result = onduty_cli(verb, name, "--kubeconfig", str(context_kubeconfig))

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == f"{verb.removesuffix('e')}ed step fix of incident {namespace}/{name} as {ADMIN}"
    assert annotations(cluster, namespace, name)[f"onduty.dev/{verb}"] == "fix"


@pytest.mark.parametrize(
    ("action", "why_not"),
    [
        pytest.param(
            waiting(datetime(2026, 1, 1, tzinfo=UTC)),
            "the approval request for step fix expired at 2026-01-01T00:00:00Z; nothing is waiting for approval",
            id="expired",
        ),
        pytest.param(
            {"state": "Succeeded", "reason": "Verified", "finishedAt": rfc3339(datetime.now(UTC))},
            "step fix has finished: Succeeded (Verified); nothing is waiting for approval",
            id="finished",
        ),
        pytest.param(
            {"state": "Denied", "reason": "ApprovalRejected", "finishedAt": rfc3339(datetime.now(UTC))},
            "step fix has finished: Denied (ApprovalRejected); nothing is waiting for approval",
            id="already-rejected",
        ),
        pytest.param(
            {"state": "Pending", "startedAt": rfc3339(datetime.now(UTC))},
            "step fix is not waiting for approval: it is Pending",
            id="running",
        ),
    ],
)
@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_decision_that_decides_nothing_is_an_error_and_changes_nothing(
    cluster, namespace: str, verb: str, action: dict[str, Any], why_not: str
) -> None:
    name = incident_with_action(cluster, namespace, **action)

    result = onduty_cli(verb, name, "--step", "fix", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"onduty: error: incident {namespace}/{name}: {why_not}"]
    assert f"onduty.dev/{verb}" not in annotations(cluster, namespace, name)


def test_ack_and_oncall_use_the_kube_contexts_namespace(cluster, namespace: str, context_kubeconfig: Path) -> None:
    name = incident_with_action(cluster, namespace, **waiting(datetime.now(UTC) + timedelta(minutes=10)))

    acked = onduty_cli("ack", name, "--kubeconfig", str(context_kubeconfig))
    schedules = onduty_cli("oncall", "--kubeconfig", str(context_kubeconfig))

    assert (acked.returncode, acked.stderr) == (0, "")
    assert annotations(cluster, namespace, name)["onduty.dev/acknowledged-by"] == ADMIN
    assert (schedules.returncode, schedules.stdout.strip()) == (0, f"no OnCallSchedules in namespace {namespace}")


def test_an_incident_not_in_the_kube_contexts_namespace_is_not_found(
    cluster, namespace: str, context_kubeconfig: Path
) -> None:
    name = incident_with_action(cluster, namespace, **waiting(datetime.now(UTC) + timedelta(minutes=10)))

    result = onduty_cli("approve", name, "-n", "default", "--kubeconfig", str(context_kubeconfig))

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("onduty: error: ")
    assert "/namespaces/default/" in line
    assert "onduty.dev/approve" not in annotations(cluster, namespace, name)


def test_kubectl_runs_onduty_as_its_plugin(cluster, namespace: str, context_kubeconfig: Path) -> None:
    """The install puts kubectl-onduty beside onduty: `kubectl onduty ...` is the same command, named as run."""
    name = incident_with_action(cluster, namespace, **waiting(datetime.now(UTC) + timedelta(minutes=10)))
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{cluster.bin_dir}:{os.environ['PATH']}",
        "KUBECONFIG": str(context_kubeconfig),
    }
    kubectl = str(cluster.bin_dir / "kubectl")

    listed = subprocess.run([kubectl, "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    version = subprocess.run([kubectl, "onduty", "--version"], capture_output=True, text=True, env=env, timeout=60)
    acked = subprocess.run([kubectl, "onduty", "ack", name], capture_output=True, text=True, env=env, timeout=60)
    missing = subprocess.run(
        [kubectl, "onduty", "ack", "nothing-here"], capture_output=True, text=True, env=env, timeout=60
    )

    assert str(venv_bin / "kubectl-onduty") in listed.stdout
    assert version.stdout.startswith("kubectl onduty ")
    assert (acked.returncode, acked.stderr) == (0, "")
    assert annotations(cluster, namespace, name)["onduty.dev/acknowledged-by"] == ADMIN
    assert missing.returncode == 1
    assert missing.stderr.startswith("kubectl onduty: error: ")
