"""onduty's own metrics about incidents, actions and guardrails, from the incidents the operator watches.

Served with the bridge's on ``/metrics``. Durations are histograms (their
quantiles, not means: time to resolve is heavy-tailed). See
:mod:`onduty.domain.observations` for how a watch event becomes a count.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from onduty.domain import observations
from onduty.domain.observations import ActionFinished, Duration, Verdict, View

# From half a minute to a day: where the times of a page, a fix and a resolution fall.
DURATION_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0)


class _Incidents(Collector):
    """``onduty_incidents{phase,severity}``: counted at scrape time from the incidents the watch has seen."""

    def __init__(self, views: Mapping[str, View], lock: threading.Lock) -> None:
        self._views = views
        self._lock = lock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            counts = Tally((v.phase, v.severity) for v in self._views.values())
            started = [entry for v in self._views.values() for entry in v.in_progress]
        family = GaugeMetricFamily(
            "onduty_incidents", "Incidents that exist now, by phase and severity.", labels=["phase", "severity"]
        )
        for (phase, severity), count in sorted(counts.items()):
            family.add_metric([phase, severity], count)
        yield family
        running = GaugeMetricFamily(
            "onduty_actions_in_progress", "Actions started and not yet verified, by action.", labels=["action"]
        )
        oldest = GaugeMetricFamily(
            "onduty_action_in_progress_oldest_start_timestamp_seconds",
            "When the oldest action still in progress started (UNIX time), by action: time() minus it is its age.",
            labels=["action"],
        )
        for action in sorted({a for a, _ in started}):
            starts = [t for a, t in started if a == action]
            running.add_metric([action], len(starts))
            oldest.add_metric([action], min(starts))
        yield running
        yield oldest


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._views: dict[str, View] = {}
        self._lock = threading.Lock()
        registry.register(_Incidents(self._views, self._lock))
        self.durations = {
            measure: Histogram(
                f"onduty_time_to_{measure}_seconds",
                f"Time to {measure}: {what}, by severity.",
                ["severity"],
                buckets=DURATION_BUCKETS,
                registry=registry,
            )
            for measure, what in (
                ("acknowledge", "from the incident opening to the first acknowledgement"),
                ("mitigate", "from the first alert's start to the first remediation verified to work"),
                ("resolve", "from the first alert's start to the incident resolving"),
            )
        }
        self.actions = Counter(
            "onduty_actions",
            "Actions that finished, by action and result (Succeeded, Failed, Denied, DryRun, Closed).",
            ["action", "result"],
            registry=registry,
        )
        self.verdicts = Counter(
            "onduty_guardrail_verdicts",
            "Guardrail verdicts judged, by guardrail, reason and whether it allowed the step.",
            ["guardrail", "reason", "allowed"],
            registry=registry,
        )
        self.reconcile_errors = Counter(
            "onduty_reconcile_errors",
            "Errors that stopped a handler's work for now (ApiUnavailable: tried again later) or for good.",
            ["resource", "error"],
            registry=registry,
        )

    def incident_event(self, event_type: str | None, incident: Mapping[str, Any]) -> None:
        """Count what changed since the incident's last watch event."""
        metadata = incident.get("metadata") or {}
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        with self._lock:
            if event_type == "DELETED":
                self._views.pop(key, None)
                return
            before = self._views.get(key)
            self._views[key] = observations.view(incident)
        for change in observations.changes(before, incident):
            if isinstance(change, Duration):
                self.durations[change.measure].labels(change.severity).observe(change.seconds)
            elif isinstance(change, ActionFinished):
                self.actions.labels(change.action, change.result).inc()
            elif isinstance(change, Verdict):
                self.verdicts.labels(change.guardrail, change.reason, str(change.allowed).lower()).inc()
