"""Guardrails that fail closed, through a running operator on the real API server.

A slot held by an incident that resolves mid-verification is freed; an
unreadable action record and an invalid policy deny; slow guardrail checks of
unrelated incidents run side by side (the budget lock covers only judging and
claiming).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import REPO, deployment_manifest, drop_namespace, wait_for
from processes import free_port

RUNBOOK = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Runbook",
    "metadata": {"name": "restart"},
    "spec": {
        "match": {"alertnames": ["KubePodCrashLooping"]},
        "remediation": {
            "steps": [{"name": "restart", "action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "10m"}}]
        },
    },
}


def apply(cluster, obj: dict[str, Any], namespace: str | None = None) -> None:
    cluster.kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input_=json.dumps(obj))


def policy(cluster, name: str, namespaces: list[str], **spec: Any) -> None:
    apply(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": name},
            "spec": {"scope": {"namespaces": namespaces}, "allowedActions": ["rolloutRestart"], **spec},
        },
    )


def alert(namespace: str, deployment: str, starts_at: datetime, status: str = "firing") -> dict[str, Any]:
    labels = {"alertname": "KubePodCrashLooping", "namespace": namespace, "deployment": deployment}
    return am_alert(
        labels, starts_at=starts_at, status=status, ends_at=datetime.now(UTC) if status == "resolved" else None
    )


def action_of(cluster, namespace: str, deployment: str, predicate, what: str, timeout: float = 90) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        for incident in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]:
            if (incident["spec"].get("workload") or {}).get("name") != deployment:
                continue
            for action in (incident.get("status") or {}).get("actions") or []:
                if predicate(action):
                    return {**action, "incident": incident}
        return None

    return wait_for(probe, timeout=timeout, what=what)


def ready(cluster, namespace: str, name: str, replicas: int = 2) -> None:
    wait_for(
        lambda: cluster.get_json("deployment", name, "-n", namespace)["status"].get("availableReplicas") == replicas,
        timeout=90,
        what=f"{name} available",
    )


def test_an_incident_that_resolves_mid_verification_frees_its_concurrency_slot(cluster, namespace, operator):
    for name in ("stuck", "web"):
        apply(cluster, json.loads(deployment_manifest(name, namespace)))
        ready(cluster, namespace, name)
    # New pods of `stuck` can never be scheduled: its restart is applied and never verified.
    cluster.kubectl(
        "patch",
        "deployment",
        "stuck",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"template":{"spec":{"nodeSelector":{"no-such-node":"true"}}},"strategy":{"rollingUpdate":{"maxUnavailable":0}}}}',
    )
    apply(cluster, RUNBOOK, namespace)
    policy(cluster, f"one-at-a-time-{namespace}", [namespace], concurrency={"perNamespace": 1})
    started = datetime.now(UTC)
    assert post_json(operator.url + "/api/v1/alerts", am_payload(alert(namespace, "stuck", started)))[0] == 200
    action_of(cluster, namespace, "stuck", lambda a: a["state"] == "Applied", "the stuck restart to be verifying")
    assert post_json(operator.url + "/api/v1/alerts", am_payload(alert(namespace, "web", datetime.now(UTC))))[0] == 200

    def held() -> bool:
        for incident in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]:
            if (incident["spec"].get("workload") or {}).get("name") == "web":
                status = incident.get("status") or {}
                return any(e["reason"] == "ConcurrencyLimited" for e in status.get("timeline") or []) and not any(
                    a.get("startedAt") for a in status.get("actions") or []
                )
        return False

    wait_for(held, timeout=90, what="the second restart to wait for the slot")

    # The stuck incident's alert resolves while its action is still being verified.
    resolved = alert(namespace, "stuck", started, status="resolved")
    assert post_json(operator.url + "/api/v1/alerts", am_payload(resolved))[0] == 200

    closed = action_of(cluster, namespace, "stuck", lambda a: a["state"] == "Closed", "the open action to be closed")
    assert closed["reason"] == "IncidentResolved"
    assert closed["incident"]["status"]["phase"] == "Resolved"
    done = action_of(cluster, namespace, "web", lambda a: a["state"] == "Succeeded", "the freed slot to be used")
    assert done["reason"] == "RolloutHealthy"


def test_an_unreadable_action_record_on_the_target_denies(cluster, namespace, deployment, operator, restart_policy):
    cluster.kubectl("annotate", "deployment", "web", "-n", namespace, "onduty.dev/action-history=[not json")
    generation = cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"]
    apply(cluster, RUNBOOK, namespace)

    assert post_json(operator.url + "/api/v1/alerts", am_payload(alert(namespace, "web", datetime.now(UTC))))[0] == 200

    denied = action_of(cluster, namespace, "web", lambda a: a["state"] == "Denied", "the denial")
    assert denied["reason"] == "GuardrailStateUnreadable"
    assert "onduty.dev/action-history" in denied["message"]
    assert cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"] == generation


@pytest.fixture
def policy_crd_older_than_the_operator(cluster) -> Iterator[None]:
    """The RemediationPolicy CRD without its cron pattern, as an install whose CRDs were not upgraded has it
    (`helm upgrade` never touches a chart's crds/): the API server stores what the operator's model refuses."""
    original = (REPO / "crds/onduty.dev_remediationpolicies.yaml").read_text()
    crd = yaml.safe_load(original)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    for key in ("maintenanceWindows", "changeFreezes"):
        cron = spec[key]["items"]["properties"]["cron"]
        cron.pop("pattern", None)
        cron.pop("x-kubernetes-validations", None)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input_=json.dumps(crd))
    try:
        yield
    finally:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input_=original)


def test_an_invalid_overlapping_policy_denies_instead_of_dropping_out(
    cluster, namespace, deployment, operator, policy_crd_older_than_the_operator
):
    policy(cluster, f"permissive-{namespace}", [namespace])
    # Hour 25: stored by the older CRD, refused by onduty's model, which marks the policy not Accepted.
    wait_for(
        lambda: (
            cluster.kubectl(
                "apply",
                "-f",
                "-",
                check=False,
                input_=json.dumps(
                    {
                        "apiVersion": "onduty.dev/v1alpha1",
                        "kind": "RemediationPolicy",
                        "metadata": {"name": f"strict-{namespace}"},
                        "spec": {
                            "scope": {"namespaces": [namespace]},
                            "allowedActions": ["rolloutRestart"],
                            "maintenanceWindows": [{"name": "never", "cron": "0 25 * * *", "duration": "1h"}],
                        },
                    }
                ),
            ).returncode
            == 0
        ),
        what="the older CRD to store the policy",
    )
    wait_for(
        lambda: any(
            c["type"] == "Accepted" and c["status"] == "False"
            for c in (cluster.get_json("remediationpolicy.onduty.dev", f"strict-{namespace}").get("status") or {}).get(
                "conditions", []
            )
        ),
        what="the strict policy to be reported invalid",
    )
    generation = cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"]
    apply(cluster, RUNBOOK, namespace)

    try:
        assert (
            post_json(operator.url + "/api/v1/alerts", am_payload(alert(namespace, "web", datetime.now(UTC))))[0] == 200
        )
        denied = action_of(cluster, namespace, "web", lambda a: a["state"] == "Denied", "the denial")
    finally:
        for name in (f"permissive-{namespace}", f"strict-{namespace}"):
            cluster.kubectl("delete", "remediationpolicy.onduty.dev", name, "--wait=false", check=False)
    assert denied["reason"] == "PolicyInvalid"
    assert f"strict-{namespace}" in denied["message"]
    assert cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"] == generation


class _SlowAlertmanager(BaseHTTPRequestHandler):
    """Alertmanager's silences API, answering after a pause; it records how many requests overlapped."""

    lock = threading.Lock()
    in_flight = 0
    most = 0
    release = threading.Event()

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        cls.release.wait(3)  # until the test has seen two at once, or 3 s (well inside onduty's timeout)
        with cls.lock:
            cls.in_flight -= 1
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def slow_alertmanager() -> Iterator[tuple[str, type[_SlowAlertmanager]]]:
    handler = type("Slow", (_SlowAlertmanager,), {"in_flight": 0, "most": 0, "release": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        handler.release.set()
        server.shutdown()
        server.server_close()


def test_slow_checks_of_unrelated_incidents_run_side_by_side(cluster, operator_factory, slow_alertmanager):
    url, handler = slow_alertmanager
    namespaces = [f"side-{i}-{free_port()}" for i in range(2)]
    for ns in namespaces:
        cluster.kubectl("create", "namespace", ns)
        apply(cluster, json.loads(deployment_manifest("web", ns)))
        apply(cluster, RUNBOOK, ns)
    policy(cluster, f"side-{namespaces[0]}", namespaces, concurrency={"clusterWide": 10})
    operator = operator_factory(extra_args=["--alertmanager-url", url]).start()
    try:
        for ns in namespaces:
            ready(cluster, ns, "web")
        now = datetime.now(UTC)
        payload = am_payload(*(alert(ns, "web", now) for ns in namespaces))
        assert post_json(operator.url + "/api/v1/alerts", payload)[0] == 200

        # Both incidents' silence checks are in Alertmanager at once: neither waits for the other's.
        wait_for(lambda: handler.most >= 2, timeout=60, what="two silence checks in flight at once")
        handler.release.set()
        for ns in namespaces:
            action_of(cluster, ns, "web", lambda a: a["state"] == "Succeeded", f"the restart in {ns}")
    finally:
        handler.release.set()
        cluster.kubectl("delete", "remediationpolicy.onduty.dev", f"side-{namespaces[0]}", "--wait=false", check=False)
        for ns in namespaces:
            drop_namespace(cluster, ns)
