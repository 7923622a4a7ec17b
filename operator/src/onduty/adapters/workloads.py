"""The built-in objects remediation reads and changes: HPAs, ReplicaSets, Pods, Jobs, Nodes, and workloads' templates.

One named function per request, each taking the :class:`~onduty.adapters.kube.Cluster`
(or a stand-in that counts its writes, :mod:`onduty.services.crashpoints`),
so no path is built outside this package. A write with ``dry_run=True`` is
sent with ``dryRun=All``: the API server validates it and changes nothing.
Errors are :mod:`onduty.adapters.kube`'s.
"""

from __future__ import annotations

from typing import Any

from onduty.adapters.kube import Cluster, segment

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def _dry(dry_run: bool) -> dict[str, str] | None:
    return {"dryRun": "All"} if dry_run else None


def _hpas(namespace: str) -> str:
    return f"/apis/autoscaling/v2/namespaces/{segment(namespace)}/horizontalpodautoscalers"


# --- HorizontalPodAutoscalers --------------------------------------------------------------------


def list_hpas(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return list(cluster.request("GET", _hpas(namespace)).get("items", []))


def get_hpa(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.request("GET", f"{_hpas(namespace)}/{segment(name)}")


def patch_hpa(
    cluster: Cluster, namespace: str, name: str, patch: dict[str, Any], *, dry_run: bool = False
) -> dict[str, Any]:
    return cluster.request(
        "PATCH", f"{_hpas(namespace)}/{segment(name)}", query=_dry(dry_run), body=patch, content_type=MERGE_PATCH
    )


# --- a Deployment's ReplicaSets and template -----------------------------------------------------


def list_replicasets(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    path = f"/apis/apps/v1/namespaces/{segment(namespace)}/replicasets"
    return list(cluster.request("GET", path).get("items", []))


def json_patch_workload(
    cluster: Cluster, kind: str, namespace: str, name: str, ops: list[dict[str, Any]], *, dry_run: bool = False
) -> dict[str, Any]:
    """A JSON patch (RFC 6902) of a workload: ops that replace (not merge) a template, with a ``test`` precondition."""
    return cluster.request(
        "PATCH", cluster.workload_path(kind, namespace, name), query=_dry(dry_run), body=ops, content_type=JSON_PATCH
    )


# --- Pods ----------------------------------------------------------------------------------------


def list_pods(cluster: Cluster, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{segment(namespace)}/pods"
    return list(cluster.request("GET", path, query={"labelSelector": label_selector}).get("items", []))


def get_pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.request("GET", f"/api/v1/namespaces/{segment(namespace)}/pods/{segment(name)}")


def delete_pod(cluster: Cluster, namespace: str, name: str, *, uid: str, dry_run: bool = False) -> None:
    """Delete one pod, only if it is still the one with ``uid``."""
    cluster.request(
        "DELETE",
        f"/api/v1/namespaces/{segment(namespace)}/pods/{segment(name)}",
        # With a body, the API server reads every delete option from it, dryRun included.
        body={"preconditions": {"uid": uid}, **({"dryRun": ["All"]} if dry_run else {})},
    )


# --- Nodes -----------------------------------------------------------------------------------------


def list_nodes(cluster: Cluster) -> list[dict[str, Any]]:
    return list(cluster.request("GET", "/api/v1/nodes").get("items", []))


def get_node(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.request("GET", f"/api/v1/nodes/{segment(name)}")


def patch_node(cluster: Cluster, name: str, patch: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    return cluster.request(
        "PATCH", f"/api/v1/nodes/{segment(name)}", query=_dry(dry_run), body=patch, content_type=MERGE_PATCH
    )


# --- Jobs ------------------------------------------------------------------------------------------


def get_job(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.request("GET", f"/apis/batch/v1/namespaces/{segment(namespace)}/jobs/{segment(name)}")


def create_job(cluster: Cluster, namespace: str, job: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    return cluster.request(
        "POST", f"/apis/batch/v1/namespaces/{segment(namespace)}/jobs", query=_dry(dry_run), body=job
    )
