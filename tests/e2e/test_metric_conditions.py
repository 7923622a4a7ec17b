"""PromQL conditions and metric verification on a real Prometheus, and Alertmanager silences with
regex and negative matchers on a real Alertmanager, judged through a running operator.

The README: "A condition holds if any returned series satisfies it; no data is 'no' [...]
Verification needs every series to satisfy it within `within`", and "an active Alertmanager silence
matching the incident's labels holds automation until it ends". Alertmanager itself is the judge of
what a silence matches: each case asks it (GET /api/v2/alerts) before asking onduty.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_app import DemoApp
from kit import get_deployment, incident_where, timeline_reasons, verdict_reasons, wait_for
from kit import verdicts as all_verdicts
from monitoring import Monitoring, alerts, create_silence, push_alerts, webhook_config
from processes import free_port

# Each test is about what onduty does when it may act: a policy lets it restart.
pytestmark = pytest.mark.usefixtures("restart_policy")

RATIO = 'sum(rate(demo_requests_total{code="500"}[3s])) / sum(rate(demo_requests_total[3s]))'


def runbook(namespace: str, step: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": "errors", "namespace": namespace},
        "spec": {
            "match": {"alertnames": ["HighErrorRate"]},
            "remediation": {"steps": [{"name": "restart", "action": "rolloutRestart", **step}]},
        },
    }


def incident(cluster, namespace: str) -> str:
    """A responder's incident, made by hand: labels as the alert would carry them (onduty adds the namespace)."""
    name = f"web-errors-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "title": "web errors",
            "severity": "critical",
            "labels": {"alertname": "HighErrorRate", "deployment": "web", "severity": "critical"},
            "workload": {"kind": "Deployment", "name": "web"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(body))
    return name


def apply(cluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(obj))


def finished(name: str):
    def probe(i: dict[str, Any]) -> bool:
        actions = (i.get("status") or {}).get("actions") or []
        return (
            i["metadata"]["name"] == name
            and bool(actions)
            and actions[0]["state"] in ("Succeeded", "Failed", "Denied")
            and i["status"].get("phase") in ("Mitigated", "Escalated")
        )

    return probe


# --- PromQL conditions and verification ------------------------------------------------------------------


