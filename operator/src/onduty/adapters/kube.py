"""The Kubernetes API, as plain dicts, behind one error tree.

Exceptions::

    KubeError                       anything the API server or the network said no to
    ├── ApiUnavailable              network error, timeout, 5xx, 429: try again later
    └── ApiRejected                 a 4xx answer: retrying the same request will not help
        ├── NotFound                404
        ├── Conflict                409: already exists, or the resourceVersion moved on
        └── UnsafePath              never sent: a path segment was ".", "..", empty or held "/"

Everything goes through :meth:`Cluster.request`, so every call has the same
timeout and the same error mapping, and callers never see the client library's
own exception types. Names that reach a URL go through :func:`segment`, and
the one door refuses any path with a ``.`` or ``..`` segment or an encoded
``/`` whatever its caller: a name taken from an alert label or a runbook can
never be normalised onto another namespace's object. The client is synchronous (the ``kubernetes`` package);
async callers run it in a worker thread.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from onduty import API_VERSION

log = logging.getLogger(__name__)
T = TypeVar("T")

# Connect fast (a dead API server should turn into a 5xx for Alertmanager
# quickly), read a little longer (a busy API server under a storm is slow, not dead).
DEFAULT_TIMEOUT = (3.0, 15.0)
# Optimistic-concurrency retries on 409: a handful suffices; contention on one
# incident comes from at most a few alerts and the remediation worker.
CONFLICT_RETRIES = 8
# Backoff between those retries: exponential from 50 ms, capped at 2 s, with full
# jitter so writers that collided once do not collide again in step.
CONFLICT_BACKOFF_BASE = 0.05
CONFLICT_BACKOFF_CAP = 2.0


def conflict_backoff(attempt: int, *, rand: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait before retry ``attempt`` (0-based) after a conflict: full jitter."""
    return rand(0.0, min(CONFLICT_BACKOFF_CAP, CONFLICT_BACKOFF_BASE * 2**attempt))


WORKLOAD_PATHS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


class KubeError(Exception):
    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ApiUnavailable(KubeError):
    """The API server could not be reached or could not answer now."""


class ApiRejected(KubeError):
    """The API server refused the request (4xx)."""


class NotFound(ApiRejected):
    pass


class Conflict(ApiRejected):
    pass


class UnsafePath(ApiRejected):
    """A path that could be normalised onto another object; refused before anything is sent."""


def segment(value: object) -> str:
    """One URL path segment from a name: percent-encoded, never ``.``, ``..``, empty or holding ``/``."""
    text = str(value)
    if text in ("", ".", "..") or "/" in text:
        raise UnsafePath(f"refusing {text!r} as a path segment: it could name another object", status=400)
    return quote(text, safe="")


def _check_path(path: str) -> None:
    for part in path.split("/")[1:]:
        decoded = unquote(part)
        if decoded in ("", ".", "..") or "/" in decoded or "?" in part or "#" in part:
            raise UnsafePath(f"refusing path {path!r}: segment {part!r} could name another object", status=400)


def load_client(kubeconfig: str | Path | None = None, context: str | None = None) -> k8s_client.ApiClient:
    """A client from an explicit kubeconfig, else in-cluster, else the default kubeconfig."""
    configuration = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=configuration)
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(context=context, client_configuration=configuration)
    # Our own timeouts decide; urllib3's retries would multiply them.
    configuration.retries = False
    # One pool slot per worker thread, so a storm does not queue on the pool.
    configuration.connection_pool_maxsize = 32
    return k8s_client.ApiClient(configuration)


