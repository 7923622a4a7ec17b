"""The self-test (``controlplane.py smoke``): the cluster does what the operator will ask of it."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator

from _controlplane.cluster import LocalCluster
from _controlplane.errors import ControlPlaneError
from _controlplane.kwok import LOGS_NODE_NAME, cri_log, logs_object
from processes import wait_until

log = logging.getLogger("onduty.controlplane")


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

    def poll(what: str, check: Callable[[], bool]) -> None:
        wait_until(check, timeout=60, what=f"smoke: {what}", watch=cluster.components)

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
