"""``rolloutRestart``: what ``kubectl rollout restart`` does, with the action id on the pod template.

The id travels in the same write as the restart, so the template itself says
whether this action already happened.
"""

from __future__ import annotations

from typing import Any

from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, shown
from onduty.domain.actions.records import record_metadata
from onduty.domain.annotations import ACTION_ID
from onduty.domain.rollouts import RESTARTED_AT_ANNOTATION
from onduty.domain.times import rfc3339

NAME = "rolloutRestart"


def applied(ctx: Context) -> bool:
    """The workload's pod template carries this action's id."""
    template = (ctx.workload.get("spec") or {}).get("template", {}).get("metadata") or {}
    return bool((template.get("annotations") or {}).get(ACTION_ID) == ctx.action_id)


def patch(ctx: Context) -> dict[str, Any]:
    """The one merge patch of the workload: its record, and the pod template annotated (a new rollout starts)."""
    return {
        "metadata": record_metadata(ctx),
        "spec": {
            "template": {
                "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: rfc3339(ctx.now), ACTION_ID: ctx.action_id}}
            }
        },
    }


def outcome(ctx: Context, written: dict[str, Any]) -> Applied:
    return Applied(
        f"pod template annotated {RESTARTED_AT_ANNOTATION}; a new rollout starts",
        f"{ctx.target}: merge patch {shown(written)}",
        {},
    )
