"""The bridge's delivery semantics against a real API server: 2xx only once stored,
one object per firing episode however often (and with whatever startsAt) it arrives, 4xx with nothing written
for payloads that can never be accepted, 5xx when the API server is unreachable.
"""

from __future__ import annotations

import concurrent.futures
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import yaml

from alertmanager_webhook import am_alert, am_payload, post_json
from processes import free_port, http_ok


def labels(namespace: str, **extra: str) -> dict[str, str]:
    return {"alertname": "HighErrorRate", "namespace": namespace, "deployment": "api", "severity": "warning", **extra}


def alert_names(cluster, namespace):
    return sorted(a["metadata"]["name"] for a in cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"])


def test_duplicate_and_concurrent_deliveries_make_one_alert(cluster, namespace, operator_factory):
    bridge = operator_factory("bridge").start()
    payload = am_payload(am_alert(labels(namespace), starts_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC)))
    first = post_json(bridge.url + "/api/v1/alerts", payload)
    assert first == (200, {"status": "ok", "created": 1, "updated": 0, "unchanged": 0})
    # An HA pair and Alertmanager's own retries: the same notification, many times at once.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: post_json(bridge.url + "/api/v1/alerts", payload), range(8)))
    assert {code for code, _ in results} == {200}
    assert sum(body["created"] for _, body in results) == 0
    assert len(alert_names(cluster, namespace)) == 1


def test_resolved_updates_the_same_alert_and_a_late_firing_does_not_reopen_it(cluster, namespace, operator_factory):
    bridge = operator_factory("bridge").start()
    started = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    firing = am_alert(labels(namespace), starts_at=started)
    resolved = am_alert(
        labels(namespace), starts_at=started, status="resolved", ends_at=datetime(2026, 11, 28, 12, 5, tzinfo=UTC)
    )
    assert post_json(bridge.url + "/api/v1/alerts", am_payload(firing))[1]["created"] == 1
    assert post_json(bridge.url + "/api/v1/alerts", am_payload(resolved))[1]["updated"] == 1
    assert post_json(bridge.url + "/api/v1/alerts", am_payload(firing))[1]["unchanged"] == 1  # lagging HA peer
    [alert] = cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
    assert alert["spec"]["state"] == "resolved"
    assert alert["spec"]["endsAt"] == "2026-11-28T12:05:00Z"


def test_alert_for_an_unknown_namespace_is_kept_in_the_default_namespace(cluster, namespace, operator_factory):
    bridge = operator_factory("bridge", ["--namespace", namespace]).start()
    payload = am_payload(am_alert(labels("no-such-namespace-here"), starts_at=datetime.now(UTC)))
    assert post_json(bridge.url + "/api/v1/alerts", payload)[0] == 200
    assert len(alert_names(cluster, namespace)) == 1


def test_payloads_that_can_never_be_accepted_get_4xx_and_leave_nothing(
    cluster, namespace, operator_factory, tmp_path: Path
):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    bridge = operator_factory("bridge", ["--bridge-token-file", str(token), "--max-body-bytes", "4096"]).start()
    url = bridge.url + "/api/v1/alerts"
    auth = {"Authorization": "Bearer s3cret-token"}
    good = am_payload(am_alert(labels(namespace), starts_at=datetime.now(UTC)))

    code, body = post_json(url, good)
    assert code == 401 and "bearer token" in body["error"]
    assert post_json(url, good, headers={"Authorization": "Bearer wrong"})[0] == 401

    code, body = post_json(url, None, headers=auth, raw=b'{"version": "4", "alerts": [')
    assert code == 400 and "not valid JSON" in body["error"]

    code, body = post_json(url, {**good, "version": "3"}, headers=auth)
    assert code == 400 and "version" in body["error"] and "'3'" in body["error"]

    bad_status = am_payload(
        am_alert(labels(namespace), starts_at=datetime.now(UTC)),
        am_alert(labels(namespace, pod="x"), starts_at=datetime.now(UTC)),
    )
    bad_status["alerts"][1]["status"] = "burning"
    code, body = post_json(url, bad_status, headers=auth)
    assert code == 400 and "alerts[1].status" in body["error"] and "'burning'" in body["error"]

    many = am_payload(*[am_alert(labels(namespace, pod=f"api-{i}"), starts_at=datetime.now(UTC)) for i in range(20)])
    code, _ = post_json(url, many, headers=auth)
    assert code == 413

    # Unknown fields are ignored, as the contract requires (Grafana adds some).
    extra = {**good, "orgId": 1, "title": "[FIRING:1]"}
    extra["alerts"][0]["silenceURL"] = "http://grafana.local/silence"
    assert post_json(url, extra, headers=auth)[0] == 200
    assert len(alert_names(cluster, namespace)) == 1  # only the last, valid request wrote anything


