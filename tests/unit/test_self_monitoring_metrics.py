"""onduty's own alerts and dashboard query only metrics onduty really exports.

The exported names come from the metric objects themselves (the bridge's, the
escalation's and the operator's), registered in one registry as `onduty run`
registers them, so a renamed metric fails here, not on a blank dashboard.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from onduty.bridge.app import _Metrics as BridgeMetrics
from onduty.services.escalation import Metrics as EscalationMetrics
from onduty.services.metrics import OperatorMetrics

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts/onduty/files/prometheus-rules.yaml"
DASHBOARD = REPO / "charts/onduty/files/grafana-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    registry = CollectorRegistry()
    BridgeMetrics(registry)
    EscalationMetrics(registry)
    OperatorMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def metrics_in(expr: str) -> set[str]:
    return set(re.findall(r"\bonduty_[a-zA-Z0-9_]+", expr))


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_the_names_are_the_exported_ones() -> None:
    names = exported()
    assert {"onduty_incidents", "onduty_actions_total", "onduty_time_to_resolve_seconds_bucket"} <= names


def test_every_dashboard_query_uses_only_exported_metrics() -> None:
    names = exported()
    for expr in dashboard_exprs():
        used = metrics_in(expr)
        assert used, f"no onduty metric in {expr!r}"
        assert used <= names, f"{expr!r} uses {sorted(used - names)}, which onduty does not export"


def test_every_self_alert_uses_only_exported_metrics() -> None:
    names = exported()
    exprs = rule_exprs()
    assert len(exprs) == 4
    for expr in exprs:
        used = metrics_in(expr)
        assert used and used <= names, f"{expr!r} uses {sorted(used - names)}"


def test_the_dashboard_covers_what_the_issue_of_operating_onduty_needs() -> None:
    used = set().union(*(metrics_in(e) for e in dashboard_exprs()))
    for needed in (
        "onduty_bridge_alerts_total",
        "onduty_incidents",
        "onduty_actions_total",
        "onduty_guardrail_verdicts_total",
        "onduty_notifications_total",
        "onduty_escalation_pages_total",
        "onduty_reconcile_errors_total",
        "onduty_time_to_acknowledge_seconds_bucket",
        "onduty_time_to_mitigate_seconds_bucket",
        "onduty_time_to_resolve_seconds_bucket",
    ):
        assert needed in used, needed
