"""``helmRollback``: roll a Helm release back through Helm's own release storage (see :mod:`onduty.domain.helm`).

Which release: the step's, else the one Helm's own annotation (or the
``app.kubernetes.io/instance`` label) on the workload names. The release's
new revision is written first (labelled with the action id), then the
workload's record, without a precondition (the rollout the rollback started
keeps changing the workload).
"""

from __future__ import annotations

from typing import Any

from onduty.domain import trust
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Refused
from onduty.domain.actions.records import last_record, record_metadata
from onduty.domain.diagnostics.helm import HELM_INSTANCE_LABEL
from onduty.domain.helm import RELEASE_NAME_ANNOTATION

NAME = "helmRollback"


def release(ctx: Context) -> str:
    """The release to roll back; raises :class:`Refused` when nothing names one, :class:`trust.Untrusted` if invalid."""
    meta = ctx.workload["metadata"]
    named = (
        ctx.step.release
        or (meta.get("annotations") or {}).get(RELEASE_NAME_ANNOTATION)
        or (meta.get("labels") or {}).get(HELM_INSTANCE_LABEL)
    )
    if not named:
        raise Refused("NoRelease", f"the step names no release and {ctx.target} carries no Helm release annotation")
    return trust.name(str(named), field="the Helm release name")


def recorded(ctx: Context) -> bool:
    """The workload's record names this action (written after the release, so both must be there)."""
    return last_record(ctx.workload, NAME).get("actionId") == ctx.action_id


def record_patch(ctx: Context, name: str, new_revision: int) -> dict[str, Any]:
    return {"metadata": record_metadata(ctx, {"release": name, "revision": new_revision}, precondition=False)}
