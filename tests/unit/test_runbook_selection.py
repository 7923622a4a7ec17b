"""Which runbook an incident gets: eligibility, namespace scoping and the tie-break order."""

from __future__ import annotations

from typing import Any

import pytest

from onduty.domain.runbooks import RunbookRef, parse_runbook, select_runbook
from onduty.domain.severity import Severity

GLOBAL = "onduty-system"
LABELS = {"alertname": "KubePodCrashLooping", "namespace": "shop", "team": "shop", "env": "prod"}


def _rb(
    namespace: str,
    name: str,
    *,
    priority: int = 0,
    alertnames: tuple[str, ...] = ("KubePodCrashLooping",),
    severities: tuple[str, ...] = (),
    match_labels: dict[str, str] | None = None,
    exists: tuple[str, ...] = (),
) -> RunbookRef:
    spec: dict[str, Any] = {
        "priority": priority,
        "match": {
            "alertnames": list(alertnames),
            "severities": list(severities),
            "labels": {
                "matchLabels": match_labels or {},
                "matchExpressions": [{"key": k, "operator": "Exists"} for k in exists],
            },
        },
    }
    return RunbookRef(namespace, name, parse_runbook(spec))


def _select(candidates: list[RunbookRef], *, severity: Severity = "warning", namespace: str = "shop") -> str | None:
    chosen = select_runbook(candidates, labels=LABELS, severity=severity, namespace=namespace, global_namespace=GLOBAL)
    return chosen.key if chosen else None


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param([], None, id="no-runbooks"),
        pytest.param([_rb("shop", "other", alertnames=("KubeNodeNotReady",))], None, id="other-alertname"),
        pytest.param([_rb("shop", "restart")], "shop/restart", id="own-namespace"),
        pytest.param([_rb(GLOBAL, "restart")], f"{GLOBAL}/restart", id="global-applies-everywhere"),
        pytest.param([_rb("cart", "restart")], None, id="another-teams-runbook-never-matches"),
        pytest.param(
            [_rb("cart", "restart", priority=100), _rb(GLOBAL, "fallback")],
            f"{GLOBAL}/fallback",
            id="another-team-even-with-higher-priority",
        ),
        pytest.param([_rb("shop", "restart", match_labels={"team": "cart"})], None, id="label-selector-not-satisfied"),
        pytest.param(
            [_rb("shop", "mine"), _rb(GLOBAL, "urgent", priority=10)],
            f"{GLOBAL}/urgent",
            id="priority-beats-namespace",
        ),
        pytest.param(
            [_rb(GLOBAL, "general"), _rb("shop", "mine")],
            "shop/mine",
            id="own-namespace-beats-global-at-equal-priority",
        ),
        pytest.param(
            [_rb(GLOBAL, "general", match_labels={"team": "shop", "env": "prod"}), _rb("shop", "mine")],
            "shop/mine",
            id="own-namespace-beats-a-more-specific-global",
        ),
        pytest.param(
            [_rb("shop", "broad"), _rb("shop", "narrow", match_labels={"team": "shop"})],
            "shop/narrow",
            id="more-specific-selector-wins",
        ),
        pytest.param(
            [
                _rb("shop", "labels", match_labels={"team": "shop"}),
                _rb("shop", "both", match_labels={"team": "shop"}, exists=("env",)),
            ],
            "shop/both",
            id="expressions-count-towards-specificity",
        ),
        pytest.param([_rb("shop", "beta"), _rb("shop", "alpha")], "shop/alpha", id="name-breaks-the-remaining-tie"),
        pytest.param(
            [_rb("shop", "page-only", severities=("critical",)), _rb(GLOBAL, "any")],
            f"{GLOBAL}/any",
            id="severities-filter-excludes",
        ),
        pytest.param(
            [_rb("shop", "warn-or-page", severities=("critical", "warning"))],
            "shop/warn-or-page",
            id="severities-filter-includes",
        ),
    ],
)
def test_the_best_eligible_runbook_is_chosen(candidates: list[RunbookRef], expected: str | None) -> None:
    assert _select(candidates) == expected


MIXED = [
    _rb(GLOBAL, "a-global"),
    _rb("shop", "z-own"),
    _rb("shop", "b-own-specific", match_labels={"env": "prod"}),
    _rb("cart", "foreign", priority=99),
    _rb("shop", "a-own-specific", match_labels={"team": "shop"}),
]


# Every rotation of the list, forwards and backwards: each runbook comes first once.
ORDERS = [MIXED[i:] + MIXED[:i] for i in range(len(MIXED))] + [(MIXED[i:] + MIXED[:i])[::-1] for i in range(len(MIXED))]


@pytest.mark.parametrize("candidates", ORDERS)
def test_the_choice_does_not_depend_on_the_order_runbooks_are_listed(candidates: list[RunbookRef]) -> None:
    assert _select(candidates) == "shop/a-own-specific"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "shop/page"), ("error", f"{GLOBAL}/any"), ("warning", f"{GLOBAL}/any"), ("info", f"{GLOBAL}/any")],
)
def test_a_runbook_limited_to_severities_applies_only_to_those(severity: Severity, expected: str) -> None:
    candidates = [_rb("shop", "page", severities=("critical",)), _rb(GLOBAL, "any")]

    assert _select(candidates, severity=severity) == expected


def test_an_incident_in_the_global_namespace_sees_only_global_runbooks() -> None:
    candidates = [_rb("shop", "mine"), _rb(GLOBAL, "general")]

    assert _select(candidates, namespace=GLOBAL) == f"{GLOBAL}/general"
