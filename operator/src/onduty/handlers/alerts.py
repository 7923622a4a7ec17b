"""Alert → Incident: open an incident or join an open one, and resolve it when all alerts resolve.

The steps are ordered so a crash at any point is repaired by the next run
(Kopf re-runs the handler on resume): create the incident, record the alert
in it, and only then mark the alert as attached.

Errors are classified, never a tight loop: an unreachable API server or a race
with another writer is retried after a jittered delay of seconds; a request the
API server refuses for good (a 4xx other than a conflict or a vanished object)
would be refused again, so the alert says why on its ``Recorded`` condition and
a Warning Event, and is not retried until it changes or onduty restarts.

Writes to one incident's status from many alerts (a storm of hundreds) take
turns under a per-incident lock, and whoever's turn comes writes every record
waiting for that incident in one status write: a storm costs a few writes of
the incident (each a read and a conditional write of a large object), not one
or more per alert, and no conflicts among them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from onduty import API_VERSION
from onduty.adapters.kube import ApiRejected, ApiUnavailable, Conflict, KubeError, NotFound
from onduty.domain import columns, grouping, incidents, severity, timeline
from onduty.domain.alerts import safe_label_value
from onduty.domain.annotations import ALERTNAME_LABEL, GROUP_LABEL, INCIDENT_LABEL
from onduty.domain.timeline import Entry
from onduty.domain.workloads import workload_from_labels
from onduty.handlers.events import post
from onduty.handlers.runtime import Runtime

log = logging.getLogger(__name__)

COND_RECORDED = "Recorded"
# A temporary failure is retried after this many seconds: long enough not to add
# to an overloaded API server's load, jittered so the alerts of a storm do not
# come back in step, short enough that an incident learns of its alerts promptly.
RETRY_DELAY_SECONDS = (3.0, 10.0)


async def reconcile_alert(runtime: Runtime, alert: dict[str, Any]) -> None:
    try:
        await asyncio.get_running_loop().run_in_executor(runtime.alert_threads, _reconcile, runtime, alert)
    except KubeError as error:
        if not isinstance(error, (Conflict, NotFound)):  # a race settles by itself: no error to count
            runtime.observed.reconcile_errors.labels("alerts", type(error).__name__).inc()
        raise await _for_kopf(runtime, alert, error) from error


async def _for_kopf(
    runtime: Runtime, alert: dict[str, Any], error: KubeError
) -> kopf.TemporaryError | kopf.PermanentError:
    """Kopf's terms for what the API server said: try again after a jittered delay, or give up on this alert."""
    delay = random.uniform(*RETRY_DELAY_SECONDS)
    if isinstance(error, ApiUnavailable):
        return kopf.TemporaryError(f"API server unavailable: {error}", delay=delay)
    if isinstance(error, (Conflict, NotFound)):  # a race with another writer: the next look settles it
        return kopf.TemporaryError(str(error), delay=delay)
    if isinstance(error, ApiRejected):
        await asyncio.to_thread(_give_up, runtime, alert, error)
        return kopf.PermanentError(f"the API server refused to record this alert, for good: {error}")
    return kopf.TemporaryError(str(error), delay=delay)


def _give_up(runtime: Runtime, alert: dict[str, Any], error: ApiRejected) -> None:
    """Say on the alert why it is in no incident; retrying the same request would be refused again."""
    meta = alert["metadata"]
    message = (
        f"the API server refused to record this alert in an incident ({error}); onduty retries when the"
        " alert changes or onduty restarts"
    )
    post(runtime, alert, [Entry("AlertNotRecorded", message, "Warning")])  # an Event and a log line naming the alert
    status = {"conditions": (alert.get("status") or {}).get("conditions") or []}
    timeline.set_condition(
        status, type_=COND_RECORDED, true=False, reason="IncidentUpdateRejected", message=message, now=_now()
    )
    try:
        runtime.cluster.merge_patch("alerts", meta["namespace"], meta["name"], {"status": status}, status=True)
    except KubeError as again:
        log.error("alert %s/%s: recording that failed too: %s", meta.get("namespace"), meta.get("name"), again)


def _now() -> datetime:
    return datetime.now(UTC)


def _incident_lock(runtime: Runtime, namespace: str, incident: str) -> threading.Lock:
    # A key no group key can be (group keys are label pairs): one lock per incident.
    return runtime.group_lock(f"incident\x00{namespace}/{incident}")


