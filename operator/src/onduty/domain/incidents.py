"""An incident's lifecycle, as pure edits of its ``status``.

Phases::

    Open ──runbook matched──▶ Remediating ──verified──▶ Mitigated ──alerts resolved──▶ Resolved
      │                          │ verification failed / nothing could run
      └──no runbook──────────────┴────────────────────▶ Escalated ─────────────────▶ Resolved

While the runbook runs, ``Remediating`` gives way to what it waits for —
``AwaitingApproval``, ``Paused`` or ``Held`` — with ``status.waitingFor``
saying what (:mod:`onduty.domain.waiting`, derived from the action records).

Each function edits the status dict in place and returns the timeline entries
it added, which the caller also posts as Events. The caller writes the status
back with optimistic concurrency, so these edits are never lost to a race.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from onduty.domain import timeline, waiting
from onduty.domain.guardrails import Verdict, first_denial, recorded
from onduty.domain.runbooks import RunbookRef, RunbookSpec, Step
from onduty.domain.timeline import Entry
from onduty.domain.times import rfc3339
from onduty.domain.workloads import Workload

TERMINAL: tuple[str, ...] = ("Succeeded", "Failed", "Denied", "DryRun", "Closed")

COND_RUNBOOK = "RunbookMatched"
COND_REMEDIATED = "Remediated"
COND_ESCALATION = "EscalationRequired"
COND_RESOLVED = "Resolved"


def phase(status: dict[str, Any]) -> str:
    return str(status.get("phase") or "Open")


def is_resolved(status: dict[str, Any]) -> bool:
    return phase(status) == "Resolved"


def open_incident(status: dict[str, Any], *, now: datetime, title: str, workload: Workload | None) -> list[Entry]:
    """Initialise the status of a new incident (idempotent).

    What is already recorded stays: an operator killed between creating the incident and opening it
    may have recorded its alerts first, and zeroing their count would let the first of them to resolve
    resolve the incident while the others still fire.
    """
    if status.get("openedAt"):
        return []
    status.update(
        {
            "phase": "Open",
            "openedAt": rfc3339(now),
            "alerts": status.get("alerts") or [],
            "firingAlerts": int(status.get("firingAlerts") or 0),
            "actions": status.get("actions") or [],
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
    """An alert joined the incident or changed state. Resolves the incident when none fire.

    Bounded however many alerts join: ``alerts`` lists at most
    :data:`ALERT_ENTRIES_LIMIT` (firing ones before resolved ones, then the
    newest), ``firingAlerts``/``resolvedAlerts``/``totalAlerts`` count every
    one, ``alertsDropped`` says how many are not listed, and a firing alert
    that is not listed is remembered by a hash of its name so its resolution
    still counts. The same delivery again changes nothing. A resolution of an
    alert the incident never counted as firing adds nothing: it never fired
    here, or its resolution was counted already.
    """
    alerts = [dict(a) for a in status.get("alerts") or []]
    unlisted = [str(d) for d in status.get("unlistedFiringAlerts") or []]
    firing, resolved, total = _alert_counts(status, alerts, unlisted)
    digest = alert_digest(name)
    known = next((a for a in alerts if a.get("name") == name), None)
    joined = False
    if known is not None:
        if known.get("state") == state:
            return []
        moved = 1 if state == "resolved" else -1
        firing, resolved = max(firing - moved, 0), max(resolved + moved, 0)
        alerts.remove(known)
        alerts.append({**known, "state": state})  # the newest change: listed longest among its kind
    elif digest in unlisted:
        if state == "firing":
            return []
        unlisted.remove(digest)
        firing, resolved = max(firing - 1, 0), resolved + 1
        alerts.append({"name": name, "alertname": alertname, "state": state, "startsAt": starts_at})
    elif state == "firing":
        firing, total, joined = firing + 1, total + 1, True
        alerts.append({"name": name, "alertname": alertname, "state": state, "startsAt": starts_at})
    else:
        return []
    alerts, unlisted, untracked = _bound_alerts(alerts, unlisted)
    status.update(
        alerts=alerts,
        firingAlerts=firing,
        resolvedAlerts=resolved,
        totalAlerts=total,
        alertsDropped=total - len(alerts),
    )
    if unlisted:
        status["unlistedFiringAlerts"] = unlisted
    else:
        status.pop("unlistedFiringAlerts", None)
    entries: list[Entry] = []
    if total <= ALERT_TIMELINE_LIMIT:  # one by one while a reader can follow them; past that the counts tell
        if joined:
            entries.append(Entry("AlertJoined", f"alert {name} ({alertname}, {state}) joined the incident"))
        elif state == "resolved":
            entries.append(Entry("AlertResolved", f"alert {name} ({alertname}) resolved"))
    elif joined and total == ALERT_TIMELINE_LIMIT + 1:
        entries.append(
            Entry(
                "ManyAlerts",
                f"more than {ALERT_TIMELINE_LIMIT} alerts joined: the timeline no longer records them one by one;"
                " firingAlerts, resolvedAlerts and totalAlerts count every one, and status.alerts lists up to"
                f" {ALERT_ENTRIES_LIMIT} (firing before resolved, then the newest)",
            )
        )
    if untracked and not status.get("alertsUntracked"):
        status["alertsUntracked"] = True
        entries.append(
            Entry(
                "AlertsUntracked",
                f"more than {UNLISTED_FIRING_LIMIT + ALERT_ENTRIES_LIMIT} alerts fire at once: the incident cannot"
                " tell when every one has resolved and will not resolve by itself; resolve it by hand",
                "Warning",
            )
        )
    for entry in entries:
        timeline.append(status, entry, now)
    if total and firing == 0 and not status.get("alertsUntracked") and not is_resolved(status):
        entries += resolve(
            status, now=now, reason="AlertsResolved", message=f"all {total} alert(s) of the incident resolved"
        )
    return entries


# status.alerts lists at most this many alerts: 100 entries of ~150 bytes keep the
# incident readable in `kubectl get -o yaml` and ~15 KiB of it. The counts cover
# every alert, so nothing is lost but the detail. The CRD allows 500, so incidents
# written before this bound stay valid.
ALERT_ENTRIES_LIMIT = 100
# Firing alerts that are not listed are remembered by a hash of their name (~15
# bytes each) so their resolution still counts: 10 000 of them is ~150 KiB, far
# below etcd's 1.5 MiB object limit. An incident with more firing alerts at once
# is past reading alert by alert; it then stops resolving by itself (and says so)
# rather than resolving while alerts it lost track of still fire.
UNLISTED_FIRING_LIMIT = 10_000
# 12 hex digits (48 bits): two of 10 000 names share one with a chance of ~2e-7.
_DIGEST_CHARS = 12
# The timeline records alerts joining and resolving one by one for the first 20:
# the timeline keeps 200 entries, and a storm of alerts must not push out what
# was done about them (the runbook, the actions) before the post-mortem reads it.
ALERT_TIMELINE_LIMIT = 20


def alert_digest(name: str) -> str:
    """The short, stable hash by which an incident remembers an alert it does not list."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


