"""Slack: one message per incident, with buttons to acknowledge and approve.

Two ways in. An **incoming webhook** (Secret key ``webhookURL``) is the quick
start, but it cannot edit what it posted, so every notice is a new message
showing the incident as it is now. A **bot token** (key ``token``, setting
``channel``) posts the incident once with ``chat.postMessage``, remembers the
message ``ts`` and channel, and from then on rewrites that one message with
``chat.update``; notices people must hear about (a page, an escalation, an
approval, the end) also go into the message's thread, because an edit notifies
no one.

The Web API answers HTTP 200 even when it refuses (``{"ok": false, "error":
"channel_not_found"}``), so :meth:`SlackChannel.verdict` reads the body, not
only the status. Rate limits come back as HTTP 429 with ``Retry-After`` (or,
rarely, an ``ok: false`` body with ``ratelimited``).

Buttons post back to onduty's interaction endpoint, signed by Slack:
:func:`verify_signature` checks the ``v0`` HMAC and the age of the request,
:func:`parse_interaction` turns the form body into an :class:`Interaction` whose
names are validated like any other untrusted Kubernetes name.

Everything an alert's labels or a runbook wrote is escaped (``&``, ``<``,
``>``), so an alert cannot mention ``<!channel>`` or smuggle in a link.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from onduty.domain import trust
from onduty.domain.notify.channel import (
    Credentials,
    InvalidConfig,
    Kind,
    Notice,
    Outcome,
    Reply,
    Request,
    Verdict,
    retry_after_header,
    url_secrets,
)
from onduty.domain.notify.http import Wording, body_text, classify, secret_url, vendor_said
from onduty.domain.notify.view import IncidentView

API_URL = "https://slack.com/api"
MODES = ("webhook", "bot")

# Block Kit's documented limits (api.slack.com/reference/block-kit): longer text is
# refused with invalid_blocks, so every piece is clipped before it is sent.
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
MAX_ACTION_ELEMENTS = 25
BUTTON_TEXT_CHARS = 75
BUTTON_VALUE_CHARS = 2000
BUTTON_URL_CHARS = 3000
# The fallback ``text`` shows in notifications and on clients without blocks; Slack
# truncates past 40,000 characters, a notification shows far less.
TEXT_CHARS = 3000
# A channel id (C0123ABCD) or a name (#ops): Slack's names are at most 80 characters.
CHANNEL_CHARS = 80
# Slack signs interaction callbacks; a request older than this is a replay (Slack's advice).
SIGNATURE_TOLERANCE_SECONDS = 300

ACK_ACTION = "onduty_ack"
APPROVE_ACTION = "onduty_approve"
# Kinds people must be told about even when the message is edited in place.
THREADED = frozenset({Kind.PAGE, Kind.ESCALATED, Kind.APPROVAL_NEEDED, Kind.RESOLVED})
# Web API errors that a later attempt may get past; every other error is final.
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
METADATA_EVENT = "onduty_incident"
# An incoming webhook posts a message; the bot's Web API answers calls.
WEBHOOK_WORDING = Wording.chat("Slack", "message")
API_WORDING = Wording.chat("Slack", "call")

_EMOJI = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:"}
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


class SlackChannel:
    """Slack through an incoming webhook or a bot token (see the module docstring)."""

    kind = "slack"

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        mode = settings.get("mode") or ("bot" if credentials.optional("token") else "webhook")
        if mode not in MODES:
            raise InvalidConfig(f"slack.mode: {mode!r} is not one of {', '.join(MODES)}")
        self.mode = str(mode)
        self.api_url = str(settings.get("apiURL") or API_URL).rstrip("/")
        if not self.api_url.startswith(("https://", "http://")):
            raise InvalidConfig(f"slack.apiURL: {self.api_url!r} is not an http(s) URL")
        if self.mode == "webhook":
            self._webhook_url = secret_url(credentials, "webhookURL", kind="slack")
            self._token = ""
            self.channel = ""
        else:
            self._token = credentials.get("token")
            self._webhook_url = ""
            channel = settings.get("channel")
            if not isinstance(channel, str) or not channel or len(channel) > CHANNEL_CHARS or " " in channel:
                raise InvalidConfig(
                    f"slack.channel: {channel!r} is not a Slack channel id or name (bot mode needs one,"
                    f" at most {CHANNEL_CHARS} characters, no spaces)"
                )
            self.channel = channel

    def __repr__(self) -> str:
        return f"SlackChannel(mode={self.mode!r}, channel={self.channel!r})"

    # -- requests ------------------------------------------------------------------
    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        if self.mode == "webhook":
            return [self._webhook(notice, view)][index:]
        ts = refs.get("ts", "")
        if not ts:
            return [self._post(notice, view)][index:]
        if refs.get("postedFor") == notice.key:
            return []  # this very notice created the message: nothing more to say
        channel = refs.get("channel") or self.channel
        plan = [self._api("chat.update", {"channel": channel, "ts": ts, **message(notice, view)})]
        if notice.kind in THREADED:
            plan.append(
                self._api("chat.postMessage", {"channel": channel, "thread_ts": ts, "text": thread_text(notice)})
            )
        return plan[index:]

    def _webhook(self, notice: Notice, view: IncidentView) -> Request:
        return Request(
            "POST",
            self._webhook_url,
            headers={"Content-Type": "application/json"},
            json=message(notice, view),
            secret_values=url_secrets(self._webhook_url),
        )

    def _post(self, notice: Notice, view: IncidentView) -> Request:
        body = {
            "channel": self.channel,
            **message(notice, view),
            "unfurl_links": False,
            "unfurl_media": False,
            # Message metadata carries the notice key back to verdict(), which records
            # which notice created the message (so its thread is not told twice).
            "metadata": {
                "event_type": METADATA_EVENT,
                "event_payload": {"incident": f"{view.namespace}/{view.name}", "notice": notice.key},
            },
        }
        return self._api("chat.postMessage", body)

    def _api(self, method: str, body: dict[str, Any]) -> Request:
        return Request(
            "POST",
            f"{self.api_url}/{method}",
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json; charset=utf-8"},
            json=body,
            secret_values=(self._token,),
        )

    # -- verdicts ------------------------------------------------------------------
    def verdict(self, request: Request, reply: Reply) -> Verdict:
        said = vendor_said(body_text(reply.body), request.secret_values)
        if self.mode == "webhook":
            return classify(reply, WEBHOOK_WORDING, Verdict(Outcome.DELIVERED, "Slack accepted the message"), said=said)
        return classify(reply, API_WORDING, lambda: self._answered(request, reply), said=said)

    def _answered(self, request: Request, reply: Reply) -> Verdict:
        """A Web API call answered 2xx, which is not yet success: the body says (``ok``, ``error``)."""
        try:
            answer = json.loads(reply.body)
        except ValueError:
            return Verdict(Outcome.FAILED, "Slack's answer was not JSON")
        if not isinstance(answer, dict):
            return Verdict(Outcome.FAILED, "Slack's answer was not a JSON object")
        if answer.get("ok") is not True:
            code = vendor_said(str(answer.get("error") or "unknown_error"), request.secret_values)
            if code in RETRYABLE_ERRORS:
                return Verdict(Outcome.RETRY, f"Slack answered {code}", retry_after_header(reply.headers))
            return Verdict(Outcome.FAILED, f"Slack refused the call: {code}")
        body = request.json if isinstance(request.json, dict) else {}
        if request.url.endswith("/chat.postMessage") and "thread_ts" not in body:
            refs = {"ts": str(answer.get("ts") or ""), "channel": str(answer.get("channel") or body.get("channel", ""))}
            notice_key = ((body.get("metadata") or {}).get("event_payload") or {}).get("notice")
            if notice_key:
                refs["postedFor"] = str(notice_key)
            return Verdict(Outcome.DELIVERED, "Slack posted the incident's message", refs=refs)
        if request.url.endswith("/chat.update"):
            return Verdict(Outcome.DELIVERED, "Slack updated the incident's message")
        return Verdict(Outcome.DELIVERED, "Slack posted to the incident's thread")


# -- the message -------------------------------------------------------------------
def message(notice: Notice, view: IncidentView) -> dict[str, Any]:
    """``text`` (the notification fallback) and ``blocks``: the incident as it is now."""
    fallback = f"[{view.severity}] {view.title} in {view.where}: {notice.message}"
    return {"text": clip(escape(fallback), TEXT_CHARS), "blocks": blocks(notice, view)}


def blocks(notice: Notice, view: IncidentView) -> list[dict[str, Any]]:
    emoji = ":white_check_mark:" if view.state == "resolved" else _EMOJI.get(view.severity, ":large_blue_circle:")
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{view.title}", HEADER_CHARS), "emoji": False}},
        _section(f"{emoji} *{escape(notice.message)}*"),
    ]
    fields = [
        ("Severity", view.severity),
        ("Where", view.where),
        ("State", f"{view.state} ({view.phase})"),
        ("Alerts", view.alerts_summary),
    ]
    if view.acknowledged_by:
        fields.append(("Acknowledged by", view.acknowledged_by))
    if view.escalation_level is not None:
        fields.append(("Escalation level", str(view.escalation_level + 1)))
    out.append(
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": clip(f"*{title}*\n{escape(value)}", FIELD_CHARS)}
                for title, value in fields[:MAX_FIELDS]
            ],
        }
    )
    if view.actions:
        lines = "\n".join(f"• {escape(a.summary)}" for a in view.actions)
        out.append(_section(f"*What onduty did*\n{lines}"))
    if view.diagnostics:
        out.append(_section(f"*Diagnostics*\n{escape(view.diagnostics)}"))
    out.append(_section("*Take over*\n```" + escape("\n".join(view.commands)) + "```"))
    elements = buttons(view)
    if elements:
        out.append({"type": "actions", "block_id": "onduty_actions", "elements": elements})
    return out[:MAX_BLOCKS]


def buttons(view: IncidentView) -> list[dict[str, Any]]:
    """Acknowledge while nobody has, Approve while an action waits, then the view's links."""
    incident = f"{view.namespace}/{view.name}"
    out: list[dict[str, Any]] = []
    if view.state == "triggered":
        out.append(_button("Acknowledge", action_id=ACK_ACTION, value=incident, style="primary"))
    if view.pending_approval and view.state != "resolved":
        approve = _button("Approve", action_id=APPROVE_ACTION, value=f"{incident}/{view.pending_approval}")
        approve["confirm"] = {
            "title": {"type": "plain_text", "text": "Approve this action?"},
            "text": {"type": "plain_text", "text": clip(f"onduty will run {view.pending_approval}.", 300)},
            "confirm": {"type": "plain_text", "text": "Approve"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
        out.append(approve)
    for i, link in enumerate(view.links):
        if len(link.url) <= BUTTON_URL_CHARS:
            out.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": clip(link.title, BUTTON_TEXT_CHARS)},
                    "action_id": f"onduty_link_{i}",
                    "url": link.url,
                }
            )
    return out[:MAX_ACTION_ELEMENTS]


