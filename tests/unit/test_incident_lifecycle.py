"""An incident's lifecycle: opening, alerts joining and resolving (however many), triage and its outcome."""

from __future__ import annotations

import copy
import json
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


def test_opening_keeps_alerts_recorded_before_it_so_one_resolving_does_not_resolve_the_incident() -> None:
    # An operator killed between creating the incident and opening it: its alerts were recorded first.
    status: dict[str, Any] = {}
    _alert(status, "a", "firing")
    _alert(status, "b", "firing")

    incidents.open_incident(status, now=at(2), title="Pod is crash looping.", workload=WEB)
    _alert(status, "a", "resolved", minute=3)

    assert (status["firingAlerts"], status["totalAlerts"]) == (1, 2)
    assert incidents.phase(status) == "Open"


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
    assert late == []  # an alert the incident never counted firing: nothing to record
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


# --- many alerts: a bounded status with exact counts ----------------------------------------------


def _many(status: dict[str, Any], names: list[str], state: str, minute: int = 1) -> list[Any]:
    entries: list[Any] = []
    for name in names:
        entries += _alert(status, name, state, minute)
    return entries


def _listed(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["name"], a["state"]) for a in status["alerts"]]


def _counts(status: dict[str, Any]) -> tuple[int, int, int, int]:
    return status["firingAlerts"], status["resolvedAlerts"], status["totalAlerts"], status["alertsDropped"]


def test_six_hundred_alerts_fit_the_bound_and_every_one_is_counted() -> None:
    status = _opened()
    names = [f"a-{i}" for i in range(600)]

    entries = _many(status, names, "firing")

    limit = incidents.ALERT_ENTRIES_LIMIT
    assert _counts(status) == (600, 0, 600, 600 - limit)
    assert _listed(status) == [(name, "firing") for name in names[-limit:]]  # the newest
    assert len(status["unlistedFiringAlerts"]) == 600 - limit
    # One entry per alert while a reader can follow them, then one saying the rest are only counted.
    assert [e.reason for e in entries] == ["AlertJoined"] * incidents.ALERT_TIMELINE_LIMIT + ["ManyAlerts"]
    assert len(status["timeline"]) == 1 + incidents.ALERT_TIMELINE_LIMIT + 1  # opened, joined, many
    assert status["phase"] == "Open"


def test_the_incident_resolves_with_its_last_alert_whether_listed_or_not() -> None:
    status = _opened()
    names = [f"a-{i}" for i in range(600)]
    _many(status, names, "firing")

    _many(status, names[:-1], "resolved", minute=2)  # the oldest first: most of them were not listed
    assert _counts(status)[:3] == (1, 599, 600)
    assert status["phase"] == "Open"
    assert "unlistedFiringAlerts" not in status

    entries = _alert(status, names[-1], "resolved", 3)

    assert _counts(status)[:3] == (0, 600, 600)
    assert [e.reason for e in entries] == ["IncidentResolved"]
    assert entries[0].message == "all 600 alert(s) of the incident resolved"
    assert len(status["alerts"]) <= incidents.ALERT_ENTRIES_LIMIT


def test_firing_alerts_are_listed_before_resolved_ones() -> None:
    status = _opened()
    first = [f"a-{i}" for i in range(100)]
    later = [f"b-{i}" for i in range(50)]
    _many(status, first, "firing")
    _many(status, first[:50], "resolved", minute=2)
    assert sum(1 for _, state in _listed(status) if state == "resolved") == 50

    _many(status, later, "firing", minute=3)

    assert _listed(status) == [(name, "firing") for name in first[50:] + later]
    assert _counts(status) == (100, 50, 150, 50)


def test_every_alert_recorded_again_changes_nothing() -> None:
    # What an operator restart does: Kopf resumes every Alert and records it again.
    status = _opened()
    names = [f"a-{i}" for i in range(300)]
    _many(status, names, "firing")
    _many(status, names[::3], "resolved", minute=2)
    before = copy.deepcopy(status)

    replayed = [_alert(status, name, "resolved" if i % 3 == 0 else "firing", 4) for i, name in enumerate(names)]

    assert all(entries == [] for entries in replayed)
    assert status == before


def test_the_status_stays_small_however_many_alerts_fire() -> None:
    status = _opened()

    _many(status, [f"kubepodcrashlooping-3b0d1a4c6f2e9d87-{i}" for i in range(3000)], "firing")

    assert len(json.dumps(status)) < 100_000  # etcd's limit is 1.5 MiB; the CRD allows 500 entries
    assert len(status["alerts"]) == incidents.ALERT_ENTRIES_LIMIT
    assert status["firingAlerts"] == 3000


def test_an_incident_recorded_before_the_bound_is_bounded_and_keeps_its_counts() -> None:
    status = _opened()
    status["alerts"] = [
        {"name": f"a-{i}", "alertname": "X", "state": "resolved" if i < 200 else "firing", "startsAt": ""}
        for i in range(500)
    ]
    status["firingAlerts"] = 300

    _alert(status, "a-499", "resolved")

    assert _counts(status) == (299, 201, 500, 400)
    assert _listed(status) == [(f"a-{i}", "firing") for i in range(399, 499)]  # firing first, the newest
    assert len(status["unlistedFiringAlerts"]) == 299 - 100


def test_more_firing_alerts_than_it_can_remember_stop_it_resolving_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incidents, "UNLISTED_FIRING_LIMIT", 3)
    status = _opened()
    names = [f"a-{i}" for i in range(incidents.ALERT_ENTRIES_LIMIT + 5)]

    entries = _many(status, names, "firing")
    _many(status, names, "resolved", minute=2)

    assert status["alertsUntracked"] is True
    assert [e.reason for e in entries].count("AlertsUntracked") == 1
    assert next(e for e in entries if e.reason == "AlertsUntracked").type == "Warning"
    assert status["phase"] == "Open"  # never resolved while alerts it lost track of may fire


# --- Alertmanager cutting alerts of the group ------------------------------------------------------


def test_alerts_alertmanager_left_out_are_recorded_at_their_largest() -> None:
    status = _opened()

    first = incidents.record_truncation(status, 5, now=at(1))
    smaller = incidents.record_truncation(status, 3, now=at(2))
    none = incidents.record_truncation(status, 0, now=at(3))
    larger = incidents.record_truncation(status, 8, now=at(4))

    assert [(e.reason, e.type) for e in first] == [("AlertsTruncated", "Warning")]
    assert "left 5 alert(s) of this group out" in first[0].message
    assert smaller == none == []
    assert [e.reason for e in larger] == ["AlertsTruncated"]
    assert status["truncatedAlerts"] == 8
    assert _reasons(status).count("AlertsTruncated") == 2
