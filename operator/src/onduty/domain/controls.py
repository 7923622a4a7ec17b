"""The controls a responder reaches for: resolve an incident by hand, retry a step, run a dry run for real.

Each is an annotation a human writes on the incident (``onduty resolve``,
``onduty retry``, ``onduty approve --for-real`` write them), stamped with the
writer's own name, which the chart's admission policies check against the user
the API server authenticated and the custom verb RBAC grants them::

    onduty.dev/resolve: "the database failover finished"   onduty.dev/resolved-by: alice
    onduty.dev/retry: "restart"                             onduty.dev/retried-by: alice
    onduty.dev/run-for-real: "restart"                      onduty.dev/approved-by: bob

The operator reads them, edits the incident's status with the functions below
(pure: they take ``now`` and return timeline entries), and removes a retry or
run-for-real request once it has recorded it, so the same request is never
counted twice and the next one is a new request.

None of them is an override: a retried step and a dry run run for real are
decided again with every guardrail, as the first time. What a retry buys is one
more decision, bounded by :data:`RETRY_LIMIT`; what running a dry run for real
buys is the change its diff showed, only while the target is as it was then.
The same checks serve the CLI (to refuse at once, with the reason) and the
operator (which refuses what reached it by ``kubectl annotate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onduty.domain import incidents, timeline
from onduty.domain.annotations import (
    APPROVED_BY_ANNOTATION,
    RESOLVE_ANNOTATION,
    RESOLVED_BY_ANNOTATION,
    RETRIED_BY_ANNOTATION,
    RETRY_ANNOTATION,
    RUN_FOR_REAL_ANNOTATION,
)
from onduty.domain.guardrails import Verdict
from onduty.domain.timeline import Entry
from onduty.domain.times import rfc3339

# A step may be decided again three times: enough to fix a policy, a quota or a
# typo and try once more, a couple of times over; more than that is a loop a
# human drives by hand, and the runbook or the policy is what needs the change.
RETRY_LIMIT = 3
# What a retry may reopen: a step that was refused or whose action failed. A
# step that succeeded is done; a dry run is run for real (or retried: a new dry run).
RETRYABLE = ("Denied", "Failed", "DryRun")
# The reason a resolution-by-hand is recorded under (condition Resolved, timeline).
RESOLVED_BY_HAND = "ResolvedByHand"


class ControlRefused(ValueError):
    """A control that cannot apply to the incident as it is; the message says why, in the user's words."""


@dataclass(frozen=True)
class Request:
    """A step a human asked for (a retry, or a dry run run for real), and who."""

    step: str
    by: str


def _annotations(incident: Mapping[str, Any]) -> Mapping[str, Any]:
    return (incident.get("metadata") or {}).get("annotations") or {}


def resolve_request(incident: Mapping[str, Any]) -> Request | None:
    """The resolve-by-hand request on ``incident`` (``step`` holds the reason), or None."""
    annotations = _annotations(incident)
    reason = annotations.get(RESOLVE_ANNOTATION)
    if reason is None:
        return None
    return Request(str(reason), str(annotations.get(RESOLVED_BY_ANNOTATION) or "unknown user"))


def retry_request(incident: Mapping[str, Any]) -> Request | None:
    annotations = _annotations(incident)
    step = annotations.get(RETRY_ANNOTATION)
    if not step:
        return None
    return Request(str(step), str(annotations.get(RETRIED_BY_ANNOTATION) or "unknown user"))


def for_real_request(incident: Mapping[str, Any]) -> Request | None:
    annotations = _annotations(incident)
    step = annotations.get(RUN_FOR_REAL_ANNOTATION)
    if not step:
        return None
    return Request(str(step), str(annotations.get(APPROVED_BY_ANNOTATION) or "unknown user"))


def pending(incident: Mapping[str, Any]) -> bool:
    """A retry or a run-for-real waits on ``incident`` for the operator."""
    return retry_request(incident) is not None or for_real_request(incident) is not None


# --- resolve by hand ----------------------------------------------------------------------------


def already_resolved(status: Mapping[str, Any]) -> str:
    """Why resolving again is an error ("" while the incident is unresolved)."""
    if not incidents.is_resolved(dict(status)):
        return ""
    by = f" by {status['resolvedBy']}" if status.get("resolvedBy") else ""
    return f"already resolved at {status.get('resolvedAt') or 'an unknown time'}{by}"


def still_firing(status: Mapping[str, Any]) -> int:
    return int(status.get("firingAlerts") or 0)


