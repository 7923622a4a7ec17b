"""The escalation work queue: pokes collapse, deadlines fire once, failures back off, keys never overlap."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from onduty.services import deadlines
from onduty.services.deadlines import Deadlines


async def _until(predicate, within: float = 5.0) -> None:
    """Wait for a condition on the queue's own bookkeeping (it has no event to wait on)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the condition is plain state, polled briefly
            await asyncio.sleep(0.005)


def test_pokes_for_one_key_collapse_and_a_deadline_fires_at_its_time() -> None:
    async def go() -> None:
        runs: list[tuple[str, str]] = []
        wake = datetime.now(UTC) + timedelta(seconds=0.3)

        async def work(key: tuple[str, str]) -> datetime | None:
            runs.append(key)
            return wake if len(runs) == 1 else None

        queue = Deadlines(work)
        for _ in range(50):
            queue.poke(("ns", "a"))
        task = asyncio.create_task(queue.run())
        await _until(lambda: len(runs) == 1)
        assert datetime.now(UTC) < wake  # the first run came at once, once
        await _until(lambda: len(runs) == 2)
        assert datetime.now(UTC) >= wake - timedelta(milliseconds=20)
        await asyncio.sleep(0.1)
        assert len(runs) == 2 and queue.pending() == 0
        task.cancel()

    asyncio.run(go())


def test_a_key_is_never_worked_on_twice_at_once_and_a_poke_during_work_runs_it_again() -> None:
    async def go() -> None:
        active = 0
        most = 0
        runs = 0
        release = asyncio.Event()

        async def work(key: tuple[str, str]) -> datetime | None:
            nonlocal active, most, runs
            active += 1
            most = max(most, active)
            runs += 1
            if runs == 1:
                await release.wait()
            active -= 1
            return None

        queue = Deadlines(work)
        task = asyncio.create_task(queue.run())
        queue.poke(("ns", "a"))
        await _until(lambda: runs == 1)
        queue.poke(("ns", "a"))
        queue.poke(("ns", "a"))
        await asyncio.sleep(0.05)
        assert runs == 1
        release.set()
        await _until(lambda: runs == 2)
        await asyncio.sleep(0.05)
        assert runs == 2 and most == 1
        task.cancel()

    asyncio.run(go())


def test_a_failing_key_comes_back_after_a_growing_pause_not_in_a_tight_loop(monkeypatch) -> None:
    monkeypatch.setattr(deadlines, "RETRY_BASE", 0.05)
    monkeypatch.setattr(deadlines, "RETRY_CAP", 0.2)

    async def go() -> None:
        times: list[float] = []
        loop = asyncio.get_running_loop()

        async def work(key: tuple[str, str]) -> datetime | None:
            times.append(loop.time())
            raise RuntimeError("API server unavailable")

        queue = Deadlines(work)
        task = asyncio.create_task(queue.run())
        queue.poke(("ns", "a"))
        await _until(lambda: len(times) >= 4, within=5)
        task.cancel()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.02 for gap in gaps), gaps  # never back to back
        assert len(times) < 20

    asyncio.run(go())
