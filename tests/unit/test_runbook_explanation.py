"""Why a runbook was chosen over others, and why none matched: the words of the RunbookMatched Events."""

from __future__ import annotations

from typing import Any

import pytest

from onduty.domain.runbooks import RunbookRef, explain_selection, parse_runbook, select_runbook
from onduty.domain.severity import Severity

GLOBAL = "onduty-system"
LABELS = {"alertname": "KubePodCrashLooping", "namespace": "shop", "app": "web"}


def _rb(namespace: str, name: str, *, priority: int = 0, **match: Any) -> RunbookRef:
    spec = {"priority": priority, "match": {"alertnames": ["KubePodCrashLooping"], **match}}
    return RunbookRef(namespace, name, parse_runbook(spec))


def _message(candidates: list[RunbookRef], severity: Severity = "warning") -> str:
    return explain_selection(
        candidates, labels=LABELS, severity=severity, namespace="shop", global_namespace=GLOBAL
    ).message()


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param(
            [_rb("shop", "restart-web", priority=10)],
            "runbook shop/restart-web (priority 10) matched alertname=KubePodCrashLooping, any severity",
            id="alone",
        ),
        pytest.param(
            [_rb("shop", "restart-web", severities=["warning"], labels={"matchLabels": {"app": "web"}})],
            "runbook shop/restart-web (priority 0) matched alertname=KubePodCrashLooping, severity=warning,"
            " label app=web",
            id="what-it-matched-on",
        ),
        pytest.param(
            [_rb(GLOBAL, "generic", priority=10), _rb("shop", "restart-web", priority=10)],
            "runbook shop/restart-web (priority 10) matched alertname=KubePodCrashLooping, any severity;"
            f" chosen over {GLOBAL}/generic (same priority) because it is in the incident's namespace shop,"
            " the other in the global namespace",
            id="tie-broken-by-namespace",
        ),
        pytest.param(
            [_rb("shop", "broad"), _rb("shop", "narrow", labels={"matchLabels": {"app": "web"}})],
            "runbook shop/narrow (priority 0) matched alertname=KubePodCrashLooping, any severity, label app=web;"
            " chosen over shop/broad (same priority) because its label selector is more specific"
            " (1 requirement(s) against 0)",
            id="tie-broken-by-specificity",
        ),
        pytest.param(
            [_rb("shop", "b-second"), _rb("shop", "a-first")],
            "runbook shop/a-first (priority 0) matched alertname=KubePodCrashLooping, any severity;"
            " chosen over shop/b-second (same priority) because its name sorts first (all else equal)",
            id="tie-broken-by-name",
        ),
        pytest.param(
            [_rb("shop", "low", priority=1), _rb("shop", "high", priority=5)],
            "runbook shop/high (priority 5) matched alertname=KubePodCrashLooping, any severity;"
            " chosen over shop/low (priority 1) because its priority is higher (5 > 1)",
            id="higher-priority",
        ),
    ],
)
def test_the_chosen_runbook_says_what_it_matched_and_why_it_beat_the_others(
    candidates: list[RunbookRef], expected: str
) -> None:
    assert _message(candidates) == expected


def test_no_match_names_the_nearest_runbooks_and_what_missed() -> None:
    candidates = [
        _rb("shop", "two-misses", severities=["critical"], labels={"matchLabels": {"app": "api"}}),
        _rb("shop", "restart-web", severities=["critical"]),
        _rb(GLOBAL, "tiered", labels={"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}),
        _rb("shop", "fourth", severities=["info"], labels={"matchLabels": {"app": "db", "team": "x"}}),
    ]

    message = _message(candidates)

    assert message == (
        "no runbook matched: nearest"
        " shop/restart-web (alertname=KubePodCrashLooping matched; severity warning \u2260 critical),"
        f" {GLOBAL}/tiered (alertname=KubePodCrashLooping matched; label tier missing, wants tier In (a, b)),"
        " shop/two-misses (alertname=KubePodCrashLooping matched; severity warning \u2260 critical;"
        " label app=web \u2260 api)"
    )
    assert "fourth" not in message  # at most three, the nearest


def test_another_namespaces_runbooks_are_never_named() -> None:
    message = _message([_rb("cart", "cart-secret-runbook", severities=["critical"])])

    assert message == "no runbook matched: no runbook in scope names this alert"


@pytest.mark.parametrize("severity", ["critical", "warning"])
def test_the_explanation_chooses_what_select_runbook_chooses(severity: Severity) -> None:
    candidates = [
        _rb(GLOBAL, "generic", priority=3),
        _rb("shop", "crit", priority=3, severities=["critical"]),
        _rb("shop", "web", priority=3, labels={"matchLabels": {"app": "web"}}),
        _rb("cart", "other", priority=100),
    ]
    chosen = select_runbook(candidates, labels=LABELS, severity=severity, namespace="shop", global_namespace=GLOBAL)
    explained = explain_selection(
        candidates, labels=LABELS, severity=severity, namespace="shop", global_namespace=GLOBAL
    )

    assert chosen is explained.chosen
    assert explained.message().startswith(f"runbook {chosen.key if chosen else ''} ")
