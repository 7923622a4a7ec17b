"""The running cluster: start it in a run directory, attach to one recorded there, report on it, stop it.

Everything lives in the run directory: certificates, kubeconfigs, etcd data, logs and ``state.json``,
which records each component (PID, kernel start time, argv, log) as soon as it starts, so ``down``
stops exactly those processes even after the starter has exited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from _controlplane import components
from _controlplane.api import HttpsClient
from _controlplane.binaries import REPO_ROOT, check_bin_dir, find_binaries
from _controlplane.errors import ControlPlaneError
from _controlplane.kubeconfig import write_kubeconfig
from _controlplane.kwok import KWOK_CONFIGURATION, KWOK_LOG_KINDS, LOGS_NODE_NAME, NODE_NAME, fake_node, kwok_log_crd
from _controlplane.pki import Pki, make_pki
from processes import Process, ProcessError, free_ports, http_ok, wait_until

log = logging.getLogger("onduty.controlplane")

STATE_VERSION: Final = 1
# The ports chosen at start, by what listens there.
PORTS: Final = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Files and directories inside the run directory that belong to this module;
# only these are cleared by a new ``up``.
_OWNED_ENTRIES: Final = ("etcd", "pki", "logs", "kubeconfigs", "kubeconfig", "kwok.yaml", "state.json")


def default_run_dir() -> Path:
    """``<repo>/.run/cluster``, computed from this file's location."""
    return REPO_ROOT / ".run" / "cluster"


