"""Runbook specs: what parses, the defaults, and errors that name the field."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from onduty.domain.runbooks import LabelSelector, RunbookError, parse_runbook

FULL: dict[str, Any] = {
    "description": "Restart a crash-looping web tier.",
    "priority": 10,
    "match": {
        "alertnames": ["KubePodCrashLooping", "KubePodNotReady"],
        "severities": ["warning", "critical"],
        "labels": {
            "matchLabels": {"team": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}],
        },
    },
    "remediation": {
        "steps": [
            {
                "name": "restart-web",
                "action": "rolloutRestart",
                "target": {"kind": "Deployment", "name": "web"},
                "cooldown": "30m",
                "verify": {"rolloutHealthyWithin": "2m30s"},
            },
            {"name": "restart-alerted", "action": "rolloutRestart"},
        ]
    },
    "onFailure": "Escalate",
}


_DELETE = object()


def _spec(path: str, value: Any) -> dict[str, Any]:
    """FULL with the value at a dotted path (list indexes as numbers) replaced, or removed if value is _DELETE."""
    spec = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    node: Any = spec
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


def test_a_complete_runbook_parses_into_typed_values() -> None:
    runbook = parse_runbook(FULL)

    assert runbook.priority == 10
    assert runbook.match.alertnames == ("KubePodCrashLooping", "KubePodNotReady")
    assert runbook.match.severities == ("warning", "critical")
    assert runbook.match.labels.match_labels == {"team": "shop"}
    assert runbook.match.labels.match_expressions[0].values == ("prod", "staging")
    assert runbook.remediation is not None
    first, second = runbook.remediation.steps
    assert (first.name, first.action, first.target and first.target.kind) == (
        "restart-web",
        "rolloutRestart",
        "Deployment",
    )
    assert first.cooldown_period == timedelta(minutes=30)
    assert first.verify.deadline == timedelta(minutes=2, seconds=30)
    assert runbook.on_failure == "Escalate"
    assert second.target is None


def test_a_minimal_runbook_gets_the_documented_defaults() -> None:
    runbook = parse_runbook(
        {"match": {"alertnames": ["X"]}, "remediation": {"steps": [{"name": "restart", "action": "rolloutRestart"}]}}
    )

    assert (runbook.description, runbook.priority, runbook.on_failure) == ("", 0, "Escalate")
    assert runbook.match.severities == ()
    assert runbook.match.labels.specificity == 0
    assert runbook.remediation is not None
    step = runbook.remediation.steps[0]
    assert step.cooldown_period == timedelta(minutes=15)
    assert step.verify.deadline == timedelta(minutes=5)


def test_a_runbook_may_only_match_and_have_no_remediation() -> None:
    assert parse_runbook({"match": {"alertnames": ["X"]}}).remediation is None


@pytest.mark.parametrize(
    ("spec", "field", "value"),
    [
        pytest.param(_spec("match", _DELETE), "match", "Field required", id="no-match"),
        pytest.param(_spec("match.alertnames", []), "match.alertnames", "[]", id="no-alertnames"),
        pytest.param(_spec("match.severities", ["page"]), "match.severities[0]", "'page'", id="alias-severity"),
        pytest.param(
            _spec("match.labels.matchExpressions.0.operator", "Contains"),
            "match.labels.matchExpressions[0].operator",
            "'Contains'",
            id="bad-operator",
        ),
        pytest.param(_spec("priority", "high"), "priority", "'high'", id="priority-not-a-number"),
        pytest.param(_spec("onFailure", "Retry"), "onFailure", "'Retry'", id="bad-on-failure"),
        pytest.param(_spec("matchh", {}), "matchh", "Extra inputs are not permitted", id="unknown-field"),
        pytest.param(
            _spec("remediation.steps.0.name", "Restart_Web"), "remediation.steps[0].name", "'Restart_Web'", id="name"
        ),
        pytest.param(
            _spec("remediation.steps.0.name", "r" * 41), "remediation.steps[0].name", "at most 40", id="long-name"
        ),
        pytest.param(
            _spec("remediation.steps.1.action", "deleteNamespace"),
            "remediation.steps[1].action",
            "'deleteNamespace'",
            id="action",
        ),
        pytest.param(
            _spec("remediation.steps.0.cooldown", "15 minutes"),
            "remediation.steps[0].cooldown",
            "'15 minutes'",
            id="bad-cooldown",
        ),
        pytest.param(
            _spec("remediation.steps.0.verify.rolloutHealthyWithin", "soon"),
            "remediation.steps[0].verify.rolloutHealthyWithin",
            "'soon'",
            id="bad-verify-duration",
        ),
        pytest.param(
            _spec("remediation.steps.0.target.kind", "CronJob"),
            "remediation.steps[0].target.kind",
            "'CronJob'",
            id="unsupported-target-kind",
        ),
        pytest.param(
            _spec("remediation.steps.1.name", "restart-web"), "remediation.steps", "restart-web", id="duplicate-steps"
        ),
        pytest.param(_spec("remediation.steps", []), "remediation.steps", "at least 1", id="no-steps"),
        pytest.param(
            _spec("remediation.steps", [{"name": f"s{i}", "action": "rolloutRestart"} for i in range(11)]),
            "remediation.steps",
            "at most 10",
            id="too-many-steps",
        ),
    ],
)
def test_an_unusable_runbook_is_rejected_naming_the_field_and_value(
    spec: dict[str, Any], field: str, value: str
) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(spec)

    message = str(caught.value)
    assert message.startswith(f"spec.{field}"), message  # named as the API server names it
    assert value in message


def _selector(match_labels: dict[str, str] | None = None, *expressions: tuple[str, str, list[str]]) -> LabelSelector:
    return LabelSelector.model_validate(
        {
            "matchLabels": match_labels or {},
            "matchExpressions": [{"key": k, "operator": op, "values": v} for k, op, v in expressions],
        }
    )


LABELS = {"team": "shop", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param(_selector(), True, id="empty-matches-all"),
        pytest.param(_selector({"team": "shop"}), True, id="matchLabels-equal"),
        pytest.param(_selector({"team": "cart"}), False, id="matchLabels-differs"),
        pytest.param(_selector({"tier": "web"}), False, id="matchLabels-missing"),
        pytest.param(_selector({"team": "shop", "env": "dev"}), False, id="matchLabels-all-must-hold"),
        pytest.param(_selector(None, ("env", "In", ["prod", "staging"])), True, id="In-listed"),
        pytest.param(_selector(None, ("env", "In", ["dev"])), False, id="In-not-listed"),
        pytest.param(_selector(None, ("tier", "In", ["web"])), False, id="In-absent"),
        pytest.param(_selector(None, ("env", "NotIn", ["prod"])), False, id="NotIn-listed"),
        pytest.param(_selector(None, ("env", "NotIn", ["dev"])), True, id="NotIn-not-listed"),
        pytest.param(_selector(None, ("tier", "NotIn", ["web"])), True, id="NotIn-absent"),
        pytest.param(_selector(None, ("env", "Exists", [])), True, id="Exists-present"),
        pytest.param(_selector(None, ("tier", "Exists", [])), False, id="Exists-absent"),
        pytest.param(_selector(None, ("tier", "DoesNotExist", [])), True, id="DoesNotExist-absent"),
        pytest.param(_selector(None, ("env", "DoesNotExist", [])), False, id="DoesNotExist-present"),
        pytest.param(
            _selector({"team": "shop"}, ("env", "In", ["prod"]), ("tier", "DoesNotExist", [])), True, id="all-hold"
        ),
        pytest.param(
            _selector({"team": "shop"}, ("env", "In", ["prod"]), ("tier", "Exists", [])), False, id="one-fails"
        ),
    ],
)
def test_a_label_selector_follows_kubernetes_semantics(selector: LabelSelector, expected: bool) -> None:
    assert selector.matches(LABELS) is expected


def test_a_selector_is_more_specific_with_every_requirement() -> None:
    assert _selector().specificity == 0
    assert _selector({"team": "shop"}).specificity == 1
    assert _selector({"team": "shop"}, ("env", "Exists", [])).specificity == 2


def test_the_crds_offer_exactly_the_actions_the_operator_can_run() -> None:
    """One list of actions: a CRD enum that drifts from the code would accept runbooks the operator rejects."""
    from pathlib import Path

    import yaml

    from onduty.domain.runbooks import ACTIONS

    crds = Path(__file__).resolve().parents[2] / "crds"
    runbook = yaml.safe_load((crds / "onduty.dev_runbooks.yaml").read_text())
    step = runbook["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "remediation"
    ]
    enum = step["properties"]["steps"]["items"]["properties"]["action"]["enum"]
    policy = yaml.safe_load((crds / "onduty.dev_remediationpolicies.yaml").read_text())
    allowed = policy["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "allowedActions"
    ]
    assert sorted(enum) == sorted(ACTIONS)
    assert sorted(allowed["items"]["enum"]) == sorted(ACTIONS)
