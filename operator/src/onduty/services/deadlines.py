"""A work queue keyed by object, driven by watch events and deadlines — not by polling.

``poke(key)`` asks for ``key`` to be looked at now (a watch event arrived);
``poke(key, at)`` at a deadline (an escalation level's ack timeout). Each key
is worked on by one task at a time; a poke that arrives while it is being
worked on runs it once more afterwards, and pokes for one key collapse into
one run. The work function returns the next deadline of its key (or None),
so a waiting incident costs a heap entry, not a task or a request.

This is controller-runtime's workqueue in miniature, for what onduty waits on:
an incident that waits for an acknowledgement waits for an event or a
deadline, and neither is a reason to ask the API server anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
Work = Callable[[Key], Awaitable[datetime | None]]

# A key whose work failed (API server unavailable, a conflict storm) comes back
# after a jittered pause that doubles up to a minute: never a tight loop.
RETRY_BASE = 2.0
RETRY_CAP = 60.0


class Deadlines:
    def __init__(
        self,
        work: Work,
        *,
        concurrency: int = 4,
        wall: Callable[[], datetime] | None = None,
        what: str = "escalation",
    ) -> None:
        self._work = work
        self._what = what  # what the log says failed: "escalation of shop/web-down failed"
        self._wall = wall or (lambda: datetime.now(UTC))
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._running: set[Key] = set()
        self._again: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._counter = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def poke(self, key: Key, at: datetime | None = None) -> None:
        """Look at ``key`` at ``at`` (None: now); an earlier pending time wins."""
        when = time.monotonic() + max(0.0, (at - self._wall()).total_seconds()) if at is not None else time.monotonic()
        if key in self._running and at is None:
            self._again.add(key)
            return
        current = self._due.get(key)
        if current is not None and current <= when:
            return
        self._due[key] = when
        self._counter += 1
        heapq.heappush(self._heap, (when, self._counter, key))
        self._wake.set()

    def wall(self) -> datetime:
        """The clock ``poke``'s times are read on."""
        return self._wall()

    def forget(self, key: Key) -> None:
        self._due.pop(key, None)
        self._again.discard(key)
        self._failures.pop(key, None)

    def pending(self) -> int:
        return len(self._due)

    async def run(self) -> None:
        try:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._due.get(self._heap[0][2]) != self._heap[0][0]):
                    when, _, key = heapq.heappop(self._heap)
                    if self._due.get(key) != when:
                        continue  # superseded by an earlier poke, or forgotten
                    if key in self._running:
                        self._again.add(key)
                        del self._due[key]
                        continue
                    del self._due[key]
                    await self._slots.acquire()
                    self._running.add(key)
                    task = asyncio.create_task(self._one(key))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                self._wake.clear()
                timeout = max(0.0, self._heap[0][0] - time.monotonic()) if self._heap else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _one(self, key: Key) -> None:
        try:
            next_at = await self._work(key)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # classified by the work function; here only: come back later, calmly
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = random.uniform(0.5, 1.0) * min(RETRY_CAP, RETRY_BASE * 2 ** (failures - 1))
            log.warning("%s of %s/%s failed (%s); looking again in %.0fs", self._what, *key, e, delay)
            self._finish(key)
            self.poke(key, self._wall() + timedelta(seconds=delay))
            return
        self._failures.pop(key, None)
        self._finish(key)
        if key in self._again:
            self._again.discard(key)
            self.poke(key)
        elif next_at is not None:
            self.poke(key, next_at)

    def _finish(self, key: Key) -> None:
        self._running.discard(key)
        self._slots.release()
