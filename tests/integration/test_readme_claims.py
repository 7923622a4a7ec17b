"""What the README promises and no other test held onduty to, each through a running operator
(``onduty run`` as a child process) on the real API server: `onduty reject`, a pause on the incident
itself, a cluster-wide concurrency cap, overlapping policies, grouping keys, a global runbook, the
bridge's /metrics, the ONDUTY_* environment, an unreachable Alertmanager, and rolloutUndo's dry run
and revert.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import (
    EnvConfiguredOperator,
    InFlightWatch,
    apply_manifest,
    deployment_manifest,
    drop_namespace,
    fire_alerts,
    get_deployment,
    incident_where,
    onduty_cli,
    open_step_incident,
    step_outcome,
    timeline_reasons,
    verdict_reasons,
    wait_for,
)
from processes import free_port

# The test cluster's admin (its client certificate's CN), as the API server authenticates it.
ADMIN = "onduty-admin"
SYSTEM = "onduty-system"


def restart_runbook(namespace: str, alertname: str = "KubePodCrashLooping", name: str = "restart") -> dict[str, Any]:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "match": {"alertnames": [alertname]},
            "remediation": {
                "steps": [{"name": "restart", "action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "2m"}}]
            },
        },
    }


@pytest.fixture
def policies(cluster) -> Iterator[Any]:
    """Make RemediationPolicies (cluster-scoped); every one is deleted at teardown."""
    made: list[str] = []

    def make(name: str, scope: dict[str, Any], **spec: Any) -> str:
        apply_manifest(
            cluster,
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "RemediationPolicy",
                "metadata": {"name": name},
                "spec": {"scope": scope, "allowedActions": ["rolloutRestart"], **spec},
            },
        )
        made.append(name)
        return name

    yield make
    for name in made:
        cluster.kubectl("delete", "remediationpolicy.onduty.dev", name, "--wait=false", check=False)


def incident_by_hand(
    cluster,
    namespace: str,
    *,
    alertname: str = "KubePodCrashLooping",
    workload: str = "web",
    annotations: dict[str, str] | None = None,
) -> str:
    name = f"inc-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
            "spec": {
                "title": f"{workload} is crash-looping",
                "severity": "critical",
                "labels": {"alertname": alertname, "deployment": workload},
                "workload": {"kind": "Deployment", "name": workload},
            },
        },
    )
    return name


def generation(cluster, namespace: str, name: str = "web") -> int:
    return int(get_deployment(cluster, namespace, name)["metadata"]["generation"])


def named(name: str):
    return lambda i: i["metadata"]["name"] == name


def last_action(state: str):
    return lambda i: (i.get("status") or {}).get("lastAction") == f"rolloutRestart {state}"


def crashloop(namespace: str, **extra: str) -> dict[str, str]:
    return {
        "alertname": "KubePodCrashLooping",
        "namespace": namespace,
        "deployment": "web",
        "severity": "critical",
        **extra,
    }


# --- approval: `onduty reject` ------------------------------------------------------------------------------


def test_onduty_reject_denies_the_action_in_the_name_of_the_authenticated_user(
    cluster, namespace, deployment, operator, policies
):
    apply_manifest(cluster, restart_runbook(namespace))
    policies(f"approve-{namespace}", {"namespaces": [namespace]}, requireApproval=["rolloutRestart"])
    before = generation(cluster, namespace)
    name = incident_by_hand(cluster, namespace)
    incident_where(cluster, namespace, last_action("AwaitingApproval"), "the approval request")

    result = onduty_cli("reject", name, "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"rejected step restart of incident {namespace}/{name} as {ADMIN}\n"
    done = incident_where(cluster, namespace, lambda i: i["status"].get("phase") == "Escalated", "the rejection")
    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"], action["message"]) == (
        "Denied",
        "ApprovalRejected",
        f"rejected by {ADMIN}",
    )
    assert (action["approval"]["approved"], action["approval"]["decidedBy"]) == (False, ADMIN)
    annotations = done["metadata"]["annotations"]
    assert (annotations["onduty.dev/reject"], annotations["onduty.dev/approved-by"]) == ("restart", ADMIN)
    assert "RemediationSkipped" in timeline_reasons(done)
    assert generation(cluster, namespace) == before


# --- pause on the incident itself ---------------------------------------------------------------------------


def test_a_pause_on_the_incident_holds_it_and_lifting_it_lets_the_action_run(
    cluster, namespace, deployment, operator, restart_policy
):
    apply_manifest(cluster, restart_runbook(namespace))
    before = generation(cluster, namespace)
    name = incident_by_hand(cluster, namespace, annotations={"onduty.dev/paused": "true"})

    held = incident_where(
        cluster, namespace, lambda i: "AutomationPaused" in timeline_reasons(i), "the incident's pause to hold it"
    )
    [entry] = [e for e in held["status"]["timeline"] if e["reason"] == "AutomationPaused"]
    assert entry["message"] == "automation held: automation is paused on this incident (annotation onduty.dev/paused)"
    [waiting] = held["status"]["actions"]  # held, not denied: recorded as waiting, nothing done
    assert (waiting["state"], waiting["held"]["reason"], held["status"]["phase"]) == (
        "Pending",
        "AutomationPaused",
        "Paused",
    )
    assert generation(cluster, namespace) == before

    cluster.kubectl("annotate", "incident.onduty.dev", name, "-n", namespace, "onduty.dev/paused-")
    done = incident_where(cluster, namespace, last_action("Succeeded"), "the restart once the pause is lifted")
    assert verdict_reasons(done["status"]["actions"][0])["Pause"] == "NotPaused"
    assert generation(cluster, namespace) == before + 1


# --- a cluster-wide concurrency cap -------------------------------------------------------------------------


@pytest.fixture
def second_namespace(cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    drop_namespace(cluster, name)


def slow_web(cluster, namespace: str) -> None:
    """Deployment web whose rollouts take a few seconds (minReadySeconds): two actions would overlap."""
    manifest = json.loads(deployment_manifest("web", namespace, replicas=1))
    manifest["spec"]["minReadySeconds"] = 3
    apply_manifest(cluster, manifest)


def test_a_cluster_wide_concurrency_cap_holds_across_namespaces(
    cluster, namespace, second_namespace, operator, policies
):
    both = [namespace, second_namespace]
    for ns in both:
        slow_web(cluster, ns)
        apply_manifest(cluster, restart_runbook(ns))
    # perNamespace alone would let one action run in each namespace at once; clusterWide: 1 lets one run.
    policies(f"one-at-a-time-{namespace}", {"namespaces": both}, concurrency={"clusterWide": 1, "perNamespace": 1})
    for ns in both:
        wait_for(lambda ns=ns: get_deployment(cluster, ns)["status"].get("availableReplicas") == 1, what=f"web in {ns}")

    with InFlightWatch(cluster.kubeconfig, both) as flight:
        fire_alerts(operator.url, *(crashloop(ns) for ns in both))
        done = [
            incident_where(cluster, ns, last_action("Succeeded"), f"the restart in {ns}", timeout=120) for ns in both
        ]
        wait_for(lambda: len(flight.finished) == 2, timeout=30, what="the watch to see both actions finish")

    assert flight.errors == []
    assert flight.peak == 1, f"{flight.peak} actions in flight at once across two namespaces: {flight.peak_actions}"
    held = [i for i in done if "ConcurrencyLimited" in timeline_reasons(i)]
    assert len(held) == 1, [timeline_reasons(i) for i in done]  # the other namespace's action waited for this one's
    found = [e for e in held[0]["status"]["timeline"] if e["reason"] == "ConcurrencyLimited"]
    assert len(found) == 1, held[0]["status"]["timeline"]
    [entry] = found
    assert entry["message"] == (
        f"automation held: policy one-at-a-time-{namespace} allows 1 action(s) at once cluster-wide; 1 in flight"
    )


# --- overlapping policies: the strictest decides, and is named -----------------------------------------------


@pytest.mark.parametrize(
    ("step", "lenient", "strict", "reason", "says"),
    [
        pytest.param(
            {"action": "rolloutRestart"},
            {"allowedActions": ["rolloutRestart", "scale"]},
            {"allowedActions": ["scale"]},
            "ActionNotAllowed",
            "rolloutRestart is not among the allowed actions of policy {strict}",
            id="allowed-actions",
        ),
        pytest.param(
            {"action": "scale", "replicas": 6},
            {"allowedActions": ["scale"], "blastRadius": {"maxScaleFactor": 4}},
            {"allowedActions": ["scale"], "blastRadius": {"maxScaleFactor": 2}},
            "BlastRadiusExceeded",
            "policy {strict}",
            id="blast-radius",
        ),
    ],
)
def test_of_two_overlapping_policies_the_strictest_decides_and_its_verdict_names_it(
    cluster, namespace, deployment, operator, policies, step, lenient, strict, reason, says
):
    # Two real policies cover the target by different scopes; the lenient one sorts first.
    cluster.kubectl("label", "namespace", namespace, f"onduty-test/strict={namespace}")
    names = [f"a-lenient-{namespace}", f"b-strict-{namespace}"]
    policies(names[0], {"namespaces": [namespace]}, **lenient)
    policies(names[1], {"namespaceSelector": {"matchLabels": {"onduty-test/strict": namespace}}}, **strict)
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "rb", "namespace": namespace},
            "spec": {"match": {"alertnames": ["Broken"]}, "remediation": {"steps": [{"name": "fix", **step}]}},
        },
    )
    before = generation(cluster, namespace)
    name = incident_by_hand(cluster, namespace, alertname="Broken")

    action = step_outcome(cluster, namespace, name)

    assert (action["state"], action["reason"]) == ("Denied", reason), action
    assert action["policies"] == names
    denial = next(v for v in action["verdicts"] if not v["allowed"])
    assert says.format(strict=names[1]) in denial["message"], denial
    assert generation(cluster, namespace) == before
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 2


# --- grouping keys ------------------------------------------------------------------------------------------


def incidents_once_both_alerts_joined(cluster, namespace: str) -> list[dict[str, Any]]:
    """The namespace's incidents once the two alerts fired have both joined one (no runbook: they escalate)."""

    def joined():
        items = cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
        firing = sum((i.get("status") or {}).get("firingAlerts", 0) for i in items)
        settled = all((i.get("status") or {}).get("phase") == "Escalated" for i in items)
        return items if firing == 2 and settled else None

    return wait_for(joined, timeout=90, what="both alerts to join an incident")


