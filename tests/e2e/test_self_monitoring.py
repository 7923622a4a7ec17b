"""onduty's own alerts pass `promtool test rules`; every alert and dashboard query parses as PromQL; the
chart ships exactly these files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

import controlplane
from kit import REPO, helm_template

RULES = REPO / "charts/onduty/files/prometheus-rules.yaml"
DASHBOARD = REPO / "charts/onduty/files/grafana-dashboard.json"
PROMTOOL = "/usr/bin/promtool"


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def test_the_self_alerts_pass_their_promtool_unit_tests() -> None:
    result = promtool("test", "rules", "onduty-rules.test.yaml", cwd=REPO / "tests/monitoring")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_dashboard_query_parses_as_promql(tmp_path: Path) -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    rules = [{"record": f"onduty:dashboard_query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    checked = promtool("check", "rules", str(path))
    rules_checked = promtool("check", "rules", str(RULES))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in checked.stdout
    assert rules_checked.returncode == 0, rules_checked.stdout + rules_checked.stderr


def test_the_chart_ships_these_rules_and_this_dashboard(tmp_path: Path) -> None:
    helm = controlplane.find_binaries() / "helm"
    enable = ("--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
    rendered = helm_template(helm, tmp_path, "onduty", "onduty-system", *enable)
    [rule] = [d for d in rendered if d["kind"] == "PrometheusRule"]
    [dashboard] = [d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert json.loads(dashboard["data"]["onduty.json"]) == json.loads(DASHBOARD.read_text())
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    plain = helm_template(helm, tmp_path, "onduty", "onduty-system")
    assert not [d for d in plain if d["kind"] == "PrometheusRule" or d["metadata"]["name"].endswith("-dashboard")]
