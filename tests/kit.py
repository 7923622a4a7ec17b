"""Shared test kit: waiting on conditions, the cluster set-ups tests share, onduty's CLI.

Waiting is always on a condition (``wait_for``), never a bare sleep. Processes (onduty, the control plane,
Prometheus, Alertmanager) are started through ``hack/processes.py``; Alertmanager's payloads come from
``hack/alertmanager_webhook.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from alertmanager_webhook import am_alert, am_payload, post_json
from operator_process import OperatorProcess
from processes import ProcessError, wait_until

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]


def wait_for(
    probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail the test with ``what`` after ``timeout``.

    Any exception of the probe counts as "not yet" (it may race the object's creation).
    """
    try:
        return wait_until(probe, timeout=timeout, interval=interval, what=what, tolerate=(Exception,))
    except ProcessError as error:
        raise AssertionError(str(error)) from None


def deployment_manifest(name: str, namespace: str, replicas: int = 2) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [{"name": "app", "image": "registry.local/app:1.0"}],
                        # kwok's fake node is the only node; tolerate its taint if it has one.
                        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                    },
                },
            },
        }
    )


# --- onduty as a chart installs it: its ServiceAccount under the RBAC the chart renders ----------------

CHART_RBAC_KINDS = {
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def helm_env(tmp: Path) -> dict[str, str]:
    """An environment for the real helm CLI whose config, cache and data stay in ``tmp``."""
    return {
        "HELM_CONFIG_HOME": str(tmp / "helm-config"),
        "HELM_CACHE_HOME": str(tmp / "helm-cache"),
        "HELM_DATA_HOME": str(tmp / "helm-data"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
    }


def drop_namespace(cluster: Any, namespace: str) -> None:
    """Delete a test's namespace; its incidents and alerts lose their finalizers first (the operator may be gone)."""
    for kind in ("incidents.onduty.dev", "alerts.onduty.dev"):
        for item in cluster.get_json(kind, "-n", namespace).get("items", []):
            if item["metadata"].get("finalizers"):
                cluster.kubectl(
                    "patch",
                    kind,
                    item["metadata"]["name"],
                    "-n",
                    namespace,
                    "--type=merge",
                    "-p",
                    '{"metadata":{"finalizers":null}}',
                    check=False,
                )
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def helm_template(helm: Path, tmp: Path, release: str, namespace: str, *values: str) -> list[dict[str, Any]]:
    """The chart rendered by the real helm CLI (``helm template``), as a list of objects."""
    import yaml

    result = subprocess.run(
        [str(helm), "template", release, str(REPO / "charts/onduty"), "-n", namespace, *values],
        capture_output=True,
        text=True,
        env=helm_env(tmp),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def install_chart_rbac(cluster: Any, tmp: Path, release: str, namespace: str, *values: str) -> Path:
    """Apply what the chart renders for onduty's identity (ServiceAccount, roles, bindings, admission
    policies) and return a kubeconfig that authenticates as that ServiceAccount (a TokenRequest token)."""
    import yaml

    rendered = [d for d in helm_template(cluster.bin_dir / "helm", tmp, release, namespace, *values)]
    objects = [d for d in rendered if d["kind"] in CHART_RBAC_KINDS]
    for doc in objects:
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            doc["metadata"].setdefault("namespace", namespace)
    cluster.kubectl("apply", "-f", "-", input_=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    account = next(d["metadata"]["name"] for d in objects if d["kind"] == "ServiceAccount")
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration", "2h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    kubeconfig = tmp / f"{release}-sa.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "local", "user": account}}],
                "current-context": "sa",
            }
        )
    )
    who = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json")
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:{account}"
    return kubeconfig


# --- Argo CD's own Application CRD, from its release module ------------------------------------------


_ARGOCD_CRD: list[Path] = []


def argocd_crd(cluster: Any = None) -> Path:
    """Argo CD's own Application CRD, as its release publishes it: hack/fetch-argocd-crd.sh takes it
    from Argo CD's Go module once and caches it (instant when cached). Given a cluster, also install
    it there and wait until it is Established. The path is returned either way.

    Installed by server-side apply (at ~400 kB the CRD is over the size limit of client-side apply's
    annotation) with --force-conflicts (every test module applies the same file, as kubectl)."""
    if not _ARGOCD_CRD:
        script = REPO / "hack/fetch-argocd-crd.sh"
        proc = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, timeout=900, check=False)
        lines = proc.stdout.split()
        if proc.returncode != 0 or not lines or not Path(lines[-1]).is_file():
            raise AssertionError(f"{script} failed (exit {proc.returncode}); its error is above")
        _ARGOCD_CRD.append(Path(lines[-1]))
    path = _ARGOCD_CRD[0]
    if cluster is not None:
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))

        # Not `kubectl wait`: on a CRD this new it fails at once while status.conditions is still unset.
        def established() -> bool:
            crd = cluster.get_json("crd", "applications.argoproj.io")
            conditions = (crd.get("status") or {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        wait_for(established, timeout=60, what="Argo CD's Application CRD to be Established")
    return path


# --- one remediation step through a running operator (the action tests' set-up) ------------------------


def apply_manifest(cluster: Any, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(obj))


def get_deployment(cluster: Any, namespace: str, name: str = "web") -> dict[str, Any]:
    return dict(cluster.get_json("deployment", name, "-n", namespace))


def open_step_incident(
    cluster: Any,
    namespace: str,
    step: dict[str, Any],
    *,
    policy: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    workload: str = "web",
) -> str:
    """A runbook with one step (named ``fix``), a policy allowing it, and a hand-made incident that
    triggers it on Deployment ``workload``; returns the incident's name."""
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "rb", "namespace": namespace},
            "spec": {"match": {"alertnames": ["Broken"]}, "remediation": {"steps": [{"name": "fix", **step}]}},
        },
    )
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": f"p-{namespace}"},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": [step["action"]], **(policy or {})},
        },
    )
    name = f"inc-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "title": "broken",
                "severity": "critical",
                "labels": {"alertname": "Broken", **(labels or {})},
                "workload": {"kind": "Deployment", "name": workload},
            },
        },
    )
    return name


