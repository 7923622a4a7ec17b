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
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
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


DEMO_RATIO = 'sum(rate(demo_requests_total{code="500"}[10s])) / sum(rate(demo_requests_total[10s]))'


def _start_monitoring(stack: list[Callable[[], None]], kubectl: list[str], port: int) -> list[str]:
    """Prometheus, Alertmanager (routing to the bridge) and the demo app; returns onduty's extra flags."""
    from demo_app import DemoApp
    from monitoring import Monitoring, webhook_config

    subprocess.run([str(REPO / "hack/install-monitoring.sh")], check=True)
    app = DemoApp(port=0, error_ratio=0.0).start()
    stack.append(app.stop)
    rule = {
        "alert": "HighErrorRate",
        "expr": f"{DEMO_RATIO} > 0.05",
        "labels": {"severity": "critical", "namespace": "default", "deployment": "web"},
        "annotations": {"summary": "web answers more than 5% errors"},
    }
    monitoring = Monitoring.start(
        REPO / ".run/monitoring",
        rules={"groups": [{"name": "demo", "rules": [rule]}]},
        alertmanager_config=webhook_config(f"http://127.0.0.1:{port}/api/v1/alerts"),
        scrape_targets=[app.target],
        target_labels={"namespace": "default"},  # as Kubernetes service discovery labels the demo app's series
    )
    stack.append(monitoring.stop)
    runbook = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": "restart-on-errors", "namespace": "default"},
        "spec": {
            "match": {"alertnames": ["HighErrorRate"]},
            "remediation": {
                "steps": [
                    {
                        "name": "restart",
                        "action": "rolloutRestart",
                        "cooldown": "1m",
                        "condition": {"expr": DEMO_RATIO, "op": ">", "threshold": 0.05},
                    }
                ]
            },
        },
    }
    subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(runbook).encode(), check=True)
    print(
        f"Prometheus {monitoring.prometheus_url}, Alertmanager {monitoring.alertmanager_url}; "
        f"make the demo app fail: curl -d 0.5 {app.url}/error-ratio",
        file=sys.stderr,
    )
    return ["--prometheus-url", monitoring.prometheus_url, "--alertmanager-url", monitoring.alertmanager_url]


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
    parser.add_argument(
        "--with-monitoring",
        action="store_true",
        default=os.environ.get("MONITORING") == "1",
        help="also start Debian's Prometheus and Alertmanager (make run MONITORING=1) with a demo app whose "
        "error ratio (POST a number to its /error-ratio) fires a real HighErrorRate rule",
    )
    args, rest = parser.parse_known_args()

    bin_dir = controlplane.find_binaries()
    stack: list[Callable[[], None]] = []
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
        # As an install has them: approvals by an approver in their own name; incidents stay in their namespace.
        subprocess.run([*kubectl, "apply", "-k", str(REPO / "manifests/admission")], check=True)
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
        if args.with_monitoring:
            rest += _start_monitoring(stack, kubectl, args.port)
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
        for stop in reversed(stack):
            stop()
        if local is not None:
            local.stop()


if __name__ == "__main__":
    sys.exit(main())