Mutation = Callable[[dict[str, Any], dict[str, Any]], list[Entry]]


@dataclass
class _Write:
    """One alert's edit of an incident's status, waiting for its turn."""

    mutate: Mutation
    done: bool = False
    result: tuple[dict[str, Any], list[Entry]] | None = None
    error: BaseException | None = None


def _update_incident(
    runtime: Runtime, namespace: str, incident: str, mutate: Mutation, *, known: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[Entry]]:
    """``update_status`` of the incident with ``mutate``, sharing one write with every edit waiting for it.

    Each edit is applied in order to the same fresh status (and again on a
    conflict), so the result is what one write per edit would have made; each
    caller gets the written object and its own timeline entries, or the error.
    ``known`` (the incident as just created or listed) saves the read when it is current.
    """
    key = f"{namespace}/{incident}"
    mine = _Write(mutate)
    with runtime.incident_writes_lock:
        runtime.incident_writes.setdefault(key, []).append(mine)
    with _incident_lock(runtime, namespace, incident):
        if not mine.done:
            with runtime.incident_writes_lock:
                batch = [w for w in runtime.incident_writes.pop(key, []) if isinstance(w, _Write)]

            def all_of_them(status: dict[str, Any], obj: dict[str, Any]) -> list[list[Entry]]:
                return [write.mutate(status, obj) for write in batch]

            try:
                obj, results = runtime.cluster.update_status("incidents", namespace, incident, all_of_them, known=known)
            except BaseException as error:
                for write in batch:
                    write.error, write.done = error, True
                raise
            for write, entries in zip(batch, results, strict=True):
                write.result, write.done = (obj, entries), True
    failure = mine.error
    if isinstance(failure, KubeError):  # the writer's error, as this caller's own (same class, same answer)
        raise type(failure)(str(failure), status=failure.status, reason=failure.reason) from failure
    if failure is not None:
        raise failure
    assert mine.result is not None
    return mine.result


def _reconcile(runtime: Runtime, alert: dict[str, Any]) -> None:
    cluster = runtime.cluster
    meta, spec, status = alert["metadata"], alert.get("spec", {}), alert.get("status") or {}
    namespace, name = meta["namespace"], meta["name"]
    now = _now()
    attached = status.get("incident")
    if attached:
        try:
            _record(runtime, namespace, attached, alert, now)
        except NotFound:
            return  # the incident was deleted by a human; nothing to update
        _mark_recorded(runtime, alert, now)
        return
    labels = spec.get("labels", {})
    workload = workload_from_labels(labels, namespace)
    key = grouping.group_key(labels, workload, runtime.config.grouping.keys)
    if spec.get("state") == "resolved":
        # Resolved before we saw it attached: nothing to open. An open incident of its
        # group counts it only if it recorded it firing (a crash before the attach).
        selector = f"{GROUP_LABEL}={grouping.group_hash(key)}"
        for candidate in runtime.cluster.list("incidents", namespace, label_selector=selector):
            if not incidents.is_resolved(candidate.get("status") or {}):
                _record(runtime, namespace, candidate["metadata"]["name"], alert, now)
        return
    incident = _find_or_open(runtime, namespace, key, alert, workload, now)
    _record(runtime, namespace, incident["metadata"]["name"], alert, now, known=incident)
    cluster.merge_patch(
        "alerts",
        namespace,
        name,
        {
            "metadata": {
                "labels": {INCIDENT_LABEL: incident["metadata"]["name"]},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "Incident",
                        "name": incident["metadata"]["name"],
                        "uid": incident["metadata"]["uid"],
                    }
                ],
            }
        },
    )
    cluster.merge_patch("alerts", namespace, name, {"status": {"incident": incident["metadata"]["name"]}}, status=True)
    _mark_recorded(runtime, alert, now)


def _mark_recorded(runtime: Runtime, alert: dict[str, Any], now: datetime) -> None:
    """Clear a ``Recorded=False`` an earlier refusal left; an alert that never had one costs no write."""
    conditions = (alert.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == COND_RECORDED and c.get("status") == "False" for c in conditions):
        return
    status: dict[str, Any] = {"conditions": conditions}
    timeline.set_condition(
        status, type_=COND_RECORDED, true=True, reason="Recorded", message="recorded in its incident", now=now
    )
    meta = alert["metadata"]
    runtime.cluster.merge_patch("alerts", meta["namespace"], meta["name"], {"status": status}, status=True)


