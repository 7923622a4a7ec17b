#!/usr/bin/env python3
"""Benchmark: onduty SIGKILLed at random moments while it remediates, restarted each time.

N incidents (default 50, one Deployment each, so no cooldown or grouping ties them together) arrive
in a seeded random pattern while a real ``onduty run`` remediates them (a runbook with one
``rolloutRestart`` step, a cooldown and a verify); K times (default 20) it is SIGKILLed at a seeded
random moment and started again. Then, once every incident has settled (bounded), it checks:

* every incident ends correct: one incident per Deployment, phase ``Mitigated``, one action record
  for the step, ``Succeeded``, verified once (one ``RemediationApplied``, one ``RemediationSucceeded``);
* every action applied at most once: a watch on the Deployments, running through the whole run,
  records every distinct pod-template restart (``onduty.dev/action-id`` with
  ``kubectl.kubernetes.io/restartedAt``), so a restart overwritten by a second one still counts;
  the ReplicaSets each Deployment owns say the same;
* nothing stuck: no action left claimed or applied and not verified, every incident settled within
  the bound.

    python hack/bench_chaos.py [--incidents 50] [--kills 20] [--seed S] [--kubeconfig FILE]

Without --kubeconfig it starts (and stops) its own local control plane. The seed fixes the schedule
(which alert arrives when, when each kill comes); the operator's own timing is the machine's, so a
replay reproduces the schedule, not every interleaving. Exits 1 on any violation, naming the incident
and the seed that replays it; the operator's logs (one per start) stay in the printed directory.

The core (:func:`run_chaos`) is imported by tests/integration/test_operator_chaos.py, which runs a
small configuration in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (str(REPO / "hack"), str(REPO / "operator" / "src")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import controlplane  # noqa: E402
from alertmanager_webhook import am_alert, am_payload, post_json  # noqa: E402
from onduty.adapters.kube import Cluster, Conflict, load_client  # noqa: E402
from operator_process import OperatorProcess  # noqa: E402
from processes import ProcessError, wait_until  # noqa: E402

ACTION_ID = "onduty.dev/action-id"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ALERTNAME = "ChaosAlert"
STEP = "restart"
# Where an incident has settled: nothing more will happen to it without a human or its alerts.
SETTLED = ("Mitigated", "Escalated", "Resolved")
# Open action states (the domain's TERMINAL complement): claimed, applied or held, not finished.
OPEN_STATES = ("Pending", "Applied", "AwaitingApproval")


@dataclass(frozen=True)
class ChaosConfig:
    incidents: int = 50
    kills: int = 20
    seed: int = 0
    # One ready pod per Deployment on kwok's node: a restart rolls out a real (fake) pod, so the
    # verify waits for the Deployment controller and kwok, which widens the window kills land in.
    replicas: int = 1
    # A round's alerts arrive within this many seconds of the operator being ready again, and its kill
    # comes this long after the round's last alert was taken (both uniform, seeded). Here an incident is
    # opened, its restart applied and verified within a second or two of its alert, so these short
    # windows make kills land mid-ingest, mid-claim, mid-apply and mid-verify (and, in rounds without
    # alerts, mid-resume at start-up), not on an idle operator.
    arrive_within: float = 1.5
    kill_after: tuple[float, float] = (0.0, 1.0)
    # After the last restart every incident must settle within this: on 2 busy cores a verify of a
    # fresh restart takes seconds; minutes means something is stuck.
    settle_seconds: float = 300.0


@dataclass(frozen=True)
class Round:
    """One operator lifetime: these alerts arrive at these offsets (s); then, but in the last, a kill
    ``kill_at`` seconds after the last of them was taken."""

    alerts: tuple[tuple[float, str], ...]
    kill_at: float | None


def schedule(config: ChaosConfig, deployments: list[str]) -> list[Round]:
    """The seeded plan: each Deployment's alert goes to a random operator lifetime, at a random moment in it."""
    rng = random.Random(config.seed)
    order = list(deployments)
    rng.shuffle(order)
    buckets: list[list[str]] = [[] for _ in range(config.kills + 1)]
    for name in order:
        buckets[rng.randrange(len(buckets))].append(name)
    rounds = []
    for i, bucket in enumerate(buckets):
        alerts = tuple(sorted((rng.uniform(0, config.arrive_within), name) for name in bucket))
        kill_at = rng.uniform(*config.kill_after) if i < config.kills else None
        rounds.append(Round(alerts, kill_at))
    return rounds


