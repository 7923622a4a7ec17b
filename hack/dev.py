#!/usr/bin/env python3
"""`make run`: onduty on an embedded local control plane, ready to try.

Starts the local control plane (hack/controlplane.py), installs the CRDs and
the samples (a runbook and a small Deployment with pods on the kwok node),
then runs `onduty run` (operator + bridge on 127.0.0.1:9095) in the
foreground. Ctrl-C stops onduty and the control plane.

Set KUBECONFIG=... (or pass --kubeconfig) to run against an existing cluster instead.

Run twice, it says so and where the first one runs. After a crash (the shell
closed, a SIGKILL) it recovers: the onduty it had started is stopped by its
recorded PID, and the control plane still running in .run/cluster is used
again (and stopped at the end, as the crashed run would have). A control plane
started by `make cluster-up` is used and left running. The bridge's port is a
setting: `make run ONDUTY_BRIDGE_PORT=9096`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

import controlplane  # noqa: E402
from processes import Process, start_ticks  # noqa: E402

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


def _start_monitoring(stack: list[Callable[[], None]], kubectl: list[str], port: int, where: Path) -> list[str]:
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
        where,
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


class DevError(Exception):
    """Why `make run` cannot start, in one line with what to do."""


def _this_process() -> Process:
    return Process("make run", list(sys.argv), Path(os.devnull), os.getpid(), start_ticks(os.getpid()))


def _recover(state_file: Path, port: int) -> bool:
    """Refuse a second `make run`; after a crashed one, stop its onduty. True if it owned the control plane."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return False
    earlier = state.get("dev")
    if earlier and Process.attach(earlier).alive():
        raise DevError(
            f"`make run` is already running (pid {earlier['pid']}, bridge on 127.0.0.1:{state.get('port')}): "
            f"use that one, or stop it with Ctrl-C in its shell (or kill {earlier['pid']})"
        )
    orphan = state.get("onduty")
    if orphan:
        process = Process.attach(orphan)
        if process.alive():  # the PID and its start time: never a process that reused the number
            print(
                f"stopping onduty (pid {process.pid}), left running by an earlier `make run` that crashed", flush=True
            )
            process.stop()
    return bool(state.get("owns_cluster"))


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise DevError(
                f"port {port} is in use by another process ({error.strerror}): stop it, "
                f"or give onduty another port: make run ONDUTY_BRIDGE_PORT={port + 1}"
            ) from None


def _cluster(run_dir: Path, bin_dir: Path, owned_before: bool) -> tuple[controlplane.LocalCluster, bool]:
    """The control plane in ``run_dir``: the one still running there, or a new one. True if we stop it at the end."""
    try:
        running = controlplane.LocalCluster.attach(run_dir)
    except controlplane.ControlPlaneError:
        running = None
    if running is not None:
        alive = [c for c in running.components if c.alive()]
        if alive and len(alive) == len(running.components) and running.status()["ready"]:
            whose = "an earlier `make run`" if owned_before else "`make cluster-up`; it stays running"
            print(f"using the control plane already running in {run_dir} (started by {whose})", flush=True)
            return running, owned_before
        if alive and not owned_before:
            names = ", ".join(f"{c.name} (pid {c.pid})" for c in alive)
            raise DevError(f"the control plane in {run_dir} is only partly running ({names}): make cluster-down")
        if alive:
            running.stop()
    return controlplane.LocalCluster.start(run_dir, bin_dir), True


def main() -> int:
    # Ctrl-C or a SIGTERM both stop onduty and then the control plane (a shell
    # may start us with SIGINT ignored, so set both handlers explicitly).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, default=os.environ.get("ONDUTY_KUBECONFIG"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("ONDUTY_BRIDGE_PORT") or 9095),
        help="the bridge's port on 127.0.0.1 (default: $ONDUTY_BRIDGE_PORT, else 9095)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO / ".run",
        help="where the control plane and this run keep their state (default: .run)",
    )
    parser.add_argument(
        "--with-monitoring",
        action="store_true",
        default=os.environ.get("MONITORING") == "1",
        help="also start Debian's Prometheus and Alertmanager (make run MONITORING=1) with a demo app whose "
        "error ratio (POST a number to its /error-ratio) fires a real HighErrorRate rule",
    )
    args, rest = parser.parse_known_args()
    run_dir = args.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    state_file = run_dir / "dev.json"
    try:
        owned_before = _recover(state_file, args.port)
        _check_port(args.port)
    except DevError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1

    bin_dir = controlplane.find_binaries()
    stack: list[Callable[[], None]] = []
    local = None
    owns_cluster = False
    onduty: subprocess.Popen[bytes] | None = None
    kubeconfig = args.kubeconfig
    try:
        if kubeconfig is None:
            local, owns_cluster = _cluster(run_dir / "cluster", bin_dir, owned_before)
            kubeconfig = local.kubeconfig
        state = {"dev": _this_process().record(), "port": args.port, "owns_cluster": owns_cluster}
        state_file.write_text(json.dumps(state))
        kubectl = [str(bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig)]
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
  export PATH={REPO / ".venv/bin"}:{bin_dir}:$PATH
  kubectl get onduty -A
  python hack/fire-alert.py --port {args.port}   # posts a KubePodCrashLooping alert for deployment/web
  kubectl describe incident -n default

The Alertmanager webhook receiver is http://127.0.0.1:{args.port}/api/v1/alerts
""",
            file=sys.stderr,
        )
        if args.with_monitoring:
            rest += _start_monitoring(stack, kubectl, args.port, run_dir / "monitoring")
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
        # In our process group, so a Ctrl-C reaches it too; recorded, so a run after a crash can stop it.
        onduty = subprocess.Popen(command)
        record = Process("onduty", command, Path(os.devnull), onduty.pid, start_ticks(onduty.pid)).record()
        state_file.write_text(json.dumps({**state, "onduty": record}))
        return onduty.wait()
    except KeyboardInterrupt:
        return 0
    except (controlplane.ControlPlaneError, DevError) as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    finally:
        if onduty is not None and onduty.poll() is None:
            onduty.terminate()
            try:
                onduty.wait(15)
            except subprocess.TimeoutExpired:
                onduty.kill()
                onduty.wait()
        for stop in reversed(stack):
            stop()
        if local is not None and owns_cluster:
            local.stop()
        state_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
