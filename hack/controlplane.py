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
* Components run detached (``hack/processes.py``: own session, output to ``logs/<name>.log``) so the
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

This file is the public face and the command line; the parts live in
``hack/_controlplane/``, one concern per module (binaries, pki, kubeconfig,
components, kwok, api, cluster, smoke).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from _controlplane.binaries import find_binaries
from _controlplane.cluster import LocalCluster, default_run_dir
from _controlplane.errors import ControlPlaneError
from _controlplane.kwok import LOGS_NODE_NAME, LOGS_NODE_TAINT, NODE_NAME, cri_log, logs_object
from _controlplane.smoke import smoke_test
from processes import ProcessError

__all__ = [
    "LOGS_NODE_NAME",
    "LOGS_NODE_TAINT",
    "NODE_NAME",
    "ControlPlaneError",
    "LocalCluster",
    "cri_log",
    "default_run_dir",
    "find_binaries",
    "logs_object",
    "main",
    "smoke_test",
]

log = logging.getLogger("onduty.controlplane")


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
    except (ControlPlaneError, ProcessError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
