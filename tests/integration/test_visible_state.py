"""Every state visible: `kubectl describe incident` reads as the timeline, in order, from onduty; which
runbook matched and why; pauses and resumes recorded; no "started" before a step that is skipped."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import apply_manifest, open_step_incident, step_outcome, timeline_reasons, wait_for


def described_events(cluster, namespace: str, name: str) -> list[tuple[str, str, str]]:
    """(reason, from, message) of each row of `kubectl describe incident`'s Events table, as shown."""
    text = cluster.kubectl("describe", "incident", name, "-n", namespace).stdout
    table = text.split("\nEvents:\n", 1)[1].splitlines()
    header = table[0]
    columns = {title: header.index(title) for title in ("Type", "Reason", "Age", "From", "Message")}
    rows = []
    for line in table[2:]:
        if not line.startswith("  ") or not line.strip():
            break
        rows.append(
            (
                line[columns["Reason"] : columns["Age"]].strip(),
                line[columns["From"] : columns["Message"]].strip(),
                line[columns["Message"] :].strip(),
            )
        )
    return rows


def incident(cluster, namespace: str, name: str) -> dict:
    return cluster.get_json("incident.onduty.dev", name, "-n", namespace)


def test_describe_lists_the_timeline_in_order_from_onduty_even_within_one_second(
    cluster, namespace, deployment, operator
):
    # A second runbook of the same priority: the Event says why "rb" was chosen over it.
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "rb-other", "namespace": namespace},
            "spec": {"match": {"alertnames": ["Broken"]}},
        },
    )
    name = open_step_incident(cluster, namespace, {"action": "rolloutRestart"})
    assert step_outcome(cluster, namespace, name)["state"] == "Succeeded"
    timeline = incident(cluster, namespace, name)["status"]["timeline"]
    reasons = [e["reason"] for e in timeline]
    # Several entries share a second (opened, matched; started, applied): the case that needs ordering.
    seconds = [e["time"] for e in timeline]
    assert len(set(seconds)) < len(seconds), timeline

    rows = wait_for(
        lambda: (r := described_events(cluster, namespace, name)) and len(r) >= len(reasons) and r,
        timeout=30,
        what="an Event for every timeline entry",
    )

    assert [reason for reason, _, _ in rows] == reasons
    assert {source for _, source, _ in rows} == {"onduty.dev/operator"}
    matched = next(message for reason, _, message in rows if reason == "RunbookMatched")
    assert matched.startswith(f"runbook {namespace}/rb (priority 0) matched alertname=Broken, any severity;")
    assert f"chosen over {namespace}/rb-other (same priority) because its name sorts first" in matched


def test_no_runbook_matched_names_the_nearest_candidate_and_what_missed(cluster, namespace, operator):
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "restart-web", "namespace": namespace},
            "spec": {"match": {"alertnames": ["Broken"], "severities": ["critical"]}},
        },
    )
    name = f"inc-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"title": "broken", "severity": "warning", "labels": {"alertname": "Broken"}},
        },
    )

    escalated = wait_for(
        lambda: (i := incident(cluster, namespace, name)).get("status", {}).get("phase") == "Escalated" and i,
        what="the incident to escalate",
    )
    expected = (
        f"no runbook matched: nearest {namespace}/restart-web"
        " (alertname=Broken matched; severity warning \u2260 critical)"
    )
    entry = next(e for e in escalated["status"]["timeline"] if e["reason"] == "NoRunbookMatched")
    assert entry["message"] == expected
    events = wait_for(
        lambda: [r for r in described_events(cluster, namespace, name) if r[0] == "NoRunbookMatched"],
        timeout=30,
        what="the NoRunbookMatched Event",
    )
    assert events[0][2] == expected