class LocalCluster:
    """A running local control plane (see ``hack/controlplane.py``).

    Use :meth:`start` to create one (blocks until ready), :meth:`attach` to
    pick up one started elsewhere (for example by ``controlplane.py up``).
    """

    def __init__(self, run_dir: Path, bin_dir: Path, ports: dict[str, int]) -> None:
        self.run_dir = run_dir
        self.bin_dir = bin_dir
        self.ports = ports
        self.components: list[Process] = []
        self.pki = Pki(run_dir / "pki")

    # -- public API -------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @classmethod
    def start(cls, run_dir: Path, bin_dir: Path | None = None) -> LocalCluster:
        """Start a fresh cluster in ``run_dir``; return once it is usable."""
        run_dir = Path(run_dir).resolve()
        _refuse_if_running(run_dir)
        if bin_dir is None:
            bin_dir = find_binaries()
        bin_dir = Path(bin_dir).resolve()
        check_bin_dir(bin_dir)
        cluster = cls(run_dir, bin_dir, dict(zip(PORTS, free_ports(len(PORTS)), strict=True)))
        began = time.monotonic()
        try:
            cluster._start_all()
        except BaseException:
            log.error("start-up failed; stopping what was started")
            with contextlib.suppress(Exception):
                cluster.stop()
            raise
        log.info(
            "control plane ready in %.1fs: %s (kubeconfig %s)",
            time.monotonic() - began,
            cluster.server,
            cluster.kubeconfig,
        )
        return cluster

    @classmethod
    def attach(cls, run_dir: Path) -> LocalCluster:
        """The cluster recorded in ``run_dir/state.json``."""
        run_dir = Path(run_dir).resolve()
        state_file = run_dir / "state.json"
        try:
            state = json.loads(state_file.read_text())
        except FileNotFoundError:
            raise ControlPlaneError(f"no cluster recorded in {run_dir} (no state.json)") from None
        if state.get("version") != STATE_VERSION:
            raise ControlPlaneError(f"{state_file}: unknown state version {state.get('version')!r}")
        cluster = cls(run_dir, Path(state["bin_dir"]), {k: int(v) for k, v in state["ports"].items()})
        cluster.components = [Process.attach(c) for c in state["components"]]
        return cluster

    def stop(self, timeout: float = 15.0) -> None:
        """Stop our processes in reverse start order (SIGTERM, then SIGKILL)."""
        began = time.monotonic()
        errors: list[str] = []
        for comp in reversed(self.components):
            if not comp.alive():
                log.info("%s (pid %d) is no longer running (or the pid was reused)", comp.name, comp.pid)
            try:
                comp.stop(timeout)  # leaves a reused PID alone; reaps a child that has exited
            except (ProcessError, OSError) as exc:
                errors.append(str(exc))
        self.components = [c for c in self.components if c.alive()]
        self._write_state()
        if errors:
            raise ControlPlaneError("; ".join(errors))
        log.info("control plane stopped in %.1fs", time.monotonic() - began)

    # -- faults, for tests of what survives a component's crash --------------

    def component(self, name: str) -> Process:
        """The running (or crashed) component ``name``, as recorded (``kube-apiserver``, ``etcd``, …)."""
        for comp in self.components:
            if comp.name == name:
                return comp
        raise ControlPlaneError(f"no component {name!r} in this cluster: {[c.name for c in self.components]}")

    def kill_component(self, name: str) -> None:
        """SIGKILL one component by its recorded PID (a crash: no clean shutdown); the rest keep running."""
        comp = self.component(name)
        log.info("killing %s (pid %d) with SIGKILL", name, comp.pid)
        comp.kill()
        if comp.alive():
            raise ControlPlaneError(f"{name} (pid {comp.pid}) still runs after SIGKILL")

    def restart_component(self, name: str, timeout: float = 90.0) -> Process:
        """Start a stopped or killed component again with the same argv (so the same ports, certificates and
        data), in its place in the start order (``stop`` still goes in reverse); return once it is healthy."""
        old = self.component(name)
        if old.alive():
            raise ControlPlaneError(f"{name} (pid {old.pid}) is still running; kill it first")
        new = Process.start(name, old.argv, log=old.log, cwd=self.run_dir)  # the same log, appended to
        self.components[self.components.index(old)] = new
        self._write_state()  # recorded at once, as at start-up
        self._wait(f"{name} healthy again", lambda: self._component_healthy(name), timeout, [new])
        if name == "etcd":  # the API server reconnects by itself; usable means it is ready again too
            api = self.component("kube-apiserver")
            self._wait("kube-apiserver ready again", lambda: self._component_healthy(api.name), timeout, [api, new])
        return new

    def _component_healthy(self, name: str) -> bool:
        if name == "etcd":
            return http_ok(f"http://127.0.0.1:{self.ports['etcd']}/health")
        if name == "kube-apiserver":
            return HttpsClient(self.pki).ok(f"{self.server}/readyz")
        return HttpsClient(self.pki, user=None).ok(f"https://127.0.0.1:{self.ports[name]}/healthz")

    def status(self) -> dict[str, Any]:
        """PIDs, liveness and API readiness, for humans and scripts."""
        try:
            ready = HttpsClient(self.pki).ok(f"{self.server}/readyz")
        except OSError:  # ssl.SSLError included
            ready = False
        return {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ready": ready,
            "components": {c.name: {"pid": c.pid, "running": c.alive(), "log": str(c.log)} for c in self.components},
        }

    def kubectl(
        self, *args: str, timeout: float = 120.0, check: bool = True, input_: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the bundled kubectl against this cluster."""
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, input=input_)
        if check and proc.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start-up -----------------------------------------------------------

    def _start_all(self) -> None:
        self._prepare_run_dir()
        t0 = time.monotonic()
        make_pki(self.pki)
        kcfg = self.run_dir / "kubeconfigs"
        write_kubeconfig(self.kubeconfig, self.server, self.pki, "admin")
        for user in ("kube-controller-manager", "kube-scheduler", "kwok"):
            write_kubeconfig(kcfg / f"{user}.kubeconfig", self.server, self.pki, user)
        (self.run_dir / "kwok.yaml").write_text(KWOK_CONFIGURATION)
        log.info("certificates and kubeconfigs written (%.1fs)", time.monotonic() - t0)
        self._write_state()

        admin = HttpsClient(self.pki)
        anon = HttpsClient(self.pki, user=None)
        run_dir, bin_dir, pki, ports = self.run_dir, self.bin_dir, self.pki, self.ports

        etcd = self._spawn("etcd", components.etcd_args(run_dir, ports))
        self._wait(
            f"etcd /health on port {ports['etcd']}",
            lambda: http_ok(f"http://127.0.0.1:{ports['etcd']}/health"),
            30,
            [etcd],
        )

        api = self._spawn("kube-apiserver", components.apiserver_args(pki, ports))
        self._wait(
            f"kube-apiserver /readyz on port {ports['kube-apiserver']}",
            lambda: admin.ok(f"{self.server}/readyz"),
            90,
            [api, etcd],
        )

        for kind in KWOK_LOG_KINDS:
            self._create(admin, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kwok_log_crd(kind))
        kcm = self._spawn("kube-controller-manager", components.kcm_args(run_dir, pki, ports))
        sched = self._spawn("kube-scheduler", components.scheduler_args(run_dir, pki, ports))
        # kwok lists its log objects once, when it starts: their CRDs must be served by then
        # (a failed list is retried with back-off, which would leave logs unserved for seconds).
        self._wait(
            "kwok's log CRDs established",
            lambda: all(self._crd_established(admin, kind) for kind in KWOK_LOG_KINDS),
            60,
            [api],
        )
        kwok = self._spawn("kwok", components.kwok_args(run_dir, bin_dir, pki, ports))
        self._create(admin, "/api/v1/nodes", fake_node())
        self._create(admin, "/api/v1/nodes", fake_node(LOGS_NODE_NAME, kubelet_port=ports["kwok"]))
        for comp in (kcm, sched):
            url = f"https://127.0.0.1:{ports[comp.name]}/healthz"
            self._wait(f"{comp.name} /healthz on port {ports[comp.name]}", lambda url=url: anon.ok(url), 60, [comp])
        self._wait(
            f"node {NODE_NAME} Ready and schedulable",
            lambda: self._node_ready(admin),
            60,
            [kwok, kcm, sched],
        )
        self._wait(
            f"node {LOGS_NODE_NAME} Ready with kwok's kubelet endpoint",
            lambda: self._node_ready(admin, LOGS_NODE_NAME),
            60,
            [kwok],
        )
        self._wait(
            f"kwok's kubelet server on port {ports['kwok']}",
            lambda: anon.ok(f"https://127.0.0.1:{ports['kwok']}/healthz"),
            60,
            [kwok],
        )
        self._wait(
            "service account default/default",
            lambda: admin.ok(f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"),
            60,
            [kcm],
        )

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in _OWNED_ENTRIES:
            path = self.run_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        (self.run_dir / "logs").mkdir()

    def _write_state(self) -> None:
        state = {
            "version": STATE_VERSION,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "bin_dir": str(self.bin_dir),
            "ports": self.ports,
            "components": [c.record() for c in self.components],
        }
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def _spawn(self, name: str, args: list[str]) -> Process:
        port = self.ports.get(name)
        log.info("starting %s%s", name, f" on 127.0.0.1:{port}" if port else "")
        comp = Process.start(
            name, [str(self.bin_dir / name), *args], log=self.run_dir / "logs" / f"{name}.log", cwd=self.run_dir
        )
        self.components.append(comp)
        self._write_state()  # recorded at once: a crash of this process must not orphan it
        return comp

    def _wait(self, what: str, check: Callable[[], bool], timeout: float, watch: Sequence[Process]) -> None:
        """Poll ``check`` until true; fail early if a watched process exits."""
        log.info("waiting for %s", what)
        began = time.monotonic()
        wait_until(check, timeout=timeout, what=what, watch=watch, interval=0.2)
        log.info("%s: ok after %.1fs", what, time.monotonic() - began)

    def _create(self, admin: HttpsClient, path: str, obj: dict[str, Any]) -> None:
        status, body = admin.request("POST", f"{self.server}{path}", obj)
        what = f"{obj['kind']} {obj['metadata']['name']}"
        if status not in (HTTPStatus.OK, HTTPStatus.CREATED):
            raise ControlPlaneError(f"creating {what} failed: HTTP {status}: {body[:500]!r}")
        log.info("created %s", what)

    def _node_ready(self, admin: HttpsClient, name: str = NODE_NAME) -> bool:
        status, body = admin.request("GET", f"{self.server}/api/v1/nodes/{name}")
        if status != HTTPStatus.OK:
            return False
        node = json.loads(body)
        conditions = node.get("status", {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if name == LOGS_NODE_NAME:  # cordoned and tainted on purpose; its kubelet endpoint must have stayed
            port = node.get("status", {}).get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port")
            if ready and port != self.ports["kwok"]:
                raise ControlPlaneError(
                    f"node {name}'s kubelet endpoint is port {port}, not kwok's {self.ports['kwok']}"
                )
            return ready
        # The node lifecycle controller removes the not-ready taint soon after;
        # until then the scheduler would leave pods Pending.
        taints = node.get("spec", {}).get("taints") or []
        blocking = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
        return ready and not blocking

    def _crd_established(self, admin: HttpsClient, kind: str) -> bool:
        status, body = admin.request(
            "GET", f"{self.server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{kind.lower()}.kwok.x-k8s.io"
        )
        if status != HTTPStatus.OK:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _refuse_if_running(run_dir: Path) -> None:
    if not (run_dir / "state.json").exists():
        return
    try:
        old = LocalCluster.attach(run_dir)
    except (ControlPlaneError, ValueError, KeyError):
        return
    running = [f"{c.name} (pid {c.pid})" for c in old.components if c.alive()]
    if running:
        raise ControlPlaneError(f"a cluster is already running in {run_dir}: {', '.join(running)}; run `down` first")