# An incident of the group made in the same second may already be resolved (a short
# episode, then a re-fire): a few numbered names after it, then a clear error.
NAME_ATTEMPTS = 10


def _create_incident(runtime: Runtime, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create the incident; a name taken by an open incident of the group is ours (a crash), one taken
    by a resolved incident (the same second) moves on to ``<name>-2``, ``<name>-3``, …"""
    base = body["metadata"]["name"]
    for attempt in range(1, NAME_ATTEMPTS + 1):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            return dict(
                runtime.cluster.create("incidents", namespace, {**body, "metadata": {**body["metadata"], "name": name}})
            )
        except Conflict:
            existing = runtime.cluster.get("incidents", namespace, name)
            if not incidents.is_resolved(existing.get("status") or {}):
                return dict(existing)
    raise Conflict(f"incidents {namespace}/{base}: {NAME_ATTEMPTS} names in this second are taken", status=409)


def _find_or_open(
    runtime: Runtime, namespace: str, key: str, alert: dict[str, Any], workload: Any, now: datetime
) -> dict[str, Any]:
    with runtime.group_lock(key):
        spec = alert["spec"]
        labels = spec.get("labels", {})
        title = spec.get("annotations", {}).get("summary") or spec.get("alertname") or "alert"

        def _open(status: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
            # Opened with its first alert in one write: the timeline starts
            # "opened, alert joined" before the remediation worker reads it.
            return incidents.open_incident(status, now=now, title=title, workload=workload) + _alert_joined(
                status, alert, now
            )

        selector = f"{GROUP_LABEL}={grouping.group_hash(key)}"
        for candidate in runtime.cluster.list("incidents", namespace, label_selector=selector):
            if incidents.is_resolved(candidate.get("status") or {}):
                continue
            if (candidate.get("status") or {}).get("openedAt"):
                return candidate
            # Created by an operator killed before it opened it: open it now, with this alert, rather
            # than join the alert to an incident nobody opened (the worker would open it only later).
            obj, entries = _update_incident(runtime, namespace, candidate["metadata"]["name"], _open)
            post(runtime, obj, entries)
            return obj
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Incident",
            "metadata": {
                "name": grouping.incident_name(spec.get("alertname", ""), key, now),
                "labels": {
                    GROUP_LABEL: grouping.group_hash(key),
                    ALERTNAME_LABEL: safe_label_value(spec.get("alertname", "")),
                    "app.kubernetes.io/managed-by": "onduty",
                },
            },
            "spec": {
                "title": title[:1024],
                "severity": severity.normalise(labels.get("severity")),
                "source": "alertmanager",
                "groupKey": key,
                "labels": labels,
                **({"workload": workload.to_dict()} if workload else {}),
            },
        }
        created = _create_incident(runtime, namespace, body)
        obj, entries = _update_incident(runtime, namespace, created["metadata"]["name"], _open, known=created)
        post(runtime, obj, entries)
        return obj


def _alert_joined(status: dict[str, Any], alert: dict[str, Any], now: datetime) -> list[Entry]:
    spec = alert["spec"]
    columns.record_runbook_url(status, spec.get("annotations"))  # for `kubectl get incidents -o wide`
    # Alertmanager cut alerts of this group (truncatedAlerts, from the bridge): the incident says so.
    truncated = incidents.record_truncation(status, int(spec.get("truncatedAlerts") or 0), now=now)
    return truncated + incidents.record_alert(
        status,
        name=alert["metadata"]["name"],
        state=spec.get("state", "firing"),
        alertname=spec.get("alertname", ""),
        starts_at=spec.get("startsAt", ""),
        now=now,
    )


def _record(
    runtime: Runtime,
    namespace: str,
    incident: str,
    alert: dict[str, Any],
    now: datetime,
    *,
    known: dict[str, Any] | None = None,
) -> None:
    spec = alert["spec"]

    obj, entries = _update_incident(
        runtime, namespace, incident, lambda s, _: _alert_joined(s, alert, now), known=known
    )
    post(runtime, obj, entries)
    # A more severe alert joining raises the incident's severity.
    worst = severity.worst(obj["spec"]["severity"], severity.normalise(spec.get("labels", {}).get("severity")))
    if worst != obj["spec"]["severity"] and spec.get("state") == "firing":
        runtime.cluster.merge_patch("incidents", namespace, incident, {"spec": {"severity": worst}})