def test_pausing_and_resuming_an_incident_is_recorded_with_who_set_it(cluster, namespace, operator):
    name = f"inc-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"title": "broken", "severity": "warning", "labels": {"alertname": "NoSuchRunbook"}},
        },
    )
    # Triage settled, escalation's "nobody is paged" included, before the pause: entries come in that order.
    wait_for(
        lambda: (
            {"EscalationRequired", "NoEscalationPolicy"} <= set(timeline_reasons(incident(cluster, namespace, name)))
        ),
        what="triage",
    )

    cluster.kubectl("annotate", "incident.onduty.dev", name, "-n", namespace, "onduty.dev/paused=true")
    paused = wait_for(
        lambda: (i := incident(cluster, namespace, name)) and "AutomationPausedByUser" in timeline_reasons(i) and i,
        what="the pause to be recorded",
    )
    cluster.kubectl("annotate", "incident.onduty.dev", name, "-n", namespace, "onduty.dev/paused-")
    resumed = wait_for(
        lambda: (i := incident(cluster, namespace, name)) and "AutomationResumed" in timeline_reasons(i) and i,
        what="the resume to be recorded",
    )

    entry = next(e for e in paused["status"]["timeline"] if e["reason"] == "AutomationPausedByUser")
    assert entry["message"].startswith("automation paused by kubectl-annotate (annotation onduty.dev/paused)")
    assert timeline_reasons(resumed).count("AutomationPausedByUser") == 1
    assert timeline_reasons(resumed)[-2:] == ["AutomationPausedByUser", "AutomationResumed"]
    rows = wait_for(
        lambda: (
            (r := [row[0] for row in described_events(cluster, namespace, name)]) and "AutomationResumed" in r and r
        ),
        timeout=30,
        what="the pause Events",
    )
    assert rows.index("AutomationPausedByUser") < rows.index("AutomationResumed")


def test_a_step_the_action_itself_refuses_never_reads_as_started(cluster, namespace, deployment, operator):
    # rolloutUndo passes every guardrail and is claimed, then finds no earlier revision to go back to.
    name = open_step_incident(cluster, namespace, {"action": "rolloutUndo"})

    action = step_outcome(cluster, namespace, name)

    assert (action["state"], action["reason"]) == ("Denied", "NoPreviousRevision")
    assert action["startedAt"]  # it was claimed ...
    reasons = timeline_reasons(incident(cluster, namespace, name))
    assert "RemediationSkipped" in reasons
    assert "RemediationStarted" not in reasons  # ... but it never started
    assert not re.search(r"RemediationStarted", str(described_events(cluster, namespace, name)))


def test_kubectl_get_shows_a_policys_scope_and_why_an_incident_escalated_and_its_runbook_link(
    cluster, namespace, operator
):
    policy = f"scope-{namespace}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": policy},
            "spec": {
                "scope": {"namespaces": [namespace, "team-b"], "workloadSelector": {"matchLabels": {"app": "web"}}},
                "allowedActions": ["rolloutRestart"],
            },
        },
    )
    try:
        shown = wait_for(
            lambda: (
                (out := cluster.kubectl("get", "remediationpolicy.onduty.dev", policy).stdout)
                and f"ns={namespace},team-b; workloads=app=web" in out
                and out
            ),
            what="the policy's Scope column",
        )
        assert shown.splitlines()[0].split()[:3] == ["NAME", "SCOPE", "ACTIONS"]
    finally:
        cluster.kubectl("delete", "remediationpolicy.onduty.dev", policy, "--wait=false")

    labels = {"alertname": "NoSuchRunbook", "namespace": namespace, "deployment": "web", "severity": "warning"}
    alert = am_alert(
        labels,
        starts_at=datetime.now(UTC),
        annotations={"summary": "web answers 5xx", "runbook_url": "https://runbooks.example.com/web-5xx"},
    )
    code, body = post_json(operator.url + "/api/v1/alerts", am_payload(alert))
    assert code == 200, body
    wide = wait_for(
        lambda: (
            (out := cluster.kubectl("get", "incidents.onduty.dev", "-n", namespace, "-o", "wide").stdout)
            and "NoRunbookMatched" in out
            and "https://runbooks.example.com/web-5xx" in out
            and out
        ),
        what="the incident's Why and Runbook-URL columns",
    )
    header, row = wide.splitlines()[:2]
    assert "WHY" in header and "RUNBOOK-URL" in header and "TITLE" in header
    assert "web answers 5xx" in row
    default = cluster.kubectl("get", "incidents.onduty.dev", "-n", namespace).stdout
    assert "RUNBOOK-URL" not in default and "WHY" in default
    # A typical incident fits a wide terminal at the default width.
    assert max(len(line) for line in default.splitlines()) <= 160, default
