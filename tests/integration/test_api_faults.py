"""The API server crashes, its etcd crashes, the link to it stalls, drops and slows — during an alert storm —
and still every alert is stored once, every incident is remediated once, and nothing is left stuck.

A storm here is one notification per Deployment (each its own incident), sent as Alertmanager sends:
concurrently, and again after any answer but 200. The faults are real: kube-apiserver or etcd of this
module's own control plane SIGKILLed and started again with the same data (not the session's cluster,
which other tests share), and a loopback TCP proxy (``tests/faultproxy.py``) between onduty and the API
server for the partition-like faults. What is checked is what a crash or a partition could break:

* while the API server cannot answer, the bridge answers 503 (Alertmanager keeps the notification and
  retries), promptly — not a hang, not a 500 (which says "our misconfiguration");
* afterwards: one Alert object per alert (a retry after a 503 whose write did land later is no second
  one), one incident per Deployment, one action per incident that Succeeded, and each Deployment
  restarted exactly once (its generation, and the action id on its pod template);
* onduty reconnected by itself and did not hammer the API server meanwhile (the requests to onduty's
  API group, from the API server's own ``apiserver_request_total``; the proxy's connection counts).

CI runs a small storm (``ONDUTY_FAULT_INCIDENTS``, default 6); ``make bench-faults`` a larger one, and
prints the figures each test records (time down, 503s answered, time to recover, requests meanwhile).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertmanager_webhook import am_alert, am_payload, fingerprint, post_json
from faultproxy import FaultProxy
from kit import REPO, drop_namespace, wait_for
from operator_process import OperatorProcess

# Small enough for CI (each test well under 90 s on an idle machine), large enough that a fault
# meets several incidents at different points of their remediation.
INCIDENTS = int(os.environ.get("ONDUTY_FAULT_INCIDENTS", "6"))
# Scaled with the storm: a loaded 2-core machine restarts a few incidents a second.
FINISH_SECONDS = 120 + 2 * INCIDENTS
# The bridge answers 503 within its API timeouts (connect 3 s, read 15 s); more is a hang.
ANSWER_SECONDS = 25.0
# How long each partition-like fault lasts: longer than the operator's connect timeout (5 s), so
# its requests do time out, and short enough for CI.
FAULT_SECONDS = float(os.environ.get("ONDUTY_FAULT_SECONDS", "6"))
# How long at least a killed component stays down (0: restarted as soon as the 503s are checked).
DOWN_SECONDS = float(os.environ.get("ONDUTY_FAULT_DOWN_SECONDS", "0"))
ACTION_ID = "onduty.dev/action-id"
ALERTNAME = "FaultStorm"

# Benchmark smokes with a control plane of their own take turns on one test process (make test runs two):
# two of them at once would each measure the other's load.
pytestmark = [pytest.mark.timeout(300 + 4 * INCIDENTS), pytest.mark.xdist_group("own-control-plane")]

RUNBOOK = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Runbook",
    "metadata": {"name": "restart"},
    "spec": {
        "match": {"alertnames": [ALERTNAME]},
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


# --- this module's own control plane -------------------------------------------------------------------


@dataclass
class Plane:
    """This module's LocalCluster, with kubectl and a client for reads."""

    local: Any  # controlplane.LocalCluster
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return Path(self.local.kubeconfig)

    def kubectl(self, *args: str, check: bool = True, input_: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.local.kubectl(*args, check=check, input_=input_)

    def get_json(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", *args, "-o", "json").stdout))

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input_=json.dumps(obj))

    def onduty_requests(self) -> int:
        """Requests to onduty's API group the API server has counted since it (last) started."""
        from _controlplane.api import HttpsClient

        status, body = HttpsClient(self.local.pki).request("GET", f"{self.local.server}/metrics", timeout=10)
        assert status == 200, body[:300]
        pattern = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$")
        total = 0.0
        for line in body.decode().splitlines():
            match = pattern.match(line)
            if match and 'group="onduty.dev"' in match.group(1):
                total += float(match.group(2))
        return int(total)

    def heal(self) -> None:
        """Whatever a failed test left down is started again (the next test needs the whole plane)."""
        for name in ("etcd", "kube-apiserver"):
            if not self.local.component(name).alive():
                self.local.restart_component(name)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    import controlplane

    local = controlplane.LocalCluster.start(tmp_path_factory.mktemp("faulty-cluster"))
    try:
        plane = Plane(local, Path(local.bin_dir))
        plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/alerts.onduty.dev", "crd/incidents.onduty.dev"
        )
        plane.kubectl("create", "namespace", "onduty-system")
        plane.kubectl("apply", "-k", str(REPO / "manifests/admission"))
        yield plane
    finally:
        local.stop()