@pytest.fixture
def metrics(cluster, namespace, deployment, operator_factory, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo app (no errors yet) scraped by Prometheus as the namespace's series; onduty not started."""
    app = DemoApp(port=0, error_ratio=0.0).start()
    operator = operator_factory()
    monitoring = Monitoring.start(
        tmp_path / "monitoring",
        rules={"groups": []},
        alertmanager_config=webhook_config(operator.url + "/api/v1/alerts"),
        scrape_targets=[app.target],
        target_labels={"namespace": namespace},
    )
    operator.extra_args += ["--prometheus-url", monitoring.prometheus_url]
    try:
        yield {"app": app, "operator": operator, "monitoring": monitoring}
    finally:
        monitoring.stop()
        app.stop()


def ratio_is(monitoring: Monitoring, wanted: float) -> bool:
    """The error ratio is ``wanted``: there is data, and it is that. (Prometheus scrapes only the demo app,
    as the test namespace's series, so this is what onduty's confined query sees too.)"""
    values = [float(v["value"][1]) for v in monitoring.query(RATIO)]
    return values == [pytest.approx(wanted, abs=0.02)]


def test_a_condition_that_is_false_denies_the_action(cluster, namespace, metrics):
    monitoring, operator = metrics["monitoring"], metrics["operator"]
    wait_for(lambda: ratio_is(monitoring, 0.0), timeout=60, what="an error ratio of 0 in Prometheus")
    apply(cluster, runbook(namespace, {"condition": {"expr": RATIO, "op": ">", "threshold": 0.05}}))
    operator.start()
    before = get_deployment(cluster, namespace)["metadata"]["generation"]

    name = incident(cluster, namespace)
    done = incident_where(cluster, namespace, finished(name), "the condition to be judged")

    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"]) == ("Denied", "ConditionNotMet"), action
    [condition] = [v for v in all_verdicts(action) if v["guardrail"] == "Condition"]
    assert condition["message"] == f"{RATIO} = 0, not > 0.05"
    assert get_deployment(cluster, namespace)["metadata"]["generation"] == before


def test_an_expression_with_no_series_does_not_hold(cluster, namespace, metrics):
    monitoring, operator = metrics["monitoring"], metrics["operator"]
    nothing = 'sum(rate(demo_requests_total{code="503"}[3s]))'  # the app never answers 503: no series
    wait_for(lambda: ratio_is(monitoring, 0.0), timeout=60, what="the app's series in Prometheus")
    assert monitoring.query(nothing) == []
    # "< 1" would hold for a 0: only reading no data as "no" keeps the action from running.
    apply(cluster, runbook(namespace, {"condition": {"expr": nothing, "op": "<", "threshold": 1}}))
    operator.start()
    before = get_deployment(cluster, namespace)["metadata"]["generation"]

    name = incident(cluster, namespace)
    done = incident_where(cluster, namespace, finished(name), "the condition to be judged")

    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"]) == ("Denied", "ConditionNotMet"), action
    [condition] = [v for v in all_verdicts(action) if v["guardrail"] == "Condition"]
    assert condition["message"] == f"no data for {nothing!r}"
    assert get_deployment(cluster, namespace)["metadata"]["generation"] == before


def test_verification_on_metrics_that_stay_bad_fails_and_escalates(cluster, namespace, metrics):
    app, monitoring, operator = metrics["app"], metrics["monitoring"], metrics["operator"]
    app.set_error_ratio(0.5)  # and nothing heals it: the restart does not help
    wait_for(lambda: ratio_is(monitoring, 0.5), timeout=60, what="an error ratio of 0.5 in Prometheus")
    step = {
        "condition": {"expr": RATIO, "op": ">", "threshold": 0.05},
        "verify": {
            "rolloutHealthyWithin": "1m",
            "promql": {"expr": RATIO, "op": "<", "threshold": 0.05, "within": "5s"},
        },
    }
    apply(cluster, runbook(namespace, step))
    operator.start()
    before = get_deployment(cluster, namespace)["metadata"]["generation"]

    name = incident(cluster, namespace)
    done = incident_where(cluster, namespace, finished(name), "verification to give up", timeout=120)

    [action] = done["status"]["actions"]
    assert (action["state"], action["reason"]) == ("Failed", "MetricsNotRecovered"), action
    assert verdict_reasons(action)["Condition"] == "ConditionMet"
    why, last = action["message"].split(f"; metrics did not recover within 5s: {RATIO} = ")
    value, verdict = last.split(", ", 1)
    assert float(value) == pytest.approx(0.5, abs=0.05)  # the last value seen: still about half the requests fail
    assert verdict == "not yet < 0.05"
    assert why.startswith("all 2 replicas updated and available")  # the rollout itself was healthy
    assert done["status"]["phase"] == "Escalated"
    assert any(c["type"] == "EscalationRequired" and c["status"] == "True" for c in done["status"]["conditions"])
    assert get_deployment(cluster, namespace)["metadata"]["generation"] == before + 1  # the restart did happen


# --- silences with regex and negative matchers -----------------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    """A real Alertmanager (and an idle Prometheus) shared by the module: each test's silences name its namespace."""
    monitoring = Monitoring.start(
        tmp_path_factory.mktemp("silences"),
        rules={"groups": []},
        alertmanager_config=webhook_config(f"http://127.0.0.1:{free_port()}/unused"),
        scrape_targets=[],
    )
    try:
        yield monitoring
    finally:
        monitoring.stop()


def silenced_by_alertmanager(url: str, labels: dict[str, str]) -> list[str]:
    """The silences Alertmanager itself says mute an alert with exactly these labels."""
    push_alerts(url, [{"labels": labels, "annotations": {"summary": "matcher probe"}}])
    found = wait_for(
        lambda: next((a for a in alerts(url) if a["labels"] == labels), None), timeout=30, what="the probe alert"
    )
    return list(found["status"]["silencedBy"])


@pytest.mark.parametrize(
    ("matchers", "holds"),
    [
        pytest.param([{"name": "deployment", "value": "we.*", "isRegex": True}], True, id="regex-matches"),
        pytest.param([{"name": "deployment", "value": "e", "isRegex": True}], False, id="regex-is-anchored"),
        pytest.param([{"name": "deployment", "value": "api", "isEqual": False}], True, id="not-equal-to-another"),
        pytest.param([{"name": "deployment", "value": "web", "isEqual": False}], False, id="not-equal-to-itself"),
        pytest.param(
            [{"name": "deployment", "value": "api|db", "isRegex": True, "isEqual": False}], True, id="negative-regex"
        ),
        pytest.param(
            [{"name": "deployment", "value": "w.*", "isRegex": True, "isEqual": False}], False, id="negative-regex-hit"
        ),
        pytest.param([{"name": "team", "value": "payments", "isEqual": False}], True, id="absent-label-is-empty"),
        pytest.param([{"name": "severity", "value": "Critical"}], False, id="values-are-case-sensitive"),
    ],
)
def test_a_silence_holds_an_incident_exactly_when_alertmanager_matches_it(
    cluster, namespace, deployment, operator_factory, alertmanager, matchers, holds
):
    url = alertmanager.alertmanager_url
    # The namespace matcher keeps each silence to its own test (and satisfies Alertmanager's rule that
    # a silence must not match every alert).
    silence = create_silence(url, [*matchers, {"name": "namespace", "value": namespace}], 600, "matcher test")
    labels = {"alertname": "HighErrorRate", "deployment": "web", "severity": "critical", "namespace": namespace}
    assert (silence in silenced_by_alertmanager(url, labels)) is holds  # Alertmanager's own verdict
    apply(cluster, runbook(namespace, {}))
    operator_factory(extra_args=["--alertmanager-url", url]).start()
    generation = get_deployment(cluster, namespace)["metadata"]["generation"]

    name = incident(cluster, namespace)

    if holds:
        held = incident_where(
            cluster, namespace, lambda i: "AutomationSilenced" in timeline_reasons(i), "the silence to hold automation"
        )
        [entry] = [e for e in held["status"]["timeline"] if e["reason"] == "AutomationSilenced"]
        assert entry["message"].startswith(
            f"automation held: Alertmanager silence {silence} by onduty-tests covers this incident: matcher test;"
            " rolloutRestart of Deployment/web runs when the silence is lifted or ends ("  # the silence's end
        )
        [waiting] = held["status"]["actions"]  # recorded as held, not run
        assert (waiting["state"], waiting["held"]["reason"], held["status"]["phase"]) == ("Pending", "Silenced", "Held")
        assert get_deployment(cluster, namespace)["metadata"]["generation"] == generation
    else:
        done = incident_where(cluster, namespace, finished(name), "the restart the silence does not cover")
        [action] = done["status"]["actions"]
        assert action["state"] == "Succeeded", action
        assert verdict_reasons(action)["Silence"] == "NotSilenced"
        assert "AutomationSilenced" not in timeline_reasons(done)
        assert get_deployment(cluster, namespace)["metadata"]["generation"] == generation + 1
