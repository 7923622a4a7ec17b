"""What onduty would do with an alert, judged offline: for ``onduty simulate``, in a pull request's CI.

The same pure pieces the operator runs on are run here on the files of a
pull request instead of a cluster: the bridge's webhook parser
(:mod:`onduty.domain.alerts`), the alert handler's grouping, the worker's
runbook choice (:func:`onduty.domain.runbooks.explain_selection`), template
rendering, every guardrail (:func:`onduty.domain.steps.decide`) and the hold
rules (:mod:`onduty.domain.holds`). Only what a cluster would tell is
assumed, and each verdict that rests on an assumption says so:

* automation is not paused, the target exists and has no earlier action,
  no action is in flight elsewhere (nothing can be read offline);
* Alertmanager's silences are not checked;
* a step's PromQL condition cannot be evaluated: it is "unknown offline", and
  the query the operator would send is shown;
* a step of the runbook that would run counts as run at ``at`` for the steps
  after it (their rate limit, cooldown and workloads per incident).

::

    result = simulate(Inputs(alerts=read_alerts(doc, at=at), runbooks=..., policies=..., at=at,
                             onduty_namespace="onduty-system"))
    print(render_text(result))            # or to_json(result)
    result.outcomes()                     # {"run", "held", ...}: what --fail-on looks at
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from onduty.domain import holds, manifests, promql_scope, runbook_rendering, steps, trust
from onduty.domain.alerts import PayloadError, WebhookAlert, alert_namespace, parse_webhook
from onduty.domain.durations import format_duration
from onduty.domain.grouping import DEFAULT_KEYS, group_key
from onduty.domain.guardrails import Verdict
from onduty.domain.policies import Decision, Policy, TargetState, in_scope, parse_policy
from onduty.domain.runbooks import RunbookRef, Selection, Step, explain_selection, parse_runbook
from onduty.domain.severity import Severity, normalise, worst
from onduty.domain.specs import describe_validation_error
from onduty.domain.targets import step_target
from onduty.domain.templates import IncidentValues
from onduty.domain.times import rfc3339
from onduty.domain.workloads import Workload, workload_from_labels

Outcome = Literal["run", "dry-run", "approval", "held", "denied"]
# What --fail-on may name: the outcomes a CI gate stops a merge for.
GATES: tuple[Outcome, ...] = ("denied", "held", "approval")


class InputError(ValueError):
    """Input that cannot be simulated: one line naming the file, the document, the field and the value."""


# --- reading the input ----------------------------------------------------------------------


def read_objects(files: Iterable[tuple[str, Sequence[Any]]], kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The objects of ``kind`` in ``files`` (each a path and its YAML documents), Lists read item by item.

    Each is checked as ``onduty lint`` checks it; a refused one raises :class:`InputError`
    with lint's line. Objects of other kinds are not this command's business (lint them).
    """
    found: list[tuple[str, Mapping[str, Any]]] = []
    for path, docs in files:
        for number, doc in enumerate(docs, start=1):
            for place, obj in manifests.objects(doc, f"document {number}"):
                if not isinstance(obj, Mapping) or obj.get("kind") != kind:
                    continue
                [finding] = manifests.check_document(obj, place)
                if finding.ok is False:
                    raise InputError(f"{path}: {finding.who}: {finding.message}")
                if finding.ok:  # not skipped: onduty's group, not another's kind of the same name
                    found.append((path, obj))
    return found


