"""Waiting steps wait for a watch event or a deadline (services/wakeups.py): no change is lost, none loops."""

from __future__ import annotations

import asyncio

from onduty.services import wakeups
from onduty.services.wakeups import Wakeups

WEB = wakeups.incident("shop", "web")
API = wakeups.incident("shop", "api")


async def test_a_change_wakes_a_waiter_of_that_topic() -> None:
    signals = Wakeups()
    mark = signals.mark([WEB])
    waiting = asyncio.create_task(signals.wait(mark, 5))
    await asyncio.sleep(0)  # the waiter registers

    signals.incident_event("shop", "web", deleted=False)

    assert await asyncio.wait_for(waiting, 1) is True
    assert signals.waiting() == 0  # nothing left behind


async def test_a_change_of_another_topic_does_not_wake_it() -> None:
    signals = Wakeups()
    mark = signals.mark([WEB])
    waiting = asyncio.create_task(signals.wait(mark, 0.05))
    await asyncio.sleep(0)

    signals.incident_event("shop", "api", deleted=False)

    assert await waiting is False  # it ran to its deadline
    assert signals.waiting() == 0


async def test_a_change_between_the_read_and_the_wait_is_not_lost() -> None:
    signals = Wakeups()
    mark = signals.mark([WEB])  # taken before the read
    signals.incident_event("shop", "web", deleted=False)  # lands while the worker judges

    assert await signals.wait(mark, 5) is True  # at once, without waiting 5 s


async def test_a_mark_taken_after_the_change_waits_for_the_next_one() -> None:
    signals = Wakeups()
    signals.incident_event("shop", "web", deleted=False)
    mark = signals.mark([WEB])

    assert await signals.wait(mark, 0.01) is False  # a change already seen wakes no one: no loop


async def test_any_incident_changing_wakes_a_waiter_for_a_slot() -> None:
    signals = Wakeups()
    mark = signals.mark([WEB, wakeups.ANY_INCIDENT])
    waiting = asyncio.create_task(signals.wait(mark, 5))
    await asyncio.sleep(0)

    signals.incident_event("shop", "api", deleted=False)

    assert await asyncio.wait_for(waiting, 1) is True


async def test_a_policys_status_being_written_is_not_a_change_but_its_spec_is() -> None:
    signals = Wakeups()
    signals.policy_event("prod", 1, deleted=False)
    mark = signals.mark([wakeups.POLICIES])

    signals.policy_event("prod", 1, deleted=False)  # the same generation: its status was written
    assert not signals.moved(mark)

    signals.policy_event("prod", 2, deleted=False)
    assert signals.moved(mark)

    mark = signals.mark([wakeups.POLICIES])
    signals.policy_event("prod", 2, deleted=True)
    assert signals.moved(mark)


async def test_one_change_wakes_every_waiter_of_the_topic_once() -> None:
    signals = Wakeups()
    mark = signals.mark([wakeups.namespace("shop")])
    waiters = [asyncio.create_task(signals.wait(mark, 5)) for _ in range(3)]
    await asyncio.sleep(0)

    signals.changed(wakeups.namespace("shop"))

    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    assert signals.waiting() == 0


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    signals = Wakeups()
    waiting = asyncio.create_task(signals.wait(signals.mark([WEB, API]), None))
    await asyncio.sleep(0)
    assert signals.waiting() == 2

    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)

    assert signals.waiting() == 0


async def test_a_namespace_is_judged_as_the_watch_last_showed_it_and_its_change_wakes_its_waiters() -> None:
    signals = Wakeups()
    assert signals.seen_namespace("shop") is None  # not seen yet: the worker reads it instead
    mark = signals.mark([wakeups.namespace("shop")])

    signals.namespace_event(
        "shop", {"labels": {"tier": "prod"}, "annotations": {"onduty.dev/paused": "true"}}, deleted=False
    )

    assert signals.moved(mark)
    assert signals.seen_namespace("shop") == {
        "metadata": {"name": "shop", "labels": {"tier": "prod"}, "annotations": {"onduty.dev/paused": "true"}}
    }
    signals.namespace_event("shop", {}, deleted=True)
    assert signals.seen_namespace("shop") is None
