"""The few HTTPS calls start-up makes before kubectl is of use: readiness checks and creating objects.

Standard library only, authenticated by our own client certificates (or none: the components'
``/healthz`` answers anonymous requests).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from http import HTTPStatus
from typing import Any

from _controlplane.pki import Pki


class HttpsClient:
    """Minimal HTTPS client that trusts our CA and, unless ``user`` is None, presents ``user``'s certificate."""

    def __init__(self, pki: Pki, user: str | None = "admin") -> None:
        ctx = ssl.create_default_context(cafile=str(pki.ca_crt))
        if user is not None:
            ctx.load_cert_chain(str(pki.crt(user)), str(pki.key(user)))
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))

    def request(self, method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def ok(self, url: str) -> bool:
        return self.request("GET", url, timeout=2.0)[0] == HTTPStatus.OK
