"""Holds on a real API server: a denial that passes by itself holds the step, which runs by itself when it
passes; resolution drops a hold with a record; a final denial stays final and says what would change it;
``onduty get pending`` lists what waits for a human or for time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import (
    apply_manifest,
    deployment_manifest,
    onduty_cli,
    open_step_incident,
    step_outcome,
    timeline_reasons,
    verdict_reasons,
    wait_for,
)
from onduty.domain.annotations import last_action_annotation
from onduty.domain.times import parse_time, rfc3339


def incident(cluster, namespace, name):
    return cluster.get_json("incident.onduty.dev", name, "-n", namespace)


def incident_in(cluster, namespace, name, phase, timeout=60):
    """The incident once its phase is ``phase``, as the API server returns it."""

    def probe():
        found = incident(cluster, namespace, name)
        return found if (found.get("status") or {}).get("phase") == phase else None

    return wait_for(probe, timeout=timeout, what=f"incident {name} to say {phase}")


def held_incident(cluster, namespace, name):
    return incident_in(cluster, namespace, name, "Held")


def restarted_just_now(cluster, namespace, workload="web"):
    """The workload's record says onduty restarted it now (as an earlier incident would have)."""
    record = json.dumps({"at": rfc3339(datetime.now(UTC)), "actionId": "an-earlier-incident.restart"})
    cluster.kubectl(
        "annotate", "deployment", workload, "-n", namespace, f"{last_action_annotation('rolloutRestart')}={record}"
    )


def generation(cluster, namespace, name="web"):
    return cluster.get_json("deployment", name, "-n", namespace)["metadata"]["generation"]


def test_a_step_held_by_a_cooldown_runs_by_itself_when_it_ends(cluster, namespace, deployment, operator):
    restarted_just_now(cluster, namespace)
    before = generation(cluster, namespace)
    name = open_step_incident(
        cluster, namespace, {"action": "rolloutRestart", "cooldown": "8s", "verify": {"rolloutHealthyWithin": "2m"}}
    )

    held = held_incident(cluster, namespace, name)

    [action] = held["status"]["actions"]
    assert (action["state"], action["held"]["reason"]) == ("Pending", "CooldownActive")
    assert held["status"]["waitingFor"] == f"Held: cooldown ends at {action['held']['until']}"
    assert held["status"]["lastAction"] == "rolloutRestart Held"
    assert generation(cluster, namespace) == before

    done = step_outcome(cluster, namespace, name)

    assert done["state"] == "Succeeded"
    assert "held" not in done
    assert parse_time(done["startedAt"]) >= parse_time(action["held"]["until"])  # not a moment before
    assert generation(cluster, namespace) == before + 1
    final = incident(cluster, namespace, name)
    reasons = timeline_reasons(final)
    assert reasons.index("RemediationHeld") < reasons.index("RemediationReleased") < reasons.index("RemediationApplied")
    assert final["status"]["phase"] == "Mitigated" and "waitingFor" not in final["status"]
    # Every guardrail was judged again when the hold ended: the cooldown's verdict is the later one.
    assert verdict_reasons(done)["Cooldown"] == "CooldownElapsed"


def test_a_held_step_of_an_incident_that_resolves_is_dropped_with_a_record(cluster, namespace, deployment, operator):
    restarted_just_now(cluster, namespace)
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "rb", "namespace": namespace},
            "spec": {
                "match": {"alertnames": ["Broken"]},
                "remediation": {"steps": [{"name": "fix", "action": "rolloutRestart", "cooldown": "1h"}]},
            },
        },
    )
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": f"p-{namespace}"},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]},
        },
    )
    labels = {"alertname": "Broken", "namespace": namespace, "deployment": deployment, "severity": "critical"}
    started = datetime.now(UTC)
    assert post_json(operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=started)))[0] == 200
    name = wait_for(
        lambda: next(
            (
                i["metadata"]["name"]
                for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
                if (i.get("status") or {}).get("phase") == "Held"
            ),
            None,
        ),
        what="the alert's incident to be held",
    )
    before = generation(cluster, namespace)

    resolved = am_alert(labels, starts_at=started, status="resolved", ends_at=datetime.now(UTC))
    assert post_json(operator.url + "/api/v1/alerts", am_payload(resolved))[0] == 200

    done = incident_in(cluster, namespace, name, "Resolved")
    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"]) == ("Denied", "IncidentResolved")
    assert "resolved while the step was held (CooldownActive" in action["message"]
    assert "RemediationClosed" in timeline_reasons(done)
    assert "waitingFor" not in done["status"]
    assert generation(cluster, namespace) == before


