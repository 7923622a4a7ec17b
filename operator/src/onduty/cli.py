"""The ``onduty`` command: ``run`` (operator + bridge), ``bridge``, ``approve``/``reject``, ``ack``/``unack``,
``oncall``, ``lint``.

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
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from onduty.adapters.kube import Cluster, KubeError, NotFound, load_client
from onduty.adapters.notifiers import read_configmap
from onduty.app import ServeOptions, serve
from onduty.bridge.app import DEFAULT_MAX_ALERTS, DEFAULT_MAX_BODY, BridgeConfig
from onduty.domain import trust
from onduty.domain.annotations import (
    ACKNOWLEDGE_ANNOTATION,
    ACKNOWLEDGED_BY_ANNOTATION,
    ACKNOWLEDGED_FOR_ANNOTATION,
    ACKNOWLEDGED_VIA_ANNOTATION,
    APPROVE_ANNOTATION,
    APPROVED_BY_ANNOTATION,
    REJECT_ANNOTATION,
)
from onduty.domain.escalation import parse_policy as parse_escalation_policy
from onduty.domain.grouping import DEFAULT_KEYS, GroupingConfig
from onduty.domain.notify.destinations import Network, parse_networks
from onduty.domain.notify.notifiers import parse_notifier
from onduty.domain.oncall import OnCallError, next_handoff, on_call, parse_oncall_schedule, shifts
from onduty.domain.policies import parse_policy
from onduty.domain.redaction import redact_url
from onduty.domain.retention import parse_retention
from onduty.domain.runbooks import parse_runbook
from onduty.domain.specs import DNS_SUBDOMAIN
from onduty.domain.times import parse_time, rfc3339
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


def _retention(value: str, option: str) -> timedelta | None:
    """A retention such as ``72h``; None for ``0s`` (keep for ever)."""
    try:
        return parse_retention(value)
    except ValueError as error:
        raise StartupError(f"{option}: {error}; 0s keeps objects for ever") from error


def _networks(text: str) -> tuple[Network, ...]:
    try:
        return parse_networks([part for part in text.split(",") if part.strip()])
    except ValueError as error:
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
        "--alert-retention",
        default=_env("ALERT_RETENTION", "72h"),
        help="delete an Alert this long after it resolved, once its incident has resolved too; 0s: keep for ever"
        " (default: %(default)s: raw input, its incident keeps the summary; covers a weekend)",
    )
    run.add_argument(
        "--incident-retention",
        default=_env("INCIDENT_RETENTION", "720h"),
        help="delete an Incident (and its Alerts) this long after it resolved; 0s: keep for ever"
        " (default: %(default)s, 30 days: the post-mortem review and a monthly MTTA/MTTR review)",
    )
    run.add_argument(
        "--notifier-allowed-networks",
        default=_env("NOTIFIER_ALLOWED_NETWORKS", ""),
        help="comma-separated networks (CIDR) Notifiers may reach besides public addresses, e.g. a self-hosted"
        " Jira at 10.20.0.0/16; plain http is allowed only then (default: none)",
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
        decide.add_argument(
            "incident",
            help="the incident's name, or the waiting action's id (<incident uid>.<step>, as its ApprovalRequired Event says)",
        )
        decide.add_argument("-n", "--namespace", dest="incident_namespace", default="default")
        decide.add_argument("--step", help="the step (default: the one the action id names, or the one action waiting)")
        decide.add_argument("--kubeconfig", default=_env("KUBECONFIG", os.environ.get("KUBECONFIG")))
        decide.add_argument("--context", default=_env("CONTEXT"))

    for verb, what in (
        ("ack", "acknowledge an incident: you own it, escalation stops; records who you are"),
        ("unack", "withdraw an acknowledgement: escalation resumes at the current level"),
    ):
        ack = sub.add_parser(verb, help=what)
        ack.add_argument("incident", help="the incident's name")
        ack.add_argument("-n", "--namespace", dest="incident_namespace", default="default")
        ack.add_argument("--kubeconfig", default=_env("KUBECONFIG", os.environ.get("KUBECONFIG")))
        ack.add_argument("--context", default=_env("CONTEXT"))

    oncall = sub.add_parser("oncall", help="who is on call now and next, for each OnCallSchedule")
    oncall.add_argument("schedule", nargs="?", help="one schedule (default: every schedule in the namespace)")
    oncall.add_argument("-n", "--namespace", dest="schedule_namespace", default="default")
    oncall.add_argument("--at", help="an RFC 3339 time instead of now, e.g. 2026-12-24T18:00:00Z")
    oncall.add_argument("--kubeconfig", default=_env("KUBECONFIG", os.environ.get("KUBECONFIG")))
    oncall.add_argument("--context", default=_env("CONTEXT"))

    lint = sub.add_parser(
        "lint",
        help="check Runbook, RemediationPolicy, EscalationPolicy, Notifier and OnCallSchedule manifests offline,"
        " as the API server and onduty read them",
    )
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
            alert_retention=_retention(args.alert_retention, "--alert-retention"),
            incident_retention=_retention(args.incident_retention, "--incident-retention"),
            notifier_allowed_networks=_networks(args.notifier_allowed_networks),
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


class _ManifestLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: a timestamp stays the string it is (the API server checks date-times itself)."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# What ``onduty lint`` checks, by kind: the same models the operator reads them with, which say what the CRDs say.
_LINTED: dict[str, Any] = {
    "Runbook": parse_runbook,
    "RemediationPolicy": parse_policy,
    "EscalationPolicy": parse_escalation_policy,
    "Notifier": parse_notifier,
    "OnCallSchedule": parse_oncall_schedule,
}


def _lint(files: list[Path]) -> int:
    """Check every onduty object in ``files``; 1 if any is one the API server or onduty would refuse."""
    failures = 0
    for path in files:
        try:
            docs = list(yaml.load_all(path.read_text(), Loader=_ManifestLoader))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            failures += 1
            print(f"{path}: {error}", file=sys.stderr)
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") not in _LINTED:
                continue
            kind, name = doc["kind"], (doc.get("metadata") or {}).get("name")
            try:
                if not isinstance(name, str) or len(name) > 253 or not re.fullmatch(DNS_SUBDOMAIN, name):
                    raise ValueError(f"metadata.name: {name!r} is not a lower-case RFC 1123 subdomain")
                _LINTED[kind](doc.get("spec") or {})
            except ValueError as error:  # RunbookError, PolicyError
                failures += 1
                print(f"{path}: {kind} {name}: {error}", file=sys.stderr)
            else:
                print(f"{path}: {kind} {name}: ok")
    return 1 if failures else 0


# The id of an incident's action, as its ApprovalRequired Event names it: <incident uid>.<step>.
_ACTION_ID = re.compile(r"(?P<uid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(?P<step>[a-z0-9-]+)")


def _find_incident(cluster: Cluster, namespace: str, given: str) -> tuple[dict[str, Any], str | None]:
    """The incident ``given`` names (its name, or an action id), and the step an action id names."""
    try:
        return cluster.get("incidents", namespace, given), None
    except NotFound:
        action = _ACTION_ID.fullmatch(given)
        if action is None:
            raise
    for incident in cluster.list("incidents", namespace):
        if incident["metadata"].get("uid") == action["uid"]:
            return incident, action["step"]
    raise NotFound(f"no incident in namespace {namespace} has uid {action['uid']} (action {given})", status=404)


def _decide(args: argparse.Namespace, *, approve: bool) -> int:
    cluster = Cluster(load_client(args.kubeconfig, args.context))
    try:
        incident, named_step = _find_incident(cluster, args.incident_namespace, args.incident)
    except KubeError as error:
        print(f"onduty: {error}", file=sys.stderr)
        return 1
    name = incident["metadata"]["name"]
    where = f"incident {args.incident_namespace}/{name}"
    waiting = [
        a["step"] for a in (incident.get("status") or {}).get("actions") or [] if a.get("state") == "AwaitingApproval"
    ]
    step = args.step or named_step
    if step is None and len(waiting) == 1:
        step = waiting[0]
    if step is None or step not in waiting:
        which = "name one with --step" if step is None else f"step {step} is not one of them"
        print(
            f"onduty: {where} has {len(waiting)} action(s) waiting ({', '.join(waiting) or 'none'}); {which}",
            file=sys.stderr,
        )
        return 1
    key = APPROVE_ANNOTATION if approve else REJECT_ANNOTATION
    try:
        # The API server says who we are; the annotation records it with the decision (and the
        # onduty-approval admission policy checks that it is the requesting user).
        user = _whoami(cluster)
        cluster.merge_patch(
            "incidents",
            args.incident_namespace,
            name,
            {"metadata": {"annotations": {key: step, APPROVED_BY_ANNOTATION: user}}},
        )
    except KubeError as error:
        print(f"onduty: {where}: {error}", file=sys.stderr)
        return 1
    print(f"{'approved' if approve else 'rejected'} step {step} of {where} as {user}")
    return 0


def _whoami(cluster: Cluster) -> str:
    """The API server's name for us (what admission policies compare annotations with)."""
    review = cluster.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "unknown")


