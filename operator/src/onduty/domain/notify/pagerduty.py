"""PagerDuty: Events API v2 for paging, change events for what onduty did, V3 webhooks back.

One incident in onduty is one alert in PagerDuty: every event carries the same
``dedup_key``, the Incident's uid (never blank: a blank key would open a new
PagerDuty incident each time; it is case-sensitive and deduplicates only within
one integration). What happened maps to an ``event_action``:

==================================================  ====================================
notice                                              PagerDuty
==================================================  ====================================
OPENED, PAGE, ESCALATED, APPROVAL_NEEDED            ``trigger`` (repeats append to the
                                                    open alert's log)
UNACKNOWLEDGED                                      ``trigger`` again (back to triggered)
ACKNOWLEDGED                                        ``acknowledge``
RESOLVED                                            ``resolve``
REMEDIATION                                         a change event (``/v2/change/enqueue``)
a chat-only notice (``page=False``)                 nothing
==================================================  ====================================

202 means queued, not "an incident exists". 400 is an event PagerDuty will never
accept (retrying cannot help); 429 and 5xx are retried with backoff.

Coming back, PagerDuty's V3 webhooks tell onduty who acknowledged or resolved
in PagerDuty: :func:`verify_pagerduty_signature` checks ``X-PagerDuty-Signature``
(``v1=<hex HMAC-SHA256 of the raw body>``, several comma-separated while a
secret rotates) and :func:`parse_webhook_v3` reads the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onduty.domain.notify.channel import Credentials, InvalidConfig, Kind, Notice, Outcome, Reply, Request, Verdict
from onduty.domain.notify.http import Wording, body_text, classify, clip, json_object, vendor_said
from onduty.domain.notify.view import ActionLine, IncidentView
from onduty.domain.times import rfc3339

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_ENQUEUE = "/v2/enqueue"
_CHANGE_ENQUEUE = "/v2/change/enqueue"
ROUTING_KEY_CHARS = 32
# Events API v2 limits.
SUMMARY_CHARS = 1024
DEDUP_KEY_CHARS = 255
SOURCE_CHARS = 255
# PagerDuty caps an event at 512 KB; custom_details is where a large one would come from.
MAX_EVENT_BYTES = 512 * 1024
CLIENT = "onduty"

# onduty's severities are PagerDuty's; anything unknown pages as a warning rather than not at all.
SEVERITIES = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
TRIGGER = frozenset({Kind.OPENED, Kind.PAGE, Kind.ESCALATED, Kind.APPROVAL_NEEDED, Kind.UNACKNOWLEDGED})
WORDING = Wording(
    limited="PagerDuty is throttling events (HTTP {status})",
    failing="PagerDuty answered HTTP {status}",
    refused="PagerDuty refused the event: {said} (HTTP {status})",
    unexplained="no reason given",
)


class PagerDutyChannel:
    """An Events API v2 integration (Secret key ``routingKey``; setting ``url`` for a proxy or test)."""

    kind = "pagerduty"

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._routing_key = credentials.get("routingKey")
        if len(self._routing_key) != ROUTING_KEY_CHARS or not (
            self._routing_key.isascii() and self._routing_key.isalnum()
        ):
            raise InvalidConfig(
                f"pagerduty: the Secret's routingKey has {len(self._routing_key)} characters; an Events API v2"
                f" integration key is {ROUTING_KEY_CHARS} letters and digits"
            )
        url = str(settings.get("url") or EVENTS_URL)
        if not url.startswith(("https://", "http://")) or not url.rstrip("/").endswith(_ENQUEUE):
            raise InvalidConfig(f"pagerduty.url: {url!r} is not an Events API v2 URL (https://…/v2/enqueue)")
        self.url = url.rstrip("/")
        self.change_url = self.url[: -len(_ENQUEUE)] + _CHANGE_ENQUEUE

    def __repr__(self) -> str:
        return f"PagerDutyChannel(url={self.url!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        if not notice.page:
            return []
        if notice.kind is Kind.REMEDIATION:
            plan = [self._request(self.change_url, change_event(self._routing_key, notice, view))]
        elif notice.kind in (Kind.ACKNOWLEDGED, Kind.RESOLVED):
            action = "acknowledge" if notice.kind is Kind.ACKNOWLEDGED else "resolve"
            event = {"routing_key": self._routing_key, "event_action": action, "dedup_key": dedup_key(view)}
            plan = [self._request(self.url, event)]
        elif notice.kind in TRIGGER:
            plan = [self._request(self.url, trigger_event(self._routing_key, notice, view))]
        else:
            plan = []
        return plan[index:]

    def _request(self, url: str, event: dict[str, Any]) -> Request:
        return Request(
            "POST",
            url,
            headers={"Content-Type": "application/json"},
            json=event,
            secret_values=(self._routing_key,),
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        answer = json_object(reply.body)
        key = str(answer.get("dedup_key") or "")
        queued = Verdict(Outcome.DELIVERED, "PagerDuty queued the event", refs={"dedupKey": key} if key else {})
        errors = answer.get("errors")
        detail = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else answer.get("message")
        said = vendor_said(str(detail or body_text(reply.body)), request.secret_values)
        return classify(reply, WORDING, queued, said=said)


def dedup_key(view: IncidentView) -> str:
    """The incident's uid; its namespace/name should the uid be missing (never blank)."""
    key = view.uid or f"onduty/{view.namespace}/{view.name}"
    return key[:DEDUP_KEY_CHARS]


