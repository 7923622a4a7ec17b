"""The Kopf side of a responder's controls (:mod:`onduty.services.controls`).

Resolving by hand is a handler of its own: it must work whether or not
automation still runs for the incident. A retry or a run-for-real reopens a
step, which the incident's remediation daemon then decides; so that daemon,
once automation has nothing more to do, stays and waits for one
(:func:`wait_for_request`) rather than ending, until the incident resolves.
"""

from __future__ import annotations

import kopf

from onduty.domain import controls
from onduty.handlers.events import poster
from onduty.handlers.runtime import Runtime
from onduty.services import controls as service


async def resolve(runtime: Runtime, namespace: str, name: str) -> None:
    await service.resolve(runtime.cluster, namespace, name, poster(runtime))


async def wait_for_request(
    runtime: Runtime, namespace: str, name: str, body: kopf.Body, stopped: kopf.DaemonStopped
) -> bool:
    """Wait until a retry or run-for-real reopens a step (True), or the daemon is stopped (False).

    ``body`` is Kopf's live view of the incident, kept current by the watch:
    waiting costs no request to the API server.
    """
    while not stopped:
        if controls.pending(body) and await service.take_request(runtime.cluster, namespace, name, poster(runtime)):
            return True
        await stopped.wait(runtime.config.poll_seconds)
    return False