def step_outcome(cluster: Any, namespace: str, name: str, timeout: float = 90) -> dict[str, Any]:
    """The incident's first action record, once it has a final state and the incident a phase that follows."""

    def probe() -> dict[str, Any] | None:
        inc = cluster.get_json("incident.onduty.dev", name, "-n", namespace)
        actions = (inc.get("status") or {}).get("actions") or []
        finished = actions and actions[0]["state"] in ("Succeeded", "Failed", "Denied", "DryRun")
        return dict(inc) if finished and inc["status"].get("phase") in ("Mitigated", "Escalated") else None

    try:
        incident = wait_for(probe, timeout=timeout, what=f"incident {name} to finish its step")
    except AssertionError as error:  # say where it got stuck
        status = cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}
        raise AssertionError(
            f"{error}: {json.dumps({k: status.get(k) for k in ('phase', 'actions', 'timeline')})}"
        ) from None
    return dict(incident["status"]["actions"][0])


# What runJob accepts by default: a pod that passes the restricted Pod Security Standard.
RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
}
RESTRICTED_CONTAINER = {"securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}


def create_argo_application(cluster: Any, kube: Any, namespace: str, *, automated: dict[str, Any]) -> dict[str, Any]:
    """An Application ``web`` on Argo CD's real CRD that Argo CD (played by nobody yet) synced twice:
    revision a…a (history id 0), then b…b (id 1)."""
    argocd_crd(cluster)
    source = {"repoURL": "https://git.example.com/shop.git", "path": "web", "targetRevision": "main"}
    history = [
        {"id": i, "revision": rev * 40, "deployedAt": f"2026-11-2{i}T10:00:00Z", "source": source}
        for i, rev in enumerate("ab")
    ]
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "source": source,
            "syncPolicy": {"automated": automated},
        },
        "status": {"history": history, "sync": {"status": "Synced", "revision": "b" * 40}},
    }
    return dict(kube.request("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications", body=body))


# --- what the README claims, through a running operator: shared by the claim tests ----------------------


