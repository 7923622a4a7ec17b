"""What a waiting incident waits for besides a time: a change it can see in a watch event.

A step that waits — for an approval, for a pause to be lifted, for a cooldown
to end — used to look again every poll interval, each look a few reads of the
API server; a thousand waiting incidents made thousands of requests a second.
Now the operator's watch events say what changed (:meth:`Wakeups.changed`,
called from the handlers of incidents, namespaces and RemediationPolicies), and
a waiter sleeps until one of its topics changes or its deadline comes
(:meth:`Wakeups.wait`): at rest, no request at all.

No change is lost between reading and waiting: a waiter takes a
:meth:`Wakeups.mark` (each topic's count of changes) *before* it reads the
state it judges, and :meth:`Wakeups.wait` returns at once if anything changed
since. A change that the read already saw costs one extra look, never a loop:
counts move only with watch events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

# What can change: ("incident", namespace, name), ("namespace", name), ("policies",), ("incidents",).
Topic = tuple[str, ...]
Mark = Mapping[Topic, int]

POLICIES: Topic = ("policies",)
ANY_INCIDENT: Topic = ("incidents",)


def incident(namespace: str, name: str) -> Topic:
    return ("incident", namespace, name)


def namespace(name: str) -> Topic:
    return ("namespace", name)


class Wakeups:
    """Change counts by topic, and the waiters of each (one future per waiting incident).

    It also keeps each namespace's labels and annotations as the watch last showed them: a
    step is judged on them (a pause, a policy's namespace selector) without reading the
    namespaces for every judgement. A namespace not seen yet is read instead.
    """

    def __init__(self) -> None:
        self._counts: dict[Topic, int] = {}
        self._waiting: dict[Topic, set[asyncio.Future[None]]] = {}
        self._generations: dict[str, int] = {}
        self._namespaces: dict[str, dict[str, Any]] = {}

    def changed(self, topic: Topic) -> None:
        """A watch event changed ``topic``: wake whoever waits on it."""
        self._counts[topic] = self._counts.get(topic, 0) + 1
        for waiter in self._waiting.pop(topic, ()):
            if not waiter.done():
                waiter.set_result(None)

    def incident_event(self, namespace_: str, name: str, *, deleted: bool) -> None:
        topic = incident(namespace_, name)
        self.changed(topic)
        self.changed(ANY_INCIDENT)
        if deleted:
            self._counts.pop(topic, None)

    def namespace_event(self, name: str, meta: Mapping[str, Any], *, deleted: bool) -> None:
        """A namespace as the watch shows it: its labels and annotations are what a step is judged on."""
        if deleted:
            self._namespaces.pop(name, None)
        else:
            self._namespaces[name] = {
                "metadata": {
                    "name": name,
                    "labels": dict(meta.get("labels") or {}),
                    "annotations": dict(meta.get("annotations") or {}),
                }
            }
        self.changed(namespace(name))

    def seen_namespace(self, name: str) -> dict[str, Any] | None:
        """The namespace as last seen in a watch event (None: not seen; read it instead)."""
        return self._namespaces.get(name)

    def policy_event(self, name: str, generation: int, *, deleted: bool) -> None:
        """A RemediationPolicy's spec changed (its status being written is no change to judge again on)."""
        if deleted:
            self._generations.pop(name, None)
        elif self._generations.get(name) == generation:
            return
        else:
            self._generations[name] = generation
        self.changed(POLICIES)

    def mark(self, topics: Iterable[Topic]) -> dict[Topic, int]:
        """Each topic's count now: take it before reading what the wait is about."""
        return {topic: self._counts.get(topic, 0) for topic in topics}

    def moved(self, mark: Mark) -> bool:
        return any(self._counts.get(topic, 0) != count for topic, count in mark.items())

    async def wait(self, mark: Mark, within: float | None) -> bool:
        """Until a topic of ``mark`` changes since it was taken (True), or ``within`` seconds pass (False)."""
        if self.moved(mark):
            return True
        if within is not None and within <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for topic in mark:
            self._waiting.setdefault(topic, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, within)
        except TimeoutError:
            return False
        finally:
            for topic in mark:
                waiters = self._waiting.get(topic)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        with contextlib.suppress(KeyError):
                            del self._waiting[topic]
        return True

    def waiting(self) -> int:
        """How many waits are registered (one per topic a waiter waits on)."""
        return sum(len(waiters) for waiters in self._waiting.values())
