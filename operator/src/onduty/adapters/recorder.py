"""Timeline entries posted as ``events.k8s.io/v1`` Events, from onduty, in the order they happened.

Why not Kopf's ``kopf.event``: it posts core/v1 Events whose ``lastTimestamp``
has one-second resolution, and ``kubectl describe`` sorts by that time, so
entries written within one second (opened, alert joined, runbook matched)
came out in any order, all "From: kopf". Here every Event carries an
``eventTime`` with microseconds (strictly increasing within this process, so
two entries of one write keep their order) and no ``deprecatedLastTimestamp``:
``kubectl describe`` then sorts on ``eventTime``. ``reportingController`` is
onduty's, ``reportingInstance`` the pod (its hostname).

Posting never blocks the caller (a worker in the event loop, or a handler's
thread): :meth:`EventRecorder.record` stamps the time and queues; one daemon
thread posts. An Event that cannot be posted is logged and dropped: Events
expire anyway, and ``status.timeline`` is the durable record.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from onduty.adapters.kube import Cluster, KubeError, segment
from onduty.domain.timeline import Entry

log = logging.getLogger(__name__)

REPORTING_CONTROLLER = "onduty.dev/operator"
# The API server refuses a note longer than 1 KiB; longer timeline messages are cut.
NOTE_LIMIT = 1024
# What an Event's ``action`` says: the timeline entry was recorded on the object.
ACTION = "Recorded"


def micro_time(at: datetime) -> str:
    """``metav1.MicroTime``: RFC 3339 in UTC with exactly six fractional digits."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_body(obj: Mapping[str, Any], entry: Entry, *, at: datetime, controller: str, instance: str) -> dict[str, Any]:
    """The ``events.k8s.io/v1`` Event for one timeline entry on ``obj`` (pure)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    regarding = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": name,
        **{k: meta[k] for k in ("namespace", "uid", "resourceVersion") if meta.get(k)},
    }
    # client-go's naming: the object's name and the time in hex nanoseconds (unique per instance,
    # as the stamps are strictly increasing); cut so the whole stays a valid 253-character name.
    nanos = int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{name[:230]}.{nanos:x}", "namespace": meta.get("namespace") or "default"},
        "eventTime": micro_time(at),
        "reportingController": controller,
        "reportingInstance": instance[:128],
        "action": ACTION,
        "reason": entry.reason[:128],
        "type": entry.type,
        "note": entry.message[:NOTE_LIMIT],
        "regarding": regarding,
    }


class EventRecorder:
    """Queue Events for timeline entries; one daemon thread posts them (started on first use)."""

    def __init__(
        self, cluster: Cluster, *, controller: str = REPORTING_CONTROLLER, instance: str | None = None
    ) -> None:
        self.cluster = cluster
        self.controller = controller
        self.instance = instance or socket.gethostname() or "onduty"
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)
        self._thread: threading.Thread | None = None

    def stamp(self, now: datetime) -> datetime:
        """``now``, or a microsecond after the last stamp: two entries never share a time."""
        with self._lock:
            self._last = max(now, self._last + timedelta(microseconds=1))
            return self._last

    def record(self, obj: Mapping[str, Any], entries: Sequence[Entry]) -> None:
        """Queue one Event per entry on ``obj``, in order; returns at once."""
        if not entries:
            return
        for entry in entries:
            at = self.stamp(datetime.now(UTC))
            self._queue.put(event_body(obj, entry, at=at, controller=self.controller, instance=self.instance))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="onduty events", daemon=True)
                self._thread.start()

    def post(self, body: dict[str, Any]) -> None:
        """Post one Event now (the daemon thread's work; tests call it directly)."""
        namespace = body["metadata"]["namespace"]
        self.cluster.request("POST", f"/apis/events.k8s.io/v1/namespaces/{segment(namespace)}/events", body=body)

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            try:
                self.post(body)
            except KubeError as error:
                regarding = body["regarding"]
                log.warning(
                    "%s %s/%s: Event %s not posted: %s",
                    regarding.get("kind"),
                    regarding.get("namespace", ""),
                    regarding.get("name"),
                    body["reason"],
                    error,
                )
