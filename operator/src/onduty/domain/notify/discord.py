"""Discord through a channel webhook: one embed per notice.

``POST <webhook URL>?wait=true`` makes Discord answer 200 with the message it
created (without ``wait`` it answers 204 and no id); the id is remembered in
``refs`` (``messageId``) for the timeline. Each notice posts a new message:
an edit would notify no one.

Discord's limits are hard (a longer field is a 400, not a truncation): embed
title 256, description 4096, at most 25 fields of name 256 / value 1024, footer
2048, and 6000 characters across the whole embed; message content 2000. A
webhook's display name may not contain "discord" or "clyde".

Rate limits answer 429 with a JSON body whose ``retry_after`` is in seconds (a
float) and a ``Retry-After`` header; the body wins when both are there.
``allowed_mentions`` is empty, so ``@everyone`` in an alert's text stays text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onduty.domain.notify.channel import (
    Credentials,
    InvalidConfig,
    Notice,
    Outcome,
    Reply,
    Request,
    Verdict,
    retry_after_header,
    url_secrets,
)
from onduty.domain.notify.http import Wording, body_text, classify, clip, json_object, secret_url, vendor_said
from onduty.domain.notify.view import IncidentView
from onduty.domain.times import rfc3339

# Discord's documented limits (developer docs, "Embed Limits").
CONTENT_CHARS = 2000
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
MAX_FIELDS = 25
FIELD_NAME_CHARS = 256
FIELD_VALUE_CHARS = 1024
FOOTER_CHARS = 2048
EMBED_TOTAL_CHARS = 6000
USERNAME_CHARS = 80
USERNAME_FORBIDDEN = ("discord", "clyde")
DEFAULT_USERNAME = "onduty"
WORDING = Wording.chat("Discord", "message")

# Embed colours by severity (resolved is green whatever it was).
COLORS = {"critical": 0xE01E5A, "error": 0xE8712D, "warning": 0xECB22E, "info": 0x36C5F0}
RESOLVED_COLOR = 0x2EB67D


class DiscordChannel:
    """A Discord channel's webhook (Secret key ``webhookURL``; setting ``username``)."""

    kind = "discord"

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = secret_url(credentials, "webhookURL", kind="discord")
        username = settings.get("username", DEFAULT_USERNAME)
        if (
            not isinstance(username, str)
            or not 1 <= len(username.strip()) <= USERNAME_CHARS
            or any(word in username.lower() for word in USERNAME_FORBIDDEN)
        ):
            raise InvalidConfig(
                f"discord.username: {username!r} is not a name Discord accepts (1-{USERNAME_CHARS} characters,"
                f" without {' or '.join(repr(w) for w in USERNAME_FORBIDDEN)})"
            )
        self.username = username

    def __repr__(self) -> str:
        return f"DiscordChannel(username={self.username!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        url = self._url + ("&" if "?" in self._url else "?") + "wait=true"
        payload = {
            "username": self.username,
            "content": clip(f"**[{view.severity}] {view.title}** in {view.where}: {notice.message}", CONTENT_CHARS),
            "allowed_mentions": {"parse": []},
            "embeds": [embed(notice, view)],
        }
        request = Request(
            "POST",
            url,
            headers={"Content-Type": "application/json"},
            json=payload,
            secret_values=url_secrets(self._url),
        )
        return [request][index:]

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        if reply.status == 204:
            return Verdict(Outcome.DELIVERED, "Discord accepted the message")
        answer = json_object(reply.body)
        if reply.status == 429:  # the body says how long (it wins over Retry-After) and whether globally
            retry_after = answer.get("retry_after")
            seconds = (
                max(0.0, float(retry_after))
                if isinstance(retry_after, int | float) and not isinstance(retry_after, bool)
                else retry_after_header(reply.headers)
            )
            scope = "globally " if answer.get("global") is True else ""
            return Verdict(Outcome.RETRY, f"Discord is rate limiting this webhook {scope}(HTTP 429)", seconds)
        message_id = str(answer.get("id") or "")
        posted = Verdict(
            Outcome.DELIVERED, "Discord posted the message", refs={"messageId": message_id} if message_id else {}
        )
        said = vendor_said(str(answer.get("message") or body_text(reply.body)), request.secret_values)
        return classify(reply, WORDING, posted, said=said)


def embed(notice: Notice, view: IncidentView) -> dict[str, Any]:
    """The incident as one embed, within every one of Discord's limits."""
    color = RESOLVED_COLOR if view.state == "resolved" else COLORS.get(view.severity, COLORS["info"])
    fields = [
        ("Severity", view.severity, True),
        ("Where", view.where, True),
        ("State", f"{view.state} ({view.phase})", True),
        ("Alerts", view.alerts_summary, True),
    ]
    if view.acknowledged_by:
        fields.append(("Acknowledged by", view.acknowledged_by, True))
    if view.escalation_level is not None:
        fields.append(("Escalation level", str(view.escalation_level + 1), True))
    if view.actions:
        fields.append(("What onduty did", "\n".join(f"• {a.summary}" for a in view.actions), False))
    links = [f"[{_link_text(link.title)}]({link.url})" for link in view.links if " " not in link.url]
    if links:
        fields.append(("Links", " · ".join(links), False))
    fields.append(("Take over", "```\n" + "\n".join(view.commands) + "\n```", False))
    out: dict[str, Any] = {
        "title": clip(view.title, TITLE_CHARS),
        "color": color,
        "fields": [
            {
                "name": clip(name, FIELD_NAME_CHARS),
                "value": _clip_block(value or "-", FIELD_VALUE_CHARS),
                "inline": inline,
            }
            for name, value, inline in fields[:MAX_FIELDS]
        ],
        "footer": {"text": clip(f"onduty · incident {view.namespace}/{view.name}", FOOTER_CHARS)},
    }
    if view.opened_at is not None:
        out["timestamp"] = rfc3339(view.opened_at)
    used = len(out["title"]) + len(out["footer"]["text"]) + sum(len(f["name"]) + len(f["value"]) for f in out["fields"])
    description = notice.message
    if view.diagnostics:
        description += f"\n\n**Diagnostics**\n{view.diagnostics}"
    room = min(DESCRIPTION_CHARS, EMBED_TOTAL_CHARS - used)
    if room > 1:  # Discord refuses an empty description; the fields say it all then
        out["description"] = clip(description, room)
    return out


def _link_text(title: str) -> str:
    return title.replace("[", "(").replace("]", ")")


def _clip_block(text: str, limit: int) -> str:
    """Like clip, but a clipped code block is closed again, so the rest of the embed renders."""
    if len(text) <= limit or not text.endswith("```"):
        return clip(text, limit)
    return text[: limit - 5] + "…\n```"
