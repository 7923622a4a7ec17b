"""Diagnostics against the real things: the API server (with kwok's pods), the real `helm` CLI's
release records, an Argo CD Application, Debian's Prometheus scraping the demo app, and HTTP
endpoints behind a Service's EndpointSlices.

``gather()`` is called here the way the incident worker calls it, with a Runtime of the
test's own (so a Prometheus URL can be given) and a recorder in place of Kopf's Event
poster; what it wrote is read back from the API server.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from kit import REPO, argocd_crd, wait_for
from onduty.adapters.diagnostics import HTTP_DEADLINE
from onduty.adapters.kube import Cluster
from onduty.domain.runbooks import parse_runbook
from onduty.domain.timeline import Entry
from onduty.domain.times import rfc3339
from onduty.handlers.runtime import OperatorConfig, Runtime
from onduty.services.diagnostics import gather
from processes import free_port

CHART = REPO / "tests/fixtures/charts/demo"


# --- helpers -------------------------------------------------------------------------------------


def open_incident(kube: Cluster, namespace: str, name: str = "inc", workload: str | None = "web") -> dict[str, Any]:
    spec: dict[str, Any] = {"title": f"{workload or 'something'} is on fire", "severity": "critical"}
    if workload:
        spec["workload"] = {"kind": "Deployment", "name": workload}
    body = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return kube.create("incidents", namespace, body)


class Gathered:
    """What one gather() wrote: results by name, the whole status, and the Events it asked to post."""

    def __init__(self, status: dict[str, Any], emitted: list[Entry], seconds: float) -> None:
        self.status = status
        self.results = {r["name"]: r for r in status.get("diagnostics", [])}
        self.emitted = emitted
        self.seconds = seconds

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.results[name]


def run_gather(
    kube: Cluster,
    incident: dict[str, Any],
    diagnostics: list[dict[str, Any]],
    *,
    prometheus_url: str | None = None,
) -> Gathered:
    spec = parse_runbook({"match": {"alertnames": ["X"]}, "diagnostics": diagnostics})
    runtime = Runtime(cluster=kube, config=OperatorConfig(prometheus_url=prometheus_url))
    emitted: list[Entry] = []
    started = time.monotonic()
    asyncio.run(gather(runtime, incident, spec, emit=lambda _obj, entries: emitted.extend(entries)))
    seconds = time.monotonic() - started
    meta = incident["metadata"]
    return Gathered(kube.get("incidents", meta["namespace"], meta["name"]).get("status") or {}, emitted, seconds)


def reasons(status: dict[str, Any]) -> list[str]:
    return [e["reason"] for e in status.get("timeline", [])]


def pods_of(cluster, namespace: str, label: str = "app=web") -> list[dict[str, Any]]:
    return cluster.get_json("pods", "-n", namespace, "-l", label)["items"]


def crash_loop(cluster, namespace: str, pod: str) -> None:
    """Make a kwok pod look like a crash-looping one that was OOM-killed (kwok leaves a patched status alone)."""
    status = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "registry.local/app:1.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 7,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                    "lastState": {
                        "terminated": {
                            "reason": "OOMKilled",
                            "exitCode": 137,
                            "startedAt": rfc3339(datetime.now(UTC) - timedelta(minutes=2)),
                            "finishedAt": rfc3339(datetime.now(UTC) - timedelta(minutes=1)),
                        }
                    },
                }
            ],
        }
    }
    cluster.kubectl(
        "patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


def backdate(cluster, kind: str, name: str, namespace: str, when: datetime) -> None:
    """Make an object look last written by a GitOps tool at ``when``.

    The API server keeps managedFields a client sets explicitly (and ignores a change of
    times alone), so the entry is replaced by one of another manager.
    """
    when = when.replace(microsecond=0)
    entry = {
        "manager": "argocd-controller",
        "operation": "Update",
        "apiVersion": "v1",
        "time": rfc3339(when),
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {}},
    }
    patch = json.dumps({"metadata": {"managedFields": [entry]}})
    cluster.kubectl("patch", kind, name, "-n", namespace, "--type=merge", "-p", patch)
    written = cluster.get_json(kind, name, "-n", namespace, "--show-managed-fields")["metadata"]["managedFields"]
    assert [e["time"] for e in written] == [rfc3339(when)]


# --- pods: logs, status, events ------------------------------------------------------------------


def test_kwok_pods_logs_fail_cleanly_while_status_and_events_are_gathered(cluster, kube, namespace, deployment):
    crashing = pods_of(cluster, namespace)[0]["metadata"]["name"]
    crash_loop(cluster, namespace, crashing)
    incident = open_incident(kube, namespace)

    got = run_gather(
        kube,
        incident,
        [
            {"name": "logs", "type": "podLogs", "previous": True},
            {"name": "status", "type": "podStatus"},
            {"name": "events", "type": "events"},
        ],
    )

    # kwok plays no kubelet: the API server answers 500 for the logs (it cannot dial the
    # node's kubelet port). That is recorded, stream by stream, and costs nothing else.
    logs = got["logs"]
    assert logs["ok"] is False
    assert logs["error"].startswith("no log stream could be read: GET /api/v1/namespaces/")
    assert "/log: 500" in logs["error"]
    streams = logs["details"]["streams"]
    assert [(s["pod"], s.get("previous", False)) for s in streams][:2] == [(crashing, False), (crashing, True)]
    assert len(streams) == 3  # two pods' app containers, and the crashed one's previous instance
    assert all("containerLogs" in s["error"] and "text" not in s for s in streams)

    status = got["status"]
    assert status["ok"] is True
    assert status["summary"] == (
        f"1/2 pods ready, 7 restarts; {crashing}/app: CrashLoopBackOff (last terminated OOMKilled, exit 137)"
    )
    assert status["details"]["pods"][0]["containers"][0]["lastTerminated"]["reason"] == "OOMKilled"

    events = got["events"]
    assert events["ok"] is True
    seen = {(e["object"], e["reason"]) for e in events["details"]["events"]}
    assert ("Deployment/web", "ScalingReplicaSet") in seen
    assert any(obj.startswith("Pod/web-") and reason == "Scheduled" for obj, reason in seen)
    assert any(obj.startswith("ReplicaSet/web-") and reason == "SuccessfulCreate" for obj, reason in seen)

    assert reasons(got.status).count("DiagnosticsGathered") == 1
    assert got.emitted == [
        Entry("DiagnosticsGathered", got.status["timeline"][-1]["message"], "Normal"),
    ]
    assert "2 of 3 succeeded; failed: logs" in got.emitted[0].message
    summary = got.status["diagnosticsSummary"]
    assert summary.startswith("Diagnostics: 2 of 3 gathered, 1 failed (logs)")
    assert "- FAILED `logs` (podLogs): no log stream could be read" in summary
    assert f"- `status` (podStatus): 1/2 pods ready, 7 restarts; {crashing}/app: CrashLoopBackOff" in summary


# --- recent changes ------------------------------------------------------------------------------


def test_rollout_history_agrees_with_kubectl_after_an_image_change_and_a_restart(cluster, kube, namespace, deployment):
    # The controller copies the Deployment's change-cause to its newest ReplicaSet.
    cluster.kubectl("set", "image", "deployment/web", "-n", namespace, "app=registry.local/app:1.1")
    cluster.kubectl("annotate", "deployment", "web", "-n", namespace, "kubernetes.io/change-cause=bump app to 1.1")
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s")
    cluster.kubectl("rollout", "restart", "deployment/web", "-n", namespace)
    cluster.kubectl(
        "annotate",
        "deployment",
        "web",
        "-n",
        namespace,
        "--overwrite",
        "kubernetes.io/change-cause=restart: stuck pool",
    )
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s")

    got = run_gather(kube, open_incident(kube, namespace), [{"name": "rollout", "type": "rolloutHistory"}])

    revisions = got["rollout"]["details"]["revisions"]
    assert [(r["revision"], r["images"], r.get("changeCause")) for r in revisions] == [
        (3, ["registry.local/app:1.1"], "restart: stuck pool"),
        (2, ["registry.local/app:1.1"], "bump app to 1.1"),
        (1, ["registry.local/app:1.0"], None),
    ]
    assert revisions[0]["current"] is True
    assert revisions[0]["replicas"] == 2
    summary = got["rollout"]["summary"]
    assert summary.startswith("3 revisions; current revision 3 created ")
    assert "(registry.local/app:1.1) change-cause 'restart: stuck pool'; revision 2 created " in summary
    # What `kubectl rollout history` prints: REVISION and CHANGE-CAUSE per line, oldest first.
    table = cluster.kubectl("rollout", "history", "deployment/web", "-n", namespace).stdout.splitlines()
    rows = [line.split(None, 1) for line in table if line[:1].isdigit()]
    kubectl_history = [(int(rev), (cause.strip() if cause.strip() != "<none>" else None)) for rev, cause in rows]
    assert sorted((r["revision"], r.get("changeCause")) for r in revisions) == kubectl_history


def test_helm_history_decoded_from_release_secrets_equals_helm_history(cluster, kube, namespace, helm, tmp_path):
    helm("install", "shop", str(CHART), "-n", namespace)
    upgraded = tmp_path / "demo-0.2.0"
    shutil.copytree(CHART, upgraded)
    chart_yaml = yaml.safe_load((upgraded / "Chart.yaml").read_text())
    (upgraded / "Chart.yaml").write_text(yaml.safe_dump({**chart_yaml, "version": "0.2.0", "appVersion": "1.1"}))
    helm("upgrade", "shop", str(upgraded), "-n", namespace, "--set", "message=two", "--description", "bump message")
    helm("upgrade", "shop", str(upgraded), "-n", namespace, "--set", "password=hunter2")

    # The release name comes from the chart's Deployment (Helm's own annotation on it).
    got = run_gather(kube, open_incident(kube, namespace, workload="shop"), [{"name": "helm", "type": "helmHistory"}])

    result = got["helm"]
    assert result["ok"] is True, result
    expected = json.loads(helm("history", "shop", "-n", namespace, "-o", "json"))
    ours = [
        {
            "revision": r["revision"],
            "updated": r["updated"],
            "status": r["status"],
            "chart": r["chart"],
            "app_version": r["appVersion"],
            "description": r["description"],
        }
        for r in reversed(result["details"]["revisions"])
    ]
    assert ours == expected
    assert [r["status"] for r in expected] == ["superseded", "superseded", "deployed"]
    assert result["summary"].startswith("release shop: revision 3 deployed ")
    assert "(demo-0.2.0, 'Upgrade complete'); before it revision 2 superseded (demo-0.2.0)" in result["summary"]
    assert "hunter2" not in json.dumps(got.status)  # values never leave the release record


def test_argo_history_reads_the_application(cluster, kube, namespace):
    argocd_crd(cluster)
    now = datetime.now(UTC)
    old, new = "1" * 40, "2" * 40
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example/shop.git", "path": "deploy", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
        },
        "status": {
            "sync": {"status": "Synced", "revision": new},
            "health": {"status": "Degraded", "message": "Deployment web has 0/2 available replicas"},
            "history": [
                {
                    "id": 4,
                    "revision": old,
                    "deployedAt": rfc3339(now - timedelta(hours=3)),
                    "source": {"repoURL": "https://git.example/shop.git", "path": "deploy"},
                },
                {
                    "id": 5,
                    "revision": new,
                    "deployedAt": rfc3339(now - timedelta(minutes=4)),
                    "initiatedBy": {"automated": True},
                },
            ],
            "operationState": {
                "operation": {"sync": {"revision": new}, "initiatedBy": {"automated": True}},
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "startedAt": rfc3339(now - timedelta(minutes=4, seconds=10)),
                "finishedAt": rfc3339(now - timedelta(minutes=4)),
                "syncResult": {"revision": new},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(application))

    got = run_gather(
        kube,
        open_incident(kube, namespace, workload=None),
        [
            {"name": "argo", "type": "argoHistory", "application": "shop", "namespace": namespace},
            {"name": "missing", "type": "argoHistory", "application": "nope", "namespace": namespace},
        ],
    )

    argo = got["argo"]
    assert argo["ok"] is True
    assert [h["id"] for h in argo["details"]["history"]] == [5, 4]
    assert argo["details"]["history"][0]["initiatedBy"] == "automated"
    assert argo["details"]["operationState"]["revision"] == new
    assert argo["summary"].startswith("Synced at 2222222, Degraded; last deploy #5 4m")
    assert argo["summary"].endswith("(2222222); operation Succeeded")
    assert got["missing"]["ok"] is False
    assert got["missing"]["error"] == f"Argo CD Application {namespace}/nope not found (or Argo CD is not installed)"


CONFIGURED_DEPLOYMENT = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-settings, namespace: {ns}}}
data: {{mode: calm}}
---
apiVersion: v1
kind: Secret
metadata: {{name: web-credentials, namespace: {ns}}}
stringData: {{password: s3cr3t-do-not-leak}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      containers:
        - name: app
          image: registry.local/app:1.0
          env:
            - name: PASSWORD
              valueFrom: {{secretKeyRef: {{name: web-credentials, key: password}}}}
          envFrom:
            - configMapRef: {{name: web-flags, optional: true}}
          volumeMounts: [{{name: settings, mountPath: /etc/web}}]
      volumes:
        - name: settings
          configMap: {{name: web-settings}}
"""


