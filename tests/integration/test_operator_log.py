"""The operator's log during an install: onduty started before its CRDs exist (as `helm install` and
`kubectl apply -k` do, in one breath) settles without an ERROR line, and then logs what it does to an
object naming the object.

This test has a control plane of its own: the session's already has the CRDs, and removing them
there would take every other test's objects with them.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kit import REPO, wait_for
from operator_process import OperatorProcess

CRD_NAMES = (
    "alerts",
    "incidents",
    "runbooks",
    "remediationpolicies",
    "escalationpolicies",
    "notifiers",
    "oncallschedules",
)


@dataclass
class BareCluster:
    kubeconfig: Path
    bin_dir: Path

    def kubectl(self, *args: str, input_: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(command, capture_output=True, text=True, input=input_, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareCluster]:
    """A fresh control plane without onduty's CRDs."""
    import controlplane

    bin_dir = controlplane.find_binaries()
    local = controlplane.LocalCluster.start(tmp_path_factory.mktemp("bare-cluster"), bin_dir)
    try:
        yield BareCluster(kubeconfig=local.kubeconfig, bin_dir=bin_dir)
    finally:
        local.stop()


def test_onduty_started_before_its_crds_settles_without_errors_and_names_objects_in_its_log(
    bare_cluster: BareCluster, tmp_path: Path
):
    cluster = bare_cluster
    cluster.kubectl("create", "namespace", "onduty-system")
    onduty = OperatorProcess(kubeconfig=cluster.kubeconfig, log_dir=tmp_path).start(wait=False)
    try:
        wait_for(lambda: "Unresolved resources" in onduty.log_path.read_text(), what="onduty to look for its CRDs")
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}.onduty.dev" for n in CRD_NAMES)
        )
        namespace = f"t-{uuid.uuid4().hex[:8]}"
        cluster.kubectl("create", "namespace", namespace)
        name = "no-runbook"
        incident = {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"title": "broken", "severity": "warning", "labels": {"alertname": "NoSuchRunbook"}},
        }
        # The first writes may meet the API server still settling the new CRDs: apply until one lands.
        wait_for(
            lambda: cluster.kubectl("apply", "-f", "-", input_=json.dumps(incident), check=False).returncode == 0,
            what="the incident to be created",
        )
        # What onduty did to the incident, at the level it deserves, naming it.
        line = wait_for(
            lambda: next(
                (
                    entry
                    for entry in onduty.log_path.read_text().splitlines()
                    if f"Incident {namespace}/{name}: EscalationRequired:" in entry
                ),
                None,
            ),
            timeout=90,
            what="the escalation in onduty's log",
        )
        assert " WARNING onduty.timeline: " in line
        opened = [e for e in onduty.log_path.read_text().splitlines() if f"Incident {namespace}/{name}: " in e]
        assert any(" INFO onduty.timeline: " in e and ": IncidentOpened: " in e for e in opened), opened
    finally:
        onduty.stop()
    log = onduty.log_path.read_text()
    errors = [e for e in log.splitlines() if re.search(r"\bERROR\b", e)]
    assert errors == [], "\n".join(errors)
    # The retries Kopf logged while the CRDs settled are warnings, not errors (if any happened here).
    assert all(" WARNING " in e for e in log.splitlines() if "will retry" in e)
