"""Delivering a notice: HTTP with timeouts, backoff with jitter, and the vendor's ``Retry-After``.

The channel (``onduty.domain.notify``) says what to send and how to read the
answer; this module sends it. Errors are values, not exceptions: every
delivery ends in a :class:`Delivered` outcome with the number of attempts
and a credential-free reason, which the caller records in the incident.

Retry rules, for every vendor alike:

* 429, 5xx, Statuspage's 420, a timeout or a dropped connection are retried
  (the channel's verdict says so), at most :data:`MAX_ATTEMPTS` times and
  within :data:`DELIVERY_BUDGET`;
* the wait is exponential with full jitter (so a storm of incidents does not
  retry in step), but never shorter than what the vendor asked for;
* a vendor asking for longer than the remaining budget ends the delivery
  (Failed, saying so) instead of holding a worker;
* any other 4xx is not retried: the same request would fail the same way.

The network is behind one seam, :data:`Transport` (a request in, a reply or
an ``OSError`` out), so tests can swap it for a function; the real one is
aiohttp with a resolver that connects only to addresses that passed
:func:`onduty.domain.notify.destinations.address_forbidden`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from onduty.adapters.kube import Cluster, segment
from onduty.domain.notify.channel import Channel, Notice, Outcome, Reply, Request, redact
from onduty.domain.notify.destinations import ForbiddenDestination, Network, address_forbidden, host_of
from onduty.domain.notify.view import IncidentView

log = logging.getLogger(__name__)

# Five tries over at most five minutes: long enough to ride out a vendor's
# brief outage or a rate-limit window (Slack's is a second, Statuspage's a
# minute), short enough that a page still means "now".
MAX_ATTEMPTS = 5
DELIVERY_BUDGET = 300.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
# One request may take this long: vendors answer in well under a second; a
# hanging one must not hold the channel's queue.
REQUEST_TIMEOUT = 10.0
# Bytes of a vendor's reply kept (JSON answers are small; an HTML error page is not).
MAX_REPLY_BYTES = 64 * 1024

Transport = Callable[[Request], Awaitable[Reply]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Delivered:
    outcome: Outcome  # DELIVERED or FAILED (a RETRY that ran out of attempts or time is FAILED)
    attempts: int
    reason: str = ""
    refs: Mapping[str, str] = field(default_factory=dict)


def backoff(attempt: int, *, rand: Callable[[float, float], float] = random.uniform) -> float:
    """Full jitter: a random wait in [0, min(cap, base * 2**attempt)]."""
    return rand(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


async def deliver(
    channel: Channel,
    notice: Notice,
    view: IncidentView,
    refs: Mapping[str, str],
    transport: Transport,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_attempts: int = MAX_ATTEMPTS,
    budget: float = DELIVERY_BUDGET,
) -> Delivered:
    """Send every request the channel asks for, in order, each retried as its verdict allows."""
    known = dict(refs)
    learned: dict[str, str] = {}
    attempts = 0
    started = clock()
    index = 0
    try:
        pending = channel.requests(notice, view, known, index)
    except Exception as e:  # a channel bug or a bad setting must not kill the queue
        return Delivered(Outcome.FAILED, 0, f"could not build the message: {type(e).__name__}: {e}")
    if not pending:
        return Delivered(Outcome.DELIVERED, 0, "nothing to send for this notice")
    while pending:
        request = pending[0]
        tries = 0
        while True:
            tries += 1
            attempts += 1
            try:
                reply = await transport(request)
            except ForbiddenDestination as e:
                return Delivered(Outcome.FAILED, attempts, f"refused destination: {e}", learned)
            except (TimeoutError, OSError, aiohttp.ClientError) as e:
                verdict_outcome, reason, wait_for = (
                    Outcome.RETRY,
                    redact(f"no answer: {type(e).__name__}: {e}", request.secret_values),
                    None,
                )
            else:
                verdict = channel.verdict(request, reply)
                verdict_outcome, reason, wait_for = verdict.outcome, verdict.reason, verdict.retry_after
                if verdict.outcome == Outcome.DELIVERED:
                    known.update(verdict.refs)
                    learned.update(verdict.refs)
                    break
            reason = redact(reason, request.secret_values)
            if verdict_outcome == Outcome.FAILED:
                return Delivered(Outcome.FAILED, attempts, reason or "the vendor refused the request", learned)
            left = budget - (clock() - started)
            if tries >= max_attempts:
                return Delivered(Outcome.FAILED, attempts, f"gave up after {tries} attempts: {reason}", learned)
            wait = max(backoff(tries - 1), wait_for or 0.0)
            if wait >= left:
                return Delivered(
                    Outcome.FAILED,
                    attempts,
                    f"gave up: the next try would be after {wait:.0f}s, past the {budget:.0f}s budget ({reason})",
                    learned,
                )
            log.info("retrying %s in %.1fs: %s", request, wait, reason)
            await sleep(wait)
        index += 1
        try:
            pending = channel.requests(notice, view, known, index)
        except Exception as e:
            return Delivered(Outcome.FAILED, attempts, f"could not build the message: {type(e).__name__}: {e}", learned)
    return Delivered(Outcome.DELIVERED, attempts, "", learned)


class _CheckedResolver(AbstractResolver):
    """Resolves like the system, then keeps only addresses onduty may connect to."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self._allowed = tuple(allowed)

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        results: list[ResolveResult] = []
        refused: list[str] = []
        for fam, _, proto, _, sockaddr in infos:
            address = str(sockaddr[0])
            why = address_forbidden(address, self._allowed)
            if why:
                refused.append(why)
                continue
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": int(sockaddr[1]),
                    "family": fam,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise ForbiddenDestination(
                f"{host} resolves only to addresses onduty does not send to ({'; '.join(refused)})"
            )
        return results

    async def close(self) -> None:
        return None


class HttpTransport:
    """The real network: one aiohttp session, every destination checked before connecting."""

    def __init__(self, allowed_networks: Sequence[Network] = (), timeout: float = REQUEST_TIMEOUT) -> None:
        self._allowed = tuple(allowed_networks)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, request: Request) -> Reply:
        host_of(request.url, self._allowed)  # scheme and host checked before anything else
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_CheckedResolver(self._allowed), limit=50, use_dns_cache=False)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout), trust_env=False
            )
        kwargs: dict[str, Any] = {"headers": dict(request.headers), "allow_redirects": False}
        if request.body is not None:
            kwargs["data"] = request.body
        elif request.json is not None:
            kwargs["json"] = request.json
        async with self._session.request(request.method, request.url, **kwargs) as response:
            body = await response.content.read(MAX_REPLY_BYTES)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return Reply(status=response.status, headers=headers, body=body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# --- what a Notifier reads from the cluster ---------------------------------------------------


def read_secret(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    """A Secret's data, decoded. The values go to a channel's Credentials and nowhere else."""
    secret = cluster.request("GET", f"/api/v1/namespaces/{segment(namespace)}/secrets/{segment(name)}")
    values = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(value).decode().strip()
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"key {key!r} is not UTF-8 text") from None
    return values


def read_configmap(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    configmap = cluster.request("GET", f"/api/v1/namespaces/{segment(namespace)}/configmaps/{segment(name)}")
    return {str(k): str(v) for k, v in (configmap.get("data") or {}).items()}
