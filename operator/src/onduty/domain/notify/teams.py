"""Microsoft Teams through a Workflows webhook: one Adaptive Card per notice.

Office 365 connectors (the old ``MessageCard`` webhooks) are retired; a Teams
channel now receives posts through a Power Automate workflow ("When a Teams
webhook request is received"), which takes ``{"type": "message",
"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <card>}]}`` and answers 202. A workflow cannot edit a card it
posted, so each notice carries the whole incident as it is now.

The card is Adaptive Card 1.4 (what Teams renders everywhere, mobile
included): the title, the notice, a FactSet of the facts, what onduty did,
the diagnostics, the commands to take over, and ``Action.OpenUrl`` links.
Teams refuses messages over about 28 KB, so every piece is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from onduty.domain.notify.channel import Credentials, Notice, Outcome, Reply, Request, Verdict, url_secrets
from onduty.domain.notify.http import Wording, body_text, classify, clip, secret_url, vendor_said
from onduty.domain.notify.view import IncidentView

CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams' documented message size limit is 28 KB; keep a margin for the envelope.
MAX_MESSAGE_BYTES = 28_000
TITLE_CHARS = 300
TEXT_CHARS = 2000
# Adaptive Card actions beyond a handful are folded into "..." on narrow clients.
MAX_LINKS = 6
WORDING = Wording.chat("Teams", "card")

# TextBlock colours: Attention is red, Warning amber, Good green, Accent blue.
_COLOR = {"critical": "Attention", "error": "Attention", "warning": "Warning"}
# TextBlocks render a Markdown subset (emphasis, lists, links). Backslash escapes show
# literally on some Teams clients (AdaptiveCards issues #5590, #7474), so alert text is
# only kept from forming a link: "](" is split, which no reader notices.
_LINK = re.compile(r"\]\s*\(")


class TeamsChannel:
    """A Teams channel's workflow webhook (Secret key ``webhookURL``)."""

    kind = "teams"

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = secret_url(credentials, "webhookURL", kind="teams")

    def __repr__(self) -> str:
        return "TeamsChannel()"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        payload = {
            "type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(notice, view)}],
        }
        request = Request(
            "POST",
            self._url,
            headers={"Content-Type": "application/json"},
            json=payload,
            secret_values=url_secrets(self._url),
        )
        return [request][index:]

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        said = vendor_said(body_text(reply.body), request.secret_values)
        return classify(reply, WORDING, Verdict(Outcome.DELIVERED, "Teams accepted the card"), said=said)


def card(notice: Notice, view: IncidentView) -> dict[str, Any]:
    """The Adaptive Card for ``view``, headed by what just happened."""
    color = "Good" if view.state == "resolved" else _COLOR.get(view.severity, "Accent")
    facts = [
        ("Severity", view.severity),
        ("Where", view.where),
        ("State", f"{view.state} ({view.phase})"),
        ("Alerts", view.alerts_summary),
    ]
    if view.acknowledged_by:
        facts.append(("Acknowledged by", view.acknowledged_by))
    if view.escalation_level is not None:
        facts.append(("Escalation level", str(view.escalation_level + 1)))
    head: list[dict[str, Any]] = [
        _text(view.title, limit=TITLE_CHARS, size="Large", weight="Bolder", color=color),
        _text(notice.message),
        {"type": "FactSet", "facts": [{"title": t, "value": escape(v)[:TEXT_CHARS]} for t, v in facts]},
    ]
    if view.actions:
        head.append(_heading("What onduty did"))
        head.append(_text("\n".join(f"- {escape(a.summary)}" for a in view.actions), escaped=True))
    tail: list[dict[str, Any]] = [_heading("Take over"), _text("\n\n".join(view.commands), font="Monospace")]
    links = [link for link in view.links if link.url.startswith(("https://", "http://"))][:MAX_LINKS]
    if links:
        actions = [{"type": "Action.OpenUrl", "title": link.title[:80], "url": link.url} for link in links]
        tail.append({"type": "ActionSet", "actions": actions})
    # The diagnostics digest is onduty's own Markdown, rendered as written. It is left
    # out only if it would push the card past Teams' limit (the incident keeps it).
    diagnostics = [_heading("Diagnostics"), _text(view.diagnostics, escaped=True)] if view.diagnostics else []
    for middle in (diagnostics, []):
        out = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": [*head, *middle, *tail],
        }
        if len(json.dumps(out).encode()) <= MAX_MESSAGE_BYTES:
            break
    return out


def escape(text: str) -> str:
    """Alert text as text: a ``[label](url)`` in a label or title does not become a link."""
    return _LINK.sub("] (", text)


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "spacing": "Medium", "wrap": True}


def _text(
    text: str,
    *,
    limit: int = TEXT_CHARS,
    escaped: bool = False,
    size: str = "",
    weight: str = "",
    color: str = "",
    font: str = "",
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": clip(text if escaped else escape(text), limit), "wrap": True}
    for key, value in (("size", size), ("weight", weight), ("color", color), ("fontType", font)):
        if value:
            block[key] = value
    return block
