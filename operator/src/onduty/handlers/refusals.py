"""An object the operator cannot use says so loudly, once per change.

A Runbook, RemediationPolicy, EscalationPolicy, Notifier or OnCallSchedule
that the operator refuses gets ``Accepted: False`` in its status; that alone
is easy to miss (nobody reads the status of an object Argo CD applied). So the
refusal is also a Warning Event on the object (``kubectl describe`` and event
exporters show it), which :func:`onduty.handlers.events.post` also logs as one
WARNING line naming the object (``RemediationPolicy freeze: InvalidSpec: …``).

Once per change: the acceptance handlers also run when the operator starts and
(for schedules) on a timer; a refusal already reported for this generation,
with the same words, is not reported again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onduty.domain.timeline import Entry
from onduty.handlers.events import post
from onduty.handlers.runtime import Runtime

CONDITION = "Accepted"


def _accepted(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION), None)


def newly_refused(before: Mapping[str, Any], after: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``Accepted: False`` condition of ``after`` unless ``before`` already said the same for that generation."""
    now = _accepted(after)
    if now is None or now.get("status") != "False":
        return None
    then = _accepted(before)
    if then is not None and all(
        then.get(k) == now.get(k) for k in ("status", "reason", "message", "observedGeneration")
    ):
        return None
    return now


def report(runtime: Runtime, body: Mapping[str, Any], before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Post (and so log) a Warning Event if ``after`` newly refuses the object ``body``."""
    condition = newly_refused(before, after)
    if condition is None:
        return
    reason = str(condition.get("reason") or "Invalid")
    message = f"onduty does not use it until it is fixed: {condition.get('message') or ''}"
    post(runtime, dict(body), [Entry(reason, message, "Warning")])
