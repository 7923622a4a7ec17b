"""The post-mortem draft: deterministic Markdown with the sections the well-known templates have."""

from __future__ import annotations

import copy
from typing import Any

from onduty.domain import postmortem


def incident(**status: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {
            "name": "kubepodcrashlooping-1",
            "namespace": "shop",
            "uid": "11111111-2222-3333-4444-555555555555",
        },
        "spec": {
            "title": "KubePodCrashLooping on web",
            "severity": "critical",
            "source": "alertmanager",
            "workload": {"kind": "Deployment", "name": "web"},
        },
        "status": {
            "phase": "Resolved",
            "openedAt": "2026-11-30T10:00:30Z",
            "acknowledgedAt": "2026-11-30T10:02:00Z",
            "resolvedAt": "2026-11-30T10:10:00Z",
            "totalAlerts": 2,
            "firingAlerts": 0,
            "resolvedAlerts": 2,
            "truncatedAlerts": 3,
            "runbook": {"name": "restart-on-crashloop", "namespace": "shop"},
            "lastAction": "rolloutRestart Succeeded",
            "alerts": [
                {
                    "name": "a-1",
                    "alertname": "KubePodCrashLooping",
                    "state": "resolved",
                    "startsAt": "2026-11-30T10:00:05Z",
                },
                {
                    "name": "a-2",
                    "alertname": "KubePodCrashLooping",
                    "state": "resolved",
                    "startsAt": "2026-11-30T10:00:00Z",
                },
            ],
            "timeline": [
                {"time": "2026-11-30T10:00:30Z", "type": "Normal", "reason": "IncidentOpened", "message": "opened"},
                {"time": "2026-11-30T10:00:30Z", "type": "Normal", "reason": "RunbookMatched", "message": "matched"},
                {
                    "time": "2026-11-30T10:03:00Z",
                    "type": "Normal",
                    "reason": "IncidentMitigated",
                    "message": "verified",
                },
                {
                    "time": "2026-11-30T10:10:00Z",
                    "type": "Normal",
                    "reason": "IncidentResolved",
                    "message": "all resolved",
                },
            ],
            "notifications": [
                {
                    "key": "page-0",
                    "notifier": "pager",
                    "type": "pagerduty",
                    "kind": "page",
                    "state": "Delivered",
                    "recordedAt": "2026-11-30T10:00:30Z",
                    "responders": ["alice"],
                    "level": 0,
                },
            ],
            "escalation": {"acknowledgedBy": "alice", "acknowledgedVia": "pagerduty"},
            "actions": [
                {
                    "id": "u.restart",
                    "step": "restart",
                    "action": "rolloutRestart",
                    "state": "Succeeded",
                    "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
                    "createdAt": "2026-11-30T10:00:31Z",
                    "appliedAt": "2026-11-30T10:00:31Z",
                    "finishedAt": "2026-11-30T10:03:00Z",
                    "message": "all 2 replicas updated",
                    "approval": {"decidedBy": "bob", "decidedAt": "2026-11-30T10:00:50Z", "approved": True},
                    "verdicts": [{"guardrail": "Pause", "allowed": True, "reason": "NotPaused", "message": "a | b"}],
                },
                {
                    "id": "u.scale",
                    "step": "scale",
                    "action": "scale",
                    "state": "Denied",
                    "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
                    "verdicts": [
                        {
                            "guardrail": "ChangeFreeze",
                            "allowed": False,
                            "reason": "InsideChangeFreeze",
                            "message": "black friday",
                        }
                    ],
                },
                {
                    "id": "u.undo",
                    "step": "undo",
                    "action": "rolloutUndo",
                    "state": "DryRun",
                    "target": {"kind": "Deployment", "name": "web", "namespace": "shop"},
                    "diff": "-image: web:2\n+image: web:1\n",
                },
            ],
        },
    }
    base["status"].update(status)
    return base


