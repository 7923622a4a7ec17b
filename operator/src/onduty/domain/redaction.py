"""Credentials out of everything onduty shows: status, Events, logs, error messages.

A URL such as ``http://user:secret@prometheus:9090`` carries its credentials
in the userinfo part. onduty authenticates with them and shows the URL
without them everywhere else::

    redact_url("http://user:secret@prom:9090/graph")      # 'http://prom:9090/graph'
    split_credentials("http://user:s%40cret@prom:9090")    # ('http://prom:9090', ('user', 's@cret'))
    basic_authorization(("user", "s@cret"))                # 'Basic dXNlcjpzQGNyZXQ='

These are plain string functions that never raise: a malformed URL is still
redacted (everything between the scheme and the host's last ``@`` goes),
because an error message about a bad URL is exactly where a credential
would otherwise leak. A URL is shown without userinfo at all, rather than
with a placeholder: the result stays a working link (a browser asks for the
credentials itself) and says nothing about who the credentials belong to.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Where the authority (``userinfo@host:port``) ends.
_AUTHORITY_END = re.compile(r"[/?#]")

Credentials = tuple[str, str]


def _split(url: str) -> tuple[str, str, str]:
    """``(scheme and '//', userinfo, host and the rest)``; userinfo is '' when there is none."""
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else (2 if url.startswith("//") else 0)
    end_match = _AUTHORITY_END.search(url, start)
    end = end_match.start() if end_match else len(url)
    # The host follows the *last* '@': "user:p@ss@host" is user "user", password "p@ss".
    at = url.rfind("@", start, end)
    if at < 0:
        return url[:start], "", url[start:]
    return url[:start], url[start:at], url[at + 1 :]


def redact_url(url: str) -> str:
    """``url`` without the userinfo (``user:password@``) of its authority; unchanged when it has none."""
    head, _userinfo, rest = _split(url)
    return head + rest


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """The URL without userinfo, and the ``(user, password)`` it carried (percent-decoded), if any."""
    head, userinfo, rest = _split(url)
    if not userinfo:
        return url, None
    user, _, password = userinfo.partition(":")
    return head + rest, (unquote(user), unquote(password))


def basic_authorization(credentials: Credentials) -> str:
    """The ``Authorization`` header value for HTTP basic auth (RFC 7617, UTF-8 like Prometheus' own client)."""
    user, password = credentials
    # surrogateescape: a command-line argument that was not UTF-8 goes out as the bytes it was.
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8", "surrogateescape")).decode("ascii")
