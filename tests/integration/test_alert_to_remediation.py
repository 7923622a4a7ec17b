"""The first complete path, on a real API server with the operator running:

Alertmanager v4 payload → bridge → Alert → Incident → runbook matched →
rollout restart (new ReplicaSet, pods Ready via kwok) → verified →
resolved payload → Incident resolved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import verdicts as all_verdicts
from kit import wait_for

# These tests are about what onduty does when it may act: a policy lets it.
pytestmark = pytest.mark.usefixtures("restart_policy")

RUNBOOK = """
apiVersion: onduty.dev/v1alpha1
kind: Runbook
metadata:
  name: restart-on-crashloop
  namespace: {namespace}
spec:
  description: Restart the workload when its pods crash-loop.
  match:
    alertnames: [KubePodCrashLooping]
    severities: [critical, warning]
  remediation:
    steps:
      - name: restart
        action: rolloutRestart
        cooldown: 15m
        verify:
          rolloutHealthyWithin: 2m
"""


def crashloop_labels(namespace: str, pod: str = "web-7d4b9c8f6d-x2x9k") -> dict[str, str]:
    return {
        "alertname": "KubePodCrashLooping",
        "namespace": namespace,
        "deployment": "web",
        "pod": pod,
        "severity": "critical",
    }


def incidents_in(cluster, namespace):
    return cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]


def the_incident(cluster, namespace, predicate=lambda inc: True, what="the incident"):
    def probe():
        items = [i for i in incidents_in(cluster, namespace) if predicate(i)]
        return items[0] if len(items) == 1 else None

    return wait_for(probe, timeout=90, what=what)


def event_reasons(cluster, namespace, name):
    events = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return {e["reason"] for e in events}


def test_firing_alert_restarts_the_deployment_and_resolved_alert_resolves_the_incident(
    cluster, namespace, deployment, operator
):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    before = cluster.get_json("deployment", deployment, "-n", namespace)
    replicasets_before = {rs["metadata"]["name"] for rs in cluster.get_json("replicasets", "-n", namespace)["items"]}
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alert = am_alert(crashloop_labels(namespace), starts_at=started)

    code, body = post_json(operator.url + "/api/v1/alerts", am_payload(alert))
    assert (code, body["created"]) == (200, 1)

    alerts = cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
    assert [a["metadata"]["name"] for a in alerts] == [
        f"kubepodcrashlooping-{alert['fingerprint']}-1"  # the fingerprint's first firing episode
    ]
    assert alerts[0]["spec"]["state"] == "firing"

    incident = the_incident(
        cluster,
        namespace,
        lambda i: (i.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded",
        what="the restart to be verified",
    )
    status = incident["status"]
    assert incident["spec"]["workload"] == {"kind": "Deployment", "name": "web", "namespace": namespace}
    assert incident["spec"]["severity"] == "critical"
    assert status["runbook"] == {"namespace": namespace, "name": "restart-on-crashloop"}
    assert status["phase"] == "Mitigated"
    [action] = status["actions"]
    assert action["id"] == f"{incident['metadata']['uid']}.restart"
    assert action["target"] == {"kind": "Deployment", "name": "web", "namespace": namespace}
    verdicts = {v["guardrail"]: v for v in all_verdicts(action)}
    assert all(v["allowed"] for v in verdicts.values())
    assert {"Pause", "Target", "Cooldown", "Silence", "Policy", "AllowedActions", "Concurrency"} <= set(verdicts)
    assert verdicts["Silence"]["reason"] == "SilencesNotChecked"  # this operator has no Alertmanager configured
    assert verdicts["Policy"]["message"] == f"in scope: allow-restarts-{namespace}"
    assert action["policies"] == [f"allow-restarts-{namespace}"]
    assert action["startedAt"] <= action["appliedAt"] <= action["finishedAt"]
    reasons = [e["reason"] for e in status["timeline"]]
    assert reasons[:2] == ["IncidentOpened", "AlertJoined"]
    for expected in (
        "RunbookMatched",
        "RemediationStarted",
        "RemediationApplied",
        "RemediationSucceeded",
        "IncidentMitigated",
    ):
        assert expected in reasons

    # The restart really happened: new template annotation, a new ReplicaSet, pods Ready again.
    after = cluster.get_json("deployment", deployment, "-n", namespace)
    annotations = after["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert annotations["onduty.dev/action-id"] == action["id"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["status"]["updatedReplicas"] == after["status"]["availableReplicas"] == 2
    replicasets_after = {rs["metadata"]["name"] for rs in cluster.get_json("replicasets", "-n", namespace)["items"]}
    assert len(replicasets_after - replicasets_before) == 1
    pods = cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
    ready = [
        p
        for p in pods
        if p["metadata"].get("deletionTimestamp") is None
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    assert len(ready) >= 2

    # Events make `kubectl describe incident` read as the timeline.
    name = incident["metadata"]["name"]
    wait_for(
        lambda: (
            {"RunbookMatched", "RemediationApplied", "RemediationSucceeded"} <= event_reasons(cluster, namespace, name)
        ),
        timeout=30,
        what="the incident's Events",
    )
    described = cluster.kubectl("describe", "incident", name, "-n", namespace).stdout
    assert "RemediationSucceeded" in described

    resolved = am_alert(crashloop_labels(namespace), starts_at=started, status="resolved", ends_at=datetime.now(UTC))
    code, body = post_json(operator.url + "/api/v1/alerts", am_payload(resolved))
    assert (code, body["updated"]) == (200, 1)
    final = the_incident(
        cluster, namespace, lambda i: (i.get("status") or {}).get("phase") == "Resolved", what="the incident to resolve"
    )
    assert final["metadata"]["name"] == name
    assert final["status"]["firingAlerts"] == 0
    assert final["status"]["resolvedAt"] >= final["status"]["openedAt"]
    assert any(c["type"] == "Resolved" and c["status"] == "True" for c in final["status"]["conditions"])


def test_alerts_of_one_workload_group_into_one_incident(cluster, namespace, deployment, operator):
    started = datetime.now(UTC).replace(microsecond=0)
    pods = ["web-7d4b9c8f6d-aaaaa", "web-7d4b9c8f6d-bbbbb", "web-7d4b9c8f6d-ccccc"]
    alerts = [am_alert(crashloop_labels(namespace, pod), starts_at=started) for pod in pods]
    code, body = post_json(operator.url + "/api/v1/alerts", am_payload(*alerts))
    assert (code, body["created"]) == (200, 3)
    incident = the_incident(
        cluster,
        namespace,
        lambda i: (i.get("status") or {}).get("firingAlerts") == 3 and i["status"].get("phase") == "Escalated",
        what="three alerts in one incident",
    )
    assert len(incidents_in(cluster, namespace)) == 1
    assert incident["status"]["phase"] == "Escalated"  # no runbook in this namespace: a human must respond
    assert any(
        c["type"] == "RunbookMatched" and c["reason"] == "NoRunbookMatched" for c in incident["status"]["conditions"]
    )
    attached = cluster.get_json(
        "alerts.onduty.dev", "-n", namespace, "-l", f"onduty.dev/incident={incident['metadata']['name']}"
    )
    assert len(attached["items"]) == 3

    # One of three resolving is not enough; all three is.
    resolved = [
        am_alert(crashloop_labels(namespace, pod), starts_at=started, status="resolved", ends_at=datetime.now(UTC))
        for pod in pods
    ]
    post_json(operator.url + "/api/v1/alerts", am_payload(resolved[0]))
    wait_for(lambda: incidents_in(cluster, namespace)[0]["status"]["firingAlerts"] == 2, what="one alert resolved")
    assert incidents_in(cluster, namespace)[0]["status"]["phase"] != "Resolved"
    post_json(operator.url + "/api/v1/alerts", am_payload(*resolved[1:]))
    the_incident(cluster, namespace, lambda i: i["status"].get("phase") == "Resolved", what="the incident to resolve")


def test_incident_made_by_hand_is_remediated(cluster, namespace, deployment, operator):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    manual = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "web-crashloop-manual", "namespace": namespace},
        "spec": {
            "title": "web pods crash-looping (reported by a human)",
            "severity": "critical",
            "labels": {"alertname": "KubePodCrashLooping"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(manual))
    incident = the_incident(
        cluster,
        namespace,
        lambda i: (i.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded",
        what="the manual incident's restart to be verified",
    )
    assert incident["spec"]["source"] == "manual"  # the schema's default
    assert incident["status"]["phase"] == "Mitigated"


def test_pause_annotation_holds_automation_until_lifted(cluster, namespace, deployment, operator):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    cluster.kubectl("annotate", "namespace", namespace, "onduty.dev/paused=true")
    generation = cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"]
    alert = am_alert(crashloop_labels(namespace), starts_at=datetime.now(UTC).replace(microsecond=0))
    assert post_json(operator.url + "/api/v1/alerts", am_payload(alert))[0] == 200
    incident = the_incident(
        cluster,
        namespace,
        lambda i: any(e["reason"] == "AutomationPaused" for e in (i.get("status") or {}).get("timeline", [])),
        what="automation to report the pause",
    )
    [waiting] = incident["status"]["actions"]  # recorded as waiting for the pause to be lifted, not run
    assert (waiting["state"], waiting["held"]["reason"]) == ("Pending", "AutomationPaused")
    assert "startedAt" not in waiting
    assert cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"] == generation

    cluster.kubectl("annotate", "namespace", namespace, "onduty.dev/paused-")
    the_incident(
        cluster,
        namespace,
        lambda i: i["status"].get("lastAction") == "rolloutRestart Succeeded",
        what="the held restart to run",
    )
