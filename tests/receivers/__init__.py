"""Local stand-ins for SaaS endpoints: loopback HTTP servers that check each request.

A :class:`Receiver` records every request (method, path, query, headers,
body) and answers from a script: by default 200 with an empty body, or a
queue of :class:`Answer` values (a 429 with ``Retry-After``, a 500, a hang)
so delivery retries and give-ups can be tested against real sockets. A
vendor module (``receivers.slack`` …, imported as ``from receivers import Receiver``) adds a ``check`` that raises
:class:`ContractViolation` when a request breaks the vendor's documented
contract; the receiver then answers 400 as the vendor would and records the
violation, and :meth:`Receiver.assert_clean` fails the test.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class ContractViolation(AssertionError):
    """A request the vendor would refuse; the message says which rule it broke."""


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering (a slow or hanging vendor)


Responder = Callable[[Received], Answer]


class Receiver:
    """A loopback HTTP server; use as a context manager or call start()/stop()."""

    def __init__(self, check: Callable[[Received], None] | None = None, respond: Responder | None = None) -> None:
        self.requests: list[Received] = []
        self.violations: list[str] = []
        self._script: deque[Answer] = deque()
        self._check = check
        self._respond = respond
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- scripting -----------------------------------------------------------------
    def script(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; then fall back to the responder or 200."""
        with self._lock:
            self._script.extend(answers)

    # -- lifecycle -----------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "receiver not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                got = Received(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                answer = receiver._answer(got)
                if answer.hang and receiver._stopping.wait(answer.hang):
                    return
                payload = answer.body
                if isinstance(payload, dict | list):
                    payload = json.dumps(payload).encode()
                    content_type = "application/json"
                else:
                    payload = payload.encode() if isinstance(payload, str) else payload
                    content_type = "text/plain"
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.headers.get("Content-Type", content_type))
                    for name, value in answer.headers.items():
                        if name != "Content-Type":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering -----------------------------------------------------------------
    def _answer(self, got: Received) -> Answer:
        violation = None
        if self._check is not None:
            try:
                self._check(got)
            except ContractViolation as e:
                violation = str(e)
        with self._arrived:
            self.requests.append(got)
            if violation is not None:
                self.violations.append(violation)
            scripted = self._script.popleft() if self._script else None
            self._arrived.notify_all()
        if violation is not None:
            return Answer(400, {"error": violation})
        if scripted is not None:
            return scripted
        if self._respond is not None:
            return self._respond(got)
        return Answer()

    # -- waiting and asserting ------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; return them all."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests within {timeout}s, got {len(self.requests)}")
            return list(self.requests)

    def assert_clean(self) -> None:
        assert not self.violations, "requests broke the vendor contract:\n" + "\n".join(self.violations)
