"""A channel's requests and replies without a socket, for the notify unit tests.

Channels are pure (:mod:`onduty.domain.notify.channel`): a test builds the
requests, shows each to a vendor stand-in's check as the stand-in would
receive it (:func:`received`), and answers with the bytes a vendor would send
(:func:`reply`), encoded the way :class:`receivers.Answer` bodies are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from onduty.domain.notify.channel import Reply, Request
from receivers import Received


def wire(request: Request) -> bytes:
    """The body as sent: the exact bytes when the channel signed them, else the JSON."""
    return request.body if request.body is not None else json.dumps(request.json).encode()


def received(request: Request) -> Received:
    """The request as a receiver would see it, for running a vendor's check without a socket."""
    parts = urlsplit(request.url)
    return Received(
        method=request.method,
        path=parts.path,
        query=parse_qs(parts.query),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=wire(request),
    )


def reply(
    status: int, body: bytes | str | dict[str, Any] | list[Any] = b"", headers: Mapping[str, str] | None = None
) -> Reply:
    """A vendor's reply: a dict or list as JSON, text as UTF-8, bytes as they are; header names lower-cased."""
    raw = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status, {k.lower(): v for k, v in (headers or {}).items()}, raw)
