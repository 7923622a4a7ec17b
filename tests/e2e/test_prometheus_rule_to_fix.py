"""The whole chain with no shortcut: a real Prometheus rule fires on an app's error
rate, a real Alertmanager routes it to the bridge, onduty matches the runbook, checks
the PromQL condition, restarts the workload, the error rate falls, verification on
metrics passes, Alertmanager sends `resolved`, and the incident resolves.

The app is a local process (hack/demo_app.py) standing in for the Deployment's
pods: a watcher plays "the restart fixed it" by dropping its error ratio once the
Deployment's new ReplicaSet is Ready.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from demo_app import DemoApp
from kit import wait_for
from monitoring import Monitoring, create_silence, delete_silence, query, webhook_config

# These tests are about what onduty does when it may act: a policy lets it.
pytestmark = pytest.mark.usefixtures("restart_policy")

RATIO = 'sum(rate(demo_requests_total{code="500"}[3s])) / sum(rate(demo_requests_total[3s]))'


def rules(namespace: str) -> dict:
    return {
        "groups": [
            {
                "name": "demo",
                "rules": [
                    {
                        "alert": "HighErrorRate",
                        "expr": f"{RATIO} > 0.05",
                        "for": "0s",
                        "labels": {"severity": "critical", "namespace": namespace, "deployment": "web"},
                        "annotations": {"summary": "web answers more than 5% errors"},
                    }
                ],
            }
        ]
    }


def runbook(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": {"name": "restart-on-errors", "namespace": namespace},
            "spec": {
                "match": {"alertnames": ["HighErrorRate"]},
                "remediation": {
                    "steps": [
                        {
                            "name": "restart",
                            "action": "rolloutRestart",
                            "condition": {"expr": RATIO, "op": ">", "threshold": 0.05},
                            "verify": {
                                "rolloutHealthyWithin": "1m",
                                "promql": {"expr": RATIO, "op": "<", "threshold": 0.05, "within": "1m"},
                            },
                        }
                    ]
                },
            },
        }
    )


class RestartHeals:
    """Drops the app's error ratio once the Deployment has rolled out a restart by onduty."""

    def __init__(self, cluster, namespace: str, app: DemoApp) -> None:
        self.cluster, self.namespace, self.app = cluster, namespace, app
        self.healed_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            dep = self.cluster.get_json("deployment", "web", "-n", self.namespace)
            restarted = "onduty.dev/action-id" in (dep["spec"]["template"]["metadata"].get("annotations") or {})
            status = dep["status"]
            rolled = (
                status.get("observedGeneration") == dep["metadata"]["generation"]
                and status.get("updatedReplicas") == status.get("availableReplicas") == dep["spec"]["replicas"]
                and status.get("replicas") == dep["spec"]["replicas"]
            )
            if restarted and rolled:
                self.app.set_error_ratio(0.0)
                self.healed_at = time.monotonic()
                return
            self._stop.wait(0.2)

    def __enter__(self) -> RestartHeals:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def stack(cluster, namespace, deployment, operator_factory, tmp_path: Path) -> Iterator[dict]:
    app = DemoApp(port=0, error_ratio=0.5).start()
    operator = operator_factory()  # not started yet: Alertmanager needs its URL
    monitoring = Monitoring.start(
        tmp_path / "monitoring",
        rules=rules(namespace),
        alertmanager_config=webhook_config(operator.url + "/api/v1/alerts"),
        scrape_targets=[app.target],
        # As Kubernetes service discovery labels them: the runbook's PromQL is confined to this namespace.
        target_labels={"namespace": namespace},
    )
    operator.extra_args += [
        "--prometheus-url",
        monitoring.prometheus_url,
        "--alertmanager-url",
        monitoring.alertmanager_url,
    ]
    try:
        yield {"app": app, "operator": operator, "monitoring": monitoring}
    finally:
        monitoring.stop()
        app.stop()


