#!/usr/bin/env python3
"""Benchmark: webhook received → rollout restart applied, against a floor.

For each of N incidents (default 200, one Deployment each, so no cooldown or
grouping interferes), post one Alertmanager v4 notification to the bridge of a
running ``onduty run`` and time until a watch on Deployments sees the restart
(the pod template carries onduty's action id). In the same run, the floor: a
minimal client makes the same kind of API calls directly (create the Alert,
create the Incident, write its status, read and patch the Deployment) and is
timed to the same watch event. Prints p50/p95/p99 of both and their ratio.

    python hack/bench_latency.py [--incidents 200] [--kubeconfig FILE]

Without --kubeconfig it starts (and stops) its own local control plane.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "hack"), str(REPO / "operator" / "src")]

import controlplane  # noqa: E402
from alertmanager_webhook import am_alert, am_payload, post_json  # noqa: E402
from onduty.adapters.kube import Cluster, Conflict, load_client  # noqa: E402
from operator_process import OperatorProcess  # noqa: E402
from processes import wait_until  # noqa: E402

ACTION_ID = "onduty.dev/action-id"


class RestartWatch:
    """Records when each Deployment's pod template first shows a given marker annotation."""

    def __init__(self, cluster: Cluster, namespace: str, annotation: str) -> None:
        self.cluster, self.namespace, self.annotation = cluster, namespace, annotation
        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RestartWatch:
        self.thread.start()
        return self

    def _run(self) -> None:
        from kubernetes.client import AppsV1Api

        apps = AppsV1Api(self.cluster.api)
        while not self._stop.is_set():
            try:
                self._watch_once(apps)
            except Exception:
                if not self._stop.is_set():  # at the end of the run the API server goes away
                    raise

    def _watch_once(self, apps: object) -> None:
        from kubernetes import watch

        stream = watch.Watch()
        for event in stream.stream(
            apps.list_namespaced_deployment,  # type: ignore[attr-defined]
            self.namespace,
            timeout_seconds=30,
            _request_timeout=40,
        ):
            obj = event["object"]
            annotations = (obj.spec.template.metadata.annotations or {}) if obj.spec.template.metadata else {}
            if annotations.get(self.annotation):
                with self.cond:
                    self.seen.setdefault(obj.metadata.name, time.perf_counter())
                    self.cond.notify_all()
            if self._stop.is_set():
                stream.stop()

    def wait(self, name: str, timeout: float = 60.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: name in self.seen, timeout):
                raise TimeoutError(f"no restart of {name} seen within {timeout}s")
            return self.seen[name]

    def stop(self) -> None:
        self._stop.set()


def create_deployments(cluster: Cluster, namespace: str, prefix: str, count: int) -> list[str]:
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    for name in names:
        # replicas 0: the benchmark measures onduty's path, not how fast fake pods start.
        cluster.request(
            "POST",
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            body={
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    },
                },
            },
        )
    return names


