"""Opsgenie (legacy): alerts through the Alert API v2, acknowledgements back through its webhook.

**Legacy channel.** Atlassian ends Opsgenie support, REST API included, on
2027-04-05 (its successor is Jira Service Management / Compass). onduty keeps
this channel for teams still on Opsgenie; new setups should page through
PagerDuty or a signed webhook.

One incident is one Opsgenie alert, its ``alias`` the Incident's uid (Opsgenie
keeps one open alert per alias; a repeated create only raises its ``count``).
All calls answer 202 with a ``requestId`` (queued, not done: the outcome is at
``GET /v2/alerts/requests/{id}``), which is remembered for the timeline.

==================================  ==========================================
notice                              Opsgenie
==================================  ==========================================
OPENED, PAGE (first level)          create ``POST /v2/alerts``
PAGE (a later level or pass)        add each responder ``…/responders``
ESCALATED, APPROVAL_NEEDED          create (a no-op when open), then a note
REMEDIATION                         a note ``…/notes``
ACKNOWLEDGED / UNACKNOWLEDGED       ``…/acknowledge`` / ``…/unacknowledge``
RESOLVED                            ``…/close``
a chat-only notice (``page=False``) nothing
==================================  ==========================================

Alert calls name the alert by alias (``?identifierType=alias``, the alias
percent-encoded in the path). 429 (Opsgenie's per-domain token buckets) and
5xx are retried; any other 4xx is final.

Coming back, Opsgenie's outgoing webhook integration posts ``{"action":
"Acknowledge", "alert": {"alias": ..., "username": ...}}``; it cannot sign, so
the integration is configured with a custom header carrying a shared token
that :func:`verify_opsgenie_token` checks.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from onduty.domain.notify.channel import Credentials, InvalidConfig, Kind, Notice, Outcome, Reply, Request, Verdict
from onduty.domain.notify.http import Wording, body_text, classify, clip, json_object, vendor_said
from onduty.domain.notify.view import IncidentView

API_URL = "https://api.opsgenie.com"
EU_API_URL = "https://api.eu.opsgenie.com"
# Alert API field limits.
MESSAGE_CHARS = 130
ALIAS_CHARS = 512
DESCRIPTION_CHARS = 15000
NOTE_CHARS = 25000
ENTITY_CHARS = 512
SOURCE_CHARS = 100
MAX_TAGS = 20
TAG_CHARS = 50
MAX_RESPONDERS = 50
DETAILS_CHARS = 8000  # all keys and values together
SOURCE = "onduty"

PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
DEFAULT_PRIORITY = "P3"
_CREATE = frozenset({Kind.OPENED, Kind.PAGE, Kind.ESCALATED, Kind.APPROVAL_NEEDED})
_STATE_CALLS = {Kind.ACKNOWLEDGED: "acknowledge", Kind.UNACKNOWLEDGED: "unacknowledge", Kind.RESOLVED: "close"}
WORDING = Wording.chat("Opsgenie", "request")


class OpsgenieChannel:
    """An Opsgenie API integration (Secret key ``apiKey``; setting ``url`` for the EU instance or a test)."""

    kind = "opsgenie"

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._api_key = credentials.get("apiKey")
        url = str(settings.get("url") or API_URL).rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise InvalidConfig(f"opsgenie.url: {url!r} is not an http(s) URL (e.g. {EU_API_URL})")
        self.url = url

    def __repr__(self) -> str:
        return f"OpsgenieChannel(url={self.url!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        if not notice.page:
            return []
        plan: list[Request] = []
        later_page = notice.kind is Kind.PAGE and ((notice.level or 0) > 0 or notice.repeat > 0)
        if later_page and notice.responders:
            plan = [
                self._alert_call(view, "responders", {"responder": _responder(r), "source": SOURCE})
                for r in notice.responders[:MAX_RESPONDERS]
            ]
        elif notice.kind in _CREATE:
            plan = [self._request(f"{self.url}/v2/alerts", create_alert(notice, view))]
            if notice.kind in (Kind.ESCALATED, Kind.APPROVAL_NEEDED):
                plan.append(self._note(notice, view))
        elif notice.kind is Kind.REMEDIATION:
            plan = [self._note(notice, view)]
        elif notice.kind in _STATE_CALLS:
            body = {"source": SOURCE, "note": clip(notice.message, NOTE_CHARS)}
            plan = [self._alert_call(view, _STATE_CALLS[notice.kind], body)]
        return plan[index:]

    def _note(self, notice: Notice, view: IncidentView) -> Request:
        return self._alert_call(view, "notes", {"source": SOURCE, "note": clip(notice.message, NOTE_CHARS)})

    def _alert_call(self, view: IncidentView, call: str, body: dict[str, Any]) -> Request:
        return self._request(f"{self.url}/v2/alerts/{quote(alias(view), safe='')}/{call}?identifierType=alias", body)

    def _request(self, url: str, body: dict[str, Any]) -> Request:
        return Request(
            "POST",
            url,
            headers={"Authorization": f"GenieKey {self._api_key}", "Content-Type": "application/json"},
            json=body,
            secret_values=(self._api_key,),
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        answer = json_object(reply.body)
        request_id = str(answer.get("requestId") or "")
        queued = Verdict(
            Outcome.DELIVERED, "Opsgenie queued the request", refs={"requestId": request_id} if request_id else {}
        )
        said = vendor_said(str(answer.get("message") or body_text(reply.body)), request.secret_values)
        return classify(reply, WORDING, queued, said=said)


def alias(view: IncidentView) -> str:
    """The incident's uid; its namespace/name should the uid be missing (never blank)."""
    return (view.uid or f"onduty/{view.namespace}/{view.name}")[:ALIAS_CHARS]


