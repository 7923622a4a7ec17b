"""onduty SIGKILLed at random moments while it remediates, restarted each time: every incident still ends
correct, every restart is applied at most once, nothing is left stuck.

The small configuration of ``make bench-chaos`` (hack/bench_chaos.py), with a fixed seed, so the
benchmark cannot rot and a failure names the seed that replays its schedule. No timing is asserted.
Then what chaos found, made deterministic: a kill between an incident's create and its first status write.
"""

from __future__ import annotations

import json

import pytest

from bench_chaos import ChaosConfig, run_chaos
from kit import apply_manifest, fire_alerts, timeline_reasons, wait_for
from onduty.domain import grouping
from onduty.domain.annotations import GROUP_LABEL
from onduty.domain.workloads import workload_from_labels

# Benchmark smokes with a control plane of their own take turns on one test process (make test runs two):
# two of them at once would each measure the other's load.
pytestmark = pytest.mark.xdist_group("own-control-plane")

SEED = 11


def test_every_incident_ends_correct_and_each_restart_is_applied_at_most_once_across_sigkills(
    cluster, namespace, tmp_path, record_property
):
    config = ChaosConfig(incidents=8, kills=3, seed=SEED, settle_seconds=180)

    result = run_chaos(cluster.kubeconfig, tmp_path, config, namespace=namespace)
    # Figures for the CI log (the "measured" section), not assertions: the machine decides them.
    record_property("incidents a kill interrupted", sum(result.unsettled_at_kill))
    record_property("seconds", result.seconds)

    assert result.violations == [], f"{result.report()}\n{json.dumps(result.evidence, indent=1)}"
    assert result.kills == 3
    assert result.restarts == {f"svc-{i:03d}": 1 for i in range(8)}, result.report()


def test_an_incident_a_crash_left_unopened_is_opened_by_the_alert_that_finds_it_and_counts_it_firing(
    cluster, namespace, operator
):
    labels = {"alertname": "ChaosAlert", "namespace": namespace, "deployment": "web", "severity": "critical"}
    key = grouping.group_key(labels, workload_from_labels(labels, namespace), grouping.DEFAULT_KEYS)
    # What onduty killed between creating the incident and opening it leaves: the object, no status.
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {
                "name": "left-by-a-crash",
                "namespace": namespace,
                "labels": {GROUP_LABEL: grouping.group_hash(key)},
            },
            "spec": {
                "title": "ChaosAlert on web",
                "severity": "critical",
                "source": "alertmanager",
                "groupKey": key,
                "labels": labels,
                "workload": {"kind": "Deployment", "name": "web"},
            },
        },
    )

    fire_alerts(operator.url, labels)  # the alert, delivered again after the restart

    def opened():
        incident = cluster.get_json("incident.onduty.dev", "left-by-a-crash", "-n", namespace)
        return incident if (incident.get("status") or {}).get("openedAt") else None

    incident = wait_for(opened, timeout=60, what="the incident to be opened")
    status = incident["status"]
    # Opened with the alert, in that order, and the alert counted firing: were it counted 0, the first
    # alert of the group to resolve would resolve the incident while others still fire.
    assert timeline_reasons(incident)[:2] == ["IncidentOpened", "AlertJoined"], timeline_reasons(incident)
    assert (status["firingAlerts"], status["totalAlerts"]) == (1, 1)
    names = [i["metadata"]["name"] for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]]
    assert names == ["left-by-a-crash"]