@dataclass
class Storm:
    """A namespace with ``size`` Deployments (replicas 0: onduty's path, not fake pods, is under test), a
    policy that lets onduty restart them and a runbook that does; one notification per Deployment."""

    plane: Plane
    namespace: str
    deployments: list[str]
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)  # deployment -> payload
    own_reads: int = 0  # requests to onduty's API group this test made itself (not onduty's)

    @classmethod
    def create(cls, plane: Plane, size: int) -> Storm:
        namespace = f"faults-{uuid.uuid4().hex[:6]}"
        plane.kubectl("create", "namespace", namespace)
        plane.apply(
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "RemediationPolicy",
                "metadata": {"name": namespace},
                "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]},
            }
        )
        plane.apply({**RUNBOOK, "metadata": {**RUNBOOK["metadata"], "namespace": namespace}})
        names = [f"svc-{i:03d}" for i in range(size)]
        items = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    },
                },
            }
            for name in names
        ]
        plane.apply({"apiVersion": "v1", "kind": "List", "items": items})
        storm = cls(plane, namespace, names)
        now = datetime.now(UTC)
        for name in names:
            labels = {"alertname": ALERTNAME, "namespace": namespace, "deployment": name, "severity": "critical"}
            storm.notifications[name] = am_payload(am_alert(labels, starts_at=now))
        return storm

    def labels(self, name: str) -> dict[str, str]:
        return dict(self.notifications[name]["alerts"][0]["labels"])

    def list(self, plural: str) -> list[dict[str, Any]]:
        """Incidents or alerts of the storm's namespace (counted: a read of onduty's API group)."""
        self.own_reads += 1
        return list(self.plane.get_json(f"{plural}.onduty.dev", "-n", self.namespace)["items"])

    def deployment(self, name: str) -> dict[str, Any]:
        return self.plane.get_json("deployment", name, "-n", self.namespace)

    def finished(self) -> list[dict[str, Any]] | None:
        """Every incident, once there is one per Deployment and each has finished its remediation."""
        incidents = self.list("incidents")
        done = [
            i
            for i in incidents
            if (i.get("status") or {}).get("phase") == "Mitigated"
            and all(a.get("finishedAt") for a in i["status"].get("actions") or [])
        ]
        return incidents if len(incidents) == len(self.deployments) and len(done) == len(incidents) else None

    def wait_finished(self, timeout: float = FINISH_SECONDS) -> list[dict[str, Any]]:
        try:
            return wait_for(self.finished, timeout=timeout, interval=1.0, what="every incident to be remediated")
        except AssertionError as error:
            seen = [
                {"name": i["metadata"]["name"], **{k: (i.get("status") or {}).get(k) for k in ("phase", "actions")}}
                for i in self.list("incidents")
            ]
            raise AssertionError(f"{error}\n{json.dumps(seen, indent=1)[:6000]}") from None

    def drop(self) -> None:
        self.plane.kubectl("delete", "remediationpolicy.onduty.dev", self.namespace, "--wait=false", check=False)
        drop_namespace(self.plane, self.namespace)  # onduty is stopped: its finalizers are taken off first
        # Gone before the next test's onduty starts, so that one sees none of this test's objects.
        wait_for(
            lambda: "NotFound" in self.plane.kubectl("get", "namespace", self.namespace, check=False).stderr,
            timeout=120,
            interval=1.0,
            what=f"namespace {self.namespace} to be deleted",
        )


class Sender:
    """Alertmanager's side of the webhook: notifications are sent concurrently, and every one not answered
    200 is kept and sent again later, as Alertmanager retries a failed notification."""

    def __init__(self, url: str) -> None:
        self.url = url + "/api/v1/alerts"
        self.pending: dict[str, dict[str, Any]] = {}
        self.answers: list[tuple[int, float]] = []  # (status, seconds to answer) of every attempt
        self._lock = threading.Lock()

    def send(self, notifications: dict[str, dict[str, Any]]) -> list[int]:
        """Send each once, concurrently; those not answered 200 stay pending. The statuses, in order."""

        def one(item: tuple[str, dict[str, Any]]) -> int:
            key, payload = item
            began = time.monotonic()
            try:
                status = post_json(self.url, payload, timeout=ANSWER_SECONDS + 5)[0]
            except OSError:  # no answer at all (a timeout): Alertmanager retries that too
                status = 0
            with self._lock:
                self.answers.append((status, time.monotonic() - began))
                if status == 200:
                    self.pending.pop(key, None)
                else:
                    self.pending[key] = payload
            return status

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, notifications.items()))

    def resend_until_accepted(self, timeout: float = 90.0) -> None:
        def accepted() -> bool:
            self.send(dict(self.pending))
            return not self.pending

        wait_for(accepted, timeout=timeout, interval=1.0, what="every notification to be accepted after retries")

    def count(self, status: int) -> int:
        return sum(1 for code, _ in self.answers if code == status)