def resolve_by_hand(status: dict[str, Any], *, now: datetime, reason: str, by: str) -> list[Entry]:
    """Resolve the incident as ``by`` asked; what was open closes, escalation stops (idempotent).

    An alert that still fires does not stop it (the CLI asks for ``--force``
    first): the resolution says so, as a Warning, so the record shows it was
    closed with the alert on.
    """
    if incidents.is_resolved(status):
        return []
    why = reason.strip() or "no reason given"
    entries: list[Entry] = []
    firing = still_firing(status)
    if firing:
        entry = Entry(
            "ResolvedWhileFiring",
            f"{by} resolved the incident while {firing} of its alert(s) still fire: onduty stops acting and"
            " paging for it; an alert that fires again after it resolves opens a new incident",
            "Warning",
        )
        timeline.append(status, entry, now)
        entries.append(entry)
    entries += incidents.resolve(status, now=now, reason=RESOLVED_BY_HAND, message=f"resolved by {by}: {why}")
    status["resolvedBy"] = by
    status["resolution"] = why
    return entries


# --- retry a step -------------------------------------------------------------------------------


def last_action(status: Mapping[str, Any], step: str) -> dict[str, Any] | None:
    return next((dict(a) for a in reversed(status.get("actions") or []) if a.get("step") == step), None)


def _steps_listed(status: Mapping[str, Any]) -> str:
    steps = [str(a.get("step")) for a in status.get("actions") or [] if a.get("step")]
    return ", ".join(dict.fromkeys(steps)) or "none"


def _outcome(action: Mapping[str, Any]) -> str:
    return f"{action.get('state') or 'unknown'}" + (f" ({action['reason']})" if action.get("reason") else "")


def why_not_retry(status: Mapping[str, Any], step: str) -> str:
    """Why step ``step`` cannot be decided again ("" when it can)."""
    if incidents.is_resolved(dict(status)):
        return f"is resolved (at {status.get('resolvedAt') or 'an unknown time'}): nothing runs for it any more"
    action = last_action(status, step)
    if action is None:
        return f"has no step {step} that ran (steps with a record: {_steps_listed(status)})"
    state = action.get("state")
    if state == "Succeeded":
        return f"step {step} succeeded: {_outcome(action)}; there is nothing to retry"
    if state not in RETRYABLE:
        return f"step {step} has not finished: it is {_outcome(action)}; retry it once it was denied or failed"
    retries = int(action.get("retries") or 0)
    if retries >= RETRY_LIMIT:
        return (
            f"step {step} was retried {retries} times already, the most a step may be ({RETRY_LIMIT});"
            " fix the runbook or the policy and open a new incident"
        )
    return ""


def _reopen(status: dict[str, Any], action: dict[str, Any], *, now: datetime, why: str) -> None:
    """The step's record becomes undecided again; automation picks it up (and escalation is lifted)."""
    for key in (
        "startedAt",
        "appliedAt",
        "finishedAt",
        "reason",
        "message",
        "checks",
        "verdicts",
        "approval",
        "details",
    ):
        action.pop(key, None)
    action["state"] = "Pending"
    incidents.put_action(status, action)
    if timeline.condition_is(status, incidents.COND_ESCALATION, True):
        timeline.set_condition(
            status, type_=incidents.COND_ESCALATION, true=False, reason="StepReopened", message=why, now=now
        )
        status["phase"] = "Remediating"


def retry_step(status: dict[str, Any], step: str, *, now: datetime, by: str) -> list[Entry]:
    """Decide step ``step`` again, as ``by`` asked: once more, every guardrail anew (raises :class:`ControlRefused`)."""
    why_not = why_not_retry(status, step)
    if why_not:
        raise ControlRefused(why_not)
    action = last_action(status, step)
    assert action is not None
    retries = int(action.get("retries") or 0) + 1
    was = _outcome(action)
    for key in ("diff", "targetGeneration", "targetResourceVersion", "forReal"):
        action.pop(key, None)
    action.update(retries=retries, retriedBy=by, retriedAt=rfc3339(now))
    message = (
        f"{by} asked to retry step {step} ({action.get('action')} of {_target(action)}), which was {was}:"
        f" it is decided again with every guardrail (retry {retries} of {RETRY_LIMIT})"
    )
    _reopen(status, action, now=now, why=message)
    entry = Entry("StepRetried", message)
    timeline.append(status, entry, now)
    return [entry]


