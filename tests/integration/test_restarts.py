"""State that bounds actions lives in the API server, so an operator restart
neither forgets a cooldown nor repeats an action it had already applied.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import verdict_reasons, wait_for
from onduty.domain.times import parse_time, rfc3339
from processes import free_port

# These tests are about what onduty does when it may act: a policy lets it.
pytestmark = pytest.mark.usefixtures("restart_policy")

RUNBOOK = """
apiVersion: onduty.dev/v1alpha1
kind: Runbook
metadata: {{name: restart-web, namespace: {namespace}}}
spec:
  match:
    alertnames: [KubePodCrashLooping, HighErrorRate]
  remediation:
    steps:
      - name: restart
        action: rolloutRestart
        cooldown: 30m
        verify: {{rolloutHealthyWithin: 2m}}
"""


def incident_where(cluster, namespace, predicate, what):
    return wait_for(
        lambda: next(
            (i for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"] if predicate(i)), None
        ),
        timeout=90,
        what=what,
    )


def last_action(incident):
    return (incident.get("status") or {}).get("lastAction")


def test_cooldown_is_respected_across_an_operator_restart(cluster, namespace, deployment, operator_factory):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    first = operator_factory().start()
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": namespace,
        "deployment": deployment,
        "severity": "critical",
    }
    assert post_json(first.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC))))[0] == 200
    incident_where(cluster, namespace, lambda i: last_action(i) == "rolloutRestart Succeeded", "the first restart")
    first.stop()
    generation = cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"]

    second = operator_factory().start()  # a new process: nothing in memory
    other = {**labels, "alertname": "HighErrorRate"}  # a different incident on the same workload
    assert post_json(second.url + "/api/v1/alerts", am_payload(am_alert(other, starts_at=datetime.now(UTC))))[0] == 200
    held = incident_where(
        cluster,
        namespace,
        lambda i: (i.get("status") or {}).get("phase") == "Held",
        "the second restart to be held until the cooldown ends",
    )
    [action] = held["status"]["actions"]
    assert action["held"]["reason"] == "CooldownActive"
    assert "cooldown 30m" in action["held"]["message"]
    assert verdict_reasons(action)["Cooldown"] == "CooldownActive"
    first = cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["annotations"]
    restarted = json.loads(first["onduty.dev/last-rolloutRestart"])["at"]
    assert action["held"]["until"] == rfc3339(parse_time(restarted) + timedelta(minutes=30))
    assert cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"] == generation


def _incident_with_recorded_action(cluster, namespace, deployment):
    """An incident as a crashed operator left it: the action recorded (Pending, started), result unknown."""
    manual = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "crashed-mid-action", "namespace": namespace},
        "spec": {
            "title": "crash test",
            "severity": "critical",
            "labels": {"alertname": "KubePodCrashLooping"},
            "workload": {"kind": "Deployment", "name": deployment},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(manual))
    uid = cluster.get_json("incident.onduty.dev", "crashed-mid-action", "-n", namespace)["metadata"]["uid"]
    action_id = f"{uid}.restart"
    now = rfc3339(datetime.now(UTC))
    status = {
        "status": {
            "phase": "Remediating",
            "openedAt": now,
            "runbook": {"namespace": namespace, "name": "restart-web"},
            "actions": [
                {
                    "id": action_id,
                    "step": "restart",
                    "action": "rolloutRestart",
                    "state": "Pending",
                    "createdAt": now,
                    "startedAt": now,
                    "target": {"kind": "Deployment", "name": deployment, "namespace": namespace},
                    "verdicts": [],
                }
            ],
        }
    }
    cluster.kubectl(
        "patch",
        "incident.onduty.dev",
        "crashed-mid-action",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    return action_id


def test_action_applied_before_a_crash_is_not_repeated(cluster, namespace, deployment, operator_factory):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    action_id = _incident_with_recorded_action(cluster, namespace, deployment)
    # The crashed operator had applied the restart (its id is on the pod template) but not recorded that.
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        "kubectl.kubernetes.io/restartedAt": "2026-11-28T12:00:00Z",
                        "onduty.dev/action-id": action_id,
                    }
                }
            }
        }
    }
    cluster.kubectl("patch", "deployment", deployment, "-n", namespace, "--type=merge", "-p", json.dumps(patch))
    generation = cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"]

    operator_factory().start()
    done = incident_where(
        cluster, namespace, lambda i: last_action(i) == "rolloutRestart Succeeded", "the recovered action to verify"
    )
    [action] = done["status"]["actions"]
    assert action["id"] == action_id
    timeline = [e["message"] for e in done["status"]["timeline"] if e["reason"] == "RemediationApplied"]
    assert len(timeline) == 1 and "found applied after an operator restart" in timeline[0]
    assert (
        cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"] == generation
    )  # not restarted twice


def test_action_recorded_but_not_applied_before_a_crash_runs_exactly_once(
    cluster, namespace, deployment, operator_factory
):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    action_id = _incident_with_recorded_action(cluster, namespace, deployment)
    generation = cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"]

    operator_factory().start()
    incident_where(
        cluster, namespace, lambda i: last_action(i) == "rolloutRestart Succeeded", "the pending action to run"
    )
    after = cluster.get_json("deployment", deployment, "-n", namespace)
    assert after["metadata"]["generation"] == generation + 1
    assert after["spec"]["template"]["metadata"]["annotations"]["onduty.dev/action-id"] == action_id


def test_unreachable_prometheus_makes_the_condition_unknown_and_the_action_does_not_run(
    cluster, namespace, deployment, operator_factory
):
    runbook = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": "restart-if-errors", "namespace": namespace},
        "spec": {
            "match": {"alertnames": ["HighErrorRate"]},
            "remediation": {
                "steps": [
                    {
                        "name": "restart",
                        "action": "rolloutRestart",
                        "condition": {"expr": "sum(rate(errors_total[1m]))", "op": ">", "threshold": 1},
                    }
                ]
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(runbook))
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    operator = operator_factory(extra_args=["--prometheus-url", dead]).start()
    generation = cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"]
    labels = {"alertname": "HighErrorRate", "namespace": namespace, "deployment": deployment}
    assert (
        post_json(operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC))))[0] == 200
    )
    denied = incident_where(
        cluster, namespace, lambda i: (i.get("status") or {}).get("phase") == "Escalated", "the step to be denied"
    )
    [action] = denied["status"]["actions"]
    assert action["state"] == "Denied"
    assert action["reason"] == "ConditionUnknown"
    assert "Prometheus unavailable" in action["message"] and dead in action["message"]
    assert cluster.get_json("deployment", deployment, "-n", namespace)["metadata"]["generation"] == generation
