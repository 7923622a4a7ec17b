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

from onduty.adapters.kube import Cluster, KubeError, load_client
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

    for verb, what in (("approve", "let a waiting action run"), ("reject", "refuse a waiting action")):
        decide = sub.add_parser(verb, help=f"{what}; records who you are (as the API server authenticates you)")
        decide.add_argument("incident")
        decide.add_argument("-n", "--namespace", dest="incident_namespace", default="default")
        decide.add_argument("--step", help="the step (default: the one action waiting for approval)")
        decide.add_argument("--kubeconfig", default=_env("KUBECONFIG", os.environ.get("KUBECONFIG")))
        decide.add_argument("--context", default=_env("CONTEXT"))

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


def _decide(args: argparse.Namespace, *, approve: bool) -> int:
    cluster = Cluster(load_client(args.kubeconfig, args.context))
    try:
        incident = cluster.get("incidents", args.incident_namespace, args.incident)
    except KubeError as error:
        print(f"onduty: {error}", file=sys.stderr)
        return 1
    waiting = [a for a in (incident.get("status") or {}).get("actions") or [] if a.get("state") == "AwaitingApproval"]
    step = args.step
    if step is None:
        if len(waiting) != 1:
            names = ", ".join(a.get("step", "?") for a in waiting) or "none"
            print(
                f"onduty: incident {args.incident} has {len(waiting)} action(s) waiting ({names}); name one with --step",
                file=sys.stderr,
            )
            return 1
        step = waiting[0]["step"]
    # The API server says who we are; the annotation records it with the decision.
    review = cluster.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    user = ((review.get("status") or {}).get("userInfo") or {}).get("username") or "unknown"
    key = "onduty.dev/approve" if approve else "onduty.dev/reject"
    cluster.merge_patch(
        "incidents",
        args.incident_namespace,
        args.incident,
        {"metadata": {"annotations": {key: step, "onduty.dev/approved-by": user}}},
    )
    print(
        f"{'approved' if approve else 'rejected'} step {step} of incident {args.incident_namespace}/{args.incident} as {user}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _serve(args, operator=True, bridge=not args.no_bridge)
    if args.command == "bridge":
        return _serve(args, operator=False, bridge=True)
    if args.command in ("approve", "reject"):
        return _decide(args, approve=args.command == "approve")
    if args.command == "lint":
        return _lint(args.files)
    return 2


if __name__ == "__main__":
    sys.exit(main())