def runbooks_from(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> list[RunbookRef]:
    """Runbook objects as the operator indexes them; one without ``metadata.namespace`` has ``""`` (the incident's)."""
    return [
        RunbookRef(
            str(obj["metadata"].get("namespace") or ""), str(obj["metadata"]["name"]), parse_runbook(obj["spec"])
        )
        for _, obj in objects
    ]


def policies_from(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Policy]:
    return [Policy(str(obj["metadata"]["name"]), parse_policy(dict(obj["spec"]))) for _, obj in objects]


def read_alerts(document: Any, *, at: datetime) -> list[WebhookAlert]:
    """The alerts of a webhook v4 payload (the bridge's parser), or of one alert object.

    A single alert may leave out what a person writing one by hand does not know:
    ``status`` (firing), ``startsAt`` (``at``) and ``fingerprint`` (a hash of its labels).
    Raises :class:`InputError` naming the field and the value.
    """
    if isinstance(document, dict) and ("alerts" in document or "version" in document):
        try:
            return list(parse_webhook(document).alerts)
        except PayloadError as error:
            raise InputError(str(error)) from error
    if not isinstance(document, dict):
        raise InputError(f"expected a webhook payload or an alert (a JSON object), got {type(document).__name__}")
    labels = document.get("labels")
    filled = {
        "status": "firing",
        "startsAt": rfc3339(at),
        "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True, default=str).encode()).hexdigest()[:16],
        **document,
    }
    try:
        return [WebhookAlert.model_validate(filled)]
    except ValidationError as error:
        raise InputError(describe_validation_error(error, prefix="", document="alert")) from error


def key_values(text: str, option: str) -> dict[str, str]:
    """``k=v,k2=v2`` as a dict; raises :class:`InputError` naming ``option`` and the bad part."""
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option}: {part!r} is not key=value (e.g. team=shop,tier=platform)")
        pairs[key.strip()] = value.strip()
    return pairs


# --- the simulation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    alerts: Sequence[WebhookAlert]
    runbooks: Sequence[RunbookRef]
    policies: Sequence[Policy]
    at: datetime
    onduty_namespace: str  # where alerts without a usable namespace land, and global runbooks live
    namespace_labels: Mapping[str, str] = field(default_factory=dict)  # the incident's namespace's (--namespace-labels)
    workload_labels: Mapping[str, str] = field(default_factory=dict)
    grouping_keys: Sequence[str] = DEFAULT_KEYS


@dataclass(frozen=True)
class AlertResult:
    number: int  # 1-based, in the payload's order
    alertname: str
    status: str
    fingerprint: str
    incident: int | None  # the incident's number; None for a resolved alert (it opens nothing)
    opens: bool


@dataclass(frozen=True)
class StepResult:
    number: int
    name: str
    action: str
    target: str  # "Deployment/web", or "" when there is none
    rendered: tuple[tuple[str, str, str], ...]  # (field, as written, as rendered) for every templated field
    verdicts: tuple[Verdict, ...]
    outcome: Outcome
    decision: str  # the decision in one sentence
    until: datetime | None = None  # a hold's end, when it has one
    approval_ttl: timedelta | None = None


@dataclass(frozen=True)
class IncidentResult:
    number: int
    group_key: str
    title: str
    severity: Severity
    opened_severity: Severity  # what the runbook is matched on: the incident's severity when it opens
    namespace: str
    workload: Workload | None
    alerts: tuple[int, ...]
    selection: Selection
    runbook_namespace_note: str
    steps: tuple[StepResult, ...]


@dataclass(frozen=True)
class Simulation:
    at: datetime
    alerts: tuple[AlertResult, ...]
    incidents: tuple[IncidentResult, ...]

    def outcomes(self) -> set[Outcome]:
        return {s.outcome for i in self.incidents for s in i.steps}


def simulate(inputs: Inputs) -> Simulation:
    """What the operator would do with ``inputs.alerts`` at ``inputs.at``, every verdict included."""
    groups: dict[tuple[str, str], list[tuple[int, WebhookAlert]]] = {}
    alert_results: list[AlertResult] = []
    for number, alert in enumerate(inputs.alerts, start=1):
        if alert.status != "firing":
            alert_results.append(AlertResult(number, alert.alertname, alert.status, alert.fingerprint, None, False))
            continue
        namespace = alert_namespace(alert, inputs.onduty_namespace)
        key = group_key(dict(alert.labels), workload_from_labels(dict(alert.labels), namespace), inputs.grouping_keys)
        members = groups.setdefault((namespace, key), [])
        members.append((number, alert))
        incident = list(groups).index((namespace, key)) + 1
        alert_results.append(
            AlertResult(number, alert.alertname, alert.status, alert.fingerprint, incident, len(members) == 1)
        )
    results = [
        _incident(inputs, number, namespace, key, members)
        for number, ((namespace, key), members) in enumerate(groups.items(), start=1)
    ]
    return Simulation(inputs.at, tuple(alert_results), tuple(results))


