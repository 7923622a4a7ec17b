"""Argo CD rollback, decided the way ``argocd app rollback`` decides it, as values.

A rollback of an Argo CD Application is not a Kubernetes rollout: it is a sync
*operation* written on the Application (``argoproj.io/v1alpha1``), which Argo's
controller then carries out. Argo CD's API server (``Rollback`` in
``server/application/application.go``) does exactly this:

1. refuse while the app is being deleted, and while automated sync is on
   (``spec.syncPolicy.automated`` set and not ``enabled: false``): the next
   automated sync would undo the rollback at once;
2. find the named entry of ``status.history`` (oldest first);
3. write top-level ``operation.sync`` with that entry's ``revision`` /
   ``revisions`` and ``source`` / ``sources``, ``prune`` and ``dryRun`` off,
   the app's ``syncOptions``, ``syncStrategy: {apply: {}}`` (a rollback applies
   manifests; it does not re-run sync hooks), ``initiatedBy.username``; and
   clear ``status.operationState``, refusing if ``operation`` is already set.

onduty does the same, plus: "no history id" means the entry before the latest;
naming the latest entry is refused (it is what runs now); a ``Running`` or
``Terminating`` operation state counts as an operation in progress; automated
sync may be suspended in the same write when policy allows it; and the write
carries the action id (annotation ``onduty.dev/action-id`` and an operation
info item) so a restarted operator sees the rollback was already applied and
never applies it twice. The whole write is one JSON merge patch carrying the
resourceVersion that was judged, so a change in between is a 409, not a
rollback decided on stale state.

Afterwards ``spec.source.targetRevision`` is unchanged, so Argo CD reports the
app OutOfSync: the cluster runs the old revision while Git still names the new
one. :func:`rollback_state` says so in every message, for the timeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onduty.domain.annotations import ACTION_ID, ARGO_OPERATION_INFO
from onduty.domain.guardrails import Verdict

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "applications"
# Who Argo CD's history and UI will say started the sync (``initiatedBy.username``).
INITIATOR = "onduty"
GUARDRAIL = "ArgoCDRollback"

# Argo CD's operation phases (gitops-engine ``OperationPhase``).
PHASE_RUNNING = "Running"
PHASE_TERMINATING = "Terminating"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_ERROR = "Error"
_IN_PROGRESS = frozenset({PHASE_RUNNING, PHASE_TERMINATING})
_FINISHED = frozenset({PHASE_SUCCEEDED, PHASE_FAILED, PHASE_ERROR})

# Refusals that clear by themselves: look again later instead of skipping the step.
HOLDING_REASONS = frozenset({"OperationInProgress"})


@dataclass(frozen=True)
class HistoryEntry:
    """One ``status.history`` item: what Argo deployed, and from where."""

    id: int
    revision: str
    revisions: tuple[str, ...]
    source: dict[str, Any] | None
    sources: tuple[dict[str, Any], ...]
    deployed_at: str

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            id=int(item.get("id", 0)),
            revision=str(item.get("revision") or ""),
            revisions=tuple(str(r) for r in item.get("revisions") or ()),
            source=dict(item["source"]) if item.get("source") else None,
            sources=tuple(dict(s) for s in item.get("sources") or ()),
            deployed_at=str(item.get("deployedAt") or ""),
        )

    @property
    def multi_source(self) -> bool:
        return bool(self.sources)

    def describe(self) -> str:
        revision = ", ".join(self.revisions) if self.multi_source else self.revision
        when = f", deployed at {self.deployed_at}" if self.deployed_at else ""
        return f"history id {self.id} (revision {revision or '?'}{when})"


@dataclass(frozen=True)
class RollbackDecision:
    """Refuse (``allowed`` False, with a reason) or the one write that requests the rollback."""

    allowed: bool
    reason: str
    message: str
    target: HistoryEntry | None = None
    # The JSON merge patch for the Application; empty when refused.
    patch: dict[str, Any] = field(default_factory=dict)
    suspends_automated: bool = False

    def verdict(self) -> Verdict:
        return Verdict(GUARDRAIL, self.allowed, self.reason, self.message)

    @property
    def holding(self) -> bool:
        return not self.allowed and self.reason in HOLDING_REASONS


@dataclass(frozen=True)
class RollbackState:
    """Where a requested rollback stands, from the Application as the controller left it."""

    done: bool
    failed: bool
    message: str
    out_of_sync: bool = False


def history(app: Mapping[str, Any]) -> list[HistoryEntry]:
    return [HistoryEntry.parse(item) for item in (app.get("status") or {}).get("history") or []]


def automated_sync_enabled(app: Mapping[str, Any]) -> bool:
    """Argo's ``IsAutomatedSyncEnabled``: ``automated`` is set and not ``enabled: false``."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    if automated is None:
        return False
    return bool(automated.get("enabled", True)) if isinstance(automated, Mapping) else True


def operation_in_progress(app: Mapping[str, Any]) -> str | None:
    """Why another operation blocks a new one, or None."""
    if app.get("operation"):
        return "an operation is already requested on the Application (top-level operation is set)"
    phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
    if phase in _IN_PROGRESS:
        return f"the last operation is still {phase} (status.operationState.phase)"
    return None