@pytest.fixture
def onduty(storm: Storm) -> Iterator[list[OperatorProcess]]:
    """The test's onduty processes, stopped before its storm's namespace goes (hence after ``storm``)."""
    started: list[OperatorProcess] = []
    yield started
    for proc in started:
        proc.stop()


@pytest.fixture
def storm(plane: Plane) -> Iterator[Storm]:
    plane.heal()
    storm = Storm.create(plane, INCIDENTS)
    yield storm
    plane.heal()
    storm.drop()


def assert_each_alert_stored_and_each_incident_remediated_once(storm: Storm, incidents: list[dict[str, Any]]) -> None:
    alerts = storm.list("alerts")
    stored = sorted(a["spec"]["fingerprint"] for a in alerts)
    assert stored == sorted(fingerprint(storm.labels(name)) for name in storm.deployments), "one Alert per alert"

    by_workload: dict[str, dict[str, Any]] = {}
    for incident in incidents:
        name = incident["spec"]["workload"]["name"]
        assert name not in by_workload, f"two incidents for {name}"
        by_workload[name] = incident
    assert sorted(by_workload) == sorted(storm.deployments)
    for name, incident in by_workload.items():
        status = incident["status"]
        [action] = status["actions"]  # one action: none repeated, none added by a retry
        assert (action["action"], action["state"]) == ("rolloutRestart", "Succeeded"), action
        applied = [e for e in status.get("timeline") or [] if e["reason"] == "RemediationApplied"]
        assert len(applied) == 1, f"{name}: applied {len(applied)} times: {applied}"
        deployment = storm.deployment(name)
        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        assert annotations.get(ACTION_ID) == action["id"], f"{name}: not restarted by its incident's action"
        # Created at generation 1, one restart: 2. A second restart (even of the same action) would be 3.
        assert deployment["metadata"]["generation"] == 2, f"{name} restarted more than once"


# --- kube-apiserver or etcd SIGKILLed during the storm ------------------------------------------------


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_a_crashed_component_loses_and_repeats_nothing(
    component: str, plane: Plane, storm: Storm, onduty: list[OperatorProcess], tmp_path: Path, record_property: Any
) -> None:
    operator = OperatorProcess(kubeconfig=plane.kubeconfig, log_dir=tmp_path)
    onduty.append(operator.start())
    sender = Sender(operator.url)
    half = len(storm.deployments) // 2
    first = {n: storm.notifications[n] for n in storm.deployments[:half]}
    rest = {n: storm.notifications[n] for n in storm.deployments[half:]}

    assert set(sender.send(first)) == {200}
    # The component dies while the first half is being remediated: one restart has begun, others are
    # at earlier steps (alert to incident, runbook matched) or later ones (verification).
    wait_for(
        lambda: any((i.get("status") or {}).get("actions") for i in storm.list("incidents")),
        timeout=FINISH_SECONDS,
        interval=0.1,
        what="a first remediation to begin",
    )
    killed = time.monotonic()
    plane.local.kill_component(component)
    statuses = sender.send(rest)
    slowest = max(seconds for _, seconds in sender.answers[-len(rest) :])
    assert statuses == [503] * len(rest), f"while {component} is down the bridge must answer 503: {statuses}"
    assert slowest < ANSWER_SECONDS
    wait_for(
        lambda: time.monotonic() - killed >= DOWN_SECONDS,
        timeout=DOWN_SECONDS + 5,
        interval=0.5,
        what=f"{component} to have been down {DOWN_SECONDS:g}s",
    )

    plane.local.restart_component(component)
    back = time.monotonic()
    before = plane.onduty_requests()  # the API server's counter restarts with it
    reads_before = storm.own_reads
    sender.resend_until_accepted()
    incidents = storm.wait_finished()
    recovered = time.monotonic() - back
    onduty_requests = plane.onduty_requests() - before - (storm.own_reads - reads_before)

    assert_each_alert_stored_and_each_incident_remediated_once(storm, incidents)
    assert operator.process is not None and operator.process.alive(), operator.tail()
    # Each incident costs onduty a few dozen requests to its own API group (alert, incident, status
    # writes, verification polls); a client that retried in a tight loop would cost thousands.
    assert onduty_requests < 200 * len(storm.deployments), onduty_requests
    record_property("incidents", len(storm.deployments))
    record_property("seconds_down", back - killed)
    record_property("answered_503", sender.count(503))
    record_property("slowest_503_seconds", slowest)
    record_property("seconds_to_recover", recovered)
    record_property("onduty_requests_during_recovery", onduty_requests)


