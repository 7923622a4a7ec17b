"""An incident's lifecycle, as pure edits of its ``status``.

Phases::

    Open ──runbook matched──▶ Remediating ──verified──▶ Mitigated ──alerts resolved──▶ Resolved
      │                          │ verification failed / nothing could run
      └──no runbook──────────────┴────────────────────▶ Escalated ─────────────────▶ Resolved

Each function edits the status dict in place and returns the timeline entries
it added, which the caller also posts as Events. The caller writes the status
back with optimistic concurrency, so these edits are never lost to a race.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from onduty.domain import timeline
from onduty.domain.alerts import rfc3339
from onduty.domain.guardrails import Verdict, first_denial
from onduty.domain.runbooks import RunbookRef, RunbookSpec, Step
from onduty.domain.timeline import Entry
from onduty.domain.workloads import Workload

Phase = Literal["Open", "Remediating", "Mitigated", "Escalated", "Resolved"]
ActionState = Literal["Pending", "AwaitingApproval", "Applied", "Succeeded", "Failed", "Denied", "DryRun"]
TERMINAL: tuple[str, ...] = ("Succeeded", "Failed", "Denied", "DryRun")

COND_RUNBOOK = "RunbookMatched"
COND_REMEDIATED = "Remediated"
COND_ESCALATION = "EscalationRequired"
COND_RESOLVED = "Resolved"


def phase(status: dict[str, Any]) -> str:
    return str(status.get("phase") or "Open")


def is_resolved(status: dict[str, Any]) -> bool:
    return phase(status) == "Resolved"


def open_incident(status: dict[str, Any], *, now: datetime, title: str, workload: Workload | None) -> list[Entry]:
    """Initialise the status of a new incident (idempotent)."""
    if status.get("openedAt"):
        return []
    status.update(
        {
            "phase": "Open",
            "openedAt": rfc3339(now),
            "alerts": status.get("alerts") or [],
            "firingAlerts": 0,
            "actions": [],
        }
    )
    where = f" on {workload}" if workload else ""
    entry = Entry("IncidentOpened", f"incident opened: {title}{where}")
    timeline.append(status, entry, now)
    timeline.set_condition(
        status, type_=COND_RESOLVED, true=False, reason="AlertsFiring", message="the incident is open", now=now
    )
    return [entry]


def record_alert(
    status: dict[str, Any], *, name: str, state: str, alertname: str, starts_at: str, now: datetime
) -> list[Entry]:
    """An alert joined the incident or changed state. Resolves the incident when none fire."""
    alerts = [dict(a) for a in status.get("alerts") or []]
    known = next((a for a in alerts if a.get("name") == name), None)
    entries: list[Entry] = []
    if known is None:
        alerts.append({"name": name, "alertname": alertname, "state": state, "startsAt": starts_at})
        entries.append(Entry("AlertJoined", f"alert {name} ({alertname}, {state}) joined the incident"))
    elif known.get("state") != state:
        known["state"] = state
        if state == "resolved":
            entries.append(Entry("AlertResolved", f"alert {name} ({alertname}) resolved"))
    status["alerts"] = alerts
    status["firingAlerts"] = sum(1 for a in alerts if a.get("state") == "firing")
    for entry in entries:
        timeline.append(status, entry, now)
    if alerts and status["firingAlerts"] == 0 and not is_resolved(status):
        entries += resolve(
            status, now=now, reason="AlertsResolved", message=f"all {len(alerts)} alert(s) of the incident resolved"
        )
    return entries


def resolve(status: dict[str, Any], *, now: datetime, reason: str, message: str) -> list[Entry]:
    if is_resolved(status):
        return []
    status["phase"] = "Resolved"
    status["resolvedAt"] = rfc3339(now)
    timeline.set_condition(status, type_=COND_RESOLVED, true=True, reason=reason, message=message, now=now)
    entry = Entry("IncidentResolved", message)
    timeline.append(status, entry, now)
    return [entry]


def record_runbook(status: dict[str, Any], runbook: RunbookRef | None, *, now: datetime) -> list[Entry]:
    """The triage result: which runbook applies, or that none does (a human must look)."""
    if runbook is None:
        status["runbook"] = {}
        timeline.set_condition(
            status,
            type_=COND_RUNBOOK,
            true=False,
            reason="NoRunbookMatched",
            message="no runbook matches this incident",
            now=now,
        )
        return escalate(
            status, now=now, reason="NoRunbookMatched", message="no runbook matches this incident; a human must respond"
        )
    status["runbook"] = {"namespace": runbook.namespace, "name": runbook.name}
    steps = len(runbook.spec.remediation.steps) if runbook.spec.remediation else 0
    message = f"runbook {runbook.key} matched ({steps} remediation step(s))"
    timeline.set_condition(status, type_=COND_RUNBOOK, true=True, reason="RunbookMatched", message=message, now=now)
    entry = Entry("RunbookMatched", message)
    timeline.append(status, entry, now)
    if steps:
        status["phase"] = "Remediating"
    return [entry]


def escalate(status: dict[str, Any], *, now: datetime, reason: str, message: str) -> list[Entry]:
    """Automation stops for this incident; a human takes over."""
    if timeline.condition_is(status, COND_ESCALATION, True):
        return []
    if not is_resolved(status):
        status["phase"] = "Escalated"
    timeline.set_condition(status, type_=COND_ESCALATION, true=True, reason=reason, message=message, now=now)
    entry = Entry("EscalationRequired", message, "Warning")
    timeline.append(status, entry, now)
    return [entry]


def action_id(incident_uid: str, step: Step) -> str:
    """One id per step of one incident: a step runs at most once per incident."""
    return f"{incident_uid}.{step.name}"


def find_action(status: dict[str, Any], id_: str) -> dict[str, Any] | None:
    return next((dict(a) for a in status.get("actions") or [] if a.get("id") == id_), None)


def put_action(status: dict[str, Any], action: dict[str, Any]) -> None:
    actions = [a for a in status.get("actions") or [] if a.get("id") != action["id"]]
    actions.append(action)
    actions.sort(key=lambda a: (a.get("createdAt", ""), a.get("id", "")))
    status["actions"] = actions
    status["lastAction"] = f"{action.get('action')} {action.get('state')}"


@dataclass(frozen=True)
class NextStep:
    step: Step
    id: str
    action: dict[str, Any] | None  # the record so far, if this step was already started


def next_step(spec: RunbookSpec, status: dict[str, Any], incident_uid: str) -> NextStep | None:
    """The first step without a final outcome; None when automation is done or stopped."""
    if is_resolved(status) or timeline.condition_is(status, COND_ESCALATION, True) or not spec.remediation:
        return None
    for step in spec.remediation.steps:
        id_ = action_id(incident_uid, step)
        record = find_action(status, id_)
        if record is None or record.get("state") not in TERMINAL:
            return NextStep(step, id_, record)
    return None


def new_action(next_: NextStep, target: Workload, *, now: datetime) -> dict[str, Any]:
    return {
        "id": next_.id,
        "step": next_.step.name,
        "action": next_.step.action,
        "target": target.to_dict(),
        "state": "Pending",
        "createdAt": rfc3339(now),
        "verdicts": [],
    }


def deny_action(
    status: dict[str, Any], action: dict[str, Any], verdicts: Sequence[Verdict], *, now: datetime
) -> list[Entry]:
    denial = first_denial(verdicts)
    assert denial is not None
    action.update(
        state="Denied",
        reason=denial.reason,
        message=denial.message,
        finishedAt=rfc3339(now),
        verdicts=[v.to_dict() for v in verdicts],
    )
    put_action(status, action)
    entry = Entry(
        "RemediationSkipped",
        f"{action['action']} of {_target(action)} skipped: {denial.reason}: {denial.message}",
        "Warning",
    )
    timeline.append(status, entry, now)
    return [entry]


def dry_run_action(
    status: dict[str, Any], action: dict[str, Any], verdicts: Sequence[Verdict], *, now: datetime, diff: str, why: str
) -> list[Entry]:
    """The API server accepted the change with dryRun=All; it was recorded, not made."""
    action.update(
        state="DryRun",
        reason="DryRun",
        message=why,
        diff=diff,
        finishedAt=rfc3339(now),
        verdicts=[v.to_dict() for v in verdicts],
    )
    action.setdefault("startedAt", rfc3339(now))
    put_action(status, action)
    entry = Entry(
        "RemediationDryRun", f"{action['action']} of {_target(action)} dry run only ({why}); would change: {diff[:300]}"
    )
    timeline.append(status, entry, now)
    return [entry]


def request_approval(
    status: dict[str, Any],
    action: dict[str, Any],
    verdicts: Sequence[Verdict],
    *,
    now: datetime,
    ttl: timedelta,
    policies: str,
) -> list[Entry]:
    """Park the action until a human approves or rejects it, or the request expires."""
    if action.get("state") == "AwaitingApproval":
        return []
    expires = now + ttl
    action.update(
        state="AwaitingApproval",
        reason="ApprovalRequired",
        message=f"policy {policies} requires approval; expires {rfc3339(expires)}",
        approval={"requestedAt": rfc3339(now), "expiresAt": rfc3339(expires)},
        verdicts=[v.to_dict() for v in verdicts],
    )
    put_action(status, action)
    entry = Entry(
        "ApprovalRequired",
        f"{action['action']} of {_target(action)} waits for approval until {rfc3339(expires)}: "
        f"onduty approve {action['id']} (or annotate the incident onduty.dev/approve={action['step']})",
        "Warning",
    )
    timeline.append(status, entry, now)
    return [entry]


def decide_approval(
    status: dict[str, Any], action: dict[str, Any], *, now: datetime, approved: bool, by: str
) -> list[Entry]:
    approval = dict(action.get("approval") or {})
    approval.update(decidedAt=rfc3339(now), decidedBy=by, approved=approved)
    action["approval"] = approval
    if approved:
        action.update(state="Pending", reason="Approved", message=f"approved by {by}")
        put_action(status, action)
        entry = Entry("ApprovalGranted", f"{action['action']} of {_target(action)} approved by {by}")
        timeline.append(status, entry, now)
        return [entry]
    action.update(state="Denied", reason="ApprovalRejected", message=f"rejected by {by}", finishedAt=rfc3339(now))
    put_action(status, action)
    entry = Entry("RemediationSkipped", f"{action['action']} of {_target(action)} rejected by {by}", "Warning")
    timeline.append(status, entry, now)
    return [entry]


def expire_approval(status: dict[str, Any], action: dict[str, Any], *, now: datetime) -> list[Entry]:
    action.update(
        state="Denied", reason="ApprovalExpired", message="no one approved it in time", finishedAt=rfc3339(now)
    )
    put_action(status, action)
    entry = Entry(
        "RemediationSkipped",
        f"{action['action']} of {_target(action)} skipped: the approval request expired",
        "Warning",
    )
    timeline.append(status, entry, now)
    return [entry]


def start_action(
    status: dict[str, Any], action: dict[str, Any], verdicts: Sequence[Verdict], *, now: datetime
) -> list[Entry]:
    """Record the action (with its verdicts) *before* it runs."""
    action.update(state="Pending", startedAt=rfc3339(now), verdicts=[v.to_dict() for v in verdicts])
    put_action(status, action)
    entry = Entry("RemediationStarted", f"{action['action']} of {_target(action)} starting (action {action['id']})")
    timeline.append(status, entry, now)
    return [entry]


def applied_action(status: dict[str, Any], action: dict[str, Any], *, now: datetime, message: str) -> list[Entry]:
    action.update(state="Applied", appliedAt=rfc3339(now), message=message)
    put_action(status, action)
    entry = Entry("RemediationApplied", f"{action['action']} of {_target(action)} applied: {message}")
    timeline.append(status, entry, now)
    return [entry]


def finish_action(
    status: dict[str, Any], action: dict[str, Any], *, now: datetime, ok: bool, reason: str, message: str
) -> list[Entry]:
    action.update(state="Succeeded" if ok else "Failed", reason=reason, message=message, finishedAt=rfc3339(now))
    put_action(status, action)
    if ok:
        entry = Entry("RemediationSucceeded", f"{action['action']} of {_target(action)} verified: {message}")
        timeline.append(status, entry, now)
        return [entry]
    entry = Entry(
        "RemediationFailed", f"{action['action']} of {_target(action)} failed: {reason}: {message}", "Warning"
    )
    timeline.append(status, entry, now)
    return [
        entry,
        *escalate(
            status,
            now=now,
            reason=reason,
            message=f"automation stopped: {action['action']} of {_target(action)} failed ({message})",
        ),
    ]


def conclude(status: dict[str, Any], *, now: datetime) -> list[Entry]:
    """All steps have an outcome: mitigated if one succeeded, else a human is needed (idempotent)."""
    if phase(status) in ("Resolved", "Mitigated") or timeline.condition_is(status, COND_ESCALATION, True):
        return []
    actions = status.get("actions") or []
    if any(a.get("state") == "Succeeded" for a in actions):
        status["phase"] = "Mitigated"
        message = "remediation verified; waiting for the alerts to resolve"
        timeline.set_condition(
            status, type_=COND_REMEDIATED, true=True, reason="RemediationVerified", message=message, now=now
        )
        entry = Entry("IncidentMitigated", message)
        timeline.append(status, entry, now)
        return [entry]
    if any(a.get("state") == "DryRun" for a in actions):
        return escalate(
            status,
            now=now,
            reason="DryRunOnly",
            message="remediation ran as a dry run only (see the actions); a human must act",
        )
    reasons = ", ".join(sorted({str(a.get("reason")) for a in actions})) or "no action ran"
    return escalate(
        status,
        now=now,
        reason="NoRemediationApplied",
        message=f"no remediation could run ({reasons}); a human must respond",
    )


def _target(action: dict[str, Any]) -> str:
    target = action.get("target") or {}
    return f"{target.get('kind')}/{target.get('name')}"
