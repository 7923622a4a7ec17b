"""Diagnostic specs: each type's defaults and bounds, read as the API server reads them."""

from __future__ import annotations

from typing import Any

import pytest

from onduty.domain import diagnostics as d
from onduty.domain.runbooks import RunbookError, parse_runbook


def _runbook(*diagnostics: dict[str, Any]) -> Any:
    return parse_runbook({"match": {"alertnames": ["X"]}, "diagnostics": list(diagnostics)})


def test_a_runbook_without_diagnostics_has_none() -> None:
    assert parse_runbook({"match": {"alertnames": ["X"]}}).diagnostics == ()


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"name": "logs", "type": "podLogs"},
            {"tail_lines": 50, "previous": False, "max_pods": 3, "container": None, "timeout_seconds": 10},
        ),
        ({"name": "ev", "type": "events"}, {"limit": 20, "target": None}),
        ({"name": "rs", "type": "rolloutHistory"}, {"limit": 10}),
        ({"name": "helm", "type": "helmHistory"}, {"release": None, "limit": 10}),
        ({"name": "argo", "type": "argoHistory", "application": "shop"}, {"namespace": "argocd", "limit": 10}),
        ({"name": "cfg", "type": "configChanges"}, {"within_minutes": 60}),
        ({"name": "q", "type": "promql", "expr": "up"}, {"window": None, "step": None}),
        ({"name": "http", "type": "httpCheck", "service": "web"}, {"port": None, "path": "/"}),
    ],
)
def test_each_type_gets_its_documented_defaults(item: dict[str, Any], expected: dict[str, Any]) -> None:
    [spec] = _runbook(item).diagnostics

    assert spec.type == item["type"]
    assert {k: getattr(spec, k) for k in expected} == expected


def test_fields_of_another_type_are_ignored_not_fatal() -> None:
    [spec] = _runbook({"name": "logs", "type": "podLogs", "expr": "up", "service": "web"}).diagnostics

    assert isinstance(spec, d.PodLogs)


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"name": "q", "type": "promql"}], "spec.diagnostics[0].promql.expr"),
        ([{"name": "h", "type": "httpCheck"}], "spec.diagnostics[0].httpCheck.service"),
        ([{"name": "a", "type": "argoHistory"}], "spec.diagnostics[0].argoHistory.application"),
        ([{"name": "l", "type": "podLogs", "tailLines": 501}], "spec.diagnostics[0].podLogs.tailLines"),
        ([{"name": "l", "type": "podLogs", "timeoutSeconds": 61}], "spec.diagnostics[0].podLogs.timeoutSeconds"),
        ([{"name": "Bad_Name", "type": "events"}], "spec.diagnostics[0].events.name"),
        ([{"name": "x", "type": "shell"}], "spec.diagnostics[0]"),
        ([{"name": "q", "type": "promql", "expr": "up", "range": "169h"}], "spec.diagnostics[0].promql.range"),
        ([{"name": "q", "type": "promql", "expr": "up", "range": "soon"}], "spec.diagnostics[0].promql.range"),
        ([{"name": "h", "type": "httpCheck", "service": "w", "path": "health"}], "spec.diagnostics[0].httpCheck.path"),
        ([{"name": "a", "type": "events"}, {"name": "a", "type": "podStatus"}], "names must be unique"),
        ([{"name": f"d{i}", "type": "events"} for i in range(21)], "at most 20 items"),
    ],
)
def test_invalid_diagnostics_are_refused_naming_the_field(items: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(RunbookError) as raised:
        _runbook(*items)

    assert field in str(raised.value)


@pytest.mark.parametrize(
    ("window", "step", "seconds"),
    [
        ("15m", None, 15.0),  # 60 steps over the window
        ("1h", None, 60.0),
        ("30s", None, 1.0),  # never below one second
        ("15m", "5s", 5.0),
        ("168h", "1s", 604.8),  # Prometheus's point limit: at most 1000 points
    ],
)
def test_the_range_query_step_keeps_the_points_bounded(window: str, step: str | None, seconds: float) -> None:
    spec = d.PromQL(name="q", type="promql", expr="up", window=window, step=step)

    assert spec.step_seconds == pytest.approx(seconds)


def test_the_sample_runbook_parses_with_every_diagnostic_type_but_argo() -> None:
    import yaml

    from kit import REPO

    sample = yaml.safe_load((REPO / "manifests/samples/runbook-diagnostics.yaml").read_text())

    spec = parse_runbook(sample["spec"])

    assert {s.type for s in spec.diagnostics} == set(d.TYPES) - {"argoHistory"}
    [promql] = [s for s in spec.diagnostics if isinstance(s, d.PromQL)]
    assert (promql.window, promql.step_seconds) == ("30m", 30.0)
