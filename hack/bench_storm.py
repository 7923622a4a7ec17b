#!/usr/bin/env python3
"""Benchmark: an alert storm through the bridge, against a floor, counting the API server's writes.

N distinct alerts (default 10,000) in groups of 1 to 50 per notification, as Alertmanager
groups them (one alertname in one namespace, several pods of a few Deployments), are
delivered the way an HA pair of Alertmanagers delivers them: every notification twice,
by two concurrent senders, interleaved; a random 5% of deliveries lose their connection
after the request is sent (the answer is never read) and are sent again. Once onduty has
put every alert in an incident, every alert is resolved the same way, and the benchmark
waits until every incident is resolved. Then it checks what must hold whatever the
timing: no alert lost, exactly one Alert object per alert instance, every incident
resolved.

Writes are counted by the real kube-apiserver itself (``apiserver_request_total`` on its
``/metrics``, before and after) and compared with the bound "one write per distinct alert
state change plus a constant per incident"; the constant observed is printed.

The floor, in the same run and at the same concurrency: a minimal client creating the
same Alert objects directly (and resolving them with one patch each), in a namespace
onduty does not watch. Under the storm, a fresh alert for a Deployment with a runbook is
sent now and then, timed until the Deployment's restart is seen, against the direct-API
path of ``bench_latency.floor_path`` made at the same moment.

    python hack/bench_storm.py [--alerts 10000] [--seed 1] [--concurrency 16] [--kubeconfig FILE] [--json]

Without --kubeconfig it starts (and stops) its own local control plane. The functions
are importable: ``tests/integration/test_storm_smoke.py`` runs :func:`run_storm` small.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO / "operator" / "src"), str(REPO / "hack")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import aiohttp  # noqa: E402

import controlplane  # noqa: E402
from alertmanager_webhook import am_alert, am_payload  # noqa: E402
from bench_latency import ACTION_ID, RestartWatch, create_deployments, floor_path  # noqa: E402
from onduty.adapters.kube import Cluster, Conflict, load_client  # noqa: E402
from onduty.domain import alerts as alert_domain  # noqa: E402
from onduty.domain import incidents as incident_domain  # noqa: E402
from onduty.domain.annotations import FINGERPRINT_LABEL, INCIDENT_LABEL  # noqa: E402
from operator_process import OperatorProcess  # noqa: E402
from processes import wait_until  # noqa: E402

# What a storm looks like: a handful of alert rules, each firing for pods of a few Deployments.
ALERTNAMES = (
    ("KubePodCrashLooping", "critical"),
    ("KubePodNotReady", "warning"),
    ("KubeContainerWaiting", "warning"),
    ("HighErrorRate", "critical"),
    ("HighLatency", "warning"),
    ("TargetDown", "critical"),
    ("CPUThrottlingHigh", "info"),
    ("KubeMemoryOvercommit", "warning"),
)
# The alert the probes send: the only one a runbook matches, so the storm's incidents do
# not each restart a Deployment (they would measure kwok, not onduty).
PROBE_ALERTNAME = "StormProbe"
MAX_GROUP = 50
# Alertmanager retries a failed delivery with a backoff; this many tries is far more than a
# healthy bridge needs (a 503 says "retry"), and a bound so a broken run ends.
DELIVERY_ATTEMPTS = 20
RETRY_PAUSE_SECONDS = (0.2, 1.0)
# The kinds whose writes count against the bound: onduty's own objects (and its Events).
ONDUTY_GROUP = "onduty.dev"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION")
# Writes per incident the bound allows beyond one per alert state change: create, its first
# status, a few batched status writes while its alerts join and resolve, Kopf's own marks.
DEFAULT_PER_INCIDENT = 10


# --- the storm ----------------------------------------------------------------------------
@dataclass
class Notification:
    """One Alertmanager group: the label sets of its alerts (each a distinct alert instance)."""

    labels: list[dict[str, str]]
    starts_at: datetime

    def payload(self, status: str, ends_at: datetime | None = None) -> dict[str, Any]:
        alerts = [
            am_alert(labels, starts_at=self.starts_at, status=status, ends_at=ends_at if status == "resolved" else None)
            for labels in self.labels
        ]
        payload = am_payload(*alerts)
        group = {"alertname": self.labels[0]["alertname"], "namespace": self.labels[0]["namespace"]}
        payload["groupLabels"] = group
        payload["groupKey"] = f'{{}}:{{alertname="{group["alertname"]}", namespace="{group["namespace"]}"}}'
        return payload


def generate(total: int, namespaces: list[str], seed: int, *, max_group: int = MAX_GROUP) -> list[Notification]:
    """``total`` distinct alerts in groups of 1..``max_group``: most groups small, some large, as in a real storm."""
    rng = random.Random(seed)
    started = datetime.now(UTC) - timedelta(minutes=5)
    notifications: list[Notification] = []
    made = 0
    serial = 0
    while made < total:
        size = min(total - made, max(1, round(1 + (max_group - 1) * rng.random() ** 2)))
        alertname, severity = rng.choice(ALERTNAMES)
        namespace = rng.choice(namespaces)
        workloads = [f"{rng.choice(('api', 'web', 'worker', 'cache', 'db'))}-{rng.randrange(40):02d}"]
        workloads += [f"svc-{rng.randrange(200):03d}" for _ in range(rng.randrange(min(size, 5)))]
        group = []
        for _ in range(size):
            workload = rng.choice(workloads)
            serial += 1
            group.append(
                {
                    "alertname": alertname,
                    "namespace": namespace,
                    "severity": severity,
                    "deployment": workload,
                    "pod": f"{workload}-{serial:06x}-{rng.randrange(16**5):05x}",
                    "container": "app",
                    "job": "kube-state-metrics",
                }
            )
        notifications.append(Notification(group, started + timedelta(seconds=rng.randrange(240))))
        made += size
    return notifications


def fingerprints(notifications: list[Notification]) -> set[str]:
    from alertmanager_webhook import fingerprint

    return {fingerprint(labels) for n in notifications for labels in n.labels}


@dataclass
class Deliveries:
    """What the senders saw: answer times of every answered request, and what went wrong on the way."""

    answers: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    dropped: int = 0
    errors: list[str] = field(default_factory=list)  # connections that failed, then retried
    failed: list[str] = field(default_factory=list)  # deliveries given up on: their alerts may be lost


async def _drop_after_sending(url: str, body: bytes) -> None:
    """Send the whole request, then close the connection without reading the answer (a lost answer)."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {alert_domain_path()} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: Alertmanager/0.25.0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    del reader