def test_config_changes_name_the_patched_configmap_and_never_the_secrets_data(cluster, kube, namespace):
    cluster.kubectl("apply", "-f", "-", input_=CONFIGURED_DEPLOYMENT.format(ns=namespace))
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    backdate(cluster, "configmap", "web-settings", namespace, two_hours_ago)
    backdate(cluster, "secret", "web-credentials", namespace, two_hours_ago)

    before = run_gather(kube, open_incident(kube, namespace, "before"), [{"name": "config", "type": "configChanges"}])

    assert before["config"]["details"]["changed"] == []
    assert before["config"]["details"]["unchanged"] == ["ConfigMap/web-settings", "Secret/web-credentials"]
    assert before["config"]["details"]["missing"] == ["ConfigMap/web-flags"]
    assert before["config"]["summary"] == (
        "0 of 3 referenced ConfigMaps/Secrets changed in the last 60m; missing: ConfigMap/web-flags"
    )

    cluster.kubectl(
        "patch", "configmap", "web-settings", "-n", namespace, "--type=merge", "-p", '{"data":{"mode":"panic"}}'
    )
    after = run_gather(kube, open_incident(kube, namespace, "after"), [{"name": "config", "type": "configChanges"}])

    [changed] = after["config"]["details"]["changed"]
    assert (changed["kind"], changed["name"], changed["manager"]) == ("ConfigMap", "web-settings", "kubectl-patch")
    assert datetime.now(UTC) - datetime.fromisoformat(changed["changedAt"].replace("Z", "+00:00")) < timedelta(
        minutes=1
    )
    assert after["config"]["summary"].startswith(
        "1 of 3 referenced ConfigMaps/Secrets changed in the last 60m: ConfigMap/web-settings "
    )
    for status in (before.status, after.status):
        assert "s3cr3t" not in json.dumps(status)
        assert "panic" not in json.dumps(status)


