"""One runbook, many incidents: a templated target acts on each incident's own workload, and nothing else.

The runbook's step names its target ``{{ labels.app }}``: an incident about
``web`` restarts ``web``, one about ``api`` restarts ``api``. A label value
that is no Kubernetes name is refused with a verdict that names the template,
the label and the value, and no workload changes; a label the incident lacks
is refused naming it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kit import apply_manifest, deployment_manifest, get_deployment, step_outcome, verdict_reasons, wait_for
from onduty.domain.annotations import ACTION_ID
from onduty.domain.rollouts import RESTARTED_AT_ANNOTATION

pytestmark = pytest.mark.usefixtures("restart_policy")

RUNBOOK = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Runbook",
    "metadata": {"name": "restart-the-alerting-app"},
    "spec": {
        "match": {"alertnames": ["AppBroken"]},
        "remediation": {
            "steps": [
                {
                    "name": "restart",
                    "action": "rolloutRestart",
                    "target": {"kind": "Deployment", "name": "{{ labels.app }}"},
                    "verify": {"rolloutHealthyWithin": "2m"},
                }
            ]
        },
    },
}


def open_incident(cluster: Any, namespace: str, labels: dict[str, str]) -> str:
    name = f"inc-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"title": "app broken", "severity": "critical", "labels": {"alertname": "AppBroken", **labels}},
        },
    )
    return name


def restarted_by(cluster: Any, namespace: str, name: str) -> str | None:
    """The action id on the Deployment's pod template (written with the restart annotation), if any."""
    annotations = get_deployment(cluster, namespace, name)["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(ACTION_ID) if RESTARTED_AT_ANNOTATION in annotations else None


def test_one_templated_runbook_restarts_each_incidents_own_deployment(cluster, namespace, operator) -> None:
    for app in ("web", "api"):
        cluster.kubectl("apply", "-f", "-", input_=deployment_manifest(app, namespace))
    for app in ("web", "api"):
        wait_for(
            lambda app=app: get_deployment(cluster, namespace, app)["status"].get("availableReplicas") == 2,
            timeout=90,
            what=f"deployment {app} to be available",
        )
    apply_manifest(cluster, {**RUNBOOK, "metadata": {**RUNBOOK["metadata"], "namespace": namespace}})

    incidents = {app: open_incident(cluster, namespace, {"app": app}) for app in ("web", "api")}
    outcomes = {app: step_outcome(cluster, namespace, name) for app, name in incidents.items()}

    for app, action in outcomes.items():
        assert action["state"] == "Succeeded", action
        assert action["target"]["name"] == app
        assert action["target"]["namespace"] == namespace
        assert restarted_by(cluster, namespace, app) == action["id"]  # each incident restarted its own, once
    assert outcomes["web"]["id"] != outcomes["api"]["id"]


def test_a_label_that_is_no_name_is_refused_with_the_template_label_and_value(cluster, namespace, operator) -> None:
    cluster.kubectl("apply", "-f", "-", input_=deployment_manifest("web", namespace))
    apply_manifest(cluster, {**RUNBOOK, "metadata": {**RUNBOOK["metadata"], "namespace": namespace}})
    before = get_deployment(cluster, namespace, "web")["metadata"]["generation"]

    hostile = open_incident(cluster, namespace, {"app": "web,api/../x"})
    missing = open_incident(cluster, namespace, {"service": "web"})
    refused, absent = step_outcome(cluster, namespace, hostile), step_outcome(cluster, namespace, missing)

    assert refused["state"] == "Denied"
    assert refused["reason"] == "TemplatedNameInvalid"
    assert verdict_reasons(refused) == {"Trust": "TemplatedNameInvalid"}
    assert "step restart: target.name: '{{ labels.app }}'" in refused["message"]
    assert "labels.app = 'web,api/../x'" in refused["message"]
    assert absent["state"] == "Denied"
    assert absent["reason"] == "TemplateLabelMissing"
    assert "no label 'app'" in absent["message"]
    assert get_deployment(cluster, namespace, "web")["metadata"]["generation"] == before
    assert restarted_by(cluster, namespace, "web") is None


def test_diagnostics_look_at_the_incidents_own_workload_and_a_missing_label_is_named(
    cluster, namespace, operator
) -> None:
    for app in ("web", "api"):
        cluster.kubectl(
            "apply", "-f", "-", input_=deployment_manifest(app, namespace, replicas=1 if app == "api" else 2)
        )
    wait_for(
        lambda: get_deployment(cluster, namespace, "api")["status"].get("availableReplicas") == 1,
        timeout=90,
        what="deployment api to be available",
    )
    runbook = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": "look-at-the-alerting-app", "namespace": namespace},
        "spec": {
            "match": {"alertnames": ["AppBroken"]},
            "diagnostics": [
                {"name": "pods", "type": "podStatus", "target": {"kind": "Deployment", "name": "{{ labels.app }}"}},
                {"name": "endpoints", "type": "httpCheck", "service": "{{ labels.service }}"},
            ],
        },
    }
    apply_manifest(cluster, runbook)

    name = open_incident(cluster, namespace, {"app": "api"})
    status = wait_for(
        lambda: (
            (s := cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}).get("diagnostics")
            and s
        ),
        timeout=90,
        what="the diagnostics to be recorded",
    )

    by_name = {r["name"]: r for r in status["diagnostics"]}
    assert by_name["pods"]["ok"] is True
    assert by_name["pods"]["summary"].startswith("1/1 pods ready")  # api's one pod, not web's two
    assert by_name["endpoints"]["ok"] is False
    assert "TemplateLabelMissing" in by_name["endpoints"]["error"]
    assert "no label 'service'" in by_name["endpoints"]["error"]