def _incident(
    inputs: Inputs, number: int, namespace: str, key: str, members: list[tuple[int, WebhookAlert]]
) -> IncidentResult:
    # As the alert handler opens it: the first alert's labels, title and severity; joiners raise the severity.
    first = members[0][1]
    labels = dict(first.labels)
    workload = workload_from_labels(labels, namespace)
    title = (first.annotations.get("summary") or first.alertname or "alert")[:1024]
    opened = normalise(labels.get("severity"))
    severity = worst(*(normalise(a.labels.get("severity")) for _, a in members))
    # A runbook file without metadata.namespace is applied into a namespace by whoever applies it:
    # here, the incident's (kubectl apply -n <namespace>).
    unplaced = [rb for rb in inputs.runbooks if not rb.namespace]
    runbooks = [replace(rb, namespace=rb.namespace or namespace) for rb in inputs.runbooks]
    note = (
        f"{len(unplaced)} runbook(s) without metadata.namespace taken as in namespace {namespace}" if unplaced else ""
    )
    selection = explain_selection(
        runbooks, labels=labels, severity=opened, namespace=namespace, global_namespace=inputs.onduty_namespace
    )
    step_results: tuple[StepResult, ...] = ()
    if selection.chosen is not None and selection.chosen.spec.remediation is not None:
        platform = selection.chosen.namespace == inputs.onduty_namespace
        step_results = _steps(inputs, selection.chosen.spec.remediation.steps, namespace, labels, workload, platform)
    return IncidentResult(
        number,
        key,
        title,
        severity,
        opened,
        namespace,
        workload,
        tuple(n for n, _ in members),
        selection,
        note,
        step_results,
    )


def _steps(
    inputs: Inputs,
    runbook_steps: Sequence[Step],
    namespace: str,
    labels: dict[str, str],
    workload: Workload | None,
    platform_runbook: bool,
) -> tuple[StepResult, ...]:
    values = IncidentValues(
        namespace=namespace,
        labels=labels,
        workload_kind=workload.kind if workload else None,
        workload_name=workload.name if workload else None,
    )
    ran: list[tuple[str, str]] = []  # (target, action) of each earlier step that would run, in order
    out: list[StepResult] = []
    for number, written in enumerate(runbook_steps, start=1):
        try:
            step = runbook_rendering.render_step(written, values)
        except trust.Untrusted as refusal:
            verdict = Verdict("Trust", False, refusal.reason, refusal.message)
            out.append(_refused(number, written, "", (), verdict))
            continue
        rendered = _rendered(written, step)
        try:
            target = step_target(step, workload, labels, namespace, inputs.onduty_namespace)
        except trust.Untrusted as refusal:
            out.append(_refused(number, step, "", rendered, Verdict("Trust", False, refusal.reason, refusal.message)))
            continue
        if target is None:
            verdict = Verdict("Target", False, "NoTarget", "the incident names no workload and the step no target")
            out.append(_refused(number, step, "", rendered, verdict))
            continue
        shown = f"{target.kind}/{target.name}"
        facts = steps.StepFacts(
            action=step.action,
            target=shown,
            target_found=True,
            now=inputs.at,
            cooldown=step.cooldown_period,
            labels={**labels, "namespace": namespace},
            in_force=tuple(inputs.policies),
            target_state=TargetState(
                namespace=namespace,
                # The API server labels every namespace with its own name; policies may select on it.
                namespace_labels={"kubernetes.io/metadata.name": namespace, **inputs.namespace_labels},
                workload_labels=dict(inputs.workload_labels),
                recent_actions=tuple(inputs.at for t, _ in ran if t == shown),
                last_same_action=inputs.at if (shown, step.action) in ran else None,
                workloads_touched_by_incident=len({t for t, _ in ran} - {shown}),
            ),
        )
        verdicts, decision = steps.decide(facts)
        verdicts = [_offline(v, shown) for v in verdicts]
        condition = _condition(step, namespace, decision.grants.unconfined_promql or platform_runbook)
        if condition is not None:
            at = next((i + 1 for i, v in enumerate(verdicts) if v.guardrail == "Silence"), len(verdicts))
            verdicts.insert(at, condition)
        result = _decision(number, step, shown, rendered, facts, verdicts, decision)
        if result.outcome == "run":
            ran.append((shown, step.action))
        out.append(result)
    return tuple(out)


