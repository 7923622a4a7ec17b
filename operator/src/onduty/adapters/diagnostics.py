"""Collectors: fetch what each diagnostic needs, hand it to the domain's summariser.

    result = collect(spec, Subject(namespace, workload, now), cluster=cluster, prometheus=prometheus)

Synchronous (one worker thread per diagnostic); the caller bounds the time.
``collect`` never raises for a failure of the outside world: the API server
refusing (``KubeError``), Prometheus not answering (``PrometheusUnavailable``),
a missing target or Application (:class:`DiagnosticError`), an unreadable Helm
record — each becomes a failed :class:`~onduty.domain.diagnostics.Result`
naming the cause. Only a bug (an unexpected exception) propagates.

What is read, and why it is safe to read:

* pods, pod logs (``limitBytes`` bounds what the kubelet sends), Events,
  ReplicaSets, Services, EndpointSlices, Argo CD Applications: as JSON;
* ConfigMaps and Secrets for ``configChanges``: as ``PartialObjectMetadata``,
  so the API server never sends their data;
* Helm's release Secrets: decoded and reduced at once (``onduty.adapters.helm``).

HTTP checks use ``http.client`` directly: no redirects followed, no proxy from
the environment (pod IPs must not go through a corporate proxy), at most
:data:`~onduty.domain.diagnostics.MAX_HTTP_ENDPOINTS` endpoints, each request
within :data:`HTTP_TIMEOUT` and all of them within :data:`HTTP_DEADLINE`.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from onduty.adapters.helm import HelmRecordError, release_history
from onduty.adapters.kube import Cluster, KubeError, NotFound
from onduty.adapters.prometheus import Prometheus, PrometheusUnavailable
from onduty.domain import diagnostics as d
from onduty.domain.workloads import Workload

log = logging.getLogger(__name__)

# A health endpoint that takes more than 2 s to answer is itself the finding.
HTTP_TIMEOUT = 2.0
# All endpoints are probed at once; the whole check must fit well inside the
# diagnostic's default 10 s bound even when every endpoint hangs.
HTTP_DEADLINE = 5.0
# The start of a failing endpoint's body says more than its status code.
HTTP_BODY_BYTES = 256
# ConfigMaps/Secrets are read as metadata only: the API server drops data, keys and all.
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
# Events are read per object: the workload, its newest ReplicaSets and its most
# interesting pods. More objects than this would be a namespace scan.
EVENT_REPLICASETS = 3
EVENT_PODS = 10


class DiagnosticError(Exception):
    """A diagnostic cannot run as asked (no workload to look at, no Prometheus, no such object)."""


@dataclass(frozen=True)
class Subject:
    """What the diagnostics are about: the incident's namespace and workload, and the time to judge 'recent' by."""

    namespace: str
    workload: Workload | None
    now: datetime


def collect(spec: d.DiagnosticSpec, subject: Subject, *, cluster: Cluster, prometheus: Prometheus | None) -> d.Result:
    """Run one diagnostic; a failure of anything outside becomes a failed result (with how long it took)."""
    started = time.monotonic()
    try:
        result = _COLLECTORS[spec.type](spec, subject, cluster, prometheus)
    except (KubeError, PrometheusUnavailable, DiagnosticError, HelmRecordError, d.ServicePortError) as error:
        result = d.failed(spec.name, spec.type, str(error))
    return replace(result, duration_ms=int((time.monotonic() - started) * 1000))


# --- workloads and their pods ----------------------------------------------------------------------


def _workload(spec: Any, subject: Subject) -> Workload:
    target = getattr(spec, "target", None)
    if target is not None:
        return Workload(target.kind, target.name, subject.namespace)
    if subject.workload is None:
        raise DiagnosticError("the incident names no workload and the diagnostic no target")
    return subject.workload


def _get_workload(cluster: Cluster, workload: Workload) -> dict[str, Any]:
    try:
        return cluster.get_workload(workload.kind, workload.namespace, workload.name)
    except NotFound as error:
        raise DiagnosticError(f"{workload} not found in namespace {workload.namespace}") from error