def create_alert(notice: Notice, view: IncidentView) -> dict[str, Any]:
    lines = [notice.message, "", f"Where: {view.where}", f"State: {view.state} ({view.phase})"]
    lines.append(f"Alerts: {view.alerts_summary}")
    if view.actions:
        lines += ["", "What onduty did:", *(f"- {a.summary}" for a in view.actions)]
    if view.diagnostics:
        lines += ["", "Diagnostics:", view.diagnostics]
    lines += ["", "Take over:", *view.commands]
    body: dict[str, Any] = {
        "message": clip(f"[{view.severity}] {view.title}", MESSAGE_CHARS),
        "alias": alias(view),
        "description": clip("\n".join(lines), DESCRIPTION_CHARS),
        "priority": PRIORITIES.get(view.severity, DEFAULT_PRIORITY),
        "entity": clip(view.where, ENTITY_CHARS),
        "source": SOURCE,
        "tags": tags(view),
        "details": details(view),
    }
    if notice.responders:
        body["responders"] = [_responder(r) for r in notice.responders[:MAX_RESPONDERS]]
    return body


def tags(view: IncidentView) -> list[str]:
    candidates = ["onduty", f"severity:{view.severity}", f"namespace:{view.namespace}"]
    if view.alertname:
        candidates.append(f"alertname:{view.alertname}")
    return [t[:TAG_CHARS] for t in candidates][:MAX_TAGS]


def details(view: IncidentView) -> dict[str, str]:
    """Key-value properties, at most 8000 characters together: the facts first, links, then labels."""
    pairs = [
        ("incident", f"{view.namespace}/{view.name}"),
        ("severity", view.severity),
        ("workload", view.workload),
        ("alerts", view.alerts_summary),
        ("describe", view.describe_command),
        ("ack", view.ack_command),
        ("approve", view.approve_command),
        ("pause", view.pause_command),
        *((f"link:{link.title}", link.url) for link in view.links),
        *((f"label:{k}", v) for k, v in sorted(view.labels.items())),
    ]
    out: dict[str, str] = {}
    used = 0
    for key, value in pairs:
        if not value or used + len(key) + len(value) > DETAILS_CHARS:
            continue
        out[key] = value
        used += len(key) + len(value)
    return out


def _responder(name: str) -> dict[str, str]:
    return {"type": "user", "username": name}


# -- the outgoing webhook (Opsgenie → onduty) ---------------------------------------
TOKEN_HEADER = "X-Onduty-Token"


@dataclass(frozen=True)
class OpsgenieAction:
    """Someone acted on an alert in Opsgenie."""

    action: str  # Acknowledge, UnAcknowledge, Close, AddNote, ...
    alias: str  # the alert's alias: onduty's Incident uid
    username: str  # who did it (an email address, as Opsgenie names users)


class InvalidWebhook(ValueError):
    """A webhook body onduty cannot read; the message says what is missing."""


def verify_opsgenie_token(expected: str, header: str | None) -> bool:
    """Is the custom header (``X-Onduty-Token``) the shared token? Constant-time; an empty token never matches."""
    if not expected or not header:
        return False
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))


def parse_opsgenie_webhook(body: bytes) -> OpsgenieAction:
    try:
        document = json.loads(body)
    except ValueError as e:
        raise InvalidWebhook("the Opsgenie webhook body is not JSON") from e
    if not isinstance(document, dict) or not isinstance(document.get("alert"), dict):
        raise InvalidWebhook("the Opsgenie webhook has no alert object")
    action = str(document.get("action") or "")
    alert = document["alert"]
    alias_ = str(alert.get("alias") or "")
    if not action or not alias_:
        raise InvalidWebhook("the Opsgenie webhook lacks action or alert.alias")
    return OpsgenieAction(action=action, alias=alias_, username=str(alert.get("username") or ""))
