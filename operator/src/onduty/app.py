"""Run the operator and/or the bridge in one asyncio loop.

``onduty run`` starts both by default: one process, one Kubernetes client,
one set of credentials; ``--no-bridge`` and ``onduty bridge`` split them for
deployments that scale the bridge separately.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import kopf
from aiohttp import web

from onduty.adapters.kube import Cluster
from onduty.bridge.app import Bridge, BridgeConfig, build_app
from onduty.handlers import admission, build_registry, configure
from onduty.handlers.runtime import OperatorConfig, Runtime
from onduty.services.peering import PeeringConfig, Standby

log = logging.getLogger(__name__)


@dataclass
class ServeOptions:
    operator: bool = True
    bridge: bool = True
    bridge_host: str = "127.0.0.1"
    bridge_port: int = 9095
    standalone: bool = True
    # Kopf peering with the other replicas (--peering); None: standalone.
    peering: PeeringConfig | None = None
    liveness_endpoint: str | None = None
    # The validating admission webhook (handlers/admission.py); None: not served.
    webhook: admission.WebhookOptions | None = None
    operator_config: OperatorConfig = field(default_factory=OperatorConfig)
    bridge_config: BridgeConfig = field(default_factory=BridgeConfig)


def watch_scope(config: OperatorConfig) -> dict[str, Any]:
    """Kopf's ``clusterwide``/``namespaces`` arguments: cluster-wide unless namespaces are named.

    onduty's own namespace is always among the named ones: its runbooks apply everywhere.
    """
    if not config.watch_namespaces:
        return {"clusterwide": True}
    return {
        "clusterwide": False,
        "namespaces": list(dict.fromkeys([*config.watch_namespaces, config.global_namespace])),
    }


# Kopf's requests to the API server in flight at once, besides its watch streams. Kopf's own
# session has no limit: an operator that starts (or re-lists) with a thousand objects to handle
# — Runbooks applied by GitOps before onduty was installed — sends a thousand PATCHes at once.
# On a busy API server their TLS handshakes time out, are retried, and the waiting connections
# held 650 MB (hack/bench_rest.py); bounded, they queue and finish in seconds.
API_REQUESTS = 32
# Kopf keeps one watch stream open per kind it handles, in each namespace it watches; they hold
# connections for minutes and must never wait for one.
NAMESPACED_KINDS = 6  # alerts, incidents, runbooks, escalationpolicies, notifiers, oncallschedules
CLUSTER_STREAMS = 8  # remediationpolicies, namespaces, the peering object, Kopf's own scanning, spare


def api_connections(config: OperatorConfig) -> int:
    """How many connections Kopf may hold to the API server: every watch stream, plus API_REQUESTS."""
    namespaces = len(watch_scope(config).get("namespaces") or [None])
    return NAMESPACED_KINDS * namespaces + CLUSTER_STREAMS + API_REQUESTS


def _login_handler(cluster: Cluster, connections: int) -> Any:
    async def login(**_: Any) -> kopf.AiohttpSession:
        cfg = cluster.api.configuration
        header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
        scheme, _sep, token = (header or "").partition(" ")
        info = kopf.ConnectionInfo(
            server=cfg.host,
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            scheme=scheme or None if token else None,
            token=token or (scheme or None),
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
        )
        # Kopf's session, as Kopf would make it from these credentials, with a bound on connections.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ssl=info.as_ssl_context()),
            headers=info.as_http_headers(),
        )
        return kopf.AiohttpSession(server=info.server, aiohttp_session=session)

    return login


async def serve(
    cluster: Cluster, options: ServeOptions, stop_flag: threading.Event | asyncio.Event | None = None
) -> None:
    tasks: list[asyncio.Task[Any]] = []
    runner: web.AppRunner | None = None
    if options.bridge:
        runner = web.AppRunner(build_app(Bridge(cluster, options.bridge_config)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, options.bridge_host, options.bridge_port).start()
        log.info("bridge listening on http://%s:%d", options.bridge_host, options.bridge_port)
    try:
        if options.operator:
            registry = build_registry()
            connections = api_connections(options.operator_config)
            kopf.on.login(registry=registry)(_login_handler(cluster, connections))
            settings = kopf.OperatorSettings()
            configure(settings)
            peering_args = _peering(registry, settings, options)
            if options.webhook is not None:
                admission.register(registry)
                admission.configure(settings, options.webhook)
            # One registry for the bridge's and the operator's metrics: one /metrics (on the bridge's port).
            memo = kopf.Memo(
                runtime=Runtime(
                    cluster=cluster,
                    config=options.operator_config,
                    metrics=options.bridge_config.registry,
                    standby=Standby(options.peering),
                )
            )
            tasks.append(
                asyncio.create_task(
                    kopf.operator(
                        registry=registry,
                        settings=settings,
                        memo=memo,
                        **watch_scope(options.operator_config),
                        **peering_args,
                        liveness_endpoint=options.liveness_endpoint,
                        stop_flag=stop_flag,
                    )
                )
            )
            await asyncio.gather(*tasks)
        else:
            await _wait(stop_flag)
    finally:
        for task in tasks:
            task.cancel()
        if runner is not None:
            await runner.cleanup()


def _peering(registry: kopf.OperatorRegistry, settings: kopf.OperatorSettings, options: ServeOptions) -> dict[str, Any]:
    """Kopf's peering arguments: standalone, or this replica's name, identity and priority in the peering.

    Peering is always cluster-wide (one ``ClusterKopfPeering`` per peering name), also for an operator that
    watches a few namespaces: otherwise Kopf would want a ``KopfPeering`` in every namespace it watches.
    Kopf derives the peering's scope from the operator's when it starts, so a startup handler (which runs
    before any watch) sets it back.
    """
    peering = options.peering
    if peering is None:
        return {"standalone": options.standalone}
    settings.peering.lifetime = peering.lifetime

    @kopf.on.startup(id="peer_cluster_wide", registry=registry)
    def peer_cluster_wide(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.clusterwide = True

    return {
        "standalone": False,
        "peering_name": peering.name,
        "priority": peering.priority,
        "identity": peering.identity,
    }


async def _wait(stop_flag: threading.Event | asyncio.Event | None) -> None:
    if isinstance(stop_flag, asyncio.Event):
        await stop_flag.wait()
    elif isinstance(stop_flag, threading.Event):
        await asyncio.to_thread(stop_flag.wait)
    else:
        await asyncio.Event().wait()  # until cancelled
