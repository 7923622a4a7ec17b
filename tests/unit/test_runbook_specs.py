"""Runbook specs: what parses, the defaults, and errors that name the field.

The model refuses what the CRD refuses (its CEL rules too), reads values as
the API server does (null is absent, JSON types are not converted), and has
the CRD's patterns; tests/integration/test_model_matches_crd.py checks the
same against a real API server, case by case.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from onduty.domain import durations
from onduty.domain.runbooks import ACTIONS, LabelSelector, RunbookError, parse_runbook
from onduty.domain.specs import CRON_PATTERN, DNS_LABEL, DNS_SUBDOMAIN, TIMESTAMP_PATTERN
from onduty.domain.templates import TEMPLATED_LABEL, TEMPLATED_SUBDOMAIN

CRDS = Path(__file__).resolve().parents[2] / "crds"

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
        pytest.param(_spec("match", _DELETE), "match", "required", id="no-match"),
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
        pytest.param(_spec("matchh", {}), "matchh", "unknown field", id="unknown-field"),
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


def _schema(crd: str) -> dict[str, Any]:
    doc = yaml.safe_load((CRDS / crd).read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _patterns(node: Any, path: str = "spec") -> dict[str, str]:
    """Every pattern of a schema, by the path of its field: a ``pattern``, or a CEL rule's ``self.matches('…')``."""
    if isinstance(node, list):
        return {}
    found = {path: node["pattern"]} if "pattern" in node else {}
    for rule in node.get("x-kubernetes-validations") or []:
        if matched := re.fullmatch(r"self\.matches\('([^']*)'\)", rule["rule"]):
            found[path] = matched[1]
    for key, child in (node.get("properties") or {}).items():
        found |= _patterns(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found |= _patterns(node["items"], f"{path}[]")
    return found


def test_the_crds_offer_exactly_the_actions_the_operator_can_run() -> None:
    """One list of actions: a CRD enum that drifts from the code would accept runbooks the operator rejects."""
    runbook = _schema("onduty.dev_runbooks.yaml")
    enum = runbook["properties"]["remediation"]["properties"]["steps"]["items"]["properties"]["action"]["enum"]
    allowed = _schema("onduty.dev_remediationpolicies.yaml")["properties"]["allowedActions"]
    assert sorted(enum) == sorted(ACTIONS)
    assert sorted(allowed["items"]["enum"]) == sorted(ACTIONS)


def test_every_pattern_of_the_crds_is_one_the_model_checks() -> None:
    """The CRDs and the model share their patterns; a new one in a CRD needs its twin here first."""
    known = {
        durations.PATTERN,
        DNS_LABEL,
        DNS_SUBDOMAIN,
        TEMPLATED_LABEL,
        TEMPLATED_SUBDOMAIN,
        CRON_PATTERN,
        TIMESTAMP_PATTERN,
        "^/",
    }
    patterns = _patterns(_schema("onduty.dev_runbooks.yaml")) | _patterns(
        _schema("onduty.dev_remediationpolicies.yaml")
    )

    assert {path: p for path, p in patterns.items() if p not in known} == {}
    assert patterns["spec.maintenanceWindows[].cron"] == CRON_PATTERN
    assert patterns["spec.remediation.steps[].cooldown"] == durations.PATTERN
    assert patterns["spec.cooldown"] == durations.PATTERN
    assert patterns["spec.changeFreezes[].start"] == TIMESTAMP_PATTERN


MINIMAL: dict[str, Any] = {"match": {"alertnames": ["X"]}}


def _steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return {**MINIMAL, "remediation": {"steps": list(steps)}}


def _diagnostics(*items: dict[str, Any]) -> dict[str, Any]:
    return {**MINIMAL, "diagnostics": list(items)}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # The CRD's CEL rules on a step, with the CRD's messages.
        pytest.param(
            _steps({"name": "s", "action": "scale"}), "exactly one of replicas and factor", id="scale-neither"
        ),
        pytest.param(
            _steps({"name": "s", "action": "scale", "replicas": 2, "factor": 2}),
            "exactly one of replicas and factor",
            id="scale-both",
        ),
        pytest.param(_steps({"name": "s", "action": "runJob"}), "a runJob step needs job.template", id="runJob-no-job"),
        pytest.param(
            _steps({"name": "s", "action": "argoRollback"}), "names its application", id="argoRollback-no-application"
        ),
        pytest.param(
            _steps({"name": "s", "action": "scale", "replicas": 2, "minReplicas": 3, "maxReplicas": 2}),
            "minReplicas must not exceed maxReplicas",
            id="min-above-max",
        ),
        pytest.param(
            {"match": {"alertnames": ["X"], "labels": {"matchExpressions": [{"key": "k", "operator": "In"}]}}},
            "values must be non-empty for In and NotIn",
            id="In-without-values",
        ),
        pytest.param(
            {
                "match": {
                    "alertnames": ["X"],
                    "labels": {"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]},
                }
            },
            "empty for Exists and DoesNotExist",
            id="Exists-with-values",
        ),
        pytest.param(
            _diagnostics(
                {"name": "q", "type": "promql", "expr": "up", "target": {"kind": "Deployment", "name": "web"}}
            ),
            "target applies only to podLogs",
            id="target-on-promql",
        ),
        pytest.param(
            _diagnostics({"name": "e", "type": "events", "step": "30s"}),
            "range and step apply only to a promql diagnostic",
            id="step-on-events",
        ),
        # Schema constraints the model lacked.
        pytest.param({**MINIMAL, "priority": 1001}, "spec.priority", id="priority-above-1000"),
        pytest.param({**MINIMAL, "description": "d" * 4097}, "spec.description", id="description-too-long"),
        pytest.param({"match": {"alertnames": ["X", "X"]}}, "duplicate value 'X'", id="alertname-twice"),
        pytest.param({"match": {"alertnames": [""]}}, "spec.match.alertnames[0]", id="empty-alertname"),
        pytest.param(
            {"match": {"alertnames": ["X"], "severities": ["critical", "critical"]}}, "duplicate", id="severity-twice"
        ),
        pytest.param(
            _steps({"name": "s", "action": "helmRollback", "release": "Web"}), "steps[0].release", id="release-pattern"
        ),
        pytest.param(
            _steps({"name": "s", "action": "rolloutRestart", "target": {"kind": "Deployment", "name": "Web"}}),
            "steps[0].target.name",
            id="target-name-pattern",
        ),
        pytest.param(
            _diagnostics({"name": "h", "type": "httpCheck", "service": "Web"}),
            "httpCheck.service",
            id="service-pattern",
        ),
        pytest.param(
            _diagnostics({"name": "q", "type": "promql", "expr": "up", "tailLines": 501}),
            "tailLines (a podLogs field)",
            id="another-types-field-is-still-checked",
        ),
        pytest.param(
            _diagnostics({"name": "q", "type": "promql", "expr": "up", "query": "up"}),
            "unknown field 'query'",
            id="unknown-diagnostic-field",
        ),
        # Values keep their JSON type.
        pytest.param({**MINIMAL, "priority": "5"}, "must be of type integer", id="number-as-a-string"),
        pytest.param(
            _steps({"name": "s", "action": "rolloutRestart", "revertOnFailure": 1}),
            "must be of type boolean",
            id="number-as-a-boolean",
        ),
        pytest.param(
            _steps({"name": "s", "action": "rolloutRestart", "condition": {"expr": "up", "op": ">", "threshold": "1"}}),
            "condition.threshold: must be of type integer or number",
            id="threshold-as-a-string",
        ),
        pytest.param(
            _steps({"name": "s", "action": "scale", "replicas": float("inf")}), "finite", id="infinite-replicas"
        ),
        pytest.param(_steps({"name": "s", "action": "scale", "replicas": 2**63}), "64-bit", id="replicas-past-int64"),
        pytest.param(
            _diagnostics({"name": "h", "type": "httpCheck", "service": "web", "port": True}),
            "must be of type integer or string",
            id="port-as-a-boolean",
        ),
        # The CRD's spelling, not Python's.
        pytest.param({**MINIMAL, "on_failure": "Escalate"}, "the CRD calls it onFailure", id="python-name"),
        pytest.param(
            _diagnostics({"name": "q", "type": "promql", "expr": "up", "window": "5m"}),
            "diagnostics[0].window: unknown field (the CRD calls it range)",
            id="python-name-of-range",
        ),
        # Durations the API server can hold (these raised OverflowError before).
        pytest.param(
            _steps({"name": "s", "action": "rolloutRestart", "cooldown": "99999999999h"}),
            "longer than 2562047h",
            id="cooldown-past-go",
        ),
        pytest.param(
            _diagnostics({"name": "q", "type": "promql", "expr": "up", "range": "99999999999h"}),
            "longer than 2562047h",
            id="range-past-go",
        ),
    ],
)
def test_a_spec_the_crd_refuses_is_refused_naming_the_rule(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(spec)

    assert message in str(caught.value)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({**MINIMAL, "description": None, "priority": None}, id="nulls-are-absent"),
        pytest.param(_steps({"name": "s", "action": "rolloutRestart", "bogus": None}), id="a-null-unknown-field"),
        pytest.param(_steps({"name": "s", "action": "scale", "replicas": 2.0}), id="a-whole-float-is-an-integer"),
        pytest.param(_steps({"name": "s", "action": "scale", "factor": 2}), id="an-integer-is-a-number"),
        pytest.param(
            _steps({"name": "s", "action": "rolloutRestart", "cooldown": "2562047h"}), id="the-longest-cooldown"
        ),
        pytest.param(
            _diagnostics({"name": "l", "type": "podLogs", "expr": "up", "service": "web"}),
            id="another-types-fields-ignored",
        ),
    ],
)
def test_a_spec_the_crd_accepts_is_accepted(spec: dict[str, Any]) -> None:
    parse_runbook(spec)