def incident_where(
    cluster: Any, namespace: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 90
) -> dict[str, Any]:
    """The first incident in ``namespace`` whose whole object satisfies ``predicate``; on timeout the
    failure shows every incident's phase, actions and timeline."""
    try:
        return wait_for(
            lambda: next(
                (i for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"] if predicate(i)), None
            ),
            timeout=timeout,
            what=what,
        )
    except AssertionError as error:
        seen = [
            {k: (i.get("status") or {}).get(k) for k in ("phase", "actions", "timeline")}
            for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
        ]
        raise AssertionError(f"{error}\n{json.dumps(seen, indent=1)}") from None


def timeline_reasons(incident: dict[str, Any]) -> list[str]:
    return [e["reason"] for e in (incident.get("status") or {}).get("timeline", [])]


def verdicts(action: dict[str, Any]) -> list[dict[str, Any]]:
    """Every verdict of an action record: its passed checks (one line each) and its denials."""
    from onduty.domain.guardrails import read_recorded

    return read_recorded(action)


def verdict_reasons(action: dict[str, Any]) -> dict[str, str]:
    """guardrail -> reason of an action record's verdicts."""
    return {v["guardrail"]: v["reason"] for v in verdicts(action)}


def fire_alerts(url: str, *labelsets: dict[str, str]) -> dict[str, Any]:
    """One webhook notification carrying a firing alert per label set, starting now; the bridge must take it."""
    now = datetime.now(UTC)
    code, body = post_json(
        url + "/api/v1/alerts", am_payload(*(am_alert(labels, starts_at=now) for labels in labelsets))
    )
    assert code == 200, body
    return body


def onduty_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The ``onduty`` command as a user runs it (a subprocess of this interpreter)."""
    return subprocess.run(
        [sys.executable, "-m", "onduty.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class EnvConfiguredOperator(OperatorProcess):
    """``onduty run`` with no option but the connection and the bridge port: the rest (poll interval
    included, which :class:`OperatorProcess` always passes as a flag) comes from ``env``, as ONDUTY_*."""

    poll_flag = False


class InFlightWatch:
    """Remediation actions in flight in some namespaces, counted at every change the API server reports.

    A watch on incidents delivers every write of every incident, in resourceVersion order, without
    coalescing; so the count after each event is the exact number of actions that are claimed and not
    finished at that revision (in flight: ``startedAt`` set, ``finishedAt`` not yet: independent of the
    operator's own counting). An overlap of cap + 1 shows however briefly it lasted, which second-precision
    timestamps cannot show. A watch that expires (410) or fails is an error of the watch, never a pass::

        with InFlightWatch(cluster.kubeconfig, [namespace]) as flight:
            ...  # the storm
            wait_for(lambda: len(flight.finished) == 50)
        assert flight.errors == [] and flight.peak <= cap
    """

    def __init__(self, kubeconfig: Path, namespaces: Any) -> None:
        import threading

        self.kubeconfig = kubeconfig
        self.namespaces = frozenset(namespaces)
        self.peak = 0
        self.peak_actions: list[str] = []  # namespace/incident/action id of each action in flight at the peak
        self.events = 0
        self.claimed: set[str] = set()  # every action id seen in flight
        self.finished: set[str] = set()  # every action id seen finished after it was seen in flight
        self.errors: list[str] = []
        self._in_flight: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="in-flight-watch")

    def __enter__(self) -> InFlightWatch:
        self._thread.start()
        if not self._ready.wait(60):
            raise AssertionError("the incident watch did not start within 60 s")
        if self.errors:
            raise AssertionError(f"the incident watch failed: {self.errors}")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _observe(self, kind: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("namespace") not in self.namespaces:
            return
        key = (meta["namespace"], meta["name"])
        actions = (obj.get("status") or {}).get("actions") or []
        flying = {a["id"] for a in actions if a.get("startedAt") and not a.get("finishedAt")}
        done = {a["id"] for a in actions if a.get("startedAt") and a.get("finishedAt")}
        with self._lock:
            self.events += 1
            if kind == "DELETED":
                flying = set()
            self._in_flight[key] = flying
            self.claimed |= flying
            self.finished |= done & self.claimed
            total = sum(len(ids) for ids in self._in_flight.values())
            if total > self.peak:
                self.peak = total
                self.peak_actions = sorted(
                    f"{ns}/{name}/{i}" for (ns, name), ids in self._in_flight.items() for i in ids
                )

    def _run(self) -> None:
        from kubernetes import client, watch

        from onduty.adapters.kube import load_client

        api = load_client(self.kubeconfig)
        custom = client.CustomObjectsApi(api)
        try:
            listed = custom.list_cluster_custom_object("onduty.dev", "v1alpha1", "incidents")
            for item in listed["items"]:
                self._observe("ADDED", item)
            version = listed["metadata"]["resourceVersion"]
            self._ready.set()
            while not self._stop.is_set():
                stream = watch.Watch()
                # A short server-side timeout: the loop notices a stop, and resumes from the last version seen.
                for event in stream.stream(
                    custom.list_cluster_custom_object,
                    "onduty.dev",
                    "v1alpha1",
                    "incidents",
                    resource_version=version,
                    timeout_seconds=2,
                ):
                    obj = event["raw_object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._observe(event["type"], obj)
        except Exception as error:  # an expired or broken watch: the count is not exact any more
            self.errors.append(repr(error))
        finally:
            self._ready.set()
            api.close()
