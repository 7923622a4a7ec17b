"""A stand-in for Argo CD's application controller, for tests: it carries out sync operations.

It plays only the part of Argo CD that a rollback depends on, on the real API
server, polling the Applications of one namespace every 0.1 s:

1. top-level ``operation.sync`` appears → write ``status.operationState``
   (phase ``Running``, ``startedAt``, a copy of the operation);
2. next pass → "sync" (no manifests are applied: there is no Git here) and, in
   one write, as Argo's controller leaves it: ``operationState`` ``Succeeded``
   (or ``Failed`` for a revision in ``fail_revisions``) with ``finishedAt`` and
   ``syncResult`` (revision(s), source(s)); a new ``status.history`` entry (next
   id, revision, ``deployStartedAt``, ``deployedAt``, source, ``initiatedBy``;
   trimmed to ``spec.revisionHistoryLimit``, default 10) on success;
   ``status.sync`` ``OutOfSync`` when the synced revision is not the one
   ``spec.source.targetRevision`` names (else ``Synced``); top-level
   ``operation`` cleared.

Argo's Application CRD has no status subresource, so — like Argo — every
write goes to the main resource, each carrying the resourceVersion it read
(a conflicting write is dropped and retried on the next pass).

Usage::

    with ArgoStandIn(kube, namespace) as argo:
        ...
    # leaving the block stops the thread and re-raises anything it failed with
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from onduty.adapters.argocd import application_path
from onduty.adapters.kube import Cluster, Conflict, NotFound
from onduty.domain.times import rfc3339

POLL_SECONDS = 0.1
# Argo CD's default spec.revisionHistoryLimit.
DEFAULT_HISTORY_LIMIT = 10


def _now() -> str:
    return rfc3339(datetime.now(UTC))  # Argo CD's metav1.Time stamps are to the second, as Kubernetes writes


class ArgoStandIn:
    def __init__(self, cluster: Cluster, namespace: str, *, fail_revisions: frozenset[str] = frozenset()) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.fail_revisions = fail_revisions
        self.synced: list[tuple[str, str]] = []  # (application, revision), in order
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name=f"argo-standin-{namespace}", daemon=True)

    def __enter__(self) -> ArgoStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._errors:
            raise RuntimeError("the Argo CD stand-in failed") from self._errors[0]

    def _run(self) -> None:
        list_path = f"/apis/argoproj.io/v1alpha1/namespaces/{self.namespace}/applications"
        while not self._stop.wait(POLL_SECONDS):
            try:
                for app in self.cluster.request("GET", list_path).get("items", []):
                    if (app.get("operation") or {}).get("sync") is not None:
                        self._step(app)
            except Conflict:
                continue  # someone wrote in between: look again on the next pass
            except NotFound:
                continue  # the namespace or the app went away
            except BaseException as error:
                self._errors.append(error)
                return

    def _step(self, app: dict[str, Any]) -> None:
        operation = app["operation"]
        state = (app.get("status") or {}).get("operationState") or {}
        if state.get("phase") == "Running" and state.get("operation") == operation:
            self._finish(app, operation, state)
        else:
            self._start(app, operation)

    def _write(self, app: dict[str, Any], patch: dict[str, Any]) -> None:
        meta = app["metadata"]
        patch["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        self.cluster.request(
            "PATCH",
            application_path(meta["namespace"], meta["name"]),
            body=patch,
            content_type="application/merge-patch+json",
        )

    def _start(self, app: dict[str, Any], operation: dict[str, Any]) -> None:
        state = {"operation": operation, "phase": "Running", "message": "syncing", "startedAt": _now()}
        self._write(app, {"status": {"operationState": state}})

    def _finish(self, app: dict[str, Any], operation: dict[str, Any], state: dict[str, Any]) -> None:
        spec, status = app["spec"], dict(app.get("status") or {})
        sync = operation["sync"]
        multi = bool(spec.get("sources"))
        sources = sync.get("sources") or spec.get("sources") or []
        source = sync.get("source") or spec.get("source") or {}
        if multi:
            revisions = list(sync.get("revisions") or [s.get("targetRevision", "HEAD") for s in sources])
            result: dict[str, Any] = {"revision": "", "revisions": revisions, "sources": sources}
            declared = [s.get("targetRevision") or "HEAD" for s in spec["sources"]]
            in_sync = revisions == declared
        else:
            revision = sync.get("revision") or source.get("targetRevision") or "HEAD"
            result = {"revision": revision, "source": source}
            in_sync = revision == (spec["source"].get("targetRevision") or "HEAD")
        failed = bool({result["revision"], *result.get("revisions", [])} & self.fail_revisions)
        finished = _now()
        new_state = state | {
            "phase": "Failed" if failed else "Succeeded",
            "message": "one or more objects failed to apply" if failed else "successfully synced (all tasks run)",
            "finishedAt": finished,
            "syncResult": result,
        }
        patch: dict[str, Any] = {"operation": None, "status": {"operationState": new_state}}
        if not failed:
            history = list(status.get("history") or [])
            entry = {
                "id": max((int(h["id"]) for h in history), default=-1) + 1,
                "deployStartedAt": state["startedAt"],
                "deployedAt": finished,
                "initiatedBy": operation.get("initiatedBy") or {},
            } | ({"revisions": result["revisions"], "sources": sources} if multi else result)
            limit = spec.get("revisionHistoryLimit", DEFAULT_HISTORY_LIMIT)
            patch["status"]["history"] = [*history, entry][-limit:] if limit else []
            patch["status"]["sync"] = {
                "status": "Synced" if in_sync else "OutOfSync",
                "revision": result["revision"],
                "comparedTo": {"destination": spec["destination"]}
                | ({"sources": spec["sources"]} if multi else {"source": spec["source"]}),
            } | ({"revisions": result["revisions"]} if multi else {})
        self._write(app, patch)
        self.synced.append((app["metadata"]["name"], ", ".join(result.get("revisions") or [result["revision"]])))
