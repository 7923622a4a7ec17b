"""Alertmanager webhook v4 → ``Alert`` objects, with Alertmanager's delivery semantics.

Alertmanager retries on 5xx and gives up on 4xx, so the answer is chosen for
what the sender should do next:

* 200 — every alert of the notification is stored (created, updated or
  already there: retries, HA duplicates and deliveries of one firing episode
  whatever their ``startsAt`` land on the same object);
* 400 — the payload can never be accepted (bad or too deeply nested JSON,
  text that is not Unicode, wrong version, invalid fields: the message names
  the field and the value); nothing is written;
* 401 — a bearer token is configured and the request lacks it;
* 413 — the body exceeds the configured limit in bytes, or holds more alerts
  than the configured cap; nothing is written;
* 503 — the API server is unreachable or overloaded; Alertmanager will retry.

Each alert is one episode of its fingerprint (see :mod:`onduty.domain.alerts`):
the bridge lists the fingerprint's stored episodes, lets the domain plan the
delivery, and writes with a precondition (a create by name, a patch carrying the
resourceVersion read). A concurrent delivery that wrote first makes the write
conflict; the bridge then looks again, so racing deliveries never make two
objects of one episode.

``truncatedAlerts`` (alerts Alertmanager cut from the notification, its
``max_alerts``) is stored on every Alert of the notification, which carries it
to the incident, and counted on ``/metrics``.

The whole payload is validated before the first write. If the API server
refuses one object for good (a 4xx from it), the objects this request created
are deleted again, so a rejected request leaves nothing behind.

Alert labels are untrusted: an alert lands in its ``namespace`` label's
namespace only if that is a valid namespace name that exists, else in the
default namespace (onduty's own); a label never becomes part of a path.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from onduty import API_VERSION
from onduty.adapters.kube import ApiRejected, ApiUnavailable, Cluster, Conflict, KubeError, NotFound
from onduty.bridge.integrations import PATH as INTEGRATIONS_PATH
from onduty.bridge.integrations import Integrations
from onduty.bridge.integrations import handler as integration_handler
from onduty.domain import alerts as domain
from onduty.domain.annotations import ALERTNAME_LABEL, FINGERPRINT_LABEL

log = logging.getLogger(__name__)

# Alertmanager sends every alert of a group in one request; 1 MiB holds about a
# thousand alerts with ordinary labels, far more than a sane group, and stops a
# runaway sender from costing us memory.
DEFAULT_MAX_BODY = 1024 * 1024
# Each alert costs one or two API calls. 1000 is what ordinary alerts fill the
# 1 MiB body with; without a count cap, tiny alerts (~150 bytes) would make one
# request cost seven times as many writes. Alertmanager's own max_alerts
# default is 0 (unlimited), but a group of a few thousand alerts is already
# pathological: better refused loudly than stored slowly.
DEFAULT_MAX_ALERTS = 1000
ALERTS_PATH = "/api/v1/alerts"
# Each conflict means another delivery of the same fingerprint wrote first and
# the next look sees its write; an HA pair races at most a few deliveries of one
# alert at once. Past this the API server is too busy to settle it: 503, and
# Alertmanager retries.
EPISODE_ATTEMPTS = 6
# A 429 on the look at stored episodes: the API server's flow control, or its
# cache of the Alert kind (re)initialising for a second after a CRD change. It is
# worth waiting this long inside the request rather than answering 503, which
# Alertmanager retries only after its own backoff.
LIST_RETRY_SECONDS = (0.25, 0.5, 1.0)
# Notifications stored at once. The bridge has its own threads: in `onduty run`
# the operator's handlers fill the default thread pool during an alert storm, and
# Alertmanager must not wait behind them for its answer. Eight concurrent
# notifications outnumber what an HA pair sends at once.
STORE_THREADS = 8
# The first look at stored episodes is one list per namespace for the whole notification
# (a set-based label selector), not one per alert: a storm's notification of 50 alerts costs
# one read, and an HA duplicate that changes nothing costs only that read. Fingerprints per
# list are capped so the selector stays a short URL (100 x 17 characters).
LOOK_AHEAD_FINGERPRINTS = 100
# Deliveries of one fingerprint through this bridge take turns (a lock per stripe of
# fingerprints): an HA pair's two copies of a notification arrive together, and the
# second then reads the first's write instead of racing it into a refused (409) write.
# 256 stripes: eight store threads rarely share one by chance, and it costs nothing.
FINGERPRINT_STRIPES = 256


@dataclass
class BridgeConfig:
    default_namespace: str = "onduty-system"
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_alerts: int = DEFAULT_MAX_ALERTS
    # The namespaces onduty may use (--watch-namespaces); an alert for any other is kept in
    # default_namespace, as one for a namespace that does not exist. Empty: every namespace.
    namespaces: tuple[str, ...] = ()
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "onduty_bridge_requests", "Webhook requests by HTTP status.", ["code"], registry=registry
        )
        self.alerts = Counter("onduty_bridge_alerts", "Alerts stored, by outcome.", ["outcome"], registry=registry)
        self.latency = Histogram("onduty_bridge_request_seconds", "Time to store a notification.", registry=registry)
        self.truncated = Counter(
            "onduty_bridge_truncated_alerts",
            "Alerts Alertmanager left out of notifications (truncatedAlerts: its webhook max_alerts).",
            registry=registry,
        )
        self.truncated_notifications = Counter(
            "onduty_bridge_truncated_notifications",
            "Notifications from which Alertmanager left alerts out (truncatedAlerts > 0).",
            registry=registry,
        )


@dataclass
class _Outcome:
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (namespace, name, uid)
    updated: int = 0
    unchanged: int = 0


class _NoNamespace(Exception):
    """The namespace to store an alert in does not exist."""


class Bridge:
    """Stores the alerts of one notification; each call is independent and idempotent."""

    def __init__(self, cluster: Cluster, config: BridgeConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.metrics = _Metrics(config.registry)
        self.executor = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="onduty-bridge")
        self._turns = [threading.Lock() for _ in range(FINGERPRINT_STRIPES)]
        # Writes made per stripe: a look-ahead older than a write of its stripe is not used.
        self._writes = [0] * FINGERPRINT_STRIPES

    def store(self, message: domain.WebhookMessage) -> _Outcome:
        outcome = _Outcome()
        writes_before = list(self._writes)
        looked = self._look_ahead(message.alerts)
        try:
            for alert in message.alerts:
                stripe = zlib.crc32(alert.fingerprint.lower().encode()) % FINGERPRINT_STRIPES
                with self._turns[stripe]:
                    fresh = self._writes[stripe] == writes_before[stripe]
                    written = len(outcome.created) + outcome.updated
                    self._upsert(alert, message, outcome, looked.get(self._namespace(alert)) if fresh else None)
                    if len(outcome.created) + outcome.updated != written:  # looks before this write are stale
                        self._writes[stripe] += 1
        except ApiRejected:
            self._undo(outcome)
            raise
        return outcome

    def _namespace(self, alert: domain.WebhookAlert) -> str:
        namespace = domain.alert_namespace(alert, self.config.default_namespace)
        if self.config.namespaces and namespace not in self.config.namespaces:
            namespace = self.config.default_namespace
        return namespace

    def _look_ahead(self, alerts: list[domain.WebhookAlert]) -> dict[str, list[dict[str, Any]]]:
        """The stored episodes of every fingerprint of the notification, by namespace: a few lists, not one per alert.

        A snapshot, like every look: a write planned from it carries its precondition, and
        a conflict makes that alert look again on its own.
        """
        wanted: dict[str, list[str]] = {}
        for alert in alerts:
            values = wanted.setdefault(self._namespace(alert), [])
            values.append(domain.safe_label_value(alert.fingerprint.lower()))
        looked: dict[str, list[dict[str, Any]]] = {}
        for namespace, values in wanted.items():
            unique = list(dict.fromkeys(values))
            for start in range(0, len(unique), LOOK_AHEAD_FINGERPRINTS):
                chunk = ",".join(unique[start : start + LOOK_AHEAD_FINGERPRINTS])
                looked.setdefault(namespace, []).extend(self._look(namespace, f"{FINGERPRINT_LABEL} in ({chunk})"))
        return looked

    def _upsert(
        self,
        alert: domain.WebhookAlert,
        message: domain.WebhookMessage,
        outcome: _Outcome,
        looked: list[dict[str, Any]] | None = None,
    ) -> None:
        spec = domain.alert_spec(alert, message)
        namespace = self._namespace(alert)
        # An alert whose namespace label names a namespace this cluster lacks (an
        # alert about another cluster, or a typo) is kept in the default namespace.
        for target in dict.fromkeys((namespace, self.config.default_namespace)):
            try:
                self._deliver(target, alert, spec, outcome, looked if target == namespace else None)
            except _NoNamespace:
                if target == self.config.default_namespace:
                    raise NotFound(f"namespace {target} not found: cannot store alerts there", status=404) from None
                continue
            return

    def _deliver(
        self,
        namespace: str,
        alert: domain.WebhookAlert,
        spec: dict[str, Any],
        outcome: _Outcome,
        looked: list[dict[str, Any]] | None = None,
    ) -> None:
        """Plan the delivery against the fingerprint's stored episodes and write it; look again after a conflict.

        ``looked``: what the notification's look-ahead found in ``namespace`` (the plan picks this
        fingerprint's episodes out of it), used for the first plan instead of a look of its own.
        """
        selector = f"{FINGERPRINT_LABEL}={domain.safe_label_value(alert.fingerprint.lower())}"
        for _ in range(EPISODE_ATTEMPTS):
            if looked is not None:
                stored, looked = looked, None  # the look-ahead's snapshot, for the first plan only
            else:
                stored = self._look(namespace, selector)
            steps = domain.plan_delivery(alert, spec, stored, now=datetime.now(UTC))
            try:
                self._apply(namespace, alert, steps, outcome)
            except Conflict:
                continue  # another delivery of this fingerprint wrote first: its write decides the next plan
            except NotFound as error:
                if any(isinstance(step, domain.Create) for step in steps):
                    raise _NoNamespace(namespace) from error
                continue  # the episode went (retention) between the look and the write
            return
        raise ApiUnavailable(
            f"alert {alert.fingerprint.lower()} in {namespace}: its episodes kept changing under"
            f" {EPISODE_ATTEMPTS} attempts; retry later"
        )

    def _look(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        for pause in LIST_RETRY_SECONDS:
            try:
                return self.cluster.list("alerts", namespace, label_selector=selector)
            except ApiUnavailable as error:
                if error.status != 429:
                    raise
                log.debug("API server asks to wait (%s); looking again in %.2fs", error, pause)
                time.sleep(pause)
        return self.cluster.list("alerts", namespace, label_selector=selector)

    def _apply(self, namespace: str, alert: domain.WebhookAlert, steps: list[domain.Step], outcome: _Outcome) -> None:
        written = False
        for step in steps:
            if isinstance(step, domain.Create):
                created = self.cluster.create("alerts", namespace, self._body(alert, step))
                outcome.created.append((namespace, step.name, created["metadata"]["uid"]))
                return
            if isinstance(step, domain.Update):
                patch = {"metadata": {"resourceVersion": step.resource_version}, "spec": step.change}
                self.cluster.merge_patch("alerts", namespace, step.name, patch)
                written = True
        if written:
            outcome.updated += 1
        else:
            outcome.unchanged += 1

    @staticmethod
    def _body(alert: domain.WebhookAlert, step: domain.Create) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "Alert",
            "metadata": {
                "name": step.name,
                "labels": {
                    "app.kubernetes.io/managed-by": "onduty",
                    ALERTNAME_LABEL: domain.safe_label_value(alert.alertname),
                    FINGERPRINT_LABEL: domain.safe_label_value(alert.fingerprint.lower()),
                },
            },
            "spec": step.spec,
        }

    def _undo(self, outcome: _Outcome) -> None:
        for namespace, name, uid in outcome.created:
            try:
                self.cluster.delete("alerts", namespace, name, uid=uid)
            except KubeError as error:
                log.warning("could not remove alert %s/%s of a rejected request: %s", namespace, name, error)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status, headers=headers or None)


def build_app(bridge: Bridge) -> web.Application:
    config = bridge.config
    # aiohttp itself answers 413 past client_max_size, before we read a byte more.
    app = web.Application(client_max_size=config.max_body_bytes)

    async def receive(request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await _receive(request)
        bridge.metrics.requests.labels(code=str(response.status)).inc()
        bridge.metrics.latency.observe(time.perf_counter() - started)
        return response

    async def _receive(request: web.Request) -> web.Response:
        if config.token is not None:
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), config.token.encode()):
                return _error(401, "missing or invalid bearer token", **{"WWW-Authenticate": 'Bearer realm="onduty"'})
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than the limit of {config.max_body_bytes} bytes")
        try:
            document = domain.decode_json(raw)
        except domain.PayloadError as error:
            return _error(400, str(error))
        alerts = document.get("alerts") if isinstance(document, dict) else None
        if isinstance(alerts, list) and len(alerts) > config.max_alerts:
            return _error(
                413,
                f"{len(alerts)} alerts in one request, more than the limit of {config.max_alerts} (--max-alerts);"
                f" set max_alerts: {config.max_alerts} or less in Alertmanager's webhook_config",
            )
        try:
            message = domain.parse_webhook(document)
        except domain.PayloadError as error:
            return _error(400, str(error))
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(bridge.executor, bridge.store, message)
        except ApiUnavailable as error:
            log.warning("API server unavailable, asking Alertmanager to retry: %s", error)
            return _error(503, f"Kubernetes API unavailable, retry later: {error}", **{"Retry-After": "5"})
        except ApiRejected as error:
            log.warning("API server rejected an alert of receiver %r: %s", message.receiver, error)
            # 400/422: this payload makes an invalid object, for good. Anything else
            # (403, a missing default namespace) is our misconfiguration: 500, so
            # Alertmanager keeps the notification and retries once it is fixed.
            return _error(400 if error.status in (400, 422) else 500, str(error))
        if message.truncated_alerts:
            bridge.metrics.truncated.inc(message.truncated_alerts)
            bridge.metrics.truncated_notifications.inc()
            log.warning(
                "Alertmanager left %d alert(s) out of a notification of receiver %r (its max_alerts);"
                " the incidents of this group say so",
                message.truncated_alerts,
                message.receiver,
            )
        bridge.metrics.alerts.labels(outcome="created").inc(len(outcome.created))
        bridge.metrics.alerts.labels(outcome="updated").inc(outcome.updated)
        bridge.metrics.alerts.labels(outcome="unchanged").inc(outcome.unchanged)
        return web.json_response(
            {
                "status": "ok",
                "created": len(outcome.created),
                "updated": outcome.updated,
                "unchanged": outcome.unchanged,
            }
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if await asyncio.to_thread(bridge.cluster.readyz):
            return web.Response(text="ok")
        return web.Response(status=503, text="Kubernetes API unreachable")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(config.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post(ALERTS_PATH, receive)
    # Callbacks from Slack, PagerDuty and Opsgenie: each proves itself with the vendor's
    # signature or token (bridge/integrations.py), not with the bridge's bearer token.
    integrations = Integrations(bridge.cluster, global_namespace=config.default_namespace, namespaces=config.namespaces)
    app.router.add_post(INTEGRATIONS_PATH, integration_handler(integrations))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