class RestartWatch:
    """Every distinct restart each Deployment's pod template showed, from a list and a watch that never lapses.

    A restart is a distinct (``onduty.dev/action-id``, ``restartedAt``) pair: a second restart with
    the same action id still changes ``restartedAt`` (unless in the same second, when it rolls nothing
    out). A watch that expires or fails is recorded in ``errors``: the count is then not exact.
    """

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig, self.namespace = kubeconfig, namespace
        self.restarts: dict[str, list[tuple[str, str]]] = {}
        self.events = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="restart-watch")

    def __enter__(self) -> RestartWatch:
        self._thread.start()
        if not self._ready.wait(60) or self.errors:
            raise RuntimeError(f"the Deployment watch did not start: {self.errors}")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def seen(self) -> dict[str, list[tuple[str, str]]]:
        with self._lock:
            return {name: list(pairs) for name, pairs in self.restarts.items()}

    def _observe(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        annotations = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations") or {}
        with self._lock:
            self.events += 1
            pairs = self.restarts.setdefault(name, [])
            if annotations.get(ACTION_ID):
                pair = (str(annotations[ACTION_ID]), str(annotations.get(RESTARTED_AT, "")))
                if pair not in pairs:
                    pairs.append(pair)

    def _run(self) -> None:
        from kubernetes import client, watch

        api = load_client(self.kubeconfig)
        apps = client.AppsV1Api(api)
        try:
            body = Cluster(api).request("GET", f"/apis/apps/v1/namespaces/{self.namespace}/deployments")
            for item in body["items"]:
                self._observe(item)
            version = body["metadata"]["resourceVersion"]
            self._ready.set()
            while not self._stop.is_set():
                stream = watch.Watch()
                # Short server-side timeouts: the loop notices a stop, and resumes from the last version seen.
                for event in stream.stream(
                    apps.list_namespaced_deployment,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=5,
                    allow_watch_bookmarks=True,
                ):
                    obj = event["raw_object"]
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"watch error: {obj}")
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._observe(obj)
        except Exception as error:  # an expired or broken watch: the count is not exact any more
            if not self._stop.is_set():
                self.errors.append(repr(error))
        finally:
            self._ready.set()
            api.close()


@dataclass
class ChaosResult:
    config: ChaosConfig
    namespace: str
    log_dir: Path
    seconds: float = 0.0
    settle_seconds: float = 0.0  # from the last alert to every incident settled
    kills: int = 0
    # Per kill: actions claimed or applied and not yet verified when it struck (what the kill interrupted).
    in_flight_at_kill: list[int] = field(default_factory=list)
    # Per kill: incidents whose alert was taken and that had not settled (or not yet opened) when it struck.
    unsettled_at_kill: list[int] = field(default_factory=list)
    # Over all kills: where each unsettled incident was when a kill struck (see :func:`stage`).
    interrupted: Counter[str] = field(default_factory=Counter)
    restarts: dict[str, int] = field(default_factory=dict)  # Deployment -> distinct restarts seen
    violations: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)  # incident -> its status, for each violation

    @property
    def replay(self) -> str:
        c = self.config
        return f"python hack/bench_chaos.py --incidents {c.incidents} --kills {c.kills} --seed {c.seed}"

    def report(self) -> str:
        total = sum(self.restarts.values())
        interrupted = "; ".join(f"{n} {what}" for what, n in sorted(self.interrupted.items()))
        lines = [
            f"operator chaos: seed {self.config.seed}, {self.kills} SIGKILLs, {self.config.incidents} incidents",
            f"  time {self.seconds:.1f}s (every incident settled {self.settle_seconds:.1f}s after the last alert)",
            f"  restarts counted {total} on {len(self.restarts)} Deployments"
            f" (max {max(self.restarts.values(), default=0)} on one)",
            f"  at each kill, actions in flight: {self.in_flight_at_kill}",
            f"  at each kill, incidents not yet settled: {self.unsettled_at_kill}",
            f"  kills interrupted: {interrupted or 'nothing'}",
            f"  violations: {len(self.violations)}",
            *(f"    - {v}" for v in self.violations),
            f"  operator logs: {self.log_dir}",
            f"  replay: {self.replay}",
        ]
        return "\n".join(lines)


