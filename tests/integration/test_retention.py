"""Retention on a real API server: resolved Alerts and Incidents go after their retention, unresolved ones stay,
an Alert waits for its open incident, and deleting an Incident deletes its Alerts (ownerReferences, the
garbage collector of the real kube-controller-manager).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import wait_for


def labels(namespace: str, alertname: str, **extra: str) -> dict[str, str]:
    return {"alertname": alertname, "namespace": namespace, "severity": "warning", **extra}


def names(cluster, kind, namespace):
    return {i["metadata"]["name"]: i for i in cluster.get_json(kind, "-n", namespace)["items"]}


def incident_of(cluster, namespace, alertname):
    for incident in names(cluster, "incidents.onduty.dev", namespace).values():
        if incident["spec"]["labels"].get("alertname") == alertname and (incident.get("status") or {}).get("alerts"):
            return incident
    return None


def alert_of(cluster, namespace, **wanted):
    for alert in names(cluster, "alerts.onduty.dev", namespace).values():
        if all(alert["spec"]["labels"].get(k) == v for k, v in wanted.items()):
            return alert
    return None


def test_resolved_alerts_and_incidents_go_after_their_retention_and_unresolved_ones_stay(
    cluster, namespace, operator_factory
):
    operator = operator_factory("run", ["--alert-retention", "2s", "--incident-retention", "4s"]).start()
    url = operator.url + "/api/v1/alerts"
    started = datetime.now(UTC) - timedelta(minutes=30)  # firing long before any retention
    firing = {
        "a": labels(namespace, "DiskFull"),
        "b": labels(namespace, "HighLatency"),
        "c1": labels(namespace, "PodCrash", pod="c1"),
        "c2": labels(namespace, "PodCrash", pod="c2"),
    }
    assert post_json(url, am_payload(*[am_alert(s, starts_at=started) for s in firing.values()]))[0] == 200
    # Resolved before anyone saw it fire: an Alert of no incident.
    lone = am_alert(labels(namespace, "Flapping"), starts_at=started, status="resolved", ends_at=datetime.now(UTC))
    assert post_json(url, am_payload(lone))[0] == 200
    a, b, c = (
        wait_for(lambda n=n: incident_of(cluster, namespace, n), what=f"the {n} incident")
        for n in ("DiskFull", "HighLatency", "PodCrash")
    )
    wait_for(lambda: len(incident_of(cluster, namespace, "PodCrash")["status"]["alerts"]) == 2, what="c1 and c2")

    def resolve(*keys):
        now = datetime.now(UTC)
        payload = am_payload(*[am_alert(firing[k], starts_at=started, status="resolved", ends_at=now) for k in keys])
        assert post_json(url, payload)[0] == 200

    resolve("a", "c1")

    def gone():
        incidents = names(cluster, "incidents.onduty.dev", namespace)
        return a["metadata"]["name"] not in incidents and not alert_of(cluster, namespace, alertname="DiskFull")

    wait_for(gone, timeout=60, what="the resolved incident and its alert to go")
    wait_for(lambda: not alert_of(cluster, namespace, alertname="Flapping"), what="the lone resolved alert to go")
    incidents = names(cluster, "incidents.onduty.dev", namespace)
    # Unresolved: kept, though older than any retention.
    assert incidents[b["metadata"]["name"]]["status"]["phase"] != "Resolved"
    assert alert_of(cluster, namespace, alertname="HighLatency")["spec"]["state"] == "firing"
    # Resolved longer ago than the alert retention, but its incident is still open: kept.
    assert incidents[c["metadata"]["name"]]["status"]["phase"] != "Resolved"
    assert alert_of(cluster, namespace, pod="c1")["spec"]["state"] == "resolved"
    assert f"retention: deleted Incident {namespace}/{a['metadata']['name']}" in operator.log_path.read_text()

    resolve("c2")
    wait_for(
        lambda: (
            c["metadata"]["name"] not in names(cluster, "incidents.onduty.dev", namespace)
            and not alert_of(cluster, namespace, alertname="PodCrash")
        ),
        timeout=60,
        what="the second incident and both its alerts to go once it resolved",
    )
    assert list(names(cluster, "incidents.onduty.dev", namespace)) == [b["metadata"]["name"]]
    assert [x["spec"]["labels"]["alertname"] for x in names(cluster, "alerts.onduty.dev", namespace).values()] == [
        "HighLatency"
    ]


def test_deleting_an_incident_deletes_its_alerts_even_when_alerts_are_kept_for_ever(
    cluster, namespace, operator_factory
):
    operator = operator_factory("run", ["--alert-retention", "0s", "--incident-retention", "2s"]).start()
    url = operator.url + "/api/v1/alerts"
    started = datetime.now(UTC) - timedelta(minutes=5)
    mine = labels(namespace, "DiskFull")
    assert post_json(url, am_payload(am_alert(mine, starts_at=started)))[0] == 200
    lone = am_alert(labels(namespace, "Flapping"), starts_at=started, status="resolved", ends_at=datetime.now(UTC))
    assert post_json(url, am_payload(lone))[0] == 200
    incident = wait_for(lambda: incident_of(cluster, namespace, "DiskFull"), what="the incident")
    alert = wait_for(
        lambda: (lambda x: x if x and (x["metadata"].get("labels") or {}).get("onduty.dev/incident") else None)(
            alert_of(cluster, namespace, alertname="DiskFull")
        ),
        what="the alert to be linked to its incident",
    )
    assert alert["metadata"]["ownerReferences"][0]["uid"] == incident["metadata"]["uid"]

    resolved = am_alert(mine, starts_at=started, status="resolved", ends_at=datetime.now(UTC))
    assert post_json(url, am_payload(resolved))[0] == 200

    wait_for(
        lambda: (
            not names(cluster, "incidents.onduty.dev", namespace)
            and not alert_of(cluster, namespace, alertname="DiskFull")
        ),
        timeout=60,
        what="the incident, and with it its alert, to go",
    )
    # Alerts themselves are kept for ever here: the one of no incident stays.
    assert alert_of(cluster, namespace, alertname="Flapping")["spec"]["state"] == "resolved"
