"""After the incident, on a real API server with the operator running: an alert fires, onduty restarts the
workload, the alert resolves. The post-mortem draft lands in a ConfigMap the incident owns and `onduty
postmortem` prints it (and, while an incident is open, the draft so far); `/metrics` counts the incident, the
action, the guardrail verdicts and the time to mitigate and resolve, with the incident's own values."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import onduty_cli, verdicts, wait_for
from onduty.domain import postmortem

pytestmark = pytest.mark.usefixtures("restart_policy")

RUNBOOK = """
apiVersion: onduty.dev/v1alpha1
kind: Runbook
metadata: {{name: restart-on-crashloop, namespace: {namespace}}}
spec:
  match: {{alertnames: [KubePodCrashLooping]}}
  remediation:
    steps:
      - {{name: restart, action: rolloutRestart, verify: {{rolloutHealthyWithin: 2m}}}}
"""


def labels(namespace: str) -> dict[str, str]:
    return {"alertname": "KubePodCrashLooping", "namespace": namespace, "deployment": "web", "severity": "critical"}


def incident_where(cluster, namespace: str, predicate, what: str) -> dict:
    def probe():
        items = [i for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"] if predicate(i)]
        return items[0] if len(items) == 1 else None

    return wait_for(probe, timeout=90, what=what)


def test_a_resolved_incident_leaves_its_post_mortem_draft_beside_it(cluster, namespace, deployment, operator):
    cluster.kubectl("apply", "-f", "-", input_=RUNBOOK.format(namespace=namespace))
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    firing = am_alert(labels(namespace), starts_at=started)
    assert post_json(operator.url + "/api/v1/alerts", am_payload(firing))[0] == 200
    incident = incident_where(
        cluster, namespace, lambda i: (i.get("status") or {}).get("phase") == "Mitigated", "the restart verified"
    )
    name = incident["metadata"]["name"]
    kube = ["--kubeconfig", str(cluster.kubeconfig)]

    so_far = onduty_cli("postmortem", name, "-n", namespace, *kube)
    assert so_far.returncode == 0, so_far.stderr
    assert so_far.stdout.startswith("# Post-mortem: ")
    assert "_Draft so far as of " in so_far.stdout and "phase Mitigated: still open._" in so_far.stdout
    assert "| Resolved | not yet | — |" in so_far.stdout

    resolved = am_alert(labels(namespace), starts_at=started, status="resolved", ends_at=datetime.now(UTC))
    assert post_json(operator.url + "/api/v1/alerts", am_payload(resolved))[0] == 200
    incident = incident_where(
        cluster, namespace, lambda i: (i.get("status") or {}).get("postmortem"), "the post-mortem draft written"
    )
    status = incident["status"]
    assert status["phase"] == "Resolved"
    record = status["postmortem"]
    assert record["configMap"] == f"{name}-postmortem" and record["key"] == "postmortem.md"
    assert "PostmortemWritten" in [e["reason"] for e in status["timeline"]]

    configmap = cluster.get_json("configmap", record["configMap"], "-n", namespace)
    [owner] = configmap["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Incident", name, incident["metadata"]["uid"])
    text = configmap["data"]["postmortem.md"]
    assert len(text.encode()) == record["bytes"]
    assert f"from incident `{namespace}/{name}`" in text and "when it resolved" in text
    assert f"| Impact started (first alert's startsAt) | {started.strftime('%Y-%m-%dT%H:%M:%SZ')} | — |" in text
    assert "time to detect " in text and "time to mitigate " in text and "time to resolve " in text
    assert "### restart: rolloutRestart of Deployment/web — Succeeded" in text
    assert "| AllowedActions | allowed | ActionAllowed |" in text
    for heading in ("## Root cause", "## Trigger", "### What went well", "## Action items"):
        assert heading in text

    printed = onduty_cli("postmortem", name, "-n", namespace, *kube)
    again = onduty_cli("postmortem", name, "-n", namespace, *kube)
    assert printed.returncode == 0 and printed.stdout == text == again.stdout

    # /metrics: the values of this incident, not only the names.
    samples = scrape(operator.url)
    assert samples[("onduty_incidents", (("phase", "Resolved"), ("severity", "critical")))] == 1
    assert samples[("onduty_actions_total", (("action", "rolloutRestart"), ("result", "Succeeded")))] == 1
    [action] = status["actions"]
    for verdict in verdicts(action):
        key = (("allowed", "true"), ("guardrail", verdict["guardrail"]), ("reason", verdict["reason"]))
        assert samples[("onduty_guardrail_verdicts_total", key)] >= 1, verdict
    times = postmortem.key_times(incident)
    for measure, start, end in (
        ("mitigate", times.started, times.mitigated),
        ("resolve", times.started, times.resolved),
    ):
        assert samples[(f"onduty_time_to_{measure}_seconds_count", (("severity", "critical"),))] == 1
        observed = samples[(f"onduty_time_to_{measure}_seconds_sum", (("severity", "critical"),))]
        assert observed == (end - start).total_seconds()
    assert samples[("onduty_time_to_resolve_seconds_bucket", (("le", "60.0"), ("severity", "critical")))] == 0
    assert samples[("onduty_time_to_resolve_seconds_bucket", (("le", "300.0"), ("severity", "critical")))] == 1

    # Deleting the incident deletes its draft (the garbage collector follows the owner reference).
    cluster.kubectl("delete", "incident.onduty.dev", name, "-n", namespace)
    wait_for(
        lambda: (
            cluster.kubectl("get", "configmap", record["configMap"], "-n", namespace, check=False).returncode != 0
            or None
        ),
        timeout=60,
        what="the draft deleted with its incident",
    )


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_postmortem_of_a_missing_incident_is_one_line(cluster, namespace):
    result = onduty_cli("postmortem", "nothing-here", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("onduty: error: ") and "nothing-here" in line


def test_a_configmap_of_the_drafts_name_that_is_not_the_incidents_is_never_taken_for_the_draft(
    cluster, namespace, operator
):
    """Whoever may create ConfigMaps in the namespace cannot pass their text off as onduty's draft."""
    name = "checkout-down"
    cluster.kubectl(
        "create",
        "configmap",
        f"{name}-postmortem",
        "-n",
        namespace,
        "--from-literal=postmortem.md=all fine, nothing to see",
    )
    incident = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"title": "checkout down", "severity": "critical"},
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(incident))
    kube = ["--kubeconfig", str(cluster.kubeconfig)]
    wait_for(lambda: cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status"), what="the incident")
    resolved = onduty_cli("resolve", name, "-n", namespace, "--reason", "fixed by hand", *kube)
    assert resolved.returncode == 0, resolved.stderr

    status = incident_where(
        cluster, namespace, lambda i: (i.get("status") or {}).get("postmortem"), "the post-mortem outcome"
    )["status"]

    assert status["postmortem"]["error"].startswith(f"ConfigMap {name}-postmortem already exists and is not")
    assert "PostmortemNotWritten" in [e["reason"] for e in status["timeline"]]
    kept = cluster.get_json("configmap", f"{name}-postmortem", "-n", namespace)
    assert kept["data"] == {"postmortem.md": "all fine, nothing to see"}
    printed = onduty_cli("postmortem", name, "-n", namespace, *kube)
    assert printed.returncode == 0 and printed.stdout.startswith("# Post-mortem: checkout down")
    assert "nothing to see" not in printed.stdout
