"""Holds: which denials pass by themselves, when they pass, how long a step may wait, and what the incident says."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import holds, incidents, pending, steps, waiting
from onduty.domain.guardrails import Verdict
from onduty.domain.policies import Policy, TargetState, parse_policy
from onduty.domain.schedule import Window, time_zone
from onduty.domain.silences import Silence
from onduty.domain.times import rfc3339
from onduty.domain.workloads import Workload

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _policy(name: str = "p", **spec: Any) -> Policy:
    return Policy(name, parse_policy({"scope": {"namespaces": ["shop"]}, "allowedActions": ["rolloutRestart"], **spec}))


def _facts(*policies: Policy, **state: Any) -> steps.StepFacts:
    return steps.StepFacts(
        action="rolloutRestart",
        target="Deployment/web",
        target_found=True,
        now=NOW,
        cooldown=timedelta(0),
        labels={"alertname": "KubePodCrashLooping", "namespace": "shop"},
        in_force=policies,
        target_state=TargetState("shop", **state),
    )


def _denial(facts: steps.StepFacts) -> Verdict:
    verdicts, _ = steps.decide(facts)
    denial = holds.deciding(verdicts)
    assert denial is not None
    return denial


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("AutomationPaused", "paused"),
        ("CooldownActive", "passing"),
        ("OutsideMaintenanceWindow", "passing"),
        ("ChangeFreeze", "passing"),
        ("RateLimited", "passing"),
        ("ConcurrencyLimited", "passing"),
        ("Silenced", "passing"),
        ("SilenceCheckFailed", "passing"),
        ("ActionNotAllowed", "final"),
        ("ClusterScopedActionNotAllowed", "final"),
        ("TooManyWorkloads", "final"),
        ("TargetNotFound", "final"),
        ("NoTarget", "final"),
        ("PolicyInvalid", "final"),
        ("GuardrailStateUnreadable", "final"),
        ("ConditionNotMet", "final"),
        ("ConditionUnknown", "final"),
        ("SomethingNew", "final"),  # an unknown reason is final: fail closed
    ],
)
def test_every_denial_reason_is_paused_passing_or_final(reason: str, kind: str) -> None:
    assert holds.kind(reason) == kind


def test_a_final_denial_decides_over_an_earlier_one_that_would_pass() -> None:
    cooling = Verdict("Cooldown", False, "CooldownActive", "cooling")
    refused = Verdict("AllowedActions", False, "ActionNotAllowed", "not allowed")
    paused = Verdict("Pause", False, "AutomationPaused", "paused")

    assert holds.deciding([cooling, refused]) is refused
    assert holds.deciding([cooling]) is cooling
    assert holds.deciding([paused, refused]) is paused  # a human's pause decides alone
    silenced = Verdict("Silence", False, "Silenced", "silenced")
    unmet = Verdict("Condition", False, "ConditionNotMet", "not yet")
    assert holds.deciding([cooling, silenced, unmet]) is silenced  # as does a silence: nothing is final meanwhile
    assert holds.deciding([Verdict("Pause", True, "NotPaused", "")]) is None


def test_a_step_cooldown_holds_until_it_ends() -> None:
    facts = replace(_facts(_policy(), last_same_action=NOW - timedelta(seconds=2)), cooldown=timedelta(seconds=5))

    outcome = holds.hold(facts, _denial(facts), since=None)

    assert isinstance(outcome, holds.Hold)
    assert (outcome.reason, outcome.until, outcome.since) == ("CooldownActive", NOW + timedelta(seconds=3), NOW)
    assert waiting.waiting_for(outcome.to_dict()) == "Held: cooldown ends at 2026-11-30T12:00:03Z"


def test_the_longest_policy_cooldown_sets_the_end() -> None:
    facts = _facts(
        _policy("a", cooldown="10m"), _policy("b", cooldown="30m"), last_same_action=NOW - timedelta(minutes=5)
    )

    assert holds.passes_at(facts, _denial(facts)) == NOW + timedelta(minutes=25)


@pytest.mark.parametrize(
    ("windows", "opens"),
    [
        pytest.param([{"name": "nightly", "cron": "0 2 * * *", "duration": "2h"}], "2026-12-01T02:00:00Z", id="cron"),
        pytest.param(
            [{"name": "berlin", "cron": "0 2 * * *", "duration": "1h", "timeZone": "Europe/Berlin"}],
            "2026-12-01T01:00:00Z",  # 02:00 CET
            id="zone",
        ),
        pytest.param(
            [
                {"name": "late", "cron": "0 20 * * *", "duration": "1h"},
                {"name": "soon", "start": "2026-11-30T13:30:00Z", "end": "2026-11-30T14:00:00Z"},
            ],
            "2026-11-30T13:30:00Z",
            id="the-earliest-of-several",
        ),
    ],
)
def test_outside_a_maintenance_window_the_step_is_held_until_the_next_one_opens(
    windows: list[dict[str, str]], opens: str
) -> None:
    facts = _facts(_policy(maintenanceWindows=windows))

    denial = _denial(facts)

    assert denial.reason == "OutsideMaintenanceWindow"
    passes = holds.passes_at(facts, denial)
    assert passes is not None and rfc3339(passes) == opens


def test_a_change_freeze_holds_until_it_ends() -> None:
    freeze = {"name": "lunch", "cron": "0 11 * * *", "duration": "2h", "reason": "peak"}
    facts = _facts(_policy(changeFreezes=[freeze]))

    assert holds.passes_at(facts, _denial(facts)) == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def test_a_rate_limit_holds_until_enough_actions_age_out() -> None:
    recent = (NOW - timedelta(minutes=50), NOW - timedelta(minutes=40), NOW - timedelta(minutes=10))
    facts = _facts(_policy(rateLimit={"maxActions": 2, "per": "1h"}), recent_actions=recent)

    denial = _denial(facts)

    assert denial.reason == "RateLimited"
    # Three in the hour, two allowed: below the limit once the two oldest are out, i.e. the second one.
    assert holds.passes_at(facts, denial) == NOW + timedelta(minutes=20)


def test_a_silence_holds_until_it_ends() -> None:
    silence = Silence.from_api(
        {
            "id": "s-1",
            "matchers": [{"name": "namespace", "value": "shop"}],
            "startsAt": "2026-11-30T11:00:00Z",
            "endsAt": "2026-11-30T13:00:00Z",
        }
    )
    facts = replace(_facts(_policy()), silence=steps.SilenceFacts((silence,)))

    outcome = holds.hold(facts, _denial(facts), since=None)

    assert isinstance(outcome, holds.Hold)
    assert outcome.until == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    assert outcome.next_look() == outcome.until
    assert outcome.reason in holds.ALERTMANAGER_HOLDS  # asked every poll interval: a human may expire it sooner
    assert waiting.waiting_for(outcome.to_dict()) == "Silenced: Alertmanager silence ends at 2026-11-30T13:00:00Z"


def test_a_concurrency_cap_has_no_time_and_waits_for_a_change_at_most_as_long_as_a_step_waits() -> None:
    facts = _facts(_policy(concurrency={"perNamespace": 1}), in_flight_namespace=1)

    outcome = holds.hold(facts, _denial(facts), since=None)

    assert isinstance(outcome, holds.Hold)
    assert outcome.until is None
    assert outcome.next_look() == NOW + holds.MAX_HOLD  # or sooner: another incident's action ending wakes it


def test_a_far_deadline_is_looked_at_when_it_comes_not_before() -> None:
    hold = holds.Hold("OutsideMaintenanceWindow", "closed", NOW, NOW + timedelta(hours=3))

    # An edited policy or a pause is a watch event: it wakes the step sooner, without polling.
    assert hold.next_look() == NOW + timedelta(hours=3)


def test_a_pause_is_looked_at_again_only_at_the_bound_of_a_wait_or_when_it_changes() -> None:
    hold = holds.Hold("AutomationPaused", "paused by a human", NOW, None)

    assert hold.next_look() == NOW + holds.MAX_HOLD


def test_a_hold_that_would_pass_after_the_longest_wait_is_final_at_once_and_says_so() -> None:
    freeze = {"name": "december", "start": "2026-11-30T00:00:00Z", "end": "2026-12-31T00:00:00Z"}
    facts = _facts(_policy(changeFreezes=[freeze]))

    outcome = holds.hold(facts, _denial(facts), since=None)

    assert isinstance(outcome, Verdict)
    assert outcome.reason == "HoldTooLong"
    assert "2026-12-31T00:00:00Z" in outcome.message and "6h" in outcome.message


def test_a_step_held_for_the_longest_wait_becomes_final() -> None:
    facts = _facts(_policy(concurrency={"perNamespace": 1}), in_flight_namespace=1)

    outcome = holds.hold(facts, _denial(facts), since=NOW - holds.MAX_HOLD)

    assert isinstance(outcome, Verdict)
    assert outcome.reason == "HoldExpired"
    assert "held since 2026-11-30T06:00:00Z" in outcome.message


def test_a_pause_is_not_bounded_by_the_longest_hold() -> None:
    facts = replace(_facts(_policy()), namespace_paused=True)

    outcome = holds.hold(facts, _denial(facts), since=NOW - timedelta(days=1))

    assert isinstance(outcome, holds.Hold)
    assert waiting.waiting_for(outcome.to_dict()).startswith("Paused (automation is paused for this namespace")


def test_a_final_denial_says_what_would_change_it() -> None:
    facts = _facts(Policy("team-a", parse_policy({"scope": {"namespaces": ["shop"]}, "allowedActions": ["scale"]})))

    final = holds.final(facts, _denial(facts))

    assert final.reason == "ActionNotAllowed"
    assert (
        "rolloutRestart is not in spec.allowedActions of RemediationPolicy team-a, in scope for namespace shop:"
        " add it there" in final.message
    )


@pytest.mark.parametrize(
    ("window", "at", "opens", "closes"),
    [
        pytest.param(
            Window("n", "0 2 * * *", timedelta(hours=2)), "2026-11-30T12:00:00Z", "2026-12-01T02:00:00Z", None
        ),
        pytest.param(
            Window("n", "0 2 * * *", timedelta(hours=2)), "2026-11-30T03:00:00Z", "2026-12-01T02:00:00Z", "04:00"
        ),
        pytest.param(
            Window("b", "0 2 * * *", timedelta(hours=1), time_zone("Europe/Berlin")),
            "2026-11-30T12:00:00Z",
            "2026-12-01T01:00:00Z",
            None,
        ),
        pytest.param(
            Window("a", start=datetime(2026, 11, 30, 11, tzinfo=UTC), end=datetime(2026, 11, 30, 13, tzinfo=UTC)),
            "2026-11-30T12:00:00Z",
            None,
            "13:00",
        ),
    ],
)
def test_when_a_window_opens_and_closes(window: Window, at: str, opens: str | None, closes: str | None) -> None:
    now = datetime.fromisoformat(at)

    assert (rfc3339(o) if (o := window.opens_after(now)) else None) == opens
    closed = window.closes_after(now)
    assert (closed.strftime("%H:%M") if closed else None) == closes


# --- what the incident says, and what resolution does -------------------------------------------------

UID = "6f1c2a9e-2b1d-4c0e-9a57-3d2f0b8c1e44"
WEB = Workload("Deployment", "web", "shop")


def _remediating() -> dict[str, Any]:
    status: dict[str, Any] = {}
    incidents.open_incident(status, now=NOW, title="crash looping", workload=WEB)
    status["phase"] = "Remediating"
    return status


def _action(step: str = "restart") -> dict[str, Any]:
    return {
        "id": f"{UID}.{step}",
        "step": step,
        "action": "rolloutRestart",
        "target": WEB.to_dict(),
        "state": "Pending",
        "createdAt": rfc3339(NOW),
    }


HELD = {
    "reason": "CooldownActive",
    "message": "cooling",
    "since": "2026-11-30T12:00:00Z",
    "until": "2026-11-30T12:00:05Z",
}


def test_a_held_step_makes_the_incident_say_held_and_what_for() -> None:
    status = _remediating()

    entries = incidents.hold_action(status, _action(), dict(HELD), [], now=NOW)

    assert (status["phase"], status["waitingFor"]) == ("Held", "Held: cooldown ends at 2026-11-30T12:00:05Z")
    assert status["lastAction"] == "rolloutRestart Held"
    assert [e.reason for e in entries] == ["RemediationHeld"]
    # The same hold again is not said again.
    assert (
        incidents.hold_action(status, incidents.find_action(status, f"{UID}.restart") or {}, dict(HELD), [], now=NOW)
        == []
    )


def test_a_released_hold_makes_the_incident_remediating_again() -> None:
    status = _remediating()
    incidents.hold_action(status, _action(), dict(HELD), [], now=NOW)

    entries = incidents.release_hold(status, incidents.find_action(status, f"{UID}.restart") or {}, now=NOW)

    assert [e.reason for e in entries] == ["RemediationReleased"]
    assert status["phase"] == "Remediating" and "waitingFor" not in status


def test_an_approval_request_makes_the_incident_say_awaiting_approval() -> None:
    status = _remediating()

    incidents.request_approval(status, _action(), [], now=NOW, ttl=timedelta(minutes=30), policies="p")

    assert status["phase"] == "AwaitingApproval"
    assert status["waitingFor"] == ("Approval of restart (rolloutRestart Deployment/web) until 2026-11-30T12:30:00Z")


def test_resolution_drops_a_hold_with_a_record() -> None:
    status = _remediating()
    incidents.hold_action(status, _action(), dict(HELD), [], now=NOW)

    entries = incidents.resolve(status, now=NOW, reason="AlertsResolved", message="all resolved")

    action = incidents.find_action(status, f"{UID}.restart") or {}
    assert (action["state"], action["reason"]) == ("Denied", "IncidentResolved")
    assert "resolved while the step was held (CooldownActive: cooling)" in action["message"]
    assert [e.reason for e in entries] == ["RemediationClosed", "IncidentResolved"]
    assert status["phase"] == "Resolved" and "waitingFor" not in status


def test_escalation_clears_what_the_incident_waited_for() -> None:
    status = _remediating()
    incidents.hold_action(status, _action(), dict(HELD), [], now=NOW)

    incidents.escalate(status, now=NOW, reason="AutomationFailed", message="stopped")

    assert status["phase"] == "Escalated" and "waitingFor" not in status


# --- onduty get pending ---------------------------------------------------------------------------------


def test_pending_says_which_client_paused_an_incident() -> None:
    status = _remediating()
    paused = {"reason": "AutomationPaused", "message": "automation is paused on this incident", "since": rfc3339(NOW)}
    incidents.hold_action(status, _action(), paused, [], now=NOW)
    obj = {
        "metadata": {
            "name": "a",
            "namespace": "shop",
            "annotations": {"onduty.dev/paused": "true"},
            "managedFields": [
                {
                    "manager": "kubectl-annotate",
                    "fieldsV1": {"f:metadata": {"f:annotations": {"f:onduty.dev/paused": {}}}},
                }
            ],
        },
        "status": status,
    }

    [row] = pending.pending([obj])

    assert (row.waits, row.what) == (
        "pause",
        "Paused (automation is paused on this incident), set with kubectl-annotate",
    )


def _incident(name: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop"}, "status": status}


def test_pending_lists_approvals_holds_and_pauses_but_nothing_resolved() -> None:
    asking = _remediating()
    incidents.request_approval(asking, _action("scale"), [], now=NOW, ttl=timedelta(minutes=30), policies="p")
    held = _remediating()
    incidents.hold_action(held, _action(), dict(HELD), [], now=NOW)
    gone = _remediating()
    incidents.hold_action(gone, _action(), dict(HELD), [], now=NOW)
    incidents.resolve(gone, now=NOW, reason="AlertsResolved", message="all resolved")

    rows = pending.pending([_incident("a", asking), _incident("b", held), _incident("c", gone)])

    assert [(r.incident, r.waits, r.until) for r in rows] == [
        ("a", "approval", "2026-11-30T12:30:00Z"),
        ("b", "hold", "2026-11-30T12:00:05Z"),
    ]
    assert rows[0].command == "onduty approve -n shop a --step scale"
    later = NOW + timedelta(minutes=3)
    shown = pending.table(rows, later, all_namespaces=True).splitlines()
    assert shown[0].split() == ["NAMESPACE", "INCIDENT", "STEP", "ACTION", "WAITS", "FOR", "AGE"]
    assert "onduty approve -n shop a --step scale" in shown[1] and shown[1].endswith("3m")
    items = json.loads(pending.to_json(rows, later))["items"]
    assert [(i["incident"], i["reason"], i["age"]) for i in items] == [
        ("a", "ApprovalRequired", "3m"),
        ("b", "CooldownActive", "3m"),
    ]
