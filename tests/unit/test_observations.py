"""What two consecutive views of an incident mean for onduty's metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from onduty.domain import observations
from onduty.domain.observations import ActionFinished, Duration, Verdict
from onduty.services.metrics import OperatorMetrics


def incident(phase: str = "Remediating", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "inc", "namespace": "shop"},
        "spec": {"severity": "critical"},
        "status": {
            "phase": phase,
            "openedAt": "2026-11-30T10:00:30Z",
            "alerts": [{"name": "a", "state": "firing", "startsAt": "2026-11-30T10:00:00Z"}],
            **status,
        },
    }


ALLOWED = {"guardrail": "Pause", "allowed": True, "reason": "NotPaused", "message": "no pause"}
DENIED = {"guardrail": "ChangeFreeze", "allowed": False, "reason": "InsideChangeFreeze", "message": "until 12:00"}


def test_a_first_view_counts_nothing_so_a_restart_never_counts_twice() -> None:
    resolved = incident("Resolved", resolvedAt="2026-11-30T10:10:00Z", acknowledgedAt="2026-11-30T10:01:00Z")
    assert observations.changes(None, resolved) == []


def test_acknowledgement_mitigation_and_resolution_are_timed_once() -> None:
    before = observations.view(incident())
    mitigated = incident(
        "Mitigated",
        acknowledgedAt="2026-11-30T10:01:30Z",
        timeline=[{"time": "2026-11-30T10:03:00Z", "reason": "IncidentMitigated", "message": "ok"}],
    )
    assert observations.changes(before, mitigated) == [
        Duration("acknowledge", "critical", 60.0),
        Duration("mitigate", "critical", 180.0),
    ]
    resolved = {
        **mitigated,
        "status": {**mitigated["status"], "phase": "Resolved", "resolvedAt": "2026-11-30T10:10:00Z"},
    }
    assert observations.changes(observations.view(mitigated), resolved) == [Duration("resolve", "critical", 600.0)]
    assert observations.changes(observations.view(resolved), resolved) == []


def test_an_action_finishing_and_a_new_judgement_are_counted_once_each() -> None:
    pending = incident(actions=[{"id": "u.fix", "action": "scale", "state": "Pending", "verdicts": [ALLOWED]}])
    denied = incident(actions=[{"id": "u.fix", "action": "scale", "state": "Denied", "verdicts": [ALLOWED, DENIED]}])
    first = observations.changes(observations.view(incident()), pending)
    second = observations.changes(observations.view(pending), denied)
    again = observations.changes(observations.view(denied), denied)
    assert first == [Verdict("Pause", "NotPaused", True)]
    assert second == [
        Verdict("Pause", "NotPaused", True),
        Verdict("ChangeFreeze", "InsideChangeFreeze", False),
        ActionFinished("scale", "Denied"),
    ]
    assert again == []


def test_the_incidents_gauge_counts_what_exists_by_phase_and_severity() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    metrics.incident_event(None, incident("Resolved"))
    metrics.incident_event(None, {**incident(), "metadata": {"name": "other", "namespace": "shop"}})
    value = registry.get_sample_value
    assert value("onduty_incidents", {"phase": "Resolved", "severity": "critical"}) == 1
    assert value("onduty_incidents", {"phase": "Remediating", "severity": "critical"}) == 1
    metrics.incident_event("DELETED", incident("Resolved"))
    assert value("onduty_incidents", {"phase": "Resolved", "severity": "critical"}) is None


def test_actions_in_progress_are_counted_with_the_oldest_start() -> None:
    registry = CollectorRegistry()
    metrics = OperatorMetrics(registry)
    running = incident(
        actions=[
            {"id": "u.a", "action": "scale", "state": "Applied", "startedAt": "2026-11-30T10:01:00Z"},
            {"id": "u.b", "action": "scale", "state": "Pending", "createdAt": "2026-11-30T10:02:00Z"},
            {"id": "u.c", "action": "scale", "state": "Succeeded", "startedAt": "2026-11-30T09:00:00Z"},
            {"id": "u.d", "action": "rolloutUndo", "state": "AwaitingApproval", "createdAt": "2026-11-30T09:00:00Z"},
        ]
    )
    metrics.incident_event(None, running)
    value = registry.get_sample_value
    assert value("onduty_actions_in_progress", {"action": "scale"}) == 2
    assert value("onduty_action_in_progress_oldest_start_timestamp_seconds", {"action": "scale"}) == 1796032860.0
    assert value("onduty_actions_in_progress", {"action": "rolloutUndo"}) is None
