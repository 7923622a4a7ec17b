"""The monitoring samples in manifests/ are valid for the real tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from kit import REPO


def test_sample_prometheus_rules_pass_promtool(tmp_path: Path):
    rule = yaml.safe_load((REPO / "manifests/samples/prometheus-rules.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        ["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rules found" in result.stdout


def test_sample_alertmanager_receiver_passes_amtool(tmp_path: Path):
    config = yaml.safe_load((REPO / "manifests/samples/alertmanager-receiver.yaml").read_text())
    config["route"]["receiver"] = "onduty"  # a complete config needs a default receiver
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config))
    result = subprocess.run(["amtool", "check-config", str(config_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
