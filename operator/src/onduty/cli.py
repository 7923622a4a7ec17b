"""The ``onduty`` command: ``run`` (operator + bridge), ``bridge``, ``approve``/``reject``, ``ack``/``unack``,
``oncall``, ``lint``, ``simulate``.

Every ``run`` and ``bridge`` option also reads an ``ONDUTY_*`` environment
variable named after it (``--bridge-port``: ``ONDUTY_BRIDGE_PORT``), so the Helm
chart and a developer's shell configure it the same way. Options are checked
before anything starts. A user's mistake is one line on stderr naming the option
(or variable) and the value, never a traceback and never a credential: exit
status 2 for a usage error (:class:`StartupError`: a bad option, a missing file),
1 for a failure at run time (:class:`CommandFailed`: an unreachable API server, a
port in use, nothing to approve). ``--help`` works whatever the environment
holds: values are converted after parsing, never while the parser is built.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib.metadata
import json
import logging
import math
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from kubernetes import config as k8s_config

from onduty.adapters.kube import ApiUnavailable, Cluster, KubeError, NotFound, load_client
from onduty.adapters.notifiers import read_configmap
from onduty.app import ServeOptions, serve
from onduty.bridge.app import DEFAULT_MAX_ALERTS, DEFAULT_MAX_BODY, BridgeConfig
from onduty.domain import controls, manifests, postmortem, simulation, trust
from onduty.domain.alerts import PayloadError, decode_json
from onduty.domain.annotations import (
    ACKNOWLEDGE_ANNOTATION,
    ACKNOWLEDGED_BY_ANNOTATION,
    ACKNOWLEDGED_FOR_ANNOTATION,
    ACKNOWLEDGED_VIA_ANNOTATION,
    APPROVE_ANNOTATION,
    APPROVED_BY_ANNOTATION,
    REJECT_ANNOTATION,
    RESOLVE_ANNOTATION,
    RESOLVED_BY_ANNOTATION,
    RETRIED_BY_ANNOTATION,
    RETRY_ANNOTATION,
    RUN_FOR_REAL_ANNOTATION,
)
from onduty.domain.grouping import DEFAULT_KEYS, GroupingConfig
from onduty.domain.notify.destinations import Network, parse_networks
from onduty.domain.oncall import OnCallError, next_handoff, on_call, parse_oncall_schedule, shifts
from onduty.domain.peering import default_priority
from onduty.domain.pending import pending, table, to_json
from onduty.domain.redaction import redact_url
from onduty.domain.retention import parse_retention
from onduty.domain.times import parse_time, rfc3339
from onduty.handlers import logs
from onduty.handlers.admission import DEFAULT_ADDRESS as DEFAULT_WEBHOOK_ADDRESS
from onduty.handlers.admission import DEFAULT_PORT as DEFAULT_WEBHOOK_PORT
from onduty.handlers.admission import WebhookOptions
from onduty.handlers.runtime import DEFAULT_GLOBAL_NAMESPACE, DEFAULT_POLL_SECONDS, OperatorConfig
from onduty.services.peering import PeeringConfig

log = logging.getLogger("onduty.cli")  # not __name__: that is "__main__" under ``python -m``


T = TypeVar("T")

DESCRIPTION = """\
onduty automates the predictable part of incident response on Kubernetes.

Every option of run and bridge can also be set by an ONDUTY_* environment
variable named after it: --bridge-port is ONDUTY_BRIDGE_PORT, --no-bridge is
ONDUTY_NO_BRIDGE=true. A flag on the command line wins over the variable.
"""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The ClusterKopfPeering the replicas of one install share (the chart names one per release and shard).
DEFAULT_PEERING_NAME = "onduty"
# A crashed active replica is replaced after at most this many seconds; keep-alives go every 20-25 s
# (Kopf writes 5-10 s before the lifetime ends): one small PATCH per replica, a takeover within half a minute.
DEFAULT_PEERING_LIFETIME = 30
_PEERING_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class StartupError(Exception):
    """A usage error (exit status 2): an option that cannot work; the message names it and the value, never a secret."""


class CommandFailed(Exception):
    """A failure at run time (exit status 1): the API server, the port, the incident said no; one line says why."""


class FromEnvironment(str):
    """An option's value as its ``ONDUTY_*`` variable gave it: a bad one is reported under the variable's name."""

    variable: str


def environment_variable(flag: str) -> str:
    """The variable that sets ``flag``: ``--bridge-port`` is ``ONDUTY_BRIDGE_PORT``."""
    return "ONDUTY_" + flag.lstrip("-").upper().replace("-", "_")


def _env(flag: str, default: str | None = None) -> str | None:
    """The default of ``flag``: its variable's value (unconverted, so ``--help`` never fails on it), else ``default``."""
    variable = environment_variable(flag)
    value = os.environ.get(variable)
    if value is None:
        return default
    text = FromEnvironment(value)
    text.variable = variable
    return text


def _source(flag: str, value: str | None) -> str:
    """Who gave ``value``, for an error message: the variable when it came from the environment, else the flag."""
    return value.variable if isinstance(value, FromEnvironment) else flag


def _converter(convert: Callable[[str], T], expected: str) -> Callable[[str], T]:
    """An argparse ``type`` whose error names the value and what was expected.

    argparse converts a string default after parsing (so ``--help`` never meets
    it); a bad value from a variable is a :class:`StartupError` naming the
    variable, a bad flag argparse's usage error naming the flag.
    """

    def parse(text: str) -> T:
        try:
            return convert(text)
        except ValueError:
            if isinstance(text, FromEnvironment):
                raise StartupError(f"{text.variable}={text!r}: expected {expected}") from None
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}") from None

    return parse


