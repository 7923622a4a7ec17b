"""A responder's controls as pure edits of an incident's status.

Resolve by hand, retry a step, run a dry run for real (onduty.domain.controls).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from onduty.domain import controls, incidents, timeline
from onduty.domain.steps import StepFacts, decide

NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def action(state: str, **more: Any) -> dict[str, Any]:
    return {
        "id": "uid.fix",
        "step": "fix",
        "action": "rolloutRestart",
        "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
        "state": state,
        "createdAt": "2026-11-30T21:00:00Z",
        "reason": "NotAllowed",
        "message": "denied",
        "finishedAt": "2026-11-30T21:01:00Z",
        "verdicts": [{"guardrail": "Policy", "allowed": False, "reason": "NotAllowed", "message": "denied"}],
        **more,
    }


def escalated(*actions: dict[str, Any], firing: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Open", "openedAt": "2026-11-30T21:00:00Z", "firingAlerts": firing}
    status["actions"] = list(actions)
    incidents.escalate(status, now=NOW, reason="NoRemediationApplied", message="a human must respond")
    return status


def test_resolving_by_hand_records_who_and_why_and_closes_what_waits() -> None:
    status = escalated(action("AwaitingApproval", finishedAt=None))

    entries = controls.resolve_by_hand(status, now=NOW, reason="failed over by hand", by="alice")

    assert status["phase"] == "Resolved"
    assert (status["resolvedBy"], status["resolution"]) == ("alice", "failed over by hand")
    assert status["actions"][0]["state"] == "Denied" and status["actions"][0]["reason"] == "IncidentResolved"
    assert [e.reason for e in entries] == ["RemediationClosed", "IncidentResolved"]
    assert entries[-1].message == "resolved by alice: failed over by hand"
    assert timeline.condition_is(status, incidents.COND_RESOLVED, True)
    assert controls.already_resolved(status) == "already resolved at 2026-11-30T22:00:00Z by alice"
    assert controls.resolve_by_hand(status, now=NOW, reason="again", by="bob") == []
    assert status["resolvedBy"] == "alice"


def test_resolving_while_an_alert_fires_says_so_as_a_warning() -> None:
    status = escalated(firing=2)

    entries = controls.resolve_by_hand(status, now=NOW, reason="known noise", by="alice")

    assert [(e.reason, e.type) for e in entries] == [("ResolvedWhileFiring", "Warning"), ("IncidentResolved", "Normal")]
    assert "while 2 of its alert(s) still fire" in entries[0].message


def test_a_retry_reopens_a_denied_step_lifts_the_escalation_and_counts() -> None:
    status = escalated(action("Denied", approval={"approved": False, "decidedBy": "bob"}))

    entries = controls.retry_step(status, "fix", now=NOW, by="alice")

    [record] = status["actions"]
    assert record["state"] == "Pending"
    assert (record["retries"], record["retriedBy"]) == (1, "alice")
    assert not {"reason", "verdicts", "finishedAt", "approval", "startedAt"} & set(record)
    assert status["phase"] == "Remediating"
    assert timeline.condition_is(status, incidents.COND_ESCALATION, False)
    assert [e.reason for e in entries] == ["StepRetried"]
    assert "alice asked to retry step fix" in entries[0].message and "retry 1 of 3" in entries[0].message
    assert record["state"] not in incidents.TERMINAL  # the worker's next_step finds it again


@pytest.mark.parametrize(
    ("status", "why_not"),
    [
        pytest.param(escalated(action("Succeeded", reason="Verified")), "step fix succeeded", id="succeeded"),
        pytest.param(escalated(action("Pending", reason="")), "step fix has not finished: it is Pending", id="running"),
        pytest.param(escalated(), "has no step fix that ran (steps with a record: none)", id="unknown"),
        pytest.param(
            escalated(action("Denied", retries=3)), "step fix was retried 3 times already, the most", id="limit"
        ),
        pytest.param(
            {**escalated(action("Denied")), "phase": "Resolved", "resolvedAt": "2026-11-30T21:30:00Z"},
            "is resolved (at 2026-11-30T21:30:00Z)",
            id="resolved",
        ),
    ],
)
def test_a_retry_that_cannot_apply_is_refused_with_the_reason(status: dict[str, Any], why_not: str) -> None:
    assert controls.why_not_retry(status, "fix").startswith(why_not)
    with pytest.raises(controls.ControlRefused, match=why_not.split("(")[0].strip()):
        controls.retry_step(status, "fix", now=NOW, by="alice")


def test_a_retried_attempt_acts_under_its_own_id() -> None:
    assert controls.attempt_id("uid.fix", None) == "uid.fix"
    assert controls.attempt_id("uid.fix", {"retries": 0}) == "uid.fix"
    assert controls.attempt_id("uid.fix", {"retries": 2}) == "uid.fix.retry-2"


def test_a_dry_run_run_for_real_is_approved_and_keeps_its_basis() -> None:
    dry = action("DryRun", reason="DryRun", diff="spec.replicas: 2 -> 3", targetGeneration=4, targetResourceVersion="9")
    status = escalated(dry)

    entries = controls.run_for_real(status, "fix", now=NOW, by="bob")

    [record] = status["actions"]
    assert record["state"] == "Pending" and record["diff"] == "spec.replicas: 2 -> 3"
    assert record["approval"]["approved"] is True and record["approval"]["decidedBy"] == "bob"
    assert record["forReal"]["requestedBy"] == "bob"
    assert controls.for_real(record) == controls.ForReal(4, "9")
    assert [e.reason for e in entries] == ["DryRunApproved"]
    assert controls.why_not_for_real(escalated(action("Denied")), "fix").startswith("step fix did not run as a dry run")


def workload(generation: int, resource_version: str) -> dict[str, Any]:
    return {"metadata": {"generation": generation, "resourceVersion": resource_version}}


@pytest.mark.parametrize(
    ("current", "allowed", "reason"),
    [
        pytest.param(workload(4, "12"), True, "TargetUnchanged", id="only-status-moved"),
        pytest.param(workload(5, "13"), False, "TargetChangedSinceDryRun", id="spec-changed"),
        pytest.param(None, False, "TargetChangedSinceDryRun", id="gone"),
    ],
)
def test_a_dry_run_runs_for_real_only_on_the_target_it_was_judged_on(
    current: dict[str, Any] | None, allowed: bool, reason: str
) -> None:
    verdict = controls.check_unchanged(controls.ForReal(4, "9"), "Deployment/web", current)

    assert (verdict.allowed, verdict.reason) == (allowed, reason)
    if not allowed:
        assert "Deployment/web changed since its dry run (" in verdict.message


def test_a_node_without_a_generation_must_not_have_changed_at_all() -> None:
    node = {"metadata": {"resourceVersion": "10"}}
    assert controls.check_unchanged(controls.ForReal(None, "10"), "Node/n1", node).allowed
    assert not controls.check_unchanged(controls.ForReal(None, "9"), "Node/n1", node).allowed


def test_running_for_real_turns_the_policys_dry_run_off_and_adds_the_verdict() -> None:
    facts = StepFacts(action="rolloutRestart", target="Deployment/web", target_found=True, now=NOW, cooldown=NOW - NOW)
    changed = StepFacts(**{**facts.__dict__, "for_real": controls.ForReal(4, "9"), "target_object": workload(5, "1")})

    verdicts, decision = decide(changed)

    assert not decision.dry_run
    assert [v.reason for v in verdicts if v.guardrail == "DryRun"] == ["TargetChangedSinceDryRun"]
    assert all(v.guardrail != "DryRun" for v in decide(facts)[0])


def test_requests_are_read_from_the_annotations_with_who_asked() -> None:
    incident = {
        "metadata": {
            "annotations": {
                "onduty.dev/retry": "fix",
                "onduty.dev/retried-by": "alice",
                "onduty.dev/resolve": "done",
                "onduty.dev/resolved-by": "bob",
            }
        }
    }
    assert controls.retry_request(incident) == controls.Request("fix", "alice")
    assert controls.resolve_request(incident) == controls.Request("done", "bob")
    assert controls.for_real_request(incident) is None
    assert controls.pending(incident)
    assert not controls.pending({"metadata": {}})