def applied_by(app: Mapping[str, Any], action_id: str) -> bool:
    """The rollback with this action id was written to the Application (the annotation and the
    operation go in one write, so the annotation alone proves the operation was requested)."""
    annotations = (app.get("metadata") or {}).get("annotations") or {}
    return bool(action_id) and annotations.get(ACTION_ID) == action_id


def requested_target(app: Mapping[str, Any], action_id: str) -> tuple[str, tuple[str, ...]] | None:
    """(revision, revisions) that the rollback with ``action_id`` asked for, from the pending
    operation or, once the controller has taken it, from ``status.operationState.operation``."""
    state = (app.get("status") or {}).get("operationState") or {}
    for operation in (app.get("operation") or {}, state.get("operation") or {}):
        info = {i.get("name"): i.get("value") for i in operation.get("info") or [] if isinstance(i, Mapping)}
        if info.get(ARGO_OPERATION_INFO) == action_id:
            sync = operation.get("sync") or {}
            return str(sync.get("revision") or ""), tuple(str(r) for r in sync.get("revisions") or ())
    return None


def plan_rollback(
    app: Mapping[str, Any],
    *,
    to_id: int | None,
    action_id: str,
    allow_suspend_automated: bool,
    reason: str = "",
) -> RollbackDecision:
    """Decide a rollback of ``app`` to history entry ``to_id`` (None: the entry before the latest).

    The patch, when allowed, sets ``operation`` as Argo CD's own rollback does,
    clears a finished ``status.operationState`` (as Argo does, so the old
    result is never mistaken for this one's), records ``action_id``, removes
    ``spec.syncPolicy.automated`` when suspending, and carries
    ``metadata.resourceVersion`` so the API server refuses it (409) if the
    Application changed since it was read.
    """
    meta = app.get("metadata") or {}
    name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"

    def refuse(why: str, message: str) -> RollbackDecision:
        return RollbackDecision(False, why, message)

    if meta.get("deletionTimestamp"):
        return refuse("ApplicationDeleting", f"Application {name} is being deleted; there is nothing to roll back.")
    suspend = automated_sync_enabled(app)
    if suspend and not allow_suspend_automated:
        return refuse(
            "AutomatedSyncEnabled",
            f"Application {name} has automated sync on (spec.syncPolicy.automated), which would sync it straight "
            "back to Git's revision; Argo CD refuses a rollback then, and no policy allows onduty to suspend it.",
        )

    entries = history(app)
    if to_id is None:
        if len(entries) < 2:
            return refuse(
                "NoEarlierHistory",
                f"Application {name} has {len(entries)} deployment(s) in status.history; "
                "there is no earlier deployment to roll back to.",
            )
        target = entries[-2]
    else:
        found = [e for e in entries if e.id == to_id]
        if not found:
            known = ", ".join(str(e.id) for e in entries) or "none"
            return refuse(
                "HistoryIdNotFound",
                f"Application {name} has no deployment with history id {to_id} (known ids: {known}).",
            )
        target = found[0]
        if target is entries[-1]:
            return refuse(
                "AlreadyDeployed",
                f"History id {to_id} of Application {name} is its latest deployment; "
                "rolling back to it would change nothing.",
            )
    if target.source is None and not target.sources:
        return refuse(
            "HistoryEntryWithoutSource",
            f"{target.describe()} of Application {name} records no source, so it cannot be rolled back to "
            "(Argo CD refuses the same for deployments made before v0.12).",
        )
    busy = operation_in_progress(app)
    if busy:
        return refuse("OperationInProgress", f"Application {name} cannot take a rollback now: {busy}.")

    patch = _patch(app, target, action_id=action_id, reason=reason, suspend=suspend)
    message = f"roll Application {name} back to {target.describe()}"
    if suspend:
        message += "; automated sync is suspended in the same write (spec.syncPolicy.automated removed)"
    return RollbackDecision(True, "RollbackAllowed", message + ".", target, patch, suspend)


