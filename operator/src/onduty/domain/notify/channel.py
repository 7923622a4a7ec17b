"""What a channel is: requests out, a verdict and remembered references back.

A channel never sends anything itself. :meth:`Channel.requests` turns one
notice into the requests to make, in order; after each reply,
:meth:`Channel.verdict` says whether it worked, may be retried (and after how
long the vendor asked us to wait), or failed for good, and what to remember
for later notices (a Slack message ``ts`` to update in place, a Statuspage
incident id, a Jira issue key). A later request in the same list may depend
on what an earlier one left (``refs``), so the adapter asks for the requests
again after each success: :meth:`Channel.requests` receives the references
known so far and the index of the next request to make.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from onduty.domain.notify.view import IncidentView


class Kind(enum.StrEnum):
    """What happened to the incident that people should hear about."""

    OPENED = "opened"  # the incident opened (and escalation, if any, began)
    PAGE = "page"  # an escalation level pages its targets (level and repeat in Notice)
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"  # an acknowledgement was withdrawn or expired
    APPROVAL_NEEDED = "approvalNeeded"  # an action waits for a human's approval
    REMEDIATION = "remediation"  # an action was applied, succeeded, failed or was denied
    ESCALATED = "escalated"  # automation gave up (EscalationRequired) or was not allowed
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Notice:
    """One thing to tell: its kind, a one-line human sentence, and who is being paged.

    ``key`` is the delivery key (incident uid + what happened + attempt) the
    operator records before sending; channels that let the caller name a
    message (a webhook's id header) use it so the receiver can drop repeats.
    """

    kind: Kind
    key: str
    message: str
    level: int | None = None  # escalation level, 0-based, for PAGE
    repeat: int = 0  # which pass over the whole chain, 0-based
    responders: tuple[str, ...] = ()  # the people this page is for (names from the schedule/users)
    page: bool = True  # False: a chat-only level ("notify, don't page")
    # When the adapter built this notice to send it. Channels never read the clock, so
    # a signed webhook's timestamp (which receivers check for staleness) comes from here.
    at: datetime | None = None


@dataclass(frozen=True)
class Request:
    """One HTTP request. ``secret_values`` lists every credential in it, for redaction."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    body: bytes | None = None  # exact bytes, when the signature covers them (json is then None)
    secret_values: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print credentials, whoever logs this
        return f"Request({self.method} {redact(self.url, self.secret_values)})"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


class Outcome(enum.StrEnum):
    DELIVERED = "Delivered"
    RETRY = "Retry"  # 429, 5xx, Statuspage's 420, a dropped connection
    FAILED = "Failed"  # anything the vendor says will not work if sent again (400, 401, 404, ...)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""  # one sentence, credential-free, for the timeline
    retry_after: float | None = None  # seconds the vendor asked for (Retry-After, retry_after)
    refs: Mapping[str, str] = field(default_factory=dict)  # what to remember (merged into earlier refs)


@dataclass(frozen=True)
class Credentials:
    """The keys of a Notifier's Secret, decoded. Never logged, never in status."""

    values: Mapping[str, str]

    def get(self, key: str) -> str:
        value = self.values.get(key, "")
        if not value:
            raise MissingCredential(key)
        return value

    def optional(self, key: str) -> str | None:
        return self.values.get(key) or None

    def __repr__(self) -> str:
        return f"Credentials(keys={sorted(self.values)})"


class MissingCredential(KeyError):
    """The Notifier's Secret lacks a key its type needs."""


class InvalidConfig(ValueError):
    """A Notifier's settings cannot work; the message names the field and the value."""


class Channel(Protocol):
    """One vendor's wire format. Implementations are pure and cheap to build."""

    kind: str

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        """The requests still to make for ``notice``, starting at position ``index``.

        Return an empty list when there is nothing (more) to send — e.g. a
        status page for an incident that is not public, or an update to a
        ticket that was never created because the channel ignores that kind.
        """
        ...

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        """Classify the vendor's answer to ``request`` by its documented status codes."""
        ...


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


# A URL path segment or query value this long is a token (Slack's are 24 characters,
# Discord's 68, a Teams workflow signature 43); shorter ones are words like "services".
URL_TOKEN_CHARS = 16


def url_secrets(url: str) -> tuple[str, ...]:
    """A webhook URL is a credential: the URL, and the parts a vendor's error might echo on their own."""
    parts = urlsplit(url)
    pieces = [segment for segment in parts.path.split("/") if len(segment) >= URL_TOKEN_CHARS]
    pieces += [value for _, value in parse_qsl(parts.query) if len(value) >= URL_TOKEN_CHARS]
    whole = [url, parts.path if len(parts.path) >= URL_TOKEN_CHARS else "", parts.query]
    # Longest first, so a token is not half-replaced by a shorter secret inside it.
    return tuple(sorted({p for p in (*whole, *pieces) if p}, key=len, reverse=True))


def retry_after_header(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header given as seconds (HTTP dates are rare for these APIs)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def settings(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = spec.get(key) or {}
    return value if isinstance(value, Mapping) else {}
