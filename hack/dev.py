#!/usr/bin/env python3
"""`make run`: onduty on an embedded local control plane, ready to try.

Starts the local control plane (hack/controlplane.py), installs the CRDs and
the samples (a runbook and a small Deployment with pods on the kwok node),
then runs `onduty run` (operator + bridge on 127.0.0.1:9095) in the
foreground. Ctrl-C stops onduty and the control plane.

Set KUBECONFIG=... (or pass --kubeconfig) to run against an existing cluster instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

import controlplane  # noqa: E402

DEMO_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.local/web:1.0}]
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
"""


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C or a SIGTERM both stop onduty and then the control plane (a shell
    # may start us with SIGINT ignored, so set both handlers explicitly).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, default=os.environ.get("ONDUTY_KUBECONFIG"))
    parser.add_argument("--port", type=int, default=9095)
    args, rest = parser.parse_known_args()

    bin_dir = controlplane.find_binaries()
    local = None
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        local = controlplane.LocalCluster.start(controlplane.default_run_dir(), bin_dir)
        kubeconfig = local.kubeconfig
    kubectl = [str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig)]
    try:
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True)
        subprocess.run(
            [
                *kubectl,
                "wait",
                "--for=condition=Established",
                "crd/runbooks.onduty.dev",
                "crd/incidents.onduty.dev",
                "crd/alerts.onduty.dev",
                "crd/remediationpolicies.onduty.dev",
            ],
            check=True,
        )
        subprocess.run([*kubectl, "create", "namespace", "onduty-system"], check=False, capture_output=True)
        subprocess.run(
            [*kubectl, "apply", "-n", "default", "-f", str(REPO / "manifests/samples/runbook.yaml")], check=True
        )
        subprocess.run([*kubectl, "apply", "-f", str(REPO / "manifests/samples/remediationpolicy.yaml")], check=True)
        subprocess.run([*kubectl, "apply", "-f", "-"], input=DEMO_DEPLOYMENT.encode(), check=True)
        print(
            f"""
onduty is starting. In another shell:

  export KUBECONFIG={kubeconfig}
  export PATH={bin_dir}:$PATH
  kubectl get onduty -A
  python hack/fire-alert.py            # posts a KubePodCrashLooping alert for deployment/web
  kubectl describe incident -n default

The Alertmanager webhook receiver is http://127.0.0.1:{args.port}/api/v1/alerts
""",
            file=sys.stderr,
        )
        command = [
            sys.executable,
            "-m",
            "onduty.cli",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--bridge-port",
            str(args.port),
            *rest,
        ]
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
    finally:
        if local is not None:
            local.stop()


if __name__ == "__main__":
    sys.exit(main())
