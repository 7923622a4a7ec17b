"""URL credentials authenticate requests and appear nowhere else: not in links, errors or logs.

The adapters are checked against a real HTTP server on loopback that demands
basic auth, as Prometheus' and Alertmanager's ``web.config`` basic_auth_users do.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from onduty.adapters.alertmanager import Alertmanager, AlertmanagerUnavailable
from onduty.adapters.prometheus import Prometheus, PrometheusUnavailable
from onduty.domain.diagnostics import graph_link
from onduty.domain.redaction import basic_authorization, redact_url, split_credentials
from processes import free_port

SECRET = "s3cr3t-pa55"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(f"http://user:{SECRET}@prom:9090", "http://prom:9090", id="user-and-password"),
        pytest.param(
            f"https://user:{SECRET}@prom:9090/prefix?x=1#top", "https://prom:9090/prefix?x=1#top", id="path-query"
        ),
        pytest.param(f"http://{SECRET}@prom", "http://prom", id="user-only"),
        pytest.param(f"http://:{SECRET}@prom", "http://prom", id="password-only"),
        pytest.param(f"http://user:p@{SECRET}@prom:9090/x", "http://prom:9090/x", id="at-sign-in-password"),
        pytest.param(f"http://user:{SECRET}@[::1]:9090/", "http://[::1]:9090/", id="ipv6"),
        pytest.param(f"http://user:{SECRET}@[::1", "http://[::1", id="malformed-ipv6"),
        pytest.param(f"user:{SECRET}@prom:9090", "prom:9090", id="no-scheme"),
        pytest.param(f"//user:{SECRET}@prom", "//prom", id="network-path"),
        pytest.param(f"HTTP://user:{SECRET}@prom", "HTTP://prom", id="upper-case-scheme"),
        pytest.param("http://prom:9090/graph", "http://prom:9090/graph", id="no-credentials"),
        pytest.param("http://prom:9090/users/@me?a=b@c", "http://prom:9090/users/@me?a=b@c", id="at-after-the-host"),
        pytest.param("", "", id="empty"),
    ],
)
def test_a_url_is_shown_without_its_userinfo(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


@pytest.mark.parametrize(
    ("url", "base", "credentials"),
    [
        ("http://user:pass@prom:9090/prefix", "http://prom:9090/prefix", ("user", "pass")),
        ("http://user:p%40ss%3Aw%C3%B6rd@prom", "http://prom", ("user", "p@ss:wörd")),
        ("http://user:p@ss@prom", "http://prom", ("user", "p@ss")),
        ("http://user@prom", "http://prom", ("user", "")),
        ("http://prom:9090", "http://prom:9090", None),
    ],
)
def test_credentials_are_split_from_the_url_and_percent_decoded(
    url: str, base: str, credentials: tuple[str, str] | None
) -> None:
    assert split_credentials(url) == (base, credentials)


def test_basic_authorization_is_rfc_7617_in_utf8() -> None:
    assert basic_authorization(("Aladdin", "open sesame")) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert base64.b64decode(basic_authorization(("user", "wörd")).removeprefix("Basic ")) == "user:wörd".encode()


def test_a_graph_link_never_carries_the_prometheus_credentials() -> None:
    link = graph_link(f"http://user:{SECRET}@prom:9090/", "up", "5m")

    assert link == "http://prom:9090/graph?g0.expr=up&g0.range_input=5m"


# --- the adapters, against a server that demands basic auth ------------------------


class _Server:
    def __init__(self, answers: dict[str, Any], user: str, password: str) -> None:
        self.answers = answers
        self.expected = basic_authorization((user, password))
        self.seen: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(self.headers.get("Authorization"))
                path = self.path.split("?", 1)[0]
                if self.headers.get("Authorization") != server.expected:
                    self._send(401, {"error": "unauthorized"})
                elif path in server.answers:
                    self._send(200, server.answers[path])
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, userinfo: str) -> str:
        return f"http://{userinfo}@127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ANSWERS = {
    "/api/v1/query": {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]},
    },
    "/api/v2/silences": [],
}


@pytest.fixture
def server() -> Iterator[_Server]:
    # "wörd" and "@": percent-encoded in the URL, sent decoded as UTF-8 (as Prometheus' Go client does).
    running = _Server(ANSWERS, "onduty", f"{SECRET}@wörd")
    yield running
    running.close()


USERINFO = f"onduty:{SECRET}%40w%C3%B6rd"


def test_prometheus_authenticates_with_the_url_credentials_and_shows_the_url_without_them(server: _Server) -> None:
    prometheus = Prometheus(server.url(USERINFO))

    assert prometheus.vector("up") == [1.0]
    assert server.seen == [server.expected]
    assert prometheus.url == f"http://127.0.0.1:{server.port}"


def test_alertmanager_authenticates_with_the_url_credentials_and_shows_the_url_without_them(server: _Server) -> None:
    alertmanager = Alertmanager(server.url(USERINFO))

    assert alertmanager.silences() == []
    assert server.seen == [server.expected]
    assert alertmanager.url == f"http://127.0.0.1:{server.port}"


def test_rejected_credentials_are_not_in_the_error(server: _Server) -> None:
    with pytest.raises(PrometheusUnavailable) as prometheus_error:
        Prometheus(server.url(f"onduty:wrong-{SECRET}")).vector("up")
    with pytest.raises(AlertmanagerUnavailable) as alertmanager_error:
        Alertmanager(server.url(f"onduty:wrong-{SECRET}")).silences()

    for error in (prometheus_error.value, alertmanager_error.value):
        assert "401" in str(error)
        assert SECRET not in str(error)


def test_an_unreachable_server_is_named_in_the_error_without_credentials() -> None:
    url = f"http://onduty:{SECRET}@127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(PrometheusUnavailable) as prometheus_error:
        Prometheus(url, timeout=2).vector("up")
    with pytest.raises(AlertmanagerUnavailable) as alertmanager_error:
        Alertmanager(url, timeout=2).silences()

    for error in (prometheus_error.value, alertmanager_error.value):
        assert "127.0.0.1" in str(error)
        assert SECRET not in str(error)
        assert SECRET not in repr(error.__cause__)
