"""onduty simulate agrees with the operator: for the same alert, runbook and policy, the simulation's outcome of a
step is the one the operator, running against a real API server, comes to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import verdict_reasons, wait_for
from onduty.domain import simulation
from onduty.domain.times import rfc3339

RUNBOOK = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Runbook",
    "metadata": {"name": "restart"},
    "spec": {
        "match": {"alertnames": ["KubePodCrashLooping"]},
        "remediation": {
            "steps": [{"name": "restart", "action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "2m"}}]
        },
    },
}
# The guardrails the policies decide: the simulation judges them as the operator does, with no assumption.
POLICY_GUARDRAILS = (
    "Policy",
    "AllowedActions",
    "MaintenanceWindow",
    "ChangeFreeze",
    "PolicyCooldown",
    "RateLimit",
    "Concurrency",
    "BlastRadius",
)


def _apply(cluster, obj, namespace=None):
    cluster.kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input_=json.dumps(obj))


def _action(cluster, namespace, done):
    def found():
        for incident in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]:
            for action in (incident.get("status") or {}).get("actions") or []:
                if done(action):
                    return action
        return None

    return wait_for(found, timeout=90, what="the step's outcome")


@pytest.mark.parametrize("frozen", [True, False], ids=["held-by-a-freeze", "allowed"])
def test_the_simulation_and_the_operator_agree_on_a_step(cluster, namespace, deployment, operator, frozen):
    now = datetime.now(UTC)
    spec = {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]}
    if frozen:
        spec["changeFreezes"] = [
            {"name": "launch", "start": rfc3339(now - timedelta(hours=1)), "end": rfc3339(now + timedelta(hours=1))}
        ]
    policy = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": {"name": f"simulated-{namespace}"},
        "spec": spec,
    }
    labels = {"alertname": "KubePodCrashLooping", "namespace": namespace, "deployment": "web", "severity": "critical"}
    payload = am_payload(am_alert(labels, starts_at=now))
    namespace_labels = cluster.get_json("namespace", namespace)["metadata"].get("labels") or {}
    predicted = simulation.simulate(
        simulation.Inputs(
            alerts=simulation.read_alerts(payload, at=now),
            runbooks=simulation.runbooks_from(simulation.read_objects([("runbook", [RUNBOOK])], "Runbook")),
            policies=simulation.policies_from(simulation.read_objects([("policy", [policy])], "RemediationPolicy")),
            at=now,
            onduty_namespace="onduty-system",
            namespace_labels=namespace_labels,
        )
    )
    [step] = predicted.incidents[0].steps
    _apply(cluster, RUNBOOK, namespace)
    _apply(cluster, policy)
    try:
        code, _ = post_json(operator.url + "/api/v1/alerts", payload)
        assert code == 200
        if frozen:
            action = _action(cluster, namespace, lambda a: bool(a.get("held")))
            assert (step.outcome, rfc3339(step.until) if step.until else None) == ("held", action["held"]["until"])
            assert action["held"]["reason"] == "ChangeFreeze"
        else:
            action = _action(cluster, namespace, lambda a: a.get("state") == "Succeeded")
            assert step.outcome == "run"
        simulated = {v.guardrail: v.reason for v in step.verdicts if v.guardrail in POLICY_GUARDRAILS}
        recorded = {g: r for g, r in verdict_reasons(action).items() if g in POLICY_GUARDRAILS}
        assert simulated == recorded
    finally:
        cluster.kubectl("delete", "remediationpolicy", policy["metadata"]["name"], "--ignore-not-found")