# --- HTTP checks ---------------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    code = 200
    body = b"ok\n"

    def do_GET(self) -> None:
        self.send_response(self.code)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        pass


class _Sick(_Answer):
    code = 503
    body = b"overloaded: queue full\n"


def host_address() -> str:
    """This machine's own IPv4 address on its default route (no packet is sent).

    EndpointSlices refuse loopback addresses ("may not be in the loopback range") and FQDN
    endpoints need a dotted name that resolves, so the test servers listen on this address.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("203.0.113.1", 9))  # TEST-NET-3: only picks the route's source address
        address: str = probe.getsockname()[0]
    assert not address.startswith("127."), f"no non-loopback IPv4 address to serve the test endpoints on: {address}"
    return address


@pytest.fixture
def endpoints() -> Iterator[tuple[str, dict[str, int]]]:
    """HTTP endpoints on this host: healthy, sick (503), hanging (accepts, never answers), closed."""
    address = host_address()
    servers = [ThreadingHTTPServer((address, 0), handler) for handler in (_Answer, _Sick)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    hanging = socket.socket()
    hanging.bind((address, 0))
    hanging.listen(8)
    with socket.socket() as closed:
        closed.bind((address, 0))
        closed_port = closed.getsockname()[1]
    ports = {
        "healthy": servers[0].server_address[1],
        "sick": servers[1].server_address[1],
        "hanging": hanging.getsockname()[1],
        "closed": closed_port,
    }
    yield address, ports
    for server in servers:
        server.shutdown()
        server.server_close()
    hanging.close()


class _Drip(BaseHTTPRequestHandler):
    """Answers one byte of its headers every 0.3 s, forever: every read succeeds, none finishes."""

    def do_GET(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        try:
            while True:
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.3)  # the server's pace, not a wait in the test
        except OSError:
            return

    def log_message(self, *_: Any) -> None:
        pass


def test_an_http_probe_stops_at_its_deadline_against_a_server_that_drips_bytes() -> None:
    from onduty.adapters.diagnostics import probe
    from onduty.domain.diagnostics import Endpoint

    server = ThreadingHTTPServer((host_address(), 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        result = probe(Endpoint(server.server_address[0], server.server_address[1]), "/healthz", timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert result.error == "timed out after 1s"
    assert elapsed < 1.5  # each byte came within the socket timeout; only the whole-exchange bound stops it


def test_an_http_probe_never_goes_to_a_loopback_or_link_local_address() -> None:
    from onduty.adapters.diagnostics import probe
    from onduty.domain.diagnostics import Endpoint

    for address in ("127.0.0.1", "169.254.169.254"):
        assert (probe(Endpoint(address, 80), "/").error or "").startswith("not probed:")


def test_http_check_probes_each_ready_endpoint_within_its_time_bounds(
    cluster, kube, namespace, endpoints, record_property
):
    address, ports = endpoints
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},  # no selector: slices by hand
    }
    slices = [
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"web-{kind}",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": "web",
                    "endpointslice.kubernetes.io/managed-by": "onduty-tests",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [address],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": f"web-{kind}"},
                }
            ],
        }
        for kind, port in ports.items()
    ]
    slices[0]["endpoints"].append({"addresses": ["192.0.2.250"], "conditions": {"ready": False}})
    for obj in (service, *slices):
        cluster.kubectl("apply", "-f", "-", input_=json.dumps(obj))

    got = run_gather(
        kube,
        open_incident(kube, namespace, workload=None),
        [{"name": "http", "type": "httpCheck", "service": "web", "port": "http", "path": "/healthz"}],
    )

    result = got["http"]
    assert result["ok"] is True
    by_pod = {e["pod"]: e for e in result["details"]["endpoints"]}
    assert by_pod["web-healthy"]["status"] == 200
    assert by_pod["web-healthy"]["url"] == f"http://{address}:{ports['healthy']}/healthz"
    assert 0 < by_pod["web-healthy"]["latencyMs"] < 2000
    assert (by_pod["web-sick"]["status"], by_pod["web-sick"]["body"]) == (503, "overloaded: queue full")
    assert by_pod["web-hanging"]["error"] == "timed out after 2s"
    assert by_pod["web-closed"]["error"] == "connection refused"
    assert result["details"]["notReady"] == 1
    assert result["summary"].startswith("Service web: 1/4 endpoints answer GET /healthz with 2xx/3xx (median ")
    assert result["summary"].endswith("; 1 not ready")
    # The hanging endpoint costs its 2 s timeout, not more: its error says so; the time is a figure, not a bound
    # (it includes API round trips, which two loaded cores stretch).
    record_property("http_check_seconds", got.seconds)
    record_property("http_check_deadline_seconds", HTTP_DEADLINE)

    # A diagnostic's own time bound cuts a slower check short, and says so.
    bounded = run_gather(
        kube,
        open_incident(kube, namespace, "bounded", workload=None),
        [{"name": "http", "type": "httpCheck", "service": "web", "timeoutSeconds": 1}],
    )
    assert bounded["http"]["ok"] is False
    assert bounded["http"]["error"] == "did not finish within 1s"
    record_property("http_check_bounded_to_1s_seconds", bounded.seconds)  # the error above says it was cut short
    assert reasons(bounded.status)[-1] == "DiagnosticsFailed"
    assert bounded.emitted[0].type == "Warning"


# --- PromQL --------------------------------------------------------------------------------------


def test_promql_on_a_real_prometheus_gives_value_trend_and_graph_link(kube, namespace, tmp_path):
    from demo_app import DemoApp
    from monitoring import Monitoring, webhook_config

    with (
        DemoApp(error_ratio=0.5) as app,
        Monitoring.start(
            tmp_path / "monitoring",
            rules={"groups": []},
            alertmanager_config=webhook_config(f"http://127.0.0.1:{free_port()}/unused"),
            scrape_targets=[app.target],
            target_labels={"namespace": namespace},
        ) as mon,
    ):
        ratio = 'sum(rate(demo_requests_total{code="500"}[5s])) / sum(rate(demo_requests_total[5s]))'
        wait_for(lambda: mon.query(ratio), timeout=30, what="Prometheus to have two samples of the demo app")
        wait_for(
            lambda: len(mon.query("demo_requests_total[30s]")[0]["values"]) >= 8,
            timeout=30,
            what="eight scrapes of the demo app",
        )

        got = run_gather(
            kube,
            open_incident(kube, namespace, workload=None),
            [
                {"name": "ratio", "type": "promql", "expr": ratio},
                {
                    "name": "requests",
                    "type": "promql",
                    "expr": "sum by (code) (demo_requests_total)",
                    "range": "1m",
                    "step": "1s",
                },
                {"name": "nothing", "type": "promql", "expr": "absent_metric_total"},
                # A tenant's runbook asking for another namespace's series gets its own namespace's.
                {
                    "name": "escape",
                    "type": "promql",
                    "expr": 'sum(demo_requests_total{namespace=~"kube-system|other"})',
                },
            ],
            prometheus_url=mon.prometheus_url,
        )

        ratio_result = got["ratio"]
        [series] = ratio_result["details"]["series"]
        assert series["last"] == pytest.approx(0.5, abs=0.1)
        assert ratio_result["summary"] == f"{series['last']:.4g}"
        link = ratio_result["details"]["link"]
        assert link.startswith(
            f"{mon.prometheus_url}/graph?g0.expr=sum%28rate%28demo_requests_total%7Bcode%3D%22500%22"
        )
        assert link.endswith("&g0.range_input=1h")
        with urllib.request.urlopen(link, timeout=5) as page:  # Prometheus serves the graph page for it
            assert page.status == 200

        requests = got["requests"]
        assert [s["labels"] for s in requests["details"]["series"]] == [{"code": "200"}, {"code": "500"}]
        # Counters only grow: both series trend up over the window.
        assert [(s["trend"], s["samples"] >= 5) for s in requests["details"]["series"]] == [("up", True)] * 2
        assert requests["details"]["step"] == "1s"
        assert requests["summary"].startswith('2 series; highest {code="200"}: ')
        assert requests["summary"].endswith("over 1m, trend up)")
        assert requests["details"]["link"].endswith("&g0.range_input=1m")
        assert got["nothing"]["summary"] == "no data for absent_metric_total"
        escape = got["escape"]
        assert escape["ok"] and escape["details"]["series"], escape
        assert urllib.parse.quote(f'namespace="{namespace}"') in escape["details"]["link"]
        assert "kube-system" not in urllib.parse.unquote(escape["details"]["link"])

    # Prometheus gone: the diagnostic records why, nothing raises.
    gone = run_gather(
        kube,
        open_incident(kube, namespace, "gone", workload=None),
        [{"name": "ratio", "type": "promql", "expr": "up"}],
        prometheus_url=mon.prometheus_url,
    )
    assert gone["ratio"]["ok"] is False
    assert gone["ratio"]["error"].startswith(f"{mon.prometheus_url}: ")
    assert "Connection refused" in gone["ratio"]["error"]


# --- once, and never in the way ------------------------------------------------------------------


def test_diagnostics_are_gathered_once_and_a_restarted_worker_does_not_repeat_them(kube, namespace, deployment):
    incident = open_incident(kube, namespace)
    first = run_gather(kube, incident, [{"name": "status", "type": "podStatus"}])
    assert first["status"]["summary"] == "2/2 pods ready, 0 restarts"

    # A worker that read the incident before the first write landed still does not write twice.
    stale = run_gather(kube, incident, [{"name": "status", "type": "podStatus"}])
    fresh = kube.get("incidents", namespace, "inc")
    again = run_gather(kube, fresh, [{"name": "events", "type": "events"}])

    assert stale.emitted == again.emitted == []
    assert again.status["diagnostics"] == first.status["diagnostics"]
    assert reasons(again.status).count("DiagnosticsGathered") == 1


def test_an_incident_without_a_workload_records_why_each_workload_diagnostic_failed(kube, namespace):
    got = run_gather(
        kube,
        open_incident(kube, namespace, workload=None),
        [{"name": "logs", "type": "podLogs"}, {"name": "history", "type": "rolloutHistory"}],
    )

    for name in ("logs", "history"):
        assert got[name]["error"] == "the incident names no workload and the diagnostic no target"
    assert got.emitted[0].reason == "DiagnosticsFailed"
    assert got.emitted[0].type == "Warning"
    assert got.status["diagnosticsSummary"].startswith("Diagnostics: 0 of 2 gathered, 2 failed (logs, history)")


DIAGNOSED_RUNBOOK = """
apiVersion: onduty.dev/v1alpha1
kind: Runbook
metadata: {{name: diagnose-then-restart, namespace: {namespace}}}
spec:
  match:
    alertnames: [KubePodCrashLooping]
  diagnostics:
    - {{name: pods, type: podStatus}}
    - {{name: rollout, type: rolloutHistory}}
    - {{name: events, type: events, limit: 5}}
    - {{name: logs, type: podLogs, previous: true, tailLines: 20}}
  remediation:
    steps:
      - name: restart
        action: rolloutRestart
        verify: {{rolloutHealthyWithin: 2m}}
