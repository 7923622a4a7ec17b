#!/usr/bin/env python3
"""Start and stop a real, local Kubernetes control plane without Docker.

Why it is built this way
------------------------
The machines this project is developed and tested on have no container engine,
so kind, k3d and minikube are out. What they can do is run ordinary processes,
so this module runs the real Kubernetes binaries directly, the way
controller-runtime's *envtest* does, and adds what envtest leaves out so that
an operator sees a cluster that behaves like a real one:

* ``etcd`` and ``kube-apiserver`` (with RBAC, ServiceAccount admission and a
  self-made CA, so authentication and authorization are the real thing);
* ``kube-controller-manager`` (Deployments create ReplicaSets and Pods,
  namespaces get deleted, service accounts and their tokens appear) and
  ``kube-scheduler`` (pods get bound to a node);
* ``kwok``, which plays the kubelet for a fake node ``kwok-node-0``: the node
  becomes Ready and stays so (lease heartbeats), pods bound to it become
  Running/Ready at once, and deleted pods go away.
* Container logs, the way a kubelet serves them: kwok also runs its kubelet
  server (``--server-address``, HTTPS with a certificate of our CA) and reads
  logs from files named by kwok's ``ClusterLogs``/``Logs`` objects
  (``kwok.x-k8s.io/v1alpha1``, watched from the API server with
  ``--enable-crds``); the API server proxies ``pods/log`` to it
  (``--kubelet-certificate-authority``, ``--kubelet-client-certificate``,
  ``--kubelet-preferred-address-types=InternalIP``). Only the second fake node,
  ``kwok-node-logs``, names that server as its kubelet endpoint, so logs are
  opt-in: a pod runs there only if it asks to (``spec.nodeName``; the node is
  cordoned and tainted, so nothing is scheduled there by accident). Pods on
  ``kwok-node-0`` keep a kubelet the API server cannot reach, as before: the
  API server refuses their logs with a 500. See :func:`logs_object` and
  :func:`cri_log` for what a test writes.

The binaries come from ``hack/build-controlplane.sh`` (built once from the Go
modules and cached outside the repository; it honours ``KUBEBUILDER_ASSETS``).

Design choices:

* Standard library only (plus the ``openssl`` CLI for certificates), so it can
  run before any virtualenv exists and be imported by pytest fixtures and by
  the application's ``run`` command alike.
* Everything lives in one run directory: certificates, kubeconfigs, etcd data,
  logs and ``state.json``. Each ``up`` starts a fresh cluster there.
* Loopback only: every listener binds 127.0.0.1 on a free port chosen at start.
* Components run detached (own session, output to ``logs/<name>.log``) so the
  ``up`` command can return while they keep running, and a crashed test run
  cannot take them down half-way. Their PIDs, together with the kernel's start
  time of each process, are recorded in ``state.json`` as soon as each one is
  started; ``down`` stops exactly those processes (in reverse order, SIGTERM
  then SIGKILL) and never kills anything by name. A PID that was reused by an
  unrelated process is recognised by its different start time and left alone.
* ``up`` does not return before the cluster is usable end to end: the API
  server is ready, the controller manager and scheduler are healthy, the fake
  node is Ready without start-up taints (the logs node Ready too, and kwok's
  kubelet server answering), kwok's log CRDs are established and the
  ``default`` service account exists (pods in ``default`` are otherwise
  rejected by admission).
* If any step fails, whatever was started is stopped again and the error
  carries the tail of the failing component's log.
* EC P-256 keys everywhere: generating them takes milliseconds.

Command line::

    python hack/controlplane.py up     [--run-dir DIR] [--bin-dir DIR]
    python hack/controlplane.py down   [--run-dir DIR]
    python hack/controlplane.py status [--run-dir DIR]
    python hack/controlplane.py smoke  [--run-dir DIR]   # Deployment + rollout restart

Python::

    with LocalCluster.start(tmp_path / "cluster") as cluster:
        run_operator(kubeconfig=cluster.kubeconfig)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final

__all__ = [
    "LOGS_NODE_NAME",
    "NODE_NAME",
    "ControlPlaneError",
    "LocalCluster",
    "cri_log",
    "default_run_dir",
    "find_binaries",
    "logs_object",
]

log = logging.getLogger("onduty.controlplane")

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
BUILD_SCRIPT: Final = REPO_ROOT / "hack" / "build-controlplane.sh"
STATE_VERSION: Final = 1

NODE_NAME: Final = "kwok-node-0"
# The fake node whose kubelet endpoint is kwok's server: pods pinned to it
# (``spec.nodeName``) have logs, read from the files kwok's Logs/ClusterLogs name.
LOGS_NODE_NAME: Final = "kwok-node-logs"
LOGS_NODE_TAINT: Final = "onduty.dev/kwok-logs"
KWOK_API: Final = "kwok.x-k8s.io/v1alpha1"
SERVICE_CIDR: Final = "10.0.0.0/24"
# kwok hands out pod IPs from here; kept apart from the service range above.
POD_CIDR: Final = "10.244.0.1/16"
LOG_TAIL_LINES: Final = 40

# kwok Stage files (relative to the kwok-stages directory) that make the fake
# node Ready and keep it so, pods Running/Ready, Job pods Succeeded, and
# deleted pods disappear.
KWOK_STAGES: Final = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

# kwok's log configuration objects, served by the API server and watched by
# kwok (``--enable-crds``). The schema is kwok v0.7.0's, without descriptions
# (kustomize/crd/bases/kwok.x-k8s.io_{clusterlogs,logs}.yaml in its module).
KWOK_LOG_KINDS: Final = ("ClusterLogs", "Logs")


def _kwok_log_crd(kind: str) -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    log_entry = {
        "type": "object",
        "properties": {
            "containers": strings,
            "logsFile": {"type": "string"},
            "previousLogsFile": {"type": "string"},
            "follow": {"type": "boolean"},
        },
    }
    spec: dict[str, Any] = {
        "type": "object",
        "required": ["logs"],
        "properties": {"logs": {"type": "array", "items": log_entry}},
    }
    if kind == "ClusterLogs":
        spec["properties"]["selector"] = {
            "type": "object",
            "properties": {"matchNamespaces": strings, "matchNames": strings},
        }
    plural = kind.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kwok.x-k8s.io"},
        "spec": {
            "group": "kwok.x-k8s.io",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": plural},
            "scope": "Cluster" if kind == "ClusterLogs" else "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


# Order of start; stop runs in reverse.
COMPONENTS: Final = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
REQUIRED_BINARIES: Final = (*COMPONENTS, "kubectl")

# Files and directories inside the run directory that belong to this module;
# only these are cleared by a new ``up``.
_OWNED_ENTRIES: Final = ("etcd", "pki", "logs", "kubeconfigs", "kubeconfig", "kwok.yaml", "state.json")

# kwok's own options that have no flag: its server serves logs (debugging handlers), not pprof.
_KWOK_CONFIGURATION: Final = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  enableProfilingHandler: false
  enableContentionProfiling: false
"""


