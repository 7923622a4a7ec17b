"""Small HTTP and JSON helpers every channel shares.

Channels build requests and read replies but never send anything (see
:mod:`onduty.domain.notify.channel`), so what they share is checking a
vendor base URL from settings (:func:`base_url`), reading a reply body that
may not be JSON at all (:func:`decode_json`), and showing a bad setting's
value in an error without flooding it (:func:`shown`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from onduty.domain.notify.channel import InvalidConfig


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


def decode_json(body: bytes) -> Any:
    """The reply body as JSON, or None when it is empty or not JSON (a proxy's HTML error page)."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def shown(value: object) -> str:
    """``repr(value)`` cut to 80 characters, for an error message that names a bad value."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
