"""Two real Alertmanagers that do not share their state (an HA pair before it gossips, or split by a
partition) deliver one alert with different starts: each Prometheus of an HA pair reports the start it saw.
onduty keeps one Alert per firing episode, the resolution (with yet another start) resolves it and its
incident, and a re-fire later is the next episode.

The alerts are pushed into the Alertmanagers through their own API (``POST /api/v2/alerts``), as Prometheus
pushes them; everything from there to the bridge is Alertmanager's own grouping, merging and webhook.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alertmanager_webhook import fingerprint
from kit import wait_for
from monitoring import Monitoring, push_alerts, webhook_config
from onduty.domain.times import rfc3339
from operator_process import OperatorProcess


@pytest.fixture
def pair(operator: OperatorProcess, tmp_path: Path) -> Iterator[tuple[Monitoring, Monitoring]]:
    """Alertmanager a, and b with a resolve timeout of an hour: b goes on thinking the alert fires."""
    url = operator.url + "/api/v1/alerts"
    started: list[Monitoring] = []
    try:
        for name, resolve_timeout in (("a", "5m"), ("b", "1h")):
            started.append(
                Monitoring.start(
                    tmp_path / name,
                    rules={"groups": []},
                    alertmanager_config=webhook_config(url, resolve_timeout=resolve_timeout),
                    scrape_targets=[],
                    wait_discovery=False,
                )
            )
        yield started[0], started[1]
    finally:
        for monitoring in started:
            monitoring.stop()


def alerts_in(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    return sorted(
        cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"], key=lambda a: a["spec"].get("episode", 0)
    )


def incidents_in(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    return cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]


def test_two_alertmanagers_reporting_different_starts_make_one_alert_per_episode(
    cluster: Any, namespace: str, pair: tuple[Monitoring, Monitoring]
) -> None:
    a, b = pair
    labels = {"alertname": "KubePodCrashLooping", "namespace": namespace, "deployment": "web", "severity": "warning"}
    annotations = {"summary": "web crash-loops"}
    now = datetime.now(UTC).replace(microsecond=0)
    t0, t1 = now - timedelta(minutes=10), now - timedelta(minutes=8)

    push_alerts(a.alertmanager_url, [{"labels": labels, "annotations": annotations, "startsAt": rfc3339(t1)}])
    wait_for(lambda: len(alerts_in(cluster, namespace)) == 1, timeout=60, what="Alertmanager a's notification")
    push_alerts(b.alertmanager_url, [{"labels": labels, "annotations": annotations, "startsAt": rfc3339(t0)}])
    wait_for(
        lambda: alerts_in(cluster, namespace)[0]["spec"]["startsAt"] == rfc3339(t0),
        timeout=60,
        what="Alertmanager b's notification, with the earlier start, to join the same Alert",
    )
    [first] = alerts_in(cluster, namespace)
    assert first["metadata"]["name"] == f"kubepodcrashlooping-{fingerprint(labels)}-1"
    wait_for(lambda: incidents_in(cluster, namespace), timeout=60, what="the incident")

    # a resolves the alert; the notification carries a's start, not the one stored. b still thinks it fires.
    push_alerts(
        a.alertmanager_url,
        [{"labels": labels, "annotations": annotations, "startsAt": rfc3339(t1), "endsAt": rfc3339(now)}],
    )
    resolved = wait_for(
        lambda: next((i for i in incidents_in(cluster, namespace) if i["status"].get("phase") == "Resolved"), None),
        timeout=60,
        what="the incident to resolve",
    )
    [first] = alerts_in(cluster, namespace)
    assert (first["spec"]["state"], first["spec"]["startsAt"]) == ("resolved", rfc3339(t0))
    assert resolved["status"]["firingAlerts"] == 0

    # It fires again later: the next episode and a new incident.
    refired = now + timedelta(seconds=1)
    push_alerts(a.alertmanager_url, [{"labels": labels, "annotations": annotations, "startsAt": rfc3339(refired)}])
    wait_for(lambda: len(alerts_in(cluster, namespace)) == 2, timeout=60, what="the re-fire's notification")
    episodes = [(x["spec"]["episode"], x["spec"]["state"]) for x in alerts_in(cluster, namespace)]
    assert episodes == [(1, "resolved"), (2, "firing")]
    wait_for(
        lambda: any(i["status"].get("phase") != "Resolved" for i in incidents_in(cluster, namespace)),
        timeout=60,
        what="a new incident for the second episode",
    )
    assert len(incidents_in(cluster, namespace)) == 2