def deployment_body(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": "registry.local/app:1.0"}],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }


def arrange(cluster: Cluster, namespace: str, config: ChaosConfig) -> list[str]:
    """The namespace's policy, runbook and Deployments (available); returns the Deployments' names."""
    with contextlib.suppress(Conflict):
        cluster.request(
            "POST",
            "/api/v1/namespaces",
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
    with contextlib.suppress(Conflict):  # onduty's own namespace
        cluster.request(
            "POST",
            "/api/v1/namespaces",
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "onduty-system"}},
        )
    cluster.request(
        "POST",
        "/apis/onduty.dev/v1alpha1/remediationpolicies",
        body={
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": f"chaos-{namespace}"},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]},
        },
    )
    cluster.create(
        "runbooks",
        namespace,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "chaos"},
            "spec": {
                "match": {"alertnames": [ALERTNAME]},
                "remediation": {
                    "steps": [
                        {
                            "name": STEP,
                            "action": "rolloutRestart",
                            # Long enough that a second restart of one Deployment within the run is refused.
                            "cooldown": "1h",
                            "verify": {"rolloutHealthyWithin": "3m"},
                        }
                    ]
                },
            },
        },
    )
    names = [f"svc-{i:03d}" for i in range(config.incidents)]
    for name in names:
        cluster.request(
            "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=deployment_body(name, config.replicas)
        )

    def available() -> bool:
        items = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"]
        return len(items) == len(names) and all(
            (d.get("status") or {}).get("availableReplicas", 0) == config.replicas for d in items
        )

    if config.replicas:
        wait_until(available, timeout=180, interval=0.5, what=f"{len(names)} Deployments to be available")
    return names


def fire(url: str, namespace: str, deployment: str, deadline: float) -> None:
    """One alert for ``deployment``; retried while the bridge does not take it, as Alertmanager retries."""
    labels = {"alertname": ALERTNAME, "namespace": namespace, "deployment": deployment, "severity": "critical"}
    payload = am_payload(am_alert(labels, starts_at=datetime.now(UTC)))
    last = ""
    while time.monotonic() < deadline:
        try:
            code, body = post_json(url + "/api/v1/alerts", payload, timeout=10)
        except OSError as error:
            code, body = 0, {"error": repr(error)}
        if code == 200:
            return
        last = f"{code} {body}"
        time.sleep(0.5)
    raise RuntimeError(f"the bridge did not take the alert for {deployment}: {last}")


def target(incident: dict[str, Any]) -> str:
    return str(((incident.get("spec") or {}).get("workload") or {}).get("name", "?"))


def stage(incident: dict[str, Any] | None) -> str:
    """Where an unsettled incident is in its remediation (what a kill there interrupts)."""
    if incident is None:
        return "alert taken, no incident yet"
    actions = (incident.get("status") or {}).get("actions") or []
    if any(a.get("state") == "Applied" for a in actions):
        return "restart applied, verifying"
    if any(a.get("state") == "Pending" and a.get("startedAt") for a in actions):
        return "restart claimed, not applied"
    return "incident opened, restart not claimed"


def open_actions(incidents: list[dict[str, Any]]) -> int:
    return sum(
        1
        for inc in incidents
        for a in (inc.get("status") or {}).get("actions") or []
        if a.get("state") in OPEN_STATES and (a.get("startedAt") or a.get("state") == "Applied")
    )


def settled(incident: dict[str, Any]) -> bool:
    status = incident.get("status") or {}
    actions = status.get("actions") or []
    return status.get("phase") in SETTLED and not any(a.get("state") in OPEN_STATES for a in actions)


def summary(incident: dict[str, Any]) -> dict[str, Any]:
    status = incident.get("status") or {}
    return {
        "phase": status.get("phase"),
        "lastAction": status.get("lastAction"),
        "waitingFor": status.get("waitingFor"),
        "actions": status.get("actions"),
        "timeline": [f"{e.get('time')} {e.get('reason')}: {e.get('message')}" for e in status.get("timeline") or []],
    }