def _whole_number(text: str) -> int:
    return int(text)


def _port_number(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return port


def _seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(text)
    return level


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


_INTEGER = _converter(_whole_number, "a whole number")
_PORT = _converter(_port_number, "a port number from 1 to 65535")
_SECONDS = _converter(_seconds, "a number of seconds greater than 0")
_LOG_LEVEL = _converter(_log_level, f"one of {', '.join(LOG_LEVELS)} (any case)")
_BOOLEAN = _converter(_boolean, "true or false")


class _Switch(argparse.Action):
    """A flag without a value (``--peering``) whose default its variable may set (``ONDUTY_PEERING=true``)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, type=_BOOLEAN, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_: Any) -> None:
        setattr(namespace, self.dest, True)


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


def _kube_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        default=_env("--kubeconfig", os.environ.get("KUBECONFIG")),
        help="kubeconfig file (default: $KUBECONFIG; else in-cluster, then ~/.kube/config)",
    )
    parser.add_argument("--context", default=_env("--context"), help="kubeconfig context (default: its current one)")


def _connection_args(parser: argparse.ArgumentParser) -> None:
    _kube_args(parser)
    parser.add_argument(
        "--namespace",
        default=_env("--namespace", DEFAULT_GLOBAL_NAMESPACE),
        help="onduty's own namespace: its runbooks apply everywhere, alerts without a namespace land here (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default=_env("--log-level", "INFO"),
        type=_LOG_LEVEL,
        metavar="LEVEL",
        help=f"{', '.join(LOG_LEVELS)}, in any case (default: %(default)s)",
    )


def _bridge_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bridge-host",
        default=_env("--bridge-host", "127.0.0.1"),
        help="address to listen on (default: %(default)s; 0.0.0.0 in a Pod)",
    )
    parser.add_argument(
        "--bridge-port",
        default=_env("--bridge-port", "9095"),
        type=_PORT,
        help="port to listen on (default: %(default)s)",
    )
    parser.add_argument(
        "--bridge-token-file",
        default=_env("--bridge-token-file"),
        help="require 'Authorization: Bearer <contents of this file>'",
    )
    parser.add_argument(
        "--watch-namespaces",
        default=_env("--watch-namespaces", ""),
        help="comma-separated namespaces onduty may use (onduty's own is always added): the operator watches only"
        " these, the bridge stores other namespaces' alerts in onduty's own; empty: cluster-wide (default)",
    )
    parser.add_argument(
        "--max-body-bytes",
        default=_env("--max-body-bytes", str(DEFAULT_MAX_BODY)),
        type=_INTEGER,
        help="refuse (413) a larger request body (default: %(default)s)",
    )
    parser.add_argument(
        "--max-alerts",
        default=_env("--max-alerts", str(DEFAULT_MAX_ALERTS)),
        type=_INTEGER,
        help="refuse (413) a notification with more alerts than this; match Alertmanager's webhook max_alerts (default: %(default)s)",
    )


def _version() -> str:
    try:
        return importlib.metadata.version("onduty")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser(prog: str = "onduty") -> argparse.ArgumentParser:
    """The command line; building it reads the environment's ``ONDUTY_*`` values but converts none of them."""
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the operator (and the Alertmanager bridge, unless --no-bridge)",
        description="Run the operator and, unless --no-bridge, the Alertmanager webhook bridge."
        " Every option can also be set by its ONDUTY_* variable (--poll-seconds: ONDUTY_POLL_SECONDS).",
    )
    _connection_args(run)
    _bridge_args(run)
    run.add_argument(
        "--no-bridge",
        action=_Switch,
        default=_env("--no-bridge", "false"),
        help="run the operator only (ONDUTY_NO_BRIDGE=true)",
    )
    run.add_argument(
        "--grouping-keys",
        default=_env("--grouping-keys", ",".join(DEFAULT_KEYS)),
        help="alert labels that make one incident; 'workload' is the workload the labels point to (default: %(default)s)",
    )
    run.add_argument(
        "--poll-seconds",
        default=_env("--poll-seconds", str(DEFAULT_POLL_SECONDS)),
        type=_SECONDS,
        help="how often a step being verified looks at its rollout and metrics, and a silenced step asks"
        " Alertmanager again (default: %(default)s)",
    )
    run.add_argument(
        "--prometheus-url",
        default=_env("--prometheus-url"),
        help="Prometheus for PromQL conditions, verification and diagnostics",
    )
    run.add_argument(
        "--alertmanager-url",
        default=_env("--alertmanager-url"),
        help="Alertmanager API for silences: automation holds while one matches the incident",
    )
    run.add_argument(
        "--alert-retention",
        default=_env("--alert-retention", "72h"),
        help="delete an Alert this long after it resolved, once its incident has resolved too; 0s: keep for ever"
        " (default: %(default)s: raw input, its incident keeps the summary; covers a weekend)",
    )
    run.add_argument(
        "--incident-retention",
        default=_env("--incident-retention", "720h"),
        help="delete an Incident (and its Alerts) this long after it resolved; 0s: keep for ever"
        " (default: %(default)s, 30 days: the post-mortem review and a monthly MTTA/MTTR review)",
    )
    run.add_argument(
        "--notifier-allowed-networks",
        default=_env("--notifier-allowed-networks", ""),
        help="comma-separated networks (CIDR) Notifiers may reach besides public addresses, e.g. a self-hosted"
        " Jira at 10.20.0.0/16; plain http is allowed only then (default: none)",
    )
    run.add_argument(
        "--peering",
        action=_Switch,
        default=_env("--peering", "false"),
        help="use Kopf peering (several replicas; needs the peering CRDs) instead of standalone (ONDUTY_PEERING=true)",
    )
    run.add_argument(
        "--peering-name",
        default=_env("--peering-name", DEFAULT_PEERING_NAME),
        help="the ClusterKopfPeering object the replicas share; one per shard (default: %(default)s)",
    )
    run.add_argument(
        "--peering-priority",
        default=_env("--peering-priority"),
        type=_INTEGER,
        help="this replica's priority: the live replica with the highest one acts, the others stand by; give each"
        " replica its own (default: from the start time, the replica started first ranking highest)",
    )
    run.add_argument(
        "--peering-lifetime",
        default=_env("--peering-lifetime", str(DEFAULT_PEERING_LIFETIME)),
        type=_INTEGER,
        help="seconds a replica's keep-alive counts: a crashed active replica is replaced after at most this long"
        " (default: %(default)s)",
    )
    run.add_argument(
        "--liveness", default=_env("--liveness"), help="Kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument(
        "--admission-webhook",
        action=_Switch,
        default=_env("--admission-webhook", "false"),
        help="serve the validating admission webhook: kubectl apply refuses a spec onduty could not use"
        " (ONDUTY_ADMISSION_WEBHOOK=true)",
    )
    run.add_argument(
        "--admission-webhook-address",
        default=_env("--admission-webhook-address", DEFAULT_WEBHOOK_ADDRESS),
        help="address the webhook listens on, over https (default: %(default)s; 0.0.0.0 in a Pod)",
    )
    run.add_argument(
        "--admission-webhook-port",
        default=_env("--admission-webhook-port", str(DEFAULT_WEBHOOK_PORT)),
        type=_PORT,
        help="port the webhook listens on (default: %(default)s)",
    )
    run.add_argument(
        "--admission-webhook-host",
        default=_env("--admission-webhook-host"),
        help="name or address the API server calls the webhook at, and the certificate names (default: the address)",
    )
    run.add_argument(
        "--admission-webhook-cert-dir",
        default=_env("--admission-webhook-cert-dir"),
        help="directory with tls.crt and tls.key; the webhook configuration is then yours (the chart's). Without it,"
        " onduty signs its own certificate and registers the configuration itself",
    )

    bridge = sub.add_parser(
        "bridge",
        help="run only the Alertmanager webhook bridge",
        description="Run only the Alertmanager webhook bridge. Every option can also be set by its ONDUTY_* variable.",
    )
    _connection_args(bridge)
    _bridge_args(bridge)

    namespace_help = "the incident's namespace (default: the kube context's namespace, else default)"
    for verb, what in (("approve", "let a waiting action run"), ("reject", "refuse a waiting action")):
        decide = sub.add_parser(
            verb,
            help=f"{what}; records who you are (as the API server authenticates you)",
            description=f"{what[0].upper()}{what[1:]}, recording who you are (as the API server authenticates you)."
            " It fails (exit status 1) unless the action is waiting for approval now"
            + (" (with --for-real: unless the step ran as a dry run)." if verb == "approve" else "."),
        )
        decide.add_argument(
            "incident",
            help="the incident's name, or the waiting action's id (<incident uid>.<step>, as its ApprovalRequired Event says)",
        )
        decide.add_argument("-n", "--namespace", dest="incident_namespace", metavar="NAMESPACE", help=namespace_help)
        decide.add_argument("--step", help="the step (default: the one the action id names, or the one action waiting)")
        if verb == "approve":
            decide.add_argument(
                "--for-real",
                action="store_true",
                help="run a step that ran as a dry run for real: exactly the change its diff showed, only if the"
                " target has not changed since, every other guardrail judged again (needs --step unless one step"
                " is a dry run)",
            )
        _kube_args(decide)

    for verb, what in (
        ("ack", "acknowledge an incident: you own it, escalation stops; records who you are"),
        ("unack", "withdraw an acknowledgement: escalation resumes at the current level"),
    ):
        ack = sub.add_parser(verb, help=what, description=f"{what[0].upper()}{what[1:]}.")
        ack.add_argument("incident", help="the incident's name")
        ack.add_argument("-n", "--namespace", dest="incident_namespace", metavar="NAMESPACE", help=namespace_help)
        _kube_args(ack)

    what = "list what waits for a human or for time"
    get = sub.add_parser(
        "get",
        help=what,
        description="List what waits for a human or for time. `onduty get pending`: every remediation step"
        " that waits for an approval (with its expiry and the `onduty approve` command to run), for a hold"
        " to pass (a cooldown, a maintenance window, a change freeze, a rate limit, a concurrency slot,"
        " a silence: with the time it passes) or for a pause to be lifted, and how long it has waited.",
    )
    get.add_argument("resource", choices=["pending"], help="what to list: pending (steps that wait)")
    scope = get.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        dest="pending_namespace",
        metavar="NAMESPACE",
        help="the incidents' namespace (default: the kube context's namespace, else default)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="list the incidents of every namespace")
    get.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table",
        help='table (default): one aligned line per step; json: {"items": [...]} with every field',
    )
    _kube_args(get)

    what = "resolve an incident by hand: paging and automation stop for it; records who you are"
    resolve = sub.add_parser(
        "resolve",
        help=what,
        description=f"{what[0].upper()}{what[1:]}. Works for an incident made by hand (no alerts) and for one"
        " whose alerts still fire (with --force). It fails (exit status 1) if the incident is already resolved.",
    )
    resolve.add_argument("incident", help="the incident's name")
    resolve.add_argument("-n", "--namespace", dest="incident_namespace", metavar="NAMESPACE", help=namespace_help)
    resolve.add_argument(
        "--reason", required=True, help="why it is resolved, for the timeline and the post-mortem, e.g. 'fixed by hand'"
    )
    resolve.add_argument(
        "--force",
        action="store_true",
        help="resolve even though some of its alerts still fire (the timeline records that it was)",
    )
    _kube_args(resolve)

    what = "decide a denied, failed or dry-run step again, after fixing its cause; records who you are"
    retry = sub.add_parser(
        "retry",
        help=what,
        description=f"{what[0].upper()}{what[1:]}. The step is judged again with every guardrail (a retry is"
        f" not an override), at most {controls.RETRY_LIMIT} times per step. It fails (exit status 1) for an"
        " unknown step, a step that succeeded or has not finished, or a resolved incident.",
    )
    retry.add_argument("incident", help="the incident's name")
    retry.add_argument("step", help="the runbook step to decide again, as status.actions names it")
    retry.add_argument("-n", "--namespace", dest="incident_namespace", metavar="NAMESPACE", help=namespace_help)
    _kube_args(retry)

    what = "who is on call now and next, for each OnCallSchedule"
    oncall = sub.add_parser("oncall", help=what, description=f"Show {what}.")
    oncall.add_argument("schedule", nargs="?", help="one schedule (default: every schedule in the namespace)")
    oncall.add_argument(
        "-n",
        "--namespace",
        dest="schedule_namespace",
        metavar="NAMESPACE",
        help="the schedules' namespace (default: the kube context's namespace, else default)",
    )
    oncall.add_argument("--at", help="an RFC 3339 time instead of now, e.g. 2026-12-24T18:00:00Z")
    _kube_args(oncall)

    what = "print an incident's post-mortem draft (Markdown): the one stored when it resolved, or the draft so far"
    report = sub.add_parser("postmortem", help=what, description=f"{what[0].upper()}{what[1:]}.")
    report.add_argument("incident", help="the incident's name")
    report.add_argument(
        "-n",
        "--namespace",
        dest="incident_namespace",
        metavar="NAMESPACE",
        help="the incident's namespace (default: the kube context's namespace, else default)",
    )
    _kube_args(report)

    what = (
        "check onduty's manifests offline (Runbook, RemediationPolicy, EscalationPolicy, Notifier, OnCallSchedule,"
        " Alert, Incident), as the API server and onduty read them"
    )
    lint = sub.add_parser(
        "lint",
        help=what,
        description=(
            f"{what[0].upper()}{what[1:]}. Objects of other API groups are skipped; an unknown onduty.dev kind, a"
            " wrong apiVersion or a document without apiVersion and kind fails. Exit status 1 if any object is refused."
        ),
    )
    lint.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="YAML files (several documents and List objects each allowed) or directories (every *.yaml and *.yml)",
    )
    _simulate_args(sub)
    return parser