@pytest.mark.parametrize(
    ("keys", "incidents"),
    [
        pytest.param("alertname,namespace,workload", [2], id="pod-not-a-key-one-incident"),
        pytest.param("alertname,namespace,workload,pod", [1, 1], id="pod-a-key-two-incidents"),
    ],
)
def test_grouping_keys_decide_which_alerts_share_an_incident(cluster, namespace, operator_factory, keys, incidents):
    operator = operator_factory(extra_args=["--grouping-keys", keys]).start()
    # Two alerts that differ only in the pod label.
    fire_alerts(operator.url, crashloop(namespace, pod="web-1"), crashloop(namespace, pod="web-2"))

    found = incidents_once_both_alerts_joined(cluster, namespace)

    assert sorted(i["status"]["firingAlerts"] for i in found) == incidents


# --- a global runbook ---------------------------------------------------------------------------------------


def test_a_runbook_in_ondutys_namespace_acts_in_another_namespace(
    cluster, namespace, deployment, operator, restart_policy
):
    alertname = f"GlobalCrash{uuid.uuid4().hex[:6]}"
    runbook = restart_runbook(SYSTEM, alertname=alertname, name=alertname.lower())
    apply_manifest(cluster, runbook)
    try:
        wait_for(
            lambda: any(
                c["type"] == "Accepted" and c["status"] == "True"
                for c in (
                    cluster.get_json("runbook.onduty.dev", alertname.lower(), "-n", SYSTEM).get("status") or {}
                ).get("conditions", [])
            ),
            what="the global runbook to be accepted",
        )
        before = generation(cluster, namespace)
        fire_alerts(operator.url, {**crashloop(namespace), "alertname": alertname})
        done = incident_where(cluster, namespace, last_action("Succeeded"), "the global runbook's restart")
    finally:
        cluster.kubectl("delete", "runbook.onduty.dev", alertname.lower(), "-n", SYSTEM, "--wait=false", check=False)
    assert cluster.get_json("runbooks.onduty.dev", "-n", namespace)["items"] == []  # none of the namespace's own
    assert done["status"]["runbook"]["namespace"] == SYSTEM
    assert done["status"]["runbook"]["name"] == alertname.lower()
    [action] = done["status"]["actions"]
    assert action["target"] == {"kind": "Deployment", "name": "web", "namespace": namespace}
    assert generation(cluster, namespace) == before + 1


