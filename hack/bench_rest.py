#!/usr/bin/env python3
"""Benchmark: many incidents at rest — memory, API requests, and the latency of a new one.

Loads a running ``onduty run`` with R Runbooks and N open incidents (default
1,000 of each) in the three ways an incident waits:

* **awaiting approval** (40%): a RemediationPolicy requires approval of the restart;
* **mitigated** (30%): the restart ran and was verified; the alert still fires;
* **held in cooldown** (30%): a second alert on the same Deployments, whose restart
  the step's cooldown holds for an hour.

Then, with nothing happening, it measures for a minute (``--rest-seconds``):

* the operator's RSS (``/proc/PID/status``) and CPU time;
* the API requests the API server served, from its own ``apiserver_request_total``
  (its ``/metrics``), watches excluded, by verb and resource; the
  control plane's own background (leases, node heartbeats) is measured the same
  way before onduty starts and shown beside it;
* the latency of a new alert to its applied restart, against the same latency
  measured on an idle operator at the start of the run (the single-incident
  baseline): the target is within 3 times.

    python hack/bench_rest.py [--incidents 1000] [--runbooks 1000] [--rest-seconds 60] [--kubeconfig FILE]

Without --kubeconfig it starts (and stops) its own local control plane.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "hack"), str(REPO / "operator" / "src")]

import controlplane  # noqa: E402
from alertmanager_webhook import am_alert, am_payload, post_json  # noqa: E402
from bench_latency import ACTION_ID, RestartWatch, create_deployments  # noqa: E402
from onduty.adapters.kube import Cluster, Conflict, load_client  # noqa: E402
from operator_process import OperatorProcess  # noqa: E402
from processes import wait_until  # noqa: E402

GROUP = "/apis/onduty.dev/v1alpha1"
# What onduty reads and writes; anything else (leases, node heartbeats, discovery) is the control
# plane's own. Both are shown; the target is about these.
ONDUTY_RESOURCES = {
    "alerts",
    "incidents",
    "runbooks",
    "remediationpolicies",
    "escalationpolicies",
    "notifiers",
    "oncallschedules",
    "namespaces",
    "deployments",
    "statefulsets",
    "daemonsets",
    "jobs",
    "events",
    "configmaps",
    "clusterkopfpeerings",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
}
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Requests:
    """``apiserver_request_total`` without WATCH, by (verb, resource)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def scrape(cls, cluster: Cluster) -> Requests:
        found = cls()
        for line in cluster.request_text("GET", "/metrics").splitlines():
            match = _SAMPLE.match(line)
            if not match:
                continue
            labels = dict(_LABEL.findall(match["labels"]))
            if labels.get("verb") in ("WATCH", "CONNECT"):
                continue
            resource = labels.get("resource") or "(non-resource)"
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            found.counts[(labels.get("verb", "?"), resource)] += int(float(match["value"]))
        return found

    def __sub__(self, before: Requests) -> Requests:
        return Requests(Counter({k: v - before.counts.get(k, 0) for k, v in self.counts.items()}))

    def total(self, *, ondutys: bool | None = None) -> int:
        return sum(
            v
            for (_, resource), v in self.counts.items()
            if ondutys is None or (resource.split("/")[0] in ONDUTY_RESOURCES) == ondutys
        )


class ProductionOperator(OperatorProcess):
    """``onduty run`` with its default poll interval (the tests' operator polls faster)."""

    poll_flag = False


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runbook(name: str, alertnames: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": name},
        "spec": {
            "match": {"alertnames": alertnames},
            "remediation": {
                "steps": [
                    {
                        "name": "restart",
                        "action": "rolloutRestart",
                        "cooldown": "1h",
                        "verify": {"rolloutHealthyWithin": "2m"},
                    }
                ]
            },
        },
    }


def policy(namespace: str, *, approval: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]}
    if approval:
        spec["requireApproval"] = ["rolloutRestart"]
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": {"name": namespace},
        "spec": spec,
    }


def fire(url: str, namespace: str, alertname: str, deployments: list[str], *, per_notification: int = 50) -> None:
    now = datetime.now(UTC)
    for i in range(0, len(deployments), per_notification):
        alerts = [
            am_alert(
                {"alertname": alertname, "namespace": namespace, "deployment": d, "severity": "critical"},
                starts_at=now,
            )
            for d in deployments[i : i + per_notification]
        ]
        code, body = post_json(url + "/api/v1/alerts", am_payload(*alerts))
        assert code == 200, body