def _simulate_args(sub: Any) -> None:
    what = "show offline what onduty would do with an alert: its incident, its runbook, every step's guardrails"
    simulate = sub.add_parser(
        "simulate",
        help=what,
        description=(
            f"{what[0].upper()}{what[1:]}, judged on the runbook and policy files given, at --at. Nothing is read"
            " from a cluster: what only a cluster knows (pauses, the target, earlier actions, silences, PromQL) is"
            " assumed, and each verdict that rests on an assumption says so. Exit status 0 whatever the verdicts,"
            " 1 when an input cannot be read or is not valid, 3 when a step's outcome is one --fail-on names."
        ),
    )
    simulate.add_argument(
        "--alert",
        required=True,
        metavar="ALERT.json",
        help="an Alertmanager webhook payload (version 4, as Alertmanager posts it) or one alert object",
    )
    simulate.add_argument(
        "--runbooks",
        nargs="+",
        action="extend",
        type=Path,
        default=[],
        metavar="PATH",
        help="Runbook YAML files or directories (other kinds in them are skipped)",
    )
    simulate.add_argument(
        "--policies",
        nargs="+",
        action="extend",
        type=Path,
        default=[],
        metavar="PATH",
        help="RemediationPolicy YAML files or directories (other kinds in them are skipped)",
    )
    simulate.add_argument("--at", help="judge at this RFC 3339 time instead of now, e.g. 2026-12-24T18:00:00Z")
    simulate.add_argument(
        "--namespace-labels",
        default="",
        metavar="K=V,...",
        help="the labels of the incident's namespace, for policies' namespaceSelector (kubernetes.io/metadata.name is"
        " added, as the API server adds it)",
    )
    simulate.add_argument(
        "--workload-labels",
        default="",
        metavar="K=V,...",
        help="the labels of the target workload, for policies' workloadSelector (default: none)",
    )
    simulate.add_argument(
        "--namespace",
        default=DEFAULT_GLOBAL_NAMESPACE,
        help="onduty's own namespace: where an alert without a usable namespace label lands, and where global"
        f" runbooks live (default: {DEFAULT_GLOBAL_NAMESPACE})",
    )
    simulate.add_argument(
        "--grouping-keys",
        default=",".join(DEFAULT_KEYS),
        help=f"the labels that group alerts into one incident, as onduty run's option (default: {','.join(DEFAULT_KEYS)})",
    )
    simulate.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="text for people (default), or JSON"
    )
    simulate.add_argument(
        "--fail-on",
        action="append",
        choices=simulation.GATES,
        help="exit with status 3 if a step is denied for good, held, or needs approval (repeat for several)",
    )


