"""What every handler needs, built once per operator and passed through Kopf's ``memo``.

No module globals: tests build their own Runtime (and their own registry).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import CollectorRegistry

from onduty.adapters.kube import Cluster
from onduty.adapters.recorder import EventRecorder
from onduty.domain.grouping import GroupingConfig
from onduty.domain.notify.destinations import Network
from onduty.domain.retention import DEFAULT_ALERT_RETENTION, DEFAULT_INCIDENT_RETENTION
from onduty.services.metrics import OperatorMetrics
from onduty.services.peering import Standby
from onduty.services.wakeups import Wakeups

# The operator's own namespace: runbooks there apply to every namespace, and
# alerts without a usable namespace label are stored there.
DEFAULT_GLOBAL_NAMESPACE = "onduty-system"
# How often a step being verified looks at its rollout (and Prometheus at its metrics),
# and a step a silence holds asks Alertmanager. One second keeps verification latency
# low and costs one GET per action being verified. Waits for an approval, a pause or a
# time poll nothing: they wait for a watch event or a deadline (services/wakeups.py).
DEFAULT_POLL_SECONDS = 1.0
# Threads that record alerts in incidents (handlers/alerts.py). A pool of their own: in a storm
# thousands of alerts wait for a thread, and in the default pool they would queue ahead of a new
# incident's remediation. Eight keep the API server busy and let writes to one incident batch up;
# more would only contend for the GIL.
ALERT_THREADS = 8


@dataclass
class OperatorConfig:
    global_namespace: str = DEFAULT_GLOBAL_NAMESPACE
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    poll_seconds: float = DEFAULT_POLL_SECONDS
    # Prometheus for runbook conditions, verification and diagnostics; None: a
    # step with a PromQL condition does not run (its condition is "unknown").
    prometheus_url: str | None = None
    # Alertmanager's API for silences; None: silences are not consulted.
    alertmanager_url: str | None = None
    # The namespaces Kopf watches (onduty's own among them); (): cluster-wide.
    # Cluster-scoped kinds (RemediationPolicies) are watched either way.
    watch_namespaces: tuple[str, ...] = ()
    # How long resolved Alerts and Incidents are kept (see onduty.domain.retention
    # for why these defaults); None: for ever.
    alert_retention: timedelta | None = DEFAULT_ALERT_RETENTION
    incident_retention: timedelta | None = DEFAULT_INCIDENT_RETENTION
    # Networks notifiers may reach besides the public internet (a self-hosted Jira in
    # the cluster); by default none: see onduty.domain.notify.destinations for why.
    notifier_allowed_networks: tuple[Network, ...] = ()


@dataclass
class Runtime:
    cluster: Cluster
    config: OperatorConfig
    # Where the operator's metrics go (the bridge serves them on /metrics); tests pass their own.
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Whether this replica may act (services/peering.py): onduty's own background work waits on it.
    standby: Standby = field(default_factory=Standby)
    # Alerts of one group arriving together must open one incident, not two:
    # the find-or-create of a group runs under that group's lock. Handlers do
    # their API calls in worker threads, hence thread locks. One active operator
    # (Kopf peering or standalone) makes an in-process lock sufficient. One lock
    # per distinct group key: about a hundred bytes each.
    _group_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    # Judging the concurrency budget and claiming a slot happen under this
    # lock, so two incidents' workers cannot both take the last slot.
    budget_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Waiting steps wait for a watch event (an approval, a pause lifted, a policy edited) or a
    # deadline, never by asking the API server again and again (services/wakeups.py).
    wakeups: Wakeups = field(default_factory=Wakeups)
    # Alert records waiting to be written to an incident's status, by incident
    # (handlers/alerts.py): whoever's turn comes writes all that wait in one status
    # write, so a storm of alerts costs a few writes of the incident, not one each.
    incident_writes: dict[str, list[object]] = field(default_factory=dict)
    incident_writes_lock: threading.Lock = field(default_factory=threading.Lock)
    alert_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=ALERT_THREADS, thread_name_prefix="onduty-alerts")
    )
    # Timeline entries as Events, posted by onduty in order (adapters/recorder.py).
    events: EventRecorder = field(init=False)
    # Incidents, actions, guardrail verdicts and durations, counted from the incidents' watch events.
    observed: OperatorMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.cluster)
        self.observed = OperatorMetrics(self.metrics)

    def group_lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._group_locks.setdefault(key, threading.Lock())