def _refused(
    number: int, step: Step, target: str, rendered: tuple[tuple[str, str, str], ...], v: Verdict
) -> StepResult:
    return StepResult(
        number, step.name, step.action, target, rendered, (v,), "denied", f"denied for good: {v.reason}: {v.message}"
    )


def _rendered(written: Step, step: Step) -> tuple[tuple[str, str, str], ...]:
    """Each field whose templates rendered to something else: (field, as written, as rendered)."""
    before = _flat(written.model_dump(by_alias=True, exclude_none=True, mode="json"))
    after = _flat(step.model_dump(by_alias=True, exclude_none=True, mode="json"))
    return tuple((name, before[name], after[name]) for name in before if name in after and before[name] != after[name])


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


# What each verdict assumed offline, said after its own message: (guardrail, reason) -> assumption.
_ASSUMED = {
    ("Cooldown", "NoRecentAction"): "assumed offline: no earlier action on the target",
    ("PolicyCooldown", "NoRecentAction"): "assumed offline: no earlier action on the target",
    ("RateLimit", "WithinRateLimit"): "assumed offline: no earlier action on the target",
    ("Concurrency", "WithinConcurrency"): "assumed offline: no other action in flight",
}


def _offline(verdict: Verdict, target: str) -> Verdict:
    if verdict.guardrail == "Silence":
        return Verdict(
            "Silence", True, "NotCheckedOffline", "not checked offline: Alertmanager's silences are not read"
        )
    if (verdict.guardrail, verdict.reason) == ("Pause", "NotPaused"):
        return replace(verdict, message="assumed not paused (pause annotations are not read offline)")
    if (verdict.guardrail, verdict.reason) == ("Target", "TargetFound"):
        return replace(verdict, message=f"{target} assumed to exist (not checked offline)")
    assumed = _ASSUMED.get((verdict.guardrail, verdict.reason))
    if assumed is None:
        return verdict
    return replace(verdict, message=f"{verdict.message} ({assumed})")


def _condition(step: Step, namespace: str, unconfined: bool) -> Verdict | None:
    """The condition's verdict offline: unknown, with the query the operator would send (or why it sends none)."""
    if step.condition is None:
        return None
    condition = step.condition
    try:
        query = condition.expr if unconfined else promql_scope.confine(condition.expr, namespace)
    except promql_scope.PromQLError as error:
        return Verdict("Condition", False, "ConditionUnknown", f"the expression cannot be confined: {error}")
    return Verdict(
        "Condition",
        True,
        "UnknownOffline",
        f"unknown offline (PromQL is not evaluated here): the step runs only if {query} {condition.op}"
        f" {condition.threshold:g} holds then",
    )


def _decision(
    number: int,
    step: Step,
    target: str,
    rendered: tuple[tuple[str, str, str], ...],
    facts: steps.StepFacts,
    verdicts: list[Verdict],
    decision: Decision,
) -> StepResult:
    def result(outcome: Outcome, text: str, **extra: Any) -> StepResult:
        return StepResult(number, step.name, step.action, target, rendered, tuple(verdicts), outcome, text, **extra)

    if_condition = " if its condition holds" if step.condition is not None else ""
    denial = holds.deciding(verdicts)
    if denial is None:
        if decision.dry_run:
            why = (
                "no RemediationPolicy covers the target"
                if not decision.policies
                else f"a policy in scope says dryRun ({', '.join(decision.policies)})"
            )
            then = f"dry run{if_condition}: {why}; the change is recorded, not made"
        else:
            then = f"would run{if_condition}"
        if decision.needs_approval:
            ttl = format_duration(decision.approval_ttl)
            asking = [
                p.name for p in in_scope(facts.in_force, facts.target_state) if step.action in p.spec.require_approval
            ]
            return result(
                "approval",
                f"needs approval: policy {', '.join(sorted(asking))} asks a human to approve {step.action} within"
                f" {ttl} (onduty approve); then {then}",
                approval_ttl=decision.approval_ttl,
            )
        return result("dry-run" if decision.dry_run else "run", then)
    if holds.kind(denial.reason) != "final":
        outcome = holds.hold(facts, denial, since=None)
        if isinstance(outcome, holds.Hold):
            if outcome.until is None:
                return result("held", f"held: {denial.reason}: {denial.message}; looked at again until it passes")
            return result(
                "held",
                f"held until {rfc3339(outcome.until)}: {denial.reason}: {denial.message}; then judged again",
                until=outcome.until,
            )
        denial = outcome
    final = holds.final(facts, denial)
    return result("denied", f"denied for good: {final.reason}: {final.message}")


