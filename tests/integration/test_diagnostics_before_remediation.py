"""A running operator gathers a runbook's diagnostics before it remediates, as the README says.

onduty runs as a child process (the ``operator`` fixture); the test only writes the
runbook, a policy that lets it restart, and an incident, then reads what the operator
recorded. The diagnostics must describe the workload as it was *before* the restart
(one revision, the original pods), and the timeline must have them before the action.
"""

from __future__ import annotations

import json

from kit import wait_for

RUNBOOK = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Runbook",
    "metadata": {"name": "diagnose-then-restart"},
    "spec": {
        "match": {"alertnames": ["WebErrors"]},
        "diagnostics": [
            {"name": "pods", "type": "podStatus"},
            {"name": "rollout", "type": "rolloutHistory"},
            {"name": "events", "type": "events", "limit": 5},
        ],
        "remediation": {
            "steps": [{"name": "restart", "action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "2m"}}]
        },
    },
}


def test_a_running_operator_gathers_diagnostics_before_the_restart_it_then_does(
    cluster, kube, namespace, deployment, restart_policy, operator
):
    before = sorted(p["metadata"]["name"] for p in cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"])
    generation = cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_=json.dumps(RUNBOOK))
    wait_for(
        lambda: any(
            c["type"] == "Accepted" and c["status"] == "True"
            for c in (
                cluster.get_json("runbook.onduty.dev", "diagnose-then-restart", "-n", namespace).get("status") or {}
            ).get("conditions", [])
        ),
        what="the runbook to be accepted",
    )
    incident = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "web-errors", "namespace": namespace},
        "spec": {
            "title": "web answers errors",
            "severity": "critical",
            "labels": {"alertname": "WebErrors"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(incident))

    done = wait_for(
        lambda: (
            (obj := kube.get("incidents", namespace, "web-errors")).get("status", {}).get("lastAction")
            == "rolloutRestart Succeeded"
            and obj
        ),
        timeout=120,
        what="the operator to restart web and verify the rollout",
    )

    status = done["status"]
    timeline = [entry["reason"] for entry in status["timeline"]]
    assert timeline.count("DiagnosticsGathered") == 1, timeline
    gathered = timeline.index("DiagnosticsGathered")
    assert timeline.index("RunbookMatched") < gathered < timeline.index("RemediationStarted"), timeline
    assert gathered < timeline.index("RemediationApplied") < timeline.index("RemediationSucceeded"), timeline
    [action] = status["actions"]
    assert (action["action"], action["state"]) == ("rolloutRestart", "Succeeded")
    # Times are kept to the second: the diagnostics were written no later than the action began.
    assert status["timeline"][gathered]["time"] <= action["startedAt"] <= action["appliedAt"]
    assert cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"] == generation + 1

    # And what they recorded is the workload before the restart: its one revision, its original pods.
    results = {r["name"]: r for r in status["diagnostics"]}
    assert list(results) == ["pods", "rollout", "events"]
    assert all(r["ok"] for r in results.values()), results
    assert results["rollout"]["summary"].startswith("1 revision; current revision 1 created ")
    assert results["pods"]["summary"] == "2/2 pods ready, 0 restarts"
    assert sorted(p["name"] for p in results["pods"]["details"]["pods"]) == before
    wait_for(  # the restart replaces every pod the diagnostics saw
        lambda: (
            not {p["metadata"]["name"] for p in cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]}
            & set(before)
        ),
        what="the pods the diagnostics saw to be replaced",
    )
    assert status["diagnosticsSummary"].startswith("Diagnostics: 3 of 3 gathered\n- `pods` (podStatus): 2/2 pods ready")