def incident(cluster, namespace: str, predicate, what: str) -> dict:
    try:
        return wait_for(
            lambda: next(
                (i for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"] if predicate(i)), None
            ),
            timeout=120,
            interval=0.25,
            what=what,
        )
    except AssertionError as error:  # say where it stood: its actions and timeline
        seen = [
            {"actions": (i.get("status") or {}).get("actions"), "timeline": (i.get("status") or {}).get("timeline")}
            for i in cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
        ]
        raise AssertionError(f"{error}\n{json.dumps(seen, indent=1)}") from error


def test_prometheus_rule_to_remediation_to_resolution(cluster, namespace, stack, record_property):
    app, operator, monitoring = stack["app"], stack["operator"], stack["monitoring"]
    cluster.kubectl("apply", "-f", "-", input_=runbook(namespace))
    operator.start()
    generation = cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"]

    with RestartHeals(cluster, namespace, app) as healer:
        # Hop 1: the rule fires in Prometheus.
        firing = wait_for(
            lambda: [a for a in monitoring.query('ALERTS{alertname="HighErrorRate",alertstate="firing"}')],
            timeout=60,
            what="the Prometheus rule to fire",
        )
        assert firing[0]["metric"]["namespace"] == namespace

        # Hop 2: Alertmanager delivered it to the bridge; the Alert object says where it came from.
        alert = wait_for(
            lambda: next(iter(cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]), None),
            timeout=60,
            what="Alertmanager's notification to become an Alert",
        )
        assert alert["spec"]["receiver"] == "onduty"
        assert alert["spec"]["externalURL"] == monitoring.alertmanager_url
        assert alert["spec"]["generatorURL"].startswith(monitoring.prometheus_url)
        assert alert["spec"]["labels"]["deployment"] == "web"

        # Hops 3-6: runbook matched, condition checked, restart applied, metrics recovered.
        done = incident(
            cluster,
            namespace,
            lambda i: (i.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded",
            "the remediation to be verified on metrics",
        )
        [action] = done["status"]["actions"]
        verdicts = {v["guardrail"]: v for v in action["verdicts"]}
        assert verdicts["Condition"]["reason"] == "ConditionMet"
        assert RATIO in verdicts["Condition"]["message"]
        assert verdicts["Silence"]["reason"] == "NotSilenced"
        assert action["reason"] == "MetricsRecovered"
        assert healer.healed_at is not None
        after = cluster.get_json("deployment", "web", "-n", namespace)
        assert after["metadata"]["generation"] == generation + 1
        assert [v for v in query(monitoring.prometheus_url, RATIO) if float(v["value"][1]) < 0.05]

        # Hops 7-8: Alertmanager sends `resolved`; the incident resolves.
        resolved = incident(
            cluster, namespace, lambda i: (i.get("status") or {}).get("phase") == "Resolved", "the incident to resolve"
        )
        [stored] = cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
        assert stored["spec"]["state"] == "resolved"

    opened = datetime.fromisoformat(alert["spec"]["startsAt"].replace("Z", "+00:00"))
    closed = datetime.fromisoformat(resolved["status"]["resolvedAt"].replace("Z", "+00:00"))
    seconds = (closed - opened).total_seconds()
    record_property("rule_firing_to_incident_resolved_seconds", seconds)
    assert 0 < seconds < 120


def test_an_alertmanager_silence_holds_automation_until_it_expires(cluster, namespace, stack):
    app, operator, monitoring = stack["app"], stack["operator"], stack["monitoring"]
    silence = create_silence(
        monitoring.alertmanager_url,
        [{"name": "deployment", "value": "web"}, {"name": "namespace", "value": namespace}],
        600,
        "deploying a fix by hand",
        created_by="alice",
    )
    cluster.kubectl("apply", "-f", "-", input_=runbook(namespace))
    operator.start()
    generation = cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"]
    # A silenced alert is not notified, so raise the incident by hand, as a responder would.
    manual = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "web-errors", "namespace": namespace},
        "spec": {
            "title": "web errors",
            "severity": "critical",
            "labels": {"alertname": "HighErrorRate", "deployment": "web"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(manual))
    held = incident(
        cluster,
        namespace,
        lambda i: any(e["reason"] == "AutomationSilenced" for e in (i.get("status") or {}).get("timeline", [])),
        "automation to be held by the silence",
    )
    [entry] = [e for e in held["status"]["timeline"] if e["reason"] == "AutomationSilenced"]
    assert silence in entry["message"] and "alice" in entry["message"]
    assert held["status"].get("actions", []) == []
    assert cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"] == generation

    delete_silence(monitoring.alertmanager_url, silence)
    with RestartHeals(cluster, namespace, app):
        done = incident(
            cluster,
            namespace,
            lambda i: (i.get("status") or {}).get("lastAction") == "rolloutRestart Succeeded",
            "the held restart to run once the silence expired",
        )
    assert {v["guardrail"]: v["reason"] for v in done["status"]["actions"][0]["verdicts"]}["Silence"] == "NotSilenced"