# --- the bridge's /metrics ----------------------------------------------------------------------------------


def bridge_metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_bridge_metrics_count_what_a_delivery_did(cluster, namespace, operator):
    before = bridge_metrics(operator.url)
    payload = am_payload(
        am_alert(crashloop(namespace, pod="web-1"), starts_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),
        am_alert(crashloop(namespace, pod="web-2"), starts_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),
    )
    assert post_json(operator.url + "/api/v1/alerts", payload)[1]["created"] == 2
    assert post_json(operator.url + "/api/v1/alerts", payload)[1]["unchanged"] == 2  # Alertmanager's retry
    assert post_json(operator.url + "/api/v1/alerts", {**payload, "version": "3"})[0] == 400
    after = bridge_metrics(operator.url)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("onduty_bridge_requests_total", code="200") == 2
    assert moved("onduty_bridge_requests_total", code="400") == 1
    assert moved("onduty_bridge_alerts_total", outcome="created") == 2
    assert moved("onduty_bridge_alerts_total", outcome="unchanged") == 2
    assert moved("onduty_bridge_alerts_total", outcome="updated") == 0
    assert moved("onduty_bridge_request_seconds_count") == 3


# --- the ONDUTY_* environment -------------------------------------------------------------------------------


@pytest.fixture
def env_operator(cluster, tmp_path) -> Iterator[Any]:
    """Start ``onduty run`` configured by ONDUTY_* variables only; stopped at teardown."""
    started: list[EnvConfiguredOperator] = []

    def start(**env: str) -> EnvConfiguredOperator:
        proc = EnvConfiguredOperator(kubeconfig=cluster.kubeconfig, log_dir=tmp_path, env=env)
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        proc.stop()


