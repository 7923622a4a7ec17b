"""``onduty lint`` refuses exactly what the API server refuses, and the API server says why in examples.

Each file below is a mistake people make when they write runbooks and
policies (or, for ``1d``, something that is no mistake any more). It goes to
the real API server (``kubectl apply --dry-run=server``) and to ``onduty lint``;
both must give the same answer, and a refusal from the API server must read as
an example, never as the regular expression behind it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kit import REPO, get_deployment, open_step_incident, step_outcome

POLICY = """\
apiVersion: onduty.dev/v1alpha1
kind: RemediationPolicy
metadata:
  name: authoring-{name}
spec:
  allowedActions: [scale]
  maintenanceWindows:
    - cron: "{cron}"
      duration: {duration}
"""
RUNBOOK = """\
apiVersion: onduty.dev/v1alpha1
kind: {kind}
metadata:
  name: authoring-runbook
spec:
  match:
    alertnames: [HighLatency]
  remediation:
    steps:
      - name: scale-out
        action: scale
        {scale}
        cooldown: {cooldown}
"""
ESCALATION = """\
apiVersion: onduty.dev/v1alpha1
kind: EscalationPolicy
metadata:
  name: authoring-escalation
spec:
  levels:
    - ackTimeout: {timeout}
      notifiers: [pager]
"""
CRON_EXAMPLE = "must be five cron fields such as '0 2 * * 6' (Saturdays 02:00)"
DURATION_EXAMPLE = "must be a duration such as 90s, 10m, 1h30m or 1d"

CASES = [
    # (id, manifest, accepted, what the API server's refusal says)
    ("cron-saturday-by-name", POLICY.format(name="sat", cron="0 2 * * Sat", duration="2h"), False, CRON_EXAMPLE),
    ("cron-four-fields", POLICY.format(name="four", cron="0 2 * *", duration="2h"), False, CRON_EXAMPLE),
    ("cron-hour-25", POLICY.format(name="hour", cron="0 25 * * *", duration="2h"), False, CRON_EXAMPLE),
    ("cron-shorthand", POLICY.format(name="daily", cron="@daily", duration="2h"), False, CRON_EXAMPLE),
    ("window-of-a-day", POLICY.format(name="day", cron="0 2 * * 6", duration="1d"), True, None),
    ("window-in-words", POLICY.format(name="words", cron="0 2 * * 6", duration="2 hours"), False, DURATION_EXAMPLE),
    (
        "cooldown-of-a-day-and-a-half",
        RUNBOOK.format(kind="Runbook", scale="factor: 2", cooldown="1d12h"),
        True,
        None,
    ),
    (
        "cooldown-in-words",
        RUNBOOK.format(kind="Runbook", scale="factor: 2", cooldown="5 minutes"),
        False,
        DURATION_EXAMPLE,
    ),
    (
        "scale-min-above-max",
        RUNBOOK.format(
            kind="Runbook", scale="factor: 2\n        minReplicas: 10\n        maxReplicas: 2", cooldown="15m"
        ),
        False,
        "minReplicas must not exceed maxReplicas",
    ),
    (
        "scale-replicas-above-max",
        RUNBOOK.format(kind="Runbook", scale="replicas: 20\n        maxReplicas: 10", cooldown="15m"),
        False,
        "replicas must lie between minReplicas and maxReplicas",
    ),
    ("kind-typo", RUNBOOK.format(kind="RunBook", scale="factor: 2", cooldown="15m"), False, "RunBook"),
    ("ack-timeout-of-a-day", ESCALATION.format(timeout="1d"), True, None),
    ("ack-timeout-of-zero-days", ESCALATION.format(timeout="0d"), False, "must be longer than 0s"),
]


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onduty.cli", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _dry_run(cluster, namespace: str, manifest: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input_=manifest, check=False)


@pytest.mark.parametrize(("manifest", "accepted", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lint_refuses_exactly_what_the_api_server_refuses(
    cluster, namespace, tmp_path: Path, manifest: str, accepted: bool, says: str | None
) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(manifest)

    api = _dry_run(cluster, namespace, manifest)
    lint = _lint(path)

    api_said = (api.stdout + api.stderr).strip()
    assert (api.returncode == 0, lint.returncode == 0) == (accepted, accepted), (
        f"API server: {api_said}\nlint: {lint.stderr}"
    )
    if not accepted:
        assert says is not None and says in api_said
        assert "should match" not in api_said and "[0-9]" not in api_said  # an example, not the expression
        assert len(lint.stderr.strip().splitlines()) == 1  # one line, naming the file and the object
        assert lint.stderr.startswith(f"{path}: ")


def test_lint_suggests_the_fix_for_a_day_written_by_name(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(name="sat", cron="0 2 * * Sat", duration="2h"))

    lint = _lint(path)

    assert lint.returncode == 1
    assert lint.stderr.strip().endswith("; write '0 2 * * 6'")


def test_lint_names_the_kind_a_typo_means(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(RUNBOOK.format(kind="RunBook", scale="factor: 2", cooldown="15m"))

    lint = _lint(path)

    assert lint.stderr.strip() == (
        f"{path}: RunBook authoring-runbook: unknown kind RunBook in onduty.dev/v1alpha1; did you mean Runbook?"
    )


def _onduty_objects(sample: Path) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(sample.read_text()) if d is not None]
    return [d for d in docs if isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("onduty.dev/")]


# Every sample holding an onduty.dev object (alertmanager-receiver.yaml and prometheus-rules.yaml are
# Alertmanager's and Prometheus's files, not Kubernetes objects: promtool and amtool judge those).
SAMPLES = [s for s in sorted((REPO / "manifests" / "samples").glob("*.yaml")) if _onduty_objects(s)]


def test_the_samples_judged_here_are_all_but_the_monitoring_files() -> None:
    every = {s.name for s in (REPO / "manifests" / "samples").glob("*.yaml")}
    assert every - {s.name for s in SAMPLES} == {"alertmanager-receiver.yaml", "prometheus-rules.yaml"}


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_lint_and_the_api_server_agree_on_every_sample(cluster, namespace, sample: Path) -> None:
    """The invalid-* samples fail on both sides, the others pass on both; objects of other groups are skipped."""
    ours = _onduty_objects(sample)
    for doc in ours:
        doc.get("metadata", {}).pop("namespace", None)  # the test's namespace, for a namespaced kind

    api = [_dry_run(cluster, namespace, yaml.safe_dump(doc)) for doc in ours]
    lint = _lint(sample)

    refused = sample.name.startswith("invalid-")
    assert [result.returncode != 0 for result in api] == [refused] * len(ours), [r.stderr for r in api]
    assert (lint.returncode != 0) is refused, lint.stderr


def test_a_factor_nobody_bounded_scales_only_to_onduty_s_default_cap(cluster, namespace, deployment, operator) -> None:
    """Factor 10 with no maxReplicas anywhere once took 2 replicas to 20; the default cap stops at 4, and says so."""
    name = open_step_incident(cluster, namespace, {"action": "scale", "factor": 10})

    action = step_outcome(cluster, namespace, name)

    assert (action["state"], action["details"]) == ("Succeeded", {"from": 2, "to": 4})
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 4
    said = json.dumps(cluster.get_json("incident.onduty.dev", name, "-n", namespace)["status"])
    assert "no maxReplicas in the step or any RemediationPolicy: onduty's default cap of 4 replicas" in said
