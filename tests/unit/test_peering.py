"""Which replica acts: Kopf's peering rule (domain/peering.py) and the gate onduty's own work waits on."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from onduty.adapters.kube import Cluster, NotFound
from onduty.domain.peering import default_priority, standing
from onduty.services.peering import PeeringConfig, Standby

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def alive(priority: int, *, seconds_ago: float = 1, lifetime: int = 30) -> dict[str, object]:
    seen = NOW - timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


@pytest.mark.parametrize(
    ("others", "active", "outranked_by"),
    [
        pytest.param({}, True, [], id="alone"),
        pytest.param({"b": alive(5)}, True, [], id="a-lower-peer"),
        pytest.param({"b": alive(20)}, False, ["b"], id="a-higher-peer"),
        pytest.param({"b": alive(10)}, False, ["b"], id="a-peer-of-the-same-priority-pauses-both"),
        pytest.param({"b": alive(20, seconds_ago=31)}, True, [], id="a-higher-peer-whose-keep-alive-expired"),
        pytest.param({"b": alive(20, seconds_ago=2, lifetime=3)}, False, ["b"], id="a-short-lifetime-still-live"),
        pytest.param({"b": {"priority": 20}}, False, ["b"], id="no-lastseen-counts-as-now-as-in-kopf"),
        pytest.param({"b": "garbage", "c": {"priority": "x"}}, True, [], id="unreadable-entries-are-skipped"),
    ],
)
def test_a_replica_acts_unless_a_live_peer_ranks_at_least_as_high(others, active, outranked_by):
    status = {"me": alive(10), **others}
    verdict = standing(status, identity="me", priority=10, now=NOW)
    assert verdict.active is active
    assert [p.identity for p in verdict.outranked_by] == outranked_by


def test_the_replica_started_first_ranks_highest_and_ties_need_the_same_millisecond():
    first = default_priority(NOW)
    assert first > default_priority(NOW + timedelta(milliseconds=1)) > 0
    assert default_priority(datetime(2286, 1, 1, tzinfo=UTC)) > 0


def test_a_standalone_operator_is_always_active():
    assert Standby().active


def test_a_peered_replica_starts_paused_and_follows_the_verdict(caplog):
    config = PeeringConfig(name="onduty", identity="me", priority=10, lifetime=30)
    standby = Standby(config, now=lambda: NOW)

    async def scenario() -> list[bool]:
        seen = [standby.active]
        standby.judge({"me": alive(10), "other": alive(20)})
        seen.append(standby.active)
        waiter = asyncio.create_task(standby.wait_active())
        await asyncio.sleep(0)
        assert not waiter.done()
        standby.judge({"me": alive(10), "other": alive(20, seconds_ago=60)})  # the other one died
        await asyncio.wait_for(waiter, 1)
        seen.append(standby.active)
        return seen

    caplog.set_level("INFO", logger="onduty.services.peering")
    assert asyncio.run(scenario()) == [False, False, True]
    assert "peering onduty: paused, standing by for other (priority 20)" in caplog.text
    assert "peering onduty: active (priority 10)" in caplog.text


@pytest.mark.parametrize(("lifetime", "poll"), [(1, 0.5), (3, 0.75), (30, 5.0), (60, 5.0)])
def test_the_standing_is_read_a_few_times_per_lifetime(lifetime, poll):
    assert PeeringConfig(name="n", identity="i", priority=0, lifetime=lifetime).poll_seconds == poll


class MissingPeering:
    """A cluster without the peering object."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def request(self, method: str, path: str) -> dict[str, object]:
        self.asked.append(f"{method} {path}")
        raise NotFound("not found", status=404, reason="NotFound")


def test_a_replica_without_its_peering_object_stays_paused_and_says_how_to_fix_it(caplog):
    standby = Standby(PeeringConfig(name="onduty-a", identity="me", priority=1, lifetime=2))
    cluster = MissingPeering()

    async def scenario() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(standby.follow(cast(Cluster, cluster)), 1.2)

    caplog.set_level("WARNING", logger="onduty.services.peering")
    asyncio.run(scenario())
    assert not standby.active
    assert cluster.asked[0] == "GET /apis/kopf.dev/v1/clusterkopfpeerings/onduty-a" and len(cluster.asked) >= 2
    assert caplog.text.count("ClusterKopfPeering onduty-a does not exist") == 1  # said once, not every poll