def _serve(args: argparse.Namespace, *, operator: bool, bridge: bool) -> int:
    logs.configure(args.log_level)
    # Every option is checked before the first connection, so a bad one fails fast and alone.
    namespace = _namespace(args.namespace, _source("--namespace", args.namespace))
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
            raise StartupError(f"{_source('--grouping-keys', args.grouping_keys)}: {error}") from error
        options.standalone = not args.peering
        options.peering = _peering(args) if args.peering else None
        options.liveness_endpoint = args.liveness
        options.webhook = _webhook_options(args) if args.admission_webhook else None
        options.operator_config = OperatorConfig(
            global_namespace=namespace,
            grouping=grouping,
            poll_seconds=args.poll_seconds,
            prometheus_url=_service_url(args.prometheus_url, _source("--prometheus-url", args.prometheus_url)),
            alertmanager_url=_service_url(args.alertmanager_url, _source("--alertmanager-url", args.alertmanager_url)),
            watch_namespaces=watched,
            alert_retention=_retention(args.alert_retention, _source("--alert-retention", args.alert_retention)),
            incident_retention=_retention(
                args.incident_retention, _source("--incident-retention", args.incident_retention)
            ),
            notifier_allowed_networks=_networks(args.notifier_allowed_networks),
        )
        config = options.operator_config
        for what, url in (("Prometheus", config.prometheus_url), ("Alertmanager", config.alertmanager_url)):
            if url:
                log.info("%s at %s", what, redact_url(url))
        if config.watch_namespaces:
            log.info("watching namespaces %s", ", ".join(config.watch_namespaces))
    if bridge:
        _check_listening(args.bridge_host, args.bridge_port)
    cluster = _connect(args, serving=True)
    try:
        asyncio.run(serve(cluster, options))
    except KeyboardInterrupt:
        return 0
    except OSError as error:  # what the checks above cannot foresee, e.g. --liveness's port taken
        log.debug("stopped", exc_info=True)
        raise CommandFailed(f"stopped: {error.strerror or error}") from error
    return 0


