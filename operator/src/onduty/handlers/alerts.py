"""Alert → Incident: open an incident or join an open one, and resolve it when all alerts resolve.

The steps are ordered so a crash at any point is repaired by the next run
(Kopf re-runs the handler on resume): create the incident, record the alert
in it, and only then mark the alert as attached.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf

from onduty import API_VERSION
from onduty.adapters.kube import ApiUnavailable, Conflict, KubeError, NotFound
from onduty.domain import grouping, incidents, severity
from onduty.domain.alerts import safe_label_value
from onduty.domain.timeline import Entry
from onduty.domain.workloads import workload_from_labels
from onduty.handlers.events import post
from onduty.handlers.runtime import Runtime

GROUP_LABEL = "onduty.dev/group"
INCIDENT_LABEL = "onduty.dev/incident"


async def reconcile_alert(runtime: Runtime, alert: dict[str, Any]) -> None:
    try:
        await asyncio.to_thread(_reconcile, runtime, alert)
    except ApiUnavailable as error:
        raise kopf.TemporaryError(f"API server unavailable: {error}", delay=2) from error
    except KubeError as error:
        raise kopf.TemporaryError(str(error), delay=10) from error


def _reconcile(runtime: Runtime, alert: dict[str, Any]) -> None:
    cluster = runtime.cluster
    meta, spec, status = alert["metadata"], alert.get("spec", {}), alert.get("status") or {}
    namespace, name = meta["namespace"], meta["name"]
    now = datetime.now(UTC)
    attached = status.get("incident")
    if attached:
        try:
            _record(runtime, namespace, attached, alert, now)
        except NotFound:
            return  # the incident was deleted by a human; nothing to update
        return
    if spec.get("state") == "resolved":
        return  # resolved before we ever saw it fire: nothing to open
    labels = spec.get("labels", {})
    workload = workload_from_labels(labels, namespace)
    key = grouping.group_key(labels, workload, runtime.config.grouping.keys)
    incident = _find_or_open(runtime, namespace, key, alert, workload, now)
    _record(runtime, namespace, incident["metadata"]["name"], alert, now)
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


def _find_or_open(
    runtime: Runtime, namespace: str, key: str, alert: dict[str, Any], workload: Any, now: datetime
) -> dict[str, Any]:
    with runtime.group_lock(key):
        selector = f"{GROUP_LABEL}={grouping.group_hash(key)}"
        for candidate in runtime.cluster.list("incidents", namespace, label_selector=selector):
            if not incidents.is_resolved(candidate.get("status") or {}):
                return candidate
        spec = alert["spec"]
        labels = spec.get("labels", {})
        title = spec.get("annotations", {}).get("summary") or spec.get("alertname") or "alert"
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Incident",
            "metadata": {
                "name": grouping.incident_name(spec.get("alertname", ""), key, now),
                "labels": {
                    GROUP_LABEL: grouping.group_hash(key),
                    "onduty.dev/alertname": safe_label_value(spec.get("alertname", "")),
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
        try:
            created = runtime.cluster.create("incidents", namespace, body)
        except Conflict:  # same group, same second, after a crash: it is ours
            created = runtime.cluster.get("incidents", namespace, body["metadata"]["name"])

        def _open(status: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
            # Opened with its first alert in one write: the timeline starts
            # "opened, alert joined" before the remediation worker reads it.
            return incidents.open_incident(status, now=now, title=title, workload=workload) + _alert_joined(
                status, alert, now
            )

        obj, entries = runtime.cluster.update_status("incidents", namespace, created["metadata"]["name"], _open)
        post(obj, entries)
        return obj


def _alert_joined(status: dict[str, Any], alert: dict[str, Any], now: datetime) -> list[Entry]:
    spec = alert["spec"]
    return incidents.record_alert(
        status,
        name=alert["metadata"]["name"],
        state=spec.get("state", "firing"),
        alertname=spec.get("alertname", ""),
        starts_at=spec.get("startsAt", ""),
        now=now,
    )


def _record(runtime: Runtime, namespace: str, incident: str, alert: dict[str, Any], now: datetime) -> None:
    spec = alert["spec"]

    obj, entries = runtime.cluster.update_status(
        "incidents", namespace, incident, lambda s, _: _alert_joined(s, alert, now)
    )
    post(obj, entries)
    # A more severe alert joining raises the incident's severity.
    worst = severity.worst(obj["spec"]["severity"], severity.normalise(spec.get("labels", {}).get("severity")))
    if worst != obj["spec"]["severity"] and spec.get("state") == "firing":
        runtime.cluster.merge_patch("incidents", namespace, incident, {"spec": {"severity": worst}})
