"""Pod logs read for real, through the API server, from the kubelet kwok plays.

The local control plane's second fake node, ``kwok-node-logs``, names kwok's own kubelet
server as its kubelet endpoint, and the API server proxies ``pods/log`` there (see
hack/controlplane.py). kwok serves each container's log from the file its ``ClusterLogs``
(per namespace) or ``Logs`` (per pod) object names, and the previous instance's from
``previousLogsFile``. The tests write those files (CRI format, as a container runtime
does), pin a Deployment's pods to that node, and read the lines back with ``kubectl logs``
and with onduty's ``podLogs`` diagnostic, called the way the incident worker calls it.
Pods on ``kwok-node-0`` still have no reachable kubelet: test_diagnostics.py covers that
refusal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane import LOGS_NODE_NAME, LOGS_NODE_TAINT, cri_log, logs_object
from kit import wait_for
from onduty.adapters.kube import Cluster
from onduty.domain.runbooks import parse_runbook
from onduty.domain.timeline import Entry
from onduty.domain.times import rfc3339
from onduty.handlers.runtime import OperatorConfig, Runtime
from onduty.services.diagnostics import gather

APP = [f"GET /orders/{i} 200 {3 + i % 5}ms" for i in range(1, 21)]
APP_BEFORE_CRASH = [
    "starting order-service 2.4.1",
    "connected to postgres at db:5432",
    "worker pool: 8 threads",
    "java.lang.OutOfMemoryError: Java heap space",
    "  at com.shop.orders.Cache.load(Cache.java:88)",
    "exiting with code 137",
]
CRASHED_APP_NOW = ["starting order-service 2.4.1", "connected to postgres at db:5432", "warming cache"]
PROXY = ["envoy: listening on 0.0.0.0:8080", "envoy: upstream app:8081 healthy"]


# --- helpers -------------------------------------------------------------------------------------


def logged_deployment(namespace: str, containers: tuple[str, ...] = ("app", "proxy")) -> str:
    """A 2-replica Deployment whose pods run on the node whose kubelet (kwok) serves logs."""
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        # Bound by name: the node is cordoned so that nothing else lands there.
                        "nodeName": LOGS_NODE_NAME,
                        "tolerations": [{"key": LOGS_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
                        "containers": [{"name": name, "image": f"registry.local/{name}:1.0"} for name in containers],
                    },
                },
            },
        }
    )


class KwokLogs:
    """Log files in the test's directory, and kwok's objects naming them (removed at teardown)."""

    def __init__(self, cluster, namespace: str, root: Path) -> None:
        self.cluster, self.namespace, self.root = cluster, namespace, root
        self.cluster_logs: list[str] = []
        root.mkdir(parents=True, exist_ok=True)

    def file(self, name: str, lines: list[str], *, stream: str = "stdout") -> Path:
        path = self.root / f"{name}.log"
        path.write_text(cri_log(lines, stream=stream, start=datetime.now(UTC) - timedelta(minutes=5)))
        return path

    def for_namespace(self, containers: dict[str, tuple[Path, Path | None]]) -> None:
        name = f"{self.namespace}-logs"
        self.cluster.kubectl(
            "apply", "-f", "-", input_=json.dumps(logs_object(containers, namespace=self.namespace, name=name))
        )
        self.cluster_logs.append(name)

    def for_pod(self, pod: str, containers: dict[str, tuple[Path, Path | None]]) -> None:
        obj = logs_object(containers, namespace=self.namespace, pod=pod)
        self.cluster.kubectl("apply", "-f", "-", input_=json.dumps(obj))

    def remove(self) -> None:
        for name in self.cluster_logs:
            self.cluster.kubectl("delete", "clusterlogs.kwok.x-k8s.io", name, "--wait=false", check=False)


def kubectl_logs(cluster, namespace: str, pod: str, *args: str) -> str:
    """``kubectl logs``; raises with the server's answer when it refuses."""
    return cluster.kubectl("logs", pod, "-n", namespace, *args).stdout


def served(cluster, namespace: str, pod: str, container: str, lines: list[str], *args: str) -> Callable[[], bool]:
    """kwok has seen its log objects (it watches them) and serves ``lines`` for the container."""

    def probe() -> bool:
        result = cluster.kubectl("logs", pod, "-n", namespace, "-c", container, *args, check=False)
        return result.returncode == 0 and result.stdout.splitlines() == lines

    return probe


def pod_names(cluster, namespace: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"])


def crash_loop(cluster, namespace: str, pod: str) -> None:
    """Make the pod's app container look crash-looping after an OOM kill (kwok leaves a patched status alone)."""
    now = datetime.now(UTC)
    statuses = [
        {
            "name": "app",
            "image": "registry.local/app:1.0",
            "imageID": "",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s"}},
            "lastState": {
                "terminated": {
                    "reason": "OOMKilled",
                    "exitCode": 137,
                    "startedAt": rfc3339(now - timedelta(minutes=2)),
                    "finishedAt": rfc3339(now - timedelta(minutes=1)),
                }
            },
        },
        {
            "name": "proxy",
            "image": "registry.local/proxy:1.0",
            "imageID": "",
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": rfc3339(now - timedelta(minutes=5))}},
        },
    ]
    patch = {"status": {"conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": statuses}}
    cluster.kubectl(
        "patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(patch)
    )


def open_incident(kube: Cluster, namespace: str, name: str = "inc") -> dict[str, Any]:
    body = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"title": "web is on fire", "severity": "critical", "workload": {"kind": "Deployment", "name": "web"}},
    }
    return kube.create("incidents", namespace, body)