def _alert_counts(status: dict[str, Any], alerts: list[dict[str, Any]], unlisted: list[str]) -> tuple[int, int, int]:
    """(firing, resolved, total): as recorded, or for an incident recorded before the counts, from its list."""
    if "totalAlerts" in status:
        return (
            int(status.get("firingAlerts") or 0),
            int(status.get("resolvedAlerts") or 0),
            int(status.get("totalAlerts") or 0),
        )
    firing = sum(1 for a in alerts if a.get("state") == "firing") + len(unlisted)
    resolved = sum(1 for a in alerts if a.get("state") == "resolved")
    return firing, resolved, firing + resolved


def _bound_alerts(alerts: list[dict[str, Any]], unlisted: list[str]) -> tuple[list[dict[str, Any]], list[str], int]:
    """Keep at most ALERT_ENTRIES_LIMIT entries: the oldest resolved ones go first, then the oldest firing ones.

    A firing entry that goes is remembered by its digest (up to UNLISTED_FIRING_LIMIT);
    returns the entries, the digests and how many firing alerts could not be remembered.
    """
    alerts, unlisted, untracked = list(alerts), list(unlisted), 0
    while len(alerts) > ALERT_ENTRIES_LIMIT:
        index = next((i for i, a in enumerate(alerts) if a.get("state") != "firing"), 0)
        gone = alerts.pop(index)
        if gone.get("state") != "firing":
            continue
        if len(unlisted) < UNLISTED_FIRING_LIMIT:
            unlisted.append(alert_digest(str(gone.get("name", ""))))
        else:
            untracked += 1
    return alerts, unlisted, untracked


def record_truncation(status: dict[str, Any], truncated: int, *, now: datetime) -> list[Entry]:
    """Alertmanager left ``truncated`` alerts of the group out of a notification (its ``max_alerts``).

    ``truncatedAlerts`` keeps the largest number reported; each new maximum is a
    timeline entry (and Event), so a reader knows the incident does not see the
    whole group.
    """
    if truncated <= int(status.get("truncatedAlerts") or 0):
        return []
    status["truncatedAlerts"] = truncated
    entry = Entry(
        "AlertsTruncated",
        f"Alertmanager left {truncated} alert(s) of this group out of its notification (the receiver's"
        " max_alerts): the incident does not see them; Alertmanager shows the whole group",
        "Warning",
    )
    timeline.append(status, entry, now)
    return [entry]


