"""Which of several onduty replicas acts: Kopf peering's rule, as pure decisions.

Replicas of one operator (``--peering``) share a ``ClusterKopfPeering`` object
(``kopf.dev/v1``) named by ``--peering-name``. Each writes a keep-alive into its
``status`` every few seconds: ``{identity: {priority, lifetime, lastseen}}``.
Kopf pauses a replica's handlers while another live replica has a *higher or
equal* priority (equal: both pause, so two replicas of one priority would both
stand still). So every replica needs a priority of its own; by default it
comes from the start time (:func:`default_priority`), the first one started
ranking highest. A replica whose keep-alive is older than its lifetime counts
as gone: that is how long a crashed active replica blocks the standby.

onduty's own background work (escalation deadlines, notification deliveries,
the retention sweep) is not Kopf's, so it asks :func:`standing` the same
question Kopf does before it acts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from onduty.domain.times import parse_time

# Kopf's default lifetime of a keep-alive, and what it assumes for a peer that states none.
DEFAULT_LIFETIME_SECONDS = 60
# Priorities count down from here by the start time in milliseconds: the replica started first ranks
# highest (a rolling update's new Pod waits as the standby instead of taking over mid-incident), and
# two replicas tie only if they start in the same millisecond. Positive until the year 2286.
_PRIORITY_ORIGIN_MS = 10**13


def default_priority(started: datetime) -> int:
    """The priority of a replica started at ``started``: the earlier, the higher."""
    return _PRIORITY_ORIGIN_MS - int(started.timestamp() * 1000)


@dataclass(frozen=True)
class Peer:
    identity: str
    priority: int
    lastseen: datetime | None
    lifetime: timedelta

    def alive(self, now: datetime) -> bool:
        # As Kopf reads it: a keep-alive without a time is taken as written now.
        return self.lastseen is None or self.lastseen + self.lifetime > now


@dataclass(frozen=True)
class Standing:
    """Whether this replica may act; if not, which live peers outrank (or tie with) it."""

    active: bool
    outranked_by: tuple[Peer, ...] = ()


def peers(status: Mapping[str, Any] | None) -> list[Peer]:
    """The keep-alives in a peering object's ``status``; an unreadable entry is skipped."""
    found = []
    for identity, info in (status or {}).items():
        if not isinstance(info, Mapping):
            continue
        try:
            lastseen = parse_time(str(info["lastseen"])) if info.get("lastseen") else None
            found.append(
                Peer(
                    identity=str(identity),
                    priority=int(info.get("priority", 0)),
                    lastseen=lastseen,
                    lifetime=timedelta(seconds=int(info.get("lifetime", DEFAULT_LIFETIME_SECONDS))),
                )
            )
        except (TypeError, ValueError):
            continue
    return found


def standing(status: Mapping[str, Any] | None, *, identity: str, priority: int, now: datetime) -> Standing:
    """Kopf's rule: active unless another live peer has a priority at least ``priority``."""
    rivals = tuple(p for p in peers(status) if p.identity != identity and p.alive(now) and p.priority >= priority)
    return Standing(active=not rivals, outranked_by=rivals)
