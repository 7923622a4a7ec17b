"""Alerts reaching incidents, on a real API server with onduty running.

Alert identity follows the fingerprint's firing episode: what an Alertmanager
HA pair sends for one alert — firing deliveries whose ``startsAt`` differ, a
resolution with yet another, a late firing after it, a re-fire later — makes
one Alert per episode, and each episode's incident resolves. The Alert CRD's
rules hold the episode's identity.

A group larger than an incident lists (600 alerts, and Alertmanager cutting
more) is counted exactly in a bounded status, every Alert is linked, and the
incident says what Alertmanager left out. An alert the API server refuses to
record for good says why, and is not retried in a loop.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from alertmanager_webhook import am_alert, am_payload, fingerprint, post_json
from kit import wait_for
from onduty.domain.times import rfc3339


def labels(namespace: str) -> dict[str, str]:
    return {"alertname": "KubePodCrashLooping", "namespace": namespace, "deployment": "web", "severity": "warning"}


def alerts_in(cluster, namespace):
    return {a["metadata"]["name"]: a for a in cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]}


def incidents_in(cluster, namespace):
    return cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]


def test_an_ha_pair_s_deliveries_make_one_alert_per_episode_and_each_incident_resolves(cluster, namespace, operator):
    url = operator.url + "/api/v1/alerts"
    now = datetime.now(UTC).replace(microsecond=0)
    t0, t1, t2, ended = now - timedelta(minutes=9), now - timedelta(minutes=8), now - timedelta(minutes=5), now
    first_name = f"kubepodcrashlooping-{fingerprint(labels(namespace))}-1"

    # Prometheus A says the alert started at t1, its HA peer B at t0; two Alertmanagers deliver both at once.
    firing = [am_payload(am_alert(labels(namespace), starts_at=start)) for start in (t1, t0, t1, t0)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda payload: post_json(url, payload), firing))
    assert {code for code, _ in answers} == {200}
    assert sum(body["created"] for _, body in answers) == 1
    incident = wait_for(
        lambda: next(
            (i for i in incidents_in(cluster, namespace) if (i.get("status") or {}).get("firingAlerts")), None
        ),
        what="the incident of episode 1",
    )
    assert list(alerts_in(cluster, namespace)) == [first_name]
    assert alerts_in(cluster, namespace)[first_name]["spec"]["startsAt"] == rfc3339(t0)

    # The resolution carries yet another start (what real Alertmanagers were seen to send).
    resolved = am_alert(labels(namespace), starts_at=t2, status="resolved", ends_at=ended)
    code, body = post_json(url, am_payload(resolved))
    assert (code, body["created"], body["updated"]) == (200, 0, 1)
    wait_for(
        lambda: incidents_in(cluster, namespace)[0]["status"].get("phase") == "Resolved",
        what="the incident of episode 1 to resolve",
    )

    # A lagging peer's firing delivery after the resolution never re-opens the episode.
    code, body = post_json(url, am_payload(am_alert(labels(namespace), starts_at=t1)))
    assert (code, body["unchanged"]) == (200, 1)

    # It fires again later: the next episode, a new Alert and a new incident.
    refired = now + timedelta(minutes=1)
    code, body = post_json(url, am_payload(am_alert(labels(namespace), starts_at=refired)))
    assert (code, body["created"]) == (200, 1)
    second = wait_for(
        lambda: next(
            (i for i in incidents_in(cluster, namespace) if i["metadata"]["name"] != incident["metadata"]["name"]),
            None,
        ),
        what="the incident of episode 2",
    )
    stored = alerts_in(cluster, namespace)
    assert sorted((a["spec"]["episode"], a["spec"]["state"]) for a in stored.values()) == [
        (1, "resolved"),
        (2, "firing"),
    ]
    assert stored[first_name]["metadata"]["labels"]["onduty.dev/incident"] == incident["metadata"]["name"]
    first = next(i for i in incidents_in(cluster, namespace) if i["metadata"]["name"] == incident["metadata"]["name"])
    assert (first["status"]["phase"], first["status"]["firingAlerts"], first["status"]["totalAlerts"]) == (
        "Resolved",
        0,
        1,
    )

    resolved_again = am_alert(
        labels(namespace), starts_at=refired, status="resolved", ends_at=refired + timedelta(minutes=2)
    )
    assert post_json(url, am_payload(resolved_again))[1]["updated"] == 1
    wait_for(
        lambda: all(i["status"].get("phase") == "Resolved" for i in incidents_in(cluster, namespace)),
        what="the incident of episode 2 to resolve",
    )
    assert len(alerts_in(cluster, namespace)) == 2
    attached = {a["metadata"]["labels"]["onduty.dev/incident"] for a in alerts_in(cluster, namespace).values()}
    assert attached == {incident["metadata"]["name"], second["metadata"]["name"]}


def _alert_object(namespace: str, **spec: object) -> str:
    body = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Alert",
        "metadata": {"name": "a1", "namespace": namespace},
        "spec": {
            "fingerprint": "0123456789abcdef",
            "episode": 1,
            "state": "firing",
            "labels": {"alertname": "X"},
            "startsAt": "2026-11-28T12:00:00Z",
            **spec,
        },
    }
    return json.dumps(body)


def _patch(cluster, namespace, spec):
    return cluster.kubectl(
        "patch",
        "alert.onduty.dev",
        "a1",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": spec}),
        check=False,
    )


def test_the_alert_crd_holds_an_episode_s_identity(cluster, namespace):
    cluster.kubectl("apply", "-f", "-", input_=_alert_object(namespace))

    later = _patch(cluster, namespace, {"startsAt": "2026-11-28T12:05:00Z"})
    assert later.returncode != 0 and "may only move earlier" in later.stderr
    assert _patch(cluster, namespace, {"startsAt": "2026-11-28T11:55:00Z"}).returncode == 0

    renumbered = _patch(cluster, namespace, {"episode": 2})
    assert renumbered.returncode != 0 and "spec.episode identifies the episode" in renumbered.stderr

    # Compared as times: half a second after the start is not "before" it, whatever the strings sort as.
    assert _patch(cluster, namespace, {"state": "resolved", "endsAt": "2026-11-28T11:55:00.5Z"}).returncode == 0
    early = _patch(cluster, namespace, {"endsAt": "2026-11-28T11:54:59.5Z"})
    assert early.returncode != 0 and "must not be before" in early.stderr

    refire = _patch(cluster, namespace, {"state": "firing"})
    assert refire.returncode != 0 and "cannot fire again" in refire.stderr


# 1200 deliveries through a real API server on a small shared machine: about two minutes alone, so the
# suite's five-minute limit would leave no room when other work loads the machine.
@pytest.mark.timeout(600)
def test_six_hundred_alerts_of_one_group_are_counted_in_a_bounded_incident_and_all_linked(
    cluster, namespace, operator_factory, record_property
):
    operator = operator_factory("run").start()
    # The bridge in its own process, as a large install runs it (`onduty bridge`): it answers Alertmanager
    # while the operator works through the storm, each with its own interpreter.
    bridge = operator_factory("bridge", ["--max-alerts", "200"]).start()
    url = bridge.url + "/api/v1/alerts"
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    group = [{**labels(namespace), "pod": f"web-{i:03d}"} for i in range(600)]
    batches = [group[i : i + 200] for i in range(0, 600, 200)]
    began = time.monotonic()

    for number, batch in enumerate(batches):
        payload = am_payload(*[am_alert(label_set, starts_at=started) for label_set in batch])
        payload["truncatedAlerts"] = 40 if number == 0 else 0  # Alertmanager cut 40 more of this group once
        code, body = post_json(url, payload, timeout=120)
        assert (code, body["created"]) == (200, 200), body

    def counted(firing, total):
        items = incidents_in(cluster, namespace)
        status = (items[0].get("status") or {}) if len(items) == 1 else {}
        return items[0] if (status.get("firingAlerts"), status.get("totalAlerts")) == (firing, total) else None

    incident = wait_for(lambda: counted(600, 600), timeout=300, interval=1, what="600 alerts counted in one incident")
    record_property("seconds to count 600 alerts in one incident", time.monotonic() - began)
    status = incident["status"]
    assert len(status["alerts"]) <= 100
    assert status["alertsDropped"] == 600 - len(status["alerts"])
    assert all(entry["state"] == "firing" for entry in status["alerts"])
    assert status["truncatedAlerts"] == 40
    assert "AlertsTruncated" in [entry["reason"] for entry in status["timeline"]]
    name = incident["metadata"]["name"]

    def all_linked():
        items = cluster.get_json("alerts.onduty.dev", "-n", namespace, "-l", f"onduty.dev/incident={name}")["items"]
        return items if len(items) == 600 else None

    linked = wait_for(all_linked, timeout=120, interval=1, what="all 600 alerts linked to the incident")
    assert {a["metadata"]["ownerReferences"][0]["name"] for a in linked} == {name}
    events = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    assert "AlertsTruncated" in {e["reason"] for e in events}

    for batch in batches:
        payload = am_payload(
            *[am_alert(s, starts_at=started, status="resolved", ends_at=datetime.now(UTC)) for s in batch]
        )
        code, body = post_json(url, payload, timeout=120)
        assert (code, body["updated"]) == (200, 200), body

    resolved = wait_for(
        lambda: next((i for i in incidents_in(cluster, namespace) if i["status"].get("phase") == "Resolved"), None),
        timeout=300,
        interval=1,
        what="the incident to resolve with its 600th alert",
    )
    record_property("seconds to count and resolve 600 alerts", time.monotonic() - began)
    assert (resolved["status"]["firingAlerts"], resolved["status"]["resolvedAlerts"]) == (0, 600)
    [resolution] = [e for e in resolved["status"]["timeline"] if e["reason"] == "IncidentResolved"]
    assert resolution["message"] == "all 600 alert(s) of the incident resolved"
    assert len(incidents_in(cluster, namespace)) == 1
    # No alert was refused for good along the way, and nothing retried in a loop.
    log = operator.log_path.read_text(errors="replace")
    assert "refused to record this alert" not in log
    assert log.count("status kept changing") < 20


def _refusing_policy(namespace: str) -> str:
    """An admission policy refusing incidents titled "refuse-me" in ``namespace``: a 4xx that never passes."""
    name = f"refuse-incidents-{namespace}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["onduty.dev"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["incidents"],
                    }
                ]
            },
            "validations": [{"expression": "object.spec.title != 'refuse-me'", "message": "refused by the test"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [policy, binding]})


def test_an_alert_the_api_server_refuses_for_good_says_why_and_is_not_retried_in_a_loop(cluster, namespace, operator):
    refusing = _refusing_policy(namespace)
    cluster.kubectl("apply", "-f", "-", input_=refusing)
    try:
        probe = {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": "probe", "namespace": namespace},
            "spec": {"title": "refuse-me", "severity": "warning"},
        }
        wait_for(
            lambda: (
                "refused by the test"
                in cluster.kubectl(
                    "create", "--dry-run=server", "-f", "-", input_=json.dumps(probe), check=False
                ).stderr
            ),
            what="the admission policy to be in force",
        )
        url = operator.url + "/api/v1/alerts"
        refused = am_alert(
            {**labels(namespace), "alertname": "Refused"},
            starts_at=datetime.now(UTC),
            annotations={"summary": "refuse-me"},
        )
        assert post_json(url, am_payload(refused))[0] == 200

        def recorded_false():
            [alert] = [a for a in alerts_in(cluster, namespace).values() if a["spec"]["alertname"] == "Refused"]
            conditions = (alert.get("status") or {}).get("conditions") or []
            return next((c for c in conditions if c["type"] == "Recorded" and c["status"] == "False"), None)

        condition = wait_for(recorded_false, what="the alert to say why it is in no incident")
        assert condition["reason"] == "IncidentUpdateRejected"
        assert "refused by the test" in condition["message"]

        # Time passes (another alert opens its incident); the refused one is not tried again meanwhile.
        other = am_alert({**labels(namespace), "alertname": "Other"}, starts_at=datetime.now(UTC))
        assert post_json(url, am_payload(other))[0] == 200
        wait_for(lambda: len(incidents_in(cluster, namespace)) == 1, what="the other alert's incident")
        log = operator.log_path.read_text(errors="replace")
        assert log.count("refused to record this alert in an incident") == 1
        with urllib.request.urlopen(operator.url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert 'onduty_reconcile_errors_total{error="ApiRejected",resource="alerts"} 1.0' in metrics
        events = cluster.get_json("events", "-n", namespace, "--field-selector", "reason=AlertNotRecorded")["items"]
        assert [e["type"] for e in events] == ["Warning"]
    finally:
        cluster.kubectl("delete", "-f", "-", input_=refusing, check=False)