def phases(cluster: Cluster, namespace: str) -> Counter[str]:
    return Counter(str((i.get("status") or {}).get("phase") or "Open") for i in cluster.list("incidents", namespace))


def latencies(
    url: str, watch: RestartWatch, namespace: str, deployments: list[str], alertname: str = "RestLatency"
) -> list[float]:
    """One alert at a time, each on its own Deployment: seconds from the webhook's answer to the restart."""
    found = []
    for d in deployments:
        labels = {"alertname": alertname, "namespace": namespace, "deployment": d, "severity": "critical"}
        t0 = time.perf_counter()
        code, body = post_json(url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC))))
        assert code == 200, body
        found.append(watch.wait(d, timeout=120) - t0)
    return found


@dataclass
class Result:
    incidents: int
    runbooks: int
    rest_seconds: float
    phases: dict[str, int]
    rss_mb: float
    idle_rss_mb: float
    cpu_percent: float
    requests_per_second: float
    onduty_requests_per_second: float
    background_per_second: float
    top_requests: list[tuple[str, str, int]]
    baseline_ms: float
    loaded_ms: float
    load_seconds: float

    @property
    def latency_ratio(self) -> float:
        return self.loaded_ms / self.baseline_ms

    def report(self) -> str:
        lines = [
            f"{self.incidents} open incidents ({', '.join(f'{k} {v}' for k, v in sorted(self.phases.items()))}),"
            f" {self.runbooks} Runbooks; loaded in {self.load_seconds:.0f} s",
            f"at rest for {self.rest_seconds:.0f} s:",
            f"  operator RSS           {self.rss_mb:8.1f} MB   (target < 200 MB; {self.idle_rss_mb:.1f} MB idle)",
            f"  operator CPU           {self.cpu_percent:8.1f} %",
            f"  API requests (no watch){self.requests_per_second:8.2f} /s, of which on what onduty reads and writes"
            f" {self.onduty_requests_per_second:.2f} /s",
            f"  without onduty         {self.background_per_second:8.2f} /s (the same objects, onduty stopped)",
            "  busiest: " + (", ".join(f"{verb} {res} {n}" for verb, res, n in self.top_requests) or "none"),
            "new alert -> restart applied (median):",
            f"  idle operator          {self.baseline_ms:8.1f} ms",
            f"  with the incidents     {self.loaded_ms:8.1f} ms   ratio {self.latency_ratio:.2f}x (target <= 3x)",
        ]
        return "\n".join(lines)


