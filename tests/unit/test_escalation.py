"""Escalation timing with a controllable clock: who is paged, when, and never twice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import escalation
from onduty.domain.escalation import Ack, Facts, InvalidEscalationPolicy, Plan, State, parse_policy, plan
from onduty.domain.notify.channel import Kind

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
POLICY: dict[str, Any] = {
    "automationGrace": "5m",
    "repeat": 2,
    "inform": ["team-slack"],
    "levels": [
        {"name": "primary", "ackTimeout": "5m", "notifiers": ["pd-primary"], "schedules": ["payments"]},
        {"name": "secondary", "ackTimeout": "10m", "notifiers": ["pd-secondary"], "users": ["bob"]},
    ],
    "severityRules": [{"severities": ["critical"], "notifiers": ["pd-manager"], "users": ["erin"]}],
    "pageImmediatelyFor": ["critical"],
}


def facts(**changes: Any) -> Facts:
    base = Facts(uid="u1", severity="warning", opened_at=T0, on_call={"payments": ("alice",)})
    return dataclasses.replace(base, **changes)


def step(state: State, at: timedelta, policy: dict[str, Any] | None = None, **fact_changes: Any) -> Plan:
    return plan(parse_policy(policy or POLICY), "payments/default", facts(**fact_changes), state, T0 + at)


def pages(p: Plan) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return [(s.key, s.notifiers, s.responders) for s in p.sends if s.kind == Kind.PAGE]


def test_automation_gets_its_grace_before_anyone_is_paged() -> None:
    first = step(State(), timedelta(seconds=1))
    assert pages(first) == []
    assert first.wake_at == T0 + timedelta(minutes=5)
    assert [s.kind for s in first.sends] == [Kind.OPENED]  # the team channel hears of it at once
    at_grace = step(first.state, timedelta(minutes=5))
    assert pages(at_grace) == [("page/0/0", ("pd-primary",), ("alice",))]
    assert at_grace.state.state == "Escalating"
    assert at_grace.state.next_at == T0 + timedelta(minutes=10)


def test_a_restart_just_before_the_deadline_still_escalates_at_the_deadline() -> None:
    paged = step(State(), timedelta(minutes=5)).state
    # The operator restarts at 9m59s: the state it reads back from status is all it has.
    restarted = State.from_status(paged.to_status())
    just_before = step(restarted, timedelta(minutes=9, seconds=59))
    assert pages(just_before) == [] and just_before.wake_at == T0 + timedelta(minutes=10)
    on_time = step(restarted, timedelta(minutes=10))
    assert pages(on_time) == [("page/1/0", ("pd-secondary",), ("bob",))]
    assert "late" not in on_time.entries[0].message


def test_a_deadline_missed_while_onduty_was_down_fires_once_late_and_says_so() -> None:
    paged = step(State(), timedelta(minutes=5)).state
    late = step(paged, timedelta(minutes=42))  # both levels' deadlines passed while down
    assert pages(late) == [("page/1/0", ("pd-secondary",), ("bob",))]  # one step, not a burst
    assert "32m late" in late.entries[0].message and late.entries[0].type == "Warning"
    assert late.state.next_at == T0 + timedelta(minutes=52)  # the next level gets its full timeout


def test_planning_twice_at_once_pages_nobody_twice() -> None:
    first = step(State(), timedelta(minutes=5))
    again = step(first.state, timedelta(minutes=5))
    assert pages(again) == [] and not again.changed


@pytest.mark.parametrize(
    ("severity", "gave_up", "expected"),
    [
        ("critical", "", [("severity", ("pd-manager",), ("erin",)), ("page/0/0", ("pd-primary",), ("alice",))]),
        ("warning", "NoRunbookMatched", [("page/0/0", ("pd-primary",), ("alice",))]),
        ("warning", "", []),  # automation still has its grace
    ],
)
def test_what_pages_at_once(severity: str, gave_up: str, expected: list[Any]) -> None:
    assert pages(step(State(), timedelta(seconds=10), severity=severity, gave_up=gave_up)) == expected


def test_the_chain_repeats_then_gives_up_and_says_so() -> None:
    state = step(State(), timedelta(minutes=5)).state
    seen = []
    at = timedelta(minutes=5)
    for _ in range(4):
        at = state.next_at - T0 if state.next_at else at
        p = step(state, at)
        seen += [k for k, _, _ in pages(p)]
        state = p.state
    assert seen == ["page/1/0", "page/0/1", "page/1/1"]
    assert state.state == "Exhausted" and state.next_at is None
    assert p.entries[-1].reason == "EscalationExhausted"


def test_acknowledging_stops_escalation_and_unacknowledging_pages_the_current_level_again() -> None:
    paged = step(State(), timedelta(minutes=5)).state
    acked = step(paged, timedelta(minutes=6), acknowledged=Ack("alice@example.com", "slack"))
    assert acked.state.state == "Acknowledged" and acked.state.acknowledged_at == T0 + timedelta(minutes=6)
    assert [(s.kind, s.notifiers) for s in acked.sends] == [(Kind.ACKNOWLEDGED, ("pd-primary", "team-slack"))]
    assert "via slack" in acked.entries[0].message
    # The secondary's deadline passes: nobody is paged.
    quiet = step(acked.state, timedelta(minutes=30), acknowledged=Ack("alice@example.com", "slack"))
    assert pages(quiet) == [] and quiet.wake_at is None
    withdrawn = step(quiet.state, timedelta(minutes=31))
    assert withdrawn.state.state == "Escalating"
    # The primary hears it as a new page; the others (the team channel) that it was withdrawn.
    assert [(s.kind, s.notifiers) for s in withdrawn.sends] == [
        (Kind.UNACKNOWLEDGED, ("team-slack",)),
        (Kind.PAGE, ("pd-primary",)),
    ]
    assert withdrawn.state.next_at == T0 + timedelta(minutes=36)


def test_an_acknowledgement_older_than_the_policy_allows_is_withdrawn_once() -> None:
    policy = {**POLICY, "acknowledgementTimeout": "30m"}
    paged = step(State(), timedelta(minutes=5), policy).state
    ack = Ack("alice", "kubectl", token="2026-11-30T03:06:00Z")
    acked = step(paged, timedelta(minutes=6), policy, acknowledged=ack)
    assert acked.wake_at == T0 + timedelta(minutes=36)
    expired = step(acked.state, timedelta(minutes=36), policy, acknowledged=ack)
    assert [e.reason for e in expired.entries][:1] == ["AcknowledgementExpired"]
    assert pages(expired) and expired.state.state == "Escalating"
    # The same annotation left in place does not acknowledge again...
    later = step(expired.state, timedelta(minutes=37), policy, acknowledged=ack)
    assert later.state.state == "Escalating" and not later.changed
    # ...a new acknowledgement does.
    renewed = step(later.state, timedelta(minutes=38), policy, acknowledged=dataclasses.replace(ack, token="again"))
    assert renewed.state.state == "Acknowledged"


def test_resolution_tells_everyone_who_heard_of_the_incident_once() -> None:
    paged = step(State(), timedelta(minutes=5)).state
    resolved = step(paged, timedelta(minutes=7), resolved=True)
    assert [(s.kind, s.notifiers) for s in resolved.sends] == [(Kind.RESOLVED, ("pd-primary", "team-slack"))]
    assert resolved.state.state == "Resolved" and resolved.wake_at is None
    assert step(resolved.state, timedelta(minutes=8), resolved=True).sends == ()


def test_a_mitigated_incident_waits_for_its_alert_without_paging() -> None:
    p = step(State(), timedelta(minutes=20), mitigated=True)
    assert pages(p) == [] and p.state.state == "Waiting"


def test_a_chat_only_level_notifies_without_paging() -> None:
    policy = {"levels": [{"ackTimeout": "5m", "notifiers": ["team-slack"], "page": False}]}
    p = step(State(), timedelta(minutes=1), policy, gave_up="StepFailed")
    (send,) = [s for s in p.sends if s.kind == Kind.PAGE]
    assert send.page is False and "notified" in send.message


def test_actions_and_approvals_reach_the_informed_channels_once_per_state() -> None:
    actions = (("u1.restart", "Applied"),)
    first = step(State(), timedelta(seconds=5), actions=actions)
    second = step(
        first.state, timedelta(seconds=6), actions=(("u1.restart", "Succeeded"), ("u1.scale", "AwaitingApproval"))
    )
    assert [s.key for s in first.sends] == ["opened", "action/u1.restart/Applied"]
    assert [s.key for s in second.sends] == ["action/u1.restart/Succeeded", "approval/u1.scale"]


def test_state_survives_the_round_trip_through_status() -> None:
    state = step(State(), timedelta(minutes=5)).state
    assert State.from_status(state.to_status()) == state


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"levels": []}, "spec.levels"),
        (
            {"levels": [{"ackTimeout": "5 minutes", "notifiers": ["a"]}]},
            "spec.levels[0].ackTimeout: '5 minutes' is not a duration; write 5m",
        ),
        ({"levels": [{"ackTimeout": "5m"}]}, "at least one of notifiers, users or schedules"),
        ({"levels": [{"ackTimeout": "5m", "notifiers": ["Bad_Name"]}]}, "Bad_Name"),
        ({"levels": [{"ackTimeout": "5m", "notifiers": ["a"]}], "repeat": 99}, "spec.repeat"),
        ({"levels": [{"ackTimeout": "5m", "notifiers": ["a"]}], "pageImmediatelyFor": ["urgent"]}, "urgent"),
        (
            {"levels": [{"ackTimeout": "5m", "notifiers": ["a", "a"]}]},
            "spec.levels[0].notifiers: duplicate value 'a'",
        ),
        ({"levels": [{"ackTimeout": "5m", "users": [""]}]}, "spec.levels[0].users[0]: '' must be at least 1"),
        (
            {"levels": [{"ackTimeout": "5m", "notifiers": ["a"]}], "severityRules": [{"severities": ["critical"]}]},
            "spec.severityRules[0]: a severity rule must name at least one of notifiers, users or schedules",
        ),
        (
            {"levels": [{"ackTimeout": "5m", "notifiers": ["a"]}], "acknowledgementTimeout": "0s"},
            "spec.acknowledgementTimeout: '0s' must be longer than 0s",
        ),
        (
            {"levels": [{"ackTimeout": "5m", "notifiers": ["a"]}], "automation_grace": "1m"},
            "automation_grace: unknown field (the CRD calls it automationGrace)",
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field_and_value(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEscalationPolicy) as refused:
        parse_policy(spec)
    assert message in str(refused.value)


def test_facts_read_acknowledgements_from_the_incident() -> None:
    incident = {
        "metadata": {
            "uid": "u1",
            "creationTimestamp": "2026-11-30T03:00:00Z",
            "annotations": {
                escalation.ACKNOWLEDGE: "2026-11-30T03:04:00Z",
                escalation.ACKNOWLEDGED_BY: "system:serviceaccount:onduty-system:onduty",
                escalation.ACKNOWLEDGED_FOR: "alice@example.com",
                escalation.ACKNOWLEDGED_VIA: "slack",
            },
        },
        "spec": {"severity": "critical"},
        "status": {"conditions": [{"type": "EscalationRequired", "status": "True", "reason": "StepFailed"}]},
    }
    f = escalation.facts_from_incident(incident)
    assert f.acknowledged == Ack("alice@example.com", "slack", "2026-11-30T03:04:00Z")
    assert f.gave_up == "StepFailed" and f.opened_at == T0
    incident["metadata"]["annotations"][escalation.ACKNOWLEDGE] = "false"
    assert escalation.facts_from_incident(incident).acknowledged is None


def test_the_record_of_notices_stays_bounded_without_forgetting_what_could_recur() -> None:
    steady = ["opened", "page/0/0", "page/1/0", "action/u1.fix/Succeeded"]
    churn = [f"ack/2026-11-30T03:{i // 60:02d}:{i % 60:02d}Z" for i in range(700)]
    churn += [f"page/0/0/{i}" for i in range(10)] + ["ack-expired/abc", "ack-expired/def"]
    kept = escalation.bounded(steady + churn)
    assert len(kept) == escalation.NOTIFIED_LIMIT
    assert set(steady) <= set(kept) and "ack-expired/def" in kept  # the current expired ack is remembered
    assert churn[0] not in kept and churn[699] in kept  # the oldest one-off keys went first


@pytest.mark.parametrize(
    ("status", "settled"),
    [
        ({"phase": "Resolved"}, True),  # never escalated (no policy, or resolved long ago)
        ({"phase": "Resolved", "escalation": {"state": "Resolved"}, "notifications": [{"state": "Delivered"}]}, True),
        ({"phase": "Resolved", "escalation": {"state": "Escalating"}}, False),  # resolved while onduty was down
        ({"phase": "Resolved", "escalation": {"state": "Resolved"}, "notifications": [{"state": "Sending"}]}, False),
        ({"phase": "Escalated"}, False),
    ],
)
def test_only_incidents_with_nothing_left_to_do_are_skipped_after_a_restart(
    status: dict[str, Any], settled: bool
) -> None:
    from onduty.handlers import escalation as handlers

    assert handlers.settled({"status": status}) is settled