def trigger_event(routing_key: str, notice: Notice, view: IncidentView) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "summary": clip(f"[{view.severity}] {view.title} in {view.where}: {notice.message}", SUMMARY_CHARS),
        "source": clip(view.where or "onduty", SOURCE_CHARS),
        "severity": SEVERITIES.get(view.severity, "warning"),
        "group": view.namespace,
        "custom_details": custom_details(notice, view),
    }
    if view.opened_at is not None:
        payload["timestamp"] = rfc3339(view.opened_at)
    if view.workload:
        payload["component"] = view.workload
    if view.alertname:
        payload["class"] = view.alertname
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(view),
        "client": CLIENT,
        "payload": payload,
    }
    if view.links:
        event["links"] = [{"href": link.url, "text": link.title} for link in view.links]
    if len(json.dumps(event).encode()) > MAX_EVENT_BYTES:  # only absurd labels get here
        payload["custom_details"] = {**payload["custom_details"], "labels": {}, "labelsDropped": True}
    return event


def change_event(routing_key: str, notice: Notice, view: IncidentView) -> dict[str, Any]:
    """A change event: "onduty restarted Deployment/web" shows next to the incident."""
    payload: dict[str, Any] = {
        "summary": clip(f"onduty: {notice.message} ({view.namespace}/{view.name})", SUMMARY_CHARS),
        "source": clip(view.where or "onduty", SOURCE_CHARS),
        "custom_details": {
            "incident": f"{view.namespace}/{view.name}",
            "dedupKey": dedup_key(view),
            "actions": [_action(a) for a in view.actions],
        },
    }
    if notice.at is not None:
        payload["timestamp"] = rfc3339(notice.at)
    event: dict[str, Any] = {"routing_key": routing_key, "payload": payload}
    if view.links:
        event["links"] = [{"href": link.url, "text": link.title} for link in view.links]
    return event


def custom_details(notice: Notice, view: IncidentView) -> dict[str, Any]:
    details: dict[str, Any] = {
        "incident": f"{view.namespace}/{view.name}",
        "notice": notice.message,
        "phase": view.phase,
        "alerts": {"firing": view.firing_alerts, "total": view.total_alerts, "truncated": view.truncated_alerts},
        "actions": [_action(a) for a in view.actions],
        "diagnostics": view.diagnostics,
        "commands": list(view.commands),
        "labels": dict(view.labels),
    }
    if notice.kind is Kind.PAGE:
        details["page"] = {
            "level": (notice.level or 0) + 1,
            "repeat": notice.repeat,
            "responders": list(notice.responders),
        }
    if view.acknowledged_by:
        details["acknowledgedBy"] = view.acknowledged_by
    return details


def _action(action: ActionLine) -> dict[str, str]:
    return {"action": action.action, "state": action.state, "target": action.target, "message": action.message}


# -- V3 webhooks (PagerDuty → onduty) ----------------------------------------------
SIGNATURE_HEADER = "X-PagerDuty-Signature"
SIGNATURE_VERSION = "v1="


@dataclass(frozen=True)
class PagerDutyEvent:
    """One V3 webhook event about an incident."""

    event_type: str  # incident.acknowledged, incident.resolved, incident.unacknowledged, ...
    incident_id: str  # PagerDuty's id (PGR0VU2)
    dedup_key: str  # data.incident_key: the dedup_key onduty sent (its Incident's uid); may be empty
    agent: str  # who did it (agent.summary, a user's name), empty for PagerDuty itself


class InvalidWebhook(ValueError):
    """A webhook body onduty cannot read; the message says what is missing."""


def verify_pagerduty_signature(secret: str, body: bytes, header: str) -> bool:
    """Does any ``v1=`` signature in ``header`` match HMAC-SHA256(secret, raw body)? Constant-time."""
    expected = (SIGNATURE_VERSION + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()).encode()
    found = False
    for candidate in (header or "").split(","):
        candidate = candidate.strip()
        if candidate.startswith(SIGNATURE_VERSION) and hmac.compare_digest(expected, candidate.encode()):
            found = True  # keep comparing: the time taken must not say which one matched
    return found


def parse_webhook_v3(body: bytes) -> PagerDutyEvent:
    """The ``event`` of a V3 webhook whose ``data`` is an incident."""
    try:
        document = json.loads(body)
    except ValueError as e:
        raise InvalidWebhook("the PagerDuty webhook body is not JSON") from e
    event = document.get("event") if isinstance(document, dict) else None
    if not isinstance(event, dict):
        raise InvalidWebhook("the PagerDuty webhook has no event object")
    event_type = str(event.get("event_type") or "")
    data = event.get("data")
    if not event_type or not isinstance(data, dict):
        raise InvalidWebhook("the PagerDuty webhook event lacks event_type or data")
    if data.get("type") == "incident":
        incident = data
    elif isinstance(data.get("incident"), dict):  # notes, responders, status updates
        incident = data["incident"]
    else:
        raise InvalidWebhook(f"the PagerDuty event {event_type[:60]!r} is not about an incident")
    incident_id = str(incident.get("id") or "")
    if not incident_id:
        raise InvalidWebhook("the PagerDuty webhook's incident has no id")
    agent = event.get("agent")
    agent = agent if isinstance(agent, dict) else {}
    return PagerDutyEvent(
        event_type=event_type,
        incident_id=incident_id,
        dedup_key=str(incident.get("incident_key") or ""),
        agent=str(agent.get("summary") or agent.get("id") or ""),
    )
