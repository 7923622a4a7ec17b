"""The Kopf side of a responder's controls (:mod:`onduty.services.controls`).

Resolving by hand is a handler of its own: it must work whether or not
automation still runs for the incident. A retry or a run-for-real reopens a
step, which the incident's remediation daemon then decides; so that daemon,
once automation has nothing more to do, stays and waits for one
(:func:`wait_for_request`) rather than ending, until the incident resolves:
an asyncio task that sleeps until its incident's next watch event.
"""

from __future__ import annotations

import kopf

from onduty.domain import controls, incidents
from onduty.handlers.events import poster
from onduty.handlers.runtime import Runtime
from onduty.services import controls as service
from onduty.services import wakeups

# A waiting daemon also looks whether Kopf asked it to stop this often (a stop comes with an event
# of the incident, which wakes it at once; this is the bound if it did not).
STOP_CHECK_SECONDS = 60.0


async def resolve(runtime: Runtime, namespace: str, name: str) -> None:
    await service.resolve(runtime.cluster, namespace, name, poster(runtime))


async def wait_for_request(
    runtime: Runtime, namespace: str, name: str, body: kopf.Body, stopped: kopf.DaemonStopped
) -> bool:
    """Wait until a retry or run-for-real reopens a step (True), or the incident resolves or the daemon is
    stopped (False).

    ``body`` is Kopf's live view of the incident, kept current by the watch (Kopf replaces it before the
    event's handlers run); each watch event of the incident wakes the wait (services/wakeups.py), so
    waiting costs no request to the API server and no periodic work.
    """
    topic = wakeups.incident(namespace, name)
    while not stopped:
        mark = runtime.wakeups.mark([topic])
        if incidents.is_resolved(dict(body.get("status") or {})):
            return False
        if controls.pending(body) and await service.take_request(runtime.cluster, namespace, name, poster(runtime)):
            return True
        await runtime.wakeups.wait(mark, STOP_CHECK_SECONDS)
    return False