# --- a partition-like fault: the link to the API server stalls, drops, slows -----------------------------


def test_a_stalled_dropped_and_slow_api_server_link_loses_and_repeats_nothing(
    plane: Plane, storm: Storm, onduty: list[OperatorProcess], tmp_path: Path, record_property: Any
) -> None:
    proxy = FaultProxy(plane.local.ports["kube-apiserver"]).start()
    try:
        kubeconfig = proxy.kubeconfig_for(plane.kubeconfig, tmp_path / "via-proxy.kubeconfig")
        operator = OperatorProcess(kubeconfig=kubeconfig, log_dir=tmp_path)
        onduty.append(operator.start())
        sender = Sender(operator.url)
        waves = [storm.deployments[i::3] for i in range(3)]
        assert all(waves), f"ONDUTY_FAULT_INCIDENTS={INCIDENTS}: three waves need at least 3 incidents"
        before = plane.onduty_requests()
        reads_before = storm.own_reads
        figures: dict[str, float] = {}

        def hold(what: str, began: float) -> None:
            """Keep the fault for FAULT_SECONDS (a fault lasts a while; nothing to wait for but time)."""
            wait_for(lambda: time.monotonic() - began >= FAULT_SECONDS, timeout=FAULT_SECONDS + 5, what=what)

        # Pause: each wave is accepted, then the link goes silent while its remediation runs.
        assert set(sender.send({n: storm.notifications[n] for n in waves[0]})) == {200}
        paused = time.monotonic()
        proxy.pause()
        # The bridge's own request hangs behind the pause too: it gives up within its timeouts and says 503
        # (what it sent may still reach the API server once the link flows again: the retry finds it).
        early = waves[1][0]
        [status] = sender.send({early: storm.notifications[early]})
        assert status == 503, f"while the API server is silent the bridge must answer 503, not {status}"
        figures["seconds_to_503_when_silent"] = sender.answers[-1][1]
        hold("a pause", paused)
        proxy.pass_through()

        # Drop: connections reset, new ones refused; the bridge says 503 at once, and is retried.
        assert set(sender.send({n: storm.notifications[n] for n in waves[1]})) == {200}
        at_drop = proxy.counts_now()
        dropped = time.monotonic()
        proxy.drop()
        extra = storm.notifications[waves[2][0]]
        [status] = sender.send({waves[2][0]: extra})
        assert status == 503, f"while the API server refuses connections the bridge must answer 503, not {status}"
        hold("a drop", dropped)
        during_drop = proxy.counts_now()
        proxy.pass_through()
        figures["connections_tried_during_drop"] = during_drop.accepted - at_drop.accepted
        figures["drop_seconds"] = time.monotonic() - dropped

        # Delay: every byte each way 300 ms late, until the storm is over.
        proxy.delay(0.3)
        sender.send({n: storm.notifications[n] for n in waves[2][1:]})
        sender.resend_until_accepted()
        began = time.monotonic()
        incidents = storm.wait_finished()
        figures["seconds_to_finish_under_delay"] = time.monotonic() - began
        proxy.pass_through()

        assert_each_alert_stored_and_each_incident_remediated_once(storm, incidents)
        assert operator.process is not None and operator.process.alive(), operator.tail()
        onduty_requests = plane.onduty_requests() - before - (storm.own_reads - reads_before)
        assert onduty_requests < 200 * len(storm.deployments), onduty_requests
        # A refused client backs off: a few reconnects a second per watch, not a tight loop.
        assert figures["connections_tried_during_drop"] < 100 * figures["drop_seconds"], figures
        record_property("incidents", len(storm.deployments))
        record_property("answered_503", sender.count(503))
        record_property("onduty_requests", onduty_requests)
        for name, value in figures.items():
            record_property(name, value)
    finally:
        for proc in onduty:  # before the proxy goes: its log should end with the test, not with a lost link
            proc.stop()
        proxy.stop()
