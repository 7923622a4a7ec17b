"""Microsoft Teams as a receiver: a Workflows webhook taking one Adaptive Card.

``check`` enforces the envelope (``type: message``, one adaptive-card
attachment), the card's shape as Teams renders it (schema version 1.0-1.5,
known element types, Action.OpenUrl with an http(s) URL) and Teams' ~28 KB
message limit. :func:`accepted` is the workflow's 202.
"""

from __future__ import annotations

from typing import Any

from receivers import Answer, ContractViolation, Received

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
ELEMENTS = {"TextBlock", "FactSet", "ActionSet", "Container", "ColumnSet", "Image", "RichTextBlock"}
ACTIONS = {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility", "Action.Execute"}
MAX_BYTES = 28 * 1024


def check(got: Received) -> None:
    if got.method != "POST":
        raise ContractViolation(f"method {got.method}: the workflow takes POST")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation("Content-Type must be application/json")
    if len(got.body) > MAX_BYTES:
        raise ContractViolation(f"message is {len(got.body)} bytes; Teams refuses more than {MAX_BYTES}")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation("body is not JSON") from e
    if not isinstance(body, dict) or body.get("type") != "message":
        raise ContractViolation('body.type must be "message"')
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        raise ContractViolation("attachments must be a non-empty list")
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
            raise ContractViolation(f"attachment contentType must be {CARD_CONTENT_TYPE}")
        _card(attachment.get("content"))


def _card(card: Any) -> None:
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        raise ContractViolation('content.type must be "AdaptiveCard"')
    if card.get("version") not in VERSIONS:
        raise ContractViolation(f"content.version {card.get('version')!r} is not one Teams renders ({VERSIONS})")
    body = card.get("body")
    if not isinstance(body, list) or not body:
        raise ContractViolation("content.body must be a non-empty list")
    for i, element in enumerate(body):
        _element(f"body[{i}]", element)
    for i, action in enumerate(card.get("actions") or []):
        _action(f"actions[{i}]", action)


def _element(where: str, element: Any) -> None:
    if not isinstance(element, dict) or element.get("type") not in ELEMENTS:
        raise ContractViolation(f"{where}: unknown element type {element!r:.60}")
    kind = element["type"]
    if kind == "TextBlock" and (not isinstance(element.get("text"), str) or not element["text"]):
        raise ContractViolation(f"{where}: a TextBlock needs text")
    if kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not facts:
            raise ContractViolation(f"{where}: a FactSet needs facts")
        for fact in facts:
            if (
                not isinstance(fact, dict)
                or not isinstance(fact.get("title"), str)
                or not isinstance(fact.get("value"), str)
            ):
                raise ContractViolation(f"{where}: every fact needs a string title and value")
    if kind == "ActionSet":
        actions = element.get("actions")
        if not isinstance(actions, list) or not actions:
            raise ContractViolation(f"{where}: an ActionSet needs actions")
        for i, action in enumerate(actions):
            _action(f"{where}.actions[{i}]", action)


def _action(where: str, action: Any) -> None:
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        raise ContractViolation(f"{where}: unknown action type")
    if action["type"] == "Action.OpenUrl":
        url = action.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ContractViolation(f"{where}: Action.OpenUrl needs an http(s) url")
        if not action.get("title"):
            raise ContractViolation(f"{where}: Action.OpenUrl needs a title")


# -- Teams' answers -----------------------------------------------------------------
def accepted() -> Answer:
    return Answer(202, b"")


def rate_limited(seconds: int = 1) -> Answer:
    return Answer(429, "Too Many Requests", headers={"Retry-After": str(seconds)})


def respond(got: Received) -> Answer:
    return accepted()