def resolve(status: dict[str, Any], *, now: datetime, reason: str, message: str) -> list[Entry]:
    """Resolve the incident, closing every action still open with a recorded outcome.

    Automation stops with the incident (its worker is cancelled), so an action
    left ``Pending``, ``AwaitingApproval`` or ``Applied`` would otherwise stay
    "in flight" for ever and hold a concurrency slot that nobody frees.
    """
    if is_resolved(status):
        return []
    entries = close_open_actions(status, now=now)
    status["phase"] = "Resolved"
    status.pop("waitingFor", None)
    status["resolvedAt"] = rfc3339(now)
    timeline.set_condition(status, type_=COND_RESOLVED, true=True, reason=reason, message=message, now=now)
    entry = Entry("IncidentResolved", message)
    timeline.append(status, entry, now)
    return [*entries, entry]


OPEN_STATES = ("Pending", "AwaitingApproval", "Applied")


def close_open_actions(status: dict[str, Any], *, now: datetime) -> list[Entry]:
    """Give every open action its final state: never run (``Denied``) or run and not verified (``Closed``)."""
    entries = []
    for action in list(status.get("actions") or []):
        if action.get("state") not in OPEN_STATES:
            continue
        started = action["state"] == "Applied" or bool(action.get("startedAt"))
        if started:
            action.update(
                state="Closed",
                reason="IncidentResolved",
                message="the incident resolved before the action was verified; its effect was not judged",
            )
        elif isinstance(action.get("held"), dict):  # its hold is dropped with the incident, and says so
            held = action["held"]
            action.update(
                state="Denied",
                reason="IncidentResolved",
                message=f"the incident resolved while the step was held ({held.get('reason')}: "
                f"{held.get('message')}); the hold is dropped and the step does not run",
            )
        else:
            action.update(
                state="Denied", reason="IncidentResolved", message="the incident resolved before the action ran"
            )
        action["finishedAt"] = rfc3339(now)
        put_action(status, action)
        entry = Entry("RemediationClosed", f"{action['action']} of {_target(action)}: {action['message']}")
        timeline.append(status, entry, now)
        entries.append(entry)
    return entries


def in_flight(incidents: Iterable[Mapping[str, Any]], *, namespace: str, exclude: str) -> tuple[int, int]:
    """Actions started and not finished, cluster-wide and in ``namespace``, from the incidents' statuses.

    Started: ``Applied``, or ``Pending`` with ``startedAt`` (claimed, maybe
    acting). A resolved incident holds no slot whatever its records say, and
    ``exclude`` (the action being judged, resuming its own claim) is not counted.
    """
    cluster_wide = here = 0
    for incident in incidents:
        status = incident.get("status") or {}
        if is_resolved(status):
            continue
        for action in status.get("actions") or []:
            started = action.get("state") == "Applied" or (
                action.get("state") == "Pending" and bool(action.get("startedAt"))
            )
            if started and action.get("id") != exclude:
                cluster_wide += 1
                here += (incident.get("metadata") or {}).get("namespace") == namespace
    return cluster_wide, here


def workloads_touched(incident: Mapping[str, Any], target: Workload, action_id: str) -> int:
    """Other workloads this incident has already acted on than ``target`` (for maxWorkloadsPerIncident)."""
    touched = {
        (str((a.get("target") or {}).get("kind")), str((a.get("target") or {}).get("name")))
        for a in (incident.get("status") or {}).get("actions") or []
        if a.get("id") != action_id and a.get("state") in ("Applied", "Succeeded", "Failed", "Closed")
    }
    touched.discard((target.kind, target.name))
    return len(touched)


def record_runbook(status: dict[str, Any], runbook: RunbookRef | None, *, now: datetime, why: str = "") -> list[Entry]:
    """The triage result: which runbook applies, or that none does (a human must look).

    ``why`` is the matching explanation (:meth:`onduty.domain.runbooks.Selection.message`):
    which runbook won and over whom, or the nearest misses.
    """
    if runbook is None:
        status["runbook"] = {}
        timeline.set_condition(
            status,
            type_=COND_RUNBOOK,
            true=False,
            reason="NoRunbookMatched",
            message=why or "no runbook matches this incident",
            now=now,
        )
        explained: list[Entry] = []
        if why and not timeline.condition_is(status, COND_ESCALATION, True):
            explained = [Entry("NoRunbookMatched", why, "Warning")]
            timeline.append(status, explained[0], now)
        return explained + escalate(
            status, now=now, reason="NoRunbookMatched", message="no runbook matches this incident; a human must respond"
        )
    status["runbook"] = {"namespace": runbook.namespace, "name": runbook.name}
    if runbook.spec.escalation_policy:
        status["runbook"]["escalationPolicy"] = runbook.spec.escalation_policy
    steps = len(runbook.spec.remediation.steps) if runbook.spec.remediation else 0
    message = (
        f"{why}; {steps} remediation step(s)" if why else f"runbook {runbook.key} matched ({steps} remediation step(s))"
    )
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
    status.pop("waitingFor", None)
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
    held = action.get("state") == "Pending" and isinstance(action.get("held"), dict)
    status["lastAction"] = f"{action.get('action')} {'Held' if held else action.get('state')}"
    waiting.refresh(status)


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
        "checks": [],
        "verdicts": [],
    }


