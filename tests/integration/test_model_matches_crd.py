"""The model and the CRDs agree: what the API server refuses, onduty refuses, and the other way round.

The API server reads a Runbook, RemediationPolicy, EscalationPolicy, Notifier
or OnCallSchedule with the CRD's schema and CEL rules; onduty (the operator,
and ``onduty lint`` before anything is applied) with the pydantic models of
onduty.domain. Where they differ, lint passes what ``kubectl apply`` then
refuses, or the API server stores what the operator then reports as not
Accepted. So every case below goes to all three — ``kubectl apply
--dry-run=server``, the kind's parser (``PARSE``), and ``onduty lint`` on a
file — and all three must give the answer the case says.

The cases:

* every sample in manifests/samples (the ``invalid-*`` ones refused);
* derived from the CRDs themselves, so a constraint added there is tested
  without anyone writing a case: for every field of the full specs below, a
  value of the wrong JSON type, outside its enum, not matching its pattern or
  format, one past each bound (length, value, item count), a missing required
  field, a repeated item of a set or map list, an unknown field — and the
  value exactly at each bound, which both must accept;
* a table for what the schema walk cannot derive: every CEL rule (a test
  checks that each rule's message is seen), nulls, lax types, Python spellings.

A few cases say ``onduty_only``: what the API server cannot check (it has no
time zone database, and no calendar to see that 30 February never comes), so
it stores the object and onduty refuses it; the operator reports that in the
object's ``Accepted`` condition (and refuses actions in a policy's scope).
Each one says why, and they are listed here, not found by the test.

A Notifier's settings are checked as the CRD types them (``parse_notifier``);
what they mean — whether a URL may be connected to, what the Secret holds —
its channel checks when it is built, which no case here reaches.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from kit import REPO
from onduty.domain.escalation import parse_policy as parse_escalation_policy
from onduty.domain.notify.notifiers import REQUIRED_SETTINGS, parse_notifier
from onduty.domain.oncall import parse_oncall_schedule
from onduty.domain.policies import parse_policy
from onduty.domain.runbooks import parse_runbook
from onduty.domain.specs import CRON_FORM

CRDS = {
    "Runbook": "onduty.dev_runbooks.yaml",
    "RemediationPolicy": "onduty.dev_remediationpolicies.yaml",
    "EscalationPolicy": "onduty.dev_escalationpolicies.yaml",
    "Notifier": "onduty.dev_notifiers.yaml",
    "OnCallSchedule": "onduty.dev_oncallschedules.yaml",
}
PARSE: dict[str, Callable[[dict[str, Any]], object]] = {
    "Runbook": parse_runbook,
    "RemediationPolicy": parse_policy,
    "EscalationPolicy": parse_escalation_policy,
    "Notifier": parse_notifier,
    "OnCallSchedule": parse_oncall_schedule,
}
NAMESPACED = {"Runbook", "EscalationPolicy", "Notifier", "OnCallSchedule"}

# --- the full specs: every field of each CRD at least once -------------------------------------

RUNBOOK: dict[str, Any] = {
    "description": "Everything a runbook can say.",
    "priority": 10,
    "escalationPolicy": "payments-default",
    "match": {
        "alertnames": ["KubePodCrashLooping", "HighErrorRate"],
        "severities": ["critical", "warning"],
        "labels": {
            "matchLabels": {"team": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
        },
    },
    "diagnostics": [
        {
            "name": "logs",
            "type": "podLogs",
            "timeoutSeconds": 10,
            "target": {"kind": "Deployment", "name": "web"},
            "tailLines": 100,
            "previous": True,
            "container": "app",
            "maxPods": 3,
        },
        {"name": "events", "type": "events", "limit": 20},
        {"name": "pods", "type": "podStatus"},
        {"name": "rollouts", "type": "rolloutHistory", "limit": 5},
        {"name": "helm", "type": "helmHistory", "release": "web"},
        {"name": "argo", "type": "argoHistory", "application": "web", "namespace": "argocd"},
        {"name": "config", "type": "configChanges", "withinMinutes": 120},
        {"name": "errors", "type": "promql", "expr": "sum(rate(errors_total[5m]))", "range": "30m", "step": "30s"},
        {"name": "health", "type": "httpCheck", "service": "web", "port": "http", "path": "/healthz"},
    ],
    "remediation": {
        "steps": [
            {
                "name": "scale-up",
                "action": "scale",
                "target": {"kind": "Deployment", "name": "web"},
                "condition": {"expr": "sum(rate(errors_total[5m]))", "op": ">", "threshold": 0.05},
                "replicas": 1,  # within the bounds at each of their minimums too
                "minReplicas": 0,
                "maxReplicas": 10,
                "revertOnFailure": True,
                "cooldown": "10m",
                "verify": {
                    "rolloutHealthyWithin": "5m",
                    "promql": {"expr": "sum(rate(errors_total[1m]))", "op": "<", "threshold": 0.01, "within": "3m"},
                },
            },
            {"name": "scale-by", "action": "scale", "factor": 1.5},
            {"name": "undo", "action": "rolloutUndo", "toRevision": 2},
            {"name": "helm", "action": "helmRollback", "release": "web", "toRevision": 1},
            {
                "name": "argo",
                "action": "argoRollback",
                "application": "web",
                "applicationNamespace": "argocd",
                "toHistoryId": 3,
            },
            {"name": "cordon", "action": "cordonNode", "node": "node-1"},
            {
                "name": "job",
                "action": "runJob",
                "job": {
                    "template": {"spec": {"containers": [{"name": "fix", "image": "busybox", "command": ["true"]}]}},
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 60,
                },
            },
        ]
    },
    "onFailure": "Escalate",
}
SELECTOR: dict[str, Any] = {
    "matchLabels": {"tier": "prod"},
    "matchExpressions": [{"key": "team", "operator": "In", "values": ["shop"]}],
}
POLICY: dict[str, Any] = {
    "scope": {"namespaces": ["shop"], "namespaceSelector": SELECTOR, "workloadSelector": SELECTOR},
    "allowedActions": ["rolloutRestart", "scale", "cordonNode"],
    "requireApproval": ["scale"],
    "approvalTTL": "30m",
    "cooldown": "10m",
    "rateLimit": {"maxActions": 3, "per": "1h"},
    "concurrency": {"clusterWide": 5, "perNamespace": 2},
    "blastRadius": {"maxScaleFactor": 2, "minAvailable": 1, "maxReplicas": 20, "maxWorkloadsPerIncident": 1},
    "maintenanceWindows": [
        {
            "name": "nightly",
            "cron": "0 2 * * *",
            "duration": "2h",
            "timeZone": "Europe/Berlin",
            "reason": "low traffic",
        },
        {"name": "once", "start": "2026-12-20T00:00:00Z", "end": "2026-12-21T00:00:00Z"},
    ],
    "changeFreezes": [
        {"name": "black-friday", "start": "2026-11-27T00:00:00Z", "end": "2026-11-30T00:00:00Z", "reason": "peak"},
        {"name": "mondays", "cron": "0 8 * * 1", "duration": "1h", "timeZone": "America/New_York"},
    ],
    "allowSuspendAutomatedSync": True,
    "dryRun": False,
    "allowClusterScopedActions": ["cordonNode"],
    "argoCDNamespaces": ["argocd"],
    "allowUnconfinedPromQL": False,
    "runJob": {"serviceAccountNames": ["default", "db-fixer"], "podSecurity": "restricted"},
    "allowApprovalWithoutAdmissionPolicy": False,
}
ESCALATION: dict[str, Any] = {
    "default": True,
    "levels": [
        {
            "name": "primary",
            "ackTimeout": "5m",
            "notifiers": ["pagerduty-primary", "shop-slack"],
            "users": ["alice@example.com"],
            "schedules": ["shop-primary"],
            "page": True,
        },
        {"name": "secondary", "ackTimeout": "10m", "schedules": ["shop-secondary"], "page": False},
    ],
    "repeat": 2,
    "automationGrace": "5m",
    "pageImmediatelyFor": ["critical"],
    "severityRules": [
        {
            "severities": ["critical", "error"],
            "notifiers": ["pagerduty-managers"],
            "users": ["erin@example.com"],
            "schedules": ["managers"],
            "page": False,
        }
    ],
    "inform": ["shop-slack", "status-page"],
    "publicSeverities": ["critical"],
    "acknowledgementTimeout": "1h",
}
# One Notifier with every type's settings: the CRD checks each block whatever the type, and so does the model.
NOTIFIER: dict[str, Any] = {
    "type": "jira",
    "secretRef": {"name": "shop-jira"},
    "events": ["opened", "page", "resolved"],
    "slack": {"mode": "bot", "channel": "C0123456789", "apiURL": "https://slack.com/api"},
    "teams": {},
    "discord": {"username": "onduty"},
    "webhook": {},
    "pagerduty": {"url": "https://events.pagerduty.com/v2/enqueue"},
    "opsgenie": {"url": "https://api.eu.opsgenie.com"},
    "statuspage": {
        "pageId": "kctbh9vrtdwd",
        "componentIds": ["b13yz5g2cw10", "8kbf7d35c070"],
        "componentStatusBySeverity": {
            "critical": "major_outage",
            "error": "partial_outage",
            "warning": "degraded_performance",
            "info": "operational",
        },
        "deliverNotifications": False,
        "incidentName": "Checkout is slow",
        "url": "https://api.statuspage.io/v1",
    },
    "cachet": {
        "url": "https://status.example.com",
        "componentId": 7,
        "componentStatusBySeverity": {"critical": 4, "error": 3, "warning": 2, "info": 1},
        "notify": False,
        "visible": True,
        "incidentName": "Checkout is slow",
    },
    "jira": {
        "url": "https://example.atlassian.net",
        "projectKey": "OPS",
        "issueType": "Incident",
        "labels": ["onduty", "incident"],
        "resolveTransitionId": "31",
        "acknowledgeTransitionId": "21",
    },
    "github": {"owner": "acme", "repo": "incidents", "labels": ["incident"], "url": "https://api.github.com"},
    "linear": {
        "teamId": "5a8c2b0e-1f3d-4c8a-9b7e-2d4f6a8c0e1b",
        "resolvedStateId": "b1f0c3d2-7e6a-4b5c-8d9e-0f1a2b3c4d5e",
        "priority": {"critical": 1, "error": 2, "warning": 3, "info": 0},
        "url": "https://api.linear.app/graphql",
    },
}
ONCALL: dict[str, Any] = {
    "timeZone": "Europe/Berlin",
    "layers": [
        {
            "name": "weekly",
            "start": "2026-11-02T09:00:00",
            "rotation": "1w",
            "members": ["alice@example.com", "bob"],
            "restrictions": [{"days": ["Mon", "Tue"], "start": "09:00", "end": "17:00"}],
        },
        {"name": "nights", "start": "2026-11-02T22:00:00", "rotation": "1d", "members": ["carol"]},
    ],
    "overrides": [{"member": "erin@example.com", "start": "2026-12-24T18:00:00Z", "end": "2026-12-26T09:00:00+01:00"}],
    "ical": {"configMapRef": {"name": "shop-calendar", "key": "schedule.ics"}},
}
FULL = {
    "Runbook": RUNBOOK,
    "RemediationPolicy": POLICY,
    "EscalationPolicy": ESCALATION,
    "Notifier": NOTIFIER,
    "OnCallSchedule": ONCALL,
}


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    spec: dict[str, Any]
    accepted: bool
    rule: str | None = None  # the message of the CEL rule the API server refuses it with
    onduty_only: str | None = None  # why the API server accepts what onduty refuses (``accepted`` is onduty's answer)


# --- cases derived from the CRDs --------------------------------------------------------------

Path_ = tuple[str | int, ...]
_WRONG_TYPE = {"string": 12345, "integer": "1", "number": "1.5", "boolean": "true", "array": "x", "object": "x"}


def spec_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "crds" / CRDS[kind]).read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _shown(path: Path_) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "spec"


def _at(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _with(doc: dict[str, Any], path: Path_, change: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of ``doc`` whose value at ``path`` is ``change(old value)``."""
    copied = copy.deepcopy(doc)
    if not path:
        return change(copied)
    parent = _at(copied, path[:-1])
    parent[path[-1]] = change(parent[path[-1]])
    return copied