def run_gather(kube: Cluster, incident: dict[str, Any], diagnostics: list[dict[str, Any]]) -> tuple[dict, list[Entry]]:
    """gather() as the incident worker calls it; returns the incident's status as stored, and the Events asked for."""
    spec = parse_runbook({"match": {"alertnames": ["X"]}, "diagnostics": diagnostics})
    emitted: list[Entry] = []
    runtime = Runtime(cluster=kube, config=OperatorConfig())
    asyncio.run(gather(runtime, incident, spec, emit=lambda _obj, entries: emitted.extend(entries)))
    meta = incident["metadata"]
    return kube.get("incidents", meta["namespace"], meta["name"]).get("status") or {}, emitted


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def kwok_logs(cluster, namespace: str, tmp_path: Path) -> Iterator[KwokLogs]:
    logs = KwokLogs(cluster, namespace, tmp_path / "container-logs")
    yield logs
    logs.remove()


@pytest.fixture
def web(cluster, namespace: str) -> list[str]:
    """The Deployment's two pods' names, Running/Ready on the logs node."""
    cluster.kubectl("apply", "-f", "-", input_=logged_deployment(namespace))
    wait_for(
        lambda: cluster.get_json("deployment", "web", "-n", namespace)["status"].get("availableReplicas") == 2,
        timeout=90,
        what="deployment web to be available on the logs node",
    )
    pods = pod_names(cluster, namespace)
    nodes = {cluster.get_json("pod", p, "-n", namespace)["spec"]["nodeName"] for p in pods}
    assert nodes == {LOGS_NODE_NAME}
    return pods


# --- kubectl, through the API server -------------------------------------------------------------


def test_kubectl_logs_reads_each_containers_file_with_tail_and_previous(cluster, namespace, web, kwok_logs):
    app, previous, proxy = (
        kwok_logs.file("app", APP),
        kwok_logs.file("app-previous", APP_BEFORE_CRASH, stream="stderr"),
        kwok_logs.file("proxy", PROXY),
    )
    kwok_logs.for_namespace({"app": (app, previous), "proxy": (proxy, None)})
    first, second = web
    wait_for(served(cluster, namespace, first, "app", APP), timeout=30, what="kwok to serve the app container's log")

    for pod in web:  # a ClusterLogs for the namespace: every pod's container reads the container's file
        assert kubectl_logs(cluster, namespace, pod, "-c", "app").splitlines() == APP
        assert kubectl_logs(cluster, namespace, pod, "-c", "proxy").splitlines() == PROXY
    assert kubectl_logs(cluster, namespace, first, "-c", "app", "--tail=3").splitlines() == APP[-3:]
    assert kubectl_logs(cluster, namespace, first, "-c", "app", "--previous").splitlines() == APP_BEFORE_CRASH
    assert kubectl_logs(cluster, namespace, first, "-c", "app", "--previous", "--tail=2").splitlines() == [
        "  at com.shop.orders.Cache.load(Cache.java:88)",
        "exiting with code 137",
    ]
    stamped = kubectl_logs(cluster, namespace, second, "-c", "proxy", "--timestamps").splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == PROXY
    assert all(line.split(" ", 1)[0].endswith("Z") for line in stamped)

    # The file is read at each request, as a kubelet reads the runtime's log: new lines show up.
    with app.open("a") as out:
        out.write(cri_log(["GET /orders/21 500 12ms"]))
    assert kubectl_logs(cluster, namespace, second, "-c", "app", "--tail=2").splitlines() == [
        APP[-1],
        "GET /orders/21 500 12ms",
    ]

    # A container no log object names is refused by the kubelet (kwok), relayed by the API server.
    kwok_logs.for_pod(second, {"app": (app, None)})
    wait_for(
        lambda: cluster.kubectl("logs", second, "-n", namespace, "-c", "proxy", check=False).returncode != 0,
        timeout=30,
        what="kwok to see the pod's own Logs object",
    )
    refused = cluster.kubectl("logs", second, "-n", namespace, "-c", "proxy", check=False)
    assert f'log target not found for container "proxy" in pod "{namespace}/{second}"' in refused.stderr


# --- onduty's podLogs diagnostic -----------------------------------------------------------------