def _acknowledge(args: argparse.Namespace, *, ack: bool) -> int:
    cluster = Cluster(load_client(args.kubeconfig, args.context))
    where = f"incident {args.incident_namespace}/{args.incident}"
    try:
        incident = cluster.get("incidents", args.incident_namespace, args.incident)
        if (incident.get("status") or {}).get("phase") == "Resolved":
            print(f"onduty: {where} is resolved: nothing to acknowledge", file=sys.stderr)
            return 1
        if ack:
            user = _whoami(cluster)
            # The value is the time: acknowledging again is a new acknowledgement (one that
            # expired under the policy's acknowledgementTimeout can be renewed).
            now = datetime.now(UTC)
            patch = {
                ACKNOWLEDGE_ANNOTATION: rfc3339(now),
                ACKNOWLEDGED_BY_ANNOTATION: user,
                ACKNOWLEDGED_VIA_ANNOTATION: "onduty",
                ACKNOWLEDGED_FOR_ANNOTATION: None,
            }
        else:
            patch = {
                ACKNOWLEDGE_ANNOTATION: None,
                ACKNOWLEDGED_BY_ANNOTATION: None,
                ACKNOWLEDGED_VIA_ANNOTATION: None,
                ACKNOWLEDGED_FOR_ANNOTATION: None,
            }
        cluster.merge_patch("incidents", args.incident_namespace, args.incident, {"metadata": {"annotations": patch}})
    except KubeError as error:
        print(f"onduty: {where}: {error}", file=sys.stderr)
        return 1
    print(f"acknowledged {where} as {user}" if ack else f"withdrew the acknowledgement of {where}")
    return 0


