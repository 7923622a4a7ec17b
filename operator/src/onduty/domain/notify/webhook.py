"""A signed webhook: the whole incident view and the notice, as JSON, to any URL.

For everything onduty has no channel for (an in-house chat bot, a ticket
bridge, a status board). The receiver gets::

    POST <url>
    Content-Type: application/json
    X-Onduty-Event: page
    X-Onduty-Delivery: <notice key>            # the same on every retry: drop repeats
    X-Onduty-Timestamp: 1714564800             # unix seconds
    X-Onduty-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">

    {"apiVersion": "onduty.dev/v1", "notice": {...}, "incident": {...}}

The body is sent as the exact bytes that were signed (``Request.body``), so
a re-serialising HTTP client cannot break the signature. Receivers check it
with :func:`verify_webhook_signature`: the HMAC in constant time, and a
timestamp no more than five minutes from their clock (a replay is refused).

The timestamp is the notice's ``at`` (the adapter stamps a notice when it
builds it to send); channels never read the clock. Without one, the newest
time the incident records is used, which a receiver will likely find stale.

2xx is delivered; 408, 429 and 5xx are retried (``Retry-After`` honoured);
any other 4xx is the receiver refusing the payload, and repeating it will not
help.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from onduty.domain.notify.channel import Credentials, Notice, Outcome, Reply, Request, Verdict, url_secrets
from onduty.domain.notify.http import Wording, body_text, classify, secret_url, vendor_said
from onduty.domain.notify.view import IncidentView
from onduty.domain.times import rfc3339

API_VERSION = "onduty.dev/v1"
EVENT_HEADER = "X-Onduty-Event"
DELIVERY_HEADER = "X-Onduty-Delivery"
TIMESTAMP_HEADER = "X-Onduty-Timestamp"
SIGNATURE_HEADER = "X-Onduty-Signature"
SIGNATURE_PREFIX = "sha256="
# Five minutes, as Slack and Stripe: long enough for clock skew and a slow proxy,
# short enough that a captured request is useless soon after.
SIGNATURE_TOLERANCE_SECONDS = 300
# Besides 5xx: a receiver timing out on our request, too early, or rate limiting.
RETRYABLE = frozenset({408, 425, 429})
WORDING = Wording(
    limited="the webhook answered HTTP {status}",
    failing="the webhook answered HTTP {status}",
    refused="the webhook refused the notice: {said} (HTTP {status})",
    unexplained="no reason given",
)


class WebhookChannel:
    """Any HTTP endpoint (Secret keys ``url`` and ``signingSecret``)."""

    kind = "webhook"

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = secret_url(credentials, "url", kind="webhook")
        self._secret = credentials.get("signingSecret")

    def __repr__(self) -> str:
        return "WebhookChannel()"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        body = json.dumps(payload(notice, view), separators=(",", ":"), ensure_ascii=False).encode()
        moment = notice.at or max(
            (t for t in (view.resolved_at, view.acknowledged_at, view.opened_at) if t is not None), default=None
        )
        timestamp = str(int(moment.timestamp())) if moment else "0"
        request = Request(
            "POST",
            self._url,
            headers={
                "Content-Type": "application/json",
                EVENT_HEADER: notice.kind.value,
                DELIVERY_HEADER: notice.key,
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            },
            body=body,
            secret_values=(*url_secrets(self._url), self._secret),
        )
        return [request][index:]

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        delivered = Verdict(Outcome.DELIVERED, f"the webhook answered HTTP {reply.status}")
        said = vendor_said(body_text(reply.body), request.secret_values)
        return classify(reply, WORDING, delivered, said=said, limit_statuses=RETRYABLE)


def payload(notice: Notice, view: IncidentView) -> dict[str, Any]:
    """The notice and the whole view, in the Kubernetes spelling (camelCase, RFC 3339 times)."""
    return {
        "apiVersion": API_VERSION,
        "notice": {
            "kind": notice.kind.value,
            "key": notice.key,
            "message": notice.message,
            "level": notice.level,
            "repeat": notice.repeat,
            "responders": list(notice.responders),
            "page": notice.page,
            "at": _time(notice.at),
        },
        "incident": {
            "name": view.name,
            "namespace": view.namespace,
            "uid": view.uid,
            "title": view.title,
            "severity": view.severity,
            "phase": view.phase,
            "state": view.state,
            "openedAt": _time(view.opened_at),
            "alertname": view.alertname,
            "workload": view.workload,
            "where": view.where,
            "alerts": {
                "firing": view.firing_alerts,
                "total": view.total_alerts,
                "truncated": view.truncated_alerts,
            },
            "acknowledgedBy": view.acknowledged_by,
            "acknowledgedAt": _time(view.acknowledged_at),
            "resolvedAt": _time(view.resolved_at),
            "escalationLevel": view.escalation_level,
            "pendingApproval": view.pending_approval,
            "actions": [
                {"action": a.action, "state": a.state, "target": a.target, "message": a.message} for a in view.actions
            ],
            "diagnostics": view.diagnostics,
            "labels": dict(view.labels),
            "links": [{"title": link.title, "url": link.url} for link in view.links],
            "public": view.public,
            "commands": {
                "describe": view.describe_command,
                "ack": view.ack_command,
                "approve": view.approve_command,
                "pause": view.pause_command,
            },
        },
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with the signing secret over ``{timestamp}.{body}``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_webhook_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: datetime,
    *,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """For receivers: is ``signature`` (``X-Onduty-Signature``) onduty's, over this body, and fresh?"""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now.timestamp() - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode("utf-8", "replace"))


def _time(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None
