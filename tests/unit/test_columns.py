"""Short column values: a policy's scope in one line, an incident's runbook link."""

from __future__ import annotations

from typing import Any

import pytest

from onduty.domain.columns import SCOPE_WIDTH, policy_scope, record_runbook_url


@pytest.mark.parametrize(
    ("scope", "shown"),
    [
        pytest.param(None, "all namespaces", id="none"),
        pytest.param({}, "all namespaces", id="empty"),
        pytest.param({"namespaces": ["team-a", "team-b"]}, "ns=team-a,team-b", id="namespaces"),
        pytest.param(
            {
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "workloadSelector": {"matchLabels": {"app": "web"}},
            },
            "ns-labels=env=prod; workloads=app=web",
            id="selectors",
        ),
        pytest.param(
            {
                "namespaces": ["shop"],
                "workloadSelector": {
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["a", "b"]},
                        {"key": "canary", "operator": "DoesNotExist"},
                        {"key": "owner", "operator": "Exists"},
                        {"key": "x", "operator": "NotIn", "values": ["y"]},
                    ]
                },
            },
            "ns=shop; workloads=tier in (a,b),!canary,owner,x notin (y)",
            id="expressions",
        ),
        pytest.param({"namespaceSelector": {}}, "ns-labels=any", id="empty-selector-selects-all"),
    ],
)
def test_a_policy_scope_reads_in_one_short_line(scope: dict[str, Any] | None, shown: str) -> None:
    assert policy_scope(scope) == shown


def test_a_long_scope_is_cut_to_the_column_width() -> None:
    shown = policy_scope({"namespaces": [f"team-{i}" for i in range(30)]})

    assert len(shown) == SCOPE_WIDTH
    assert shown.startswith("ns=team-0,team-1,")
    assert shown.endswith("\u2026")


@pytest.mark.parametrize(
    ("annotations", "kept"),
    [
        pytest.param({"runbook_url": "https://wiki.example.com/rb/web"}, "https://wiki.example.com/rb/web", id="link"),
        pytest.param({"runbook_url": "javascript:alert(1)"}, None, id="not-a-web-link"),
        pytest.param({"runbook_url": "https://a b"}, None, id="spaces"),
        pytest.param({"runbook_url": "https://x/" + "a" * 2048}, None, id="too-long"),
        pytest.param({}, None, id="none"),
    ],
)
def test_the_first_alerts_runbook_link_is_kept(annotations: dict[str, str], kept: str | None) -> None:
    status: dict[str, Any] = {}

    record_runbook_url(status, annotations)

    assert status.get("runbookURL") == kept


def test_a_later_alert_does_not_replace_the_runbook_link() -> None:
    status: dict[str, Any] = {"runbookURL": "https://first"}

    record_runbook_url(status, {"runbook_url": "https://second"})

    assert status["runbookURL"] == "https://first"
