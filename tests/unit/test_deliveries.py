"""Deliveries when the API server, not the vendor, fails: tried again later, a bounded number of times."""

from __future__ import annotations

import asyncio
import base64
import copy
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from onduty.adapters.kube import ApiUnavailable
from onduty.adapters.notifiers import Delivered
from onduty.domain.notify.channel import Outcome
from onduty.services import escalation
from onduty.services.escalation import Deliveries, Job, Metrics

INCIDENT = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Incident",
    "metadata": {"name": "web-down", "namespace": "shop", "uid": "u1"},
    "spec": {"title": "web down", "severity": "critical"},
    "status": {
        "phase": "Escalated",
        "notifications": [
            {"key": "page/0/0@pd", "notifier": "shop/pd", "kind": "page", "state": "Pending", "attempts": 0}
        ],
    },
}


class FlakyCluster:
    """Answers like the API server, except that the first ``failures`` status writes fail."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.incident = copy.deepcopy(INCIDENT)
        self.writes = 0

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        assert plural == "notifiers"
        return {"spec": {"type": "pagerduty", "secretRef": {"name": "pd"}}}

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert path.endswith("/secrets/pd")
        return {"data": {"routingKey": base64.b64encode(b"a" * 32).decode()}}

    def update_status(self, plural: str, namespace: str, name: str, mutate: Any) -> tuple[dict[str, Any], Any]:
        if self.failures:
            self.failures -= 1
            raise ApiUnavailable("etcd is re-electing")
        status = copy.deepcopy(self.incident["status"])
        result = mutate(status, self.incident)
        self.incident["status"] = status
        self.writes += 1
        return copy.deepcopy(self.incident), result


async def _deliver(*_: Any) -> Delivered:
    return Delivered(Outcome.DELIVERED, 1)


def _run(cluster: FlakyCluster, settle: Any) -> None:
    async def go() -> None:
        deliveries = Deliveries(
            cluster, transport=None, post=lambda *_: None, metrics=Metrics(CollectorRegistry()), deliver_fn=_deliver
        )
        deliveries.enqueue(Job("shop", "web-down", "page/0/0@pd", "shop/pd"))
        async with asyncio.timeout(5):
            while not settle(cluster):  # noqa: ASYNC110 - the fake's state, polled briefly
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # nothing more happens after that
        await deliveries.close()

    asyncio.run(go())


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(escalation, "RETRY_JOB_BASE", 0.01)


def state(cluster: FlakyCluster) -> str:
    return str(cluster.incident["status"]["notifications"][0]["state"])


def test_a_delivery_the_api_server_failed_is_tried_again_and_sent_once() -> None:
    cluster = FlakyCluster(failures=2)
    _run(cluster, lambda c: state(c) == "Delivered")
    assert cluster.incident["status"]["notifications"][0]["attempts"] == 1  # claimed once, sent once


def test_it_gives_up_after_a_bounded_number_of_tries_and_leaves_the_record_for_a_restart() -> None:
    cluster = FlakyCluster(failures=100)
    _run(cluster, lambda c: c.failures <= 100 - escalation.RETRY_JOB_TIMES)
    assert cluster.failures == 100 - escalation.RETRY_JOB_TIMES  # tried RETRY_JOB_TIMES times, no more
    assert state(cluster) == "Pending"
