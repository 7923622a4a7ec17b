"""Resolved Alerts and Incidents go once their retention has passed (``--alert-retention``, ``--incident-retention``).

One sweep, started with the operator, lists the Incidents and Alerts onduty
watches page by page and deletes each one that
:func:`onduty.domain.retention.expired` says has been resolved for longer than
its retention, with a uid precondition, so an object that took the name since
is never touched. Unresolved objects are never deleted. Deleting an Incident
deletes its Alerts through their ownerReferences (the garbage collector); an
Alert whose incident is still open waits for it, so the incident's alerts stay
readable while anyone works on it.

A sweep, not a Kopf daemon or timer per object: those hold a finalizer on every
object they run for, so each resolved Alert of a storm would cost one more
write (and another to release it), a task in the operator, and a namespace
whose Alerts carry it could not be deleted while onduty is not running.

Sweeps run every quarter of the shorter retention, at least a second and at
most five minutes apart: an object goes at most that late. A failed sweep is
tried again after a delay that doubles up to ten minutes, never in a loop.
Each deleted Incident is logged (Alerts: a count per sweep); not an Event, as
the object is gone and Kopf posts Events only from its handlers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from onduty import API_VERSION
from onduty.adapters.kube import ApiRejected, Conflict, KubeError, NotFound
from onduty.domain import incidents
from onduty.domain import retention as domain
from onduty.domain.alerts import attached_incident
from onduty.domain.durations import format_duration
from onduty.domain.times import rfc3339
from onduty.handlers.runtime import OperatorConfig, Runtime

log = logging.getLogger(__name__)

Plural = Literal["incidents", "alerts"]
KINDS: dict[Plural, str] = {"incidents": "Incident", "alerts": "Alert"}
# A page of a list: 500 Alerts of ~2 KiB is ~1 MiB in memory at a time, however many there are.
PAGE_SIZE = 500
SWEEP_MIN_SECONDS = 1.0
SWEEP_MAX_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 600.0


def sweep_interval(config: OperatorConfig) -> float | None:
    """Seconds between sweeps: a quarter of the shorter retention, within [1 s, 5 min]; None: nothing expires."""
    retentions = [r for r in (config.alert_retention, config.incident_retention) if r is not None]
    if not retentions:
        return None
    return min(max(min(retentions).total_seconds() / 4, SWEEP_MIN_SECONDS), SWEEP_MAX_SECONDS)


async def sweep_forever(runtime: Runtime) -> None:
    """Sweep until cancelled (the operator stopping)."""
    interval = sweep_interval(runtime.config)
    if interval is None:
        log.info("retention is off for Alerts and Incidents: resolved ones are kept for ever")
        return
    delay = interval
    while True:
        await runtime.standby.wait_active()  # a standby replica leaves deleting to the active one
        try:
            swept = await asyncio.to_thread(sweep, runtime, datetime.now(UTC))
        except Exception as error:  # whatever went wrong (a bug too), retention must not stop for good
            delay = min(max(delay * 2, interval), MAX_BACKOFF_SECONDS)
            log.warning(
                "retention sweep failed, next in %.0fs: %s", delay, error, exc_info=not isinstance(error, KubeError)
            )
        else:
            delay = interval
            if swept.deleted:
                log.info("retention: deleted %s", ", ".join(f"{n} {p}" for p, n in swept.deleted.items()))
        await asyncio.sleep(delay)


@dataclass
class Swept:
    deleted: dict[str, int] = field(default_factory=dict)
    failed: int = 0


def sweep(runtime: Runtime, now: datetime) -> Swept:
    """One pass: every expired Incident, then every expired Alert whose incident is not open, is deleted."""
    config = runtime.config
    swept = Swept()
    open_incidents: set[tuple[str, str]] = set()
    for incident in _every(runtime, "incidents"):
        meta = incident.get("metadata") or {}
        if not incidents.is_resolved(incident.get("status") or {}):
            open_incidents.add((meta.get("namespace", ""), meta.get("name", "")))
        elif domain.expired(incident, now, config.incident_retention):
            _delete(runtime, "incidents", incident, config.incident_retention, swept)
    for alert in _every(runtime, "alerts"):
        meta = alert.get("metadata") or {}
        attached = (meta.get("namespace", ""), attached_incident(alert))
        if attached not in open_incidents and domain.expired(alert, now, config.alert_retention):
            _delete(runtime, "alerts", alert, config.alert_retention, swept)
    return swept


def _every(runtime: Runtime, plural: Plural) -> Iterator[dict[str, Any]]:
    """Every object of a kind onduty watches (cluster-wide, or in each watched namespace), a page at a time."""
    cluster = runtime.cluster
    for namespace in runtime.config.watch_namespaces or (None,):
        token = ""
        while True:
            query = {"limit": str(PAGE_SIZE), **({"continue": token} if token else {})}
            page = cluster.request("GET", cluster.custom_path(plural, namespace), query=query)
            for item in page.get("items") or []:
                item.setdefault("apiVersion", API_VERSION)  # list items may leave both to the list
                item.setdefault("kind", KINDS[plural])
                yield item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                break


def _delete(runtime: Runtime, plural: Plural, obj: dict[str, Any], retention: timedelta | None, swept: Swept) -> None:
    meta = obj["metadata"]
    try:
        runtime.cluster.delete(plural, meta["namespace"], meta["name"], uid=meta.get("uid"))
    except (NotFound, Conflict):
        return  # gone already, or the name is another object's now
    except ApiRejected as error:  # e.g. RBAC: said once per object and sweep, tried again next sweep
        swept.failed += 1
        log.warning("retention: cannot delete %s %s/%s: %s", plural, meta["namespace"], meta["name"], error)
        return
    swept.deleted[plural] = swept.deleted.get(plural, 0) + 1
    since = domain.resolved_since(obj)
    # A log line, not an Event: the object is gone, and Kopf posts Events only from its handlers.
    log.log(
        logging.INFO if plural == "incidents" else logging.DEBUG,
        "retention: deleted %s %s/%s, resolved at %s, after its retention of %s",
        obj["kind"],
        meta["namespace"],
        meta["name"],
        rfc3339(since) if since else "an unknown time",
        format_duration(retention or timedelta(0)),
    )