def alert_domain_path() -> str:
    return "/api/v1/alerts"


async def _deliver(
    session: aiohttp.ClientSession, url: str, body: bytes, drop_first: bool, seen: Deliveries, rng: random.Random
) -> None:
    if drop_first:
        seen.dropped += 1
        await _drop_after_sending(url, body)
    for _ in range(DELIVERY_ATTEMPTS):
        began = time.perf_counter()
        try:
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
            ) as response:
                await response.read()
                code = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            seen.codes[0] += 1
            seen.errors.append(f"{type(error).__name__}: {error}")
            await asyncio.sleep(rng.uniform(*RETRY_PAUSE_SECONDS))
            continue
        seen.answers.append(time.perf_counter() - began)
        seen.codes[code] += 1
        if 200 <= code < 300:
            return
        if 400 <= code < 500:  # Alertmanager gives up on a 4xx: the alerts are lost, and the run says so
            seen.failed.append(f"HTTP {code}")
            return
        await asyncio.sleep(rng.uniform(*RETRY_PAUSE_SECONDS))
    seen.failed.append(f"gave up after {DELIVERY_ATTEMPTS} attempts")


async def send_all(
    url: str,
    bodies: list[bytes],
    *,
    concurrency: int,
    retry_fraction: float,
    seed: int,
    on_progress: Any = None,
) -> tuple[Deliveries, float]:
    """Deliver every body twice (two Alertmanagers, interleaved) with ``concurrency`` requests in flight."""
    rng = random.Random(seed)
    queue: list[tuple[int, str]] = []
    for index in range(len(bodies)):
        queue += [(index, "am-0"), (index, "am-1")]
    # Interleaved, not in lock-step: the second Alertmanager's copy comes a few requests later or earlier.
    window = max(2, concurrency)
    for start in range(0, len(queue), window):
        chunk = queue[start : start + window]
        rng.shuffle(chunk)
        queue[start : start + window] = chunk
    # Exactly that share (at least one), so a small run has its dropped connections too.
    drops = set(rng.sample(range(len(queue)), k=min(len(queue), max(1, round(len(queue) * retry_fraction)))))
    seen = Deliveries()
    position = 0
    done = 0
    lock = asyncio.Lock()
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal position, done
        while True:
            async with lock:
                if position >= len(queue):
                    return
                mine = position
                position += 1
            index, _sender = queue[mine]
            await _deliver(session, url, bodies[index], mine in drops, seen, rng)
            done += 1
            if on_progress is not None:
                on_progress(done, len(queue))

    began = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return seen, time.perf_counter() - began