def _button(text: str, *, action_id: str, value: str, style: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value[:BUTTON_VALUE_CHARS],
    }
    if style:
        button["style"] = style
    return button


def thread_text(notice: Notice) -> str:
    text = notice.message
    if notice.kind is Kind.PAGE and notice.responders:
        text += f" (paging {', '.join(notice.responders)})"
    return clip(escape(text), TEXT_CHARS)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_CHARS)}}


def escape(text: str) -> str:
    """Slack's three control characters, so text from alerts cannot mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: limit - 1])  # never leave half an &amp;
    return cut + "…"


# -- interactive callbacks ---------------------------------------------------------
@dataclass(frozen=True)
class Interaction:
    """A button press: who pressed what on which incident."""

    action: str  # "ack" or "approve"
    namespace: str
    name: str
    action_id: str  # the action to approve; empty for "ack"
    slack_user_id: str
    response_url: str


class InvalidInteraction(ValueError):
    """A callback onduty cannot act on; the message says what is wrong with it."""


_ACTIONS = {ACK_ACTION: "ack", APPROVE_ACTION: "approve"}
_SLACK_ID = re.compile(r"^[A-Z0-9]{1,32}$")


def verify_signature(signing_secret: str, timestamp: str, body: bytes, signature: str, now: datetime) -> bool:
    """Slack's ``v0`` signature (``X-Slack-Signature``) over ``v0:{timestamp}:{body}``, and no older than 5 minutes."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now.timestamp() - sent) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def parse_interaction(form_body: bytes | str) -> Interaction:
    """The ``block_actions`` callback Slack posts (form-encoded ``payload=<json>``) for one of onduty's buttons."""
    text = form_body.decode("utf-8", "replace") if isinstance(form_body, bytes) else form_body
    payload = parse_qs(text).get("payload")
    if not payload:
        raise InvalidInteraction("the callback has no payload field")
    try:
        data = json.loads(payload[0])
    except ValueError as e:
        raise InvalidInteraction("the callback's payload is not JSON") from e
    if not isinstance(data, dict) or data.get("type") != "block_actions":
        raise InvalidInteraction("the callback is not a block_actions payload")
    pressed = next(
        (a for a in data.get("actions") or [] if isinstance(a, dict) and a.get("action_id") in _ACTIONS), None
    )
    if pressed is None:
        raise InvalidInteraction("the callback names none of onduty's buttons")
    action = _ACTIONS[str(pressed["action_id"])]
    parts = str(pressed.get("value") or "").split("/")
    if len(parts) != (3 if action == "approve" else 2):
        raise InvalidInteraction(f"the {action} button's value {str(pressed.get('value'))[:80]!r} is malformed")
    user = data.get("user")
    user = user if isinstance(user, dict) else {}
    user_id = str(user.get("id") or "")
    if not _SLACK_ID.fullmatch(user_id):
        raise InvalidInteraction(f"user.id: {user_id[:40]!r} is not a Slack user id")
    response_url = str(data.get("response_url") or "")
    if response_url and not response_url.startswith("https://"):
        raise InvalidInteraction("response_url is not an https URL")
    try:
        namespace = trust.namespace(parts[0], field="value (namespace)")
        name = trust.name(parts[1], field="value (incident)")
        action_id = trust.name(parts[2], field="value (action)") if action == "approve" else ""
    except trust.Untrusted as e:
        raise InvalidInteraction(e.message) from e
    return Interaction(action, namespace, name, action_id, user_id, response_url)
