"""Small HTTP and JSON helpers every channel shares.

Channels build requests and read replies but never send anything (see
:mod:`onduty.domain.notify.channel`), so what they share is checking a vendor
base URL from settings (:func:`base_url`) or a webhook URL from the Secret
(:func:`secret_url`); reading a reply body that may not be JSON at all
(:func:`json_object`, :func:`body_text`); turning a reply into a verdict by its
status (:func:`classify`, worded by :class:`Wording`); and cutting text to a
vendor's limit (:func:`clip`; Slack keeps its own, which never cuts an
``&amp;`` in half). A bad setting's value is shown in errors by
:func:`onduty.domain.specs.shown`, as a bad spec field's is.

Every vendor's status codes mean the same at heart: 2xx delivered, 429 and
5xx "try again later" (after ``Retry-After``), any other 4xx "this will never
work". What a vendor adds to that (Slack's ``ok: false`` under a 200,
Discord's ``retry_after`` body, Statuspage's 420, GitHub's rate-limit headers,
Linear's GraphQL errors) stays in its own channel, next to the call of
:func:`classify` it qualifies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from onduty.domain.notify.channel import (
    Credentials,
    InvalidConfig,
    Outcome,
    Reply,
    Verdict,
    redact,
    retry_after_header,
)
from onduty.domain.specs import shown

# How much of a vendor's error body goes into a verdict's reason: enough for
# "channel_not_found" or a validation message, not a proxy's whole HTML page.
REASON_CHARS = 200


# -- settings -----------------------------------------------------------------------
def base_url(value: object, *, kind: str, field: str = "url", default: str = "") -> str:
    """An https base URL without credentials, query or fragment; ``default`` when unset (required when none).

    Plain http is allowed only to loopback (a local stand-in, a port-forward):
    anywhere else it would carry the credential in clear.
    """
    if (value is None or value == "") and default:
        return default
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        port_ok = parts is None or parts.port is None or parts.port > 0
    except ValueError:  # a malformed host or port
        parts, port_ok = None, False
    loopback = parts is not None and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        parts is None
        or not port_ok
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise InvalidConfig(
            f"{kind} setting {field} must be an https URL without credentials, query or fragment, not {shown(value)}."
        )
    return str(value).rstrip("/")


def secret_url(credentials: Credentials, key: str, *, kind: str) -> str:
    """The http(s) URL under ``key`` in the Notifier's Secret: a webhook URL is itself the credential.

    The error never repeats the value, for the same reason.
    """
    url = credentials.get(key)
    if not url.startswith(("https://", "http://")):
        raise InvalidConfig(f"{kind}: the Secret's {key} is not an http(s) URL")
    return url


# -- replies ------------------------------------------------------------------------
def json_object(body: bytes) -> dict[str, Any]:
    """The reply body's JSON object; empty when the body is empty, not JSON (a proxy's HTML page) or no object."""
    try:
        value = json.loads(body or b"null")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def body_text(body: bytes) -> str:
    """The reply body as stripped text, whatever its encoding."""
    return body.decode("utf-8", "replace").strip()


def vendor_said(text: str, secrets: tuple[str, ...]) -> str:
    """What a vendor said, for a verdict's reason: without the request's credentials, at most :data:`REASON_CHARS`."""
    return redact(text, secrets)[:REASON_CHARS]


@dataclass(frozen=True)
class Wording:
    """What a verdict says when a vendor asks us to slow down, fails, or refuses.

    Each is a template filled with the reply's ``{status}`` and ``{said}``
    (what the vendor said; ``unexplained`` when it said nothing). The two
    house styles are :meth:`chat` (paging and chat channels: "Slack refused
    the message: channel_not_found (HTTP 404)") and :meth:`api` (status pages
    and trackers: "Jira refused the request (400): Field 'summary' is
    required."); a vendor with its own words gives all three.
    """

    limited: str
    failing: str
    refused: str
    unexplained: str = ""

    @classmethod
    def chat(cls, vendor: str, thing: str) -> Wording:
        return cls(
            limited=f"{vendor} is rate limiting (HTTP {{status}})",
            failing=f"{vendor} answered HTTP {{status}}",
            refused=f"{vendor} refused the {thing}: {{said}} (HTTP {{status}})",
            unexplained="no reason given",
        )

    @classmethod
    def api(cls, vendor: str) -> Wording:
        return cls(
            limited=f"{vendor} is rate limiting ({{status}}){{said}}.",
            failing=f"{vendor} failed ({{status}}){{said}}.",
            refused=f"{vendor} refused the request ({{status}}){{said}}.",
        )


def classify(
    reply: Reply,
    wording: Wording,
    delivered: Verdict | Callable[[], Verdict],
    *,
    said: str = "",
    limit_statuses: Collection[int] = (429,),
    rate_limited: bool = False,
) -> Verdict:
    """The verdict on ``reply`` by its status.

    A rate limit (HTTP 429, or another of ``limit_statuses``, or
    ``rate_limited`` when the vendor says so in its body) and any 5xx are
    retried after the vendor's ``Retry-After``; 2xx is ``delivered`` (a
    function when reading the answer takes work, or may still fail); every
    other status is refused for good. ``said`` is the vendor's own
    explanation, ready to show.
    """
    status = reply.status
    fill = {"status": status, "said": said or wording.unexplained}
    if rate_limited or status in limit_statuses:
        return Verdict(Outcome.RETRY, wording.limited.format(**fill), retry_after_header(reply.headers))
    if 200 <= status < 300:
        return delivered() if callable(delivered) else delivered
    if status >= 500:
        return Verdict(Outcome.RETRY, wording.failing.format(**fill), retry_after_header(reply.headers))
    return Verdict(Outcome.FAILED, wording.refused.format(**fill))


# -- text ---------------------------------------------------------------------------
def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis; empty when there is no room at all."""
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