# --- the floor ----------------------------------------------------------------------------
def floor_objects(notifications: list[Notification]) -> list[dict[str, Any]]:
    """The Alert objects the bridge would make of these notifications (same names, labels and spec)."""
    bodies = []
    for notification in notifications:
        message = alert_domain.parse_webhook(notification.payload("firing"))
        for alert in message.alerts:
            bodies.append(
                {
                    "apiVersion": "onduty.dev/v1alpha1",
                    "kind": "Alert",
                    "metadata": {
                        "name": alert_domain.alert_object_name(alert, 1),
                        "labels": {
                            "app.kubernetes.io/managed-by": "onduty",
                            FINGERPRINT_LABEL: alert_domain.safe_label_value(alert.fingerprint.lower()),
                        },
                    },
                    "spec": alert_domain.alert_spec(alert, message),
                }
            )
    return bodies


def run_floor(cluster: Cluster, namespace: str, objects: list[dict[str, Any]], concurrency: int) -> tuple[float, float]:
    """Create, then resolve, every object directly with ``concurrency`` threads: seconds for each phase."""
    ended = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def create(body: dict[str, Any]) -> None:
        cluster.create("alerts", namespace, body)

    def resolve(body: dict[str, Any]) -> None:
        cluster.merge_patch(
            "alerts", namespace, body["metadata"]["name"], {"spec": {"state": "resolved", "endsAt": ended}}
        )

    timings = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for phase in (create, resolve):
            began = time.perf_counter()
            list(pool.map(phase, objects))
            timings.append(time.perf_counter() - began)
    return timings[0], timings[1]


# --- the API server's own count -----------------------------------------------------------
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def write_counts(cluster: Cluster) -> Counter[tuple[str, str, str, str, str]]:
    """Writes so far by (group, resource, subresource, verb, code): the API server's ``apiserver_request_total``."""
    counts: Counter[tuple[str, str, str, str, str]] = Counter()
    for line in cluster.request_text("GET", "/metrics").splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("verb") in WRITE_VERBS:
            key = (
                labels.get("group", ""),
                labels.get("resource", ""),
                labels.get("subresource", ""),
                labels["verb"],
                labels.get("code", ""),
            )
            counts[key] += int(float(match["value"]))
    return counts


# --- probes: a new incident's first action under the storm --------------------------------
@dataclass
class Probes:
    cluster: Cluster
    namespace: str
    floor_namespace: str
    bridge_url: str
    targets: list[str]
    floor_targets: list[str]
    onduty_watch: RestartWatch
    floor_watch: RestartWatch
    onduty: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    sent: list[dict[str, str]] = field(default_factory=list)
    starts_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    missed: list[str] = field(default_factory=list)  # probes whose restart was not seen in time
    patience: float = 120.0  # seconds to wait for a restart: a bound so a broken run ends, not a target

    def one(self, index: int) -> None:
        """A fresh alert for a Deployment with a runbook, timed to its restart; then the floor's path, timed alike."""
        from alertmanager_webhook import post_json

        labels = {
            "alertname": PROBE_ALERTNAME,
            "namespace": self.namespace,
            "deployment": self.targets[index],
            "severity": "critical",
        }
        self.sent.append(labels)
        began = time.perf_counter()
        code, body = post_json(self.bridge_url, am_payload(am_alert(labels, starts_at=self.starts_at)), timeout=60)
        if code != 200:
            raise AssertionError(f"probe alert answered {code}: {body}")
        self.onduty.append(self.onduty_watch.wait(self.targets[index], timeout=self.patience) - began)
        began = time.perf_counter()
        floor_path(self.cluster, self.floor_namespace, self.floor_targets[index])
        self.floor.append(self.floor_watch.wait(self.floor_targets[index], timeout=self.patience) - began)


