"""An incident's lifecycle: opening, alerts joining and resolving, triage and its outcome."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import incidents
from onduty.domain.runbooks import RunbookRef, parse_runbook
from onduty.domain.workloads import Workload

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
WEB = Workload("Deployment", "web", "shop")
TWO_STEPS = RunbookRef(
    "shop",
    "restart-web",
    parse_runbook(
        {
            "match": {"alertnames": ["KubePodCrashLooping"]},
            "remediation": {
                "steps": [
                    {"name": "restart-web", "action": "rolloutRestart"},
                    {
                        "name": "restart-cache",
                        "action": "rolloutRestart",
                        "target": {"kind": "Deployment", "name": "c"},
                    },
                ]
            },
        }
    ),
)
MATCH_ONLY = RunbookRef("onduty-system", "notify", parse_runbook({"match": {"alertnames": ["KubePodCrashLooping"]}}))


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _opened() -> dict[str, Any]:
    status: dict[str, Any] = {}
    incidents.open_incident(status, now=T0, title="Pod is crash looping.", workload=WEB)
    return status


def _alert(status: dict[str, Any], name: str, state: str, minute: int = 1) -> list[Any]:
    return incidents.record_alert(
        status,
        name=name,
        state=state,
        alertname="KubePodCrashLooping",
        starts_at="2024-05-01T11:58:30Z",
        now=at(minute),
    )


def _reasons(status: dict[str, Any]) -> list[str]:
    return [entry["reason"] for entry in status.get("timeline", [])]


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


# --- opening -------------------------------------------------------------------------------


def test_opening_an_incident_initialises_its_status() -> None:
    status: dict[str, Any] = {}

    entries = incidents.open_incident(status, now=T0, title="Pod is crash looping.", workload=WEB)

    assert [(e.reason, e.message) for e in entries] == [
        ("IncidentOpened", "incident opened: Pod is crash looping. on Deployment/web")
    ]
    assert status["phase"] == "Open"
    assert status["openedAt"] == "2024-05-01T12:00:00Z"
    assert (status["alerts"], status["firingAlerts"], status["actions"]) == ([], 0, [])
    assert _reasons(status) == ["IncidentOpened"]
    resolved = _condition(status, incidents.COND_RESOLVED)
    assert (resolved["status"], resolved["reason"]) == ("False", "AlertsFiring")


def test_an_incident_without_a_workload_says_nothing_about_one() -> None:
    status: dict[str, Any] = {}

    entries = incidents.open_incident(status, now=T0, title="Target down", workload=None)

    assert entries[0].message == "incident opened: Target down"


def test_opening_an_open_incident_again_changes_nothing() -> None:
    status = _opened()
    _alert(status, "a", "firing")
    before = copy.deepcopy(status)

    entries = incidents.open_incident(status, now=at(30), title="Other title", workload=None)

    assert entries == []
    assert status == before


def test_a_status_without_a_phase_reads_as_open() -> None:
    assert incidents.phase({}) == "Open"
    assert not incidents.is_resolved({})


# --- alerts joining and resolving ----------------------------------------------------------


@pytest.mark.parametrize(
    ("deliveries", "firing", "phase"),
    [
        pytest.param([("a", "firing")], 1, "Open", id="one-firing"),
        pytest.param([("a", "firing"), ("a", "firing")], 1, "Open", id="duplicate-delivery"),
        pytest.param([("a", "firing"), ("b", "firing")], 2, "Open", id="two-firing"),
        pytest.param([("a", "firing"), ("a", "resolved")], 0, "Resolved", id="only-alert-resolves"),
        pytest.param([("a", "firing"), ("b", "firing"), ("a", "resolved")], 1, "Open", id="one-of-two-resolves"),
        pytest.param(
            [("a", "firing"), ("b", "firing"), ("a", "resolved"), ("b", "resolved")], 0, "Resolved", id="both-resolve"
        ),
        pytest.param([("a", "firing"), ("b", "resolved")], 1, "Open", id="joins-already-resolved"),
    ],
)
def test_the_incident_resolves_when_all_its_alerts_resolved_and_not_before(
    deliveries: list[tuple[str, str]], firing: int, phase: str
) -> None:
    status = _opened()

    for minute, (name, state) in enumerate(deliveries, start=1):
        _alert(status, name, state, minute)

    assert status["firingAlerts"] == firing
    assert incidents.phase(status) == phase
    assert incidents.is_resolved(status) is (phase == "Resolved")


def test_an_alert_joining_is_recorded_with_its_identity() -> None:
    status = _opened()

    entries = _alert(status, "kubepodcrashlooping-3b0d1a4c6f2e9d87-1714564710", "firing")

    assert status["alerts"] == [
        {
            "name": "kubepodcrashlooping-3b0d1a4c6f2e9d87-1714564710",
            "alertname": "KubePodCrashLooping",
            "state": "firing",
            "startsAt": "2024-05-01T11:58:30Z",
        }
    ]
    assert [e.reason for e in entries] == ["AlertJoined"]
    assert "kubepodcrashlooping-3b0d1a4c6f2e9d87-1714564710 (KubePodCrashLooping, firing)" in entries[0].message


def test_a_duplicate_delivery_adds_nothing_to_the_timeline() -> None:
    status = _opened()
    _alert(status, "a", "firing")
    before = copy.deepcopy(status)

    entries = _alert(status, "a", "firing", minute=2)

    assert entries == []
    assert status == before


def test_the_last_alert_resolving_resolves_the_incident_with_a_record() -> None:
    status = _opened()
    _alert(status, "a", "firing", 1)
    _alert(status, "b", "firing", 2)
    _alert(status, "a", "resolved", 3)

    entries = _alert(status, "b", "resolved", 4)

    assert [e.reason for e in entries] == ["AlertResolved", "IncidentResolved"]
    assert entries[1].message == "all 2 alert(s) of the incident resolved"
    assert status["resolvedAt"] == "2024-05-01T12:04:00Z"
    resolved = _condition(status, incidents.COND_RESOLVED)
    assert (resolved["status"], resolved["reason"], resolved["lastTransitionTime"]) == (
        "True",
        "AlertsResolved",
        "2024-05-01T12:04:00Z",
    )
    assert _reasons(status) == [
        "IncidentOpened",
        "AlertJoined",
        "AlertJoined",
        "AlertResolved",
        "AlertResolved",
        "IncidentResolved",
    ]


def test_a_resolved_incident_is_resolved_only_once() -> None:
    status = _opened()
    _alert(status, "a", "firing", 1)
    _alert(status, "a", "resolved", 2)

    again = incidents.resolve(status, now=at(5), reason="Manual", message="closed by hand")
    late = _alert(status, "b", "resolved", 6)

    assert again == []
    assert [e.reason for e in late] == ["AlertJoined"]
    assert _reasons(status).count("IncidentResolved") == 1
    assert status["resolvedAt"] == "2024-05-01T12:02:00Z"


# --- triage --------------------------------------------------------------------------------


def test_without_a_runbook_a_human_is_called() -> None:
    status = _opened()
    _alert(status, "a", "firing")

    entries = incidents.record_runbook(status, None, now=at(2))

    assert [(e.reason, e.type) for e in entries] == [("EscalationRequired", "Warning")]
    assert status["runbook"] == {}
    assert status["phase"] == "Escalated"
    matched = _condition(status, incidents.COND_RUNBOOK)
    assert (matched["status"], matched["reason"]) == ("False", "NoRunbookMatched")
    escalation = _condition(status, incidents.COND_ESCALATION)
    assert (escalation["status"], escalation["reason"]) == ("True", "NoRunbookMatched")
    assert _reasons(status)[-1] == "EscalationRequired"


@pytest.mark.parametrize(
    ("runbook", "phase", "message"),
    [
        pytest.param(TWO_STEPS, "Remediating", "runbook shop/restart-web matched (2 remediation step(s))", id="steps"),
        pytest.param(MATCH_ONLY, "Open", "runbook onduty-system/notify matched (0 remediation step(s))", id="none"),
    ],
)
def test_a_matched_runbook_is_recorded_and_remediation_begins_if_it_has_steps(
    runbook: RunbookRef, phase: str, message: str
) -> None:
    status = _opened()

    entries = incidents.record_runbook(status, runbook, now=at(2))

    assert [(e.reason, e.message) for e in entries] == [("RunbookMatched", message)]
    assert status["runbook"] == {"namespace": runbook.namespace, "name": runbook.name}
    assert status["phase"] == phase
    matched = _condition(status, incidents.COND_RUNBOOK)
    assert (matched["status"], matched["message"]) == ("True", message)
    assert not any(c["type"] == incidents.COND_ESCALATION for c in status["conditions"])


def test_escalation_happens_once() -> None:
    status = _opened()
    first = incidents.escalate(status, now=at(1), reason="RunbookGone", message="runbook deleted")

    second = incidents.escalate(status, now=at(2), reason="Other", message="again")

    assert [e.reason for e in first] == ["EscalationRequired"]
    assert second == []
    assert _reasons(status).count("EscalationRequired") == 1
    assert _condition(status, incidents.COND_ESCALATION)["reason"] == "RunbookGone"


def test_escalating_a_resolved_incident_keeps_it_resolved() -> None:
    status = _opened()
    _alert(status, "a", "firing", 1)
    _alert(status, "a", "resolved", 2)

    incidents.escalate(status, now=at(3), reason="RunbookGone", message="runbook deleted")

    assert status["phase"] == "Resolved"
    assert incidents.is_resolved(status)
