"""The CRDs on a real API server: bad runbooks are rejected at admission with the field named;
valid ones are accepted and say so in their status; `kubectl get onduty` lists every kind.
"""

from __future__ import annotations

import yaml

from kit import REPO, onduty_cli, wait_for


def test_runbook_with_an_unknown_action_is_rejected_naming_the_field(cluster, namespace):
    manifest = (REPO / "manifests/samples/invalid-runbook.yaml").read_text()
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input_=manifest, check=False)
    assert result.returncode != 0
    assert "spec.remediation.steps[0].action" in result.stderr
    assert 'Unsupported value: "deleteNamespace"' in result.stderr
    assert cluster.get_json("runbooks.onduty.dev", "-n", namespace)["items"] == []


def test_runbook_cel_rule_rejects_a_selector_without_values(cluster, namespace):
    bad = f"""
apiVersion: onduty.dev/v1alpha1
kind: Runbook
metadata: {{name: bad-selector, namespace: {namespace}}}
spec:
  match:
    alertnames: [X]
    labels:
      matchExpressions: [{{key: team, operator: In}}]
"""
    result = cluster.kubectl("apply", "-f", "-", input_=bad, check=False)
    assert result.returncode != 0
    assert "spec.match.labels.matchExpressions[0]" in result.stderr
    assert "values must be non-empty for In and NotIn" in result.stderr


def test_valid_runbook_is_accepted_and_listed_in_the_onduty_category(cluster, namespace, operator):
    sample = (REPO / "manifests/samples/runbook.yaml").read_text()
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_=sample)
    runbook = wait_for(
        lambda: next(
            (
                r
                for r in cluster.get_json("runbooks.onduty.dev", "-n", namespace)["items"]
                if any(c["type"] == "Accepted" for c in (r.get("status") or {}).get("conditions", []))
            ),
            None,
        ),
        what="the runbook's Accepted condition",
    )
    [accepted] = [c for c in runbook["status"]["conditions"] if c["type"] == "Accepted"]
    assert (accepted["status"], accepted["reason"]) == ("True", "Valid")
    assert accepted["observedGeneration"] == runbook["metadata"]["generation"]
    listed = cluster.kubectl("get", "onduty", "-n", namespace).stdout
    assert "runbook.onduty.dev/" in listed


def test_alert_spec_identity_is_immutable(cluster, namespace):
    alert = f"""
apiVersion: onduty.dev/v1alpha1
kind: Alert
metadata: {{name: a1, namespace: {namespace}}}
spec:
  fingerprint: "0123456789abcdef"
  state: resolved
  labels: {{alertname: X}}
  startsAt: "2026-11-28T12:00:00Z"
"""
    cluster.kubectl("apply", "-f", "-", input_=alert)
    refire = cluster.kubectl(
        "patch",
        "alert.onduty.dev",
        "a1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"state":"firing"}}',
        check=False,
    )
    assert refire.returncode != 0 and "cannot fire again" in refire.stderr


def test_every_sample_object_is_accepted_by_the_api_server(cluster, namespace):
    samples = sorted((REPO / "manifests/samples").glob("*.yaml"))
    applied = []
    for path in samples:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        if not docs or docs[0].get("apiVersion") != "onduty.dev/v1alpha1" or path.name.startswith("invalid-"):
            continue
        cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
        applied.append(path.name)
    assert {"runbook.yaml", "runbook-error-rate.yaml", "incident.yaml"} <= set(applied)


def test_every_invalid_sample_is_refused_as_its_comment_says_and_by_onduty_lint(cluster, namespace):
    """The invalid samples quote the API server's answer; it still gives it, and onduty lint refuses them too."""
    invalid = sorted((REPO / "manifests/samples").glob("invalid-*.yaml"))
    assert len(invalid) >= 3
    for path in invalid:
        comment = [line.removeprefix("#").strip() for line in path.read_text().splitlines() if line.startswith("#")]
        quoted = comment[next(i for i, line in enumerate(comment) if line.startswith("$ kubectl apply")) + 1 :]
        result = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
        linted = onduty_cli("lint", str(path))

        assert result.returncode != 0, path.name
        assert quoted and all(line in result.stderr for line in quoted), (path.name, result.stderr)
        assert linted.returncode == 1, (path.name, linted.stdout)
