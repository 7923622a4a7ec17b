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

Every read is in the incident's namespace (:mod:`onduty.domain.trust`): a
target or release named elsewhere is refused; an Argo CD Application in
another namespace is read only where the policies in scope list that
namespace and the Application deploys into the incident's; a namespaced
runbook's PromQL is confined to the namespace's series (``namespace="<ns>"``
enforced on every selector). HTTP checks never probe loopback, link-local,
unspecified or multicast addresses.

HTTP checks use ``http.client`` directly: no redirects followed, no proxy from
the environment (pod IPs must not go through a corporate proxy), at most
:data:`~onduty.domain.diagnostics.MAX_HTTP_ENDPOINTS` endpoints, each request
within :data:`HTTP_TIMEOUT` and all of them within :data:`HTTP_DEADLINE`.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from onduty.adapters.helm import HelmRecordError, release_history
from onduty.adapters.kube import Cluster, KubeError, NotFound, segment
from onduty.adapters.prometheus import Prometheus, PrometheusUnavailable
from onduty.domain import diagnostics as d
from onduty.domain import promql_scope, trust
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
    """What the diagnostics are about: the incident's namespace and workload, and the time to judge 'recent' by.

    ``grants`` and ``confine_promql`` say what reaches beyond the namespace (the policies in scope decide);
    ``workload_refusal`` says why the incident's workload was refused, if it was.
    """

    namespace: str
    workload: Workload | None
    now: datetime
    grants: trust.Grants = field(default_factory=trust.Grants)
    confine_promql: bool = True
    workload_refusal: str | None = None


def collect(spec: d.DiagnosticSpec, subject: Subject, *, cluster: Cluster, prometheus: Prometheus | None) -> d.Result:
    """Run one diagnostic; a failure of anything outside becomes a failed result (with how long it took)."""
    started = time.monotonic()
    try:
        result = _COLLECTORS[spec.type](spec, subject, cluster, prometheus)
    except (
        KubeError,
        PrometheusUnavailable,
        DiagnosticError,
        HelmRecordError,
        d.ServicePortError,
        trust.Untrusted,
        promql_scope.PromQLError,
    ) as error:
        result = d.failed(spec.name, spec.type, str(error))
    return replace(result, duration_ms=int((time.monotonic() - started) * 1000))


# --- workloads and their pods ----------------------------------------------------------------------


def _workload(spec: Any, subject: Subject) -> Workload:
    target = getattr(spec, "target", None)
    if target is not None:
        return Workload(
            target.kind, trust.name(target.name, field=f"diagnostic {spec.name}: target.name"), subject.namespace
        )
    if subject.workload is None:
        raise DiagnosticError(subject.workload_refusal or "the incident names no workload and the diagnostic no target")
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
    return _list(cluster, f"/api/v1/namespaces/{segment(workload.namespace)}/pods", {"labelSelector": selector})