class ControlPlaneError(RuntimeError):
    """The control plane could not be started, inspected or stopped."""


def default_run_dir() -> Path:
    """``<repo>/.run/cluster``, computed from this file's location."""
    return REPO_ROOT / ".run" / "cluster"


def find_binaries() -> Path:
    """Run ``hack/build-controlplane.sh`` and return the directory it prints.

    The script is instant when its cache is warm and honours
    ``KUBEBUILDER_ASSETS``. Its progress (stderr) flows to our stderr.
    """
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise ControlPlaneError(f"{BUILD_SCRIPT} printed no binary directory")
    bin_dir = Path(lines[-1])
    _check_bin_dir(bin_dir)
    return bin_dir


def _check_bin_dir(bin_dir: Path) -> None:
    missing = [name for name in REQUIRED_BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if not (bin_dir / "kwok-stages").is_dir():
        missing.append("kwok-stages/")
    if missing:
        raise ControlPlaneError(f"{bin_dir} lacks {', '.join(missing)}")


# --------------------------------------------------------------------------
# Processes


def _proc_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])  # field 22 overall


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


@dataclass
class Component:
    """One running process of the control plane, as recorded in state.json."""

    name: str
    pid: int
    argv: list[str]
    log: str
    port: int | None = None
    start_ticks: int | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Component:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            argv=[str(a) for a in data["argv"]],
            log=str(data["log"]),
            port=None if data.get("port") is None else int(data["port"]),
            start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
        )

    def is_ours(self) -> bool:
        """True if the PID still names the process we started (not a reuse)."""
        if self._popen is not None:
            return self._popen.poll() is None
        if self.start_ticks is not None:
            return _proc_start_ticks(self.pid) == self.start_ticks
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        return self.is_ours() and _proc_state(self.pid) not in (None, "Z", "X")

    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with Path(self.log).open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 64 * 1024))
                text = fh.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        if not self.alive():
            self._reap()
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            log.info("stopping %s (pid %d) with %s", self.name, self.pid, sig.name)
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                return
            if self._wait_gone(wait):
                return
        raise ControlPlaneError(f"{self.name} (pid {self.pid}) did not exit after SIGKILL")

    def _wait_gone(self, timeout: float) -> bool:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.05)
        return not self.alive()

    def _reap(self) -> None:
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(0)


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open together while choosing)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


