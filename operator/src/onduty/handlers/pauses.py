"""Kopf's side of pausing: an incident's ``onduty.dev/paused`` set or removed is recorded.

Every watch event of an incident is looked at (no I/O unless the annotation
differs from the timeline's last pause record, :mod:`onduty.domain.pauses`);
the write re-reads the incident, so a repeated event records nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from onduty.adapters.kube import KubeError, NotFound
from onduty.domain import pauses
from onduty.domain.timeline import Entry
from onduty.handlers.events import post
from onduty.handlers.runtime import Runtime

log = logging.getLogger(__name__)


def _record(runtime: Runtime, namespace: str, name: str) -> None:
    def mutate(status: dict[str, Any], obj: dict[str, Any]) -> list[Entry]:
        return pauses.record_pause(status, obj, now=datetime.now(UTC))

    try:
        obj, entries = runtime.cluster.update_status("incidents", namespace, name, mutate)
    except NotFound:
        return  # deleted meanwhile: nothing left to record on
    except KubeError as error:  # the next watch event of this incident tries again
        log.warning("Incident %s/%s: the pause change was not recorded yet: %s", namespace, name, error)
        return
    post(runtime, obj, entries)  # logged there too


async def incident_seen(runtime: Runtime, body: dict[str, Any]) -> None:
    """Record a pause change on incident ``body``, if its timeline does not say it yet."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp") or not pauses.needs_record(body):
        return
    await asyncio.to_thread(_record, runtime, str(meta.get("namespace")), str(meta.get("name")))
