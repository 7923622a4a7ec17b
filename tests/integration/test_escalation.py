"""Escalation end to end on the real API server: pages in order, acknowledgements stop them, resolution tells
everyone, a restarted operator keeps the deadline and pages nobody twice.

The vendors are loopback receivers that check each request against the vendor's documented contract
(tests/receivers); onduty reaches them because the test allows loopback (--notifier-allowed-networks), as a
platform owner would allow an in-cluster Jira.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import onduty_cli, wait_for
from onduty.domain.times import parse_time
from receivers import Answer, Receiver
from receivers import jira as jira_vendor
from receivers import pagerduty as pd_vendor
from receivers import slack as slack_vendor
from receivers import statuspage as statuspage_vendor

ALLOW_LOOPBACK = ["--notifier-allowed-networks", "127.0.0.0/8"]
PRIMARY_KEY = "a" * 32
SECONDARY_KEY = "b" * 32


@dataclass
class Vendors:
    pagerduty: Receiver
    slack: Receiver
    statuspage: Receiver
    statuspage_fake: statuspage_vendor.StatuspageFake
    jira: Receiver
    jira_fake: jira_vendor.JiraFake

    def pages(self, routing_key: str, action: str = "trigger") -> list[dict]:
        return [
            body
            for body in (r.json() for r in self.pagerduty.requests if r.path == "/v2/enqueue")
            if body["routing_key"] == routing_key and body["event_action"] == action
        ]

    def assert_clean(self) -> None:
        for receiver in (self.pagerduty, self.slack, self.statuspage, self.jira):
            receiver.assert_clean()


def _secret(name: str, namespace: str, **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _notifier(name: str, namespace: str, type_: str, secret: str, **settings: object) -> dict:
    spec: dict = {"type": type_, "secretRef": {"name": secret}}
    if settings:
        spec[type_] = settings
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Notifier",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _apply(cluster, *objects: dict) -> None:
    cluster.kubectl("apply", "-f", "-", input_=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


@pytest.fixture
def vendors(cluster, namespace: str) -> Iterator[Vendors]:
    status_fake, jira_fake = statuspage_vendor.StatuspageFake(), jira_vendor.JiraFake()
    with (
        Receiver(check=pd_vendor.check, respond=pd_vendor.respond) as pagerduty,
        Receiver(check=slack_vendor.check, respond=slack_vendor.respond) as slack,
        Receiver(check=statuspage_vendor.check, respond=status_fake.respond) as statuspage,
        Receiver(check=jira_vendor.check, respond=jira_fake.respond) as jira,
    ):
        _apply(
            cluster,
            _secret("pd-primary", namespace, routingKey=PRIMARY_KEY),
            _secret("pd-secondary", namespace, routingKey=SECONDARY_KEY),
            _secret("slack-bot", namespace, token="xoxb-test-token"),
            _secret("statuspage", namespace, apiKey="status-api-key"),
            _secret("jira", namespace, email="oncall@example.com", apiToken="jira-api-token"),
            _notifier("pd-primary", namespace, "pagerduty", "pd-primary", url=f"{pagerduty.url}/v2/enqueue"),
            _notifier("pd-secondary", namespace, "pagerduty", "pd-secondary", url=f"{pagerduty.url}/v2/enqueue"),
            _notifier(
                "team-slack",
                namespace,
                "slack",
                "slack-bot",
                mode="bot",
                channel="C0123456789",
                apiURL=f"{slack.url}/api",
            ),
            _notifier(
                "status",
                namespace,
                "statuspage",
                "statuspage",
                pageId="page1",
                componentIds=["comp1"],
                url=f"{statuspage.url}/v1",
            ),
            _notifier("tickets", namespace, "jira", "jira", url=jira.url, projectKey="OPS", resolveTransitionId="31"),
        )
        yield Vendors(pagerduty, slack, statuspage, status_fake, jira, jira_fake)


def _policy(namespace: str, primary_timeout: str, secondary_timeout: str = "10m", **extra: object) -> dict:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "default", "namespace": namespace},
        "spec": {
            "default": True,
            "levels": [
                {"name": "primary", "ackTimeout": primary_timeout, "notifiers": ["pd-primary"], "users": ["alice"]},
                {"name": "secondary", "ackTimeout": secondary_timeout, "notifiers": ["pd-secondary"], "users": ["bob"]},
            ],
            "inform": ["team-slack", "status", "tickets"],
            "publicSeverities": ["critical"],
            **extra,
        },
    }


def _fire(operator, namespace: str, *, status: str = "firing", starts_at: datetime) -> dict:
    # No runbook matches this alert: automation hands over at once, so escalation starts at once.
    labels = {"alertname": "CheckoutDown", "namespace": namespace, "severity": "critical", "team": "payments"}
    alert = am_alert(
        labels, starts_at=starts_at, status=status, ends_at=datetime.now(UTC) if status == "resolved" else None
    )
    code, answer = post_json(operator.url + "/api/v1/alerts", am_payload(alert))
    assert code == 200, answer
    return labels


def _incident(cluster, namespace: str, predicate, what: str, timeout: float = 90) -> dict:
    def probe():
        items = cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
        return next((i for i in items if predicate(i)), None)

    return wait_for(probe, timeout=timeout, what=what)


def _escalation(incident: dict) -> dict:
    return (incident.get("status") or {}).get("escalation") or {}


def _reasons(incident: dict) -> list[str]:
    return [e["reason"] for e in incident["status"].get("timeline") or []]


def test_nobody_acknowledges_so_the_secondary_is_paged_and_resolution_reaches_every_channel(
    cluster, namespace, vendors, operator_factory
):
    _apply(cluster, _policy(namespace, primary_timeout="3s"))
    operator = operator_factory(extra_args=ALLOW_LOOPBACK).start()
    started = datetime.now(UTC)
    _fire(operator, namespace, starts_at=started)

    # The primary is paged at once (no runbook: automation has nothing to try), then the secondary.
    wait_for(lambda: vendors.pages(SECONDARY_KEY), timeout=60, what="the secondary to be paged")
    incident = _incident(cluster, namespace, lambda i: _escalation(i).get("level") == 1, "escalation at level 1")
    uid = incident["metadata"]["uid"]
    [primary], [secondary] = vendors.pages(PRIMARY_KEY), vendors.pages(SECONDARY_KEY)
    assert primary["dedup_key"] == secondary["dedup_key"] == uid  # one stable key per incident
    assert primary["payload"]["severity"] == "critical" and namespace in primary["payload"]["source"]
    escalation = _escalation(incident)
    assert escalation["state"] == "Escalating" and escalation["summary"] == "secondary paged"
    assert escalation["policy"] == f"{namespace}/default"
    # The secondary came after the primary's 3s, not before: the deadline is kept in status.
    pages = [e for e in incident["status"]["timeline"] if e["reason"] == "Escalated"]
    assert [p["message"].split(" ")[0] for p in pages] == ["primary", "secondary"]
    gap = parse_time(pages[1]["time"]) - parse_time(pages[0]["time"])
    assert gap.total_seconds() >= 3

    # The informed channels heard of it: a Slack message, a public status page incident, a Jira issue.
    posted = [r for r in vendors.slack.requests if r.path == "/api/chat.postMessage" and "thread_ts" not in r.json()]
    assert len(posted) == 1
    assert len(vendors.jira_fake.issues) == 1
    wait_for(lambda: vendors.statuspage_fake.incidents, timeout=30, what="a status page incident")

    # Resolution tells everyone who heard of the incident, once.
    _fire(operator, namespace, status="resolved", starts_at=started)
    _incident(
        cluster,
        namespace,
        lambda i: (
            _escalation(i).get("state") == "Resolved"
            and all(n["state"] in ("Delivered", "Skipped") for n in i["status"].get("notifications") or [])
        ),
        "every notification of the resolved incident delivered",
    )
    assert len(vendors.pages(PRIMARY_KEY, "resolve")) == 1 and len(vendors.pages(SECONDARY_KEY, "resolve")) == 1
    [issue] = vendors.jira_fake.issues.values()
    assert issue["transitions"] == ["31"]
    [status_incident] = vendors.statuspage_fake.incidents
    assert vendors.statuspage_fake.statuses(status_incident)[-1] == "resolved"
    updates = [r for r in vendors.slack.requests if r.path == "/api/chat.update"]
    assert updates and updates[-1].json()["ts"] == posted[0].json().get("ts", updates[-1].json()["ts"])
    assert not vendors.pages(PRIMARY_KEY, "trigger")[1:]  # paged once, never again
    vendors.assert_clean()
    # Every outcome is counted, by channel and kind.
    metrics = urllib.request.urlopen(operator.url + "/metrics", timeout=10).read().decode()
    assert 'onduty_notifications_total{kind="page",outcome="Delivered",type="pagerduty"} 2.0' in metrics
    assert 'onduty_notifications_total{kind="resolved",outcome="Delivered",type="pagerduty"} 2.0' in metrics
    assert 'onduty_escalation_pages_total{late="false",level="1"} 1.0' in metrics


def test_an_acknowledgement_stops_the_pages_and_tells_the_pager(cluster, namespace, vendors, operator_factory):
    _apply(cluster, _policy(namespace, primary_timeout="6s"))
    operator = operator_factory(extra_args=ALLOW_LOOPBACK).start()
    _fire(operator, namespace, starts_at=datetime.now(UTC))
    wait_for(lambda: vendors.pages(PRIMARY_KEY), timeout=60, what="the primary to be paged")
    incident = _incident(cluster, namespace, lambda i: _escalation(i).get("level") == 0, "the primary paged")
    name = incident["metadata"]["name"]

    result = onduty_cli("ack", name, "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))
    assert result.returncode == 0, result.stderr
    acked = _incident(
        cluster, namespace, lambda i: _escalation(i).get("state") == "Acknowledged", "the acknowledgement"
    )
    assert acked["status"]["acknowledgedAt"]
    assert "Acknowledged" in _reasons(acked)
    wait_for(lambda: vendors.pages(PRIMARY_KEY, "acknowledge"), timeout=30, what="PagerDuty to be told")

    # The primary's deadline passes with the incident acknowledged: nobody else is paged. (Waiting out a
    # deadline is the only way to see that something does not happen.)
    deadline = parse_time(_escalation(incident)["nextAt"])
    wait_for(lambda: datetime.now(UTC) > deadline + timedelta(seconds=2), timeout=30, what="the deadline to pass")
    again = _incident(cluster, namespace, lambda i: True, "the incident")
    assert _escalation(again)["state"] == "Acknowledged"
    assert not vendors.pages(SECONDARY_KEY)

    # Withdrawing the acknowledgement pages the current level again.
    result = onduty_cli("unack", name, "-n", namespace, "--kubeconfig", str(cluster.kubeconfig))
    assert result.returncode == 0, result.stderr
    wait_for(lambda: len(vendors.pages(PRIMARY_KEY)) >= 2, timeout=60, what="the primary paged again")
    unacked = _incident(cluster, namespace, lambda i: _escalation(i).get("state") == "Escalating", "escalation resumed")
    assert "Unacknowledged" in _reasons(unacked)
    assert len(vendors.pages(PRIMARY_KEY)) == 2 and not vendors.pages(SECONDARY_KEY)
    vendors.assert_clean()


def test_a_killed_operator_keeps_the_deadline_and_pages_nobody_twice(cluster, namespace, vendors, operator_factory):
    # Long enough that the primary's page is recorded, and onduty killed, well before the deadline.
    _apply(cluster, _policy(namespace, primary_timeout="20s"))
    operator = operator_factory(extra_args=ALLOW_LOOPBACK).start()
    _fire(operator, namespace, starts_at=datetime.now(UTC))
    wait_for(lambda: vendors.pages(PRIMARY_KEY), timeout=60, what="the primary to be paged")
    incident = _incident(
        cluster,
        namespace,
        lambda i: any(
            n["key"].startswith("page/0/0@") and n["state"] == "Delivered"
            for n in i["status"].get("notifications") or []
        ),
        "the primary's page recorded as delivered",
    )
    deadline = parse_time(_escalation(incident)["nextAt"])
    operator.kill()  # SIGKILL mid-wait: nothing in memory survives
    assert datetime.now(UTC) < deadline, "the test was too slow to kill onduty before the deadline"

    # Down past the deadline; the new process finds it passed and pages the secondary once, late.
    # Down a while past the deadline (a second late or less is on time: nextAt is kept to the second).
    down_until = deadline + timedelta(seconds=5)
    wait_for(lambda: datetime.now(UTC) > down_until, timeout=40, what="the deadline to pass while onduty is down")
    operator.start()
    wait_for(lambda: vendors.pages(SECONDARY_KEY), timeout=60, what="the secondary to be paged after the restart")
    late = _incident(cluster, namespace, lambda i: _escalation(i).get("level") == 1, "level 1 recorded")
    [message] = [e["message"] for e in late["status"]["timeline"] if e["message"].startswith("secondary")]
    assert "late" in message
    assert len(vendors.pages(PRIMARY_KEY)) == 1 and len(vendors.pages(SECONDARY_KEY)) == 1
    vendors.assert_clean()


def test_a_notifier_pointing_inside_the_cluster_is_refused_and_says_why(cluster, namespace, vendors, operator_factory):
    # Without the platform's allowance, loopback is as forbidden as the cloud metadata address.
    _apply(cluster, _policy(namespace, primary_timeout="10m"))
    operator = operator_factory().start()
    _fire(operator, namespace, starts_at=datetime.now(UTC))
    incident = _incident(
        cluster,
        namespace,
        lambda i: any(
            n["state"] == "Failed" and n["notifier"].endswith("/pd-primary")
            for n in i["status"].get("notifications") or []
        ),
        "the page to the primary refused",
    )
    failed = [n for n in incident["status"]["notifications"] if n["notifier"].endswith("/pd-primary")]
    assert failed and failed[0]["state"] == "Failed"
    assert failed[0]["reason"].startswith("refused destination") and "127.0.0.1" in failed[0]["reason"]
    assert PRIMARY_KEY not in json.dumps(incident)  # the credential is nowhere in the record
    assert not vendors.pagerduty.requests


def test_a_namespace_without_a_policy_says_nobody_is_paged(cluster, namespace, operator_factory):
    operator = operator_factory(extra_args=ALLOW_LOOPBACK).start()
    _fire(operator, namespace, starts_at=datetime.now(UTC))
    incident = _incident(cluster, namespace, lambda i: _escalation(i).get("error"), "the missing policy reported")
    assert "no EscalationPolicy applies" in _escalation(incident)["error"]
    assert "NoEscalationPolicy" in _reasons(incident)


def test_a_hanging_and_a_failing_channel_hold_up_nobody_else(cluster, namespace, vendors, operator_factory):
    # Two more channels for the team: one never answers, one always answers 500.
    with (
        Receiver(respond=lambda _: Answer(hang=120)) as hanging,
        Receiver(respond=lambda _: Answer(500, "internal error")) as failing,
    ):
        _apply(
            cluster,
            _secret("hook-hang", namespace, url=f"{hanging.url}/hook", signingSecret="s1"),
            _secret("hook-fail", namespace, url=f"{failing.url}/hook", signingSecret="s2"),
            _notifier("hook-hang", namespace, "webhook", "hook-hang"),
            _notifier("hook-fail", namespace, "webhook", "hook-fail"),
        )
        policy = _policy(namespace, primary_timeout="4s")
        policy["spec"]["inform"] = ["hook-hang", "hook-fail", "team-slack"]
        _apply(cluster, policy)
        operator = operator_factory(extra_args=ALLOW_LOOPBACK).start()
        _fire(operator, namespace, starts_at=datetime.now(UTC))

        # The pager and the other channel get theirs, and the secondary is paged on time, while one channel
        # hangs and the other is still being retried.
        wait_for(lambda: vendors.pages(SECONDARY_KEY), timeout=60, what="the secondary to be paged")
        incident = _incident(cluster, namespace, lambda i: _escalation(i).get("level") == 1, "level 1 recorded")
        pages = [e for e in incident["status"]["timeline"] if e["reason"] == "Escalated"]
        gap = parse_time(pages[1]["time"]) - parse_time(pages[0]["time"])
        assert 4 <= gap.total_seconds() < 10  # the deadline, not the hanging channel's timeouts
        assert any(r.path == "/api/chat.postMessage" for r in vendors.slack.requests)
        assert hanging.requests  # it was tried, and is still hanging
        states = {
            n["notifier"].split("/")[1]: n["state"]
            for n in incident["status"]["notifications"]
            if n["key"].startswith("opened@")
        }
        assert states["team-slack"] == "Delivered" and states["hook-hang"] == "Sending"

        # The failing one is retried (5xx), then given up on, and the record says why.
        done = _incident(
            cluster,
            namespace,
            lambda i: any(
                n["key"] == "opened@hook-fail" and n["state"] == "Failed"
                for n in i["status"].get("notifications") or []
            ),
            "the failing channel given up on",
            timeout=120,
        )
        [record] = [n for n in done["status"]["notifications"] if n["key"] == "opened@hook-fail"]
        assert "gave up after 5 attempts" in record["reason"] and "500" in record["reason"]
        assert len([r for r in failing.requests if r.path == "/hook"]) >= 5
        assert "NotificationFailed" in _reasons(done)
        vendors.assert_clean()