def attempt_id(record_id: str, action: Mapping[str, Any] | None) -> str:
    """The id an attempt of a step writes on what it changes: the record's id, then ``<id>.retry-N``.

    A retried action is a new action on its target: its cooldown and rate
    limit count the attempt before it, and a restarted operator does not take
    the earlier attempt's mark for this one.
    """
    retries = int((action or {}).get("retries") or 0)
    return record_id if retries == 0 else f"{record_id}.retry-{retries}"


# --- run a dry run for real ---------------------------------------------------------------------


def basis(target: Mapping[str, Any]) -> dict[str, Any]:
    """What a dry run was judged on, recorded with it: the target's generation and resourceVersion."""
    metadata = target.get("metadata") or {}
    recorded: dict[str, Any] = {"targetResourceVersion": str(metadata.get("resourceVersion") or "")}
    if metadata.get("generation") is not None:
        recorded["targetGeneration"] = int(metadata["generation"])
    return recorded


def why_not_for_real(status: Mapping[str, Any], step: str) -> str:
    """Why step ``step`` cannot be run for real ("" when it can)."""
    if incidents.is_resolved(dict(status)):
        return f"is resolved (at {status.get('resolvedAt') or 'an unknown time'}): nothing runs for it any more"
    action = last_action(status, step)
    if action is None:
        return f"has no step {step} that ran (steps with a record: {_steps_listed(status)})"
    if action.get("state") != "DryRun":
        return f"step {step} did not run as a dry run: it is {_outcome(action)}; only a dry run can be run for real"
    return ""


def run_for_real(status: dict[str, Any], step: str, *, now: datetime, by: str) -> list[Entry]:
    """Run the dry run of step ``step`` for real, as ``by`` approved (raises :class:`ControlRefused`).

    The approval is recorded as the action's (so a policy's ``requireApproval``
    is met by it); every other guardrail is judged again, and the target must be
    as the dry run saw it (:func:`check_unchanged`).
    """
    why_not = why_not_for_real(status, step)
    if why_not:
        raise ControlRefused(why_not)
    action = last_action(status, step)
    assert action is not None
    message = (
        f"{by} approved running step {step} ({action.get('action')} of {_target(action)}) for real, as its dry run"
        " showed; every other guardrail is judged again"
    )
    _reopen(status, action, now=now, why=message)
    action["forReal"] = {"requestedBy": by, "requestedAt": rfc3339(now)}
    action["approval"] = {"decidedAt": rfc3339(now), "decidedBy": by, "approved": True}
    incidents.put_action(status, action)
    entry = Entry("DryRunApproved", message)
    timeline.append(status, entry, now)
    return [entry]


@dataclass(frozen=True)
class ForReal:
    """A dry run approved to run for real, and what its target was then."""

    generation: int | None
    resource_version: str


def for_real(action: Mapping[str, Any] | None) -> ForReal | None:
    """The run-for-real approval on an action record, or None (an ordinary decision)."""
    if not action or not action.get("forReal"):
        return None
    generation = action.get("targetGeneration")
    return ForReal(int(generation) if generation is not None else None, str(action.get("targetResourceVersion") or ""))


def check_unchanged(recorded: ForReal, target: str, current: Mapping[str, Any] | None) -> Verdict:
    """The target is as the dry run saw it: the same generation (its spec), else the same resourceVersion.

    The generation moves only when the spec does, so a Deployment whose pods
    came and went since still runs the change its dry run showed; an object
    without one (a Node) must not have changed at all.
    """
    metadata = (current or {}).get("metadata") or {}
    if recorded.generation is not None and metadata.get("generation") is not None:
        now_, then, what = str(metadata["generation"]), str(recorded.generation), "generation"
    else:
        now_, then = str(metadata.get("resourceVersion") or ""), recorded.resource_version
        what = "resourceVersion"
    if now_ == then and then != "":
        return Verdict("DryRun", True, "TargetUnchanged", f"{target} is as its dry run saw it ({what} {then})")
    return Verdict(
        "DryRun",
        False,
        "TargetChangedSinceDryRun",
        f"{target} changed since its dry run ({what} {then or 'unknown'}, now {now_ or 'unknown'}): the change it"
        " showed is not the one that would be made; retry the step to see a new dry run, then approve that",
    )


def _target(action: Mapping[str, Any]) -> str:
    target = action.get("target") or {}
    return f"{target.get('kind')}/{target.get('name')}"
