"""Write a resolved incident's post-mortem draft (services/postmortem.py) when its watch event says it is due."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from onduty.adapters.kube import KubeError, NotFound
from onduty.domain import postmortem
from onduty.handlers.events import poster
from onduty.handlers.runtime import Runtime
from onduty.services import postmortem as service

log = logging.getLogger(__name__)


async def write_if_due(runtime: Runtime, namespace: str, name: str, obj: dict[str, Any]) -> None:
    """Cheap on every event (the object at hand decides); one GET and two writes once per resolved incident.

    A failure is logged and left for the incident's next event (or the operator's next start, which sees
    every incident once): never a retry loop against the API server.
    """
    if not postmortem.due(obj):
        return
    try:
        await asyncio.to_thread(service.write, runtime.cluster, namespace, name, poster(runtime))
    except NotFound:
        return
    except KubeError as error:
        log.warning("incident %s/%s: post-mortem draft not written: %s", namespace, name, error)
