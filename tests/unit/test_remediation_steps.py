"""Remediation of an incident: which step runs next, each action's states, and the outcome."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import incidents
from onduty.domain.guardrails import Verdict, check_cooldown, check_pause, check_target_exists, read_recorded
from onduty.domain.runbooks import RunbookRef, RunbookSpec, Step, parse_runbook
from onduty.domain.timeline import Entry
from onduty.domain.workloads import Workload

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
UID = "6f1c2a9e-2b1d-4c0e-9a57-3d2f0b8c1e44"
WEB = Workload("Deployment", "web", "shop")
CACHE = Workload("Deployment", "cache", "shop")
SPEC = parse_runbook(
    {
        "match": {"alertnames": ["KubePodCrashLooping"]},
        "remediation": {
            "steps": [
                {"name": "restart-web", "action": "rolloutRestart"},
                {
                    "name": "restart-cache",
                    "action": "rolloutRestart",
                    "target": {"kind": "Deployment", "name": "cache"},
                },
            ]
        },
    }
)
RUNBOOK = RunbookRef("shop", "crashloop", SPEC)
ALLOW = [
    check_pause(incident_paused=False, namespace_paused=False),
    check_target_exists(exists=True, target="Deployment/web"),
    check_cooldown(last_action_at=None, cooldown=timedelta(minutes=15), now=T0, action="rolloutRestart"),
]
COOLING = [
    check_pause(incident_paused=False, namespace_paused=False),
    check_target_exists(exists=True, target="Deployment/web"),
    check_cooldown(
        last_action_at=T0, cooldown=timedelta(minutes=15), now=T0 + timedelta(minutes=3), action="rolloutRestart"
    ),
]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _remediating() -> dict[str, Any]:
    status: dict[str, Any] = {}
    incidents.open_incident(status, now=T0, title="Pod is crash looping.", workload=WEB)
    incidents.record_alert(
        status, name="a", state="firing", alertname="KubePodCrashLooping", starts_at="2024-05-01T11:58:30Z", now=T0
    )
    incidents.record_runbook(status, RUNBOOK, now=T0)
    return status


def _step(index: int) -> Step:
    assert SPEC.remediation is not None
    return SPEC.remediation.steps[index]


def _action(index: int, target: Workload, minute: int) -> dict[str, Any]:
    return incidents.new_action(
        incidents.NextStep(_step(index), incidents.action_id(UID, _step(index)), None), target, now=at(minute)
    )


def _with_record(status: dict[str, Any], index: int, state: str) -> dict[str, Any]:
    action = _action(index, WEB, index)
    action["state"] = state
    incidents.put_action(status, action)
    return status


def _reasons(status: dict[str, Any]) -> list[str]:
    return [entry["reason"] for entry in status.get("timeline", [])]


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), None)


# --- action ids ------------------------------------------------------------------------------


def test_an_action_id_names_the_incident_and_the_step() -> None:
    assert incidents.action_id(UID, _step(0)) == f"{UID}.restart-web"


@pytest.mark.parametrize(
    ("uid", "index", "expected"),
    [
        (UID, 0, "6f1c2a9e-2b1d-4c0e-9a57-3d2f0b8c1e44.restart-web"),
        ("0b7e-other-incident", 0, "0b7e-other-incident.restart-web"),
        (UID, 1, "6f1c2a9e-2b1d-4c0e-9a57-3d2f0b8c1e44.restart-cache"),
    ],
)
def test_one_step_of_one_incident_always_has_the_same_action_id(uid: str, index: int, expected: str) -> None:
    assert incidents.action_id(uid, _step(index)) == expected


# --- which step is next ----------------------------------------------------------------------


def test_a_fresh_incident_starts_with_the_first_step() -> None:
    nxt = incidents.next_step(SPEC, _remediating(), UID)

    assert nxt is not None
    assert (nxt.step.name, nxt.id, nxt.action) == ("restart-web", f"{UID}.restart-web", None)


@pytest.mark.parametrize("state", ["Pending", "Applied"])
def test_a_started_step_is_resumed_with_its_record(state: str) -> None:
    status = _with_record(_remediating(), 0, state)

    nxt = incidents.next_step(SPEC, status, UID)

    assert nxt is not None
    assert nxt.step.name == "restart-web"
    assert nxt.action is not None
    assert nxt.action["state"] == state


@pytest.mark.parametrize("state", incidents.TERMINAL)
def test_a_step_with_a_final_outcome_is_skipped(state: str) -> None:
    status = _with_record(_remediating(), 0, state)

    nxt = incidents.next_step(SPEC, status, UID)

    assert nxt is not None
    assert (nxt.step.name, nxt.action) == ("restart-cache", None)


def test_no_step_is_next_when_every_step_has_an_outcome() -> None:
    status = _with_record(_with_record(_remediating(), 0, "Denied"), 1, "Succeeded")

    assert incidents.next_step(SPEC, status, UID) is None


def test_records_of_another_incident_do_not_count() -> None:
    status = _remediating()
    foreign = incidents.new_action(
        incidents.NextStep(_step(0), incidents.action_id("other-uid", _step(0)), None), WEB, now=T0
    )
    foreign["state"] = "Succeeded"
    incidents.put_action(status, foreign)

    nxt = incidents.next_step(SPEC, status, UID)

    assert nxt is not None
    assert nxt.step.name == "restart-web"


def _escalated(status: dict[str, Any]) -> None:
    incidents.escalate(status, now=at(1), reason="ByHand", message="a human took over")


def _resolved(status: dict[str, Any]) -> None:
    incidents.record_alert(status, name="a", state="resolved", alertname="X", starts_at="", now=at(1))


@pytest.mark.parametrize("stop", [_escalated, _resolved], ids=["escalated", "resolved"])
def test_automation_stops_once_escalated_or_resolved(stop: Callable[[dict[str, Any]], None]) -> None:
    status = _remediating()
    stop(status)

    assert incidents.next_step(SPEC, status, UID) is None


def test_a_runbook_without_remediation_has_no_steps() -> None:
    spec = RunbookSpec.model_validate({"match": {"alertnames": ["X"]}})

    assert incidents.next_step(spec, _remediating(), UID) is None


# --- action states -----------------------------------------------------------------------------


def test_a_new_action_is_pending_with_its_target_and_creation_time() -> None:
    assert _action(0, WEB, 1) == {
        "id": f"{UID}.restart-web",
        "step": "restart-web",
        "action": "rolloutRestart",
        "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
        "state": "Pending",
        "createdAt": "2024-05-01T12:01:00Z",
        "checks": [],
        "verdicts": [],
    }


def _start(status: dict[str, Any], action: dict[str, Any]) -> list[Entry]:
    return incidents.start_action(status, action, ALLOW, now=at(2))


def _apply(status: dict[str, Any], action: dict[str, Any]) -> list[Entry]:
    return incidents.applied_action(status, action, now=at(3), message="restartedAt annotation set")


def _succeed(status: dict[str, Any], action: dict[str, Any]) -> list[Entry]:
    return incidents.finish_action(status, action, now=at(4), ok=True, reason="RolloutHealthy", message="3/3 ready")


def _fail(status: dict[str, Any], action: dict[str, Any]) -> list[Entry]:
    return incidents.finish_action(
        status, action, now=at(4), ok=False, reason="RolloutTimedOut", message="1 of 3 available after 5m"
    )


def _deny(status: dict[str, Any], action: dict[str, Any]) -> list[Entry]:
    return incidents.deny_action(status, action, COOLING, now=at(2))


@pytest.mark.parametrize(
    ("transition", "state", "timestamp", "events", "message"),
    [
        pytest.param(
            _apply,
            "Applied",
            ("appliedAt", "2024-05-01T12:03:00Z"),
            [("RemediationStarted", "Normal"), ("RemediationApplied", "Normal")],
            f"rolloutRestart of Deployment/web starting (action {UID}.restart-web)",
            id="applied",
        ),
        pytest.param(
            _succeed,
            "Succeeded",
            ("finishedAt", "2024-05-01T12:04:00Z"),
            [("RemediationSucceeded", "Normal")],
            "rolloutRestart of Deployment/web verified: 3/3 ready",
            id="succeeded",
        ),
        pytest.param(
            _fail,
            "Failed",
            ("finishedAt", "2024-05-01T12:04:00Z"),
            [("RemediationFailed", "Warning"), ("EscalationRequired", "Warning")],
            "rolloutRestart of Deployment/web failed: RolloutTimedOut: 1 of 3 available after 5m",
            id="failed",
        ),
        pytest.param(
            _deny,
            "Denied",
            ("finishedAt", "2024-05-01T12:02:00Z"),
            [("RemediationSkipped", "Warning")],
            "rolloutRestart of Deployment/web skipped: CooldownActive: last rolloutRestart",
            id="denied",
        ),
    ],
)
def test_each_action_transition_records_state_time_and_a_timeline_entry(
    transition: Callable[[dict[str, Any], dict[str, Any]], list[Entry]],
    state: str,
    timestamp: tuple[str, str],
    events: list[tuple[str, str]],
    message: str,
) -> None:
    status = _remediating()
    before = len(status["timeline"])

    entries = transition(status, _action(0, WEB, 1))

    assert [(e.reason, e.type) for e in entries] == events
    assert entries[0].message.startswith(message)
    recorded = incidents.find_action(status, f"{UID}.restart-web")
    assert recorded is not None
    assert recorded["state"] == state
    assert recorded[timestamp[0]] == timestamp[1]
    assert status["lastAction"] == f"rolloutRestart {state}"
    assert _reasons(status)[before:] == [reason for reason, _ in events]


def test_claiming_an_action_says_nothing_until_it_really_starts() -> None:
    # The action's own checks come after the claim and may still refuse it: a step that is then
    # skipped must not read "started" in the timeline.
    status = _remediating()
    before = len(status["timeline"])

    assert _start(status, _action(0, WEB, 1)) == []
    claimed = incidents.find_action(status, f"{UID}.restart-web")
    assert claimed is not None and claimed["startedAt"] == "2024-05-01T12:02:00Z"
    assert _reasons(status)[before:] == []

    _deny(status, claimed)

    assert _reasons(status)[before:] == ["RemediationSkipped"]


def test_verdicts_are_recorded_before_the_action_runs() -> None:
    status = _remediating()

    incidents.start_action(status, _action(0, WEB, 1), ALLOW, now=at(2))

    recorded = incidents.find_action(status, f"{UID}.restart-web")
    assert recorded is not None
    assert [v["reason"] for v in read_recorded(recorded)] == ["NotPaused", "TargetFound", "NoRecentAction"]
    assert recorded["checks"][0] == f"Pause NotPaused: {ALLOW[0].message}"
    assert recorded["verdicts"] == []


def test_a_denied_action_keeps_every_verdict_and_the_first_denial() -> None:
    status = _remediating()
    verdicts = [*COOLING, Verdict("Target", False, "TargetNotFound", "Deployment/web does not exist")]

    incidents.deny_action(status, _action(0, WEB, 1), verdicts, now=at(2))

    recorded = incidents.find_action(status, f"{UID}.restart-web")
    assert recorded is not None
    assert recorded["reason"] == "CooldownActive"
    assert "cooldown 15m ends at 2024-05-01T12:15:00Z" in recorded["message"]
    assert [v["allowed"] for v in read_recorded(recorded)] == [True, True, False, False]
    assert [v["reason"] for v in recorded["verdicts"]] == ["CooldownActive", "TargetNotFound"]
    assert len(recorded["checks"]) == 2


def test_a_denied_step_lets_the_next_step_run() -> None:
    status = _remediating()
    incidents.deny_action(status, _action(0, WEB, 1), COOLING, now=at(2))

    nxt = incidents.next_step(SPEC, status, UID)

    assert nxt is not None
    assert nxt.step.name == "restart-cache"
    assert status["phase"] == "Remediating"


def test_a_failed_step_escalates_and_stops_automation() -> None:
    status = _remediating()

    _fail(status, _action(0, WEB, 1))

    assert status["phase"] == "Escalated"
    escalation = _condition(status, incidents.COND_ESCALATION)
    assert escalation is not None
    assert (escalation["status"], escalation["reason"]) == ("True", "RolloutTimedOut")
    assert "automation stopped: rolloutRestart of Deployment/web failed" in escalation["message"]
    assert incidents.next_step(SPEC, status, UID) is None


def test_a_succeeded_step_does_not_yet_conclude_the_incident() -> None:
    status = _remediating()

    _succeed(status, _action(0, WEB, 1))

    assert status["phase"] == "Remediating"
    assert _condition(status, incidents.COND_REMEDIATED) is None


def test_each_step_has_one_record_however_many_transitions() -> None:
    status = _remediating()
    action = _action(0, WEB, 1)

    _start(status, action)
    _apply(status, action)
    _succeed(status, action)

    assert [a["id"] for a in status["actions"]] == [f"{UID}.restart-web"]
    assert status["actions"][0]["state"] == "Succeeded"


def test_actions_are_listed_in_creation_order_and_last_action_is_the_latest_write() -> None:
    status = _remediating()
    first, second = _action(0, WEB, 1), _action(1, CACHE, 5)

    _start(status, second)
    _deny(status, first)

    assert [a["step"] for a in status["actions"]] == ["restart-web", "restart-cache"]
    assert status["lastAction"] == "rolloutRestart Denied"


def test_find_action_returns_a_copy() -> None:
    status = _remediating()
    _start(status, _action(0, WEB, 1))

    found = incidents.find_action(status, f"{UID}.restart-web")
    assert found is not None
    found["state"] = "Succeeded"

    assert status["actions"][0]["state"] == "Pending"
    assert incidents.find_action(status, "missing") is None


# --- the outcome ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "phase", "reason"),
    [
        pytest.param(["Succeeded"], "Mitigated", "IncidentMitigated", id="one-succeeded"),
        pytest.param(["Denied", "Succeeded"], "Mitigated", "IncidentMitigated", id="denied-then-succeeded"),
        pytest.param(["Denied", "Denied"], "Escalated", "EscalationRequired", id="all-denied"),
        pytest.param([], "Escalated", "EscalationRequired", id="nothing-ran"),
    ],
)
def test_the_incident_is_mitigated_if_a_step_succeeded_else_escalated(
    states: list[str], phase: str, reason: str
) -> None:
    status = _remediating()
    for index, state in enumerate(states):
        action = _action(index, WEB, index)
        action.update(state=state, reason="CooldownActive" if state == "Denied" else "RolloutHealthy")
        incidents.put_action(status, action)

    entries = incidents.conclude(status, now=at(10))

    assert [e.reason for e in entries] == [reason]
    assert status["phase"] == phase
    assert _reasons(status)[-1] == reason


def test_mitigation_sets_the_remediated_condition() -> None:
    status = _with_record(_remediating(), 0, "Succeeded")

    incidents.conclude(status, now=at(10))

    remediated = _condition(status, incidents.COND_REMEDIATED)
    assert remediated is not None
    assert (remediated["status"], remediated["reason"], remediated["lastTransitionTime"]) == (
        "True",
        "RemediationVerified",
        "2024-05-01T12:10:00Z",
    )


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        (["TargetNotFound", "CooldownActive"], "no remediation could run (CooldownActive, TargetNotFound)"),
        (["CooldownActive", "CooldownActive"], "no remediation could run (CooldownActive)"),
        ([], "no remediation could run (no action ran)"),
    ],
)
def test_an_escalation_without_remediation_says_why_nothing_ran(reasons: list[str], message: str) -> None:
    status = _remediating()
    for index, reason in enumerate(reasons):
        action = _action(index, WEB, index)
        action.update(state="Denied", reason=reason)
        incidents.put_action(status, action)

    incidents.conclude(status, now=at(10))

    escalation = _condition(status, incidents.COND_ESCALATION)
    assert escalation is not None
    assert escalation["reason"] == "NoRemediationApplied"
    assert escalation["message"].startswith(message)


@pytest.mark.parametrize("stop", [_escalated, _resolved], ids=["escalated", "resolved"])
def test_concluding_a_stopped_incident_changes_nothing(stop: Callable[[dict[str, Any]], None]) -> None:
    status = _with_record(_remediating(), 0, "Succeeded")
    stop(status)
    before = copy.deepcopy(status)

    assert incidents.conclude(status, now=at(10)) == []
    assert status == before


def test_concluding_a_mitigated_incident_again_changes_nothing() -> None:
    # The remediation daemon runs again for every unresolved incident when the
    # operator restarts; a Mitigated incident must not gain a second entry or Event.
    status = _with_record(_remediating(), 0, "Succeeded")
    incidents.conclude(status, now=at(10))
    before = copy.deepcopy(status)

    again = incidents.conclude(status, now=at(20))

    assert again == []
    assert status == before


# --- the whole story -----------------------------------------------------------------------------


def test_an_incident_from_first_alert_to_resolution() -> None:
    status: dict[str, Any] = {}
    incidents.open_incident(status, now=T0, title="Pod is crash looping.", workload=WEB)
    incidents.record_alert(
        status, name="a", state="firing", alertname="KubePodCrashLooping", starts_at="2024-05-01T11:58:30Z", now=at(0)
    )
    incidents.record_runbook(status, RUNBOOK, now=at(1))

    first = incidents.next_step(SPEC, status, UID)
    assert first is not None
    web = incidents.new_action(first, WEB, now=at(1))
    incidents.start_action(status, web, ALLOW, now=at(1))
    incidents.applied_action(status, web, now=at(1), message="restartedAt annotation set")
    incidents.finish_action(status, web, now=at(3), ok=True, reason="RolloutHealthy", message="3/3 ready")

    second = incidents.next_step(SPEC, status, UID)
    assert second is not None
    cache = incidents.new_action(second, CACHE, now=at(3))
    incidents.deny_action(status, cache, COOLING, now=at(3))

    assert incidents.next_step(SPEC, status, UID) is None
    incidents.conclude(status, now=at(3))
    assert status["phase"] == "Mitigated"

    incidents.record_alert(
        status, name="a", state="resolved", alertname="KubePodCrashLooping", starts_at="2024-05-01T11:58:30Z", now=at(9)
    )

    assert status["phase"] == "Resolved"
    assert status["lastAction"] == "rolloutRestart Denied"
    assert _reasons(status) == [
        "IncidentOpened",
        "AlertJoined",
        "RunbookMatched",
        "RemediationStarted",
        "RemediationApplied",
        "RemediationSucceeded",
        "RemediationSkipped",
        "IncidentMitigated",
        "AlertResolved",
        "IncidentResolved",
    ]
