#!/usr/bin/env python3
"""A tiny app that serves itself traffic and exposes it to Prometheus, for end-to-end alert tests.

It counts ``demo_requests_total{code="200"|"500"}`` at a steady rate (50 "requests"/s
by default) with an error ratio that can be changed while it runs:

    GET  /metrics       Prometheus text format
    GET  /error-ratio   the current ratio, e.g. ``0.3``
    POST /error-ratio   body ``0.3`` (0 <= ratio <= 1) sets it; answers the new ratio
    GET  /healthz       ``ok``

The errors are spread deterministically (exactly ``ratio`` of the requests fail), so
``sum(rate(demo_requests_total{code="500"}[..])) / sum(rate(demo_requests_total[..]))``
equals the ratio once the window holds only samples taken after the last change.
Both series exist from the start (at 0), so ``rate()`` sees the first errors.

CLI:       python hack/demo_app.py --port 8000 --error-ratio 0.0
Importable: app = DemoApp(port=0, error_ratio=0.5).start(); app.url; app.set_error_ratio(0); app.stop()
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


def _parse_ratio(text: str) -> float:
    ratio = float(text.strip())
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"error ratio must be between 0 and 1, got {ratio}")
    return ratio


class DemoApp:
    """The demo app in background threads: an HTTP server and a traffic generator."""

    def __init__(self, port: int = 0, error_ratio: float = 0.0, *, rate: float = 50.0, host: str = "127.0.0.1"):
        self.host = host
        self._requested_port = port
        self.rate = rate
        self._lock = threading.Lock()
        self._error_ratio = _parse_ratio(str(error_ratio))
        self._error_debt = 0.0
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "demo_requests", "Requests the demo app served itself, by status code.", ["code"], registry=self.registry
        )
        self.requests.labels(code="200")
        self.requests.labels(code="500")
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def error_ratio(self) -> float:
        with self._lock:
            return self._error_ratio

    def set_error_ratio(self, ratio: float) -> None:
        with self._lock:
            self._error_ratio = _parse_ratio(str(ratio))
            self._error_debt = 0.0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("DemoApp is not started")
        return self._server.server_address[1]

    @property
    def target(self) -> str:
        """``host:port``, for a Prometheus static target."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}"

    def _serve_one(self) -> None:
        with self._lock:
            self._error_debt += self._error_ratio
            failed = self._error_debt >= 1.0 - 1e-9
            if failed:
                self._error_debt -= 1.0
        self.requests.labels(code="500" if failed else "200").inc()

    def _traffic(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            while next_at <= now:
                self._serve_one()
                next_at += period
            if now - next_at > 1.0:  # fell far behind (suspended): don't burst
                next_at = now
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(app.registry), CONTENT_TYPE_LATEST)
                elif path == "/error-ratio":
                    self._reply(200, f"{app.error_ratio}\n".encode())
                elif path == "/healthz":
                    self._reply(200, b"ok\n")
                else:
                    self._reply(404, b"not found\n")

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != "/error-ratio":
                    self._reply(404, b"not found\n")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    app.set_error_ratio(_parse_ratio(self.rfile.read(length).decode()))
                except ValueError as e:
                    self._reply(400, f"{e}\n".encode())
                    return
                self._reply(200, f"{app.error_ratio}\n".encode())

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler

    def start(self) -> DemoApp:
        self._server = ThreadingHTTPServer((self.host, self._requested_port), self._handler())
        self._server.daemon_threads = True
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="demo-app-http", daemon=True),
            threading.Thread(target=self._traffic, name="demo-app-traffic", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> DemoApp:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--error-ratio", type=_parse_ratio, default=0.0)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    args = parser.parse_args()
    app = DemoApp(args.port, args.error_ratio, rate=args.rate, host=args.host).start()
    print(f"demo app on {app.url}/metrics, error ratio {app.error_ratio}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    app.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