def run(
    kubeconfig: Path,
    work: Path,
    *,
    incidents: int,
    runbooks: int,
    rest_seconds: float,
    samples: int,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> Result:
    bin_dir = controlplane.find_binaries()

    def kubectl(*args: str, input_: str | None = None) -> str:
        return subprocess.run(
            [str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
            check=True,
            capture_output=True,
            text=True,
            input=input_,
        ).stdout

    kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/incidents.onduty.dev", "crd/runbooks.onduty.dev"
    )
    cluster = Cluster(load_client(kubeconfig))
    tag = uuid.uuid4().hex[:5]
    approve, act, lat = f"rest-approve-{tag}", f"rest-act-{tag}", f"rest-lat-{tag}"
    for ns in (approve, act, lat, "onduty-system"):
        with contextlib.suppress(Conflict):
            cluster.request(
                "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            )
    for ns, approval in ((approve, True), (act, False), (lat, False)):
        cluster.request("POST", f"{GROUP}/remediationpolicies", body=policy(ns, approval=approval))
        cluster.create("runbooks", ns, runbook("restart", ["RestAlert", "RestAgain", "RestLatency"]))
    # The rest of the Runbooks: onduty-system's (they apply everywhere), each for an alert that does not fire.
    for i in range(max(0, runbooks - 3)):
        cluster.create("runbooks", "onduty-system", runbook(f"filler-{tag}-{i:04d}", [f"Filler{tag}{i:04d}"]))
    n_approve = incidents * 4 // 10
    n_act = (incidents - n_approve) // 2
    n_cool = incidents - n_approve - n_act
    approve_deps = create_deployments(cluster, approve, "a", n_approve)
    act_deps = create_deployments(cluster, act, "m", max(n_act, n_cool))
    lat_deps = create_deployments(cluster, lat, "l", 2 * samples + 1)
    log(f"{runbooks} runbooks, {n_approve + max(n_act, n_cool) + 2 * samples + 1} deployments created")

    operator = ProductionOperator(kubeconfig=kubeconfig, log_dir=work).start()
    watch = RestartWatch(cluster, lat, ACTION_ID).start()
    assert operator.process is not None
    pid = operator.process.pid
    try:
        latencies(operator.url, watch, lat, lat_deps[:1])  # warm-up: first connections, first imports
        baseline = latencies(operator.url, watch, lat, lat_deps[1 : samples + 1])
        idle_rss = rss_mb(pid)
        log(f"idle latency: median {statistics.median(baseline) * 1000:.0f} ms over {samples}")
        started = time.monotonic()
        fire(operator.url, approve, "RestAlert", approve_deps)
        fire(operator.url, act, "RestAlert", act_deps[:n_act])

        def settled(ns: str, phase: str, want: int) -> Callable[[], bool]:
            def check() -> bool:
                seen = phases(cluster, ns)
                log(f"  {ns}: {dict(seen)}")
                return seen.get(phase, 0) >= want

            return check

        watching = [operator.process]
        wait_until(settled(act, "Mitigated", n_act), timeout=1800, interval=5, what="restarts verified", watch=watching)
        fire(operator.url, act, "RestAgain", act_deps[:n_cool])
        wait_until(
            settled(approve, "AwaitingApproval", n_approve),
            timeout=1800,
            interval=5,
            what="approvals asked",
            watch=watching,
        )
        wait_until(settled(act, "Held", n_cool), timeout=1800, interval=5, what="cooldown holds", watch=watching)
        load_seconds = time.monotonic() - started
        seen = phases(cluster, approve) + phases(cluster, act)
        log(f"loaded in {load_seconds:.0f} s: {dict(seen)}; settling 10 s, then measuring {rest_seconds:.0f} s at rest")
        time.sleep(10)
        before, cpu0, t0 = Requests.scrape(cluster), cpu_seconds(pid), time.monotonic()
        time.sleep(rest_seconds)
        after, cpu1, t1 = Requests.scrape(cluster), cpu_seconds(pid), time.monotonic()
        rss = rss_mb(pid)
        during = after - before
        elapsed = t1 - t0
        loaded = latencies(operator.url, watch, lat, lat_deps[samples + 1 :])
        top = sorted(((v, k) for k, v in during.counts.items() if v > 0), reverse=True)[:6]
        # The same minute without onduty: what the control plane does by itself with these objects.
        operator.stop()
        time.sleep(10)
        quiet = Requests.scrape(cluster)
        time.sleep(rest_seconds)
        background_rate = (Requests.scrape(cluster) - quiet).total() / rest_seconds
        return Result(
            incidents=incidents,
            runbooks=runbooks,
            rest_seconds=elapsed,
            phases=dict(seen),
            rss_mb=rss,
            idle_rss_mb=idle_rss,
            cpu_percent=100 * (cpu1 - cpu0) / elapsed,
            requests_per_second=during.total() / elapsed,
            onduty_requests_per_second=during.total(ondutys=True) / elapsed,
            background_per_second=background_rate,
            top_requests=[(verb, res, n) for n, (verb, res) in top],
            baseline_ms=statistics.median(baseline) * 1000,
            loaded_ms=statistics.median(loaded) * 1000,
            load_seconds=load_seconds,
        )
    finally:
        watch.stop()
        operator.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--runbooks", type=int, default=1000)
    parser.add_argument("--rest-seconds", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=15, help="alerts timed on the idle and on the loaded operator")
    parser.add_argument("--kubeconfig", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="onduty-bench-rest-"))
    local = None
    if args.kubeconfig is None:
        print("starting a local control plane ...", file=sys.stderr)
        local = controlplane.LocalCluster.start(work / "cluster")
        kubeconfig = local.kubeconfig
    else:
        kubeconfig = args.kubeconfig
    try:
        result = run(
            kubeconfig,
            work,
            incidents=args.incidents,
            runbooks=args.runbooks,
            rest_seconds=args.rest_seconds,
            samples=args.samples,
        )
    finally:
        if local is not None:
            local.stop()
    print(result.report())
    print(json.dumps({**result.__dict__, "latency_ratio": round(result.latency_ratio, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