def _peering(args: argparse.Namespace) -> PeeringConfig:
    """This replica's place in the peering: the shared object's name, its identity, priority and keep-alive."""
    name = args.peering_name
    if not (len(name) <= 253 and _PEERING_NAME.fullmatch(name)):
        raise StartupError(f"{_source('--peering-name', name)} {name!r}: expected a DNS name (a-z, 0-9, '-', '.')")
    lifetime = args.peering_lifetime
    if lifetime < 1:
        raise StartupError(f"{_source('--peering-lifetime', args.peering_lifetime)} {lifetime}: expected 1 or more")
    started = datetime.now(UTC)
    priority = args.peering_priority if args.peering_priority is not None else default_priority(started)
    identity = f"{socket.gethostname()}/{os.getpid()}/{started:%Y%m%d%H%M%S}"
    log.info("peering %s as %s, priority %d, keep-alive lifetime %ds", name, identity, priority, lifetime)
    return PeeringConfig(name=name, identity=identity, priority=priority, lifetime=lifetime)


def _webhook_options(args: argparse.Namespace) -> WebhookOptions:
    """Where and how the admission webhook is served; a certificate directory must hold its two files."""
    cert_dir = args.admission_webhook_cert_dir
    if cert_dir:
        source = _source("--admission-webhook-cert-dir", cert_dir)
        missing = [name for name in ("tls.crt", "tls.key") if not (Path(cert_dir) / name).is_file()]
        if missing:
            raise StartupError(f"{source} {cert_dir}: no {' and no '.join(missing)} there")
    return WebhookOptions(
        address=args.admission_webhook_address,
        port=args.admission_webhook_port,
        host=args.admission_webhook_host or None,
        cert_dir=Path(cert_dir) if cert_dir else None,
    )


def _connect(args: argparse.Namespace, *, serving: bool = False) -> Cluster:
    """A client for the API server the kubeconfig names, which answered once.

    An unusable kubeconfig is a usage error. For a one-shot command an API
    server that does not answer is a failure, reported in one line. ``onduty
    run`` and ``onduty bridge`` start anyway and say so: the bridge must answer
    503 while the API server is away, so Alertmanager keeps the alerts and
    retries, and the operator reconnects by itself.
    """
    kubeconfig = args.kubeconfig
    named = f"{_source('--kubeconfig', kubeconfig)} {kubeconfig}" if kubeconfig else "the default kubeconfig"
    if kubeconfig and not Path(kubeconfig).is_file():
        raise StartupError(f"{named}: no such file")
    try:
        api = load_client(kubeconfig, args.context)
    except k8s_config.ConfigException as error:
        raise StartupError(f"{named}: {error}") from error
    except OSError as error:
        raise StartupError(f"{named}: {error.strerror or error}") from error
    except Exception as error:  # the client library raises whatever its parsing meets (TypeError, KeyError...)
        log.debug("kubeconfig", exc_info=True)
        raise StartupError(f"{named}: not a kubeconfig file ({type(error).__name__})") from error
    cluster = Cluster(api)
    try:
        cluster.request("GET", "/version")
    except ApiUnavailable as error:
        if serving:
            log.warning(
                "cannot reach the API server at %s yet (%s); starting anyway: the bridge answers 503 until it can",
                redact_url(api.configuration.host),
                _reason(error),
            )
            return cluster
        raise CommandFailed(
            f"cannot reach the API server at {redact_url(api.configuration.host)} ({named}): {_reason(error)}"
        ) from error
    except KubeError:
        pass  # it answered; the command's own request will say what it refuses
    return cluster


