"""The chart's least-privilege mode on the real API server: writes only in the namespaces the platform team lists.

With ``rbac.namespaces`` set, onduty's rights on namespaced objects are Roles in
those namespaces (plus its own), its ClusterRole keeps only what must be
cluster-wide, and it watches only those namespaces (``--watch-namespaces``).
onduty runs as that ServiceAccount here: an incident in a listed namespace is
remediated; one in another namespace is never touched, and RBAC itself would
refuse it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import deployment_manifest, drop_namespace, install_chart_rbac, wait_for
from operator_process import OperatorProcess

RELEASE = "onduty-lp"  # its own names, beside the cluster-wide install other modules use
SYSTEM = "onduty-system"


class Setup:
    def __init__(self, cluster, tmp) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.cluster = cluster
        self.listed, self.other = f"lp-listed-{suffix}", f"lp-other-{suffix}"
        for ns in (self.listed, self.other):
            cluster.kubectl("create", "namespace", ns)
            cluster.kubectl("apply", "-f", "-", input_=deployment_manifest("web", ns))
        self.kubeconfig = install_chart_rbac(
            cluster,
            tmp,
            RELEASE,
            SYSTEM,
            "--set",
            f"rbac.namespaces={{{self.listed}}}",
            "--set",
            "admissionPolicies.create=false",  # the session already has them (their names are fixed)
            "--set",
            "rbac.aggregateToDefaultRoles=false",
        )
        self.account = f"system:serviceaccount:{SYSTEM}:{RELEASE}"
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input_=json.dumps(
                {
                    "apiVersion": "onduty.dev/v1alpha1",
                    "kind": "RemediationPolicy",
                    "metadata": {"name": f"restarts-{suffix}"},
                    "spec": {"scope": {"namespaces": [self.listed, self.other]}, "allowedActions": ["rolloutRestart"]},
                }
            ),
        )
        self.policy = f"restarts-{suffix}"
        for ns in (self.listed, self.other):
            wait_for(
                lambda ns=ns: cluster.get_json("deployment", "web", "-n", ns)["status"].get("availableReplicas") == 2,
                timeout=90,
                what=f"web in {ns}",
            )

    def can(self, verb: str, resource: str, namespace: str | None) -> bool:
        where = ["-n", namespace] if namespace else []
        result = self.cluster.kubectl("auth", "can-i", verb, resource, *where, "--as", self.account, check=False)
        return result.stdout.strip() == "yes"

    def teardown(self) -> None:
        self.cluster.kubectl("delete", "remediationpolicy.onduty.dev", self.policy, "--wait=false", check=False)
        for ns in (self.listed, self.other):
            drop_namespace(self.cluster, ns)


@pytest.fixture(scope="module")
def setup(cluster, tmp_path_factory) -> Iterator[Setup]:
    s = Setup(cluster, tmp_path_factory.mktemp("least-privilege"))
    try:
        yield s
    finally:
        s.teardown()


@pytest.fixture(scope="module")
def operator(setup: Setup, tmp_path_factory) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(
        kubeconfig=setup.kubeconfig,
        log_dir=tmp_path_factory.mktemp("least-privilege-log"),
        extra_args=["--watch-namespaces", setup.listed],
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


def _incident(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "title": "web is broken",
            "severity": "critical",
            "labels": {"alertname": "LeastPrivilege"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }


def test_rbac_grants_writes_only_in_the_listed_namespaces(setup: Setup) -> None:
    for verb, resource in (
        ("patch", "deployments"),
        ("delete", "pods"),
        ("create", "jobs"),
        ("list", "secrets"),
        ("patch", "incidents.onduty.dev"),
    ):
        assert setup.can(verb, resource, setup.listed), (verb, resource)
        assert not setup.can(verb, resource, setup.other), (verb, resource)
        assert not setup.can(verb, resource, "kube-system"), (verb, resource)
    # What stays cluster-wide: the policies, namespaces (read), nodes for cordonNode.
    assert setup.can("list", "remediationpolicies.onduty.dev", None)
    assert setup.can("get", "namespaces", None)
    assert not setup.can("patch", "deployments", None)  # not across all namespaces


def test_only_the_listed_namespace_is_remediated(setup: Setup, operator: OperatorProcess) -> None:
    cluster = setup.cluster
    runbook = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": "restart"},
        "spec": {
            "match": {"alertnames": ["LeastPrivilege"]},
            "remediation": {"steps": [{"name": "restart", "action": "rolloutRestart"}]},
        },
    }
    for ns in (setup.other, setup.listed):
        cluster.kubectl("apply", "-n", ns, "-f", "-", input_=json.dumps(runbook))
    generation = cluster.get_json("deployment", "web", "-n", setup.other)["metadata"]["generation"]
    # The unlisted namespace's incident first: by the time the listed one is done, it would have been seen.
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(_incident(setup.other, "ignored")))
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(_incident(setup.listed, "served")))

    def done() -> dict[str, Any] | None:
        obj = cluster.get_json("incident.onduty.dev", "served", "-n", setup.listed)
        return obj if (obj.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded" else None

    try:
        wait_for(done, timeout=90, what="the listed namespace's restart")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{operator.tail(60)}") from error

    ignored = cluster.get_json("incident.onduty.dev", "ignored", "-n", setup.other)
    assert "status" not in ignored and not ignored["metadata"].get("finalizers")
    # The chart's RBAC lets onduty post its Events (events.k8s.io), as onduty.
    events = wait_for(
        lambda: [
            e
            for e in cluster.get_json("events", "-n", setup.listed, "--field-selector", "involvedObject.name=served")[
                "items"
            ]
            if e["reason"] == "RemediationSucceeded"
        ],
        timeout=30,
        what="onduty's RemediationSucceeded Event",
    )
    assert events[0]["reportingComponent"] == "onduty.dev/operator"
    assert cluster.get_json("deployment", "web", "-n", setup.other)["metadata"]["generation"] == generation


def test_the_bridge_keeps_an_unlisted_namespaces_alert_in_its_own(setup: Setup, operator: OperatorProcess) -> None:
    labels = {"alertname": "LeastPrivilegeBridge", "namespace": setup.other, "deployment": "web"}
    code, body = post_json(operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC))))

    assert (code, body["created"]) == (200, 1)
    stored = setup.cluster.get_json(
        "alerts.onduty.dev", "-n", SYSTEM, "-l", "onduty.dev/alertname=LeastPrivilegeBridge"
    )
    assert [a["spec"]["labels"]["namespace"] for a in stored["items"]] == [setup.other]
    assert setup.cluster.get_json("alerts.onduty.dev", "-n", setup.other)["items"] == []
