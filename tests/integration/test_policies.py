"""RemediationPolicy on a real API server: the safe default, approval, freezes,
cluster-wide pause, and a runbook storm that must not exceed the concurrency cap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import InFlightWatch, deployment_manifest, verdict_reasons, wait_for
from onduty.domain.times import rfc3339

# The test cluster's admin (its client certificate's CN): the admission policy records approvers by their own name.
ADMIN = "onduty-admin"

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


def apply(cluster, obj, namespace=None):
    cluster.kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input_=json.dumps(obj))


def policy(cluster, name, namespace, **spec):
    apply(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": name},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"], **spec},
        },
    )
    return name


def fire(operator, namespace, deployment="web"):
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": namespace,
        "deployment": deployment,
        "severity": "critical",
    }
    code, _ = post_json(operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC))))
    assert code == 200


def incident_where(cluster, namespace, predicate, what, timeout=90):
    return wait_for(
        lambda: next(
            (
                i
                for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
                if predicate(i.get("status") or {})
            ),
            None,
        ),
        timeout=timeout,
        what=what,
    )


def generation(cluster, namespace, name="web"):
    return cluster.get_json("deployment", name, "-n", namespace)["metadata"]["generation"]


def test_with_no_policy_in_scope_the_action_is_only_a_dry_run(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    before = generation(cluster, namespace)
    fire(operator, namespace)
    incident = incident_where(cluster, namespace, lambda s: s.get("phase") == "Escalated", "the dry run")
    [action] = incident["status"]["actions"]
    assert action["state"] == "DryRun"
    assert "no RemediationPolicy covers the target" in action["message"]
    assert "kubectl.kubernetes.io/restartedAt" in action["diff"]
    assert verdict_reasons(action)["Policy"] == "NoPolicyInScope"
    assert any(
        c["type"] == "EscalationRequired" and c["reason"] == "DryRunOnly" for c in incident["status"]["conditions"]
    )
    assert generation(cluster, namespace) == before  # dryRun=All: accepted by the API server, not made


def test_policy_dry_run_switch_records_the_would_be_change(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"dry-{namespace}", namespace, dryRun=True)
    before = generation(cluster, namespace)
    fire(operator, namespace)
    incident = incident_where(cluster, namespace, lambda s: s.get("phase") == "Escalated", "the dry run")
    [action] = incident["status"]["actions"]
    assert (action["state"], action["policies"]) == ("DryRun", [f"dry-{namespace}"])
    assert "a policy in scope says dryRun" in action["message"]
    assert generation(cluster, namespace) == before


def test_a_change_freeze_holds_the_step_until_it_ends_and_names_the_policy(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    now = datetime.now(UTC)
    window = {
        "name": "black-friday",
        "start": rfc3339(now - timedelta(hours=1)),
        "end": rfc3339(now + timedelta(hours=1)),
        "reason": "peak traffic",
    }
    name = policy(cluster, f"freeze-{namespace}", namespace, changeFreezes=[window])
    before = generation(cluster, namespace)
    fire(operator, namespace)
    incident = incident_where(cluster, namespace, lambda s: s.get("phase") == "Held", "the hold")
    [action] = incident["status"]["actions"]
    assert (action["state"], action["held"]["reason"], action["held"]["until"]) == (
        "Pending",
        "ChangeFreeze",
        window["end"],
    )
    assert name in action["held"]["message"] and "peak traffic" in action["held"]["message"]
    assert incident["status"]["waitingFor"] == f"Held: change freeze ends at {window['end']}"
    assert generation(cluster, namespace) == before


def test_outside_the_maintenance_window_the_step_is_held_until_it_opens(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    later = datetime.now(UTC) + timedelta(hours=3)
    policy(
        cluster,
        f"window-{namespace}",
        namespace,
        maintenanceWindows=[{"name": "nightly", "cron": f"{later.minute} {later.hour} * * *", "duration": "30m"}],
    )
    fire(operator, namespace)
    incident = incident_where(cluster, namespace, lambda s: s.get("phase") == "Held", "the hold")
    held = incident["status"]["actions"][0]["held"]
    assert held["reason"] == "OutsideMaintenanceWindow"
    assert held["until"] == rfc3339(later.replace(second=0, microsecond=0))


def test_a_maintenance_window_is_open_by_the_clock_of_its_time_zone(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    # Tokyo keeps UTC+9 all year: a window that opened there five minutes ago, read as UTC, opens in 8h55m.
    opened = datetime.now(ZoneInfo("Asia/Tokyo")) - timedelta(minutes=5)
    name = policy(
        cluster,
        f"tokyo-{namespace}",
        namespace,
        maintenanceWindows=[
            {
                "name": "tokyo",
                "cron": f"{opened.minute} {opened.hour} * * *",
                "duration": "30m",
                "timeZone": "Asia/Tokyo",
            }
        ],
    )
    before = generation(cluster, namespace)
    fire(operator, namespace)
    done = incident_where(
        cluster, namespace, lambda s: s.get("lastAction") == "rolloutRestart Succeeded", "the restart"
    )
    [action] = done["status"]["actions"]
    assert (action["policies"], generation(cluster, namespace)) == ([name], before + 1)
    assert verdict_reasons(action)["MaintenanceWindow"] == "InsideMaintenanceWindow"


def test_an_action_that_needs_approval_waits_and_runs_once_approved(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"approve-{namespace}", namespace, requireApproval=["rolloutRestart"], approvalTTL="10m")
    before = generation(cluster, namespace)
    fire(operator, namespace)
    waiting = incident_where(
        cluster, namespace, lambda s: (s.get("lastAction") or "").endswith("AwaitingApproval"), "the approval request"
    )
    [action] = waiting["status"]["actions"]
    assert action["approval"]["expiresAt"] > action["approval"]["requestedAt"]
    assert generation(cluster, namespace) == before
    name = waiting["metadata"]["name"]
    cluster.kubectl(
        "annotate",
        "incident.onduty.dev",
        name,
        "-n",
        namespace,
        f"onduty.dev/approved-by={ADMIN}",
        "onduty.dev/approve=restart",
    )
    done = incident_where(
        cluster, namespace, lambda s: s.get("lastAction") == "rolloutRestart Succeeded", "the approved restart"
    )
    [action] = done["status"]["actions"]
    assert action["approval"]["approved"] is True
    assert action["approval"]["decidedBy"] == ADMIN
    assert generation(cluster, namespace) == before + 1
    assert "ApprovalGranted" in [e["reason"] for e in done["status"]["timeline"]]


def test_a_rejected_action_never_runs(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"approve-{namespace}", namespace, requireApproval=["rolloutRestart"])
    before = generation(cluster, namespace)
    fire(operator, namespace)
    waiting = incident_where(
        cluster, namespace, lambda s: (s.get("lastAction") or "").endswith("AwaitingApproval"), "the approval request"
    )
    cluster.kubectl(
        "annotate",
        "incident.onduty.dev",
        waiting["metadata"]["name"],
        "-n",
        namespace,
        f"onduty.dev/approved-by={ADMIN}",
        "onduty.dev/reject=restart",
    )
    done = incident_where(cluster, namespace, lambda s: s.get("phase") == "Escalated", "the rejection")
    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"], action["approval"]["decidedBy"]) == ("Denied", "ApprovalRejected", ADMIN)
    assert generation(cluster, namespace) == before


def test_cluster_wide_pause_holds_every_incident(cluster, namespace, deployment, operator, restart_policy):
    apply(cluster, RUNBOOK, namespace)
    cluster.kubectl("annotate", "namespace", "onduty-system", "onduty.dev/paused=true", "--overwrite")
    try:
        before = generation(cluster, namespace)
        fire(operator, namespace)
        held = incident_where(
            cluster,
            namespace,
            lambda s: any(e["reason"] == "AutomationPaused" for e in s.get("timeline", [])),
            "the cluster-wide pause to hold automation",
        )
        assert (
            "cluster-wide"
            in next(e for e in held["status"]["timeline"] if e["reason"] == "AutomationPaused")["message"]
        )
        assert generation(cluster, namespace) == before
    finally:
        cluster.kubectl("annotate", "namespace", "onduty-system", "onduty.dev/paused-")
    incident_where(
        cluster, namespace, lambda s: s.get("lastAction") == "rolloutRestart Succeeded", "the restart after the pause"
    )


def test_a_runbook_storm_never_exceeds_the_concurrency_cap(cluster, namespace, operator, record_property):
    """50 incidents at once in one namespace, a cap of 2 actions in flight: count the overlap exactly.

    A watch sees every write of every incident in order, so the number of actions claimed and not yet
    finished is known at each revision: a third action claimed while two are in flight shows, however
    short the overlap (second-precision timestamps could not tell it from a hand-over).
    """
    count, cap = 50, 2
    for i in range(count):
        manifest = json.loads(deployment_manifest(f"svc-{i:02d}", namespace, replicas=1))
        manifest["spec"]["minReadySeconds"] = 1  # each rollout takes a moment, so actions overlap if allowed to
        apply(cluster, manifest)
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"storm-{namespace}", namespace, concurrency={"perNamespace": cap})
    wait_for(
        lambda: all(
            d["status"].get("availableReplicas") == 1 for d in cluster.get_json("deployments", "-n", namespace)["items"]
        ),
        timeout=120,
        what="50 deployments available",
    )
    alerts = [
        am_alert(
            {"alertname": "KubePodCrashLooping", "namespace": namespace, "deployment": f"svc-{i:02d}"},
            starts_at=datetime.now(UTC),
        )
        for i in range(count)
    ]

    def all_done():
        items = cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
        done = [i for i in items if (i.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded"]
        return items if len(items) == count and len(done) == count else None

    with InFlightWatch(cluster.kubeconfig, [namespace]) as flight:
        assert post_json(operator.url + "/api/v1/alerts", am_payload(*alerts), timeout=120)[0] == 200
        items = wait_for(all_done, timeout=300, interval=1, what="all 50 restarts")
        # The watch has seen every action claimed and finished: nothing was missed between two looks.
        wait_for(lambda: len(flight.finished) == count, timeout=30, what="the watch to see all 50 actions finish")
    record_property("storm_incidents", count)
    record_property("storm_watch_events", flight.events)
    record_property("storm_peak_actions_in_flight", flight.peak)
    assert flight.errors == []
    assert len(flight.claimed) == count
    assert flight.peak == cap, f"{flight.peak} actions in flight at once (cap {cap}): {flight.peak_actions}"
    held = [i for i in items if any(e["reason"] == "ConcurrencyLimited" for e in i["status"]["timeline"])]
    assert held  # the cap was reached and others waited


def test_onduty_approve_records_the_authenticated_user(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"approve-{namespace}", namespace, requireApproval=["rolloutRestart"])
    fire(operator, namespace)
    waiting = incident_where(
        cluster, namespace, lambda s: (s.get("lastAction") or "").endswith("AwaitingApproval"), "the approval request"
    )
    name = waiting["metadata"]["name"]
    result = subprocess.run(
        [sys.executable, "-m", "onduty.cli", "approve", name, "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "as onduty-admin" in result.stdout  # the admin client certificate's CN, as the API server reports it
    done = incident_where(
        cluster, namespace, lambda s: s.get("lastAction") == "rolloutRestart Succeeded", "the approved restart"
    )
    assert done["status"]["actions"][0]["approval"]["decidedBy"] == "onduty-admin"


def test_an_approval_request_expires(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"approve-{namespace}", namespace, requireApproval=["rolloutRestart"], approvalTTL="3s")
    before = generation(cluster, namespace)
    fire(operator, namespace)
    done = incident_where(cluster, namespace, lambda s: s.get("phase") == "Escalated", "the request to expire")
    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"]) == ("Denied", "ApprovalExpired")
    assert generation(cluster, namespace) == before


def _without_the_approval_binding(cluster):
    """Remove the approval policy's binding (the API server stops checking approvals); give back a restorer."""
    binding = cluster.get_json("validatingadmissionpolicybinding", "onduty-approval")
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        binding["metadata"].pop(key, None)
    binding.pop("status", None)
    cluster.kubectl("delete", "validatingadmissionpolicybinding", "onduty-approval")
    probe = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "probe", "annotations": {"onduty.dev/approve": "x", "onduty.dev/approved-by": "nobody"}},
        "spec": {"title": "probe", "severity": "info"},
    }
    # A removed binding stops being enforced a moment later: wait until a dry run that it refuses passes.
    wait_for(
        lambda: (
            cluster.kubectl(
                "create", "--dry-run=server", "-n", "default", "-f", "-", input_=json.dumps(probe), check=False
            ).returncode
            == 0
        ),
        what="the approval policy's binding to stop being enforced",
    )

    def restore() -> None:
        cluster.kubectl("apply", "-f", "-", input_=json.dumps(binding))
        wait_for(
            lambda: (
                cluster.kubectl(
                    "create", "--dry-run=server", "-n", "default", "-f", "-", input_=json.dumps(probe), check=False
                ).returncode
                != 0
            ),
            what="the approval policy's binding to be enforced again",
        )

    return restore


