"""Delivery rules common to every channel: retries, backoff, Retry-After, budgets, refused destinations."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from onduty.adapters import notifiers
from onduty.adapters.notifiers import HttpTransport, deliver
from onduty.domain.notify import destinations
from onduty.domain.notify.channel import Kind, Notice, Outcome, Reply, Request, Verdict, retry_after_header
from onduty.domain.notify.destinations import ForbiddenDestination
from onduty.domain.notify.view import IncidentView

VIEW = IncidentView(
    name="web-down",
    namespace="shop",
    uid="u1",
    title="web down",
    severity="critical",
    phase="Open",
    state="triggered",
    opened_at=None,
)
NOTICE = Notice(Kind.OPENED, "u1/opened", "incident opened")
SECRET = "xoxb-very-secret"


@dataclass
class TwoStep:
    """A channel that creates something, then uses its id: like a ticket and its comment."""

    kind: str = "test"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        steps = [
            Request("POST", f"https://vendor.example/create?token={SECRET}", secret_values=(SECRET,)),
            Request("POST", f"https://vendor.example/items/{refs.get('id', 'MISSING')}/comment"),
        ]
        return steps[index:]

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        if reply.status in (200, 201):
            return Verdict(Outcome.DELIVERED, refs={"id": reply.body.decode()} if reply.body else {})
        if reply.status == 429 or reply.status >= 500:
            return Verdict(Outcome.RETRY, f"HTTP {reply.status}", retry_after_header(reply.headers))
        return Verdict(Outcome.FAILED, f"HTTP {reply.status}")


class Script:
    def __init__(self, *replies: Reply | Exception) -> None:
        self.replies = list(replies)
        self.sent: list[Request] = []

    async def __call__(self, request: Request) -> Reply:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def ok(body: bytes = b"") -> Reply:
    return Reply(201, {}, body)


def run(script: Script, clock: Clock, **kw: object) -> notifiers.Delivered:
    return asyncio.run(deliver(TwoStep(), NOTICE, VIEW, {}, script, sleep=clock.sleep, clock=clock, **kw))  # type: ignore[arg-type]


def test_a_later_request_uses_what_an_earlier_one_returned() -> None:
    script = Script(ok(b"42"), ok())
    result = run(script, Clock())
    assert result.outcome == Outcome.DELIVERED and result.attempts == 2 and result.refs == {"id": "42"}
    assert script.sent[1].url == "https://vendor.example/items/42/comment"


def test_retry_after_is_honoured_and_never_undercut_by_backoff() -> None:
    clock = Clock()
    result = run(Script(Reply(429, {"retry-after": "7"}, b""), ok(b"1"), ok()), clock)
    assert result.outcome == Outcome.DELIVERED and result.attempts == 3
    assert clock.waits[0] >= 7.0


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_client_error_is_not_retried(status: int) -> None:
    script = Script(Reply(status, {}, b""))
    result = run(script, Clock())
    assert result.outcome == Outcome.FAILED and result.attempts == 1 and len(script.sent) == 1


def test_server_errors_and_dropped_connections_are_retried_up_to_the_cap() -> None:
    clock = Clock()
    script = Script(
        Reply(500, {}, b""),
        ConnectionResetError("reset"),
        Reply(503, {}, b""),
        Reply(502, {}, b""),
        Reply(500, {}, b""),
    )
    result = run(script, clock)
    assert result.outcome == Outcome.FAILED and result.attempts == notifiers.MAX_ATTEMPTS
    assert "gave up after 5 attempts" in result.reason
    # Full jitter: each wait is within its exponential bound.
    assert all(0 <= w <= min(notifiers.BACKOFF_CAP, 2**i) for i, w in enumerate(clock.waits))


def test_a_vendor_asking_to_wait_past_the_budget_ends_the_delivery_at_once() -> None:
    clock = Clock()
    result = run(Script(Reply(429, {"retry-after": "3600"}, b"")), clock, budget=300.0)
    assert result.outcome == Outcome.FAILED and "past the 300s budget" in result.reason
    assert clock.waits == []


def test_credentials_never_reach_the_reason() -> None:
    result = run(
        Script(OSError(f"connect to https://vendor.example/create?token={SECRET} failed")), Clock(), max_attempts=1
    )
    assert SECRET not in result.reason and "[redacted]" in result.reason
    assert SECRET not in repr(Request("POST", f"https://x/?t={SECRET}", secret_values=(SECRET,)))


def test_a_refused_destination_fails_without_retrying() -> None:
    async def refuse(request: Request) -> Reply:
        raise ForbiddenDestination("10.0.0.5 is private")

    result = asyncio.run(deliver(TwoStep(), NOTICE, VIEW, {}, refuse))
    assert result.outcome == Outcome.FAILED and result.attempts == 1 and "10.0.0.5 is private" in result.reason


@pytest.mark.parametrize(
    ("url", "allowed", "why"),
    [
        ("https://127.0.0.1/hook", (), "loopback"),
        ("https://169.254.169.254/latest/meta-data", (), "link-local"),
        ("https://10.0.0.7/hook", (), "private"),
        ("https://[::1]/hook", (), "loopback"),
        ("https://[::ffff:10.1.2.3]/x", (), "private"),
        ("http://hooks.slack.com/x", (), "plain http"),
        ("ftp://hooks.slack.com/x", (), "scheme .ftp."),
    ],
)
def test_destinations_inside_the_cluster_are_refused(url: str, allowed: tuple[str, ...], why: str) -> None:
    with pytest.raises(ForbiddenDestination, match=why):
        destinations.host_of(url, destinations.parse_networks(allowed))


def test_a_platform_allowed_network_is_reachable() -> None:
    allowed = destinations.parse_networks(["10.0.0.0/8"])
    assert destinations.host_of("http://10.0.0.7:8080/jira", allowed) == ("10.0.0.7", 8080)
    assert destinations.address_forbidden("10.0.0.7", allowed) is None
    assert destinations.address_forbidden("192.168.1.1", allowed) == "192.168.1.1 is private"


def test_a_name_resolving_to_loopback_is_refused_by_the_real_transport() -> None:
    async def go() -> None:
        transport = HttpTransport()
        try:
            with pytest.raises(ForbiddenDestination, match="localhost resolves only to"):
                await transport(Request("POST", "https://localhost:9/hook"))
        finally:
            await transport.close()

    asyncio.run(go())