class Cluster:
    """Typed-enough access to the few resources onduty reads and writes."""

    def __init__(self, api: k8s_client.ApiClient, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.api = api
        self.timeout = timeout

    # --- the one door -------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        data = self._send(method, path, query=query, body=body, content_type=content_type, accept=accept)
        return json.loads(data) if data else {}

    def request_text(self, method: str, path: str, *, query: dict[str, str] | None = None) -> str:
        """A request whose answer is text, not JSON: pod logs. Undecodable bytes are replaced."""
        return self._send(method, path, query=query, accept="*/*").decode(errors="replace")

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str,
    ) -> bytes:
        _check_path(path)
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            _, url, headers, _, _ = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            # The REST layer JSON-encodes the body itself (for every application/*json type).
            response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=self.timeout)
            response.read()
        except ApiException as error:
            raise _classify(error, method, path) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ApiUnavailable(f"{method} {path}: API server unreachable: {error}") from error
        if response.status >= 400:  # call_api does not always raise
            raise _classify(
                ApiException(status=response.status, reason=response.reason, body=response.data), method, path
            )
        return bytes(response.data or b"")

    # --- onduty's own kinds -------------------------------------------------------------
    @staticmethod
    def custom_path(plural: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        path = f"/apis/{API_VERSION}"
        if namespace:
            path += f"/namespaces/{segment(namespace)}"
        path += f"/{segment(plural)}"
        if name:
            path += f"/{segment(name)}"
        if sub:
            path += f"/{segment(sub)}"
        return path

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.request("GET", self.custom_path(plural, namespace, name))

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", self.custom_path(plural, namespace), body=body)

    def delete(self, plural: str, namespace: str, name: str, *, uid: str | None = None) -> None:
        body = {"preconditions": {"uid": uid}} if uid else None
        self.request("DELETE", self.custom_path(plural, namespace, name), body=body)

    def merge_patch(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any], *, status: bool = False
    ) -> dict[str, Any]:
        path = self.custom_path(plural, namespace, name, "status" if status else None)
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def list(
        self, plural: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        return list(self.request("GET", self.custom_path(plural, namespace), query=query).get("items", []))

    def update_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        mutate: Callable[[dict[str, Any], dict[str, Any]], T],
        *,
        known: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], T]:
        """Read, edit ``status`` with ``mutate(status, obj)``, write back; retry on conflict.

        The write carries the resourceVersion that was read, so two writers can
        never overwrite each other's edits (merge patches replace whole lists).
        ``known``, the object as its caller last read or wrote it, saves the first
        read: if it is no longer current, the write is refused and the edit is made
        again on a fresh read. An edit that changes nothing of ``known`` is judged
        again on a fresh read too (only a write proves ``known`` current).
        """
        attempt, known_obj = 0, known or {}
        while attempt < CONFLICT_RETRIES:
            guessed, known = known is not None, None
            obj = known_obj if guessed else self.get(plural, namespace, name)
            status = json.loads(json.dumps(obj.get("status") or {}))
            result = mutate(status, obj)
            if status == (obj.get("status") or {}):
                if guessed:
                    continue
                return obj, result
            # A merge patch keeps what it does not name: a field the edit removed is written as null.
            removed = {key: None for key in obj.get("status") or {} if key not in status}
            patch = {
                "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
                "status": {**status, **removed},
            }
            try:
                return self.merge_patch(plural, namespace, name, patch, status=True), result
            except Conflict:
                if guessed:  # ``known`` was not current: read it, and no one else's write to wait for
                    continue
                log.debug("conflict writing %s %s/%s status, attempt %d", plural, namespace, name, attempt + 1)
                time.sleep(conflict_backoff(attempt))
                attempt += 1
        raise ApiUnavailable(f"{plural} {namespace}/{name}: status kept changing under {CONFLICT_RETRIES} attempts")

    # --- workloads and namespaces -------------------------------------------------------
    @staticmethod
    def workload_path(kind: str, namespace: str, name: str) -> str:
        """The path of an action's target: a workload, or (a node-scoped incident's) a Node, cluster-scoped."""
        if kind == "Node":
            return f"/api/v1/nodes/{segment(name)}"
        if kind not in WORKLOAD_PATHS:
            raise ApiRejected(f"workload kind {kind!r} is not one of {', '.join(WORKLOAD_PATHS)}", status=400)
        return f"/apis/apps/v1/namespaces/{segment(namespace)}/{WORKLOAD_PATHS[kind]}/{segment(name)}"

    def get_workload(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.request("GET", self.workload_path(kind, namespace, name))

    def patch_workload(
        self, kind: str, namespace: str, name: str, patch: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        query = {"dryRun": "All"} if dry_run else None
        return self.request(
            "PATCH",
            self.workload_path(kind, namespace, name),
            query=query,
            body=patch,
            content_type="application/merge-patch+json",
        )

    def get_namespace(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/namespaces/{segment(name)}")

    def get_admission(self, plural: str, name: str) -> dict[str, Any]:
        """A cluster-scoped admission object (``validatingadmissionpolicies``, ``…bindings``) by name."""
        return self.request("GET", f"/apis/admissionregistration.k8s.io/v1/{segment(plural)}/{segment(name)}")

    def readyz(self) -> bool:
        try:
            self.api.call_api("GET", self.api.configuration.host + "/readyz", _request_timeout=self.timeout).read()
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return False
        return True


def _classify(error: ApiException, method: str, path: str) -> KubeError:
    status = int(error.status or 0)
    reason, message = "", str(error.reason or "")
    try:
        body = json.loads(error.body) if error.body else {}
        reason, message = body.get("reason", ""), body.get("message", message)
    except (ValueError, TypeError):
        pass
    text = f"{method} {path}: {status} {reason}: {message}".strip()
    if status == 404:
        return NotFound(text, status=status, reason=reason)
    if status == 409:
        return Conflict(text, status=status, reason=reason)
    if status == 429 or status >= 500 or status == 0:
        return ApiUnavailable(text, status=status, reason=reason)
    return ApiRejected(text, status=status, reason=reason)
