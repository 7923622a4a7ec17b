"""Alertmanager webhook v4 → ``Alert`` objects, with Alertmanager's delivery semantics.

Alertmanager retries on 5xx and gives up on 4xx, so the answer is chosen for
what the sender should do next:

* 200 — every alert of the notification is stored (created, updated or
  already there: retries and HA duplicates land on the same object);
* 400 — the payload can never be accepted (bad or too deeply nested JSON,
  text that is not Unicode, wrong version, invalid fields: the message names
  the field and the value); nothing is written;
* 401 — a bearer token is configured and the request lacks it;
* 413 — the body exceeds the configured limit in bytes, or holds more alerts
  than the configured cap; nothing is written;
* 503 — the API server is unreachable or overloaded; Alertmanager will retry.

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
import time
from dataclasses import dataclass, field
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
from onduty.domain import alerts as domain

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


@dataclass
class _Outcome:
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (namespace, name, uid)
    updated: int = 0
    unchanged: int = 0


class Bridge:
    """Stores the alerts of one notification; each call is independent and idempotent."""

    def __init__(self, cluster: Cluster, config: BridgeConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.metrics = _Metrics(config.registry)

    def store(self, message: domain.WebhookMessage) -> _Outcome:
        outcome = _Outcome()
        try:
            for alert in message.alerts:
                self._upsert(alert, message, outcome)
        except ApiRejected:
            self._undo(outcome)
            raise
        return outcome

    def _upsert(self, alert: domain.WebhookAlert, message: domain.WebhookMessage, outcome: _Outcome) -> None:
        name = domain.alert_object_name(alert)
        spec = domain.alert_spec(alert, message)
        namespace = domain.alert_namespace(alert, self.config.default_namespace)
        if self.config.namespaces and namespace not in self.config.namespaces:
            namespace = self.config.default_namespace
        body = {
            "apiVersion": API_VERSION,
            "kind": "Alert",
            "metadata": {
                "name": name,
                "labels": {
                    "app.kubernetes.io/managed-by": "onduty",
                    "onduty.dev/alertname": domain.safe_label_value(alert.alertname),
                    "onduty.dev/fingerprint": domain.safe_label_value(alert.fingerprint.lower()),
                },
            },
            "spec": spec,
        }
        # An alert whose namespace label names a namespace this cluster lacks (an
        # alert about another cluster, or a typo) is kept in the default namespace.
        for target in dict.fromkeys((namespace, self.config.default_namespace)):
            try:
                created = self.cluster.create("alerts", target, body)
            except NotFound:
                if target == self.config.default_namespace:
                    raise
                continue
            except Conflict:
                self._update(target, name, spec, outcome)
                return
            outcome.created.append((target, name, created["metadata"]["uid"]))
            return

    def _update(self, namespace: str, name: str, spec: dict[str, Any], outcome: _Outcome) -> None:
        existing = self.cluster.get("alerts", namespace, name)
        change = domain.spec_update(existing.get("spec", {}), spec)
        if change is None:
            outcome.unchanged += 1
            return
        self.cluster.merge_patch("alerts", namespace, name, {"spec": change})
        outcome.updated += 1

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
            outcome = await asyncio.to_thread(bridge.store, message)
        except ApiUnavailable as error:
            log.warning("API server unavailable, asking Alertmanager to retry: %s", error)
            return _error(503, f"Kubernetes API unavailable, retry later: {error}", **{"Retry-After": "5"})
        except ApiRejected as error:
            log.warning("API server rejected an alert of receiver %r: %s", message.receiver, error)
            # 400/422: this payload makes an invalid object, for good. Anything else
            # (403, a missing default namespace) is our misconfiguration: 500, so
            # Alertmanager keeps the notification and retries once it is fixed.
            return _error(400 if error.status in (400, 422) else 500, str(error))
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
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
