"""What an incident's change means for onduty's metrics, judged from two consecutive views of it.

The operator sees every incident through its watch. Comparing what it saw
last with what it sees now tells what happened in between — a phase
change, an acknowledgement, the first mitigation, an action finishing, a
step judged — without the code that did it having to count. A view with no
predecessor (the operator just started and lists what exists) counts
nothing: it says what is, not what just happened, so a restart never counts
an action or a resolution twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onduty.domain import postmortem
from onduty.domain.guardrails import read_recorded
from onduty.domain.times import parse_time

FINISHED_STATES = frozenset({"Succeeded", "Failed", "Denied", "DryRun", "Closed"})
# Started (recorded, maybe applied) and not yet verified: what "stuck" means when it lasts.
IN_PROGRESS_STATES = frozenset({"Pending", "Applied"})


@dataclass(frozen=True)
class View:
    """The little of an incident the metrics need (a few hundred bytes, kept per open incident)."""

    phase: str
    severity: str
    acknowledged: bool
    mitigated: bool
    actions: Mapping[str, tuple[str, int]]  # action id → (state, a hash of its verdicts: a new hash is a new judgement)
    in_progress: tuple[tuple[str, float], ...] = ()  # (action, start as a UNIX time) of actions started, not finished


def view(incident: Mapping[str, Any]) -> View:
    status = incident.get("status") or {}
    times = postmortem.key_times(incident)
    return View(
        phase=str(status.get("phase") or "Open"),
        severity=str((incident.get("spec") or {}).get("severity") or "unknown"),
        acknowledged=times.acknowledged is not None,
        mitigated=times.mitigated is not None,
        actions={
            str(a.get("id")): (str(a.get("state") or ""), _signature(read_recorded(a)))
            for a in status.get("actions") or []
        },
        in_progress=tuple(
            (str(a.get("action")), started.timestamp())
            for a in status.get("actions") or []
            if a.get("state") in IN_PROGRESS_STATES
            and (started := parse_time(a.get("startedAt") or a.get("createdAt"))) is not None
        ),
    )


@dataclass(frozen=True)
class Duration:
    measure: str  # acknowledge, mitigate, resolve
    severity: str
    seconds: float


@dataclass(frozen=True)
class ActionFinished:
    action: str
    result: str  # the state it finished in


@dataclass(frozen=True)
class Verdict:
    guardrail: str
    reason: str
    allowed: bool


Observation = Duration | ActionFinished | Verdict


def changes(before: View | None, incident: Mapping[str, Any]) -> list[Observation]:
    """What happened between ``before`` and ``incident`` (nothing if there is no ``before``)."""
    if before is None:
        return []
    now = view(incident)
    times = postmortem.key_times(incident)
    found: list[Observation] = []
    if not before.acknowledged and times.acknowledged is not None and times.opened is not None:
        found.append(Duration("acknowledge", now.severity, _seconds(times.opened, times.acknowledged)))
    if not before.mitigated and times.mitigated is not None and times.started is not None:
        found.append(Duration("mitigate", now.severity, _seconds(times.started, times.mitigated)))
    if before.phase != "Resolved" and now.phase == "Resolved" and times.started and times.resolved:
        found.append(Duration("resolve", now.severity, _seconds(times.started, times.resolved)))
    for action in (incident.get("status") or {}).get("actions") or []:
        key = str(action.get("id"))
        state = str(action.get("state") or "")
        old_state, old_signature = before.actions.get(key, ("", _signature([])))
        verdicts = read_recorded(action)
        if verdicts and _signature(verdicts) != old_signature:
            found += [Verdict(str(v.get("guardrail")), str(v.get("reason")), bool(v.get("allowed"))) for v in verdicts]
        if state in FINISHED_STATES and old_state != state:
            found.append(ActionFinished(str(action.get("action")), state))
    return found


def _signature(verdicts: list[Any]) -> int:
    return hash(tuple((v.get("guardrail"), v.get("reason"), v.get("allowed"), v.get("message")) for v in verdicts))


def _seconds(start: Any, end: Any) -> float:
    return max(0.0, float((end - start).total_seconds()))
