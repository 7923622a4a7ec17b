"""Chat and paging channels: the requests each vendor documents, how its answers are read, and its signatures.

Every channel is pure, so most tests look at the requests it builds and the
verdict it gives for a reply. One test per vendor sends the requests to a
loopback receiver that enforces the vendor's contract (``receivers.<vendor>``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests as http

from notify_fixtures import received, reply, wire
from onduty.domain.notify import discord, opsgenie, pagerduty, slack, teams, webhook
from onduty.domain.notify.channel import (
    Channel,
    Credentials,
    InvalidConfig,
    Kind,
    MissingCredential,
    Notice,
    Outcome,
    Reply,
    Request,
)
from onduty.domain.notify.view import ActionLine, IncidentView, Link
from receivers import ContractViolation, Received, Receiver
from receivers import discord as discord_rx
from receivers import opsgenie as opsgenie_rx
from receivers import pagerduty as pagerduty_rx
from receivers import slack as slack_rx
from receivers import teams as teams_rx
from receivers import webhook as webhook_rx

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
UID = "6f1c2a9e-0b7d-4d1e-9a53-2f0c8e7b1d44"
SLACK_HOOK = "https://hooks.slack.com/services/T000/B000/slackhooksecret0123456789"
SLACK_TOKEN = "xoxb-1-slacktokensecret0123456789"
TEAMS_HOOK = "https://prod.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=teamssecret0123456789"
DISCORD_HOOK = "https://discord.com/api/webhooks/123456/discordtokensecret0123456789"
HOOK_URL = "https://hooks.example.com/onduty?token=hookurlsecret0123456789"
HOOK_SECRET = "hooksigningsecret"
ROUTING_KEY = "R0UTINGKEYSECRET0123456789abcdef"
GENIE_KEY = "genie-key-secret-0001"
SECRETS = (
    "slackhooksecret0123456789",
    "slacktokensecret0123456789",
    "teamssecret0123456789",
    "discordtokensecret0123456789",
    "hookurlsecret0123456789",
    HOOK_SECRET,
    ROUTING_KEY,
    GENIE_KEY,
)
# The credentials each channel holds: a vendor error may echo them, a verdict must not.
OWN_SECRETS = {
    "slack-webhook": ("slackhooksecret0123456789", SLACK_HOOK),
    "slack-bot": (SLACK_TOKEN,),
    "teams": ("teamssecret0123456789", TEAMS_HOOK),
    "discord": ("discordtokensecret0123456789", DISCORD_HOOK),
    "webhook": ("hookurlsecret0123456789", HOOK_URL, HOOK_SECRET),
    "pagerduty": (ROUTING_KEY,),
    "opsgenie": (GENIE_KEY,),
}


def make_view(**changes: Any) -> IncidentView:
    values: dict[str, Any] = {
        "name": "web-crashloop-7f3a",
        "namespace": "shop",
        "uid": UID,
        "title": "KubePodCrashLooping: web restarts",
        "severity": "critical",
        "phase": "Remediating",
        "state": "triggered",
        "opened_at": NOW - timedelta(minutes=5),
        "alertname": "KubePodCrashLooping",
        "workload": "Deployment/web",
        "firing_alerts": 3,
        "total_alerts": 5,
        "truncated_alerts": 2,
        "actions": (ActionLine("restartPods", "Succeeded", "Deployment/web", "3 pods restarted"),),
        "diagnostics": "**OOMKilled** in 3 of 3 pods",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
        "links": (Link("Runbook", "https://runbooks.example.com/crashloop"), Link("Prometheus", "https://prom/graph")),
    }
    values.update(changes)
    return IncidentView(**values)


def make_notice(kind: Kind = Kind.OPENED, **changes: Any) -> Notice:
    values: dict[str, Any] = {
        "kind": kind,
        "key": f"{UID}/{kind.value}/0",
        "message": f"Incident {kind.value}",
        "at": NOW,
    }
    values.update(changes)
    return Notice(**values)


def slack_webhook() -> slack.SlackChannel:
    return slack.SlackChannel({"mode": "webhook"}, Credentials({"webhookURL": SLACK_HOOK}))


def slack_bot(api: str = slack.API_URL) -> slack.SlackChannel:
    return slack.SlackChannel({"channel": "C0123456789", "apiURL": api}, Credentials({"token": SLACK_TOKEN}))


def teams_channel(url: str = TEAMS_HOOK) -> teams.TeamsChannel:
    return teams.TeamsChannel({}, Credentials({"webhookURL": url}))


def discord_channel(url: str = DISCORD_HOOK) -> discord.DiscordChannel:
    return discord.DiscordChannel({}, Credentials({"webhookURL": url}))


def webhook_channel(url: str = HOOK_URL) -> webhook.WebhookChannel:
    return webhook.WebhookChannel({}, Credentials({"url": url, "signingSecret": HOOK_SECRET}))


def pagerduty_channel(url: str = pagerduty.EVENTS_URL) -> pagerduty.PagerDutyChannel:
    return pagerduty.PagerDutyChannel({"url": url}, Credentials({"routingKey": ROUTING_KEY}))


def opsgenie_channel(url: str = opsgenie.API_URL) -> opsgenie.OpsgenieChannel:
    return opsgenie.OpsgenieChannel({"url": url}, Credentials({"apiKey": GENIE_KEY}))


CHANNELS: dict[str, Callable[[], Channel]] = {
    "slack-webhook": slack_webhook,
    "slack-bot": slack_bot,
    "teams": teams_channel,
    "discord": discord_channel,
    "webhook": webhook_channel,
    "pagerduty": pagerduty_channel,
    "opsgenie": opsgenie_channel,
}
CHECKS: dict[str, Callable[[Received], None]] = {
    "slack-webhook": slack_rx.check,
    "slack-bot": slack_rx.check,
    "teams": teams_rx.check,
    "discord": discord_rx.check,
    "webhook": webhook_rx.checker(HOOK_SECRET, now=lambda: NOW),
    "pagerduty": pagerduty_rx.check,
    "opsgenie": opsgenie_rx.check,
}


def plan(channel: Channel, notice: Notice, view: IncidentView, refs: Mapping[str, str] | None = None) -> list[Request]:
    return channel.requests(notice, view, refs or {}, 0)


# -- payload shapes ------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(Kind))
def test_slack_webhook_sends_one_new_message_per_notice_with_text_and_blocks(kind: Kind) -> None:
    [request] = plan(slack_webhook(), make_notice(kind), make_view())

    assert (request.method, request.url) == ("POST", SLACK_HOOK)
    assert request.json["text"].startswith("[critical] KubePodCrashLooping: web restarts in shop/Deployment/web")
    assert request.json["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "KubePodCrashLooping: web restarts", "emoji": False},
    }
    slack_rx.check(received(request))


@pytest.mark.parametrize(
    ("kind", "refs", "expected"),
    [
        (Kind.OPENED, {}, [("chat.postMessage", False)]),
        (Kind.PAGE, {}, [("chat.postMessage", False)]),
        (Kind.OPENED, {"ts": "1.1", "channel": "C9"}, [("chat.update", False)]),
        (Kind.ACKNOWLEDGED, {"ts": "1.1", "channel": "C9"}, [("chat.update", False)]),
        (Kind.REMEDIATION, {"ts": "1.1", "channel": "C9"}, [("chat.update", False)]),
        (Kind.PAGE, {"ts": "1.1", "channel": "C9"}, [("chat.update", False), ("chat.postMessage", True)]),
        (Kind.ESCALATED, {"ts": "1.1", "channel": "C9"}, [("chat.update", False), ("chat.postMessage", True)]),
        (Kind.APPROVAL_NEEDED, {"ts": "1.1", "channel": "C9"}, [("chat.update", False), ("chat.postMessage", True)]),
        (Kind.RESOLVED, {"ts": "1.1", "channel": "C9"}, [("chat.update", False), ("chat.postMessage", True)]),
    ],
)
def test_slack_bot_posts_once_then_updates_in_place_and_threads_what_must_notify(
    kind: Kind, refs: dict[str, str], expected: list[tuple[str, bool]]
) -> None:
    requests = plan(slack_bot(), make_notice(kind), make_view(), refs)

    assert [(r.url.rsplit("/", 1)[-1], "thread_ts" in r.json) for r in requests] == expected
    for request in requests:
        assert request.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
        if refs:
            assert request.json["channel"] == "C9"
            assert request.json.get("ts", request.json.get("thread_ts")) == "1.1"
        slack_rx.check(received(request))


def test_slack_bot_resumes_a_notice_at_the_index_the_adapter_reached() -> None:
    refs = {"ts": "1.1", "channel": "C9"}

    [thread] = slack_bot().requests(make_notice(Kind.PAGE, responders=("alice",)), make_view(), refs, 1)

    assert thread.json == {"channel": "C9", "thread_ts": "1.1", "text": "Incident page (paging alice)"}


def test_slack_bot_does_not_update_the_message_its_own_notice_just_posted() -> None:
    notice = make_notice(Kind.PAGE)
    [post] = plan(slack_bot(), notice, make_view())
    verdict = slack_bot().verdict(post, reply(200, {"ok": True, "ts": "17.5", "channel": "C0123456789"}))

    assert verdict.refs == {"ts": "17.5", "channel": "C0123456789", "postedFor": notice.key}
    assert slack_bot().requests(notice, make_view(), verdict.refs, 1) == []


@pytest.mark.parametrize(
    ("changes", "buttons"),
    [
        ({}, [("onduty_ack", "shop/web-crashloop-7f3a")]),
        ({"state": "acknowledged"}, []),
        (
            {"pending_approval": f"{UID}.scale-up"},
            [("onduty_ack", "shop/web-crashloop-7f3a"), ("onduty_approve", f"shop/web-crashloop-7f3a/{UID}.scale-up")],
        ),
        ({"state": "resolved", "pending_approval": f"{UID}.scale-up"}, []),
    ],
)
def test_slack_buttons_offer_ack_while_unacknowledged_and_approve_while_an_action_waits(
    changes: dict[str, Any], buttons: list[tuple[str, str]]
) -> None:
    elements = slack.buttons(make_view(**changes))

    assert [(e["action_id"], e["value"]) for e in elements if "value" in e] == buttons
    assert [e["url"] for e in elements if "url" in e] == [
        "https://runbooks.example.com/crashloop",
        "https://prom/graph",
    ]


def test_slack_message_tells_counts_actions_diagnostics_links_and_commands() -> None:
    view = make_view(pending_approval=f"{UID}.scale-up")
    text = json.dumps(slack.message(make_notice(Kind.PAGE), view), ensure_ascii=False)

    for expected in (
        "3 firing of 5 (2 more left out by Alertmanager)",
        "restartPods on Deployment/web — Succeeded: 3 pods restarted",
        "**OOMKilled** in 3 of 3 pods",
        view.describe_command,
        view.ack_command,
        view.approve_command,
        view.pause_command,
        "https://runbooks.example.com/crashloop",
    ):
        assert expected in text


def test_slack_escapes_alert_text_so_it_cannot_mention_the_channel() -> None:
    view = make_view(title="<!channel> disk full", workload="Deployment/<@U1>")

    body = slack.message(make_notice(message="pinging <!here> & all"), view)

    assert (
        body["text"]
        == "[critical] &lt;!channel&gt; disk full in shop/Deployment/&lt;@U1&gt;: pinging &lt;!here&gt; &amp; all"
    )
    assert "&lt;!here&gt; &amp; all" in body["blocks"][1]["text"]["text"]
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "<!channel> disk full", "emoji": False}
    slack_rx.check_webhook(received(Request("POST", SLACK_HOOK, {"Content-Type": "application/json"}, json=body)))


def test_the_slack_receiver_refuses_an_unescaped_mention() -> None:
    body = {"text": "hi <!channel>"}

    with pytest.raises(ContractViolation, match="mention"):
        slack_rx.check_webhook(received(Request("POST", SLACK_HOOK, {"Content-Type": "application/json"}, json=body)))


def test_teams_sends_an_adaptive_card_1_4_with_facts_and_links() -> None:
    [request] = plan(teams_channel(), make_notice(Kind.ESCALATED), make_view())

    attachment = request.json["attachments"][0]
    card = attachment["content"]
    assert request.json["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Alerts"] == "3 firing of 5 (2 more left out by Alertmanager)"
    assert facts["Where"] == "shop/Deployment/web"
    [links] = [b["actions"] for b in card["body"] if b["type"] == "ActionSet"]
    assert [(a["type"], a["url"]) for a in links] == [
        ("Action.OpenUrl", "https://runbooks.example.com/crashloop"),
        ("Action.OpenUrl", "https://prom/graph"),
    ]
    assert card["body"][0]["color"] == "Attention"
    teams_rx.check(received(request))


def test_teams_keeps_alert_text_from_becoming_a_link() -> None:
    card = teams.card(make_notice(message="see [here](https://evil.example)"), make_view())

    assert "](" not in json.dumps(card["body"][:2])


@pytest.mark.parametrize(
    ("severity", "state", "color"),
    [
        ("critical", "triggered", 0xE01E5A),
        ("warning", "acknowledged", 0xECB22E),
        ("info", "triggered", 0x36C5F0),
        ("critical", "resolved", 0x2EB67D),
    ],
)
def test_discord_posts_an_embed_coloured_by_severity_and_waits_for_the_message_id(
    severity: str, state: str, color: int
) -> None:
    [request] = plan(discord_channel(), make_notice(), make_view(severity=severity, state=state))

    assert request.url == DISCORD_HOOK + "?wait=true"
    [embed] = request.json["embeds"]
    assert embed["color"] == color
    assert embed["timestamp"] == "2026-05-01T11:55:00Z"
    assert request.json["allowed_mentions"] == {"parse": []}
    assert {f["name"] for f in embed["fields"]} >= {"Severity", "Where", "Alerts", "What onduty did", "Take over"}
    discord_rx.check(received(request))


def test_discord_keeps_a_query_the_webhook_url_already_has() -> None:
    [request] = plan(discord_channel(DISCORD_HOOK + "?thread_id=42"), make_notice(), make_view())

    assert request.url == DISCORD_HOOK + "?thread_id=42&wait=true"


def test_webhook_sends_the_signed_exact_bytes_with_the_delivery_key() -> None:
    notice = make_notice(Kind.REMEDIATION)
    [request] = plan(webhook_channel(), notice, make_view())

    assert request.json is None and request.body is not None
    stamp = str(int(NOW.timestamp()))
    expected = hmac.new(HOOK_SECRET.encode(), stamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Onduty-Timestamp"] == stamp
    assert request.headers["X-Onduty-Signature"] == f"sha256={expected}"
    assert request.headers["X-Onduty-Delivery"] == notice.key
    assert request.headers["X-Onduty-Event"] == "remediation"
    body = json.loads(request.body)
    assert body["notice"]["kind"] == "remediation"
    assert body["incident"]["alerts"] == {"firing": 3, "total": 5, "truncated": 2}
    assert body["incident"]["actions"][0]["state"] == "Succeeded"
    assert body["incident"]["commands"]["pause"] == make_view().pause_command
    assert body["incident"]["openedAt"] == "2026-05-01T11:55:00Z"


def test_webhook_without_a_send_time_signs_with_the_newest_time_the_incident_records() -> None:
    acknowledged = NOW - timedelta(minutes=1)
    view = make_view(acknowledged_at=acknowledged)

    [request] = plan(webhook_channel(), make_notice(Kind.ACKNOWLEDGED, at=None), view)

    assert request.headers["X-Onduty-Timestamp"] == str(int(acknowledged.timestamp()))


@pytest.mark.parametrize(
    ("kind", "path", "action"),
    [
        (Kind.OPENED, "/v2/enqueue", "trigger"),
        (Kind.PAGE, "/v2/enqueue", "trigger"),
        (Kind.ESCALATED, "/v2/enqueue", "trigger"),
        (Kind.APPROVAL_NEEDED, "/v2/enqueue", "trigger"),
        (Kind.UNACKNOWLEDGED, "/v2/enqueue", "trigger"),
        (Kind.ACKNOWLEDGED, "/v2/enqueue", "acknowledge"),
        (Kind.RESOLVED, "/v2/enqueue", "resolve"),
        (Kind.REMEDIATION, "/v2/change/enqueue", None),
    ],
)
def test_pagerduty_maps_each_notice_to_one_event_on_the_incidents_dedup_key(
    kind: Kind, path: str, action: str | None
) -> None:
    [request] = plan(pagerduty_channel(), make_notice(kind), make_view())

    assert urlsplit(request.url).path == path
    assert request.json.get("event_action") == action
    assert request.json["routing_key"] == ROUTING_KEY
    if action is not None:
        assert request.json["dedup_key"] == UID
    pagerduty_rx.check(received(request))


@pytest.mark.parametrize("kind", list(Kind))
def test_pagerduty_and_opsgenie_send_nothing_for_a_chat_only_notice(kind: Kind) -> None:
    notice = make_notice(kind, page=False)

    assert plan(pagerduty_channel(), notice, make_view()) == []
    assert plan(opsgenie_channel(), notice, make_view()) == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("error", "error"), ("warning", "warning"), ("info", "info"), ("unknown", "warning")],
)
def test_pagerduty_trigger_carries_severity_source_details_and_links(severity: str, expected: str) -> None:
    [request] = plan(
        pagerduty_channel(), make_notice(Kind.PAGE, level=1, responders=("bob",)), make_view(severity=severity)
    )

    payload = request.json["payload"]
    assert payload["severity"] == expected
    assert (payload["source"], payload["component"], payload["group"], payload["class"]) == (
        "shop/Deployment/web",
        "Deployment/web",
        "shop",
        "KubePodCrashLooping",
    )
    assert payload["timestamp"] == "2026-05-01T11:55:00Z"
    details = payload["custom_details"]
    assert details["alerts"] == {"firing": 3, "total": 5, "truncated": 2}
    assert details["page"] == {"level": 2, "repeat": 0, "responders": ["bob"]}
    assert details["diagnostics"] == "**OOMKilled** in 3 of 3 pods"
    assert details["commands"][0].startswith("kubectl describe incident")
    assert request.json["links"][0] == {"href": "https://runbooks.example.com/crashloop", "text": "Runbook"}


def test_pagerduty_dedup_key_is_never_blank() -> None:
    [request] = plan(pagerduty_channel(), make_notice(Kind.RESOLVED), make_view(uid=""))

    assert request.json["dedup_key"] == "onduty/shop/web-crashloop-7f3a"


@pytest.mark.parametrize(
    ("kind", "changes", "calls"),
    [
        (Kind.OPENED, {}, ["/v2/alerts"]),
        (Kind.PAGE, {"level": 0, "responders": ("ann@example.com",)}, ["/v2/alerts"]),
        (
            Kind.PAGE,
            {"level": 1, "responders": ("ann@example.com", "bob@example.com")},
            [f"/v2/alerts/{UID}/responders", f"/v2/alerts/{UID}/responders"],
        ),
        (Kind.PAGE, {"level": 1}, ["/v2/alerts"]),
        (Kind.ESCALATED, {}, ["/v2/alerts", f"/v2/alerts/{UID}/notes"]),
        (Kind.APPROVAL_NEEDED, {}, ["/v2/alerts", f"/v2/alerts/{UID}/notes"]),
        (Kind.REMEDIATION, {}, [f"/v2/alerts/{UID}/notes"]),
        (Kind.ACKNOWLEDGED, {}, [f"/v2/alerts/{UID}/acknowledge"]),
        (Kind.UNACKNOWLEDGED, {}, [f"/v2/alerts/{UID}/unacknowledge"]),
        (Kind.RESOLVED, {}, [f"/v2/alerts/{UID}/close"]),
    ],
)
def test_opsgenie_maps_each_notice_to_alert_calls_by_alias(
    kind: Kind, changes: dict[str, Any], calls: list[str]
) -> None:
    requests = plan(opsgenie_channel(), make_notice(kind, **changes), make_view())

    assert [urlsplit(r.url).path for r in requests] == calls
    for request in requests:
        assert request.headers["Authorization"] == f"GenieKey {GENIE_KEY}"
        if request.url.endswith("/v2/alerts"):
            assert "identifierType" not in request.url
        else:
            assert request.url.endswith("?identifierType=alias")
        opsgenie_rx.check(received(request))


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", "P1"), ("error", "P2"), ("warning", "P3"), ("info", "P5")]
)
def test_opsgenie_create_carries_priority_responders_tags_and_details(severity: str, priority: str) -> None:
    [request] = plan(
        opsgenie_channel(), make_notice(Kind.PAGE, responders=("ann@example.com",)), make_view(severity=severity)
    )

    body = request.json
    assert body["priority"] == priority
    assert body["alias"] == UID
    assert body["responders"] == [{"type": "user", "username": "ann@example.com"}]
    assert "namespace:shop" in body["tags"]
    assert body["details"]["alerts"] == "3 firing of 5 (2 more left out by Alertmanager)"
    assert "restartPods on Deployment/web" in body["description"]


def test_opsgenie_percent_encodes_the_alias_in_the_path() -> None:
    [request] = plan(opsgenie_channel(), make_notice(Kind.RESOLVED), make_view(uid=""))

    assert (
        request.url
        == f"{opsgenie.API_URL}/v2/alerts/{quote('onduty/shop/web-crashloop-7f3a', safe='')}/close?identifierType=alias"
    )


# -- verdicts ------------------------------------------------------------------------
_SLACK_API = slack_bot().requests(make_notice(), make_view(), {}, 0)[0]
_WEBHOOK_VENDORS = ("slack-webhook", "teams", "discord", "webhook", "pagerduty", "opsgenie")


def _request_for(vendor: str) -> Request:
    return plan(CHANNELS[vendor](), make_notice(), make_view())[0]


@pytest.mark.parametrize("vendor", _WEBHOOK_VENDORS)
@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (400, {}, Outcome.FAILED, None),
        (401, {}, Outcome.FAILED, None),
        (404, {}, Outcome.FAILED, None),
        (429, {"Retry-After": "7"}, Outcome.RETRY, 7.0),
        (429, {}, Outcome.RETRY, None),
        (500, {}, Outcome.RETRY, None),
        (503, {"Retry-After": "30"}, Outcome.RETRY, 30.0),
    ],
)
def test_every_vendor_fails_4xx_and_retries_429_and_5xx(
    vendor: str, status: int, headers: dict[str, str], outcome: Outcome, retry_after: float | None
) -> None:
    verdict = CHANNELS[vendor]().verdict(_request_for(vendor), reply(status, "", headers))

    assert (verdict.outcome, verdict.retry_after) == (outcome, retry_after)
    assert verdict.reason


@pytest.mark.parametrize(
    ("vendor", "status", "body", "refs"),
    [
        ("slack-webhook", 200, "ok", {}),
        ("teams", 200, "", {}),
        ("teams", 202, "", {}),
        ("discord", 204, "", {}),
        ("discord", 200, {"id": "112233", "type": 0}, {"messageId": "112233"}),
        ("webhook", 200, "", {}),
        ("webhook", 204, "", {}),
        ("pagerduty", 202, {"status": "success", "message": "Event processed", "dedup_key": UID}, {"dedupKey": UID}),
        ("opsgenie", 202, {"result": "Request will be processed", "requestId": "43a29c5c"}, {"requestId": "43a29c5c"}),
    ],
)
def test_every_vendor_is_delivered_on_its_documented_success(
    vendor: str, status: int, body: str | dict[str, Any], refs: dict[str, str]
) -> None:
    verdict = CHANNELS[vendor]().verdict(_request_for(vendor), reply(status, body))

    assert (verdict.outcome, dict(verdict.refs)) == (Outcome.DELIVERED, refs)


@pytest.mark.parametrize(
    ("status", "body", "outcome", "reason"),
    [
        (200, {"ok": True, "ts": "1.2", "channel": "C1"}, Outcome.DELIVERED, "posted"),
        (200, {"ok": False, "error": "channel_not_found"}, Outcome.FAILED, "channel_not_found"),
        (200, {"ok": False, "error": "invalid_auth"}, Outcome.FAILED, "invalid_auth"),
        (200, {"ok": False, "error": "ratelimited"}, Outcome.RETRY, "ratelimited"),
        (200, {"ok": False, "error": "internal_error"}, Outcome.RETRY, "internal_error"),
        (200, "<html>", Outcome.FAILED, "not JSON"),
        (429, {"ok": False, "error": "ratelimited"}, Outcome.RETRY, "429"),
        (503, "", Outcome.RETRY, "503"),
        (404, "", Outcome.FAILED, "404"),
    ],
)
def test_slack_web_api_reads_ok_false_on_http_200(status: int, body: Any, outcome: Outcome, reason: str) -> None:
    verdict = slack_bot().verdict(_SLACK_API, reply(status, body))

    assert verdict.outcome is outcome
    assert reason in verdict.reason


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "invalid_payload"),
        (400, "no_text"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
def test_slack_webhook_errors_are_final_and_named(status: int, error: str) -> None:
    verdict = slack_webhook().verdict(_request_for("slack-webhook"), reply(status, error))

    assert verdict.outcome is Outcome.FAILED
    assert error in verdict.reason


@pytest.mark.parametrize(
    ("body", "headers", "retry_after"),
    [
        ({"message": "You are being rate limited.", "retry_after": 0.64, "global": False}, {}, 0.64),
        ({"message": "You are being rate limited.", "retry_after": 2.5, "global": True}, {"Retry-After": "3"}, 2.5),
        ("", {"Retry-After": "4"}, 4.0),
    ],
)
def test_discord_429_waits_the_bodys_retry_after_in_seconds(
    body: Any, headers: dict[str, str], retry_after: float
) -> None:
    verdict = discord_channel().verdict(_request_for("discord"), reply(429, body, headers))

    assert (verdict.outcome, verdict.retry_after) == (Outcome.RETRY, retry_after)


def test_pagerduty_400_names_the_errors_and_is_never_retried() -> None:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": ["'payload.summary' is missing"]}

    verdict = pagerduty_channel().verdict(_request_for("pagerduty"), reply(400, body))

    assert verdict.outcome is Outcome.FAILED
    assert "'payload.summary' is missing" in verdict.reason


@pytest.mark.parametrize(("status", "outcome"), [(408, Outcome.RETRY), (410, Outcome.FAILED), (422, Outcome.FAILED)])
def test_webhook_retries_a_timeout_but_not_a_refusal(status: int, outcome: Outcome) -> None:
    assert webhook_channel().verdict(_request_for("webhook"), reply(status)).outcome is outcome


# -- signatures ----------------------------------------------------------------------
def _slack_signature(secret: str, ts: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()


SLACK_BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
SLACK_TS = str(int(NOW.timestamp()))


@pytest.mark.parametrize(
    ("timestamp", "body", "signature", "now", "valid"),
    [
        (SLACK_TS, SLACK_BODY, _slack_signature("sign", SLACK_TS, SLACK_BODY), NOW, True),
        (SLACK_TS, SLACK_BODY, _slack_signature("sign", SLACK_TS, SLACK_BODY), NOW + timedelta(seconds=299), True),
        (SLACK_TS, SLACK_BODY + b"x", _slack_signature("sign", SLACK_TS, SLACK_BODY), NOW, False),
        (SLACK_TS, SLACK_BODY, _slack_signature("other", SLACK_TS, SLACK_BODY), NOW, False),
        (SLACK_TS, SLACK_BODY, _slack_signature("sign", SLACK_TS, SLACK_BODY), NOW + timedelta(seconds=301), False),
        (SLACK_TS, SLACK_BODY, _slack_signature("sign", SLACK_TS, SLACK_BODY), NOW - timedelta(minutes=10), False),
        ("not-a-number", SLACK_BODY, _slack_signature("sign", "not-a-number", SLACK_BODY), NOW, False),
        (SLACK_TS, SLACK_BODY, "v0=ünïcode", NOW, False),
    ],
    ids=["good", "good-at-299s", "tampered", "wrong-secret", "stale", "from-the-future", "bad-timestamp", "garbage"],
)
def test_slack_signature_verification(timestamp: str, body: bytes, signature: str, now: datetime, valid: bool) -> None:
    assert slack.verify_signature("sign", timestamp, body, signature, now) is valid


@pytest.mark.parametrize(
    ("tamper", "now", "valid"),
    [
        (lambda b: b, NOW, True),
        (lambda b: b.replace(b"critical", b"info"), NOW, False),
        (lambda b: b, NOW + timedelta(minutes=6), False),
    ],
    ids=["good", "tampered", "stale"],
)
def test_webhook_signature_verification(tamper: Callable[[bytes], bytes], now: datetime, valid: bool) -> None:
    [request] = plan(webhook_channel(), make_notice(), make_view())
    assert request.body is not None

    ok = webhook.verify_webhook_signature(
        HOOK_SECRET,
        request.headers["X-Onduty-Timestamp"],
        tamper(request.body),
        request.headers["X-Onduty-Signature"],
        now,
    )

    assert ok is valid
    assert not webhook.verify_webhook_signature(
        "wrong", request.headers["X-Onduty-Timestamp"], request.body, request.headers["X-Onduty-Signature"], NOW
    )


PD_BODY = b'{"event":{"event_type":"incident.acknowledged"}}'
PD_GOOD = "v1=" + hmac.new(b"pdsecret", PD_BODY, hashlib.sha256).hexdigest()
PD_OTHER = "v1=" + hmac.new(b"rotated", PD_BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("body", "header", "valid"),
    [
        (PD_BODY, PD_GOOD, True),
        (PD_BODY, f"{PD_OTHER},{PD_GOOD}", True),
        (PD_BODY, f"{PD_OTHER}, {PD_GOOD}", True),
        (PD_BODY + b" ", PD_GOOD, False),
        (PD_BODY, PD_OTHER, False),
        (PD_BODY, PD_GOOD.removeprefix("v1="), False),
        (PD_BODY, "v2=" + PD_GOOD.removeprefix("v1="), False),
        (PD_BODY, "", False),
    ],
    ids=["good", "rotating", "rotating-spaced", "tampered", "other-secret", "no-version", "unknown-version", "missing"],
)
def test_pagerduty_signature_verification(body: bytes, header: str, valid: bool) -> None:
    assert pagerduty.verify_pagerduty_signature("pdsecret", body, header) is valid


@pytest.mark.parametrize(
    ("expected", "header", "valid"),
    [("tok", "tok", True), ("tok", "tok2", False), ("tok", None, False), ("", "", False), ("tok", "tök", False)],
)
def test_opsgenie_token_check(expected: str, header: str | None, valid: bool) -> None:
    assert opsgenie.verify_opsgenie_token(expected, header) is valid


# -- callbacks and webhooks in -------------------------------------------------------
def _interaction(action_id: str, value: str, user: str = "U024BE7LH", **extra: Any) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "ann"},
        "response_url": "https://hooks.slack.com/actions/T0/1/abc",
        "actions": [{"action_id": action_id, "block_id": "onduty_actions", "value": value, "type": "button"}],
        **extra,
    }
    return b"payload=" + quote(json.dumps(payload)).encode()


def test_slack_interaction_parses_an_ack_and_an_approval() -> None:
    ack = slack.parse_interaction(_interaction("onduty_ack", "shop/web-crashloop-7f3a"))
    approve = slack.parse_interaction(
        _interaction("onduty_approve", f"shop/web-crashloop-7f3a/{UID}.scale-up").decode()
    )

    assert ack == slack.Interaction(
        "ack", "shop", "web-crashloop-7f3a", "", "U024BE7LH", "https://hooks.slack.com/actions/T0/1/abc"
    )
    assert (approve.action, approve.action_id) == ("approve", f"{UID}.scale-up")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nothing=here", "no payload"),
        (b"payload=%7Bnot-json", "not JSON"),
        (_interaction("onduty_ack", "Shop/web"), "namespace"),
        (_interaction("onduty_ack", "shop/../../etc"), "malformed"),
        (_interaction("onduty_ack", "shop/web_bad"), "incident"),
        (_interaction("onduty_approve", "shop/web"), "malformed"),
        (_interaction("onduty_approve", "shop/web/Not_An_Id"), "action"),
        (_interaction("something_else", "shop/web"), "none of onduty's buttons"),
        (_interaction("onduty_ack", "shop/web", user="U1; drop"), "user.id"),
        (_interaction("onduty_ack", "shop/web", response_url="http://attacker"), "response_url"),
    ],
)
def test_slack_interaction_refuses_what_onduty_cannot_act_on(body: bytes, message: str) -> None:
    with pytest.raises(slack.InvalidInteraction, match=message):
        slack.parse_interaction(body)


def test_pagerduty_v3_webhook_reads_event_incident_key_and_agent() -> None:
    body = json.dumps(
        {
            "event": {
                "id": "01BZYK8N47N5JG55J1EEEHPEJI",
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "agent": {"id": "PJ0LVEB", "summary": "Ann Example", "type": "user_reference"},
                "data": {"id": "PGR0VU2", "type": "incident", "incident_key": UID, "status": "acknowledged"},
            }
        }
    ).encode()

    assert pagerduty.parse_webhook_v3(body) == pagerduty.PagerDutyEvent(
        "incident.acknowledged", "PGR0VU2", UID, "Ann Example"
    )


def test_pagerduty_v3_webhook_reads_the_incident_of_a_note() -> None:
    body = {
        "event": {
            "event_type": "incident.annotated",
            "agent": None,
            "data": {"type": "incident_note", "incident": {"id": "PGR0VU2"}, "content": "hi"},
        }
    }

    event = pagerduty.parse_webhook_v3(json.dumps(body).encode())

    assert (event.incident_id, event.dedup_key, event.agent) == ("PGR0VU2", "", "")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"event": {}}',
        b'{"event": {"event_type": "service.updated", "data": {"type": "service"}}}',
    ],
)
def test_pagerduty_v3_webhook_refuses_what_is_not_about_an_incident(body: bytes) -> None:
    with pytest.raises(pagerduty.InvalidWebhook):
        pagerduty.parse_webhook_v3(body)


def test_opsgenie_webhook_reads_action_alias_and_user() -> None:
    body = {
        "action": "Acknowledge",
        "alert": {"alertId": "0526", "alias": UID, "username": "ann@example.com", "tinyId": "23"},
        "source": {"name": "", "type": "web"},
        "integrationName": "onduty",
    }

    assert opsgenie.parse_opsgenie_webhook(json.dumps(body).encode()) == opsgenie.OpsgenieAction(
        "Acknowledge", UID, "ann@example.com"
    )


@pytest.mark.parametrize("body", [b"{", b'{"action": "Close"}', b'{"action": "Close", "alert": {}}'])
def test_opsgenie_webhook_refuses_a_body_without_action_and_alias(body: bytes) -> None:
    with pytest.raises(opsgenie.InvalidWebhook):
        opsgenie.parse_opsgenie_webhook(body)


# -- limits --------------------------------------------------------------------------
HUGE = make_view(
    title="T" * 5000,
    workload="Deployment/" + "w" * 300,
    actions=tuple(ActionLine("restartPods", "Failed", "Deployment/web", "m" * 5000) for _ in range(5)),
    diagnostics="d" * 1500,
    labels={f"label{i}": "v" * 500 for i in range(40)},
    links=tuple(Link(f"Link {i} " + "x" * 100, f"https://example.com/{i}") for i in range(30)),
    pending_approval=f"{UID}.scale-up",
)


@pytest.mark.parametrize("vendor", list(CHANNELS))
@pytest.mark.parametrize("kind", [Kind.OPENED, Kind.PAGE, Kind.ESCALATED, Kind.RESOLVED])
def test_huge_incidents_are_clipped_to_every_vendor_limit(vendor: str, kind: Kind) -> None:
    notice = make_notice(kind, message="M" * 50_000, responders=tuple(f"u{i}@example.com" for i in range(80)))

    requests = plan(CHANNELS[vendor](), notice, HUGE, {"ts": "1.1", "channel": "C9"})

    assert requests
    for request in requests:
        CHECKS[vendor](received(request))


def test_limits_are_the_documented_numbers() -> None:
    [pd] = plan(pagerduty_channel(), make_notice(message="M" * 5000), HUGE)
    [og, *_] = plan(opsgenie_channel(), make_notice(message="M" * 5000), HUGE)
    [dc] = plan(discord_channel(), make_notice(message="M" * 5000), HUGE)
    [sl] = plan(slack_webhook(), make_notice(message="M" * 5000), HUGE)

    assert len(pd.json["payload"]["summary"]) == 1024 and pd.json["payload"]["summary"].endswith("…")
    assert len(og.json["message"]) == 130
    embed = dc.json["embeds"][0]
    assert len(embed["title"]) == 256
    assert (
        len(embed["description"])
        + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
        + len(embed["title"])
        + len(embed["footer"]["text"])
        <= 6000
    )
    assert all(f["value"].endswith("```") for f in embed["fields"] if f["name"] == "Take over")
    assert len(sl.json["blocks"][0]["text"]["text"]) == 150


def test_slack_clipping_never_leaves_half_an_escape() -> None:
    clipped = slack.clip(slack.escape("<" * 2000), 3000)

    assert clipped.endswith("&lt;…")


# -- configuration and secrets -------------------------------------------------------
@pytest.mark.parametrize(
    ("build", "error", "field"),
    [
        (
            lambda: slack.SlackChannel({"mode": "rss"}, Credentials({"webhookURL": SLACK_HOOK})),
            InvalidConfig,
            "slack.mode: 'rss'",
        ),
        (
            lambda: slack.SlackChannel({"mode": "bot"}, Credentials({"token": SLACK_TOKEN})),
            InvalidConfig,
            "slack.channel: None",
        ),
        (
            lambda: slack.SlackChannel({"mode": "bot", "channel": "my ops"}, Credentials({"token": SLACK_TOKEN})),
            InvalidConfig,
            "'my ops'",
        ),
        (lambda: slack.SlackChannel({}, Credentials({})), MissingCredential, "webhookURL"),
        (
            lambda: slack.SlackChannel({}, Credentials({"webhookURL": "ftp://slackhooksecret0123456789"})),
            InvalidConfig,
            "webhookURL",
        ),
        (lambda: teams.TeamsChannel({}, Credentials({})), MissingCredential, "webhookURL"),
        (
            lambda: discord.DiscordChannel({"username": "Discord Bot"}, Credentials({"webhookURL": DISCORD_HOOK})),
            InvalidConfig,
            "'Discord Bot'",
        ),
        (
            lambda: discord.DiscordChannel({"username": ""}, Credentials({"webhookURL": DISCORD_HOOK})),
            InvalidConfig,
            "discord.username",
        ),
        (lambda: webhook.WebhookChannel({}, Credentials({"url": HOOK_URL})), MissingCredential, "signingSecret"),
        (
            lambda: pagerduty.PagerDutyChannel({}, Credentials({"routingKey": ROUTING_KEY[:31]})),
            InvalidConfig,
            "31 characters",
        ),
        (
            lambda: pagerduty.PagerDutyChannel({}, Credentials({"routingKey": ROUTING_KEY[:31] + "!"})),
            InvalidConfig,
            "routingKey",
        ),
        (
            lambda: pagerduty.PagerDutyChannel(
                {"url": "https://x/v1/enqueue"}, Credentials({"routingKey": ROUTING_KEY})
            ),
            InvalidConfig,
            "pagerduty.url: 'https://x/v1/enqueue'",
        ),
        (
            lambda: opsgenie.OpsgenieChannel({"url": "api.eu.opsgenie.com"}, Credentials({"apiKey": GENIE_KEY})),
            InvalidConfig,
            "opsgenie.url: 'api.eu.opsgenie.com'",
        ),
        (lambda: opsgenie.OpsgenieChannel({}, Credentials({})), MissingCredential, "apiKey"),
    ],
)
def test_bad_settings_are_refused_naming_the_field_and_never_a_secret(
    build: Callable[[], object], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as caught:
        build()

    assert field in str(caught.value)
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_pagerduty_change_events_follow_a_url_override() -> None:
    channel = pagerduty_channel("http://127.0.0.1:9/pd/v2/enqueue")

    [request] = plan(channel, make_notice(Kind.REMEDIATION), make_view())

    assert request.url == "http://127.0.0.1:9/pd/v2/change/enqueue"


@pytest.mark.parametrize("vendor", list(CHANNELS))
def test_secrets_stay_out_of_reprs_verdicts_and_bodies_except_where_the_vendor_needs_them(vendor: str) -> None:
    channel = CHANNELS[vendor]()
    requests = plan(channel, make_notice(Kind.PAGE), make_view(), {"ts": "1.1", "channel": "C9"})
    own = OWN_SECRETS[vendor]
    leak = ("echo: " + " ".join(own)).encode()

    for request in requests:
        assert request.secret_values
        assert not any(secret in repr(request) for secret in SECRETS)
        for status in (400, 401, 404, 500):
            verdict = channel.verdict(request, Reply(status, {}, leak))
            assert not any(secret in verdict.reason for secret in own), verdict.reason
        # Only the fields that must carry a credential do: the URL, one header, or (PagerDuty) routing_key.
        body = wire(request).decode()
        assert not any(secret in body for secret in SECRETS if secret != ROUTING_KEY)
    assert not any(secret in repr(channel) for secret in SECRETS)
    assert "slacktokensecret0123456789" not in repr(Credentials({"token": SLACK_TOKEN}))


# -- over loopback, against each vendor's contract ----------------------------------
def send(request: Request) -> Reply:
    response = http.request(
        request.method,
        request.url,
        headers=dict(request.headers),
        json=request.json if request.body is None else None,
        data=request.body,
        timeout=10,
    )
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


def deliver(channel: Channel, notice: Notice, view: IncidentView, refs: dict[str, str]) -> list[Outcome]:
    """What the adapter does: ask for the next request, send it, merge the refs, until nothing is left."""
    outcomes: list[Outcome] = []
    index = 0
    while pending := channel.requests(notice, view, refs, index):
        verdict = channel.verdict(pending[0], send(pending[0]))
        outcomes.append(verdict.outcome)
        if verdict.outcome is not Outcome.DELIVERED:
            break
        refs.update(verdict.refs)
        index += 1
    return outcomes


STORY = [
    make_notice(Kind.OPENED),
    make_notice(Kind.PAGE, level=0, responders=("ann@example.com",)),
    make_notice(Kind.REMEDIATION, message="restartPods succeeded"),
    make_notice(Kind.APPROVAL_NEEDED, message="scale-up waits for approval"),
    make_notice(Kind.ACKNOWLEDGED, message="Ann acknowledged"),
    make_notice(Kind.RESOLVED, message="resolved"),
]


def _story_views() -> list[IncidentView]:
    return [
        make_view(),
        make_view(escalation_level=0),
        make_view(),
        make_view(pending_approval=f"{UID}.scale-up"),
        make_view(state="acknowledged", acknowledged_by="ann"),
        make_view(state="resolved", phase="Resolved"),
    ]


@pytest.mark.parametrize(
    ("vendor", "build", "check", "respond", "expected"),
    [
        (
            "slack-webhook",
            lambda u: slack.SlackChannel(
                {"mode": "webhook"}, Credentials({"webhookURL": f"{u}/services/T0/B0/slackhooksecret0123456789"})
            ),
            slack_rx.check,
            slack_rx.respond,
            6,
        ),
        ("slack-bot", lambda u: slack_bot(f"{u}/api"), slack_rx.check, slack_rx.respond, 1 + 5 + 3),
        (
            "teams",
            lambda u: teams_channel(f"{u}/workflows/abc/triggers/manual/paths/invoke?sig=teamssecret0123456789"),
            teams_rx.check,
            teams_rx.respond,
            6,
        ),
        (
            "discord",
            lambda u: discord_channel(f"{u}/api/webhooks/123456/discordtokensecret0123456789"),
            discord_rx.check,
            discord_rx.respond,
            6,
        ),
        (
            "webhook",
            lambda u: webhook_channel(f"{u}/hooks/onduty"),
            webhook_rx.checker(HOOK_SECRET, now=lambda: NOW),
            None,
            6,
        ),
        ("pagerduty", lambda u: pagerduty_channel(f"{u}/v2/enqueue"), pagerduty_rx.check, pagerduty_rx.respond, 6),
        ("opsgenie", lambda u: opsgenie_channel(u), opsgenie_rx.check, opsgenie_rx.respond, 1 + 1 + 1 + 2 + 1 + 1),
    ],
)
def test_each_vendor_receives_a_clean_contract_valid_story_over_loopback(
    vendor: str,
    build: Callable[[str], Channel],
    check: Callable[[Received], None],
    respond: Any,
    expected: int,
) -> None:
    refs: dict[str, str] = {}
    with Receiver(check=check, respond=respond) as receiver:
        channel = build(receiver.url)
        outcomes = [
            o for notice, view in zip(STORY, _story_views(), strict=True) for o in deliver(channel, notice, view, refs)
        ]

        got = receiver.wait_for(expected, timeout=10)
        receiver.assert_clean()

    assert outcomes == [Outcome.DELIVERED] * expected
    assert len(got) == expected
    if vendor == "slack-bot":
        assert [g.path for g in got[:2]] == ["/api/chat.postMessage", "/api/chat.update"]
        assert refs["channel"] == "C0123456789" and refs["ts"]
        assert all(json.loads(g.body).get("ts", json.loads(g.body).get("thread_ts")) == refs["ts"] for g in got[1:])
    if vendor == "webhook":
        assert webhook_rx.seen_deliveries(got) == [n.key for n in STORY]
    if vendor == "pagerduty":
        assert {json.loads(g.body).get("dedup_key") for g in got if g.path == "/v2/enqueue"} == {UID}
        assert refs["dedupKey"] == UID
    if vendor == "discord":
        assert refs["messageId"]
    if vendor == "opsgenie":
        assert refs["requestId"]


def test_discord_rate_limit_over_loopback_is_a_retry_after_the_bodys_seconds() -> None:
    with Receiver(check=discord_rx.check, respond=discord_rx.respond) as receiver:
        receiver.script(discord_rx.rate_limited(0.25))
        channel = discord_channel(f"{receiver.url}/api/webhooks/123456/discordtokensecret0123456789")
        [request] = plan(channel, make_notice(), make_view())

        first, second = channel.verdict(request, send(request)), channel.verdict(request, send(request))
        receiver.assert_clean()

    assert (first.outcome, first.retry_after) == (Outcome.RETRY, 0.25)
    assert second.outcome is Outcome.DELIVERED


def test_a_receiver_check_catches_a_broken_request() -> None:
    broken = Request(
        "POST",
        f"{pagerduty.EVENTS_URL}",
        {"Content-Type": "application/json"},
        json={"routing_key": ROUTING_KEY, "event_action": "resolve"},
    )

    with pytest.raises(ContractViolation, match="dedup_key"):
        pagerduty_rx.check(received(broken))