def test_onduty_max_alerts_from_the_environment_caps_a_notification(cluster, namespace, env_operator):
    operator = env_operator(ONDUTY_MAX_ALERTS="2")
    three = am_payload(
        *(
            am_alert(crashloop(namespace, pod=f"web-{i}"), starts_at=datetime(2026, 11, 28, tzinfo=UTC))
            for i in range(3)
        )
    )

    code, body = post_json(operator.url + "/api/v1/alerts", three)

    assert code == 413
    assert "3 alerts in one request, more than the limit of 2 (--max-alerts)" in body["error"]
    assert cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"] == []
    assert post_json(operator.url + "/api/v1/alerts", {**three, "alerts": three["alerts"][:2]})[0] == 200


def test_onduty_grouping_keys_from_the_environment_split_incidents(cluster, namespace, env_operator):
    operator = env_operator(ONDUTY_GROUPING_KEYS="alertname,namespace,workload,pod")
    fire_alerts(operator.url, crashloop(namespace, pod="web-1"), crashloop(namespace, pod="web-2"))

    found = incidents_once_both_alerts_joined(cluster, namespace)

    assert sorted(i["status"]["firingAlerts"] for i in found) == [1, 1]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_onduty_poll_seconds_from_the_environment_paces_verification(
    cluster, namespace, deployment, env_operator, restart_policy
):
    """A step being verified looks at its rollout every ONDUTY_POLL_SECONDS: the restart is found healthy
    one interval after it was applied, not before. (A lower bound: a loaded machine cannot make it pass
    wrongly.) A held step does not poll: lifting a pause is a watch event, judged at once."""
    poll = 10
    env_operator(ONDUTY_POLL_SECONDS=str(poll))
    apply_manifest(cluster, restart_runbook(namespace))
    incident_by_hand(cluster, namespace)

    done = incident_where(cluster, namespace, last_action("Succeeded"), "the verified restart", timeout=120)

    [action] = done["status"]["actions"]
    waited = (_at(action["finishedAt"]) - _at(action["appliedAt"])).total_seconds()
    assert waited >= poll - 1, f"verification looked again after {waited} s, not after {poll} s"  # RFC 3339 seconds


# --- an unreachable Alertmanager holds automation -----------------------------------------------------------