def test_an_approval_is_refused_when_the_admission_policy_does_not_protect_it(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"approve-{namespace}", namespace, requireApproval=["rolloutRestart"])
    before = generation(cluster, namespace)
    fire(operator, namespace)
    waiting = incident_where(
        cluster, namespace, lambda s: (s.get("lastAction") or "").endswith("AwaitingApproval"), "the approval request"
    )
    restore = _without_the_approval_binding(cluster)
    try:
        # Nothing checks who this is any more: onduty must not take the self-declared name.
        cluster.kubectl(
            "annotate",
            "incident.onduty.dev",
            waiting["metadata"]["name"],
            "-n",
            namespace,
            "onduty.dev/approved-by=someone-else",
            "onduty.dev/approve=restart",
        )
        done = incident_where(cluster, namespace, lambda s: s.get("phase") == "Escalated", "the refusal")
    finally:
        restore()
    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"]) == ("Denied", "ApprovalNotProtected")
    assert "onduty-approval" in action["message"] and "allowApprovalWithoutAdmissionPolicy" in action["message"]
    assert generation(cluster, namespace) == before


def test_a_policy_may_accept_approvals_without_the_admission_policy(cluster, namespace, deployment, operator):
    apply(cluster, RUNBOOK, namespace)
    policy(
        cluster,
        f"approve-{namespace}",
        namespace,
        requireApproval=["rolloutRestart"],
        allowApprovalWithoutAdmissionPolicy=True,
    )
    fire(operator, namespace)
    waiting = incident_where(
        cluster, namespace, lambda s: (s.get("lastAction") or "").endswith("AwaitingApproval"), "the approval request"
    )
    restore = _without_the_approval_binding(cluster)
    try:
        cluster.kubectl(
            "annotate",
            "incident.onduty.dev",
            waiting["metadata"]["name"],
            "-n",
            namespace,
            "onduty.dev/approved-by=carol",
            "onduty.dev/approve=restart",
        )
        done = incident_where(
            cluster, namespace, lambda s: s.get("lastAction") == "rolloutRestart Succeeded", "the approved restart"
        )
    finally:
        restore()
    assert done["status"]["actions"][0]["approval"]["decidedBy"] == "carol"  # self-declared, as the policy accepted