def test_pod_logs_diagnostic_reads_the_exact_lines_the_tail_bound_and_the_crashed_containers(
    cluster, kube, namespace, web, kwok_logs
):
    healthy, crashing = web
    app, proxy = kwok_logs.file("app", APP), kwok_logs.file("proxy", PROXY)
    kwok_logs.for_namespace({"app": (app, None), "proxy": (proxy, None)})
    # The crash-looping pod's own files (a Logs object for one pod wins over the namespace's).
    now, before = (
        kwok_logs.file("crashed-app", CRASHED_APP_NOW),
        kwok_logs.file("crashed-app-previous", APP_BEFORE_CRASH),
    )
    kwok_logs.for_pod(crashing, {"app": (now, before), "proxy": (proxy, None)})
    crash_loop(cluster, namespace, crashing)
    wait_for(served(cluster, namespace, healthy, "app", APP), timeout=30, what="kwok to serve the namespace's logs")
    wait_for(
        served(cluster, namespace, crashing, "app", APP_BEFORE_CRASH, "--previous"),
        timeout=30,
        what="kwok to serve the crashed pod's previous log",
    )
    incident = open_incident(kube, namespace)

    status, emitted = run_gather(
        kube, incident, [{"name": "logs", "type": "podLogs", "previous": True, "tailLines": 4}]
    )

    logs = {r["name"]: r for r in status["diagnostics"]}["logs"]
    assert logs["ok"] is True, logs
    assert logs["details"]["tailLines"] == 4
    streams = [
        ((s["pod"], s["container"], s.get("previous", False)), s["text"].splitlines(), s["lines"])
        for s in logs["details"]["streams"]
    ]
    # The not-ready, restarted pod first, its crashed instance right after its current one; the tail
    # bound is the server's (tailLines): 4 lines of each stream, or all of a shorter one.
    assert streams == [
        ((crashing, "app", False), CRASHED_APP_NOW, 3),
        ((crashing, "app", True), APP_BEFORE_CRASH[-4:], 4),
        ((crashing, "proxy", False), PROXY, 2),
        ((healthy, "app", False), APP[-4:], 4),
        ((healthy, "proxy", False), PROXY, 2),
    ]
    assert logs["summary"] == f"5 of 5 log streams read, 15 lines; last line of {crashing}/app: warming cache"
    assert "error" not in logs
    assert [e.reason for e in emitted] == ["DiagnosticsGathered"]
    # The digest shows the most interesting stream's last lines: what the crashing container says now.
    assert status["diagnosticsSummary"] == "\n".join(
        [
            "Diagnostics: 1 of 1 gathered",
            f"- `logs` (podLogs): {logs['summary']}",
            *(f"    {line}" for line in CRASHED_APP_NOW),
        ]
    )


def test_pod_logs_diagnostic_records_a_stream_the_kubelet_refuses_and_reads_the_rest(
    cluster, kube, namespace, web, kwok_logs
):
    app = kwok_logs.file("app", APP)
    kwok_logs.for_namespace({"app": (app, None)})  # nothing for the proxy container
    wait_for(served(cluster, namespace, web[0], "app", APP), timeout=30, what="kwok to serve the app log")

    status, _ = run_gather(
        kube, open_incident(kube, namespace), [{"name": "logs", "type": "podLogs", "tailLines": 2, "maxPods": 1}]
    )

    logs = status["diagnostics"][0]
    assert logs["ok"] is True
    app_stream, proxy_stream = logs["details"]["streams"]
    assert (app_stream["container"], app_stream["text"].splitlines()) == ("app", APP[-2:])
    assert proxy_stream["container"] == "proxy"
    assert "text" not in proxy_stream
    pod = app_stream["pod"]
    assert proxy_stream["error"] == (
        f"GET /api/v1/namespaces/{namespace}/pods/{pod}/log: 400 BadRequest:"
        f' no logs found for container "proxy" in pod "{namespace}/{pod}"'
    )
    assert logs["summary"] == (
        f"1 of 2 log streams read, 2 lines; last line of {app_stream['pod']}/app: {APP[-1]}; 1 failed"
    )


def test_long_logs_come_bounded_by_tail_lines_and_keep_their_newest_lines_within_the_result_bound(
    cluster, kube, namespace, web, kwok_logs
):
    many = [f"{i:05d} " + "x" * 80 for i in range(2000)]
    app, proxy = kwok_logs.file("app", many), kwok_logs.file("proxy", many)
    kwok_logs.for_namespace({"app": (app, app), "proxy": (proxy, None)})
    for pod in web:
        crash_loop(cluster, namespace, pod)
    wait_for(served(cluster, namespace, web[0], "proxy", many), timeout=30, what="kwok to serve the long logs")

    status, _ = run_gather(
        kube, open_incident(kube, namespace), [{"name": "logs", "type": "podLogs", "previous": True, "tailLines": 500}]
    )

    logs = status["diagnostics"][0]
    assert logs["ok"] is True
    streams = logs["details"]["streams"]
    assert [(s["container"], s.get("previous", False)) for s in streams] == [
        ("app", False),
        ("app", True),
        ("proxy", False),
    ] * 2
    # The kubelet (kwok) sent the last 500 of 2000 lines; the result keeps each stream's newest ones.
    assert all(s["lines"] == 500 for s in streams)
    assert all(s["text"].splitlines()[-1] == many[-1] for s in streams)
    assert len(json.dumps(logs).encode()) <= 4096