# --- the run ------------------------------------------------------------------------------
@dataclass
class StormResult:
    alerts: int
    notifications: int
    incidents: int
    deliveries: int
    dropped_connections: int
    answer_codes: dict[str, int]
    failed_deliveries: int
    fire_seconds: float
    resolve_seconds: float
    attach_seconds: float
    last_incident_resolved_seconds: float
    bridge_alerts_per_second: float
    floor_alerts_per_second: float
    answer_p50_ms: float
    answer_p99_ms: float
    lost: int
    duplicated: int
    unexpected: int
    unresolved_alerts: int
    unresolved_incidents: int
    writes: dict[str, int]
    onduty_writes: int
    refused_writes: int  # of onduty_writes, refused (409: an HA duplicate racing the other copy, or a stale read)
    refused: dict[str, int]  # the refused ones by resource, verb and code
    state_changes: int
    per_incident_observed: float
    per_incident_allowed: int
    per_change_allowed: float
    probe_onduty_ms: list[float]
    probe_floor_ms: list[float]
    probes_missed: list[str]

    @property
    def within_bound(self) -> bool:
        return self.onduty_writes <= self.allowed_writes

    @property
    def allowed_writes(self) -> int:
        return int(self.per_change_allowed * self.state_changes + self.per_incident_allowed * self.incidents)

    @property
    def throughput_ratio(self) -> float:
        return self.bridge_alerts_per_second / self.floor_alerts_per_second if self.floor_alerts_per_second else 0.0

    def problems(self) -> list[str]:
        """What must hold whatever the timing; empty when it all does."""
        wrong = []
        for what, count in (
            ("alerts lost", self.lost),
            ("alert instances with more than one Alert object", self.duplicated),
            ("Alert objects of no alert sent", self.unexpected),
            ("alerts not resolved", self.unresolved_alerts),
            ("incidents not resolved", self.unresolved_incidents),
            ("deliveries that failed for good", self.failed_deliveries),
            ("probes whose first action was not seen in time", len(self.probes_missed)),
        ):
            if count:
                wrong.append(f"{count} {what}")
        if not self.within_bound:
            wrong.append(
                f"{self.onduty_writes} writes, more than {self.per_change_allowed:g} x {self.state_changes} alert"
                f" state changes + {self.per_incident_allowed} x {self.incidents} incidents"
            )
        return wrong


def namespaces_of(run: str) -> list[str]:
    """The namespaces a run named ``run`` makes: four for the storm, the probes' and the floor's (the last two);
    the RemediationPolicy of the probes is named like the probes' namespace."""
    return [*(f"storm-{run}-{i}" for i in range(4)), f"storm-{run}-probe", f"storm-{run}-floor"]


def _create_namespace(cluster: Cluster, name: str) -> None:
    with contextlib.suppress(Conflict):
        cluster.request(
            "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )


def _install_probe_runbook(cluster: Cluster, namespace: str) -> None:
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
            "metadata": {"name": "storm-probe"},
            "spec": {
                "match": {"alertnames": [PROBE_ALERTNAME]},
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


def _install_crds(kubeconfig: Path) -> None:
    kubectl = str(controlplane.find_binaries() / "kubectl")
    subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "apply", "--server-side", "-f", str(REPO / "crds")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "wait", "--for=condition=Established", "--timeout=60s"]
        + [f"crd/{kind}.onduty.dev" for kind in ("alerts", "incidents", "runbooks", "remediationpolicies")],
        check=True,
        capture_output=True,
    )


def _unattached(cluster: Cluster, namespaces: list[str]) -> int:
    # Server-side filter: the answer shrinks as onduty attaches alerts, so polling stays cheap.
    return sum(len(cluster.list("alerts", ns, label_selector=f"!{INCIDENT_LABEL}")) for ns in namespaces)


def _unresolved_incidents(cluster: Cluster, namespaces: list[str]) -> int:
    return sum(
        1
        for ns in namespaces
        for incident in cluster.list("incidents", ns)
        if not incident_domain.is_resolved(incident.get("status") or {})
    )


def _progress(label: str, quiet: bool) -> Any:
    marks: set[int] = set()

    def report(done: int, total: int) -> None:
        tenth = done * 10 // total
        if not quiet and tenth not in marks:
            marks.add(tenth)
            print(f"  {time.strftime('%H:%M:%S')} {label}: {done}/{total} deliveries", file=sys.stderr)

    return report


