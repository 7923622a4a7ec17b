"""Alertmanager's API v2, for the silences automation must respect.

Synchronous (stdlib HTTP); async callers run it in a worker thread. Errors
come out as :class:`AlertmanagerUnavailable`, chained to the cause.

Credentials in the URL (``http://user:secret@alertmanager:9093``) authenticate
every request (HTTP basic auth; urllib would otherwise take ``user:secret@host``
for the host name) and appear nowhere else: ``url`` and every error message
carry the URL without them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from onduty.domain.redaction import basic_authorization, split_credentials
from onduty.domain.silences import Silence

# A silence check sits in front of every action: keep it short, and hold the
# action (rather than run it blind) when Alertmanager does not answer in time.
DEFAULT_TIMEOUT = 5.0


class AlertmanagerUnavailable(Exception):
    """Alertmanager could not be asked, or answered something unusable."""


class Alertmanager:
    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        base, credentials = split_credentials(url.rstrip("/"))
        self.url = base  # without credentials: it is shown in errors
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if credentials:
            self._headers["Authorization"] = basic_authorization(credentials)

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise AlertmanagerUnavailable(f"GET {self.url}{path}: {error}") from error

    def silences(self) -> list[Silence]:
        """Active and pending silences (expired ones are of no interest)."""
        items = self._get("/api/v2/silences")
        if not isinstance(items, list):
            raise AlertmanagerUnavailable(
                f"GET {self.url}/api/v2/silences: expected a list, got {type(items).__name__}"
            )
        try:
            return [Silence.from_api(item) for item in items if (item.get("status") or {}).get("state") != "expired"]
        except (KeyError, ValueError, TypeError) as error:
            raise AlertmanagerUnavailable(f"unreadable silence from {self.url}: {error}") from error