def judge(
    result: ChaosResult,
    incidents: list[dict[str, Any]],
    deployments: list[str],
    restarts: dict[str, list[tuple[str, str]]],
    replica_sets: Counter[str],
) -> None:
    """Every correctness property, each violation naming its incident (or Deployment)."""
    by_target: dict[str, list[dict[str, Any]]] = {}
    for inc in incidents:
        by_target.setdefault(target(inc), []).append(inc)

    def violate(what: str, inc: dict[str, Any] | None = None) -> None:
        result.violations.append(what)
        if inc is not None:
            result.evidence[inc["metadata"]["name"]] = summary(inc)

    for name in deployments:
        seen = restarts.get(name, [])
        result.restarts[name] = len(seen)
        mine = by_target.get(name, [])
        if len(mine) != 1:
            violate(f"Deployment {name}: {len(mine)} incidents, not 1 ({[i['metadata']['name'] for i in mine]})")
            for inc in mine:
                result.evidence[inc["metadata"]["name"]] = summary(inc)
            continue
        [inc] = mine
        iname, status = inc["metadata"]["name"], inc.get("status") or {}
        if len(seen) > 1:
            violate(f"incident {iname}: Deployment {name} restarted {len(seen)} times: {seen}", inc)
        elif not seen:
            violate(f"incident {iname}: Deployment {name} never restarted", inc)
        if replica_sets[name] > 2:
            violate(f"incident {iname}: Deployment {name} owns {replica_sets[name]} ReplicaSets (one restart: 2)", inc)
        if not settled(inc):
            violate(f"incident {iname}: stuck in phase {status.get('phase')} ({status.get('lastAction')})", inc)
            continue
        if status.get("phase") != "Mitigated":
            violate(f"incident {iname}: phase {status.get('phase')}, not Mitigated", inc)
        # Its one alert still fires (nothing resolved it): the counts that decide when it resolves say so.
        counts = {k: status.get(k) for k in ("firingAlerts", "totalAlerts")}
        if counts != {"firingAlerts": 1, "totalAlerts": 1}:
            violate(f"incident {iname}: alert counts {counts}, not 1 firing of 1", inc)
        records = [a for a in status.get("actions") or [] if a.get("step") == STEP]
        if len(records) != 1 or records[0].get("state") != "Succeeded":
            states = [a.get("state") for a in records]
            violate(f"incident {iname}: step {STEP} has records {states}, not one Succeeded", inc)
            continue
        [action] = records
        if any(action_id != action["id"] for action_id, _ in seen):
            violate(f"incident {iname}: Deployment {name} carries another action's restart: {seen}", inc)
        reasons = Counter(e.get("reason") for e in status.get("timeline") or [])
        for reason in ("RemediationApplied", "RemediationSucceeded"):
            if reasons[reason] != 1:
                violate(f"incident {iname}: {reasons[reason]} {reason} timeline entries, not 1", inc)
    for inc in incidents:
        if target(inc) not in deployments:
            violate(f"incident {inc['metadata']['name']}: on {target(inc)}, not one of the Deployments", inc)


