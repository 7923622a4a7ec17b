"""The ``onduty`` command: ``run`` (operator + bridge), ``bridge``, ``lint``.

Every option also reads an ``ONDUTY_*`` environment variable, so the Helm
chart and a developer's shell configure it the same way. Options are checked
before anything starts: a bad one is a one-line error naming the option and
exit status 2, never a traceback, and never a credential in the message.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from onduty.adapters.kube import Cluster, KubeError, load_client
from onduty.app import ServeOptions, serve
from onduty.bridge.app import DEFAULT_MAX_ALERTS, DEFAULT_MAX_BODY, BridgeConfig
from onduty.domain import trust
from onduty.domain.grouping import DEFAULT_KEYS, GroupingConfig
from onduty.domain.redaction import redact_url
from onduty.domain.runbooks import RunbookError, parse_runbook
from onduty.handlers.runtime import DEFAULT_GLOBAL_NAMESPACE, DEFAULT_POLL_SECONDS, OperatorConfig

log = logging.getLogger("onduty.cli")  # not __name__: that is "__main__" under ``python -m``


class StartupError(Exception):
    """An option that cannot work; the message names the option and the value (never a secret)."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"ONDUTY_{name}", default)


def bridge_token(path: str | None, *, port: int) -> str | None:
    """The bearer token the bridge requires, read from ``path``; None (with a warning) when no file is given.

    An empty file is an error, not "no token": a Secret mounted without its
    key must not quietly open the bridge to everyone.
    """
    if not path:
        log.warning(
            "the bridge requires no token (no --bridge-token-file): anyone who can reach port %d can create Alerts",
            port,
        )
        return None
    try:
        token = Path(path).read_text().strip()
    except OSError as error:
        raise StartupError(f"--bridge-token-file {path}: cannot read the token: {error.strerror}") from error
    except UnicodeDecodeError as error:  # its message would show a byte of the token
        raise StartupError(f"--bridge-token-file {path}: the token is not UTF-8 text") from error
    if not token:
        raise StartupError(f"--bridge-token-file {path} is empty: give the bearer token Alertmanager sends")
    return token


def watch_namespaces(text: str, global_namespace: str) -> tuple[str, ...]:
    """The namespaces ``--watch-namespaces`` names, plus onduty's own; () for cluster-wide.

    Every name must be a namespace name (no Kopf globs, no negations): this
    option narrows what onduty reads, it must not be a way to widen it.
    """
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        return ()
    for name in names:
        _namespace(name, "--watch-namespaces")
    # onduty's own namespace holds the global runbooks: always watched.
    return tuple(dict.fromkeys([*names, global_namespace]))


def _service_url(value: str | None, option: str) -> str | None:
    """``value`` if it is an http(s) URL with a host; the error shows it without credentials."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a malformed IPv6 address
        usable = False
    if not usable:
        raise StartupError(f"{option} {redact_url(value)!r}: expected an http:// or https:// URL with a host")
    return value


def _namespace(value: str, option: str) -> str:
    try:
        return trust.namespace(value, field=option)
    except trust.Untrusted as error:
        raise StartupError(str(error)) from error


def _positive(value: int, option: str) -> int:
    if value < 1:
        raise StartupError(f"{option} {value}: must be at least 1")
    return value


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
        "--watch-namespaces",
        default=_env("WATCH_NAMESPACES", ""),
        help="comma-separated namespaces onduty may use (onduty's own is always added): the operator watches only"
        " these, the bridge stores other namespaces' alerts in onduty's own; empty: cluster-wide (default)",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=int(_env("MAX_BODY_BYTES", str(DEFAULT_MAX_BODY)) or DEFAULT_MAX_BODY)
    )
    parser.add_argument(
        "--max-alerts",
        type=int,
        default=int(_env("MAX_ALERTS", str(DEFAULT_MAX_ALERTS)) or DEFAULT_MAX_ALERTS),
        help="refuse (413) a notification with more alerts than this; match Alertmanager's webhook max_alerts (default: %(default)s)",
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
    # Every option is checked before the first connection, so a bad one fails fast and alone.
    namespace = _namespace(args.namespace, "--namespace")
    token = bridge_token(args.bridge_token_file, port=args.bridge_port) if bridge else None
    watched = watch_namespaces(args.watch_namespaces, namespace)
    options = ServeOptions(
        operator=operator,
        bridge=bridge,
        bridge_host=args.bridge_host,
        bridge_port=args.bridge_port,
        bridge_config=BridgeConfig(
            default_namespace=namespace,
            token=token,
            max_body_bytes=_positive(args.max_body_bytes, "--max-body-bytes"),
            max_alerts=_positive(args.max_alerts, "--max-alerts"),
            namespaces=watched,
        ),
    )
    if operator:
        try:
            grouping = GroupingConfig.parse(args.grouping_keys)
        except ValueError as error:
            raise StartupError(f"--grouping-keys: {error}") from error
        options.standalone = not args.peering
        options.liveness_endpoint = args.liveness
        options.operator_config = OperatorConfig(
            global_namespace=namespace,
            grouping=grouping,
            poll_seconds=args.poll_seconds,
            prometheus_url=_service_url(args.prometheus_url, "--prometheus-url"),
            alertmanager_url=_service_url(args.alertmanager_url, "--alertmanager-url"),
            watch_namespaces=watched,
        )
        config = options.operator_config
        for what, url in (("Prometheus", config.prometheus_url), ("Alertmanager", config.alertmanager_url)):
            if url:
                log.info("%s at %s", what, redact_url(url))
        if config.watch_namespaces:
            log.info("watching namespaces %s", ", ".join(config.watch_namespaces))
    cluster = Cluster(load_client(args.kubeconfig, args.context))
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
    try:
        if args.command == "run":
            return _serve(args, operator=True, bridge=not args.no_bridge)
        if args.command == "bridge":
            return _serve(args, operator=False, bridge=True)
    except StartupError as error:
        print(f"onduty: error: {error}", file=sys.stderr)
        return 2
    if args.command in ("approve", "reject"):
        return _decide(args, approve=args.command == "approve")
    if args.command == "lint":
        return _lint(args.files)
    return 2


if __name__ == "__main__":
    sys.exit(main())