def test_unreachable_api_server_gets_503_so_alertmanager_retries(cluster, namespace, operator_factory, tmp_path: Path):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    bridge = operator_factory("bridge", kubeconfig=dead).start()
    code, body = post_json(
        bridge.url + "/api/v1/alerts", am_payload(am_alert(labels(namespace), starts_at=datetime.now(UTC)))
    )
    assert code == 503 and "unavailable" in body["error"]
    assert http_ok(bridge.url + "/healthz")  # alive...
    assert not http_ok(bridge.url + "/readyz")  # ...but not ready without an API server


def test_with_watched_namespaces_an_alert_for_another_namespace_is_kept_in_the_default_one(
    cluster, namespace, operator_factory
):
    # A least-privilege install (rbac.namespaces): onduty may not write Alerts anywhere else.
    bridge = operator_factory("bridge", ["--namespace", namespace, "--watch-namespaces", "team-x"]).start()
    before = alert_names(cluster, "default")
    payload = am_payload(am_alert(labels("default"), starts_at=datetime.now(UTC)))

    assert post_json(bridge.url + "/api/v1/alerts", payload)[0] == 200

    assert len(alert_names(cluster, namespace)) == 1
    assert alert_names(cluster, "default") == before


def test_a_namespace_label_that_is_no_namespace_name_never_reaches_a_url(cluster, namespace, operator_factory):
    bridge = operator_factory("bridge", ["--namespace", namespace]).start()
    hostile = ["../kube-system", "kube-system/x", "Team-A", "k" * 64, "%2e%2e", "kube-system/../default"]
    before = alert_names(cluster, "kube-system")
    payload = am_payload(
        *[am_alert(labels(value, pod=f"api-{i}"), starts_at=datetime.now(UTC)) for i, value in enumerate(hostile)]
    )

    code, body = post_json(bridge.url + "/api/v1/alerts", payload)

    assert (code, body["created"]) == (200, len(hostile))
    stored = cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
    assert sorted(a["spec"]["labels"]["namespace"] for a in stored) == sorted(hostile)  # kept as data
    assert alert_names(cluster, "kube-system") == before
    assert alert_names(cluster, "default") == []


def test_more_alerts_than_the_cap_get_413_naming_both_and_nothing_is_written(cluster, namespace, operator_factory):
    bridge = operator_factory("bridge", ["--max-alerts", "3"]).start()
    url = bridge.url + "/api/v1/alerts"

    def group(size):
        return am_payload(
            *[am_alert(labels(namespace, pod=f"api-{i}"), starts_at=datetime.now(UTC)) for i in range(size)]
        )

    code, body = post_json(url, group(4))
    assert code == 413
    assert "4 alerts" in body["error"] and "limit of 3" in body["error"]
    assert alert_names(cluster, namespace) == []

    code, body = post_json(url, group(3))  # at the cap: stored
    assert (code, body["created"]) == (200, 3)


def test_deep_or_non_unicode_json_gets_400_naming_the_problem_and_nothing_is_written(
    cluster, namespace, operator_factory
):
    bridge = operator_factory("bridge").start()
    url = bridge.url + "/api/v1/alerts"

    code, body = post_json(url, None, raw=b"[" * 100_000)
    assert code == 400 and "levels deep" in body["error"]

    good = am_alert(labels(namespace), starts_at=datetime.now(UTC))
    odd = am_alert(labels(namespace, pod="@"), starts_at=datetime.now(UTC))
    raw = json.dumps(am_payload(good, odd)).replace('"pod": "@"', '"pod": "web-\\ud800"').encode()
    code, body = post_json(url, None, raw=raw)
    assert code == 400 and body["error"].startswith("alerts[1].labels.pod:") and "surrogate" in body["error"]

    assert alert_names(cluster, namespace) == []
    code, _ = post_json(url, am_payload(good))  # the bridge is still well
    assert code == 200


def test_an_alert_that_makes_no_valid_name_is_stored_with_the_rest_of_its_group(cluster, namespace, operator_factory):
    bridge = operator_factory("bridge").start()
    odd = [
        labels(namespace, alertname="A" * 300),
        labels(namespace, alertname="日本語アラート"),
        labels(namespace, alertname="Big", pod="p" * 20_000),
        labels(namespace, alertname="\N{FIRE}", container="web\n"),
    ]
    payload = am_payload(
        *[am_alert(label_set, starts_at=datetime.now(UTC)) for label_set in odd],
        am_alert(labels(namespace), starts_at=datetime.now(UTC)),
    )

    code, body = post_json(bridge.url + "/api/v1/alerts", payload)

    assert (code, body.get("created")) == (200, 5), body
    stored = {
        a["spec"]["labels"]["alertname"]: a for a in cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
    }
    assert set(stored) == {"A" * 300, "日本語アラート", "Big", "\N{FIRE}", "HighErrorRate"}
    assert len(stored["A" * 300]["spec"]["alertname"]) == 253
    assert stored["Big"]["spec"]["labels"]["pod"] == "p" * 20_000
    # A redelivery finds the same objects.
    assert post_json(bridge.url + "/api/v1/alerts", payload)[1]["unchanged"] == 5