"""


def test_a_running_operator_accepts_a_runbook_with_diagnostics_and_the_incident_keeps_them(
    cluster, kube, namespace, deployment, operator
):
    cluster.kubectl("apply", "-f", "-", input_=DIAGNOSED_RUNBOOK.format(namespace=namespace))
    accepted = wait_for(
        lambda: next(
            (
                c
                for c in (
                    cluster.get_json("runbook.onduty.dev", "diagnose-then-restart", "-n", namespace).get("status") or {}
                ).get("conditions", [])
                if c["type"] == "Accepted"
            ),
            None,
        ),
        what="the runbook's Accepted condition",
    )
    assert (accepted["status"], accepted["reason"]) == ("True", "Valid")
    incident = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "web-crashloop", "namespace": namespace},
        "spec": {
            "title": "web pods crash-looping",
            "severity": "critical",
            "labels": {"alertname": "KubePodCrashLooping"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(incident))
    matched = wait_for(
        lambda: (obj := kube.get("incidents", namespace, "web-crashloop")).get("status", {}).get("runbook") and obj,
        what="the operator to match the runbook",
    )

    # IncidentWorker.run does not call gather() yet: call it here as the worker will, right
    # after the match. (Once it does, this call finds status.diagnostics and does nothing.)
    spec = parse_runbook(cluster.get_json("runbook.onduty.dev", "diagnose-then-restart", "-n", namespace)["spec"])
    runtime = Runtime(cluster=kube, config=OperatorConfig())
    asyncio.run(gather(runtime, matched, spec, emit=lambda _obj, _entries: None))

    # The operator goes on writing the incident's status (remediation); the diagnostics stay.
    final = wait_for(
        lambda: (
            (obj := kube.get("incidents", namespace, "web-crashloop"))["status"].get("phase")
            in ("Mitigated", "Escalated")
            and obj
        ),
        timeout=120,
        what="remediation to conclude",
    )
    status = final["status"]
    by_name = {r["name"]: r for r in status["diagnostics"]}
    assert list(by_name) == ["pods", "rollout", "events", "logs"]
    assert by_name["pods"]["summary"].startswith("2/2 pods ready")
    assert by_name["rollout"]["summary"].startswith("1 revision; current revision 1 created ")
    assert by_name["logs"]["ok"] is False  # kwok: no kubelet to read logs from
    assert status["diagnosticsSummary"].startswith("Diagnostics: 3 of 4 gathered, 1 failed (logs)")
    timeline = reasons(status)
    assert timeline.count("DiagnosticsGathered") == 1
    assert timeline.index("RunbookMatched") < timeline.index("DiagnosticsGathered")


def test_the_sample_runbook_with_diagnostics_is_valid_for_the_api_server(cluster, namespace):
    sample = REPO / "manifests/samples/runbook-diagnostics.yaml"

    cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(sample))