def run_chaos(
    kubeconfig: Path,
    log_dir: Path,
    config: ChaosConfig,
    *,
    namespace: str | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> ChaosResult:
    """Arrange, run the seeded schedule of alerts and kills against a real ``onduty run``, then judge."""
    namespace = namespace or f"chaos-{uuid.uuid4().hex[:6]}"
    result = ChaosResult(config, namespace, log_dir)
    api = load_client(kubeconfig)
    cluster = Cluster(api)
    operator = OperatorProcess(kubeconfig=kubeconfig, log_dir=log_dir)
    began = time.monotonic()
    try:
        deployments = arrange(cluster, namespace, config)
        plan = schedule(config, deployments)
        with RestartWatch(kubeconfig, namespace) as watch:
            operator.start()
            fired: set[str] = set()
            for i, round_ in enumerate(plan):
                started = time.monotonic()
                for offset, name in round_.alerts:
                    time.sleep(max(0.0, started + offset - time.monotonic()))  # the seeded arrival
                    fire(operator.url, namespace, name, deadline=time.monotonic() + 60)
                    fired.add(name)
                if round_.kill_at is None:
                    break
                time.sleep(round_.kill_at)  # the seeded kill moment
                if not (operator.process and operator.process.alive()):
                    raise RuntimeError(f"onduty exited by itself before kill {i + 1}:\n{operator.tail()}")
                operator.kill()
                result.kills += 1
                # What the kill interrupted (the operator is gone: this is the state it left).
                incidents = cluster.list("incidents", namespace)
                done = {target(i) for i in incidents if settled(i)}
                result.in_flight_at_kill.append(open_actions(incidents))
                result.unsettled_at_kill.append(len(fired - done))
                by_name = {target(i): i for i in incidents}
                result.interrupted.update(stage(by_name.get(name)) for name in fired - done)
                progress(
                    f"  kill {result.kills}/{config.kills} at +{time.monotonic() - started:.2f}s:"
                    f" {len(round_.alerts)} alerts this round, {result.unsettled_at_kill[-1]} incidents unsettled,"
                    f" {result.in_flight_at_kill[-1]} actions in flight"
                )
                operator.start()
            last_start = time.monotonic()

            def all_settled() -> bool:
                incidents = cluster.list("incidents", namespace)
                return len(incidents) >= len(deployments) and all(settled(i) for i in incidents)

            try:
                wait_until(
                    all_settled,
                    timeout=config.settle_seconds,
                    interval=1.0,
                    what="every incident to settle",
                    watch=[operator.process] if operator.process else [],
                )
            except ProcessError as error:  # a timeout is judged below, incident by incident
                if not (operator.process and operator.process.alive()):
                    result.violations.append(f"onduty exited by itself after the last restart: {error}")
            result.settle_seconds = time.monotonic() - last_start
            # Let the watch catch up with the last writes (it resumes every few seconds at most).
            marker = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")
            expected = {
                d["metadata"]["name"]: (
                    (d["spec"]["template"].get("metadata") or {}).get("annotations", {}).get(ACTION_ID),
                    (d["spec"]["template"].get("metadata") or {}).get("annotations", {}).get(RESTARTED_AT, ""),
                )
                for d in marker["items"]
            }
            with contextlib.suppress(Exception):
                wait_until(
                    lambda: all(
                        pair[0] is None or pair in watch.seen().get(name, []) for name, pair in expected.items()
                    ),
                    timeout=30,
                    what="the watch to catch up",
                )
            restarts = watch.seen()
            if watch.errors:
                result.violations.append(f"the Deployment watch failed, restart counts may be short: {watch.errors}")
        result.seconds = time.monotonic() - began
        replica_sets: Counter[str] = Counter()
        for rs in cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/replicasets")["items"]:
            for owner in rs["metadata"].get("ownerReferences") or []:
                replica_sets[owner["name"]] += 1
        judge(result, cluster.list("incidents", namespace), deployments, restarts, replica_sets)
        return result
    finally:
        operator.stop()
        with contextlib.suppress(Exception):
            cluster.request("DELETE", f"/apis/onduty.dev/v1alpha1/remediationpolicies/chaos-{namespace}")
        api.close()


def install_crds(kubeconfig: Path) -> None:
    kubectl = [str(controlplane.find_binaries() / "kubectl"), "--kubeconfig", str(kubeconfig)]
    subprocess.run([*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True, capture_output=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"],
        check=True,
        capture_output=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, help="replays a run's schedule (default: a fresh one, printed)")
    parser.add_argument("--replicas", type=int, default=1, help="pods per Deployment (kwok runs them)")
    parser.add_argument("--kubeconfig", type=Path)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    config = ChaosConfig(incidents=args.incidents, kills=args.kills, seed=seed, replicas=args.replicas)
    print(f"seed {seed}", file=sys.stderr)

    work = Path(tempfile.mkdtemp(prefix="onduty-chaos-"))
    local = None
    if args.kubeconfig is None:
        print("starting a local control plane ...", file=sys.stderr)
        local = controlplane.LocalCluster.start(work / "cluster")
        kubeconfig = local.kubeconfig
    else:
        kubeconfig = args.kubeconfig
    try:
        install_crds(kubeconfig)
        result = run_chaos(kubeconfig, work / "logs", config, progress=lambda line: print(line, file=sys.stderr))
    except Exception:
        replay = f"python hack/bench_chaos.py --incidents {config.incidents} --kills {config.kills} --seed {seed}"
        print(f"the run broke off (operator logs in {work / 'logs'}); replay: {replay}", file=sys.stderr)
        raise
    finally:
        if local is not None:
            local.stop()
    print(result.report())
    if result.evidence:
        evidence = work / "evidence.json"
        evidence.write_text(json.dumps(result.evidence, indent=1))
        print(f"  the violating incidents' status: {evidence}")
    print(
        json.dumps(
            {
                "seed": seed,
                "kills": result.kills,
                "incidents": config.incidents,
                "seconds": round(result.seconds, 1),
                "settle_seconds": round(result.settle_seconds, 1),
                "restarts": sum(result.restarts.values()),
                "violations": len(result.violations),
            }
        )
    )
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
