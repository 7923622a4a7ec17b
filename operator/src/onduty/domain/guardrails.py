"""Guardrails: each gives a verdict before an action runs, and every verdict is recorded.

A guardrail is a pure function of state and ``now``. The action runs only if
all verdicts allow it; the incident keeps the whole set so a reviewer sees why
something did or did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from onduty.domain.annotations import PAUSED_ANNOTATION
from onduty.domain.durations import format_duration
from onduty.domain.times import rfc3339


@dataclass(frozen=True)
class Verdict:
    guardrail: str
    allowed: bool
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"guardrail": self.guardrail, "allowed": self.allowed, "reason": self.reason, "message": self.message}


def recorded(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """How an action record keeps its verdicts: each check that passed as one line (``checks``), each denial in
    full (``verdicts``). ``kubectl describe`` prints a line per passed check instead of four, so a busy
    incident stays readable; :func:`read_recorded` gives every verdict back.
    """
    return {
        "checks": [f"{v.guardrail} {v.reason}: {v.message}" for v in verdicts if v.allowed],
        "verdicts": [v.to_dict() for v in verdicts if not v.allowed],
    }


def read_recorded(action: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every verdict of an action record, passed checks first, as dicts (``allowed``, ``guardrail``, ...)."""
    checks = []
    for line in action.get("checks") or []:
        head, _, message = str(line).partition(": ")
        guardrail, _, reason = head.partition(" ")
        checks.append({"guardrail": guardrail, "allowed": True, "reason": reason, "message": message})
    return checks + [dict(v) for v in action.get("verdicts") or []]


def allowed(verdicts: Sequence[Verdict]) -> bool:
    return all(v.allowed for v in verdicts)


def first_denial(verdicts: Sequence[Verdict]) -> Verdict | None:
    return next((v for v in verdicts if not v.allowed), None)


def check_pause(*, incident_paused: bool, namespace_paused: bool, cluster_paused: bool = False) -> Verdict:
    """A human has said stop: on the incident, on its namespace, or on onduty's own namespace (cluster-wide)."""
    if cluster_paused:
        return Verdict(
            "Pause",
            False,
            "AutomationPaused",
            f"automation is paused cluster-wide (annotation {PAUSED_ANNOTATION} on onduty's namespace)",
        )
    if incident_paused:
        return Verdict(
            "Pause",
            False,
            "AutomationPaused",
            f"automation is paused on this incident (annotation {PAUSED_ANNOTATION})",
        )
    if namespace_paused:
        return Verdict(
            "Pause",
            False,
            "AutomationPaused",
            f"automation is paused for this namespace (annotation {PAUSED_ANNOTATION})",
        )
    return Verdict("Pause", True, "NotPaused", "no pause annotation on the incident or its namespace")


def check_cooldown(*, last_action_at: datetime | None, cooldown: timedelta, now: datetime, action: str) -> Verdict:
    """The same action on the same target waits ``cooldown`` after the last one."""
    if last_action_at is None:
        return Verdict("Cooldown", True, "NoRecentAction", f"no earlier {action} of this target recorded")
    ready_at = last_action_at + cooldown
    if now < ready_at:
        return Verdict(
            "Cooldown",
            False,
            "CooldownActive",
            f"last {action} of this target was at {rfc3339(last_action_at)}; cooldown {format_duration(cooldown)} "
            f"ends at {rfc3339(ready_at)} (in {format_duration(ready_at - now)})",
        )
    return Verdict(
        "Cooldown",
        True,
        "CooldownElapsed",
        f"last {action} at {rfc3339(last_action_at)}, cooldown {format_duration(cooldown)} has passed",
    )


def check_target_exists(*, exists: bool, target: str) -> Verdict:
    if not exists:
        return Verdict("Target", False, "TargetNotFound", f"{target} does not exist")
    return Verdict("Target", True, "TargetFound", f"{target} exists")


def check_silence(
    *, silence_id: str | None, created_by: str = "", comment: str = "", error: str | None = None
) -> Verdict:
    """No active Alertmanager silence covers the incident; when we cannot tell, hold."""
    if error is not None:
        return Verdict("Silence", False, "SilenceCheckFailed", f"could not read Alertmanager silences: {error}")
    if silence_id:
        return Verdict(
            "Silence",
            False,
            "Silenced",
            f"Alertmanager silence {silence_id} by {created_by or '?'} covers this incident: {comment}",
        )
    return Verdict("Silence", True, "NotSilenced", "no active Alertmanager silence matches the incident's labels")


def check_condition(*, holds: bool | None, message: str) -> Verdict:
    """The runbook step's PromQL condition holds now (unknown is not yes)."""
    if holds is None:
        return Verdict("Condition", False, "ConditionUnknown", message)
    if not holds:
        return Verdict("Condition", False, "ConditionNotMet", message)
    return Verdict("Condition", True, "ConditionMet", message)


# Which denials hold a step (wait and look again) and which are final: onduty.domain.holds.