def test_the_bridge_warns_once_without_a_token_and_never_logs_one(cluster, namespace, operator_factory, tmp_path: Path):
    open_bridge = operator_factory("bridge", ["--log-level", "DEBUG"]).start()
    token = tmp_path / "token"
    token.write_text("s3cret-token-value\n")
    closed = operator_factory("bridge", ["--bridge-token-file", str(token), "--log-level", "DEBUG"]).start()
    payload = am_payload(am_alert(labels(namespace), starts_at=datetime.now(UTC)))
    assert (
        post_json(closed.url + "/api/v1/alerts", payload, headers={"Authorization": "Bearer s3cret-token-value"})[0]
        == 200
    )
    assert post_json(closed.url + "/api/v1/alerts", payload, headers={"Authorization": "Bearer s3cret-wrong"})[0] == 401
    assert post_json(open_bridge.url + "/api/v1/alerts", payload)[0] == 200
    open_bridge.stop()
    closed.stop()

    warnings = [line for line in open_bridge.log_path.read_text().splitlines() if "anyone who can reach" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]
    closed_log = closed.log_path.read_text()
    assert "anyone who can reach" not in closed_log
    assert "s3cret" not in closed_log


def test_an_empty_token_file_stops_the_bridge_at_startup(cluster, operator_factory, tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("  \n")
    bridge = operator_factory("bridge", ["--bridge-token-file", str(token)]).start(wait=False)

    assert bridge.process.wait(60) == 2
    assert f"--bridge-token-file {token} is empty" in bridge.log_path.read_text()
    assert not http_ok(bridge.url + "/healthz")


def test_concurrent_deliveries_of_one_episode_with_different_starts_make_one_alert_with_the_earliest(
    cluster, namespace, operator_factory
):
    # Two Prometheus servers of an HA pair, and a restarted one, report one firing alert with different
    # starts; two Alertmanagers deliver them at once. All land on episode 1, which keeps the earliest start.
    bridge = operator_factory("bridge").start()
    starts = [datetime(2026, 11, 28, 12, minute, tzinfo=UTC) for minute in (5, 0, 3, 1, 4, 2, 5, 0)]
    payloads = [am_payload(am_alert(labels(namespace), starts_at=start)) for start in starts]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: post_json(bridge.url + "/api/v1/alerts", p), payloads))

    assert {code for code, _ in results} == {200}, results
    assert sum(body["created"] for _, body in results) == 1
    [alert] = cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
    fingerprint = payloads[0]["alerts"][0]["fingerprint"]
    assert alert["metadata"]["name"] == f"higherrorrate-{fingerprint}-1"
    assert (alert["spec"]["episode"], alert["spec"]["startsAt"]) == (1, "2026-11-28T12:00:00Z")


def test_a_resolution_with_another_start_resolves_the_episode_and_a_re_fire_is_the_next(
    cluster, namespace, operator_factory
):
    bridge = operator_factory("bridge").start()
    url = bridge.url + "/api/v1/alerts"

    def at(minute):
        return datetime(2026, 11, 28, 12, minute, tzinfo=UTC)

    assert post_json(url, am_payload(am_alert(labels(namespace), starts_at=at(1))))[1]["created"] == 1
    resolved = am_alert(labels(namespace), starts_at=at(3), status="resolved", ends_at=at(10))
    assert post_json(url, am_payload(resolved))[1]["updated"] == 1
    assert post_json(url, am_payload(am_alert(labels(namespace), starts_at=at(1))))[1]["unchanged"] == 1  # late
    assert post_json(url, am_payload(am_alert(labels(namespace), starts_at=at(20))))[1]["created"] == 1  # re-fire

    stored = {a["spec"]["episode"]: a for a in cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]}
    assert sorted(stored) == [1, 2]
    assert (stored[1]["spec"]["state"], stored[1]["spec"]["startsAt"], stored[1]["spec"]["endsAt"]) == (
        "resolved",
        "2026-11-28T12:01:00Z",
        "2026-11-28T12:10:00Z",
    )
    assert (stored[2]["spec"]["state"], stored[2]["metadata"]["name"].rsplit("-", 1)[1]) == ("firing", "2")


def test_alerts_alertmanager_left_out_are_stored_on_each_alert_and_counted_in_the_metrics(
    cluster, namespace, operator_factory
):
    bridge = operator_factory("bridge").start()
    payload = am_payload(*[am_alert(labels(namespace, pod=f"api-{i}"), starts_at=datetime.now(UTC)) for i in range(2)])
    payload["truncatedAlerts"] = 5

    assert post_json(bridge.url + "/api/v1/alerts", payload)[0] == 200
    assert post_json(bridge.url + "/api/v1/alerts", payload)[0] == 200  # Alertmanager's next flush

    stored = cluster.get_json("alerts.onduty.dev", "-n", namespace)["items"]
    assert [a["spec"]["truncatedAlerts"] for a in stored] == [5, 5]
    with urllib.request.urlopen(bridge.url + "/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert "onduty_bridge_truncated_alerts_total 10.0" in metrics
    assert "onduty_bridge_truncated_notifications_total 2.0" in metrics
