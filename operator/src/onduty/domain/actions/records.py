"""The record an action leaves: on its target (what cooldowns and rate limits read) and on what it changed.

On the target, in the same write as the action (or before it, where the action
writes elsewhere): ``onduty.dev/last-<action>`` (when, which action id, which
incident, and what verification and a revert need) and
``onduty.dev/action-history`` (the times of the last actions of any kind). On
what the action changed (a pod template, an HPA, a Node, a Job):
``onduty.dev/action-id``, so a restarted operator sees the action happened.

A record that does not parse is :class:`UnreadableState`: the guardrails deny
then, they never guess.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from onduty.domain.actions.context import Context
from onduty.domain.annotations import ACTION_HISTORY_ANNOTATION, ACTION_ID, last_action_annotation
from onduty.domain.policies import MAX_RATE_LIMIT_ACTIONS
from onduty.domain.times import require_time, rfc3339

# The times of the last actions on a workload, for policy rate limits: as many
# as the largest maxActions a policy may set, so no rate limit goes unenforced.
HISTORY_LIMIT = MAX_RATE_LIMIT_ACTIONS
# What a record holds besides an action's details.
_BOOKKEEPING = ("at", "actionId", "incident")


class UnreadableState(Exception):
    """An annotation the guardrails read (history, last action) that does not parse: they deny, never guess."""

    def __init__(self, annotation: str, value: str, why: str) -> None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"annotation {annotation} on the target cannot be read ({why}): {shown!r}")
        self.annotation = annotation


def _annotations(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def history(workload: dict[str, Any]) -> list[datetime]:
    """When actions ran on the workload (any kind, oldest first); raises :class:`UnreadableState`."""
    raw = _annotations(workload).get(ACTION_HISTORY_ANNOTATION)
    if raw is None:
        return []
    try:
        values = json.loads(raw)
        if not isinstance(values, list):
            raise TypeError("not a list")
        return [require_time(t) for t in values]
    except (ValueError, TypeError) as error:
        raise UnreadableState(ACTION_HISTORY_ANNOTATION, raw, str(error)) from error


def last_record(workload: dict[str, Any], action: str) -> dict[str, Any]:
    """The workload's record of the last ``action`` ({} if none); raises :class:`UnreadableState`."""
    raw = _annotations(workload).get(last_action_annotation(action))
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise UnreadableState(last_action_annotation(action), raw, str(error)) from error
    if not isinstance(value, dict) or ("at" in value and not isinstance(value["at"], str)):
        raise UnreadableState(last_action_annotation(action), raw, "not a record")
    return value


def last_action_at(workload: dict[str, Any], action: str, this_action: str) -> datetime | None:
    """When ``action`` last ran on the workload, not counting ``this_action`` itself (a resumed claim).

    Raises :class:`UnreadableState` when the record does not parse: the guardrails deny then.
    """
    record = last_record(workload, action)
    if not record or record.get("actionId") == this_action or not record.get("at"):
        return None
    try:
        return require_time(record["at"])
    except ValueError as error:
        raise UnreadableState(last_action_annotation(action), json.dumps(record), str(error)) from error


def details(record: dict[str, Any]) -> dict[str, Any]:
    """What a record keeps for verification and a revert: all but its bookkeeping (when, which id, which incident)."""
    return {k: v for k, v in record.items() if k not in _BOOKKEEPING}


def record_metadata(ctx: Context, extra: dict[str, Any] | None = None, *, precondition: bool = True) -> dict[str, Any]:
    """The workload's action record, as ``metadata`` of a merge patch.

    With ``precondition``, it carries the resourceVersion the guardrails were
    judged on: a target that changed since is a 409, judged again. Without
    (the action is already done elsewhere and owned by its action id), it
    always lands.

    Written again for the same action (an operator killed after writing it, before the
    action's own write, does it all again), it keeps its first time and adds no second
    entry to the history: rate limits count one action once.
    """
    previous = last_record(ctx.workload, ctx.step.action)
    again = previous.get("actionId") == ctx.action_id
    now = str(previous["at"]) if again and previous.get("at") else rfc3339(ctx.now)
    record = {"at": now, "actionId": ctx.action_id, "incident": ctx.incident_ref, **(extra or {})}
    kept = [rfc3339(t) for t in history(ctx.workload)[-HISTORY_LIMIT + 1 :]]
    times = kept if again and kept and kept[-1] == now else [*kept, now]
    metadata: dict[str, Any] = {
        "annotations": {
            last_action_annotation(ctx.step.action): json.dumps(record),
            ACTION_HISTORY_ANNOTATION: json.dumps(times),
        },
    }
    if precondition:
        metadata = {"resourceVersion": ctx.workload["metadata"]["resourceVersion"], **metadata}
    return metadata


def marked(obj: dict[str, Any], action_id: str) -> bool:
    """``obj`` (an HPA, a Node) carries this action's id: the action's write to it happened."""
    return bool(_annotations(obj).get(ACTION_ID) == action_id)


def mark(action_id: str) -> dict[str, Any]:
    """The ``metadata`` of a merge patch that marks an object as changed by this action."""
    return {"annotations": {ACTION_ID: action_id}}