# --------------------------------------------------------------------------
# Certificates and kubeconfigs

_REQ_CONFIG: Final = "[req]\ndistinguished_name = dn\n[dn]\n"
_CA_EXT: Final = """\
[ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
"""
_LEAF_EXT: Final = """\
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {usage}
authorityKeyIdentifier = keyid
{san}
"""
_EC_KEY: Final = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"


# (file name, subject) of every client certificate.
_CLIENTS: Final = {
    "admin": "/O=system:masters/CN=onduty-admin",
    "kube-controller-manager": "/CN=system:kube-controller-manager",
    "kube-scheduler": "/CN=system:kube-scheduler",
    "kwok": "/O=system:masters/CN=onduty-kwok",
    # The API server's identity towards kubelets (here: kwok's server), as kubeadm names it.
    "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
}


def _openssl(cwd: Path, args: str, stdin: bytes | None = None) -> bytes:
    """Run ``openssl`` in ``cwd``; file names in ``args`` are relative, never contain spaces."""
    cmd = ["openssl", *args.split()]
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise ControlPlaneError(f"openssl {args} failed: {err}")
    return proc.stdout


def _make_pki(pki: Pki) -> None:
    """Fresh CAs, serving and client certificates, and a service-account key.

    Two CAs, as kubeadm does: ``ca`` signs the serving certificate and every
    user's client certificate; ``front-proxy-ca`` signs only the certificate the
    API server presents to aggregated API servers (request-header auth).
    """
    if shutil.which("openssl") is None:
        raise ControlPlaneError("the openssl command is needed to create certificates")
    pki.dir.mkdir(parents=True, exist_ok=True)
    pki.dir.chmod(0o700)
    (pki.dir / "req.cnf").write_text(_REQ_CONFIG)
    (pki.dir / "ca.cnf").write_text(_REQ_CONFIG + _CA_EXT)
    for ca, cn in (("ca", "onduty-local-ca"), ("front-proxy-ca", "onduty-local-front-proxy-ca")):
        _openssl(
            pki.dir,
            f"req -x509 -new {_EC_KEY} -keyout {ca}.key -out {ca}.crt -days 365"
            f" -subj /CN={cn} -config ca.cnf -extensions ext",
        )
    # name -> (subject, extended key usage, extra extension line, signing CA)
    leaves = {name: (subject, "clientAuth", "", "ca") for name, subject in _CLIENTS.items()}
    san = "subjectAltName = IP:127.0.0.1, DNS:localhost"
    leaves["serving"] = ("/CN=onduty-local-apiserver", "serverAuth", san, "ca")
    # kwok's kubelet server; the API server checks it against ``ca`` (--kubelet-certificate-authority).
    leaves["kwok-serving"] = ("/CN=kwok-node-logs", "serverAuth", "subjectAltName = IP:127.0.0.1", "ca")
    leaves["front-proxy-client"] = ("/CN=front-proxy-client", "clientAuth", "", "front-proxy-ca")
    for serial, (name, (subject, usage, ext, ca)) in enumerate(sorted(leaves.items()), start=2):
        (pki.dir / f"{name}.ext").write_text(_LEAF_EXT.format(usage=usage, san=ext))
        csr = _openssl(pki.dir, f"req -new {_EC_KEY} -keyout {name}.key -subj {subject} -config req.cnf")
        _openssl(
            pki.dir,
            f"x509 -req -CA {ca}.crt -CAkey {ca}.key -set_serial {serial} -days 365"
            f" -extfile {name}.ext -extensions ext -out {name}.crt",
            stdin=csr,
        )
    _openssl(pki.dir, "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out sa.key")
    _openssl(pki.dir, "pkey -in sa.key -pubout -out sa.pub")
    for path in pki.dir.glob("*.key"):
        path.chmod(0o600)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _write_kubeconfig(path: Path, server: str, pki: Pki, user: str) -> None:
    """A kubeconfig with the certificates embedded, so it works from anywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"""\