class _NoSilences(BaseHTTPRequestHandler):
    """Alertmanager's silences API with no silence at all."""

    def do_GET(self) -> None:
        body = b"[]" if self.path.startswith("/api/v2/silences") else b"{}"
        self.send_response(200 if self.path.startswith("/api/v2/silences") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def test_an_unreachable_alertmanager_holds_automation_until_it_answers(
    cluster, namespace, deployment, operator_factory, restart_policy
):
    port = free_port()  # nothing listens here yet
    operator = operator_factory(extra_args=["--alertmanager-url", f"http://127.0.0.1:{port}"]).start()
    apply_manifest(cluster, restart_runbook(namespace))
    before = generation(cluster, namespace)
    incident_by_hand(cluster, namespace)

    held = incident_where(cluster, namespace, lambda i: "SilenceCheckFailed" in timeline_reasons(i), "the hold")
    [entry] = [e for e in held["status"]["timeline"] if e["reason"] == "SilenceCheckFailed"]
    assert entry["message"].startswith(
        f"automation held: could not read Alertmanager silences: GET http://127.0.0.1:{port}/api/v2/silences: "
    )
    assert "Connection refused" in entry["message"]
    [waiting] = held["status"]["actions"]  # held, not denied: recorded as waiting, nothing done
    assert (waiting["state"], waiting["held"]["reason"], held["status"]["phase"]) == (
        "Pending",
        "SilenceCheckFailed",
        "Held",
    )
    assert generation(cluster, namespace) == before
    assert operator.process is not None and operator.process.alive()

    server = ThreadingHTTPServer(("127.0.0.1", port), _NoSilences)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = incident_where(cluster, namespace, last_action("Succeeded"), "the restart once Alertmanager answers")
    finally:
        server.shutdown()
        server.server_close()
    assert verdict_reasons(done["status"]["actions"][0])["Silence"] == "NotSilenced"
    assert generation(cluster, namespace) == before + 1


# --- rolloutUndo: its dry run, and its revert -----------------------------------------------------------------


def rolled_to(cluster, namespace: str, revision: str, name: str = "web") -> bool:
    dep = get_deployment(cluster, namespace, name)
    status = dep["status"]
    return (
        dep["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == revision
        and status.get("observedGeneration") == dep["metadata"]["generation"]
        and status.get("updatedReplicas") == status.get("availableReplicas") == dep["spec"]["replicas"]
    )


def replicasets(cluster, namespace: str) -> dict[str, str]:
    """ReplicaSet name -> its revision."""
    return {
        rs["metadata"]["name"]: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in cluster.get_json("replicasets", "-n", namespace)["items"]
    }


def test_rollout_undo_dry_run_changes_nothing_and_records_the_would_be_change(cluster, namespace, deployment, operator):
    cluster.kubectl("set", "image", "deployment/web", "app=registry.local/app:2.0", "-n", namespace)
    wait_for(lambda: rolled_to(cluster, namespace, "2"), what="revision 2 rolled out")
    sets = replicasets(cluster, namespace)
    [first] = [name for name, revision in sets.items() if revision == "1"]
    before = get_deployment(cluster, namespace)

    name = open_step_incident(cluster, namespace, {"action": "rolloutUndo"}, policy={"dryRun": True})
    action = step_outcome(cluster, namespace, name)

    assert action["state"] == "DryRun", action
    assert action["diff"] == f"Deployment/web: spec.template := ReplicaSet {first} (revision 1)"
    after = get_deployment(cluster, namespace)
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert "onduty.dev/last-rolloutUndo" not in after["metadata"]["annotations"]
    assert replicasets(cluster, namespace) == sets


def test_rollout_undo_that_fails_verification_is_reverted_to_the_template_before(cluster, namespace, operator):
    # Revision 1 can never become ready (no node matches it); revision 2 is healthy. Undoing 2 goes back to
    # the broken revision 1, verification times out, and revertOnFailure puts revision 2's template back.
    manifest = json.loads(deployment_manifest("web", namespace, replicas=2))
    manifest["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-node": "true"}
    manifest["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    apply_manifest(cluster, manifest)
    patch = {
        "spec": {
            "template": {
                "spec": {"nodeSelector": None, "containers": [{"name": "app", "image": "registry.local/app:2.0"}]}
            }
        }
    }
    wait_for(
        lambda: (
            get_deployment(cluster, namespace)["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
            == "1"
        ),
        what="revision 1",
    )
    cluster.kubectl("patch", "deployment", "web", "-n", namespace, "--type=strategic", "-p", json.dumps(patch))
    wait_for(lambda: rolled_to(cluster, namespace, "2"), timeout=90, what="revision 2 rolled out")
    good = get_deployment(cluster, namespace)["spec"]["template"]

    name = open_step_incident(
        cluster,
        namespace,
        {"action": "rolloutUndo", "revertOnFailure": True, "verify": {"rolloutHealthyWithin": "5s"}},
    )
    action = step_outcome(cluster, namespace, name)

    assert (action["state"], action["reason"]) == ("Failed", "VerificationTimeout"), action
    assert action["details"] == {"fromRevision": 2, "toRevision": 1}
    assert action["message"].endswith("; reverted: template of revision 2 restored")
    after = get_deployment(cluster, namespace)
    assert after["spec"]["template"] == good
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/app:2.0"
    assert "nodeSelector" not in after["spec"]["template"]["spec"]
    incident = cluster.get_json("incident.onduty.dev", name, "-n", namespace)
    assert incident["status"]["phase"] == "Escalated"
    # The reverted template is revision 2's own again: the controller goes back to its ReplicaSet.
    wait_for(lambda: rolled_to(cluster, namespace, "4"), timeout=90, what="the reverted template rolled out")
