"""The ``onduty`` command: ``run`` (operator + bridge), ``bridge``, ``lint``.

Every option also reads an ``ONDUTY_*`` environment variable, so the Helm
chart and a developer's shell configure it the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

import yaml

from onduty.adapters.kube import Cluster, load_client
from onduty.app import ServeOptions, serve
from onduty.bridge.app import DEFAULT_MAX_BODY, BridgeConfig
from onduty.domain.grouping import DEFAULT_KEYS, GroupingConfig
from onduty.domain.runbooks import RunbookError, parse_runbook
from onduty.handlers.runtime import DEFAULT_GLOBAL_NAMESPACE, DEFAULT_POLL_SECONDS, OperatorConfig


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ONDUTY_{name}", default)


def _connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        default=_env("KUBECONFIG", os.environ.get("KUBECONFIG")),
        help="kubeconfig file (default: in-cluster, then ~/.kube/config)",
    )
    parser.add_argument("--context", default=_env("CONTEXT"), help="kubeconfig context")
    parser.add_argument(
        "--namespace",
        default=_env("NAMESPACE", DEFAULT_GLOBAL_NAMESPACE),
        help="onduty's own namespace: its runbooks apply everywhere, alerts without a namespace land here (default: %(default)s)",
    )
    parser.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"), choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _bridge_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bridge-host",
        default=_env("BRIDGE_HOST", "127.0.0.1"),
        help="address to listen on (default: %(default)s; 0.0.0.0 in a Pod)",
    )
    parser.add_argument("--bridge-port", type=int, default=int(_env("BRIDGE_PORT", "9095") or 9095))
    parser.add_argument(
        "--bridge-token-file",
        default=_env("BRIDGE_TOKEN_FILE"),
        help="require 'Authorization: Bearer <contents of this file>'",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=int(_env("MAX_BODY_BYTES", str(DEFAULT_MAX_BODY)) or DEFAULT_MAX_BODY)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onduty", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator (and the Alertmanager bridge, unless --no-bridge)")
    _connection_args(run)
    _bridge_args(run)
    run.add_argument("--no-bridge", action="store_true", help="run the operator only")
    run.add_argument(
        "--grouping-keys",
        default=_env("GROUPING_KEYS", ",".join(DEFAULT_KEYS)),
        help="alert labels that make one incident; 'workload' is the workload the labels point to (default: %(default)s)",
    )
    run.add_argument(
        "--poll-seconds",
        type=float,
        default=float(_env("POLL_SECONDS", str(DEFAULT_POLL_SECONDS)) or DEFAULT_POLL_SECONDS),
    )
    run.add_argument(
        "--prometheus-url",
        default=_env("PROMETHEUS_URL"),
        help="Prometheus for PromQL conditions, verification and diagnostics",
    )
    run.add_argument(
        "--alertmanager-url",
        default=_env("ALERTMANAGER_URL"),
        help="Alertmanager API for silences: automation holds while one matches the incident",
    )
    run.add_argument(
        "--peering",
        action="store_true",
        help="use Kopf peering (several replicas; needs the peering CRDs) instead of standalone",
    )
    run.add_argument(
        "--liveness", default=_env("LIVENESS"), help="Kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )

    bridge = sub.add_parser("bridge", help="run only the Alertmanager webhook bridge")
    _connection_args(bridge)
    _bridge_args(bridge)

    lint = sub.add_parser("lint", help="check Runbook manifests offline")
    lint.add_argument("files", nargs="+", type=Path)
    return parser


def _serve(args: argparse.Namespace, *, operator: bool, bridge: bool) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = Path(args.bridge_token_file).read_text().strip() if args.bridge_token_file else None
    cluster = Cluster(load_client(args.kubeconfig, args.context))
    options = ServeOptions(
        operator=operator,
        bridge=bridge,
        bridge_host=args.bridge_host,
        bridge_port=args.bridge_port,
        bridge_config=BridgeConfig(default_namespace=args.namespace, token=token, max_body_bytes=args.max_body_bytes),
    )
    if operator:
        options.standalone = not args.peering
        options.liveness_endpoint = args.liveness
        options.operator_config = OperatorConfig(
            global_namespace=args.namespace,
            grouping=GroupingConfig.parse(args.grouping_keys),
            poll_seconds=args.poll_seconds,
            prometheus_url=args.prometheus_url,
            alertmanager_url=args.alertmanager_url,
        )
    try:
        asyncio.run(serve(cluster, options))
    except KeyboardInterrupt:
        return 0
    return 0


def _lint(files: list[Path]) -> int:
    failures = 0
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "Runbook":
                continue
            name = (doc.get("metadata") or {}).get("name", "?")
            try:
                parse_runbook(doc.get("spec") or {})
            except RunbookError as error:
                failures += 1
                print(f"{path}: Runbook {name}: {error}", file=sys.stderr)
            else:
                print(f"{path}: Runbook {name}: ok")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _serve(args, operator=True, bridge=not args.no_bridge)
    if args.command == "bridge":
        return _serve(args, operator=False, bridge=True)
    if args.command == "lint":
        return _lint(args.files)
    return 2


if __name__ == "__main__":
    sys.exit(main())