def test_the_same_incident_renders_the_same_bytes() -> None:
    first = postmortem.render(incident())
    assert postmortem.render(copy.deepcopy(incident())) == first
    assert first.endswith("\n") and not first.endswith("\n\n")


def test_the_sections_of_the_templates_come_in_order() -> None:
    text = postmortem.render(incident())
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Summary",
        "## Impact",
        "## Key times",
        "## Timeline",
        "## Diagnostics",
        "## What automation did",
        "## What automation was not allowed to do, and why",
        "## Responders",
        "## Root cause",
        "## Trigger",
        "## Lessons learned",
        "## Action items",
    ]
    for lesson in ("### What went well", "### What went wrong", "### Where we got lucky"):
        assert lesson in text


def test_key_times_count_from_the_earliest_alert_start_and_are_defined() -> None:
    text = postmortem.render(incident())
    assert "| Impact started (first alert's startsAt) | 2026-11-30T10:00:00Z | — |" in text
    assert "| Detected (incident opened) | 2026-11-30T10:00:30Z | time to detect 30s |" in text
    assert "| Acknowledged | 2026-11-30T10:02:00Z | time to acknowledge 1m30s |" in text
    assert "| Mitigated | 2026-11-30T10:03:00Z | time to mitigate 3m |" in text
    assert "| Resolved | 2026-11-30T10:10:00Z | time to resolve 10m |" in text
    assert "**Time to detect**: from the first alert's start" in text
    assert "lags the alerting rule's `for:`" in text


def test_impact_names_severity_workloads_duration_and_truncated_alerts() -> None:
    text = postmortem.render(incident())
    assert "- **Duration**: 10m (from the first alert's start to resolution)" in text
    assert "- **Alerts**: 2 in all, 0 firing, 2 resolved" in text
    assert "left up to 3 alert(s) of this group out" in text
    assert "- **Affected workloads**: Deployment/web" in text


def test_the_timeline_merges_notifications_and_keeps_same_second_order() -> None:
    lines = [line for line in postmortem.render(incident()).splitlines() if line.startswith("- 2026-")]
    assert lines[:3] == [
        "- 2026-11-30T10:00:30Z — IncidentOpened: opened",
        "- 2026-11-30T10:00:30Z — RunbookMatched: matched",
        "- 2026-11-30T10:00:30Z — Notification: page via pager (pagerduty) to alice — Delivered",
    ]


def test_automation_what_it_did_and_was_not_allowed_to_do() -> None:
    text = postmortem.render(incident())
    assert "### restart: rolloutRestart of Deployment/web — Succeeded" in text
    assert "- approved by bob at 2026-11-30T10:00:50Z" in text
    assert "| Pause | allowed | NotPaused | a \\| b |" in text
    assert "- scale of Deployment/web: ChangeFreeze — InsideChangeFreeze: black friday" in text
    assert "- rolloutUndo of Deployment/web: only a dry run" in text
    assert "```diff\n-image: web:2\n+image: web:1\n```" in text


def test_responders_are_everyone_recorded_with_what_they_did() -> None:
    text = postmortem.render(incident())
    assert "- alice: acknowledged via pagerduty, paged (level 1)" in text
    assert "- bob: approved restart" in text


def test_an_open_incident_is_a_draft_so_far_as_of_its_newest_record() -> None:
    text = postmortem.render(incident(phase="Remediating", resolvedAt=None))
    assert "_Draft so far as of 2026-11-30T10:10:00Z" in text
    assert "| Resolved | not yet | — |" in text
    assert "not resolved yet" in text


def test_a_huge_record_is_cut_below_the_configmap_limit() -> None:
    timeline = [{"time": "2026-11-30T10:00:30Z", "reason": "Note", "message": "x" * 5000} for _ in range(400)]
    text = postmortem.render(incident(timeline=timeline))
    assert len(text.encode()) <= postmortem.MAX_BYTES + 200
    assert text.endswith("the incident's status is complete)_\n")