apiVersion: v1
kind: Config
clusters:
- name: onduty-local
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki.ca_crt)}
users:
- name: {user}
  user:
    client-certificate-data: {_b64(pki.crt(user))}
    client-key-data: {_b64(pki.key(user))}
contexts:
- name: onduty-local
  context:
    cluster: onduty-local
    user: {user}
    namespace: default
current-context: onduty-local
"""
    path.write_text(text)
    path.chmod(0o600)


# --------------------------------------------------------------------------
# HTTP


class _Http:
    """Minimal HTTPS client for readiness checks and a few API calls."""

    def __init__(self, pki: Pki, user: str | None = "admin") -> None:
        ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
        if user is not None:
            ctx.load_cert_chain(str(pki.crt(user)), str(pki.key(user)))
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))

    def request(self, method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def ok(self, url: str) -> bool:
        return self.request("GET", url, timeout=2.0)[0] == HTTPStatus.OK


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2.0) as resp:
        return int(resp.status) == HTTPStatus.OK


# --------------------------------------------------------------------------
# The cluster


def _fake_node(name: str = NODE_NAME, kubelet_port: int | None = None) -> dict[str, Any]:
    """kwok's usual fake node, without the taint, so ordinary pods land on it.

    With ``kubelet_port`` (kwok's server), the node is the logs node: its kubelet
    endpoint is that port (kwok's stages leave a ``daemonEndpoints`` set at
    creation alone), and it is cordoned and tainted so that only pods that name
    it in ``spec.nodeName`` run there.
    """
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "",
                "containerRuntimeVersion": "",
                "kernelVersion": "",
                "kubeProxyVersion": "fake",
                "kubeletVersion": "fake",
                "machineID": "",
                "operatingSystem": "linux",
                "osImage": "",
                "systemUUID": "",
            },
            "phase": "Running",
        },
    }
    if kubelet_port is not None:
        node["spec"] = {
            "unschedulable": True,
            "taints": [{"key": LOGS_NODE_TAINT, "value": "true", "effect": "NoSchedule"}],
        }
        node["status"]["addresses"] = [{"type": "InternalIP", "address": "127.0.0.1"}]
        node["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": kubelet_port}}
    return node


def cri_log(lines: Sequence[str], *, stream: str = "stdout", start: dt.datetime | None = None) -> str:
    """``lines`` as a container runtime writes a container's log file (the CRI format kwok reads).

    One line each: ``<RFC 3339 time> <stream> F <text>``, a millisecond apart from ``start``
    (default: now), so ``sinceTime``/``timestamps`` behave as with a real kubelet.
    """
    start = start or dt.datetime.now(dt.UTC)
    out = []
    for i, line in enumerate(lines):
        if "\n" in line:
            raise ValueError(f"a log line cannot contain a newline: {line!r}")
        at = (start + dt.timedelta(milliseconds=i)).astimezone(dt.UTC)
        out.append(f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {stream} F {line}\n")
    return "".join(out)


def logs_object(
    containers: dict[str, tuple[Path, Path | None]],
    *,
    namespace: str | None = None,
    pod: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A kwok log configuration: per container, (log file, previous instance's log file or None).

    With ``pod`` (and ``namespace``): a ``Logs`` object for that one pod (kwok matches it by
    name, and it wins over any ClusterLogs). Otherwise a ``ClusterLogs`` called ``name`` for
    every pod in ``namespace`` (kwok selects by namespace and pod name, not by labels). Only
    pods on :data:`LOGS_NODE_NAME` are served by kwok; the files must be CRI-formatted
    (:func:`cri_log`) and readable by kwok, which reads them at each request.
    """
    logs = []
    for container, (current, previous) in containers.items():
        entry: dict[str, Any] = {"containers": [container], "logsFile": str(current)}
        if previous is not None:
            entry["previousLogsFile"] = str(previous)
        logs.append(entry)
    if pod is not None:
        if namespace is None:
            raise ValueError("a Logs object for a pod needs the pod's namespace")
        return {
            "apiVersion": KWOK_API,
            "kind": "Logs",
            "metadata": {"name": pod, "namespace": namespace},
            "spec": {"logs": logs},
        }
    if name is None:
        raise ValueError("a ClusterLogs object needs a name")
    selector = {"matchNamespaces": [namespace]} if namespace else {}
    return {
        "apiVersion": KWOK_API,
        "kind": "ClusterLogs",
        "metadata": {"name": name},
        "spec": {"selector": selector, "logs": logs},
    }


class LocalCluster:
    """A running local control plane (see the module docstring).

    Use :meth:`start` to create one (blocks until ready), :meth:`attach` to
    pick up one started elsewhere (for example by ``controlplane.py up``).
    """

    def __init__(self, run_dir: Path, bin_dir: Path, ports: dict[str, int]) -> None:
        self.run_dir = run_dir
        self.bin_dir = bin_dir
        self.ports = ports
        self.components: list[Component] = []
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
        _check_bin_dir(bin_dir)
        ports = dict(
            zip(
                (
                    "etcd",
                    "etcd-peer",
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "kwok",
                ),
                _free_ports(6),
                strict=True,
            )
        )
        cluster = cls(run_dir, bin_dir, ports)
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
        cluster.components = [Component.from_json(c) for c in state["components"]]
        return cluster

    def stop(self, timeout: float = 15.0) -> None:
        """Stop our processes in reverse start order (SIGTERM, then SIGKILL)."""
        began = time.monotonic()
        errors: list[str] = []
        for comp in reversed(self.components):
            if comp._popen is None and not comp.is_ours():
                log.info("%s (pid %d) is no longer running (or the pid was reused)", comp.name, comp.pid)
                continue
            try:
                comp.stop(timeout)
            except (ControlPlaneError, OSError) as exc:
                errors.append(str(exc))
        self.components = [c for c in self.components if c.alive()]
        self._write_state()
        if errors:
            raise ControlPlaneError("; ".join(errors))
        log.info("control plane stopped in %.1fs", time.monotonic() - began)

    def status(self) -> dict[str, Any]:
        """PIDs, liveness and API readiness, for humans and scripts."""
        try:
            ready = _Http(self.pki).ok(f"{self.server}/readyz")
        except (OSError, ssl.SSLError):
            ready = False
        return {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ready": ready,
            "components": {c.name: {"pid": c.pid, "running": c.alive(), "log": c.log} for c in self.components},
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
        _make_pki(self.pki)
        kcfg = self.run_dir / "kubeconfigs"
        _write_kubeconfig(self.kubeconfig, self.server, self.pki, "admin")
        for user in ("kube-controller-manager", "kube-scheduler", "kwok"):
            _write_kubeconfig(kcfg / f"{user}.kubeconfig", self.server, self.pki, user)
        (self.run_dir / "kwok.yaml").write_text(_KWOK_CONFIGURATION)
        log.info("certificates and kubeconfigs written (%.1fs)", time.monotonic() - t0)
        self._write_state()

        admin = _Http(self.pki)
        anon = _Http(self.pki, user=None)

        etcd = self._spawn("etcd", self._etcd_args(), port=self.ports["etcd"])
        self._wait(
            f"etcd /health on port {etcd.port}",
            lambda: _http_ok(f"http://127.0.0.1:{etcd.port}/health"),
            30,
            [etcd],
        )

        api = self._spawn("kube-apiserver", self._apiserver_args(), port=self.ports["kube-apiserver"])
        self._wait(
            f"kube-apiserver /readyz on port {api.port}",
            lambda: admin.ok(f"{self.server}/readyz"),
            90,
            [api, etcd],
        )

        for kind in KWOK_LOG_KINDS:
            self._create(admin, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _kwok_log_crd(kind))
        kcm = self._spawn("kube-controller-manager", self._kcm_args(), port=self.ports["kube-controller-manager"])
        sched = self._spawn("kube-scheduler", self._scheduler_args(), port=self.ports["kube-scheduler"])
        # kwok lists its log objects once, when it starts: their CRDs must be served by then
        # (a failed list is retried with back-off, which would leave logs unserved for seconds).
        self._wait(
            "kwok's log CRDs established",
            lambda: all(self._crd_established(admin, kind) for kind in KWOK_LOG_KINDS),
            60,
            [api],
        )
        kwok = self._spawn("kwok", self._kwok_args(), port=self.ports["kwok"])
        self._create(admin, "/api/v1/nodes", _fake_node())
        self._create(admin, "/api/v1/nodes", _fake_node(LOGS_NODE_NAME, kubelet_port=self.ports["kwok"]))
        for comp in (kcm, sched):
            url = f"https://127.0.0.1:{comp.port}/healthz"
            self._wait(
                f"{comp.name} /healthz on port {comp.port}",
                functools.partial(anon.ok, url),
                60,
                [comp],
            )
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
            f"kwok's kubelet server on port {kwok.port}",
            functools.partial(anon.ok, f"https://127.0.0.1:{kwok.port}/healthz"),
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
            "components": [c.to_json() for c in self.components],
        }
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def _spawn(self, name: str, args: list[str], port: int | None = None) -> Component:
        argv = [str(self.bin_dir / name), *args]
        log_path = self.run_dir / "logs" / f"{name}.log"
        log.info("starting %s%s", name, f" on 127.0.0.1:{port}" if port else "")
        with log_path.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                start_new_session=True,
            )
        comp = Component(
            name=name,
            pid=popen.pid,
            argv=argv,
            log=str(log_path),
            port=port,
            start_ticks=_proc_start_ticks(popen.pid),
            _popen=popen,
        )
        self.components.append(comp)
        self._write_state()
        return comp

    def _wait(self, what: str, check: Callable[[], bool], timeout: float, watch: Sequence[Component]) -> None:
        """Poll ``check`` until true; fail early if a watched process exits."""
        log.info("waiting for %s", what)
        began = time.monotonic()
        last_error = ""
        while True:
            try:
                if check():
                    log.info("%s: ok after %.1fs", what, time.monotonic() - began)
                    return
            except (OSError, ssl.SSLError, ValueError, KeyError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            for comp in watch:
                if not comp.alive():
                    raise ControlPlaneError(
                        f"{comp.name} exited (code {comp.exit_code()}) while waiting for {what}; "
                        f"last lines of {comp.log}:\n{comp.log_tail()}"
                    )
            if time.monotonic() - began > timeout:
                tails = "\n".join(f"--- last lines of {c.log}:\n{c.log_tail()}" for c in watch)
                raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what} ({last_error})\n{tails}")
            time.sleep(0.2)

    def _create(self, admin: _Http, path: str, obj: dict[str, Any]) -> None:
        status, body = admin.request("POST", f"{self.server}{path}", obj)
        what = f"{obj['kind']} {obj['metadata']['name']}"
        if status not in (HTTPStatus.OK, HTTPStatus.CREATED):
            raise ControlPlaneError(f"creating {what} failed: HTTP {status}: {body[:500]!r}")
        log.info("created %s", what)

    def _node_ready(self, admin: _Http, name: str = NODE_NAME) -> bool:
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

    def _crd_established(self, admin: _Http, kind: str) -> bool:
        status, body = admin.request(
            "GET", f"{self.server}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{kind.lower()}.kwok.x-k8s.io"
        )
        if status != HTTPStatus.OK:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    # -- command lines --------------------------------------------------------

    def _etcd_args(self) -> list[str]:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        return [
            "--name=onduty",
            f"--data-dir={self.run_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=onduty={peer}",
            "--initial-cluster-state=new",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        pki = self.pki
        return [
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['kube-apiserver']}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={pki.dir / 'apiserver'}",
            f"--tls-cert-file={pki.crt('serving')}",
            f"--tls-private-key-file={pki.key('serving')}",
            f"--client-ca-file={pki.ca_crt}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--authorization-mode=Node,RBAC",
            # Request-header authentication for aggregated API servers; the
            # controller manager and scheduler read it from a ConfigMap and
            # complain in a loop when it is missing.
            f"--requestheader-client-ca-file={pki.dir / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.crt('front-proxy-client')}",
            f"--proxy-client-key-file={pki.key('front-proxy-client')}",
            # Proxying pods/log (exec, port-forward) to a node's kubelet: here kwok's server, at the
            # node's InternalIP (the fake nodes have no resolvable host name) and the node's
            # kubeletEndpoint port, checked against our CA, as ourselves.
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-certificate-authority={pki.ca_crt}",
            f"--kubelet-client-certificate={pki.crt('apiserver-kubelet-client')}",
            f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    def _component_common(self, name: str) -> list[str]:
        kubeconfig = self.run_dir / "kubeconfigs" / f"{name}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports[name]}",
            f"--tls-cert-file={self.pki.crt('serving')}",
            f"--tls-private-key-file={self.pki.key('serving')}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _kcm_args(self) -> list[str]:
        pki = self.pki
        return [
            *self._component_common("kube-controller-manager"),
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_crt}",
            f"--cluster-signing-cert-file={pki.ca_crt}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--use-service-account-credentials=true",
            # Client-side rate limits (default 20 qps) delay start-up by seconds,
            # since every controller first fetches its own service-account token.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*",
        ]

    def _scheduler_args(self) -> list[str]:
        return self._component_common("kube-scheduler")

    def _kwok_args(self) -> list[str]:
        stages = self.bin_dir / "kwok-stages"
        return [
            f"--kubeconfig={self.run_dir / 'kubeconfigs' / 'kwok.kubeconfig'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--manage-nodes-with-label-selector=",
            f"--cidr={POD_CIDR}",
            "--node-ip=127.0.0.1",
            "--node-lease-duration-seconds=40",
            # kwok's kubelet server (containerLogs, healthz), on loopback only. No --node-port:
            # that would make every node's kubelet endpoint kwok's; only the logs node names it.
            f"--server-address=127.0.0.1:{self.ports['kwok']}",
            f"--tls-cert-file={self.pki.crt('kwok-serving')}",
            f"--tls-private-key-file={self.pki.key('kwok-serving')}",
            f"--enable-crds={','.join(KWOK_LOG_KINDS)}",
            f"--config={self.run_dir / 'kwok.yaml'}",
            *(f"--config={stages / stage}" for stage in KWOK_STAGES),
        ]


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