def _patch(
    app: Mapping[str, Any], target: HistoryEntry, *, action_id: str, reason: str, suspend: bool
) -> dict[str, Any]:
    sync: dict[str, Any] = {}
    if target.multi_source:
        sync["revisions"] = list(target.revisions)
        sync["sources"] = [dict(s) for s in target.sources]
    else:
        sync["revision"] = target.revision
        sync["source"] = dict(target.source or {})
    # Bounded: a rollback never deletes what the old revision did not have.
    sync["prune"] = False
    sync_options = ((app.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions")
    if sync_options:
        sync["syncOptions"] = list(sync_options)
    sync["syncStrategy"] = {"apply": {}}
    info = [{"name": "Reason", "value": reason or f"onduty rollback to history id {target.id}"}]
    if action_id:
        info.append({"name": ARGO_OPERATION_INFO, "value": action_id})
    metadata: dict[str, Any] = {"resourceVersion": (app.get("metadata") or {}).get("resourceVersion")}
    if action_id:
        metadata["annotations"] = {ACTION_ID: action_id}
    patch: dict[str, Any] = {
        "metadata": metadata,
        "operation": {"initiatedBy": {"username": INITIATOR}, "info": info, "sync": sync},
    }
    if (app.get("status") or {}).get("operationState") is not None:
        patch["status"] = {"operationState": None}
    if suspend:
        patch["spec"] = {"syncPolicy": {"automated": None}}
    return patch


def rollback_state(app: Mapping[str, Any], target_revision: str, target_revisions: Sequence[str] = ()) -> RollbackState:
    """Has Argo's controller carried out the rollback to ``target_revision`` (or, for a
    multi-source app, ``target_revisions``)? Every message that reports success also says
    that the app shows OutOfSync, and why."""
    meta = app.get("metadata") or {}
    name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
    want = ", ".join(target_revisions) if target_revisions else target_revision
    state = (app.get("status") or {}).get("operationState") or {}
    phase = state.get("phase")
    if app.get("operation") and phase not in _IN_PROGRESS:
        return RollbackState(False, False, f"waiting for Argo CD to start the sync of {name} to revision {want}")
    if not state:
        return RollbackState(False, False, f"waiting for Argo CD to report on the sync of {name} to revision {want}")
    if phase not in _FINISHED:
        detail = f": {state['message']}" if state.get("message") else ""
        return RollbackState(False, False, f"Argo CD's sync of {name} to revision {want} is {phase}{detail}")
    result = state.get("syncResult") or {}
    got = (
        ", ".join(str(r) for r in result.get("revisions") or ())
        if target_revisions
        else str(result.get("revision") or "")
    )
    if phase != PHASE_SUCCEEDED:
        detail = state.get("message") or "no message"
        return RollbackState(True, True, f"Argo CD's sync of {name} to revision {want} ended {phase}: {detail}")
    if got != want:
        return RollbackState(
            True,
            True,
            f"Argo CD's last sync of {name} went to revision {got or '?'}, not {want}: "
            "another operation replaced the rollback",
        )
    wanted = list(target_revisions) or [target_revision]
    return RollbackState(True, False, _synced_message(app, name, wanted), _out_of_sync(app, wanted))


def _out_of_sync(app: Mapping[str, Any], wanted: list[str]) -> bool:
    """What Argo reports, or, before it has compared again, whether Git names other revisions."""
    status = ((app.get("status") or {}).get("sync") or {}).get("status")
    if status:
        return bool(status == "OutOfSync")
    return wanted != _declared_revisions(app)


def _declared_revisions(app: Mapping[str, Any]) -> list[str]:
    spec = app.get("spec") or {}
    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
    return [str(s.get("targetRevision") or "HEAD") for s in sources]


def _synced_message(app: Mapping[str, Any], name: str, wanted: list[str]) -> str:
    declared = ", ".join(_declared_revisions(app)) or "HEAD"
    multi = bool((app.get("spec") or {}).get("sources"))
    field_name = "spec.sources[].targetRevision" if multi else "spec.source.targetRevision"
    synced = f"Argo CD synced {name} to revision {', '.join(wanted)}."
    if not _out_of_sync(app, wanted):
        return f"{synced} {field_name} ({declared}) names that revision too, so the application stays Synced."
    reported = ((app.get("status") or {}).get("sync") or {}).get("status")
    shows = "shows" if reported == "OutOfSync" else "will show"
    message = (
        f"{synced} The application {shows} OutOfSync: {field_name} is still {declared}, so Git names a "
        "newer revision than the one running; revert the change in Git to settle it"
    )
    if not automated_sync_enabled(app):
        message += f", and do not re-enable automated sync before then (it would sync {name} forward again)"
    return message + "."


# --- the would-be change, as text -------------------------------------------------------------

# Fields the API server changes on every write; they say nothing about the rollback.
_VOLATILE = frozenset({"metadata.resourceVersion", "metadata.generation", "metadata.managedFields"})


def render_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """A diff-like text of what changes between two versions of an object, one leaf per line:
    ``- path: old`` and ``+ path: new`` (lists are compared whole)."""
    old, new = dict(_leaves(before)), dict(_leaves(after))
    lines: list[str] = []
    for path in sorted(old.keys() | new.keys()):
        if path in _VOLATILE or any(path.startswith(v + ".") for v in _VOLATILE):
            continue
        if old.get(path, _MISSING) == new.get(path, _MISSING):
            continue
        if path in old:
            lines.append(f"- {path}: {old[path]}")
        if path in new:
            lines.append(f"+ {path}: {new[path]}")
    return "\n".join(lines)


_MISSING = object()


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _leaves(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in obj.items():
        # Keys such as annotation names hold dots and slashes: quote them, kubectl-style.
        step = str(key) if _PLAIN_KEY.match(str(key)) else f'["{key}"]'
        path = f"{prefix}{'' if step.startswith('[') else '.'}{step}" if prefix else step
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, json.dumps(value, sort_keys=True)