def _reason(error: BaseException) -> str:
    """The innermost cause in a few words ("Connection refused"), not the client library's pool and object reprs."""
    while True:
        cause = error.__cause__ or error.__context__
        if cause is None:
            break
        error = cause
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def _check_listening(host: str, port: int) -> None:
    """Bind the bridge's address once before starting, so a taken port is one line, not a traceback from the loop."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp: a TIME_WAIT is no conflict
            probe.bind(address)
            probe.listen()
    except OSError as error:
        reason = error.strerror or str(error)
        if error.errno == errno.EADDRINUSE:
            raise CommandFailed(
                f"--bridge-port {port}: cannot listen on {host}:{port}: {reason} (another process listens there)"
            ) from error
        if error.errno == errno.EACCES:
            raise CommandFailed(f"--bridge-port {port}: cannot listen on {host}:{port}: {reason}") from error
        raise StartupError(f"--bridge-host {host!r}: cannot listen there: {reason}") from error


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace kubectl would use: the kube context's own, else "default"."""
    try:
        # The kubernetes client is untyped (its adapter is exempt; this is the one call outside it).
        contexts, current = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError, yaml.YAMLError):
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else "default"


class _ManifestLoader(yaml.SafeLoader):
    """YAML as kubectl reads it: a timestamp stays the string it is (the API server checks date-times itself)."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _manifest_files(paths: list[Path]) -> Iterator[Path]:
    """The files ``onduty lint`` reads: each file given, and every ``*.yaml``/``*.yml`` under a directory given."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def _load_manifest(path: Path) -> list[Any]:
    """The YAML documents of one file; :class:`CommandFailed` says in one line why it cannot be read."""
    try:
        return list(yaml.load_all(path.read_text(), Loader=_ManifestLoader))
    except OSError as error:
        raise CommandFailed(f"{path}: cannot read it: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise CommandFailed(f"{path}: not UTF-8 text") from error
    except yaml.YAMLError as error:
        raise CommandFailed(f"{path}{_yaml_place(error)}: not valid YAML: {_yaml_problem(error)}") from error


def _simulate(args: argparse.Namespace) -> int:
    """What the operator would do with an alert, offline (onduty.domain.simulation); 3 when --fail-on is hit."""
    at = parse_time(args.at) if args.at else datetime.now(UTC)
    if at is None:
        raise StartupError(f"--at {args.at!r} is not an RFC 3339 time such as 2026-12-24T18:00:00Z")
    try:
        grouping = GroupingConfig.parse(args.grouping_keys)
    except ValueError as error:
        raise StartupError(f"--grouping-keys: {error}") from error
    try:
        namespace_labels = simulation.key_values(args.namespace_labels, "--namespace-labels")
        workload_labels = simulation.key_values(args.workload_labels, "--workload-labels")
    except simulation.InputError as error:
        raise StartupError(str(error)) from error
    try:
        raw = Path(args.alert).read_bytes()
    except OSError as error:
        raise CommandFailed(f"{args.alert}: cannot read it: {error.strerror or error}") from error
    try:
        alerts = simulation.read_alerts(decode_json(raw), at=at)
    except (PayloadError, simulation.InputError) as error:
        raise CommandFailed(f"{args.alert}: {error}") from error
    try:  # each line names its file itself
        runbooks = simulation.runbooks_from(
            simulation.read_objects(((str(p), _load_manifest(p)) for p in _manifest_files(args.runbooks)), "Runbook")
        )
        policies = simulation.policies_from(
            simulation.read_objects(
                ((str(p), _load_manifest(p)) for p in _manifest_files(args.policies)), "RemediationPolicy"
            )
        )
    except simulation.InputError as error:
        raise CommandFailed(str(error)) from error
    result = simulation.simulate(
        simulation.Inputs(
            alerts=alerts,
            runbooks=runbooks,
            policies=policies,
            at=at,
            onduty_namespace=_namespace(args.namespace, "--namespace"),
            namespace_labels=namespace_labels,
            workload_labels=workload_labels,
            grouping_keys=grouping.keys,
        )
    )
    if args.output == "json":
        print(json.dumps(simulation.to_json(result), indent=2))
    else:
        sys.stdout.write(simulation.render_text(result))
    hit = sorted(set(args.fail_on or ()) & result.outcomes())
    if hit:
        print(f"--fail-on {','.join(hit)}: at least one step is {' or '.join(hit)}", file=sys.stderr)
        return 3
    return 0


def _lint(paths: list[Path]) -> int:
    """Check every onduty object in ``paths`` (files, directories); 1 if the API server or onduty would refuse one.

    Every answer is one line: ``<file>: <Kind> <name>: ok`` (or ``skipped`` for another API group's object);
    ``<file>: <Kind> <name>: <why>`` on stderr (``document N`` where the document does not name itself); or
    ``<file>:<line>:<column>: <why>`` for YAML.
    """
    failures = 0
    for path in _manifest_files(paths):
        try:
            docs = _load_manifest(path)
        except CommandFailed as error:
            failures += 1
            print(error, file=sys.stderr)
            continue
        for number, doc in enumerate(docs, start=1):
            for finding in manifests.check_document(doc, f"document {number}"):
                failures += finding.ok is False
                print(
                    f"{path}: {finding.who}: {finding.message}", file=sys.stderr if finding.ok is False else sys.stdout
                )
    return 1 if failures else 0


def _yaml_place(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's several-line message in one line: the problem (and its context), without the quoted snippet."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        return " ".join(part for part in (error.context, error.problem) if part)
    return " ".join(str(error).split())


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


def undecidable(actions: list[dict[str, Any]], step: str | None, *, now: datetime) -> tuple[str | None, str]:
    """The step a decision would apply to, and why it cannot ("" when it can).

    Only an action waiting for approval now can be approved or rejected: one
    that finished, or whose request expired (the operator closes it at its next
    look), would take the annotation and change nothing.
    """
    waiting = [a["step"] for a in actions if a.get("state") == "AwaitingApproval"]
    listed = f"{len(waiting)} action(s) waiting ({', '.join(waiting) or 'none'})"
    if step is None:
        if len(waiting) == 1:
            step = waiting[0]
        else:
            return None, f"has {listed}; name one with --step"
    if step not in waiting:
        last = next((a for a in reversed(actions) if a.get("step") == step), None)
        if last is None:
            return step, f"has {listed}; step {step} is not one of them"
        state = f"{last.get('state') or 'unknown'}" + (f" ({last['reason']})" if last.get("reason") else "")
        if last.get("finishedAt"):
            return step, f"step {step} has finished: {state}; nothing is waiting for approval"
        return step, f"step {step} is not waiting for approval: it is {state}"
    action = next(a for a in reversed(actions) if a.get("step") == step and a.get("state") == "AwaitingApproval")
    expires_at = (action.get("approval") or {}).get("expiresAt")
    expires = parse_time(expires_at) if isinstance(expires_at, str) else None
    if expires is not None and expires <= now:
        return step, f"the approval request for step {step} expired at {expires_at}; nothing is waiting for approval"
    return step, ""


def _decide(args: argparse.Namespace, *, approve: bool) -> int:
    if approve and args.for_real:
        return _run_for_real(args)
    cluster = _connect(args)
    namespace = args.incident_namespace or _context_namespace(args.kubeconfig, args.context)
    try:
        incident, named_step = _find_incident(cluster, namespace, args.incident)
    except KubeError as error:
        raise CommandFailed(str(error)) from error
    name = incident["metadata"]["name"]
    where = f"incident {namespace}/{name}"
    actions = [a for a in (incident.get("status") or {}).get("actions") or [] if isinstance(a, dict)]
    step, why_not = undecidable(actions, args.step or named_step, now=datetime.now(UTC))
    if why_not or step is None:
        raise CommandFailed(f"{where} {why_not}" if why_not.startswith("has ") else f"{where}: {why_not}")
    key = APPROVE_ANNOTATION if approve else REJECT_ANNOTATION
    try:
        # The API server says who we are; the annotation records it with the decision (and the
        # onduty-approval admission policy checks that it is the requesting user).
        user = _whoami(cluster)
        cluster.merge_patch(
            "incidents",
            namespace,
            name,
            {"metadata": {"annotations": {key: step, APPROVED_BY_ANNOTATION: user}}},
        )
    except KubeError as error:
        raise CommandFailed(f"{where}: {error}") from error
    print(f"{'approved' if approve else 'rejected'} step {step} of {where} as {user}")
    return 0


def _control(args: argparse.Namespace) -> tuple[Cluster, str | None, dict[str, Any], str]:
    """The cluster, the step an action id names (if one was given), the incident, and how messages name it."""
    cluster = _connect(args)
    namespace = args.incident_namespace or _context_namespace(args.kubeconfig, args.context)
    try:
        incident, named_step = _find_incident(cluster, namespace, args.incident)
    except KubeError as error:
        raise CommandFailed(str(error)) from error
    return cluster, named_step, incident, f"incident {namespace}/{incident['metadata']['name']}"


def _refused(where: str, why_not: str) -> CommandFailed:
    return CommandFailed(f"{where} {why_not}" if why_not.startswith(("is ", "has ")) else f"{where}: {why_not}")


def _annotate(cluster: Cluster, incident: dict[str, Any], where: str, annotations: dict[str, str]) -> None:
    try:
        cluster.merge_patch(
            "incidents",
            incident["metadata"]["namespace"],
            incident["metadata"]["name"],
            {"metadata": {"annotations": annotations}},
        )
    except KubeError as error:
        raise CommandFailed(f"{where}: {error}") from error


def _resolve(args: argparse.Namespace) -> int:
    cluster, _, incident, where = _control(args)
    status = incident.get("status") or {}
    reason = " ".join(args.reason.split())
    if not reason:
        raise StartupError("--reason '': say why the incident is resolved, e.g. --reason 'fixed by hand'")
    if why_not := controls.already_resolved(status):
        raise _refused(where, why_not)
    firing = controls.still_firing(status)
    if firing and not args.force:
        raise CommandFailed(
            f"{where}: {firing} of its alert(s) still fire; resolving stops paging and automation for them:"
            " fix the cause first, or pass --force to resolve it anyway"
        )
    # The API server says who we are; the onduty-acknowledgement admission policy checks it is so.
    user = _whoami_or_fail(cluster, where)
    _annotate(cluster, incident, where, {RESOLVE_ANNOTATION: reason, RESOLVED_BY_ANNOTATION: user})
    warning = f" while {firing} alert(s) still fire" if firing else ""
    print(f"resolved {where} as {user}{warning}: onduty closes it and stops paging")
    return 0


def _retry(args: argparse.Namespace) -> int:
    cluster, _, incident, where = _control(args)
    status = incident.get("status") or {}
    if why_not := controls.why_not_retry(status, args.step):
        raise _refused(where, why_not)
    waiting = controls.retry_request(incident)
    if waiting is not None:
        raise CommandFailed(
            f"{where}: a retry of step {waiting.step} asked by {waiting.by} still waits for onduty; ask again once"
            " the timeline shows StepRetried"
        )
    user = _whoami_or_fail(cluster, where)
    _annotate(cluster, incident, where, {RETRY_ANNOTATION: args.step, RETRIED_BY_ANNOTATION: user})
    retries = int((controls.last_action(status, args.step) or {}).get("retries") or 0) + 1
    print(
        f"asked to retry step {args.step} of {where} as {user} (retry {retries} of {controls.RETRY_LIMIT}):"
        " onduty decides it again with every guardrail"
    )
    return 0


def _run_for_real(args: argparse.Namespace) -> int:
    cluster, named_step, incident, where = _control(args)
    status = incident.get("status") or {}
    step = args.step or named_step
    if step is None:
        dry = [str(a.get("step")) for a in status.get("actions") or [] if a.get("state") == "DryRun"]
        if len(dry) != 1:
            raise CommandFailed(
                f"{where} has {len(dry)} step(s) that ran as a dry run ({', '.join(dry) or 'none'}); name one with --step"
            )
        step = dry[0]
    if why_not := controls.why_not_for_real(status, step):
        raise _refused(where, why_not)
    user = _whoami_or_fail(cluster, where)
    # Running a dry run for real is an approval: the onduty-approval admission policy checks the approve verb.
    _annotate(cluster, incident, where, {RUN_FOR_REAL_ANNOTATION: step, APPROVED_BY_ANNOTATION: user})
    print(
        f"approved running step {step} of {where} for real as {user}: onduty applies the change its dry run"
        " showed if the target has not changed since"
    )
    return 0


def _whoami_or_fail(cluster: Cluster, where: str) -> str:
    try:
        return _whoami(cluster)
    except KubeError as error:
        raise CommandFailed(f"{where}: {error}") from error


def _whoami(cluster: Cluster) -> str:
    """The API server's name for us (what admission policies compare annotations with)."""
    review = cluster.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "unknown")


def _acknowledge(args: argparse.Namespace, *, ack: bool) -> int:
    cluster = _connect(args)
    namespace = args.incident_namespace or _context_namespace(args.kubeconfig, args.context)
    where = f"incident {namespace}/{args.incident}"
    try:
        incident = cluster.get("incidents", namespace, args.incident)
        if (incident.get("status") or {}).get("phase") == "Resolved":
            raise CommandFailed(f"{where} is {controls.already_resolved(incident['status'])}: nothing to acknowledge")
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
        cluster.merge_patch("incidents", namespace, args.incident, {"metadata": {"annotations": patch}})
    except KubeError as error:
        raise CommandFailed(f"{where}: {error}") from error
    print(f"acknowledged {where} as {user}" if ack else f"withdrew the acknowledgement of {where}")
    return 0


def _get_pending(args: argparse.Namespace) -> int:
    """``onduty get pending``: the steps that wait for a human or for time (onduty.domain.pending)."""
    cluster = _connect(args)
    namespace = (
        None if args.all_namespaces else args.pending_namespace or _context_namespace(args.kubeconfig, args.context)
    )
    try:
        rows = pending(cluster.list("incidents", namespace))
    except KubeError as error:
        raise CommandFailed(str(error)) from error
    now = datetime.now(UTC)
    if args.output == "json":
        print(to_json(rows, now))
    elif not rows:
        print(f"nothing waits in {'any namespace' if namespace is None else f'namespace {namespace}'}")
    else:
        print(table(rows, now, all_namespaces=namespace is None))
    return 0


def _oncall(args: argparse.Namespace) -> int:
    now = parse_time(args.at) if args.at else datetime.now(UTC)
    if now is None:
        raise StartupError(f"--at {args.at!r} is not an RFC 3339 time such as 2026-12-24T18:00:00Z")
    cluster = _connect(args)
    namespace = args.schedule_namespace or _context_namespace(args.kubeconfig, args.context)
    args.schedule_namespace = namespace
    try:
        if args.schedule:
            objects = [cluster.get("oncallschedules", namespace, args.schedule)]
        else:
            objects = cluster.list("oncallschedules", namespace)
    except KubeError as error:
        raise CommandFailed(str(error)) from error
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


def _postmortem(args: argparse.Namespace) -> int:
    cluster = _connect(args)
    namespace = args.incident_namespace or _context_namespace(args.kubeconfig, args.context)
    try:
        incident = cluster.get("incidents", namespace, args.incident)
        stored = (incident.get("status") or {}).get("postmortem") or {}
        if stored.get("configMap") and not stored.get("error"):
            data = read_configmap(cluster, namespace, stored["configMap"])
            text = data.get(stored.get("key") or postmortem.CONFIGMAP_KEY)
            if text is None:
                raise CommandFailed(f"ConfigMap {namespace}/{stored['configMap']} has no key {stored.get('key')}")
        else:
            text = postmortem.render(incident)
    except KubeError as error:
        raise CommandFailed(str(error)) from error
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names; its exit status (2: a usage error, 1: a failure) with one line on stderr."""
    # Installed twice: as onduty, and as kubectl-onduty, which kubectl runs for `kubectl onduty ...`.
    prog = "kubectl onduty" if Path(sys.argv[0]).name == "kubectl-onduty" else "onduty"
    try:
        args = build_parser(prog).parse_args(argv)
        if args.command == "run":
            return _serve(args, operator=True, bridge=not args.no_bridge)
        if args.command == "bridge":
            return _serve(args, operator=False, bridge=True)
        if args.command in ("approve", "reject"):
            return _decide(args, approve=args.command == "approve")
        if args.command in ("ack", "unack"):
            return _acknowledge(args, ack=args.command == "ack")
        if args.command == "resolve":
            return _resolve(args)
        if args.command == "retry":
            return _retry(args)
        if args.command == "get":
            return _get_pending(args)
        if args.command == "oncall":
            return _oncall(args)
        if args.command == "postmortem":
            return _postmortem(args)
        if args.command == "lint":
            return _lint(args.files)
        if args.command == "simulate":
            return _simulate(args)
    except StartupError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