def floor_path(cluster: Cluster, namespace: str, deployment: str) -> None:
    """The API calls of onduty's path, made directly, with nothing in between."""
    fp = uuid.uuid4().hex[:16]
    cluster.create(
        "alerts",
        namespace,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Alert",
            "metadata": {"name": f"floor-{fp}"},
            "spec": {
                "fingerprint": fp,
                "state": "firing",
                "labels": {"alertname": "Bench"},
                "startsAt": "2026-11-28T12:00:00Z",
            },
        },
    )
    incident = cluster.create(
        "incidents",
        namespace,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": f"floor-{fp}"},
            "spec": {"title": "floor", "severity": "critical"},
        },
    )
    cluster.merge_patch(
        "incidents", namespace, incident["metadata"]["name"], {"status": {"phase": "Remediating"}}, status=True
    )
    workload = cluster.get_workload("Deployment", namespace, deployment)
    cluster.patch_workload(
        "Deployment",
        namespace,
        deployment,
        {
            "metadata": {"resourceVersion": workload["metadata"]["resourceVersion"]},
            "spec": {"template": {"metadata": {"annotations": {"floor/marker": fp}}}},
        },
    )


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return qs[49], qs[94], qs[98]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--kubeconfig", type=Path)
    args = parser.parse_args()

    local = None
    work = Path(tempfile.mkdtemp(prefix="onduty-bench-"))
    if args.kubeconfig is None:
        print("starting a local control plane ...", file=sys.stderr)
        local = controlplane.LocalCluster.start(work / "cluster")
        kubeconfig = local.kubeconfig
    else:
        kubeconfig = args.kubeconfig
    bin_dir = controlplane.find_binaries()
    import subprocess

    subprocess.run(
        [str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), "apply", "--server-side", "-f", str(REPO / "crds")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            str(bin_dir / "kubectl"),
            "--kubeconfig",
            str(kubeconfig),
            "wait",
            "--for=condition=Established",
            "crd/alerts.onduty.dev",
            "crd/incidents.onduty.dev",
            "crd/runbooks.onduty.dev",
            "crd/remediationpolicies.onduty.dev",
        ],
        check=True,
        capture_output=True,
    )
    cluster = Cluster(load_client(kubeconfig))
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    for ns in (namespace, "onduty-system"):
        with contextlib.suppress(Conflict):  # already there
            cluster.request(
                "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            )
    # A policy lets onduty act for real in the benchmark's namespace (without one it only dry-runs).
    cluster.request(
        "POST",
        "/apis/onduty.dev/v1alpha1/remediationpolicies",
        body={
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": namespace},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]},
        },
    )
    cluster.create(
        "runbooks",
        namespace,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "bench"},
            "spec": {
                "match": {"alertnames": ["BenchAlert"]},
                "remediation": {
                    "steps": [
                        {
                            "name": "restart",
                            "action": "rolloutRestart",
                            "cooldown": "1h",
                            "verify": {"rolloutHealthyWithin": "1m"},
                        }
                    ]
                },
            },
        },
    )
    n = args.incidents
    onduty_targets = create_deployments(cluster, namespace, "svc", n)
    floor_targets = create_deployments(cluster, namespace, "floor", n)
    operator = OperatorProcess(kubeconfig=kubeconfig, log_dir=work).start()
    onduty_watch = RestartWatch(cluster, namespace, ACTION_ID).start()
    floor_watch = RestartWatch(cluster, namespace, "floor/marker").start()
    try:
        onduty_lat, floor_lat = [], []
        for i in range(n):
            # Interleave the two so drift in the API server's load affects both alike.
            labels = {
                "alertname": "BenchAlert",
                "namespace": namespace,
                "deployment": onduty_targets[i],
                "severity": "critical",
            }
            payload = am_payload(am_alert(labels, starts_at=datetime.now(UTC)))
            t0 = time.perf_counter()
            code, body = post_json(operator.url + "/api/v1/alerts", payload)
            assert code == 200, body
            onduty_lat.append(onduty_watch.wait(onduty_targets[i]) - t0)

            t0 = time.perf_counter()
            floor_path(cluster, namespace, floor_targets[i])
            floor_lat.append(floor_watch.wait(floor_targets[i]) - t0)
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{n} incidents", file=sys.stderr)
        # Every incident must also finish its verification: a fast but broken path is no result.
        wait_until(
            lambda: (
                sum(
                    1
                    for inc in cluster.list("incidents", namespace)
                    if (inc.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded"
                )
                == n
            ),
            timeout=300,
            interval=1,
            what="every incident's restart to be verified",
            watch=[operator.process] if operator.process else [],
        )
    finally:
        onduty_watch.stop()
        floor_watch.stop()
        operator.stop()
        if local is not None:
            local.stop()

    o50, o95, o99 = percentiles(onduty_lat)
    f50, f95, f99 = percentiles(floor_lat)
    print(f"webhook received -> restart applied, {n} incidents (one Deployment each)")
    print(f"{'':18}{'p50':>10}{'p95':>10}{'p99':>10}")
    print(f"{'onduty':18}{o50 * 1000:>8.1f}ms{o95 * 1000:>8.1f}ms{o99 * 1000:>8.1f}ms")
    print(f"{'floor (direct API)':18}{f50 * 1000:>8.1f}ms{f95 * 1000:>8.1f}ms{f99 * 1000:>8.1f}ms")
    print(f"{'ratio':18}{o50 / f50:>9.2f}x{o95 / f95:>9.2f}x{o99 / f99:>9.2f}x")
    print(
        json.dumps(
            {
                "incidents": n,
                "onduty_ms": [round(v * 1000, 1) for v in (o50, o95, o99)],
                "floor_ms": [round(v * 1000, 1) for v in (f50, f95, f99)],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