def deny_action(
    status: dict[str, Any],
    action: dict[str, Any],
    verdicts: Sequence[Verdict],
    *,
    now: datetime,
    decisive: Verdict | None = None,
) -> list[Entry]:
    """The step does not run: ``decisive`` (default: the first denial) is its reason, every verdict is kept."""
    denial = decisive or first_denial(verdicts)
    assert denial is not None
    action.pop("held", None)
    action.update(
        state="Denied",
        reason=denial.reason,
        message=denial.message,
        finishedAt=rfc3339(now),
        **recorded(verdicts),
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
        **recorded(verdicts),
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
        **recorded(verdicts),
    )
    put_action(status, action)
    # Commands a human can paste as they are. The action id (<incident uid>.<step>) names the incident
    # too; its namespace is the target's, which is always the incident's own (onduty.domain.trust).
    namespace = (action.get("target") or {}).get("namespace")
    command = f"-n {namespace} {action['id']}" if namespace else action["id"]
    entry = Entry(
        "ApprovalRequired",
        f"{action['action']} of {_target(action)} waits for approval until {rfc3339(expires)}: "
        f"`onduty approve {command}` lets it run, `onduty reject {command}` refuses it",
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


def hold_action(
    status: dict[str, Any],
    action: dict[str, Any],
    held: dict[str, Any],
    verdicts: Sequence[Verdict],
    *,
    now: datetime,
) -> list[Entry]:
    """The step waits for a denial that passes by itself (or a human's pause): recorded, said once per reason/until."""
    before = action.get("held") if isinstance(action.get("held"), dict) else None
    action.update(state="Pending", held=held, **recorded(verdicts))
    put_action(status, action)
    if before is not None and (before.get("reason"), before.get("until")) == (held.get("reason"), held.get("until")):
        return []
    reason = str(held.get("reason"))
    what = f"{action['action']} of {_target(action)}"
    if reason == "Silenced":  # a human may lift a silence early: looked at every poll interval until it ends
        until = f"; {what} runs when the silence is lifted or ends ({held['until']})" if held.get("until") else ""
    else:
        until = f"; {what} is judged again at {held['until']}" if held.get("until") else ""
    entry = Entry(
        _HOLD_ENTRIES.get(reason, "RemediationHeld"), f"automation held: {held.get('message')}{until}", "Warning"
    )
    timeline.append(status, entry, now)
    return [entry]


# The timeline's reason for a hold, where it has its own (older than RemediationHeld, and kept).
_HOLD_ENTRIES = {
    "AutomationPaused": "AutomationPaused",
    "Silenced": "AutomationSilenced",
    "SilenceCheckFailed": "SilenceCheckFailed",
    "ConcurrencyLimited": "ConcurrencyLimited",
}


def release_hold(status: dict[str, Any], action: dict[str, Any], *, now: datetime) -> list[Entry]:
    """The hold has passed: the step is judged again on every guardrail (a hold is not an approval)."""
    held = action.pop("held", None)
    if not isinstance(held, dict):
        return []
    put_action(status, action)
    entry = Entry(
        "RemediationReleased",
        f"{action['action']} of {_target(action)}: {held.get('reason')} no longer holds it (held since"
        f" {held.get('since')}); every guardrail is judged again",
    )
    timeline.append(status, entry, now)
    return [entry]


def start_action(
    status: dict[str, Any], action: dict[str, Any], verdicts: Sequence[Verdict], *, now: datetime
) -> list[Entry]:
    """Record the action (with its verdicts) *before* it runs: the claim, silent.

    The action's own checks (blast radius, an HPA, nothing to undo) still
    come after the claim and may refuse it; so the timeline says
    ``RemediationStarted`` only once the action really ran (:func:`applied_action`),
    never before a step that is then skipped.
    """
    action.update(state="Pending", startedAt=rfc3339(now), **recorded(verdicts))
    put_action(status, action)
    return []


def applied_action(status: dict[str, Any], action: dict[str, Any], *, now: datetime, message: str) -> list[Entry]:
    action.update(state="Applied", appliedAt=rfc3339(now), message=message)
    put_action(status, action)
    started = Entry("RemediationStarted", f"{action['action']} of {_target(action)} starting (action {action['id']})")
    entry = Entry("RemediationApplied", f"{action['action']} of {_target(action)} applied: {message}")
    timeline.append(status, started, now)
    timeline.append(status, entry, now)
    return [started, entry]


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