def _oncall(args: argparse.Namespace) -> int:
    cluster = Cluster(load_client(args.kubeconfig, args.context))
    now = parse_time(args.at) if args.at else datetime.now(UTC)
    if now is None:
        print(f"onduty: --at {args.at!r} is not an RFC 3339 time such as 2026-12-24T18:00:00Z", file=sys.stderr)
        return 2
    try:
        if args.schedule:
            objects = [cluster.get("oncallschedules", args.schedule_namespace, args.schedule)]
        else:
            objects = cluster.list("oncallschedules", args.schedule_namespace)
    except KubeError as error:
        print(f"onduty: {error}", file=sys.stderr)
        return 1
    if not objects:
        print(f"no OnCallSchedules in namespace {args.schedule_namespace}")
        return 0
    failures = 0
    print(f"{'SCHEDULE':<24} {'NOW':<20} {'FROM':<16} {'UNTIL':<21} NEXT")
    for obj in objects:
        name = obj["metadata"]["name"]
        try:
            spec = parse_oncall_schedule(obj.get("spec") or {})
            ical = None
            if spec.ical is not None:
                data = read_configmap(cluster, args.schedule_namespace, spec.ical.config_map_ref.name)
                ical = data.get(spec.ical.config_map_ref.key)
            who = on_call(spec, now, ical)
            handoff = next_handoff(spec, now, ical)
            following = shifts(spec, handoff, handoff + timedelta(seconds=1), ical) if handoff else []
        except (OnCallError, ValueError, KubeError) as error:
            failures += 1
            print(f"{name:<24} error: {error}")
            continue
        nxt = following[0].member if following else "nobody"
        until = rfc3339(who.until) if who.until else "-"
        print(f"{name:<24} {who.member or 'nobody':<20} {who.source or '-':<16} {until:<21} {nxt}")
    return 1 if failures else 0


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
    if args.command in ("ack", "unack"):
        return _acknowledge(args, ack=args.command == "ack")
    if args.command == "oncall":
        return _oncall(args)
    if args.command == "lint":
        return _lint(args.files)
    return 2


if __name__ == "__main__":
    sys.exit(main())
