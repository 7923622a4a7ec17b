"""Slack as a receiver: incoming webhooks and the Web API's chat.postMessage / chat.update.

``check`` holds a request to what Slack documents (Block Kit limits included)
and raises :class:`ContractViolation` otherwise. Incoming webhooks live at any
path and answer ``ok``; the Web API lives under ``/api/<method>`` and answers
HTTP 200 with ``{"ok": true|false, ...}``. :func:`respond` answers like Slack
would (a fresh ``ts`` per posted message).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from receivers import Answer, ContractViolation, Received

API_METHODS = ("chat.postMessage", "chat.update")
BLOCK_TYPES = {"header", "section", "actions", "context", "divider", "image", "rich_text"}
TEXT_CHARS = 40_000
MAX_BLOCKS = 50
_TOKEN = re.compile(r"^Bearer xox[bpae]-[A-Za-z0-9-]+$")
_ts = itertools.count(1)


def check(got: Received) -> None:
    if got.path.startswith("/api/"):
        check_api(got)
    else:
        check_webhook(got)


def check_webhook(got: Received) -> None:
    _json_post(got)
    body = _object(got)
    _message(body)


def check_api(got: Received) -> None:
    method = got.path.rsplit("/", 1)[-1]
    if method not in API_METHODS:
        raise ContractViolation(f"unknown_method: {method}")
    if not _TOKEN.match(got.headers.get("authorization", "")):
        raise ContractViolation("not_authed: Authorization must be 'Bearer xox…'")
    _json_post(got)
    body = _object(got)
    if not isinstance(body.get("channel"), str) or not body["channel"]:
        raise ContractViolation("channel_not_found: channel is required")
    if method == "chat.update" and not body.get("ts"):
        raise ContractViolation("message_not_found: chat.update needs ts")
    if "thread_ts" in body and not isinstance(body["thread_ts"], str):
        raise ContractViolation("invalid_thread_ts")
    metadata = body.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise ContractViolation("invalid_metadata_format: metadata needs event_type and event_payload")
    _message(body)


def _json_post(got: Received) -> None:
    if got.method != "POST":
        raise ContractViolation(f"method {got.method}: Slack takes POST")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation("invalid_payload: Content-Type must be application/json")


def _object(got: Received) -> dict[str, Any]:
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation("invalid_payload: body is not JSON") from e
    if not isinstance(body, dict):
        raise ContractViolation("invalid_payload: body is not an object")
    return body


def _message(body: dict[str, Any]) -> None:
    text = body.get("text")
    blocks = body.get("blocks")
    if not text and not blocks:
        raise ContractViolation("no_text: a message needs text or blocks")
    if text is not None and (not isinstance(text, str) or len(text) > TEXT_CHARS):
        raise ContractViolation("invalid_payload: text must be a string of at most 40000 characters")
    for piece in [text if isinstance(text, str) else "", *_texts(blocks)]:
        if "<!" in piece:
            raise ContractViolation(f"unescaped special mention in {piece[:60]!r}")
    if blocks is None:
        return
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise ContractViolation("invalid_blocks: blocks must be a list of at most 50")
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _block(i, block, action_ids)


def _block(i: int, block: Any, action_ids: set[str]) -> None:
    where = f"invalid_blocks: blocks[{i}]"
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        raise ContractViolation(f"{where} has no known type")
    kind = block["type"]
    if kind == "header":
        _text_object(where, block.get("text"), 150, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            raise ContractViolation(f"{where}: a section needs text or fields")
        if "text" in block:
            _text_object(where, block["text"], 3000)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            raise ContractViolation(f"{where}: at most 10 fields")
        for field in fields:
            _text_object(where, field, 2000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            raise ContractViolation(f"{where}: actions need 1-25 elements")
        for element in elements:
            _button(where, element, action_ids)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            raise ContractViolation(f"{where}: context needs 1-10 elements")


def _text_object(where: str, obj: Any, limit: int, *, plain_only: bool = False) -> None:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        raise ContractViolation(f"{where}: text object type must be one of {allowed}")
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        raise ContractViolation(f"{where}: text must be 1-{limit} characters, got {len(str(text))}")


def _button(where: str, element: Any, action_ids: set[str]) -> None:
    if not isinstance(element, dict) or element.get("type") != "button":
        raise ContractViolation(f"{where}: only buttons are expected")
    _text_object(where, element.get("text"), 75, plain_only=True)
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or len(action_id) > 255 or action_id in action_ids:
            raise ContractViolation(f"{where}: action_id {action_id!r} missing, too long or repeated")
        action_ids.add(action_id)
    if "value" in element and (not isinstance(element["value"], str) or len(element["value"]) > 2000):
        raise ContractViolation(f"{where}: button value must be at most 2000 characters")
    if "url" in element and (not isinstance(element["url"], str) or len(element["url"]) > 3000):
        raise ContractViolation(f"{where}: button url must be at most 3000 characters")
    if element.get("style") not in (None, "primary", "danger"):
        raise ContractViolation(f"{where}: style must be primary or danger")
    confirm = element.get("confirm")
    if confirm is not None:
        for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
            _text_object(f"{where}.confirm.{key}", confirm.get(key), limit, plain_only=key != "text")


def _texts(value: Any) -> list[str]:
    """The texts Slack parses for mentions: mrkdwn text objects (plain_text is shown as written)."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            return [value["text"]]
        return [t for k, v in value.items() if k != "metadata" for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


# -- Slack's answers ----------------------------------------------------------------
def webhook_ok() -> Answer:
    return Answer(200, "ok")


def webhook_error(status: int, error: str) -> Answer:
    """Incoming webhook refusals: 400 invalid_payload / no_text, 403 action_prohibited, 404 channel_not_found …"""
    return Answer(status, error)


def api_ok(ts: str = "", channel: str = "C0123456789") -> Answer:
    ts = ts or f"1700000000.{next(_ts):06d}"
    return Answer(200, {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}})


def api_error(error: str) -> Answer:
    """The Web API's refusal: still HTTP 200."""
    return Answer(200, {"ok": False, "error": error})


def rate_limited(seconds: int = 1) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(seconds)})


def respond(got: Received) -> Answer:
    """Slack's answer to a request that passed :func:`check`."""
    if not got.path.startswith("/api/"):
        return webhook_ok()
    body = json.loads(got.body)
    if got.path.endswith("/chat.update"):
        return api_ok(ts=body["ts"], channel=body["channel"])
    return api_ok(channel=body["channel"] if body["channel"].startswith("C") else "C0123456789")