def _owned_replicasets(cluster: Cluster, workload: Workload, obj: dict[str, Any]) -> list[dict[str, Any]]:
    selector = d.selector_string((obj.get("spec") or {}).get("selector"))
    uid = obj["metadata"]["uid"]
    items = _list(
        cluster, f"/apis/apps/v1/namespaces/{segment(workload.namespace)}/replicasets", {"labelSelector": selector}
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
        path = f"/api/v1/namespaces/{segment(workload.namespace)}/pods/{segment(request.pod)}/log"
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
            f"/api/v1/namespaces/{segment(workload.namespace)}/events",
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
        release, namespace = trust.name(spec.release, field=f"diagnostic {spec.name}: release"), subject.namespace
    elif workload is None:
        raise DiagnosticError("no Helm release to read: the step names none and the incident names no workload")
    else:
        found, release_namespace = d.helm_release_of(spec, _get_workload(cluster, workload))
        if not found:
            raise DiagnosticError(
                f"no Helm release to read: the step names none, and {workload} carries neither the"
                f" {d.HELM_RELEASE_ANNOTATION} annotation nor the {d.HELM_INSTANCE_LABEL} label"
            )
        # The annotation is the workload owner's to write: it cannot send us to another namespace's Secrets.
        release = trust.name(found, field=f"{workload}: Helm release name")
        namespace = trust.Boundary(subject.namespace).target_namespace(
            release_namespace, field=f"{workload}: annotation {d.HELM_NAMESPACE_ANNOTATION}"
        )
    records = release_history(cluster, namespace, release)
    if not records:
        raise DiagnosticError(f"Helm release {release} has no release records in namespace {namespace}")
    return d.helm_history_result(spec, release, records, subject.now)


def _argo_history(spec: d.ArgoHistory, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    name = trust.name(spec.application, field=f"diagnostic {spec.name}: application")
    namespace = trust.Boundary(subject.namespace).other_namespace(
        spec.namespace,
        field=f"diagnostic {spec.name}: namespace",
        allowed=subject.grants.argocd_namespaces,
        what=f"Argo CD Application {name}",
    )
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{segment(namespace)}/applications/{segment(name)}"
    try:
        application = cluster.request("GET", path)
    except NotFound as error:
        raise DiagnosticError(
            f"Argo CD Application {namespace}/{name} not found (or Argo CD is not installed)"
        ) from error
    destination = ((application.get("spec") or {}).get("destination") or {}).get("namespace")
    if namespace != subject.namespace and destination != subject.namespace:
        raise trust.Untrusted(
            "ApplicationOutsideNamespace",
            f"Argo CD Application {namespace}/{name} deploys into namespace {destination!r}, not the incident's"
            f" namespace {subject.namespace!r}",
        )
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
        path = f"/api/v1/namespaces/{segment(workload.namespace)}/{plural}/{segment(name)}"
        try:
            found[(kind, name)] = cluster.request("GET", path, accept=PARTIAL_METADATA).get("metadata") or {}
        except NotFound:
            found[(kind, name)] = None
    return d.config_changes_result(spec, found, subject.now, unchecked=wanted[d.MAX_CONFIG_OBJECTS :])


def _promql(spec: d.PromQL, subject: Subject, _: Cluster, prometheus: Prometheus | None) -> d.Result:
    if prometheus is None:
        raise DiagnosticError("no Prometheus configured (onduty run --prometheus-url)")
    expr = promql_scope.confine(spec.expr, subject.namespace) if subject.confine_promql else spec.expr
    window = spec.window_delta
    if window is None:
        series = prometheus.query_series(expr)
    else:
        series = prometheus.range_series(expr, minutes=window.total_seconds() / 60, step=f"{spec.step_seconds:g}s")
    return d.promql_result(spec, series, d.graph_link(prometheus.url, expr, spec.window))


def _http_check(spec: d.HttpCheck, subject: Subject, cluster: Cluster, _: Prometheus | None) -> d.Result:
    namespace = segment(subject.namespace)
    service_name = trust.label_name(spec.service, field=f"diagnostic {spec.name}: service")
    try:
        service = cluster.request("GET", f"/api/v1/namespaces/{namespace}/services/{segment(service_name)}")
    except NotFound as error:
        raise DiagnosticError(f"Service {spec.service} not found in namespace {subject.namespace}") from error
    port = d.service_port(service, spec.port)
    slices = _list(
        cluster,
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
        {"labelSelector": f"kubernetes.io/service-name={service_name}"},
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
    """One GET, no redirects followed, no proxy; the status, latency to the response headers, or the error.

    ``timeout`` bounds the whole exchange, not each read: a server that drips
    one byte at a time has its socket shut down when the time is up.
    """
    url = _url(endpoint, path)
    refused = d.probe_forbidden(endpoint.address)
    if refused is not None:  # the plan never offers one; a second look costs nothing
        return d.Probe(endpoint, url, error=f"not probed: {refused} address")
    connection = http.client.HTTPConnection(endpoint.address, endpoint.port, timeout=timeout)
    started = time.monotonic()
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("GET", path, headers={"User-Agent": "onduty-diagnostics", "Connection": "close"})
        response = connection.getresponse()
        latency = (time.monotonic() - started) * 1000
        body = response.read(HTTP_BODY_BYTES).decode(errors="replace")
        if expired.is_set():
            return d.Probe(endpoint, url, error=f"timed out after {timeout:g}s")
        return d.Probe(endpoint, url, status=response.status, latency_ms=latency, body=body)
    except TimeoutError:
        return d.Probe(endpoint, url, error=f"timed out after {timeout:g}s")
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            return d.Probe(endpoint, url, error=f"timed out after {timeout:g}s")
        if isinstance(error, ConnectionRefusedError):
            return d.Probe(endpoint, url, error="connection refused")
        return d.Probe(endpoint, url, error=f"{type(error).__name__}: {error}".rstrip(": "))
    finally:
        watchdog.cancel()
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
