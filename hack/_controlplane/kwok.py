"""kwok: the fake nodes' kubelet, their Stages, and the container logs its kubelet server serves.

kwok plays the kubelet for ``kwok-node-0`` (Ready, heartbeats, pods Running/Ready at once, deleted pods
gone) and, through its own kubelet server, serves container logs for the second node,
``kwok-node-logs``, from files named by its ``ClusterLogs``/``Logs`` objects. A test writes those files
with :func:`cri_log` and names them with :func:`logs_object`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from go_time import rfc3339_nano

NODE_NAME: Final = "kwok-node-0"
# The fake node whose kubelet endpoint is kwok's server: pods pinned to it
# (``spec.nodeName``) have logs, read from the files kwok's Logs/ClusterLogs name.
LOGS_NODE_NAME: Final = "kwok-node-logs"
LOGS_NODE_TAINT: Final = "onduty.dev/kwok-logs"
KWOK_API: Final = "kwok.x-k8s.io/v1alpha1"
# kwok hands out pod IPs from here; kept apart from the service range (components.SERVICE_CIDR).
POD_CIDR: Final = "10.244.0.1/16"

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


def kwok_log_crd(kind: str) -> dict[str, Any]:
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


# kwok's own options that have no flag: its server serves logs (debugging handlers), not pprof.
KWOK_CONFIGURATION: Final = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  enableProfilingHandler: false
  enableContentionProfiling: false
"""


def fake_node(name: str = NODE_NAME, kubelet_port: int | None = None) -> dict[str, Any]:
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
        out.append(f"{rfc3339_nano(start + dt.timedelta(milliseconds=i))} {stream} F {line}\n")
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
