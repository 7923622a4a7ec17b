"""``argoRollback``: roll an Argo CD Application back to its previous (or a named) history entry.

The rollback itself is decided in :mod:`onduty.domain.argocd`; this module
says which Application, and whether onduty may touch it: one in the
incident's namespace, or one in a namespace the policies in scope list in
``argoCDNamespaces`` that deploys into the incident's namespace. The
Application is written first (carrying the action id), then the workload's
record, without a precondition (the rollback is done and owned by its id).
"""

from __future__ import annotations

from typing import Any

from onduty.domain import argocd, trust
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Held, Refused
from onduty.domain.actions.records import last_record, record_metadata
from onduty.domain.rollouts import RolloutState

NAME = "argoRollback"


def application(ctx: Context) -> str:
    """The Application's name, from the step; raises :class:`Refused` or :class:`trust.Untrusted`."""
    if not ctx.step.application:
        raise Refused("NoApplication", "the step names no Argo CD application")
    return trust.name(ctx.step.application, field=f"step {ctx.step.name}: application")


def application_namespace(ctx: Context) -> str:
    """The Application's namespace: the incident's, or one the policies in scope list in argoCDNamespaces."""
    return trust.Boundary(ctx.target.namespace).other_namespace(
        ctx.step.application_namespace,
        field=f"step {ctx.step.name}: applicationNamespace",
        allowed=ctx.grants.argocd_namespaces,
        what=f"Argo CD Application {ctx.step.application}",
    )


def recorded(ctx: Context) -> bool:
    """The workload's record names this action (written after the Application, so both must be there)."""
    return last_record(ctx.workload, NAME).get("actionId") == ctx.action_id


def check_destination(ctx: Context, namespace: str, app: dict[str, Any]) -> None:
    """An Application elsewhere (Argo CD's own namespace) is onduty's to touch only if it deploys here."""
    destination = ((app.get("spec") or {}).get("destination") or {}).get("namespace")
    if destination != ctx.target.namespace:
        raise Refused(
            "ApplicationOutsideNamespace",
            f"Argo CD Application {namespace}/{application(ctx)} deploys into namespace {destination!r}, not"
            f" the incident's namespace {ctx.target.namespace!r}",
        )


def refusal(reason: str, message: str) -> Refused:
    """Argo CD's "no": :class:`Held` while its own operation runs (the step looks again), else :class:`Refused`."""
    if reason in argocd.HOLDING_REASONS:
        return Held(reason, message)
    return Refused(reason, message)


def details(ctx: Context, namespace: str, revision: str, revisions: tuple[str, ...]) -> dict[str, Any]:
    """What verification needs, kept in the record: a restarted operator finds it there."""
    return {"application": application(ctx), "namespace": namespace, "revision": revision, "revisions": list(revisions)}


def record_patch(ctx: Context, kept: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": record_metadata(ctx, kept, precondition=False)}


def recorded_application(ctx: Context, record: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the Application an action record names (else as the step names it)."""
    kept = record.get("details") or {}
    return kept.get("namespace") or application_namespace(ctx), kept.get("application") or application(ctx)


def progress(app: dict[str, Any], record: dict[str, Any]) -> RolloutState:
    kept = record.get("details") or {}
    state = argocd.rollback_state(app, kept.get("revision", ""), tuple(kept.get("revisions") or ()))
    return RolloutState(state.done, state.failed, state.message)
