"""Diagnostics: the context a responder gathers in the first ten minutes, as data.

A runbook lists diagnostic steps (``spec.diagnostics``). When an incident
matches it, the operator runs them all at once, each bounded in time, and
writes one compact result per step into the incident's status, next to a
human-readable summary (which a chat integration can post as it is).

This package is pure: the collectors in ``onduty.adapters.diagnostics``
fetch, these modules judge. One module per concern:

* :mod:`.specs` — the spec models of each diagnostic type (the CRD schema
  says the same) and :data:`DiagnosticSteps`, the list a runbook holds;
* :mod:`.results` — :class:`Result`, and the size bounds: a result is at most
  :data:`RESULT_LIMIT` bytes of JSON and all of them together at most
  :data:`TOTAL_LIMIT`, cut where over, each cut marked;
* :mod:`.times` — times as Kubernetes, Helm and Argo CD write them;
* one summariser per diagnostic type, turning what the API server, Helm's
  release records, Argo CD, Prometheus or an HTTP endpoint answered into a
  :class:`Result`: :mod:`.pods` (``podStatus``, and which pods are the most
  interesting), :mod:`.logs` (``podLogs``), :mod:`.events`, :mod:`.rollouts`
  (``rolloutHistory``), :mod:`.helm` (``helmHistory``), :mod:`.argo`
  (``argoHistory``), :mod:`.config_changes`, :mod:`.promql` (with
  :func:`trend` for range-query samples) and :mod:`.http_checks`;
* :mod:`.summary` — :func:`render_summary` and the timeline's :func:`conclusion`.

Callers use the names below from the package (``from onduty.domain import
diagnostics as d``; ``d.PodLogs``, ``d.bound_all``), not from its modules.
"""

from __future__ import annotations

from onduty.domain.diagnostics.argo import argo_history_result
from onduty.domain.diagnostics.config_changes import (
    MAX_CONFIG_OBJECTS,
    config_changes_result,
    last_change,
    referenced_config,
)
from onduty.domain.diagnostics.events import event_time, events_result
from onduty.domain.diagnostics.helm import (
    HELM_INSTANCE_LABEL,
    HELM_NAMESPACE_ANNOTATION,
    HELM_RELEASE_ANNOTATION,
    helm_history_result,
    helm_release_of,
)
from onduty.domain.diagnostics.http_checks import (
    MAX_HTTP_ENDPOINTS,
    Endpoint,
    EndpointPlan,
    Probe,
    ServicePortError,
    endpoints_to_probe,
    http_check_result,
    probe_forbidden,
    service_port,
)
from onduty.domain.diagnostics.logs import LOG_FETCH_BYTES, LogRequest, LogStream, log_requests, pod_logs_result
from onduty.domain.diagnostics.pods import is_ready, pod_status_result, rank_pods, restarts, selector_string
from onduty.domain.diagnostics.promql import (
    MAX_SERIES,
    TREND_TOLERANCE,
    Series,
    Trend,
    graph_link,
    promql_result,
    trend,
)
from onduty.domain.diagnostics.results import (
    ERROR_LIMIT,
    RESULT_LIMIT,
    SUMMARY_LIMIT,
    TOTAL_LIMIT,
    Path,
    Result,
    bound,
    bound_all,
    cut_text,
    failed,
    one_line,
    size_of,
)
from onduty.domain.diagnostics.rollouts import CHANGE_CAUSE_ANNOTATION, rollout_history_result
from onduty.domain.diagnostics.specs import (
    DEFAULT_LOG_PODS,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_DIAGNOSTICS,
    MAX_LOG_STREAMS,
    NAME_PATTERN,
    RANGE_POINTS,
    TYPES,
    WORKLOAD_TYPES,
    ArgoHistory,
    ConfigChanges,
    DiagnosticSpec,
    DiagnosticSteps,
    DiagnosticType,
    Events,
    HelmHistory,
    HttpCheck,
    PodLogs,
    PodStatus,
    PromQL,
    RolloutHistory,
    WorkloadRef,
)
from onduty.domain.diagnostics.summary import RENDER_LIMIT, conclusion, render_summary
from onduty.domain.rollouts import REVISION_ANNOTATION
from onduty.domain.times import ago, parse_time

__all__ = [
    "CHANGE_CAUSE_ANNOTATION",
    "DEFAULT_LOG_PODS",
    "DEFAULT_TIMEOUT_SECONDS",
    "ERROR_LIMIT",
    "HELM_INSTANCE_LABEL",
    "HELM_NAMESPACE_ANNOTATION",
    "HELM_RELEASE_ANNOTATION",
    "LOG_FETCH_BYTES",
    "MAX_CONFIG_OBJECTS",
    "MAX_DIAGNOSTICS",
    "MAX_HTTP_ENDPOINTS",
    "MAX_LOG_STREAMS",
    "MAX_SERIES",
    "NAME_PATTERN",
    "RANGE_POINTS",
    "RENDER_LIMIT",
    "RESULT_LIMIT",
    "REVISION_ANNOTATION",
    "SUMMARY_LIMIT",
    "TOTAL_LIMIT",
    "TREND_TOLERANCE",
    "TYPES",
    "WORKLOAD_TYPES",
    "ArgoHistory",
    "ConfigChanges",
    "DiagnosticSpec",
    "DiagnosticSteps",
    "DiagnosticType",
    "Endpoint",
    "EndpointPlan",
    "Events",
    "HelmHistory",
    "HttpCheck",
    "LogRequest",
    "LogStream",
    "Path",
    "PodLogs",
    "PodStatus",
    "Probe",
    "PromQL",
    "Result",
    "RolloutHistory",
    "Series",
    "ServicePortError",
    "Trend",
    "WorkloadRef",
    "ago",
    "argo_history_result",
    "bound",
    "bound_all",
    "conclusion",
    "config_changes_result",
    "cut_text",
    "endpoints_to_probe",
    "event_time",
    "events_result",
    "failed",
    "graph_link",
    "helm_history_result",
    "helm_release_of",
    "http_check_result",
    "is_ready",
    "last_change",
    "log_requests",
    "one_line",
    "parse_time",
    "pod_logs_result",
    "pod_status_result",
    "probe_forbidden",
    "promql_result",
    "rank_pods",
    "referenced_config",
    "render_summary",
    "restarts",
    "rollout_history_result",
    "selector_string",
    "service_port",
    "size_of",
    "trend",
]
