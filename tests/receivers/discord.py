"""Discord as a receiver: a channel webhook ``/api/webhooks/{id}/{token}``.

``check`` enforces Discord's hard limits (content 2000; up to 10 embeds, each
with title 256, description 4096, 25 fields of name 256 / value 1024, footer
2048, 6000 characters in all; username 1-80 characters without "discord" or
"clyde"). :func:`respond` answers 200 with the created message when the
request asked to ``wait``, else 204; :func:`rate_limited` is Discord's 429.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from typing import Any

from receivers import Answer, ContractViolation, Received

_PATH = re.compile(r"^/api/webhooks/\d+/[A-Za-z0-9_-]+$")
_ids = itertools.count(1_200_000_000_000_000_000)


def check(got: Received) -> None:
    if got.method != "POST":
        raise ContractViolation(f"method {got.method}: executing a webhook is POST")
    if not _PATH.match(got.path):
        raise ContractViolation(f"path {got.path!r} is not /api/webhooks/<id>/<token>")
    if got.query.get("wait", ["false"])[0] not in ("true", "false"):
        raise ContractViolation("wait must be true or false")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation("Content-Type must be application/json")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation("body is not JSON") from e
    if not isinstance(body, dict):
        raise ContractViolation("body is not an object")
    content, embeds = body.get("content"), body.get("embeds")
    if not content and not embeds:
        raise ContractViolation("Cannot send an empty message (50006)")
    if content is not None and (not isinstance(content, str) or len(content) > 2000):
        raise ContractViolation("content must be at most 2000 characters")
    username = body.get("username")
    if username is not None and (
        not isinstance(username, str)
        or not 1 <= len(username) <= 80
        or any(w in username.lower() for w in ("discord", "clyde"))
    ):
        raise ContractViolation(f"username {username!r} is not allowed")
    mentions = body.get("allowed_mentions")
    if mentions is not None and not isinstance(mentions.get("parse", []), list):
        raise ContractViolation("allowed_mentions.parse must be a list")
    if embeds is not None:
        if not isinstance(embeds, list) or len(embeds) > 10:
            raise ContractViolation("at most 10 embeds")
        for i, embed in enumerate(embeds):
            _embed(f"embeds[{i}]", embed)


def _embed(where: str, embed: Any) -> None:
    if not isinstance(embed, dict):
        raise ContractViolation(f"{where} is not an object")
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        value = embed.get(key)
        if value is not None:
            if not isinstance(value, str) or len(value) > limit:
                raise ContractViolation(f"{where}.{key} must be at most {limit} characters")
            total += len(value)
    fields = embed.get("fields", [])
    if not isinstance(fields, list) or len(fields) > 25:
        raise ContractViolation(f"{where}.fields: at most 25")
    for j, field in enumerate(fields):
        name, value = field.get("name"), field.get("value")
        if not isinstance(name, str) or not 1 <= len(name) <= 256:
            raise ContractViolation(f"{where}.fields[{j}].name must be 1-256 characters")
        if not isinstance(value, str) or not 1 <= len(value) <= 1024:
            raise ContractViolation(f"{where}.fields[{j}].value must be 1-1024 characters, got {len(str(value))}")
        if "inline" in field and not isinstance(field["inline"], bool):
            raise ContractViolation(f"{where}.fields[{j}].inline must be a boolean")
        total += len(name) + len(value)
    footer = embed.get("footer")
    if footer is not None:
        if not isinstance(footer.get("text"), str) or len(footer["text"]) > 2048:
            raise ContractViolation(f"{where}.footer.text must be at most 2048 characters")
        total += len(footer["text"])
    if total > 6000:
        raise ContractViolation(f"{where}: {total} characters; an embed may hold 6000")
    color = embed.get("color")
    if color is not None and (not isinstance(color, int) or not 0 <= color <= 0xFFFFFF):
        raise ContractViolation(f"{where}.color must be an integer 0-0xFFFFFF")
    stamp = embed.get("timestamp")
    if stamp is not None:
        try:
            datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError as e:
            raise ContractViolation(f"{where}.timestamp {stamp!r} is not ISO 8601") from e


# -- Discord's answers --------------------------------------------------------------
def message(message_id: str = "") -> Answer:
    return Answer(200, {"id": message_id or str(next(_ids)), "type": 0, "content": "", "embeds": []})


def no_content() -> Answer:
    return Answer(204, b"")


def rate_limited(retry_after: float = 0.5, *, global_: bool = False) -> Answer:
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_}
    return Answer(429, body, headers={"Retry-After": str(max(1, round(retry_after)))})


def respond(got: Received) -> Answer:
    return message() if got.query.get("wait", ["false"])[0] == "true" else no_content()