def run_storm(
    kubeconfig: Path,
    work: Path,
    *,
    alerts: int = 10_000,
    seed: int = 1,
    concurrency: int = 16,
    retry_fraction: float = 0.05,
    probes: int = 5,
    per_incident_allowed: int = DEFAULT_PER_INCIDENT,
    per_change_allowed: float = 1.0,
    timeout: float = 1800.0,
    quiet: bool = False,
    run: str = "",
) -> StormResult:
    """The whole benchmark against the cluster of ``kubeconfig`` (CRDs are installed if missing)."""

    def say(text: str) -> None:
        if not quiet:
            print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr)

    _install_crds(kubeconfig)
    cluster = Cluster(load_client(kubeconfig))
    *storm_namespaces, probe_namespace, floor_namespace = namespaces_of(run or uuid.uuid4().hex[:5])
    for ns in [*storm_namespaces, probe_namespace, floor_namespace, "onduty-system"]:
        _create_namespace(cluster, ns)
    _install_probe_runbook(cluster, probe_namespace)
    targets = create_deployments(cluster, probe_namespace, "probe", probes)
    floor_targets = create_deployments(cluster, floor_namespace, "floor", probes)

    notifications = generate(alerts, storm_namespaces, seed)
    expected = {alert_domain.safe_label_value(fp) for fp in fingerprints(notifications)}
    say(f"{alerts} alerts in {len(notifications)} notifications over {len(storm_namespaces)} namespaces")

    # The floor first, while nothing else runs: the same objects, created directly, in a namespace onduty ignores.
    say("floor: creating the same Alert objects directly ...")
    floor_create, floor_resolve = run_floor(cluster, floor_namespace, floor_objects(notifications), concurrency)

    watched = [*storm_namespaces, probe_namespace]
    operator = OperatorProcess(
        kubeconfig=kubeconfig, log_dir=work, extra_args=["--watch-namespaces", ",".join(watched)]
    ).start()
    onduty_watch = RestartWatch(cluster, probe_namespace, ACTION_ID).start()
    floor_watch = RestartWatch(cluster, floor_namespace, "floor/marker").start()
    watch = [operator.process] if operator.process else []
    url = operator.url + alert_domain_path()
    probe = Probes(cluster, probe_namespace, floor_namespace, url, targets, floor_targets, onduty_watch, floor_watch)
    probe.patience = timeout
    try:
        time.sleep(2)  # let the operator's start-up writes (its own objects, the runbook's status) settle
        before = write_counts(cluster)

        # Firing: the probes go out while the storm is under way, from a thread of their own.
        firing = [json.dumps(n.payload("firing")).encode() for n in notifications]
        storm_running = threading.Event()
        probe_error: list[BaseException] = []

        def send_probes() -> None:
            try:
                storm_running.wait()
                for index in range(probes):
                    time.sleep(1.0)
                    try:
                        probe.one(index)
                    except TimeoutError as error:  # counted and shown: the storm's figures still count
                        probe.missed.append(str(error))
            except BaseException as error:  # reported after the storm
                probe_error.append(error)

        prober = threading.Thread(target=send_probes, daemon=True)
        prober.start()
        storm_running.set()
        say("storm: firing ...")
        fired, fire_seconds = asyncio.run(
            send_all(
                url,
                firing,
                concurrency=concurrency,
                retry_fraction=retry_fraction,
                seed=seed,
                on_progress=_progress("firing", quiet),
            )
        )
        prober.join()  # each probe waits at most twice `timeout`
        if probe_error:
            raise probe_error[0]
        attach_began = time.perf_counter()
        wait_until(
            lambda: _unattached(cluster, watched) == 0,
            timeout=timeout,
            interval=1.0,
            what="every alert to be in an incident",
            watch=watch,
        )
        attach_seconds = time.perf_counter() - attach_began

        # Resolved: the same notifications again, every alert resolved, with the probes' alerts too.
        ended = datetime.now(UTC)
        resolving = [json.dumps(n.payload("resolved", ended)).encode() for n in notifications]
        resolving += [
            json.dumps(
                am_payload(am_alert(labels, starts_at=probe.starts_at, status="resolved", ends_at=ended))
            ).encode()
            for labels in probe.sent
        ]
        say("storm: resolving ...")
        resolve_began = time.perf_counter()
        resolved, resolve_seconds = asyncio.run(
            send_all(
                url,
                resolving,
                concurrency=concurrency,
                retry_fraction=retry_fraction,
                seed=seed + 1,
                on_progress=_progress("resolving", quiet),
            )
        )
        wait_until(
            lambda: _unresolved_incidents(cluster, watched) == 0,
            timeout=timeout,
            interval=1.0,
            what="every incident to be resolved",
            watch=watch,
        )
        last_resolved = time.perf_counter() - resolve_began
        # Kopf writes its marks after a handler returns: give the last ones a moment to land before counting.
        time.sleep(3)
        after = write_counts(cluster)
    finally:
        onduty_watch.stop()
        floor_watch.stop()
        operator.stop()

    # What is stored.
    stored = [alert for ns in watched for alert in cluster.list("alerts", ns)]
    by_fingerprint = Counter(alert["metadata"]["labels"].get(FINGERPRINT_LABEL, "") for alert in stored)
    probe_fps = {alert_domain.safe_label_value(fingerprint_of(labels)) for labels in probe.sent}
    wanted = expected | probe_fps
    incidents = [incident for ns in watched for incident in cluster.list("incidents", ns)]

    by_code = {key: after[key] - before.get(key, 0) for key in after if after[key] - before.get(key, 0)}
    refused = sum(count for key, count in by_code.items() if not key[4].startswith("2") and _is_onduty(key))
    delta: Counter[tuple[str, str, str, str]] = Counter()
    for coded, count in by_code.items():
        delta[coded[:4]] += count
    # The floor's probe paths wrote directly (an Alert, an Incident and its status each): not onduty's writes.
    floor_writes = {
        (ONDUTY_GROUP, "alerts", "", "POST"): len(probe.floor),
        (ONDUTY_GROUP, "incidents", "", "POST"): len(probe.floor),
        (ONDUTY_GROUP, "incidents", "status", "PATCH"): len(probe.floor),
    }
    for written, count in floor_writes.items():
        if written in delta:
            delta[written] -= count
    onduty_writes = sum(count for key, count in delta.items() if _is_onduty(key))
    state_changes = 2 * len(wanted)  # each alert fires once and resolves once
    answers = fired.answers + resolved.answers
    total_alerts = alerts
    quantiles = statistics.quantiles(answers, n=100, method="inclusive") if len(answers) > 1 else [0.0] * 99
    return StormResult(
        alerts=total_alerts,
        notifications=len(notifications),
        incidents=len(incidents),
        deliveries=2 * (len(firing) + len(resolving)),
        dropped_connections=fired.dropped + resolved.dropped,
        answer_codes={str(k): v for k, v in sorted((fired.codes + resolved.codes).items())},
        failed_deliveries=len(fired.failed) + len(resolved.failed),
        fire_seconds=round(fire_seconds, 2),
        resolve_seconds=round(resolve_seconds, 2),
        attach_seconds=round(attach_seconds, 2),
        last_incident_resolved_seconds=round(last_resolved, 2),
        bridge_alerts_per_second=round(2 * total_alerts / (fire_seconds + resolve_seconds), 1),
        floor_alerts_per_second=round(2 * total_alerts / (floor_create + floor_resolve), 1),
        answer_p50_ms=round(quantiles[49] * 1000, 1),
        answer_p99_ms=round(quantiles[98] * 1000, 1),
        lost=len(wanted - set(by_fingerprint)),
        duplicated=sum(1 for count in by_fingerprint.values() if count > 1),
        unexpected=len(set(by_fingerprint) - wanted),
        unresolved_alerts=sum(1 for alert in stored if (alert.get("spec") or {}).get("state") != "resolved"),
        unresolved_incidents=sum(1 for i in incidents if not incident_domain.is_resolved(i.get("status") or {})),
        writes={"/".join(part for part in key if part): count for key, count in sorted(delta.items())},
        onduty_writes=onduty_writes,
        refused_writes=refused,
        refused={
            "/".join(part for part in key if part): count
            for key, count in sorted(by_code.items())
            if not key[4].startswith("2") and _is_onduty(key)
        },
        state_changes=state_changes,
        per_incident_observed=round((onduty_writes - state_changes) / max(1, len(incidents)), 2),
        per_incident_allowed=per_incident_allowed,
        per_change_allowed=per_change_allowed,
        probe_onduty_ms=[round(v * 1000, 1) for v in probe.onduty],
        probe_floor_ms=[round(v * 1000, 1) for v in probe.floor],
        probes_missed=probe.missed,
    )


