"""Whether this replica may act now, for the work Kopf does not pause.

Kopf pauses its own handlers, daemons and timers while a peer outranks this
replica (:mod:`onduty.domain.peering`). onduty's escalation deadlines,
notification deliveries and retention sweep are its own tasks, started once
with the operator: they wait on :meth:`Standby.wait_active` before each piece
of work. A standalone operator (no ``--peering``) is always active.

:meth:`Standby.follow` reads the shared ``ClusterKopfPeering`` object every
few seconds and applies the same rule Kopf does. It starts paused, as Kopf's
mandatory peering does, and pauses again when the object cannot be read: a
replica that cannot see its peers must not assume it is alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from onduty.adapters.kube import Cluster, KubeError, NotFound
from onduty.domain import peering

log = logging.getLogger(__name__)

PEERING_API = "/apis/kopf.dev/v1/clusterkopfpeerings"


@dataclass(frozen=True)
class PeeringConfig:
    """This replica in the peering: the object's name, its own identity and priority, its keep-alive lifetime."""

    name: str
    identity: str
    priority: int
    lifetime: int = peering.DEFAULT_LIFETIME_SECONDS

    @property
    def poll_seconds(self) -> float:
        # Kopf hears of a peer through a watch; a read every few seconds is close enough for work that is
        # paced in seconds (deadlines, deliveries) and cheap: one GET of one small object per replica.
        return max(0.5, min(5.0, self.lifetime / 4))


class Standby:
    def __init__(self, config: PeeringConfig | None = None, *, now: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self._now = now or (lambda: datetime.now(UTC))
        self._active = asyncio.Event()
        # Whether the paused state was logged once: a replica that starts as the standby says so.
        self._reported = False
        if config is None:
            self._active.set()

    @property
    def active(self) -> bool:
        return self._active.is_set()

    async def wait_active(self) -> None:
        await self._active.wait()

    def judge(self, status: dict[str, object] | None) -> peering.Standing:
        """Apply the peering rule to the object's ``status``; switch and log when the answer changes."""
        assert self.config is not None
        verdict = peering.standing(
            status, identity=self.config.identity, priority=self.config.priority, now=self._now()
        )
        if verdict.active and not self.active:
            log.info("peering %s: active (priority %d)", self.config.name, self.config.priority)
            self._active.set()
        elif not verdict.active and (self.active or not self._reported):
            rivals = ", ".join(f"{p.identity} (priority {p.priority})" for p in verdict.outranked_by)
            log.info("peering %s: paused, standing by for %s", self.config.name, rivals)
            self._active.clear()
        self._reported = True
        return verdict

    def _pause(self, why: str) -> None:
        if self.active or not self._reported:
            assert self.config is not None
            log.warning("peering %s: paused, %s", self.config.name, why)
        self._active.clear()
        self._reported = True

    async def follow(self, cluster: Cluster) -> None:
        """Keep the standing current until cancelled."""
        config = self.config
        if config is None:
            return
        path = f"{PEERING_API}/{config.name}"
        while True:
            try:
                obj = await asyncio.to_thread(cluster.request, "GET", path)
            except NotFound:
                # Kopf stays paused too: it neither creates the object nor runs without it.
                self._pause(
                    f"ClusterKopfPeering {config.name} does not exist: the chart creates it with peering.enabled;"
                    f" otherwise apply one (apiVersion kopf.dev/v1, kind ClusterKopfPeering, name {config.name})"
                )
            except KubeError as error:
                self._pause(f"the peering object cannot be read: {error}")
            else:
                status = obj.get("status")
                self.judge(status if isinstance(status, dict) else None)
            await asyncio.sleep(config.poll_seconds)
