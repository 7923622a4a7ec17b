"""Gather a runbook's diagnostics for an incident, once, and record them where the responder looks.

The incident worker calls :func:`gather` right after the runbook is matched
and before any remediation. Every diagnostic runs at once, each in its own
worker thread and within its ``timeoutSeconds``; a diagnostic that fails or
times out records its error, and :func:`gather` itself never raises for the
outside world (the API server, Prometheus, an endpoint) — remediation goes on
whatever diagnostics found. Cancellation (Kopf stopping the daemon) does
propagate.

The results go into ``status.diagnostics`` (bounded: see
``onduty.domain.diagnostics``) and ``status.diagnosticsSummary`` in one write,
with one timeline entry (``DiagnosticsGathered``, or ``DiagnosticsFailed``
when nothing could be gathered) that also becomes an Event. An incident whose
status already has ``diagnostics`` is left alone, so an operator restarted
mid-incident does not gather twice.

The threads come from a pool of this gathering's own, not asyncio's default
executor, so twenty slow diagnostics cannot delay the remediation worker's own
API calls.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from onduty.adapters.diagnostics import Subject, collect
from onduty.adapters.kube import Cluster, KubeError
from onduty.adapters.prometheus import Prometheus
from onduty.domain import diagnostics, runbook_rendering, timeline, trust
from onduty.domain.diagnostics import DiagnosticSpec, Result
from onduty.domain.runbooks import RunbookSpec
from onduty.domain.timeline import Entry
from onduty.domain.workloads import Workload
from onduty.services.ports import Runtime

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any], Sequence[Entry]], None]


async def gather(
    runtime: Runtime,
    incident_obj: dict[str, Any],
    spec: RunbookSpec,
    *,
    emit: Emit,
    grants: trust.Grants | None = None,
    confine_promql: bool = True,
) -> None:
    """Run ``spec.diagnostics`` for the incident and record the results; no-op if there are none or already some.

    Everything is read in the incident's namespace; ``grants`` (from the
    RemediationPolicies in scope) and ``confine_promql`` say what may reach
    beyond it. ``emit`` posts the timeline entry as an Event (the handlers pass Kopf's; tests their own).
    """
    if not spec.diagnostics or "diagnostics" in (incident_obj.get("status") or {}):
        return
    meta = incident_obj["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    refusal: str | None = None
    try:
        workload = Workload.from_dict(incident_obj["spec"].get("workload"), namespace)
    except trust.Untrusted as untrusted:
        workload, refusal = None, f"{untrusted.reason}: {untrusted.message}"
    subject = Subject(
        namespace,
        workload,
        _now(),
        grants=grants or trust.Grants(),
        confine_promql=confine_promql,
        workload_refusal=refusal,
    )
    url = runtime.config.prometheus_url
    prometheus = Prometheus(url) if url else None
    values = runbook_rendering.incident_values(incident_obj, namespace)
    pool = ThreadPoolExecutor(max_workers=len(spec.diagnostics), thread_name_prefix="onduty-diagnostics")
    try:
        results = await asyncio.gather(
            *(_run(pool, _rendered(item, values), subject, runtime.cluster, prometheus) for item in spec.diagnostics)
        )
    finally:
        # A collector past its time bound is abandoned, not awaited: its own
        # request timeouts end its thread.
        pool.shutdown(wait=False, cancel_futures=True)
    bounded = diagnostics.bound_all(results)
    summary = diagnostics.render_summary(bounded)
    reason, message, type_ = diagnostics.conclusion(bounded)

    def record(status: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
        if "diagnostics" in status:  # gathered by another run meanwhile
            return []
        status["diagnostics"] = [r.to_dict() for r in bounded]
        status["diagnosticsSummary"] = summary
        entry = Entry(reason, message, type_)
        timeline.append(status, entry, _now())
        return [entry]

    try:
        obj, entries = await asyncio.to_thread(runtime.cluster.update_status, "incidents", namespace, name, record)
    except KubeError as error:
        # Remediation must not wait for this; the next run of the worker gathers again.
        log.warning("could not record diagnostics of incident %s/%s: %s", namespace, name, error)
        return
    emit(obj, entries)


def _rendered(spec: DiagnosticSpec, values: runbook_rendering.IncidentValues) -> DiagnosticSpec | Result:
    """The diagnostic with the incident's values in its templates, or its failure when they do not fit."""
    try:
        return runbook_rendering.render_diagnostic(spec, values)
    except trust.Untrusted as refusal:
        return diagnostics.failed(spec.name, spec.type, f"{refusal.reason}: {refusal.message}", duration_ms=0)


async def _run(
    pool: ThreadPoolExecutor,
    spec: DiagnosticSpec | Result,
    subject: Subject,
    cluster: Cluster,
    prometheus: Prometheus | None,
) -> Result:
    if isinstance(spec, Result):  # refused before it ran (a template that did not fit)
        return spec
    loop = asyncio.get_running_loop()
    started = loop.time()
    work = functools.partial(collect, spec, subject, cluster=cluster, prometheus=prometheus)
    try:
        return await asyncio.wait_for(loop.run_in_executor(pool, work), timeout=spec.timeout_seconds)
    except TimeoutError:
        error = f"did not finish within {spec.timeout_seconds}s"
    except Exception as unexpected:  # a bug in one collector must cost neither the others nor remediation
        log.exception("diagnostic %s (%s) failed unexpectedly", spec.name, spec.type)
        error = f"{type(unexpected).__name__}: {unexpected}"
    return diagnostics.failed(spec.name, spec.type, error, duration_ms=int((loop.time() - started) * 1000))


def _now() -> datetime:
    return datetime.now(UTC)
