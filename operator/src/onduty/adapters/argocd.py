"""Argo CD rollback through the Application resource: read it, judge it, write one patch.

No Argo CD API server and no ``argocd`` CLI: the Application (``argoproj.io/v1alpha1``)
is the interface, exactly as Argo's own API server uses it. The decision is
:func:`onduty.domain.argocd.plan_rollback`; this module only reads, writes and
reports::

    result = rollback(cluster, "shop", "checkout", to_id=None, action_id="inc-42-3",
                      allow_suspend_automated=False, dry_run=False)
    result.outcome          # "Applied" | "DryRun" | "AlreadyApplied" | "Refused"
    result.verdict()        # for the incident's record
    # then, until done: rollback_state(get_application(...), result.target_revision, result.target_revisions)

Idempotency: the action id travels in the same write as the operation (annotation
``onduty.dev/action-id``), so calling :func:`rollback` again with the same id after
a crash answers ``AlreadyApplied`` and writes nothing — even though the history
has moved on and "the previous entry" would now point somewhere else.

Errors are :mod:`onduty.adapters.kube`'s: ``NotFound`` for a missing Application,
``Conflict`` if it changed under us twice in a row (try again later),
``ApiUnavailable`` / ``ApiRejected`` as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from onduty.adapters.kube import Cluster, Conflict, segment
from onduty.domain import argocd
from onduty.domain.argocd import RollbackDecision, plan_rollback, requested_target
from onduty.domain.guardrails import Verdict

log = logging.getLogger(__name__)

Outcome = Literal["Applied", "DryRun", "AlreadyApplied", "Refused"]


def application_path(namespace: str, name: str) -> str:
    return f"/apis/{argocd.GROUP}/{argocd.VERSION}/namespaces/{segment(namespace)}/{argocd.PLURAL}/{segment(name)}"


def get_application(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return cluster.request("GET", application_path(namespace, name))


def applied_by(app: dict[str, Any], action_id: str) -> bool:
    """The rollback with this action id has been written to ``app`` (see :func:`onduty.domain.argocd.applied_by`)."""
    return argocd.applied_by(app, action_id)


@dataclass(frozen=True)
class RollbackResult:
    outcome: Outcome
    decision: RollbackDecision
    # Applied / DryRun: what the write changes (DryRun: would change), one leaf per line.
    diff: str
    # The Application as the API server returned it: after the write, as it would be
    # after it (dry run), or as read (refused, already applied).
    application: dict[str, Any]
    target_revision: str = ""
    target_revisions: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "AlreadyApplied" if self.outcome == "AlreadyApplied" else self.decision.reason

    @property
    def message(self) -> str:
        if self.outcome == "DryRun":
            return f"dry run: would {self.decision.message}"
        return self.decision.message

    def verdict(self) -> Verdict:
        return Verdict(argocd.GUARDRAIL, self.outcome != "Refused", self.reason, self.message)


def rollback(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    to_id: int | None,
    action_id: str,
    allow_suspend_automated: bool,
    dry_run: bool,
    reason: str = "",
) -> RollbackResult:
    """Request a rollback of Application ``namespace/name`` to history entry ``to_id``
    (None: the one before the latest), recorded under ``action_id``.

    One merge patch, carrying the resourceVersion that was judged; if the
    Application changed in between (409), it is read and judged again once.
    ``dry_run`` sends the same patch with ``dryRun=All``: the API server
    validates and admits it, stores nothing, and the result's ``diff`` says
    what would change.
    """
    for attempt in (1, 2):
        app = get_application(cluster, namespace, name)
        if argocd.applied_by(app, action_id):
            revision, revisions = requested_target(app, action_id) or ("", ())
            done = RollbackDecision(
                True,
                "AlreadyApplied",
                f"rollback {action_id} was already requested on Application {namespace}/{name}; not writing it again",
            )
            return RollbackResult("AlreadyApplied", done, "", app, revision, tuple(revisions))
        decision = plan_rollback(
            app,
            to_id=to_id,
            action_id=action_id,
            allow_suspend_automated=allow_suspend_automated,
            reason=reason,
        )
        if not decision.allowed or decision.target is None:
            return RollbackResult("Refused", decision, "", app)
        try:
            written = cluster.request(
                "PATCH",
                application_path(namespace, name),
                query={"dryRun": "All"} if dry_run else None,
                body=decision.patch,
                content_type="application/merge-patch+json",
            )
        except Conflict:
            if attempt == 2:
                raise
            log.info("Application %s/%s changed while a rollback was judged; judging again", namespace, name)
            continue
        target = decision.target
        return RollbackResult(
            "DryRun" if dry_run else "Applied",
            decision,
            argocd.render_diff(app, written),
            written,
            "" if target.multi_source else target.revision,
            target.revisions if target.multi_source else (),
        )
    raise AssertionError("unreachable: the second attempt returns or raises")
