"""A runbook's steps and diagnostics rendered for one incident: its templates replaced by the incident's values.

The incident worker renders a step just before it judges it, and each
diagnostic just before it runs; everything after (the target, the Job, the
release, the PromQL and the namespace confinement of it) sees only the
rendered values. Which fields hold templates, and how each is checked
(:mod:`onduty.domain.templates`):

* names — a step's ``target.name``, ``release``, ``application``, ``node``; a
  diagnostic's ``target.name``, ``release``, ``application``, ``service``:
  rendered, then validated as a name;
* PromQL — a step's ``condition.expr`` and ``verify.promql.expr``; a promql
  diagnostic's ``expr``: each value escaped in its quoted string.

Namespaces (``applicationNamespace``, an argoHistory ``namespace``) and a
runJob's pod template are never templated: a template cannot choose where
onduty acts, nor what a Job's container runs.
"""

from __future__ import annotations

from typing import Any

from onduty.domain import trust
from onduty.domain.diagnostics import DiagnosticSpec
from onduty.domain.runbooks import Step
from onduty.domain.templates import IncidentValues, render_name, render_promql

__all__ = ["IncidentValues", "incident_values", "render_diagnostic", "render_step"]
from onduty.domain.workloads import Workload

# Helm's own limit on a release name.
HELM_RELEASE_MAX = 53


def incident_values(incident: dict[str, Any], namespace: str) -> IncidentValues:
    """What templates render for ``incident``, in ``namespace`` (the incident's own, which the API server set)."""
    spec = incident.get("spec") or {}
    labels = {str(key): str(value) for key, value in (spec.get("labels") or {}).items()}
    problem: str | None = None
    try:
        workload = Workload.from_dict(spec.get("workload"), namespace)
    except trust.Untrusted as refusal:
        workload, problem = None, refusal.message
    return IncidentValues(
        namespace=namespace,
        labels=labels,
        workload_kind=workload.kind if workload else None,
        workload_name=workload.name if workload else None,
        workload_problem=problem,
    )


def render_step(step: Step, values: IncidentValues) -> Step:
    """``step`` for this incident; raises :class:`trust.Untrusted` (the step is refused, nothing is sent)."""
    where = f"step {step.name}"
    update: dict[str, Any] = {}
    if step.target is not None:
        name = render_name(step.target.name, values, where=f"{where}: target.name")
        update["target"] = step.target.model_copy(update={"name": name})
    if step.release:
        update["release"] = render_name(step.release, values, where=f"{where}: release", max_length=HELM_RELEASE_MAX)
    if step.application:
        update["application"] = render_name(step.application, values, where=f"{where}: application")
    if step.node:
        update["node"] = render_name(step.node, values, where=f"{where}: node")
    if step.condition is not None:
        expr = render_promql(step.condition.expr, values, where=f"{where}: condition.expr")
        update["condition"] = step.condition.model_copy(update={"expr": expr})
    if step.verify.promql is not None:
        expr = render_promql(step.verify.promql.expr, values, where=f"{where}: verify.promql.expr")
        update["verify"] = step.verify.model_copy(
            update={"promql": step.verify.promql.model_copy(update={"expr": expr})}
        )
    return step.model_copy(update=update)


def render_diagnostic(spec: DiagnosticSpec, values: IncidentValues) -> DiagnosticSpec:
    """``spec`` for this incident; raises :class:`trust.Untrusted` (the diagnostic records the refusal)."""
    where = f"diagnostic {spec.name}"
    update: dict[str, Any] = {}
    target = getattr(spec, "target", None)
    if target is not None:
        name = render_name(target.name, values, where=f"{where}: target.name")
        update["target"] = target.model_copy(update={"name": name})
    for field, kind, limit in (
        ("release", "subdomain", HELM_RELEASE_MAX),
        ("application", "subdomain", None),
        ("service", "label", None),
    ):
        value = getattr(spec, field, None)
        if value:
            update[field] = render_name(
                value,
                values,
                where=f"{where}: {field}",
                kind="label" if kind == "label" else "subdomain",
                max_length=limit,
            )
    expr = getattr(spec, "expr", None)
    if expr:
        update["expr"] = render_promql(expr, values, where=f"{where}: expr")
    return spec.model_copy(update=update)