def test_a_final_denial_stays_final_and_says_what_would_change_it(cluster, namespace, deployment, operator):
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": f"scale-only-{namespace}"},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["scale"]},
        },
    )
    # open_step_incident's own policy allows the action; this one is refused by the stricter policy above.
    name = open_step_incident(cluster, namespace, {"action": "rolloutRestart"})

    action = step_outcome(cluster, namespace, name)

    assert (action["state"], action["reason"]) == ("Denied", "ActionNotAllowed")
    assert "held" not in action
    assert (
        f"rolloutRestart is not in spec.allowedActions of RemediationPolicy scale-only-{namespace}, in scope for"
        f" namespace {namespace}: add it there" in action["message"]
    )
    assert incident(cluster, namespace, name)["status"]["phase"] == "Escalated"


def test_onduty_get_pending_lists_an_approval_and_a_hold(cluster, namespace, deployment, operator):
    cluster.kubectl("apply", "-f", "-", input_=deployment_manifest("api", namespace))
    restarted_just_now(cluster, namespace, "api")
    waiting = open_step_incident(
        cluster,
        namespace,
        {"action": "rolloutRestart", "cooldown": "1h"},
        policy={"requireApproval": ["rolloutRestart"], "approvalTTL": "10m"},
    )
    held = open_step_incident(
        cluster,
        namespace,
        {"action": "rolloutRestart", "cooldown": "1h"},
        policy={"requireApproval": ["rolloutRestart"], "approvalTTL": "10m"},
        workload="api",
    )
    wait_for(
        lambda: incident(cluster, namespace, waiting)["status"].get("phase") == "AwaitingApproval",
        what="the approval request",
    )
    held_incident(cluster, namespace, held)
    kube = ("--kubeconfig", str(cluster.kubeconfig))

    listed = onduty_cli("get", "pending", "-n", namespace, *kube)
    as_json = onduty_cli("get", "pending", "-n", namespace, "-o", "json", *kube)

    assert listed.returncode == 0, listed.stderr
    assert f"onduty approve -n {namespace} {waiting} --step fix" in listed.stdout
    assert "Held: cooldown ends at" in listed.stdout
    assert as_json.returncode == 0, as_json.stderr
    items = {i["incident"]: i for i in json.loads(as_json.stdout)["items"]}
    assert (items[waiting]["waits"], items[held]["waits"]) == ("approval", "hold")
    assert items[waiting]["command"] == f"onduty approve -n {namespace} {waiting} --step fix"
    assert items[held]["reason"] == "CooldownActive" and parse_time(items[held]["until"]) is not None
    # kubectl says it too: the phase in the narrow view, what for in the wide one.
    narrow = cluster.kubectl("get", "incidents.onduty.dev", "-n", namespace).stdout
    wide = cluster.kubectl("get", "incidents.onduty.dev", "-n", namespace, "-o", "wide").stdout
    assert "AwaitingApproval" in narrow and "Held" in narrow and "Remediating" not in narrow
    assert "WAITING-FOR" in wide and "Held: cooldown ends at" in wide and "Approval of fix" in wide
    # The printed command works as printed: the approval is recorded.
    approved = onduty_cli(*items[waiting]["command"].split()[1:], *kube)
    assert approved.returncode == 0, approved.stderr
