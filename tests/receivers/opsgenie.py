"""Opsgenie's Alert API v2 as a receiver (a legacy vendor: support ends 2027-04-05).

``check`` enforces ``Authorization: GenieKey <key>``, the create-alert fields
and limits (message 1-130, alias 512, description 15000, priority P1-P5, at
most 20 tags of 50 characters, details 8000 characters, at most 50 responders
of a known type) and the alert actions addressed by identifier with a valid
``identifierType``. :func:`accepted` is the 202 with a ``requestId``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import unquote

from receivers import Answer, ContractViolation, Received

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
ALERT_CALLS = ("acknowledge", "unacknowledge", "close", "notes", "responders")
_AUTH = re.compile(r"^GenieKey [A-Za-z0-9-]+$")
_CALL = re.compile(r"^/v2/alerts/([^/]+)/([a-z]+)$")


def check(got: Received) -> None:
    if got.method != "POST":
        raise ContractViolation(f"method {got.method}: alert calls are POSTed")
    if not _AUTH.match(got.headers.get("authorization", "")):
        raise ContractViolation("Authorization must be 'GenieKey <key>'")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation("Content-Type must be application/json")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation("body is not JSON") from e
    if not isinstance(body, dict):
        raise ContractViolation("body is not an object")
    if got.path == "/v2/alerts":
        _create(body)
        return
    found = _CALL.match(got.path)
    if not found or found.group(2) not in ALERT_CALLS:
        raise ContractViolation(f"path {got.path!r} is not an alert call onduty makes")
    identifier, call = unquote(found.group(1)), found.group(2)
    if not identifier or len(identifier) > 512:
        raise ContractViolation("the identifier must be 1-512 characters")
    if got.query.get("identifierType", ["id"])[0] not in ("id", "alias", "tiny"):
        raise ContractViolation("identifierType must be id, alias or tiny")
    _limit(body, "note", 25000)
    _limit(body, "source", 100)
    _limit(body, "user", 100)
    if call == "notes" and not body.get("note"):
        raise ContractViolation("adding a note needs note")
    if call == "responders":
        _responder(body.get("responder"))


def _create(body: dict[str, Any]) -> None:
    message = body.get("message")
    if not isinstance(message, str) or not 1 <= len(message) <= 130:
        raise ContractViolation("message must be 1-130 characters")
    for key, limit in (("alias", 512), ("description", 15000), ("entity", 512), ("source", 100), ("user", 100)):
        _limit(body, key, limit)
    if body.get("priority", "P3") not in PRIORITIES:
        raise ContractViolation(f"priority must be one of {PRIORITIES}")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 20 or any(not isinstance(t, str) or len(t) > 50 for t in tags):
        raise ContractViolation("tags: at most 20, each at most 50 characters")
    details = body.get("details", {})
    if not isinstance(details, dict) or any(not isinstance(v, str) for v in details.values()):
        raise ContractViolation("details must map strings to strings")
    if sum(len(k) + len(v) for k, v in details.items()) > 8000:
        raise ContractViolation("details: at most 8000 characters together")
    responders = body.get("responders", [])
    if not isinstance(responders, list) or len(responders) > 50:
        raise ContractViolation("responders: at most 50")
    for responder in responders:
        _responder(responder)


def _responder(responder: Any) -> None:
    if not isinstance(responder, dict) or responder.get("type") not in RESPONDER_TYPES:
        raise ContractViolation(f"a responder's type must be one of {RESPONDER_TYPES}")
    if not (responder.get("id") or responder.get("name") or responder.get("username")):
        raise ContractViolation("a responder needs id, name or (for a user) username")


def _limit(body: dict[str, Any], key: str, limit: int) -> None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise ContractViolation(f"{key} must be at most {limit} characters")


# -- Opsgenie's answers -------------------------------------------------------------
def accepted(request_id: str = "") -> Answer:
    return Answer(
        202, {"result": "Request will be processed", "took": 0.01, "requestId": request_id or str(uuid.uuid4())}
    )


def rate_limited(seconds: int = 1) -> Answer:
    return Answer(
        429, {"message": "You are making too many requests", "took": 0.0}, headers={"Retry-After": str(seconds)}
    )


def respond(got: Received) -> Answer:
    return accepted()
