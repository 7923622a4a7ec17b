"""Alert → Incident: open an incident or join an open one, and resolve it when all alerts resolve.

Alerts are recorded from their watch events, a group at a time (:class:`AlertRecorder`):
every event of an Alert whose state, incident or truncation count onduty has not
recorded yet pokes its group (namespace + grouping key) in a work queue
(:class:`onduty.services.deadlines.Deadlines`), and one run records everything the
group's events brought since the last one: the incident found or opened once, one
status write for all of its alerts, one Event per kind of entry, and one write per
alert that joins (its incident label and owner). Not Kopf change handlers: those
write their last-handled annotation on every Alert after every change, which in a
storm of thousands of alerts was more writes than the alerts themselves.

The steps are ordered so a crash at any point is repaired by the next run (every
Alert is seen again when onduty starts): create the incident, record the alerts in
it, and only then label each alert with its incident. Recording is idempotent: an
alert recorded twice counts once.

Errors are classified, never a tight loop: an unreachable API server or a race
with another writer puts the group back on the queue after a jittered delay that
doubles up to a minute; a request the API server refuses for good (a 4xx other than
a conflict or a vanished object) would be refused again, so the alert says why on
its ``Recorded`` condition and a Warning Event, and is not tried again until it
changes or onduty restarts.

Writes to one incident's status from several groups' runs (incidents raised by
hand share none) take turns under a per-incident lock, and whoever's turn comes
writes every record waiting for that incident in one status write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from onduty import API_VERSION
from onduty.adapters.kube import ApiRejected, Conflict, KubeError, NotFound
from onduty.domain import columns, grouping, incidents, severity, timeline
from onduty.domain.alerts import attached_incident, safe_label_value
from onduty.domain.annotations import ALERTNAME_LABEL, FINALIZER, GROUP_LABEL, INCIDENT_LABEL
from onduty.domain.timeline import Entry
from onduty.domain.workloads import workload_from_labels
from onduty.handlers.events import post, post_merged
from onduty.handlers.runtime import ALERT_THREADS, Runtime
from onduty.services.deadlines import Deadlines

log = logging.getLogger(__name__)

COND_RECORDED = "Recorded"
# Entries of one write with these reasons are one Event ("3 alerts joined: …"); the timeline keeps each.
MERGED_REASONS = frozenset({"AlertJoined", "AlertResolved"})

# How long a group's later alerts wait to be recorded together (see AlertRecorder.alert_event).
GATHER = timedelta(seconds=0.5)

Key = tuple[str, str]  # (namespace, group hash)
# What onduty last recorded of an Alert: its incident, its state and its truncatedAlerts.
Recorded = tuple[str, str, int]


def _recorded(alert: dict[str, Any]) -> Recorded:
    spec = alert.get("spec") or {}
    return attached_incident(alert), str(spec.get("state", "firing")), _truncated(spec)


def _truncated(spec: dict[str, Any]) -> int:
    value = spec.get("truncatedAlerts")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class AlertRecorder:
    """Alerts' watch events in, one run per group out (see the module's docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.deadlines = Deadlines(self._work, concurrency=ALERT_THREADS, what="recording the alerts")
        # The alerts each group's events brought since its last run: the newest body by name.
        self._pending: dict[Key, dict[str, dict[str, Any]]] = {}
        # The grouping key behind each group hash (a run needs the key, the queue keys by the hash).
        self._keys: dict[Key, str] = {}
        # What was recorded of each Alert: an event that brings nothing new (onduty's own label
        # write coming back, an annotation a human set) costs no run and no read.
        self._seen: dict[Key, Recorded] = {}
        self._task: asyncio.Task[None] | None = None

    def alert_event(self, event_type: str | None, alert: dict[str, Any]) -> None:
        """A watch event of an Alert (``None``: listed at start): queue its group if it brings anything new."""
        if self._task is None:  # started by the first event: Kopf's context is set up in its watchers'
            self._task = asyncio.create_task(self.deadlines.run(), name="alert recording")
        meta = alert.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if not namespace or not name:
            return
        if event_type == "DELETED":
            self._seen.pop((namespace, name), None)
            return
        if self._seen.get((namespace, name)) == _recorded(alert):
            return
        spec = alert.get("spec") or {}
        labels = spec.get("labels") or {}
        key = grouping.group_key(labels, workload_from_labels(labels, namespace), self.runtime.config.grouping.keys)
        group = (namespace, grouping.group_hash(key))
        # A group's first alert is recorded at once: it may open an incident, and its remediation
        # waits for that. Later ones wait a moment, so a notification's alerts arriving one by one,
        # and a storm's resolutions, are recorded in one write of their incident rather than one each.
        later = group in self._keys
        self._keys[group] = key
        self._pending.setdefault(group, {})[name] = alert
        self.deadlines.poke(group, self.deadlines.wall() + GATHER if later else None)

    async def _work(self, group: Key) -> None:
        # A standby replica (services/peering.py) keeps what its events brought, and records it once it is
        # the active one: recording is idempotent, and two replicas must not open two incidents for a group.
        await self.runtime.standby.wait_active()
        batch = self._pending.pop(group, {})
        if not batch:
            return None
        namespace, _ = group
        key = self._keys[group]
        try:
            done = await asyncio.get_running_loop().run_in_executor(
                self.runtime.alert_threads, _record_group, self.runtime, namespace, key, list(batch.values())
            )
        except Exception as error:
            if isinstance(error, KubeError) and not isinstance(error, (Conflict, NotFound)):  # a race: not counted
                self.runtime.observed.reconcile_errors.labels("alerts", type(error).__name__).inc()
            pending = self._pending.setdefault(group, {})
            for name, alert in batch.items():
                pending.setdefault(name, alert)  # a newer event of the same alert wins
            raise  # the queue looks at the group again after a jittered, doubling delay
        for alert in done:
            meta = alert["metadata"]
            self._seen[(meta["namespace"], meta["name"])] = _recorded(alert)
        return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _give_up(runtime: Runtime, alert: dict[str, Any], error: ApiRejected) -> None:
    """Say on the alert why it is in no incident; retrying the same request would be refused again."""
    runtime.observed.reconcile_errors.labels("alerts", type(error).__name__).inc()
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


