"""Node-scoped incidents: a node alert (a `node` label, no workload) cordons its node, in onduty's namespace only.

An alert without a namespace label lands in onduty's namespace, where the
platform owners' runbooks and policies live; there the node is the target.
A tenant's incident naming a node and no workload is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import wait_for

SYSTEM = "onduty-system"


def apply(cluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(obj))


@pytest.fixture
def node(cluster) -> Iterator[str]:
    name = f"kwok-node-incident-{uuid.uuid4().hex[:6]}"
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"}, "labels": {"type": "kwok"}},
        },
    )
    yield name
    cluster.kubectl("delete", "node", name, "--wait=false", check=False)


@pytest.fixture
def platform_runbook(cluster) -> Iterator[str]:
    alertname = f"KubeNodeNotReady{uuid.uuid4().hex[:6]}"
    runbook = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": alertname.lower(), "namespace": SYSTEM},
        "spec": {
            "match": {"alertnames": [alertname]},
            "remediation": {"steps": [{"name": "cordon", "action": "cordonNode"}]},
        },
    }
    policy = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": {"name": f"nodes-{alertname.lower()}"},
        "spec": {
            "scope": {"namespaces": [SYSTEM]},
            "allowedActions": ["cordonNode"],
            "allowClusterScopedActions": ["cordonNode"],
        },
    }
    apply(cluster, runbook)
    apply(cluster, policy)
    yield alertname
    cluster.kubectl("delete", "remediationpolicy.onduty.dev", policy["metadata"]["name"], "--wait=false", check=False)
    cluster.kubectl(
        "delete", "runbook.onduty.dev", runbook["metadata"]["name"], "-n", SYSTEM, "--wait=false", check=False
    )


def test_a_node_alert_cordons_its_node(cluster, operator, node, platform_runbook):
    labels = {"alertname": platform_runbook, "node": node, "severity": "critical"}
    code, _ = post_json(operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC))))
    assert code == 200

    def done() -> dict[str, Any] | None:
        for incident in cluster.get_json("incidents.onduty.dev", "-n", SYSTEM)["items"]:
            if (incident["spec"].get("labels") or {}).get("alertname") == platform_runbook:
                actions = (incident.get("status") or {}).get("actions") or []
                if actions and actions[0]["state"] in ("Succeeded", "Denied", "Failed", "DryRun"):
                    return actions[0]
        return None

    action = wait_for(done, timeout=90, what="the node incident's cordon")
    assert (action["state"], action["target"]) == ("Succeeded", {"kind": "Node", "name": node, "namespace": SYSTEM})
    stored = cluster.get_json("node", node)
    assert stored["spec"]["unschedulable"] is True
    assert stored["metadata"]["annotations"]["onduty.dev/action-id"] == action["id"]
    assert not cluster.get_json("node", "kwok-node-0")["spec"].get("unschedulable")


def test_a_tenant_incident_naming_a_node_and_no_workload_is_refused(cluster, namespace, operator, node):
    apply(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "cordon", "namespace": namespace},
            "spec": {
                "match": {"alertnames": ["NodeTrouble"]},
                "remediation": {"steps": [{"name": "cordon", "action": "cordonNode"}]},
            },
        },
    )
    apply(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": "node-trouble", "namespace": namespace},
            "spec": {
                "title": "node trouble",
                "severity": "critical",
                "labels": {"alertname": "NodeTrouble", "node": node},
            },
        },
    )

    action = wait_for(
        lambda: next(
            iter(
                (cluster.get_json("incident.onduty.dev", "node-trouble", "-n", namespace).get("status") or {}).get(
                    "actions"
                )
                or []
            ),
            None,
        ),
        what="the refusal",
    )

    assert (action["state"], action["reason"]) == ("Denied", "NodeOutsidePlatformNamespace")
    assert not cluster.get_json("node", node)["spec"].get("unschedulable")