def _strings(length: int, like: Any) -> Iterator[str]:
    """Strings of ``length`` characters, the first ones like ``like``, the full spec's value."""
    if isinstance(like, str):
        yield like  # itself, if it has that length (a time of day, a date: their pattern fixes it)
        if stamp := re.fullmatch(r"(.*T[0-9:]{8})(Z|[+-][0-9:]{5})", like):
            yield f"{stamp[1]}.{'0' * (length - len(like) - 1)}{stamp[2]}"  # a timestamp: the same instant
    yield "a" * length
    yield "0" * (length - 2) + "1s"  # a duration: one second, whatever its length (some must be longer than 0s)
    yield "/" + "a" * (length - 1)  # a path
    yield "A" * length  # a key of capitals
    yield "1" * length  # an id of digits
    yield "1" + "0" * (length - 2) + "h"  # a rotation
    yield "1000w1000d1000h"  # the longest rotation
    yield ("00" if (length - 8) % 2 == 0 else "0") + ",0" * ((length - 9) // 2) + " * * * *"  # a cron


def _string(length: int, pattern: str | None, like: Any = None) -> str:
    """A string of exactly ``length`` characters that matches ``pattern``."""
    for candidate in _strings(length, like):
        if len(candidate) == length and (pattern is None or re.search(pattern, candidate)):
            return candidate
    raise AssertionError(f"no candidate of length {length} matches {pattern}")


def _too_long(limit: int, pattern: str | None, like: Any) -> str:
    """A string one past ``limit`` that matches ``pattern``; where none can (the pattern bounds the length), any."""
    try:
        return _string(limit + 1, pattern, like)
    except AssertionError:
        return "a" * (limit + 1)


def _matched(schema: dict[str, Any]) -> str | None:
    """The expression of a CEL rule ``self.matches('...')`` on the field, if it has one."""
    for rule in schema.get("x-kubernetes-validations", []):
        if found := re.fullmatch(r"self\.matches\('([^']*)'\)", rule["rule"]):
            return found[1]
    return None


def _distinct_items(schema: dict[str, Any], first: Any, count: int) -> list[Any] | None:
    """``count`` items a list of this item schema accepts together, or None if there are not that many."""
    if schema.get("type") == "object":
        items = [copy.deepcopy(first) for _ in range(count)]
        for index, item in enumerate(items):
            if "name" in item:
                item["name"] = f"x{index}"
        return items
    if "enum" in schema:
        return None  # a set of enum values cannot have more items than the enum has values
    return [f"a{index}" for index in range(count)]


def derived_cases(kind: str) -> list[Case]:
    base = FULL[kind]
    cases: list[Case] = []

    def case(path: Path_, check: str, spec: dict[str, Any], accepted: bool) -> None:
        cases.append(Case(f"{kind}:{_shown(path)}:{check}", kind, spec, accepted))

    def walk(schema: dict[str, Any], path: Path_) -> None:
        value = _at(base, path)
        if path:
            wrong = True if schema.get("x-kubernetes-int-or-string") else _WRONG_TYPE[schema["type"]]
            case(path, "type", _with(base, path, lambda _: wrong), False)
        if "enum" in schema:
            case(path, "enum", _with(base, path, lambda _: "NotAnEnumValue"), False)
        pattern = schema.get("pattern") or _matched(schema)  # a pattern, or a CEL rule that says it with examples
        if pattern:
            bad = next(c for c in ("Bad_Value", "bad value", "-") if not re.search(pattern, c))
            case(path, "pattern", _with(base, path, lambda _: bad), False)
        if schema.get("format") == "date-time":
            case(path, "format", _with(base, path, lambda _: "2026-13-01T00:00:00Z"), False)
        if "maxLength" in schema and "enum" not in schema:
            limit = schema["maxLength"]
            case(path, "maxLength", _with(base, path, lambda old: _too_long(limit, pattern, old)), False)
            case(path, "maxLength-reached", _with(base, path, lambda old: _string(limit, pattern, old)), True)
        if schema.get("minLength", 0) > 0:
            limit = schema["minLength"]
            case(path, "minLength", _with(base, path, lambda _: "a" * (limit - 1)), False)
            case(path, "minLength-reached", _with(base, path, lambda old: _string(limit, pattern, old)), True)
        if "minimum" in schema:
            low = schema["minimum"]
            if schema.get("exclusiveMinimum"):
                case(path, "exclusiveMinimum", _with(base, path, lambda _: low), False)
                case(path, "exclusiveMinimum-passed", _with(base, path, lambda _: low + 0.5), True)
            else:
                case(path, "minimum", _with(base, path, lambda _: low - 1), False)
                case(path, "minimum-reached", _with(base, path, lambda _: low), True)
        if "maximum" in schema:
            high = schema["maximum"]
            case(path, "maximum", _with(base, path, lambda _: high + 1), False)
            case(path, "maximum-reached", _with(base, path, lambda _: high), True)
        if schema.get("type") == "array":
            walk_array(schema, path, value)
        if schema.get("type") == "object":
            walk_object(schema, path, [value], listed=False)

    def walk_array(schema: dict[str, Any], path: Path_, value: list[Any]) -> None:
        items = schema["items"]
        if schema.get("minItems", 0) > 0:
            case(path, "minItems", _with(base, path, lambda old: old[: schema["minItems"] - 1]), False)
        if "maxItems" in schema:
            limit = schema["maxItems"]
            too_many, enough = _distinct_items(items, value[0], limit + 1), _distinct_items(items, value[0], limit)
            if too_many is not None and enough is not None:
                case(path, "maxItems", _with(base, path, lambda _: too_many), False)
                case(path, "maxItems-reached", _with(base, path, lambda _: enough), True)
        repeated = _with(base, path, lambda old: [*old, copy.deepcopy(old[0])])
        if schema.get("x-kubernetes-list-type") in ("set", "map"):
            case(path, "duplicate", repeated, False)
        elif len(value) < schema.get("maxItems", len(value) + 1):
            case(path, "duplicate-allowed", repeated, True)
        if items.get("type") == "object":
            walk_object(items, path, value, listed=True)
        else:
            walk(items, (*path, 0))

    def walk_object(schema: dict[str, Any], path: Path_, values: list[Any], *, listed: bool) -> None:
        """``values``: the objects of this schema, the items of the list at ``path`` or the one object there."""
        first: Path_ = (*path, 0) if listed else path
        for key in schema.get("required", []):
            gone = _with(base, first, lambda obj, key=key: {k: v for k, v in obj.items() if k != key})
            case((*first, key), "required", gone, False)
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            case((*first, "bogus"), "unknown-field", _with(base, first, lambda obj: {**obj, "bogus": 1}), False)
        if "additionalProperties" in schema:
            case(first, "additionalProperties", _with(base, first, lambda _: {"key": 1}), False)
        for key, sub in schema.get("properties", {}).items():
            holders = [index for index, obj in enumerate(values) if key in obj]
            if not holders:
                missing.append(f"{kind}: {_shown((*first, key))}")
                continue
            walk(sub, (*path, holders[0], key) if listed else (*path, key))

    missing: list[str] = []
    walk_object(spec_schema(kind), (), [base], listed=False)
    if missing:
        raise AssertionError(f"the full spec lacks {', '.join(missing)}: add them, so their constraints are tested")
    return cases


# --- the table: CEL rules, and what a schema walk cannot derive ---------------------------------

GO_DURATION = "must be at most 2562047h, the longest duration Kubernetes can hold"
DURATION = "must be a duration such as 90s, 10m, 1h30m or 1d"
CRON = f"must be {CRON_FORM}"
SELECTOR_VALUES = "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"


def runbook(*steps: dict[str, Any], diagnostics: tuple[dict[str, Any], ...] = (), **spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"match": {"alertnames": ["X"]}, **spec}
    if steps:
        doc["remediation"] = {"steps": list(steps)}
    if diagnostics:
        doc["diagnostics"] = list(diagnostics)
    return doc


def step(action: str = "rolloutRestart", **fields: Any) -> dict[str, Any]:
    return {"name": "fix", "action": action, **fields}


def diagnostic(type_: str, **fields: Any) -> dict[str, Any]:
    return {"name": "look", "type": type_, **fields}


def policy(**spec: Any) -> dict[str, Any]:
    return {"allowedActions": ["rolloutRestart", "scale"], **spec}


def window(**fields: Any) -> dict[str, Any]:
    return policy(maintenanceWindows=[fields])


def rb(id_: str, spec: dict[str, Any], accepted: bool, rule: str | None = None) -> Case:
    return Case(f"Runbook:table:{id_}", "Runbook", spec, accepted, rule)


def rp(id_: str, spec: dict[str, Any], accepted: bool, rule: str | None = None, onduty_only: str | None = None) -> Case:
    return Case(f"RemediationPolicy:table:{id_}", "RemediationPolicy", spec, accepted, rule, onduty_only)


def level(**fields: Any) -> dict[str, Any]:
    return {"ackTimeout": "5m", "notifiers": ["pager"], **fields}


def escalation(*levels: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"levels": list(levels) or [level()], **spec}


def severity_rule(**fields: Any) -> dict[str, Any]:
    return escalation(severityRules=[{"severities": ["critical"], **fields}])


def notifier(type_: str, settings: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": type_, "secretRef": {"name": "credentials"}, **spec}
    if settings is not None:
        doc[type_] = settings
    return doc


def jira(**settings: Any) -> dict[str, Any]:
    return notifier(
        "jira", {"url": "https://example.atlassian.net", "projectKey": "OPS", "resolveTransitionId": "31", **settings}
    )


def github(**settings: Any) -> dict[str, Any]:
    return notifier("github", {"owner": "acme", "repo": "incidents", **settings})


def linear(**settings: Any) -> dict[str, Any]:
    return notifier("linear", {"teamId": "team-1", "resolvedStateId": "done-1", **settings})


def layer(**fields: Any) -> dict[str, Any]:
    return {"name": "weekly", "start": "2026-11-02T09:00:00", "rotation": "1w", "members": ["alice"], **fields}


def schedule(*layers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"timeZone": "Europe/Berlin", "layers": list(layers) or [layer()], **spec}


def restriction(start: str, end: str) -> dict[str, Any]:
    return schedule(layer(restrictions=[{"start": start, "end": end}]))


def override(start: str, end: str) -> dict[str, Any]:
    return schedule(overrides=[{"member": "erin", "start": start, "end": end}])


def ep(id_: str, spec: dict[str, Any], accepted: bool, rule: str | None = None) -> Case:
    return Case(f"EscalationPolicy:table:{id_}", "EscalationPolicy", spec, accepted, rule)


def nt(id_: str, spec: dict[str, Any], accepted: bool, rule: str | None = None) -> Case:
    return Case(f"Notifier:table:{id_}", "Notifier", spec, accepted, rule)


def oc(id_: str, spec: dict[str, Any], accepted: bool, rule: str | None = None, onduty_only: str | None = None) -> Case:
    return Case(f"OnCallSchedule:table:{id_}", "OnCallSchedule", spec, accepted, rule, onduty_only)


UNKNOWN_ZONE = "CEL has no time zone database, so the CRD bounds timeZone's length only; onduty looks the name up"
NEVER_COMES = "the CRD's pattern and CEL see each field alone; cronsim sees that no month given has that day"
NO_SUCH_DAY = (
    "the CRD's pattern bounds each field alone: no schema format reads a time without an offset, and CEL parses"
    " one only by failing; onduty's calendar sees that 30 February never comes"
)
LEVEL_TARGETS = "a level must name at least one of notifiers, users or schedules"
RULE_TARGETS = "a severity rule must name at least one of notifiers, users or schedules"
POSITIVE = "must be longer than 0s and at most 2562047h"
ONE_SOURCE = "a schedule needs at least one layer or an ical feed"
TEMPLATE_KNOWN = "a template is {{ namespace }}, {{ workload.name }}, {{ workload.kind }} or {{ labels.NAME }}"
WINDOW_ORDER = "end must be after start (a window across midnight is two: 22:00-24:00 and 00:00-06:00)"


TABLE = [
    # The CEL rules of a step (before, the model had none of them: lint passed these).
    rb(
        "scale-without-replicas-or-factor",
        runbook(step("scale")),
        False,
        "a scale step gives exactly one of replicas and factor",
    ),
    rb(
        "scale-with-both",
        runbook(step("scale", replicas=3, factor=2)),
        False,
        "a scale step gives exactly one of replicas and factor",
    ),
    rb("scale-with-replicas", runbook(step("scale", replicas=3)), True),
    rb("runJob-without-job", runbook(step("runJob")), False, "a runJob step needs job.template"),
    rb(
        "argoRollback-without-application",
        runbook(step("argoRollback")),
        False,
        "an argoRollback step names its application",
    ),
    rb(
        "minReplicas-above-maxReplicas",
        runbook(step("scale", replicas=3, minReplicas=5, maxReplicas=4)),
        False,
        "minReplicas must not exceed maxReplicas",
    ),
    rb("minReplicas-equal-to-maxReplicas", runbook(step("scale", replicas=4, minReplicas=4, maxReplicas=4)), True),
    # Templates ({{ labels.pod }}): the names they may use, in PromQL (a CEL rule) and in name fields (a pattern).
    rb(
        "templates-known",
        runbook(
            step(
                target={"kind": "Deployment", "name": "{{ labels.app }}-{{namespace}}"},
                condition={
                    "expr": 'sum(up{pod="{{ labels.pod }}", job=~"{{ workload.name }}"})',
                    "op": ">",
                    "threshold": 0,
                },
                verify={"promql": {"expr": 'up{node="{{ labels.node }}"}', "op": ">", "threshold": 0}},
                release="{{ workload.name }}",
            ),
            diagnostics=(diagnostic("promql", expr='up{pod="{{ labels.pod }}"}'),),
        ),
        True,
    ),
    rb(
        "template-typo-in-condition",
        runbook(step(condition={"expr": 'up{pod="{{ lables.pod }}"}', "op": ">", "threshold": 0})),
        False,
        TEMPLATE_KNOWN,
    ),
    rb(
        "template-typo-in-verify",
        runbook(step(verify={"promql": {"expr": 'up{pod="{{ label.pod }}"}', "op": ">", "threshold": 0}})),
        False,
        TEMPLATE_KNOWN,
    ),
    rb(
        "template-expression-in-diagnostic",
        runbook(diagnostics=(diagnostic("promql", expr='up{pod="{{ labels.pod | upper }}"}'),)),
        False,
        TEMPLATE_KNOWN,
    ),
    rb("template-typo-in-target", runbook(step(target={"kind": "Deployment", "name": "{{ lables.app }}"})), False),
    rb(
        "template-in-namespace",
        runbook(step("argoRollback", application="web", applicationNamespace="{{ namespace }}")),
        False,
    ),
    # A runbook's label selector.
    rb(
        "In-without-values",
        runbook(match={"alertnames": ["X"], "labels": {"matchExpressions": [{"key": "team", "operator": "In"}]}}),
        False,
        SELECTOR_VALUES,
    ),
    rb(
        "Exists-with-values",
        runbook(
            match={
                "alertnames": ["X"],
                "labels": {"matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]},
            }
        ),
        False,
        SELECTOR_VALUES,
    ),
    # Diagnostics: what each type requires, and what applies to one type only.
    rb(
        "promql-without-expr",
        runbook(diagnostics=(diagnostic("promql"),)),
        False,
        "expr is required for a promql diagnostic",
    ),
    rb(
        "httpCheck-without-service",
        runbook(diagnostics=(diagnostic("httpCheck"),)),
        False,
        "service is required for an httpCheck diagnostic",
    ),
    rb(
        "argoHistory-without-application",
        runbook(diagnostics=(diagnostic("argoHistory"),)),
        False,
        "application is required for an argoHistory diagnostic",
    ),
    rb(
        "target-on-promql",
        runbook(diagnostics=(diagnostic("promql", expr="up", target={"kind": "Deployment", "name": "web"}),)),
        False,
        "target applies only to podLogs, events, podStatus, rolloutHistory, helmHistory and configChanges",
    ),
    rb(
        "range-on-events",
        runbook(diagnostics=(diagnostic("events", range="15m"),)),
        False,
        "range and step apply only to a promql diagnostic",
    ),
    rb(
        "range-over-a-week",
        runbook(diagnostics=(diagnostic("promql", expr="up", range="169h"),)),
        False,
        "range must be between 1s and 168h (7 days)",
    ),
    rb(
        "range-under-a-second",
        runbook(diagnostics=(diagnostic("promql", expr="up", range="500ms"),)),
        False,
        "range must be between 1s and 168h (7 days)",
    ),
    rb("range-of-a-week", runbook(diagnostics=(diagnostic("promql", expr="up", range="168h"),)), True),
    rb(
        "range-beyond-go",
        runbook(diagnostics=(diagnostic("promql", expr="up", range="99999999999h"),)),
        False,
        "range must be between 1s and 168h (7 days)",
    ),
    # Another type's field is ignored, but its value is checked; an unknown one is refused.
    rb("another-types-field", runbook(diagnostics=(diagnostic("podLogs", expr="up", service="web"),)), True),
    rb(
        "another-types-field-out-of-bounds",
        runbook(diagnostics=(diagnostic("promql", expr="up", tailLines=9999),)),
        False,
    ),
    rb(
        "another-types-field-of-the-wrong-type",
        runbook(diagnostics=(diagnostic("promql", expr="up", previous="yes"),)),
        False,
    ),
    rb("unknown-diagnostic-field", runbook(diagnostics=(diagnostic("promql", expr="up", query="up"),)), False),
    # Durations: the pattern, and Go's limit (before, the model crashed on these with an OverflowError).
    rb("cooldown-in-words", runbook(step(cooldown="5 minutes")), False),
    rb("cooldown-beyond-go", runbook(step(cooldown="99999999999h")), False, GO_DURATION),
    rb("cooldown-just-beyond-the-limit", runbook(step(cooldown="2562047h1s")), False, GO_DURATION),
    rb("cooldown-at-the-limit", runbook(step(cooldown="2562047h")), True),
    # Days, as people write them; the rest is Go's.
    rb("cooldown-in-days", runbook(step(cooldown="1d12h")), True),
    rb("cooldown-in-words", runbook(step(cooldown="5 minutes")), False, DURATION),
    rb("cooldown-days-after-hours", runbook(step(cooldown="12h1d")), False, DURATION),
    rb("cooldown-six-digits-of-days", runbook(step(cooldown="100000d")), False, DURATION),
    rb("cooldown-days-beyond-go", runbook(step(cooldown="99999d2562047h")), False, GO_DURATION),
    rb("range-a-week-in-days", runbook(diagnostics=(diagnostic("promql", expr="up", range="7d"),)), True),
    rb(
        "range-past-a-week-in-days",
        runbook(diagnostics=(diagnostic("promql", expr="up", range="7d1s"),)),
        False,
        "range must be between 1s and 168h (7 days)",
    ),
    # A scale step's bounds agree with each other.
    rb(
        "replicas-above-max",
        runbook(step("scale", replicas=5, maxReplicas=2)),
        False,
        "replicas must lie between minReplicas and maxReplicas",
    ),
    rb("replicas-below-min", runbook(step("scale", replicas=1, minReplicas=2)), False),
    rb("replicas-within-bounds", runbook(step("scale", replicas=3, minReplicas=2, maxReplicas=4)), True),
    rb("healthy-within-beyond-go", runbook(step(verify={"rolloutHealthyWithin": "2562048h"})), False, GO_DURATION),
    rb(
        "metric-within-beyond-go",
        runbook(step(verify={"promql": {"expr": "up", "op": ">", "threshold": 0, "within": "2562048h"}})),
        False,
        GO_DURATION,
    ),
    rb(
        "step-beyond-go",
        runbook(diagnostics=(diagnostic("promql", expr="up", range="1h", step="2562048h"),)),
        False,
        GO_DURATION,
    ),
    # The brief's examples, spelt out.
    rb("step-name-with-capitals", runbook(step(name="Restart")), False),
    rb("unknown-action", runbook(step("deleteNamespace")), False),
    rb("release-name-too-long", runbook(step("helmRollback", release="r" * 54)), False),
    # Null is absent: the API server prunes it.
    rb("null-description", runbook(description=None), True),
    rb("null-optional-field", runbook(step(replicas=None)), True),
    rb("null-unknown-field", runbook(step(bogus=None)), True),
    rb("null-required-field", {"match": None}, False),
    # JSON types, not pydantic's lax conversions.
    rb("priority-as-a-string", runbook(priority="5"), False),
    rb("boolean-as-a-string", runbook(step(revertOnFailure="true")), False),
    rb("boolean-as-a-number", runbook(step(revertOnFailure=1)), False),
    rb("threshold-as-a-string", runbook(step(condition={"expr": "up", "op": ">", "threshold": "0.5"})), False),
    rb("integer-as-a-whole-float", runbook(step("scale", replicas=2.0)), True),
    rb("integer-beyond-64-bits", runbook(step("scale", replicas=2**64)), False),
    rb("port-as-a-boolean", runbook(diagnostics=(diagnostic("httpCheck", service="web", port=True),)), False),
    rb("port-as-a-number", runbook(diagnostics=(diagnostic("httpCheck", service="web", port=8080),)), True),
    # The CRD's spelling, not the model's Python names.
    rb("python-name", runbook(on_failure="Escalate"), False),
    rb("python-name-in-a-step", runbook(step(revert_on_failure=True)), False),
    rb("python-name-of-range", runbook(diagnostics=(diagnostic("promql", expr="up", window="15m"),)), False),
    rb(
        "python-name-of-another-types-field",
        runbook(diagnostics=(diagnostic("promql", expr="up", tail_lines=5),)),
        False,
    ),
    # A policy's CEL rules (before, the model had the first two of them only).
    rp(
        "approval-for-an-action-not-allowed",
        policy(allowedActions=["rolloutRestart"], requireApproval=["scale"]),
        False,
        "every action in spec.requireApproval must also be in spec.allowedActions",
    ),
    rp(
        "In-without-values",
        policy(scope={"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": []}]}}),
        False,
        SELECTOR_VALUES,
    ),
    rp(
        "window-cron-without-duration",
        window(cron="0 2 * * *"),
        False,
        "a window has either cron and duration, or start and end",
    ),
    rp(
        "window-of-both-shapes",
        window(cron="0 2 * * *", duration="1h", start="2026-12-20T00:00:00Z", end="2026-12-21T00:00:00Z"),
        False,
        "a window has either cron and duration, or start and end",
    ),
    rp(
        "window-ends-before-it-starts",
        window(start="2026-12-20T00:00:00Z", end="2026-12-19T00:00:00Z"),
        False,
        "end must be after start",
    ),
    rp(
        "window-ends-as-it-starts-elsewhere",
        window(start="2026-12-20T01:00:00+01:00", end="2026-12-20T00:00:00Z"),
        False,
        "end must be after start",
    ),
    rp(
        "cron-range-backwards",
        window(cron="5-2 * * * *", duration="1h"),
        False,
        "a range must not run backwards (5-2 is not one)",
    ),
    rp("approvalTTL-beyond-go", policy(approvalTTL="2562048h"), False, GO_DURATION),
    rp("cooldown-beyond-go", policy(cooldown="99999999999h"), False, GO_DURATION),
    rp("rate-limit-period-beyond-go", policy(rateLimit={"maxActions": 1, "per": "2562048h"}), False, GO_DURATION),
    rp("window-duration-beyond-go", window(cron="0 2 * * *", duration="2562048h"), False, GO_DURATION),
    # Cron: what the model's parser and the CRD's pattern both read (before, the CRD took any text).
    rp("cron-saturday-night", window(cron="0 2 * * 6", duration="2h"), True),
    rp("cron-lists-ranges-steps", window(cron="*/15 0-6,22-23 1,15 */2 1-5", duration="10m"), True),
    rp("cron-hour-25", window(cron="0 25 * * *", duration="1h"), False),
    rp("cron-day-of-month-0", window(cron="0 0 0 * *", duration="1h"), False),
    rp("cron-step-0", window(cron="*/0 * * * *", duration="1h"), False),
    rp("cron-three-digits", window(cron="007 * * * *", duration="1h"), False),
    rp("cron-with-a-tab", window(cron="0\t2 * * 6", duration="1h"), False),
    rp("cron-four-fields", window(cron="0 2 * *", duration="1h"), False),
    # cronsim reads more than the CRD's pattern; the pattern is the contract (onduty.domain.policies).
    rp("cron-day-name", window(cron="0 2 * * SAT", duration="1h"), False),
    rp("cron-last-day-of-month", window(cron="0 2 L * *", duration="1h"), False),
    rp("cron-step-of-100", window(cron="*/100 * * * *", duration="1h"), False),
    rp("cron-a-day-that-never-comes", window(cron="0 0 30 2 *", duration="1h"), False, onduty_only=NEVER_COMES),
    rp("cron-a-day-that-comes-in-leap-years", window(cron="0 0 29 2 *", duration="1h"), True),
    rp("cron-day-name-in-words", window(cron="0 2 * * Sat", duration="2h"), False, CRON),
    rp("cron-shorthand", window(cron="@daily", duration="2h"), False, CRON),
    rp("window-duration-in-days", window(cron="0 2 * * 6", duration="1d"), True),
    rp("cooldown-in-words", policy(cooldown="2 hours"), False, DURATION),
    rp(
        "blast-radius-unsatisfiable",
        policy(blastRadius={"minAvailable": 5, "maxReplicas": 3}),
        False,
        "minAvailable must not exceed maxReplicas (no scale could satisfy both)",
    ),
    rp("blast-radius-equal-bounds", policy(blastRadius={"minAvailable": 3, "maxReplicas": 3}), True),
    # Time zones: IANA names, for a cron window only.
    rp("time-zone", window(cron="0 2 * * 6", duration="2h", timeZone="America/New_York"), True),
    rp("time-zone-utc", window(cron="0 2 * * 6", duration="2h", timeZone="UTC"), True),
    rp(
        "time-zone-unknown",
        window(cron="0 2 * * 6", duration="2h", timeZone="Europe/Berln"),
        False,
        onduty_only=UNKNOWN_ZONE,
    ),
    rp(
        "time-zone-a-path",
        window(cron="0 2 * * 6", duration="2h", timeZone="../../etc/passwd"),
        False,
        onduty_only=UNKNOWN_ZONE,
    ),
    rp(
        "time-zone-on-an-absolute-window",
        window(start="2026-12-20T00:00:00Z", end="2026-12-21T00:00:00Z", timeZone="Europe/Berlin"),
        False,
        "timeZone applies only to a cron window (start and end carry their own UTC offsets)",
    ),
    # Start and end: RFC 3339 with an offset, as both read it.
    rp("time-with-fraction-and-offset", window(start="2026-12-20T00:00:00.5+01:00", end="2026-12-21T00:00:00Z"), True),
    rp("time-without-offset", window(start="2026-12-20T00:00:00", end="2026-12-21T00:00:00Z"), False),
    rp("time-with-lower-case-t", window(start="2026-12-20t00:00:00Z", end="2026-12-21T00:00:00Z"), False),
    rp("time-with-a-space", window(start="2026-12-20 00:00:00Z", end="2026-12-21T00:00:00Z"), False),
    rp("time-with-offset-without-colon", window(start="2026-12-20T00:00:00+0100", end="2026-12-21T00:00:00Z"), False),
    rp("time-with-offset-of-24h", window(start="2026-12-20T00:00:00+24:00", end="2026-12-21T00:00:00Z"), False),
    rp("time-in-year-0", window(start="0000-12-20T00:00:00Z", end="2026-12-21T00:00:00Z"), False),
    rp("time-on-february-30", window(start="2026-02-30T00:00:00Z", end="2026-12-21T00:00:00Z"), False),
    # Nulls, JSON types and spellings, as for runbooks.
    rp("null-cooldown", policy(cooldown=None), True),
    rp("dry-run-as-a-string", policy(dryRun="false"), False),
    rp("max-actions-as-a-string", policy(rateLimit={"maxActions": "3", "per": "1h"}), False),
    rp("python-name", policy(dry_run=True), False),
    rp("python-name-nested", policy(rateLimit={"max_actions": 3, "per": "1h"}), False),
    # A policy's selectors select Kubernetes labels: their bounds (a runbook's select alert labels).
    rp(
        "label-value-too-long",
        policy(
            scope={"workloadSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["v" * 64]}]}}
        ),
        False,
    ),
    rp(
        "label-key-too-long",
        policy(scope={"workloadSelector": {"matchExpressions": [{"key": "k" * 318, "operator": "Exists"}]}}),
        False,
    ),
    # An EscalationPolicy's CEL rules. An empty list names nobody (before, the CRD's has() took it for someone).
    ep("level-without-targets", escalation({"ackTimeout": "5m"}), False, LEVEL_TARGETS),
    ep("level-of-empty-lists", escalation(level(notifiers=[], users=[], schedules=[])), False, LEVEL_TARGETS),
    ep("level-of-users-only", escalation(level(notifiers=None, users=["erin@example.com"])), True),
    ep("severity-rule-without-targets", severity_rule(), False, RULE_TARGETS),
    ep("severity-rule-of-an-empty-list", severity_rule(notifiers=[]), False, RULE_TARGETS),
    ep("severity-rule-of-schedules-only", severity_rule(schedules=["managers"]), True),
    ep("ackTimeout-of-0s", escalation(level(ackTimeout="0s")), False, POSITIVE),
    ep("ackTimeout-of-a-millisecond", escalation(level(ackTimeout="1ms")), True),
    ep("ackTimeout-beyond-go", escalation(level(ackTimeout="2562048h")), False, POSITIVE),
    ep("ackTimeout-at-the-limit", escalation(level(ackTimeout="2562047h")), True),
    ep("ackTimeout-in-days", escalation(level(ackTimeout="1d")), True),
    ep("ackTimeout-in-words", escalation(level(ackTimeout="5 minutes")), False, DURATION),
    ep("ackTimeout-zero-days", escalation(level(ackTimeout="0d")), False, POSITIVE),
    ep("automationGrace-in-days", escalation(automationGrace="1d"), True),
    ep("acknowledgementTimeout-of-0s", escalation(acknowledgementTimeout="0m"), False, POSITIVE),
    ep("acknowledgementTimeout-beyond-go", escalation(acknowledgementTimeout="2562047h1s"), False, POSITIVE),
    ep("automationGrace-of-0s", escalation(automationGrace="0s"), True),  # page at once
    ep("automationGrace-beyond-go", escalation(automationGrace="2562048h"), False, GO_DURATION),
    ep("ackTimeout-in-words", escalation(level(ackTimeout="5 minutes")), False),
    ep("notifier-name-with-capitals", escalation(level(notifiers=["Shop-Slack"])), False),
    ep("schedule-name-with-a-dot", escalation(level(schedules=["shop.primary"])), True),
    ep("user-as-an-email-address", escalation(level(users=["erin+oncall@example.com"])), True),
    ep("null-acknowledgementTimeout", escalation(acknowledgementTimeout=None), True),
    ep("null-notifiers-beside-users", escalation(level(notifiers=None, users=["erin"])), True),
    ep("null-required-levels", {"levels": None}, False),
    ep("repeat-as-a-string", escalation(repeat="2"), False),
    ep("repeat-as-a-whole-float", escalation(repeat=2.0), True),
    ep("page-as-a-string", escalation(level(page="false")), False),
    ep("python-name", escalation(automation_grace="5m"), False),
    ep("python-name-in-a-level", escalation({"ack_timeout": "5m", "notifiers": ["pager"]}), False),
    # A Notifier's CEL rules: the types whose settings have no defaults need their block.
    nt("statuspage-without-settings", notifier("statuspage"), False, REQUIRED_SETTINGS["statuspage"]),
    nt("cachet-without-settings", notifier("cachet"), False, REQUIRED_SETTINGS["cachet"]),
    nt("jira-without-settings", notifier("jira"), False, REQUIRED_SETTINGS["jira"]),
    nt("github-without-settings", notifier("github"), False, REQUIRED_SETTINGS["github"]),
    nt("linear-without-settings", notifier("linear"), False, REQUIRED_SETTINGS["linear"]),
    nt("slack-without-settings", notifier("slack"), True),
    nt("pagerduty-without-settings", notifier("pagerduty"), True),
    nt("jira-minimal", jira(), True),
    # What the channels need, which the CRD now says too (before, the API server stored what they refused).
    nt("jira-without-resolveTransitionId", jira(resolveTransitionId=None), False),
    nt("linear-without-resolvedStateId", linear(resolvedStateId=None), False),
    nt("linear-minimal", linear(), True),
    nt("jira-transition-id-of-11-digits", jira(resolveTransitionId="12345678901"), False),
    nt("jira-label-with-a-space", jira(labels=["on call"]), False),
    nt("jira-label-with-a-tab", jira(labels=["on\tcall"]), False),
    nt("jira-label-empty", jira(labels=[""]), False),
    nt("github-owner-starting-with-a-dash", github(owner="-acme"), False),
    nt("github-repo-dot", github(repo="."), False),
    nt("github-repo-dot-dot", github(repo=".."), False),
    nt("github-repo-starting-with-a-dot", github(repo=".github"), True),
    nt("github-label-empty", github(labels=[""]), False),
    nt("linear-team-id-with-a-space", linear(teamId="a team"), False),
    nt("linear-team-id-a-path", linear(teamId="../teams"), False),
    nt(
        "statuspage-status-for-no-severity",
        notifier("statuspage", {"pageId": "p1", "componentStatusBySeverity": {"urgent": "major_outage"}}),
        False,
    ),
    nt(
        "cachet-status-for-no-severity",
        notifier("cachet", {"url": "https://status.example.com", "componentStatusBySeverity": {"page": 4}}),
        False,
    ),
    nt("linear-priority-for-no-severity", linear(priority={"urgent": 1}), False),
    nt("statuspage-page-id-a-path", notifier("statuspage", {"pageId": "../pages"}), False),
    # Another type's settings are checked, as the API server checks them, and otherwise unused.
    nt(
        "another-types-settings",
        notifier("slack", {}, jira={"url": "u", "projectKey": "OPS", "resolveTransitionId": "1"}),
        True,
    ),
    nt(
        "another-types-bad-settings",
        notifier("slack", {}, jira={"url": "u", "projectKey": "ops", "resolveTransitionId": "1"}),
        False,
    ),
    nt("secret-name-with-capitals", notifier("slack", secretRef={"name": "Slack"}), False),
    nt("event-twice", notifier("slack", events=["page", "page"]), False),
    # Nulls, JSON types and spellings.
    nt("null-settings", notifier("slack", None, slack=None), True),
    nt("null-setting", jira(issueType=None), True),
    nt("null-required-setting", jira(projectKey=None), False),
    nt("transition-id-as-a-number", jira(resolveTransitionId=31), False),
    nt(
        "component-id-as-a-string", notifier("cachet", {"url": "https://status.example.com", "componentId": "7"}), False
    ),
    nt(
        "component-id-as-a-whole-float",
        notifier("cachet", {"url": "https://status.example.com", "componentId": 7.0}),
        True,
    ),
    nt("priority-as-a-boolean", linear(priority={"critical": True}), False),
    nt(
        "deliverNotifications-as-a-string",
        notifier("statuspage", {"pageId": "p1", "deliverNotifications": "no"}),
        False,
    ),
    nt("python-name", {"type": "slack", "secret_ref": {"name": "credentials"}}, False),
    nt("python-name-of-a-setting", notifier("slack", {"api_url": "https://slack.com/api"}), False),
    nt("python-name-of-a-required-setting", notifier("statuspage", {"page_id": "p1"}), False),
    # An OnCallSchedule's CEL rules.
    oc("no-layer-no-feed", {"timeZone": "UTC"}, False, ONE_SOURCE),
    oc("empty-layers-no-feed", {"timeZone": "UTC", "layers": []}, False, ONE_SOURCE),
    oc("feed-only", {"timeZone": "UTC", "ical": {"configMapRef": {"name": "cal", "key": "a.ics"}}}, True),
    oc("restriction-empty", restriction("09:00", "09:00"), False, WINDOW_ORDER),
    # Rotations and times of day: refused with examples, not the expression.
    oc(
        "rotation-in-words",
        schedule(layer(rotation="1 week")),
        False,
        "must be whole weeks, days and hours in that order, such as 12h, 1d, 1w or 1w2d",
    ),
    oc("restriction-start-9am", restriction("9am", "17:00"), False, "must be a time of day HH:MM such as 09:00"),
    oc(
        "restriction-end-25",
        restriction("09:00", "25:00"),
        False,
        "must be a time of day HH:MM such as 17:00, or 24:00 for the end of the day",
    ),
    oc("restriction-across-midnight", restriction("22:00", "06:00"), False, WINDOW_ORDER),
    oc("restriction-to-midnight", restriction("22:00", "24:00"), True),
    oc("restriction-a-minute-long", restriction("09:00", "09:01"), True),
    oc(
        "override-ends-before-it-starts",
        override("2026-12-20T00:00:00Z", "2026-12-19T00:00:00Z"),
        False,
        "end must be after start",
    ),
    oc(
        "override-ends-as-it-starts-elsewhere",
        override("2026-12-20T01:00:00+01:00", "2026-12-20T00:00:00Z"),
        False,
        "end must be after start",
    ),
    oc(
        "override-ends-later-though-written-earlier",
        override("2026-12-20T01:00:00+01:00", "2026-12-20T00:30:00Z"),
        True,
    ),
    oc("override-half-a-second-long", override("2026-12-20T00:00:00Z", "2026-12-20T00:00:00.5Z"), True),
    # Times: a layer's start is local (no offset), an override's carries one.
    oc("layer-start-with-an-offset", schedule(layer(start="2026-11-02T09:00:00Z")), False),
    oc("layer-start-in-month-13", schedule(layer(start="2026-13-02T09:00:00")), False),
    oc("layer-start-at-hour-24", schedule(layer(start="2026-11-02T24:00:00")), False),
    oc("layer-start-on-february-29-of-a-leap-year", schedule(layer(start="2028-02-29T09:00:00")), True),
    oc("layer-start-on-february-30", schedule(layer(start="2026-02-30T09:00:00")), False, onduty_only=NO_SUCH_DAY),
    oc("override-without-offset", override("2026-12-20T00:00:00", "2026-12-21T00:00:00Z"), False),
    oc("override-on-february-30", override("2026-02-30T00:00:00Z", "2026-12-21T00:00:00Z"), False),
    # Rotations: whole weeks, days and hours, in that order.
    oc("rotation-in-words", schedule(layer(rotation="1 week")), False),
    oc("rotation-of-24h", schedule(layer(rotation="24h")), True),
    oc("rotation-of-0h", schedule(layer(rotation="0h")), False),
    oc("rotation-out-of-order", schedule(layer(rotation="1h1w")), False),
    oc("rotation-of-minutes", schedule(layer(rotation="30m")), False),
    # Time zones: IANA names, which only onduty can look up.
    oc("time-zone-utc", schedule(timeZone="UTC"), True),
    oc("time-zone-unknown", schedule(timeZone="Europe/Berln"), False, onduty_only=UNKNOWN_ZONE),
    oc("time-zone-a-path", schedule(timeZone="../../etc/passwd"), False, onduty_only=UNKNOWN_ZONE),
    # Members, nulls, JSON types and spellings.
    oc("member-twice-in-a-layer", schedule(layer(members=["alice", "bob", "alice"])), True),
    oc("member-with-a-space", schedule(layer(members=["alice smith"])), False),
    oc("null-overrides", schedule(overrides=None), True),
    oc("null-required-time-zone", schedule(timeZone=None), False),
    oc("rotation-as-a-number", schedule(layer(rotation=7)), False),
    oc("python-name", {"time_zone": "UTC", "layers": [layer()]}, False),
    oc("python-name-nested", {"timeZone": "UTC", "ical": {"config_map_ref": {"name": "cal", "key": "a.ics"}}}, False),
]


# --- the samples --------------------------------------------------------------------------------


def sample_cases() -> list[Case]:
    cases = []
    for path in sorted((REPO / "manifests/samples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in CRDS:
                name = doc["metadata"]["name"]
                accepted = not path.name.startswith("invalid-")
                cases.append(Case(f"{doc['kind']}:sample:{path.name}:{name}", doc["kind"], doc["spec"], accepted))
    return cases


# The derived cases onduty alone refuses: a name of timeZone's maximum length is no zone.
DERIVED_ONDUTY_ONLY = {
    "RemediationPolicy:maintenanceWindows[0].timeZone:maxLength-reached": UNKNOWN_ZONE,
    "RemediationPolicy:changeFreezes[1].timeZone:maxLength-reached": UNKNOWN_ZONE,
    "OnCallSchedule:timeZone:maxLength-reached": UNKNOWN_ZONE,
}


def _onduty_only(cases: list[Case]) -> list[Case]:
    return [
        dataclasses.replace(case, accepted=False, onduty_only=DERIVED_ONDUTY_ONLY[case.id])
        if case.id in DERIVED_ONDUTY_ONLY
        else case
        for case in cases
    ]


CASES = sample_cases() + _onduty_only([case for kind in CRDS for case in derived_cases(kind)]) + TABLE


# --- asking the API server and onduty lint -------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    accepted: bool
    message: str


def _manifest(case: Case, index: int, namespace: str) -> dict[str, Any]:
    metadata = {"name": f"case-{index}"}
    if case.kind in NAMESPACED:
        metadata["namespace"] = namespace
    return {"apiVersion": "onduty.dev/v1alpha1", "kind": case.kind, "metadata": metadata, "spec": case.spec}


@pytest.fixture(scope="module")
def answers(cluster, tmp_path_factory) -> dict[str, tuple[Answer, Answer]]:
    """Each case's answer from the API server (a server-side dry run) and from ``onduty lint``, by case id."""
    namespace = f"t-crd-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    manifests = [_manifest(case, index, namespace) for index, case in enumerate(CASES)]

    def dry_run(manifest: dict[str, Any]) -> Answer:
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input_=json.dumps(manifest), check=False)
        return Answer(result.returncode == 0, (result.stdout + result.stderr).strip())

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            api = list(pool.map(dry_run, manifests))
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    # One file holds every case, as a repository of manifests would.
    path = tmp_path_factory.mktemp("lint") / "cases.yaml"
    path.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    linted = subprocess.run(
        [sys.executable, "-m", "onduty.cli", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lint: dict[str, Answer] = {}
    for line in linted.stdout.splitlines() + linted.stderr.splitlines():
        if found := re.match(rf"{re.escape(str(path))}: \w+ (case-\d+): (.*)$", line):
            lint[found[1]] = Answer(found[2] == "ok", found[2])
    return {case.id: (api[i], lint.get(f"case-{i}", Answer(False, "not linted"))) for i, case in enumerate(CASES)}


def _onduty(case: Case) -> Answer:
    try:
        PARSE[case.kind](copy.deepcopy(case.spec))
    except ValueError as error:
        return Answer(False, str(error))
    return Answer(True, "ok")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_api_server_onduty_and_its_lint_give_the_same_answer(case: Case, answers) -> None:
    api, lint = answers[case.id]
    model = _onduty(case)
    expected = "accepted" if case.accepted else "refused"
    api_expected = case.accepted
    if case.onduty_only:
        expected, api_expected = f"accepted by the API server only ({case.onduty_only})", True

    assert (api.accepted, model.accepted, lint.accepted) == (api_expected, case.accepted, case.accepted), (
        f"expected {expected}\n  API server: {api.message}\n  model: {model.message}\n  onduty lint: {lint.message}"
    )
    if case.rule:
        assert case.rule in api.message  # refused by the rule the case is about, not by another


def _cel_rules(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for rule in schema.get("x-kubernetes-validations", []):
            yield rule["message"]
        for value in schema.values():
            yield from _cel_rules(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _cel_rules(value)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_cel_rule_of_the_crd_has_a_case_refused_by_it(kind: str) -> None:
    rules = set(_cel_rules(spec_schema(kind)))
    covered = {case.rule for case in TABLE if case.kind == kind}

    assert rules - covered == set()


def test_the_derived_cases_cover_every_kind_of_constraint() -> None:
    checks = {case.id.rsplit(":", 1)[1] for case in CASES if ":table:" not in case.id and ":sample:" not in case.id}

    assert {"type", "enum", "pattern", "format", "maxLength", "minLength", "minimum", "exclusiveMinimum"} <= checks
    assert {
        "maximum",
        "minItems",
        "maxItems",
        "duplicate",
        "required",
        "unknown-field",
        "additionalProperties",
    } <= checks
    assert len(CASES) > 300


def test_every_onduty_only_exception_is_a_case_onduty_refuses() -> None:
    """An exception for a case that no longer exists, or that onduty accepts, would hide nothing and rot."""
    exceptions = [case for case in CASES if case.onduty_only]

    assert set(DERIVED_ONDUTY_ONLY) <= {case.id for case in exceptions}
    assert [case.id for case in exceptions if case.accepted] == []