def _list(cluster: Cluster, path: str, query: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return list(cluster.request("GET", path, query=query).get("items") or [])


def _pods(cluster: Cluster, workload: Workload, obj: dict[str, Any]) -> list[dict[str, Any]]:
    selector = d.selector_string((obj.get("spec") or {}).get("selector"))
    if not selector:  # an empty selector would select every pod of the namespace
        raise DiagnosticError(f"{workload} has no pod selector")
    return _list(cluster, f"/api/v1/namespaces/{quote(workload.namespace)}/pods", {"labelSelector": selector})


def _owned_replicasets(cluster: Cluster, workload: Workload, obj: dict[str, Any]) -> list[dict[str, Any]]:
    selector = d.selector_string((obj.get("spec") or {}).get("selector"))
    uid = obj["metadata"]["uid"]
    items = _list(
        cluster, f"/apis/apps/v1/namespaces/{quote(workload.namespace)}/replicasets", {"labelSelector": selector}
    )
    return [rs for rs in items if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])]


# --- one collector per type ----------------------------------------------------------------------


def _pod_logs(spec: d.PodLogs, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    workload = _workload(spec, subject)
    pods = _pods(cluster, workload, _get_workload(cluster, workload))
    streams = []
    for request in d.log_requests(pods, spec):
        query = {
            "container": request.container,
            "tailLines": str(spec.tail_lines),
            "limitBytes": str(d.LOG_FETCH_BYTES),
        }
        if request.previous:
            query["previous"] = "true"
        path = f"/api/v1/namespaces/{quote(workload.namespace)}/pods/{quote(request.pod)}/log"
        try:
            streams.append(d.LogStream(request, text=cluster.request_text("GET", path, query=query)))
        except KubeError as error:
            streams.append(d.LogStream(request, error=str(error)))
    return d.pod_logs_result(spec, streams, pods=len(pods))


def _events(spec: d.Events, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    workload = _workload(spec, subject)
    obj = _get_workload(cluster, workload)
    objects = [(workload.kind, workload.name)]
    if workload.kind == "Deployment":
        replicasets = sorted(
            _owned_replicasets(cluster, workload, obj),
            key=lambda rs: rs["metadata"].get("creationTimestamp", ""),
            reverse=True,
        )
        objects += [("ReplicaSet", rs["metadata"]["name"]) for rs in replicasets[:EVENT_REPLICASETS]]
    objects += [("Pod", p["metadata"]["name"]) for p in d.rank_pods(_pods(cluster, workload, obj))[:EVENT_PODS]]
    events: list[dict[str, Any]] = []
    for kind, name in objects:
        events += _list(
            cluster,
            f"/api/v1/namespaces/{quote(workload.namespace)}/events",
            {"fieldSelector": f"involvedObject.kind={kind},involvedObject.name={name}"},
        )
    return d.events_result(spec, events, subject.now)


def _pod_status(spec: d.PodStatus, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    workload = _workload(spec, subject)
    return d.pod_status_result(spec, _pods(cluster, workload, _get_workload(cluster, workload)))


def _rollout_history(spec: d.RolloutHistory, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    workload = _workload(spec, subject)
    if workload.kind != "Deployment":
        raise DiagnosticError(f"rolloutHistory reads a Deployment's ReplicaSets; {workload} is not a Deployment")
    obj = _get_workload(cluster, workload)
    return d.rollout_history_result(spec, obj, _owned_replicasets(cluster, workload, obj), subject.now)


def _helm_history(spec: d.HelmHistory, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    workload = _workload(spec, subject) if spec.target is not None or subject.workload is not None else None
    if spec.release:
        release, namespace = spec.release, (workload or subject).namespace
    elif workload is None:
        raise DiagnosticError("no Helm release to read: the step names none and the incident names no workload")
    else:
        found, release_namespace = d.helm_release_of(spec, _get_workload(cluster, workload))
        if not found:
            raise DiagnosticError(
                f"no Helm release to read: the step names none, and {workload} carries neither the"
                f" {d.HELM_RELEASE_ANNOTATION} annotation nor the {d.HELM_INSTANCE_LABEL} label"
            )
        release, namespace = found, release_namespace or workload.namespace
    records = release_history(cluster, namespace, release)
    if not records:
        raise DiagnosticError(f"Helm release {release} has no release records in namespace {namespace}")
    return d.helm_history_result(spec, release, records, subject.now)


def _argo_history(spec: d.ArgoHistory, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{quote(spec.namespace)}/applications/{quote(spec.application)}"
    try:
        application = cluster.request("GET", path)
    except NotFound as error:
        raise DiagnosticError(
            f"Argo CD Application {spec.namespace}/{spec.application} not found (or Argo CD is not installed)"
        ) from error
    return d.argo_history_result(spec, application, subject.now)


def _config_changes(spec: d.ConfigChanges, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    workload = _workload(spec, subject)
    obj = _get_workload(cluster, workload)
    pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    configmaps, secrets = d.referenced_config(pod_spec)
    wanted = [("ConfigMap", n) for n in configmaps] + [("Secret", n) for n in secrets]
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    for kind, name in wanted[: d.MAX_CONFIG_OBJECTS]:
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        path = f"/api/v1/namespaces/{quote(workload.namespace)}/{plural}/{quote(name)}"
        try:
            found[(kind, name)] = cluster.request("GET", path, accept=PARTIAL_METADATA).get("metadata") or {}
        except NotFound:
            found[(kind, name)] = None
    return d.config_changes_result(spec, found, subject.now, unchecked=wanted[d.MAX_CONFIG_OBJECTS :])


def _promql(spec: d.PromQL, subject: Subject, _: Cluster, prometheus: Prometheus | None) -> d.Result:
    if prometheus is None:
        raise DiagnosticError("no Prometheus configured (onduty run --prometheus-url)")
    window = spec.window_delta
    if window is None:
        series = prometheus.query_series(spec.expr)
    else:
        series = prometheus.range_series(spec.expr, minutes=window.total_seconds() / 60, step=f"{spec.step_seconds:g}s")
    return d.promql_result(spec, series, d.graph_link(prometheus.url, spec.expr, spec.window))


def _http_check(spec: d.HttpCheck, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    namespace = quote(subject.namespace)
    try:
        service = cluster.request("GET", f"/api/v1/namespaces/{namespace}/services/{quote(spec.service)}")
    except NotFound as error:
        raise DiagnosticError(f"Service {spec.service} not found in namespace {subject.namespace}") from error
    port = d.service_port(service, spec.port)
    slices = _list(
        cluster,
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
        {"labelSelector": f"kubernetes.io/service-name={spec.service}"},
    )
    plan = d.endpoints_to_probe(slices, port[0])
    return d.http_check_result(spec, port, plan, probe_all(plan.probe, spec.path))


def probe_all(
    endpoints: list[d.Endpoint], path: str, *, timeout: float = HTTP_TIMEOUT, deadline: float = HTTP_DEADLINE
) -> list[d.Probe]:
    """GET ``path`` on every endpoint at once; an endpoint still busy at the deadline is reported as such."""
    if not endpoints:
        return []
    pool = ThreadPoolExecutor(max_workers=len(endpoints), thread_name_prefix="onduty-http-check")
    try:
        futures: list[Future[d.Probe]] = [pool.submit(probe, e, path, timeout=timeout) for e in endpoints]
        wait(futures, timeout=deadline)
        return [
            f.result()
            if f.done()
            else d.Probe(e, _url(e, path), error=f"no answer within the {deadline:g}s deadline of the check")
            for e, f in zip(endpoints, futures, strict=True)
        ]
    finally:
        # Do not wait for a straggler: its socket timeout ends it soon enough.
        pool.shutdown(wait=False, cancel_futures=True)


def _url(endpoint: d.Endpoint, path: str) -> str:
    return f"http://{endpoint.url_host}:{endpoint.port}{path}"


def probe(endpoint: d.Endpoint, path: str, *, timeout: float = HTTP_TIMEOUT) -> d.Probe:
    """One GET, no redirects followed, no proxy; the status, latency to the response headers, or the error."""
    url = _url(endpoint, path)
    connection = http.client.HTTPConnection(endpoint.address, endpoint.port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("GET", path, headers={"User-Agent": "onduty-diagnostics", "Connection": "close"})
        response = connection.getresponse()
        latency = (time.monotonic() - started) * 1000
        body = response.read(HTTP_BODY_BYTES).decode(errors="replace")
        return d.Probe(endpoint, url, status=response.status, latency_ms=latency, body=body)
    except TimeoutError:
        return d.Probe(endpoint, url, error=f"timed out after {timeout:g}s")
    except ConnectionRefusedError:
        return d.Probe(endpoint, url, error="connection refused")
    except (OSError, http.client.HTTPException) as error:
        return d.Probe(endpoint, url, error=f"{type(error).__name__}: {error}".rstrip(": "))
    finally:
        connection.close()


_COLLECTORS: dict[str, Callable[[Any, Subject, Cluster, Prometheus | None], d.Result]] = {
    "podLogs": _pod_logs,
    "events": _events,
    "podStatus": _pod_status,
    "rolloutHistory": _rollout_history,
    "helmHistory": _helm_history,
    "argoHistory": _argo_history,
    "configChanges": _config_changes,
    "promql": _promql,
    "httpCheck": _http_check,
}