def _is_onduty(key: tuple[str, ...]) -> bool:
    """onduty's own kinds, and Events (onduty posts its timeline as Events)."""
    group, resource = key[0], key[1]
    return group == ONDUTY_GROUP or (resource == "events" and group in ("", "events.k8s.io"))


def fingerprint_of(labels: dict[str, str]) -> str:
    from alertmanager_webhook import fingerprint

    return fingerprint(labels)


def report(result: StormResult) -> Iterator[str]:
    yield f"alert storm: {result.alerts} alerts in {result.notifications} notifications, {result.incidents} incidents"
    yield (
        f"  deliveries {result.deliveries} (each notification twice), {result.dropped_connections} dropped"
        f" connections resent; answers by code {result.answer_codes}"
    )
    yield f"  firing sent in {result.fire_seconds}s, resolved sent in {result.resolve_seconds}s"
    yield f"  every alert in an incident {result.attach_seconds}s after the last firing delivery"
    yield f"  last incident resolved {result.last_incident_resolved_seconds}s after the first resolved delivery"
    yield f"{'':28}{'alerts/s':>10}"
    yield f"{'bridge (HA pair, retries)':28}{result.bridge_alerts_per_second:>10.1f}"
    yield f"{'floor (direct API)':28}{result.floor_alerts_per_second:>10.1f}"
    yield f"{'ratio (target >= 0.5)':28}{result.throughput_ratio:>9.2f}x"
    yield f"  bridge answer time p50 {result.answer_p50_ms}ms, p99 {result.answer_p99_ms}ms"
    if result.probe_onduty_ms:
        onduty, floor = statistics.median(result.probe_onduty_ms), statistics.median(result.probe_floor_ms)
        yield (
            f"  first action on a new incident under the storm: onduty {result.probe_onduty_ms} ms,"
            f" floor {result.probe_floor_ms} ms; median ratio {onduty / floor:.2f}x (target <= 5x),"
            f" worst {max(result.probe_onduty_ms) / max(result.probe_floor_ms):.2f}x"
        )
    yield "  API writes during the storm, by the API server's apiserver_request_total:"
    for key, count in result.writes.items():
        yield f"    {key:52}{count:>8}"
    yield (
        f"  onduty's writes (onduty.dev kinds + Events): {result.onduty_writes}; bound {result.per_change_allowed:g} x"
        f" {result.state_changes} state changes + {result.per_incident_allowed} x {result.incidents} incidents ="
        f" {result.allowed_writes}:"
        f" {'within' if result.within_bound else 'EXCEEDED'}; C observed {result.per_incident_observed} per incident"
        f" ({result.onduty_writes / max(1, result.state_changes):.2f} writes per state change;"
        f" {result.refused_writes} of them refused, mostly 409 conflicts)"
    )
    for key, count in result.refused.items():
        yield f"    refused: {key:43}{count:>8}"
    problems = result.problems()
    yield "  correctness: " + (
        "zero lost, one Alert per instance, all resolved" if not problems else "; ".join(problems)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (both senders together)")
    parser.add_argument("--probes", type=int, default=5, help="new incidents timed to their first action")
    parser.add_argument("--per-incident", type=int, default=DEFAULT_PER_INCIDENT, help="the bound's constant C")
    parser.add_argument("--per-change", type=float, default=1.0, help="the bound's writes per alert state change")
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="onduty-storm-"))
    local = None
    if args.kubeconfig is None:
        print("starting a local control plane ...", file=sys.stderr)
        local = controlplane.LocalCluster.start(work / "cluster")
        kubeconfig = local.kubeconfig
    else:
        kubeconfig = args.kubeconfig
    try:
        result = run_storm(
            kubeconfig,
            work,
            alerts=args.alerts,
            seed=args.seed,
            concurrency=args.concurrency,
            probes=args.probes,
            per_incident_allowed=args.per_incident,
            per_change_allowed=args.per_change,
        )
    finally:
        if local is not None:
            local.stop()
    for line in report(result):
        print(line)
    if args.json:
        print(json.dumps({**asdict(result), "throughput_ratio": round(result.throughput_ratio, 3)}))
    print(f"(operator logs in {work})", file=sys.stderr)
    return 1 if result.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
