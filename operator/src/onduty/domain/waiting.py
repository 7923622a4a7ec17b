"""What an incident waits for, said in its phase and ``status.waitingFor``.

An incident whose remediation can go on only once a human acts or time passes
does not say ``Remediating``: it says ``AwaitingApproval`` (an action waits for
a human's approval), ``Paused`` (a human paused automation) or ``Held`` (a
guardrail passes by itself later: :mod:`onduty.domain.holds`), and
``status.waitingFor`` says for what, until when::

    Approval of restart (rolloutRestart Deployment/web) until 2026-11-30T10:42:00Z
    Held: maintenance window opens at 2026-12-01T02:00:00Z
    Paused (automation is paused for this namespace (annotation onduty.dev/paused))

Both are derived from the action records each time one is written
(:func:`onduty.domain.incidents.put_action`), so they cannot drift from them.
Only an incident in ``Remediating`` or one of these phases moves between them:
``Open``, ``Mitigated``, ``Escalated`` and ``Resolved`` are left as they are.
"""

from __future__ import annotations

from typing import Any

# What the incident says it waits for, by reason: short, for `kubectl get incidents -o wide`.
_WAITS = {
    "CooldownActive": "cooldown ends",
    "OutsideMaintenanceWindow": "maintenance window opens",
    "ChangeFreeze": "change freeze ends",
    "RateLimited": "rate limit frees a slot",
    "Silenced": "Alertmanager silence ends",
}


def waiting_for(held: dict[str, Any]) -> str:
    """One line for ``status.waitingFor`` from an action's ``held`` record."""
    reason = str(held.get("reason") or "")
    until = held.get("until")
    if reason == "AutomationPaused":
        return f"Paused ({held.get('message', '')})"
    if reason == "Silenced":
        return f"Silenced: {_WAITS[reason]} at {until}" if until else "Silenced"
    if reason == "ConcurrencyLimited":
        return "Held: a concurrency slot to free"
    if reason == "SilenceCheckFailed":
        return "Held: Alertmanager to answer (silences unknown)"
    what = _WAITS.get(reason, reason)
    return f"Held: {what} at {until}" if until else f"Held: {what}"


WAITING_PHASES = ("AwaitingApproval", "Paused", "Held")
# The phases of an incident whose runbook is running (what status.phase may say while it does).
ACTIVE_PHASES = ("Remediating", *WAITING_PHASES)


def waits(action: dict[str, Any]) -> tuple[str, str] | None:
    """(phase, text) for an action that waits for a human or for time; None for one that does not."""
    state = action.get("state")
    if state == "AwaitingApproval":
        expires = (action.get("approval") or {}).get("expiresAt")
        target = action.get("target") or {}
        what = f"{action.get('action')} {target.get('kind')}/{target.get('name')}"
        until = f" until {expires}" if expires else ""
        return "AwaitingApproval", f"Approval of {action.get('step')} ({what}){until}"
    held = action.get("held")
    if state == "Pending" and isinstance(held, dict) and not action.get("startedAt"):
        phase = "Paused" if held.get("reason") == "AutomationPaused" else "Held"
        return phase, waiting_for(held)
    return None


def refresh(status: dict[str, Any]) -> None:
    """Set the phase and ``waitingFor`` from the action records (only while the runbook runs)."""
    found = next((w for a in status.get("actions") or [] if (w := waits(a)) is not None), None)
    if str(status.get("phase") or "Open") not in ACTIVE_PHASES:
        status.pop("waitingFor", None)
        return
    if found is None:
        status["phase"] = "Remediating"
        status.pop("waitingFor", None)
        return
    status["phase"], status["waitingFor"] = found