# --- output ----------------------------------------------------------------------------------


def render_text(sim: Simulation) -> str:
    lines = [f"simulated at {rfc3339(sim.at)}, offline (nothing is read from a cluster)", ""]
    for alert in sim.alerts:
        head = f"alert {alert.number} {alert.alertname or '(no alertname)'} ({alert.status})"
        if alert.incident is None:
            lines.append(f"{head}: opens no incident (a resolved alert only resolves its incident's record of it)")
        else:
            lines.append(f"{head}: {'opens' if alert.opens else 'joins'} incident {alert.incident}")
    for incident in sim.incidents:
        lines += ["", f"incident {incident.number}: {incident.title}"]
        severity: str = incident.severity
        if incident.severity != incident.opened_severity:
            severity = (
                f"{incident.severity} (opened {incident.opened_severity}, raised by a joining alert;"
                f" the runbook is matched on {incident.opened_severity})"
            )
        rows = [
            ("grouping key", incident.group_key),
            ("severity", severity),
            ("namespace", incident.namespace),
            ("workload", str(incident.workload) if incident.workload else "none (the alert's labels name none)"),
            ("alerts", ", ".join(str(n) for n in incident.alerts)),
            ("runbook", incident.selection.message()),
        ]
        if incident.runbook_namespace_note:
            rows.append(("note", incident.runbook_namespace_note))
        lines += [f"  {name + ':':<14}{value}" for name, value in rows]
        if incident.selection.chosen is not None and not incident.steps:
            lines.append("  (the runbook has no remediation steps)")
        for step in incident.steps:
            target = f" of {step.target}" if step.target else ""
            lines.append(f"  step {step.number} {step.name}: {step.action}{target}")
            lines += [f"    rendered: {name}: {written} -> {value}" for name, written, value in step.rendered]
            for v in step.verdicts:
                lines.append(f"    {v.guardrail:<18}{'allowed' if v.allowed else 'DENIED':<8} {v.reason}: {v.message}")
            lines.append(f"    decision: {step.decision}")
    return "\n".join(lines) + "\n"


def to_json(sim: Simulation) -> dict[str, Any]:
    return {
        "at": rfc3339(sim.at),
        "alerts": [
            {
                "number": a.number,
                "alertname": a.alertname,
                "status": a.status,
                "fingerprint": a.fingerprint,
                "incident": a.incident,
                "opens": a.opens,
            }
            for a in sim.alerts
        ],
        "incidents": [
            {
                "number": i.number,
                "groupKey": i.group_key,
                "title": i.title,
                "severity": i.severity,
                "openedSeverity": i.opened_severity,
                "namespace": i.namespace,
                "workload": i.workload.to_dict() if i.workload else None,
                "alerts": list(i.alerts),
                "runbook": {
                    "chosen": i.selection.chosen.key if i.selection.chosen else None,
                    "explanation": i.selection.message(),
                    "nearest": [m.describe() for m in i.selection.nearest],
                },
                "steps": [
                    {
                        "number": s.number,
                        "name": s.name,
                        "action": s.action,
                        "target": s.target,
                        "rendered": [{"field": f, "written": w, "rendered": r} for f, w, r in s.rendered],
                        "verdicts": [v.to_dict() for v in s.verdicts],
                        "outcome": s.outcome,
                        "decision": s.decision,
                        "until": rfc3339(s.until) if s.until else None,
                        "approvalTTL": format_duration(s.approval_ttl) if s.approval_ttl is not None else None,
                    }
                    for s in i.steps
                ],
            }
            for i in sim.incidents
        ],
    }
