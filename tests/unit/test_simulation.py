"""onduty simulate's judgement, offline: the operator's own guardrails on a pull request's files, at a given time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import simulation
from onduty.domain.policies import Policy, parse_policy
from onduty.domain.runbooks import RunbookRef, parse_runbook

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LABELS = {"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "web", "severity": "critical"}


def runbook(name: str = "restart", *, namespace: str = "shop", **match: Any) -> RunbookRef:
    step = match.pop("step", {"name": "restart", "action": "rolloutRestart"})
    spec = {
        "match": {"alertnames": ["KubePodCrashLooping"], **match},
        "remediation": {"steps": [step]},
    }
    return RunbookRef(namespace, name, parse_runbook(spec))


def policy(name: str = "shop", **spec: Any) -> Policy:
    spec.setdefault("scope", {"namespaces": ["shop"]})
    spec.setdefault("allowedActions", ["rolloutRestart"])
    return Policy(name, parse_policy(spec))


def run(
    *policies: Policy,
    runbooks: tuple[RunbookRef, ...] | None = None,
    at: datetime = AT,
    labels: dict[str, str] | None = None,
    namespace_labels: dict[str, str] | None = None,
) -> simulation.Simulation:
    alert = {"labels": labels or LABELS, "annotations": {"summary": "web crash-loops"}}
    return simulation.simulate(
        simulation.Inputs(
            alerts=simulation.read_alerts(alert, at=at),
            runbooks=runbooks if runbooks is not None else (runbook(),),
            policies=policies,
            at=at,
            onduty_namespace="onduty-system",
            namespace_labels=namespace_labels or {},
        )
    )


def only_step(result: simulation.Simulation) -> simulation.StepResult:
    [incident] = result.incidents
    [step] = incident.steps
    return step


def reasons(step: simulation.StepResult) -> dict[str, str]:
    return {v.guardrail: v.reason for v in step.verdicts}


NIGHTLY = policy(maintenanceWindows=[{"name": "nightly", "cron": "0 2 * * *", "duration": "1h"}])


@pytest.mark.parametrize(
    ("at", "outcome", "window", "until"),
    [
        pytest.param(datetime(2026, 12, 1, 2, 30, tzinfo=UTC), "run", "InsideMaintenanceWindow", None, id="open"),
        pytest.param(
            datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
            "held",
            "OutsideMaintenanceWindow",
            datetime(2026, 12, 2, 2, 0, tzinfo=UTC),
            id="closed-held-until-it-opens",
        ),
    ],
)
def test_a_maintenance_window_decides_by_the_time_given(
    at: datetime, outcome: str, window: str, until: datetime | None
) -> None:
    step = only_step(run(NIGHTLY, at=at))

    assert (step.outcome, reasons(step)["MaintenanceWindow"], step.until) == (outcome, window, until)
    if until is not None:
        assert step.decision.startswith("held until 2026-12-02T02:00:00Z: OutsideMaintenanceWindow: policy shop")


def test_a_window_that_opens_later_than_a_step_waits_is_a_final_denial_that_says_so() -> None:
    step = only_step(run(NIGHTLY, at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC)))  # opens in 16h, a hold lasts 6h

    assert step.outcome == "denied"
    assert step.decision.startswith("denied for good: HoldTooLong: policy shop allows actions only in: nightly")


def test_a_change_freeze_holds_the_step_until_it_ends_naming_policy_and_reason() -> None:
    freeze = {"name": "release", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T12:00:00Z", "reason": "launch"}
    step = only_step(run(policy("freezer", changeFreezes=[freeze])))

    assert (step.outcome, reasons(step)["ChangeFreeze"]) == ("held", "ChangeFreeze")
    assert step.until == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert "policy freezer: launch" in step.decision


def test_after_the_freeze_the_same_step_would_run() -> None:
    freeze = {"start": "2026-12-01T09:00:00Z", "end": "2026-12-01T12:00:00Z"}
    step = only_step(run(policy(changeFreezes=[freeze]), at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC)))

    assert (step.outcome, reasons(step)["ChangeFreeze"], step.decision) == ("run", "NoFreeze", "would run")


def test_an_action_that_needs_approval_says_who_asks_and_for_how_long() -> None:
    step = only_step(run(policy(requireApproval=["rolloutRestart"], approvalTTL="30m")))

    assert (step.outcome, step.approval_ttl) == ("approval", timedelta(minutes=30))
    assert step.decision == (
        "needs approval: policy shop asks a human to approve rolloutRestart within 30m (onduty approve); then would run"
    )


def test_a_dry_run_policy_makes_the_step_a_dry_run_naming_the_policy() -> None:
    step = only_step(run(policy("careful", dryRun=True)))

    assert step.outcome == "dry-run"
    assert "a policy in scope says dryRun (careful)" in step.decision


def test_an_action_no_policy_allows_is_denied_for_good_with_what_would_change_it() -> None:
    step = only_step(run(policy(allowedActions=["scale"])))

    assert step.outcome == "denied"
    assert step.decision.startswith("denied for good: ActionNotAllowed: rolloutRestart is not among the allowed")
    assert "add it there" in step.decision


def test_with_no_runbook_matched_the_nearest_candidates_say_what_missed() -> None:
    runbooks = (
        runbook("warnings-only", severities=["warning"]),
        runbook("frontend", labels={"matchLabels": {"app": "fe"}}),
    )

    [incident] = run(runbooks=runbooks).incidents

    assert incident.selection.chosen is None and incident.steps == ()
    assert [m.runbook.name for m in incident.selection.nearest] == ["frontend", "warnings-only"]
    assert incident.selection.message() == (
        "no runbook matched: nearest shop/frontend (alertname=KubePodCrashLooping matched; label app missing,"
        " wants app=fe), shop/warnings-only (alertname=KubePodCrashLooping matched; severity critical \u2260 warning)"
    )


def test_a_templated_target_is_rendered_with_the_incident_labels_and_shown() -> None:
    step = {
        "name": "restart-api",
        "action": "rolloutRestart",
        "target": {"kind": "Deployment", "name": "{{ labels.service }}-api"},
    }
    labels = {**LABELS, "service": "checkout"}

    result = only_step(run(policy(), runbooks=(runbook(step=step),), labels=labels))

    assert result.target == "Deployment/checkout-api"
    assert result.rendered == (("target.name", "{{ labels.service }}-api", "checkout-api"),)
    assert reasons(result)["Target"] == "TargetFound"


def test_a_template_naming_a_label_the_incident_lacks_is_refused_for_good() -> None:
    step = {
        "name": "restart-api",
        "action": "rolloutRestart",
        "target": {"kind": "Deployment", "name": "{{ labels.service }}"},
    }

    result = only_step(run(policy(), runbooks=(runbook(step=step),)))

    assert (result.outcome, reasons(result)) == ("denied", {"Trust": "TemplateLabelMissing"})


@pytest.mark.parametrize(
    ("team", "outcome", "scope"),
    [
        pytest.param("shop", "run", "PoliciesInScope", id="selected"),
        pytest.param("payments", "dry-run", "NoPolicyInScope", id="out-of-scope-by-label"),
    ],
)
def test_a_policy_selects_namespaces_by_the_labels_given(team: str, outcome: str, scope: str) -> None:
    selective = policy(scope={"namespaceSelector": {"matchLabels": {"team": "shop"}}})

    step = only_step(run(selective, namespace_labels={"team": team}))

    assert (step.outcome, reasons(step)["Policy"]) == (outcome, scope)


def test_the_namespace_name_label_is_there_as_the_api_server_sets_it() -> None:
    by_name = policy(scope={"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}})

    assert only_step(run(by_name)).outcome == "run"


def test_a_condition_is_unknown_offline_and_shows_the_confined_query() -> None:
    step = {
        "name": "restart",
        "action": "rolloutRestart",
        "condition": {
            "expr": 'sum(rate(errors_total{pod="{{ labels.deployment }}"}[5m]))',
            "op": ">",
            "threshold": 0.05,
        },
    }

    result = only_step(run(policy(), runbooks=(runbook(step=step),)))

    condition = next(v for v in result.verdicts if v.guardrail == "Condition")
    assert (condition.reason, result.outcome, result.decision) == (
        "UnknownOffline",
        "run",
        "would run if its condition holds",
    )
    assert 'sum(rate(errors_total{pod="web",namespace="shop"}[5m])) > 0.05 holds' in condition.message
    assert ("condition.expr", step["condition"]["expr"]) in [(f, w) for f, w, _ in result.rendered]


def test_every_verdict_that_rests_on_an_assumption_says_so() -> None:
    step = only_step(run(policy()))

    messages = {v.guardrail: v.message for v in step.verdicts}
    assert "not checked offline" in messages["Target"]
    assert "not checked offline" in messages["Silence"]
    assert "assumed offline: no earlier action" in messages["Cooldown"]
    assert "assumed not paused" in messages["Pause"]


def test_a_second_step_on_the_same_target_counts_the_first_as_run() -> None:
    spec = {
        "match": {"alertnames": ["KubePodCrashLooping"]},
        "remediation": {
            "steps": [{"name": "first", "action": "rolloutRestart"}, {"name": "again", "action": "rolloutRestart"}]
        },
    }
    [incident] = run(policy(), runbooks=(RunbookRef("shop", "twice", parse_runbook(spec)),)).incidents

    assert [s.outcome for s in incident.steps] == ["run", "held"]
    assert reasons(incident.steps[1])["Cooldown"] == "CooldownActive"


def test_alerts_of_a_payload_open_and_join_incidents_by_grouping_key() -> None:
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {**LABELS, "severity": "warning"},
                "startsAt": "2026-12-01T09:00:00Z",
                "fingerprint": "a1",
            },
            {
                "status": "firing",
                "labels": {**LABELS, "deployment": "api"},
                "startsAt": "2026-12-01T09:00:00Z",
                "fingerprint": "b2",
            },
            {"status": "firing", "labels": LABELS, "startsAt": "2026-12-01T09:00:00Z", "fingerprint": "c3"},
            {"status": "resolved", "labels": LABELS, "startsAt": "2026-12-01T08:00:00Z", "fingerprint": "d4"},
        ],
    }
    alerts = simulation.read_alerts(payload, at=AT)

    result = simulation.simulate(simulation.Inputs(alerts, (runbook(),), (), AT, "onduty-system"))

    assert [(a.incident, a.opens) for a in result.alerts] == [(1, True), (2, True), (1, False), (None, False)]
    first = result.incidents[0]
    assert (first.alerts, first.severity, first.opened_severity) == ((1, 3), "critical", "warning")
    assert str(result.incidents[1].workload) == "Deployment/api"
    text = simulation.render_text(result)
    assert "alert 3 KubePodCrashLooping (firing): joins incident 1" in text
    assert "alert 4 KubePodCrashLooping (resolved): opens no incident" in text


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            {"version": "4", "status": "firing", "alerts": [{"status": "burning", "labels": {"a": "b"}}]},
            "alerts[0].status",
            id="payload-names-the-alert-and-field",
        ),
        pytest.param({"labels": {}}, "labels", id="single-alert-without-labels"),
        pytest.param([1], "got list", id="not-an-object"),
    ],
)
def test_an_alert_that_cannot_be_read_names_the_field(document: Any, message: str) -> None:
    with pytest.raises(simulation.InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        simulation.read_alerts(document, at=AT)


def test_an_invalid_runbook_file_is_refused_as_lint_refuses_it() -> None:
    doc = {"apiVersion": "onduty.dev/v1alpha1", "kind": "Runbook", "metadata": {"name": "r"}, "spec": {"match": {}}}
    lst = {"apiVersion": "v1", "kind": "List", "items": [doc]}

    with pytest.raises(simulation.InputError) as caught:
        simulation.read_objects([("rb.yaml", [lst])], "Runbook")

    assert str(caught.value).startswith("rb.yaml: Runbook r: spec.match.alertnames: required")


def test_json_output_carries_every_verdict_and_the_decision() -> None:
    data = simulation.to_json(run(policy(requireApproval=["rolloutRestart"])))

    [step] = data["incidents"][0]["steps"]
    assert (step["outcome"], step["approvalTTL"], step["target"]) == ("approval", "30m", "Deployment/web")
    assert {
        "guardrail": "ChangeFreeze",
        "allowed": True,
        "reason": "NoFreeze",
        "message": "no change freeze covers this time",
    } in step["verdicts"]


def test_a_kind_of_the_same_name_in_another_api_group_is_not_read_as_a_runbook() -> None:
    theirs = {"apiVersion": "example.com/v1", "kind": "Runbook", "metadata": {"name": "r"}, "spec": {"steps": []}}

    assert simulation.read_objects([("rb.yaml", [theirs])], "Runbook") == []


def test_of_two_policies_in_scope_the_approval_names_the_one_that_asks() -> None:
    asking = policy("approvers", requireApproval=["rolloutRestart"], approvalTTL="10m")

    step = only_step(run(asking, policy("plain")))

    assert step.decision.startswith(
        "needs approval: policy approvers asks a human to approve rolloutRestart within 10m"
    )


@pytest.mark.parametrize(
    ("namespace", "target", "reasons_"),
    [
        pytest.param("onduty-system", "Node/node-7", None, id="platform-namespace-acts-on-the-node"),
        pytest.param("shop", "", {"Trust": "NodeOutsidePlatformNamespace"}, id="tenant-namespace-refused"),
    ],
)
def test_a_node_alert_targets_its_node_only_in_ondutys_namespace(
    namespace: str, target: str, reasons_: dict[str, str] | None
) -> None:
    labels = {"alertname": "KubePodCrashLooping", "namespace": namespace, "node": "node-7", "severity": "critical"}
    cordon = runbook(namespace=namespace, step={"name": "cordon", "action": "cordonNode"})

    step = only_step(run(runbooks=(cordon,), labels=labels))

    assert step.target == target
    if reasons_ is not None:
        assert reasons(step) == reasons_
