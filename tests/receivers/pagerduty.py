"""PagerDuty's Events API v2 as a receiver: ``/v2/enqueue`` and ``/v2/change/enqueue``.

``check`` enforces the documented event (routing_key of 32 characters,
event_action, a non-blank dedup_key for acknowledge/resolve, payload.summary
of 1-1024 characters, source, the severity enum, ISO 8601 timestamps, links
with an href). Answers: :func:`accepted` is the 202 with the dedup_key,
:func:`invalid` the 400 PagerDuty never wants retried.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from receivers import Answer, ContractViolation, Received

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def check(got: Received) -> None:
    if got.method != "POST":
        raise ContractViolation(f"method {got.method}: events are POSTed")
    if got.path not in ("/v2/enqueue", "/v2/change/enqueue"):
        raise ContractViolation(f"path {got.path!r} is neither /v2/enqueue nor /v2/change/enqueue")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation("Content-Type must be application/json")
    try:
        event = got.json()
    except ValueError as e:
        raise ContractViolation("body is not JSON") from e
    if not isinstance(event, dict):
        raise ContractViolation("body is not an object")
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        raise ContractViolation("routing_key must be 32 characters")
    _links(event.get("links"))
    if got.path == "/v2/change/enqueue":
        if "event_action" in event:
            raise ContractViolation("a change event has no event_action")
        _payload(event.get("payload"), change=True)
        return
    action = event.get("event_action")
    if action not in ACTIONS:
        raise ContractViolation(f"event_action {action!r} is not one of {ACTIONS}")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 1 <= len(dedup) <= 255):
        raise ContractViolation("dedup_key must be 1-255 characters")
    if action != "trigger":
        if not dedup:
            raise ContractViolation(f"{action} needs the dedup_key of the alert")
        return
    _payload(event.get("payload"), change=False)


def _payload(payload: Any, *, change: bool) -> None:
    if not isinstance(payload, dict):
        raise ContractViolation("payload is required")
    summary = payload.get("summary")
    if not isinstance(summary, str) or not 1 <= len(summary) <= 1024:
        raise ContractViolation("payload.summary must be 1-1024 characters")
    if not change:
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            raise ContractViolation("payload.source is required")
        if payload.get("severity") not in SEVERITIES:
            raise ContractViolation(f"payload.severity {payload.get('severity')!r} is not one of {SEVERITIES}")
    stamp = payload.get("timestamp")
    if stamp is not None:
        try:
            datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError as e:
            raise ContractViolation(f"payload.timestamp {stamp!r} is not ISO 8601") from e
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | str):
        raise ContractViolation("payload.custom_details must be an object")


def _links(links: Any) -> None:
    if links is None:
        return
    if not isinstance(links, list) or any(not isinstance(link, dict) or not link.get("href") for link in links):
        raise ContractViolation("links must be a list of objects with an href")


# -- PagerDuty's answers ------------------------------------------------------------
def accepted(dedup_key: str) -> Answer:
    return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})


def change_accepted() -> Answer:
    return Answer(202, {"status": "success", "message": "Change event processed"})


def invalid(*errors: str) -> Answer:
    return Answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)})


def throttled(seconds: int = 1) -> Answer:
    return Answer(
        429,
        {"status": "throttle event", "message": "Requests for this service are throttled"},
        headers={"Retry-After": str(seconds)},
    )


def respond(got: Received) -> Answer:
    if got.path == "/v2/change/enqueue":
        return change_accepted()
    return accepted(str(json.loads(got.body).get("dedup_key") or "generated"))