# --------------------------------------------------------------------------
# Self-test (run by hand): a Deployment goes Available and survives a restart.


def smoke_test(cluster: LocalCluster, name: str = "onduty-smoke") -> dict[str, float]:
    """Exercise the cluster the way the operator will; return timings per step.

    A 2-replica Deployment in ``default`` becomes Available, survives
    ``kubectl rollout restart``, and its pods disappear once it is deleted; a
    namespace is created and deleted again (namespace controller); a pod on the
    logs node has its log (and its previous instance's) read through the API server.
    """
    timings: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(step: str) -> Iterator[None]:
        began = time.monotonic()
        yield
        timings[step] = round(time.monotonic() - began, 2)
        log.info("smoke: %s took %.2fs", step, timings[step])

    def poll(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"smoke: timed out waiting for {what}")
            time.sleep(0.1)

    def pods() -> list[str]:
        out = cluster.kubectl("get", "pods", "-l", f"app={name}", "-o", "name", *ns).stdout
        return out.split()

    ns = ("--namespace", "default")
    deploy = f"deployment/{name}"
    cluster.kubectl("delete", "deployment", name, "--ignore-not-found", "--wait=true", *ns)
    with timed("create deployment -> Available (2/2 Ready)"):
        image = "--image=registry.k8s.io/pause:3.10"
        cluster.kubectl("create", "deployment", name, image, "--replicas=2", *ns)
        cluster.kubectl("wait", "--for=condition=Available", deploy, "--timeout=90s", *ns)
        ready = cluster.kubectl("get", deploy, "-o", "jsonpath={.status.readyReplicas}", *ns)
        if ready.stdout.strip() != "2":
            raise ControlPlaneError(f"smoke: {name} has {ready.stdout!r} ready replicas, not 2")
    before = set(pods())
    with timed("rollout restart -> rollout status ok"):
        cluster.kubectl("rollout", "restart", deploy, *ns)
        cluster.kubectl("rollout", "status", deploy, "--timeout=90s", *ns)
    poll("the old pods to go away", lambda: not before & set(pods()))
    listing = cluster.kubectl("get", "pods", "-l", f"app={name}", "-o", "wide", *ns).stdout
    log.info("smoke: pods after restart:\n%s", listing.rstrip())
    with timed("delete deployment -> pods gone"):
        cluster.kubectl("delete", "deployment", name, "--wait=true", *ns)
        poll("the pods to go away", lambda: not pods())
    with timed("create + delete namespace"):
        cluster.kubectl("create", "namespace", f"{name}-ns")
        sa = ("get", "serviceaccount", "default", "--namespace", f"{name}-ns")
        poll("its default service account", lambda: cluster.kubectl(*sa, check=False).returncode == 0)
        cluster.kubectl("delete", "namespace", f"{name}-ns", "--wait=true", "--timeout=60s")
    with timed("pod logs through the API server from kwok's kubelet"):
        files = {k: cluster.run_dir / "logs" / f"{name}-{k}.log" for k in ("now", "before")}
        files["now"].write_text(cri_log(["smoke: started", "smoke: serving"]))
        files["before"].write_text(cri_log(["smoke: panic: boom"], stream="stderr"))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{name}-logs", "namespace": "default"},
            "spec": {
                "nodeName": LOGS_NODE_NAME,
                "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
            },
        }
        config = logs_object({"app": (files["now"], files["before"])}, namespace="default", pod=f"{name}-logs")
        cluster.kubectl("delete", "pod", f"{name}-logs", "--ignore-not-found", "--wait=true", *ns)
        for obj in (pod, config):
            cluster.kubectl("apply", "-f", "-", input_=json.dumps(obj))

        def reads(*args: str, want: list[str]) -> Callable[[], bool]:
            def check() -> bool:
                got = cluster.kubectl("logs", f"{name}-logs", *args, *ns, check=False)
                return got.returncode == 0 and got.stdout.splitlines() == want

            return check

        poll("the pod's log", reads(want=["smoke: started", "smoke: serving"]))
        poll("the previous instance's log", reads("--previous", want=["smoke: panic: boom"]))
        poll("the last line only", reads("--tail=1", want=["smoke: serving"]))
        cluster.kubectl("delete", "pod", f"{name}-logs", "--wait=true", *ns)
        cluster.kubectl("delete", "logs.kwok.x-k8s.io", f"{name}-logs", *ns)
    return timings


# --------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=("up", "down", "status", "smoke"))
    parser.add_argument("--run-dir", type=Path, default=default_run_dir(), help="default: %(default)s")
    parser.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="binaries (default: from hack/build-controlplane.sh)",
    )
    parser.add_argument("--timeout", type=float, default=15.0, help="down: seconds from SIGTERM to SIGKILL")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="[controlplane %(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
    )

    try:
        if args.command == "up":
            cluster = LocalCluster.start(args.run_dir, args.bin_dir)
            print(cluster.kubeconfig)
        elif args.command == "down":
            try:
                cluster = LocalCluster.attach(args.run_dir)
            except ControlPlaneError as exc:
                log.info("%s: nothing to stop", exc)
                return 0
            cluster.stop(timeout=args.timeout)
        elif args.command == "status":
            status = LocalCluster.attach(args.run_dir).status()
            print(json.dumps(status, indent=2))
            running = all(c["running"] for c in status["components"].values())
            return 0 if status["ready"] and running and status["components"] else 1
        else:
            timings = smoke_test(LocalCluster.attach(args.run_dir))
            print(json.dumps(timings))
    except ControlPlaneError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