def _record_group(runtime: Runtime, namespace: str, key: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record one group's alerts (one run of :class:`AlertRecorder`); returns them as they now stand,
    those the API server refused included (not tried again until they change).

    Alerts already in an incident are recorded there (their new state, their truncation count);
    firing ones in none join the group's open incident, opened for them if there is none; resolved
    ones in none count only in an open incident of the group that recorded them firing (a crash
    before the label). One alert the API server refuses for good says so on itself; the others of
    its batch are recorded one by one.
    """
    now = _now()
    done: list[dict[str, Any]] = []
    by_incident: dict[str, list[dict[str, Any]]] = {}
    joining: list[dict[str, Any]] = []
    resolved_unattached: list[dict[str, Any]] = []
    for alert in batch:
        attached = attached_incident(alert)
        if attached:
            by_incident.setdefault(attached, []).append(alert)
        elif (alert.get("spec") or {}).get("state") == "resolved":
            resolved_unattached.append(alert)
        else:
            joining.append(alert)
    for name, alerts in by_incident.items():
        recorded = alerts  # the incident deleted by a human: nothing to update
        with contextlib.suppress(NotFound):
            recorded = _record_each(runtime, namespace, name, alerts, now)
        for alert in recorded:
            _mark_recorded(runtime, alert, now)
        done += alerts
    if resolved_unattached:
        selector = f"{GROUP_LABEL}={grouping.group_hash(key)}"
        for candidate in runtime.cluster.list("incidents", namespace, label_selector=selector):
            if not incidents.is_resolved(candidate.get("status") or {}):
                _record_each(runtime, namespace, candidate["metadata"]["name"], resolved_unattached, now)
        done += resolved_unattached
    if joining:
        labels = (joining[0].get("spec") or {}).get("labels") or {}
        worst = _worst(severity.normalise(labels.get("severity")), joining)
        workload = workload_from_labels(labels, namespace)
        try:
            opened, with_first = _find_or_open(runtime, namespace, key, joining[0], workload, now, worst=worst)
        except ApiRejected as error:  # the incident itself refused (an admission policy): every alert says so
            for alert in joining:
                _give_up(runtime, alert, error)
            return done + joining
        name = opened["metadata"]["name"]
        # An incident opened just now recorded the first alert as it opened: recording it again would
        # change nothing, and cost a read to be sure of that, on the way to the incident's first action.
        rest = joining[1:] if with_first else joining
        recorded = joining[:1] if with_first else []
        if rest:
            recorded += _record_each(runtime, namespace, name, rest, now, known=opened)
        elif _worst(opened["spec"]["severity"], joining) != opened["spec"]["severity"]:
            runtime.cluster.merge_patch("incidents", namespace, name, {"spec": {"severity": worst}})
        taken = {id(alert) for alert in recorded}
        for alert in joining:
            if id(alert) not in taken:
                done.append(alert)  # refused for good (its Recorded condition says why): tried again when it changes
                continue
            done.append(_attach(runtime, alert, opened))
            _mark_recorded(runtime, alert, now)
    return done


def _record_each(
    runtime: Runtime,
    namespace: str,
    incident: str,
    alerts: list[dict[str, Any]],
    now: datetime,
    *,
    known: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Record ``alerts`` in the incident's status in one write, with one Event per kind of entry; if the API
    server refuses that for good, one by one, and an alert refused alone says why on itself. Returns the
    alerts recorded."""

    def write(batch: list[dict[str, Any]], known: dict[str, Any] | None) -> None:
        def joined(status: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
            return [entry for alert in batch for entry in _alert_joined(status, alert, now)]

        obj, entries = _update_incident(runtime, namespace, incident, joined, known=known)
        post_merged(runtime, obj, entries, merge=MERGED_REASONS)
        # A more severe alert joining raises the incident's severity.
        worst = _worst(obj["spec"]["severity"], batch)
        if worst != obj["spec"]["severity"]:
            runtime.cluster.merge_patch("incidents", namespace, incident, {"spec": {"severity": worst}})

    try:
        write(alerts, known)
        return alerts
    except ApiRejected as error:
        if len(alerts) == 1:
            _give_up(runtime, alerts[0], error)
            return []
    recorded = []
    for alert in alerts:
        try:
            write([alert], None)
            recorded.append(alert)
        except ApiRejected as error:
            _give_up(runtime, alert, error)
    return recorded


def _attach(runtime: Runtime, alert: dict[str, Any], incident: dict[str, Any]) -> dict[str, Any]:
    """Label the alert with its incident, which also owns it (deleting the incident deletes its alerts)."""
    meta = alert["metadata"]
    name = incident["metadata"]["name"]
    patch = {
        "metadata": {
            "labels": {INCIDENT_LABEL: name},
            "ownerReferences": [
                {"apiVersion": API_VERSION, "kind": "Incident", "name": name, "uid": incident["metadata"]["uid"]}
            ],
        }
    }
    return dict(runtime.cluster.merge_patch("alerts", meta["namespace"], meta["name"], patch))


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
    runtime: Runtime,
    namespace: str,
    key: str,
    alert: dict[str, Any],
    workload: Any,
    now: datetime,
    *,
    worst: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """The group's open incident, and whether it was opened just now, with ``alert`` recorded in it
    (``worst``: the severity to open it with, the worst of the alerts joining it together; by default
    ``alert``'s)."""
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
                return candidate, False
            # Created by an operator killed before it opened it: open it now, with this alert, rather
            # than join the alert to an incident nobody opened (the worker would open it only later).
            obj, entries = _update_incident(runtime, namespace, candidate["metadata"]["name"], _open)
            post(runtime, obj, entries)
            return obj, True
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Incident",
            "metadata": {
                "name": grouping.incident_name(spec.get("alertname", ""), key, now),
                # The finalizer Kopf puts on an incident its remediation daemon runs for, there from the
                # start: Kopf adding it a moment later, while the alerts' writes change the incident, was
                # a write and up to three refused ones (stale resourceVersion) per incident in a storm.
                "finalizers": [FINALIZER],
                "labels": {
                    GROUP_LABEL: grouping.group_hash(key),
                    ALERTNAME_LABEL: safe_label_value(spec.get("alertname", "")),
                    "app.kubernetes.io/managed-by": "onduty",
                },
            },
            "spec": {
                "title": title[:1024],
                "severity": worst or severity.normalise(labels.get("severity")),
                "source": "alertmanager",
                "groupKey": key,
                "labels": labels,
                **({"workload": workload.to_dict()} if workload else {}),
            },
        }
        created = _create_incident(runtime, namespace, body)
        if (created.get("status") or {}).get("openedAt"):
            return created, False  # the name was taken by an open incident of the group: ours, from a crash
        obj, entries = _update_incident(runtime, namespace, created["metadata"]["name"], _open, known=created)
        post(runtime, obj, entries)
        return obj, True


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


def _worst(current: str, alerts: list[dict[str, Any]]) -> str:
    """The worst of ``current`` and the severities of the firing ones of ``alerts``."""
    firing = [a["spec"] for a in alerts if a["spec"].get("state") == "firing"]
    return severity.worst(
        severity.normalise(current),
        *(severity.normalise((spec.get("labels") or {}).get("severity")) for spec in firing),
    )
