"""On-call schedules on the real API server: who is on call shows in status and `onduty oncall`, and a page
names them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import apply_manifest, onduty_cli, wait_for
from onduty.domain.times import rfc3339
from receivers import Receiver
from receivers import pagerduty as pd_vendor


def _schedule(namespace: str, now: datetime) -> dict:
    # A one-person weekly layer, and a swap that covers this very hour: the answer is obvious by construction.
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "OnCallSchedule",
        "metadata": {"name": "primary", "namespace": namespace},
        "spec": {
            "timeZone": "Europe/Berlin",
            "layers": [
                {"name": "weekly", "start": "2026-01-05T09:00:00", "rotation": "1w", "members": ["alice@example.com"]}
            ],
            "overrides": [
                {
                    "member": "erin@example.com",
                    "start": rfc3339(now - timedelta(hours=1)),
                    "end": rfc3339(now + timedelta(hours=1)),
                }
            ],
        },
    }


def test_the_schedule_says_who_is_on_call_now_and_next(cluster, namespace, operator):
    now = datetime.now(UTC).replace(microsecond=0)
    apply_manifest(cluster, _schedule(namespace, now))

    def status():
        found = cluster.get_json("oncallschedule.onduty.dev", "primary", "-n", namespace).get("status") or {}
        return found if found.get("onCall") else None

    shown = wait_for(status, timeout=60, what="the schedule's status")
    assert (shown["onCall"], shown["onCallSource"], shown["nextOnCall"]) == (
        "erin@example.com",
        "override",
        "alice@example.com",
    )
    assert shown["nextHandoff"] == rfc3339(now + timedelta(hours=1))

    result = onduty_cli("oncall", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))
    assert result.returncode == 0, result.stderr
    [line] = [row for row in result.stdout.splitlines() if row.startswith("primary ")]
    assert line.split() == [
        "primary",
        "erin@example.com",
        "override",
        rfc3339(now + timedelta(hours=1)),
        "alice@example.com",
    ]
    later = onduty_cli(
        "oncall",
        "primary",
        "-n",
        namespace,
        "--at",
        rfc3339(now + timedelta(hours=2)),
        "--kubeconfig",
        str(cluster.kubeconfig),
    )
    assert "alice@example.com" in later.stdout.splitlines()[1].split()[1]


def test_a_broken_schedule_is_not_accepted_and_says_why(cluster, namespace, operator):
    schedule = _schedule(namespace, datetime.now(UTC))
    schedule["spec"]["timeZone"] = "Mars/Olympus_Mons"  # the API server has no zone database; onduty does
    apply_manifest(cluster, schedule)

    def refused():
        conditions = (
            cluster.get_json("oncallschedule.onduty.dev", "primary", "-n", namespace).get("status") or {}
        ).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Accepted" and c["status"] == "False"), None)

    condition = wait_for(refused, timeout=60, what="the schedule refused")
    assert "Mars/Olympus_Mons" in condition["message"] and "timeZone" in condition["message"]


def test_a_page_names_whoever_the_schedule_has_on_call(cluster, namespace, operator_factory):
    now = datetime.now(UTC).replace(microsecond=0)
    apply_manifest(cluster, _schedule(namespace, now))
    with Receiver(check=pd_vendor.check, respond=pd_vendor.respond) as pagerduty:
        apply_manifest(
            cluster,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "pd", "namespace": namespace},
                "data": {"routingKey": base64.b64encode(b"d" * 32).decode()},
            },
        )
        apply_manifest(
            cluster,
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "Notifier",
                "metadata": {"name": "pd", "namespace": namespace},
                "spec": {
                    "type": "pagerduty",
                    "secretRef": {"name": "pd"},
                    "pagerduty": {"url": f"{pagerduty.url}/v2/enqueue"},
                },
            },
        )
        apply_manifest(
            cluster,
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "EscalationPolicy",
                "metadata": {"name": "default", "namespace": namespace},
                "spec": {
                    "default": True,
                    "levels": [{"ackTimeout": "10m", "notifiers": ["pd"], "schedules": ["primary"]}],
                },
            },
        )
        operator = operator_factory(extra_args=["--notifier-allowed-networks", "127.0.0.0/8"]).start()
        labels = {"alertname": "QueueStuck", "namespace": namespace, "severity": "critical"}
        assert post_json(operator.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=now)))[0] == 200
        [request] = wait_for(lambda: pagerduty.requests, timeout=60, what="the page")
        page = json.loads(request.body)
        assert page["payload"]["custom_details"]["page"]["responders"] == ["erin@example.com"]
        assert "erin@example.com" in page["payload"]["summary"]
        pagerduty.assert_clean()
