"""``scale``: to a number or by a factor, inside the runbook's and the policies' bounds; HPA-aware.

A workload an HPA manages is never scaled behind the HPA's back: the HPA's
floor (``minReplicas``) is raised instead, and the HPA scales. Under an HPA
the workload's record is written first, then the HPA (marked with the action
id): an operator killed between the two finds the record and must still
raise the floor (:func:`applied`).

A factor with no upper bound written anywhere (no ``maxReplicas`` on the step,
no ``blastRadius.maxReplicas`` or ``maxScaleFactor`` in any policy in scope)
is capped by onduty's default (:func:`default_cap`), and the result says so. A
step that gives ``replicas`` names its own bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, Refused
from onduty.domain.actions.records import last_record, mark, record_metadata
from onduty.domain.policies import BlastRadius
from onduty.domain.workloads import Workload

NAME = "scale"
# The default cap of a factor nobody bounded: at most twice the current replicas, and at most 10 more.
# Twice is the scale-out an engineer reaches for under load, and it can be undone in one step; the
# +10 keeps doubling a large workload from adding hundreds of pods (and their nodes) at once. Without
# a cap, factor 10 took a workload from 2 replicas to 20.
DEFAULT_MAX_FACTOR = 2
DEFAULT_MAX_ADDED = 10


@dataclass(frozen=True)
class Recorded:
    """What the workload's record says of this action: whether it names it, and the HPA it raised, if any."""

    named: bool
    hpa: str | None = None  # when set, the HPA must carry the action id too for the action to be done


def recorded(ctx: Context) -> Recorded:
    record = last_record(ctx.workload, NAME)
    if record.get("actionId") != ctx.action_id:
        return Recorded(False)
    return Recorded(True, str(record["hpa"]) if record.get("hpa") else None)


def default_cap(ctx: Context, current: int) -> int | None:
    """The replicas a factor may reach when nothing else bounds it (see :data:`DEFAULT_MAX_FACTOR`); None if bounded."""
    step, limits = ctx.step, ctx.limits or BlastRadius()
    bounded = (step.max_replicas, limits.max_replicas, limits.max_scale_factor)
    if step.factor is None or any(bound is not None for bound in bounded):
        return None
    return min(current * DEFAULT_MAX_FACTOR, current + DEFAULT_MAX_ADDED)


def default_cap_note(ctx: Context, current: int) -> str | None:
    """What to say when :func:`default_cap` held the step back: the cap, and where a bound could be written."""
    cap = default_cap(ctx, current)
    if cap is None or ctx.step.factor is None or math.ceil(current * ctx.step.factor) <= cap:
        return None
    return (
        f"no maxReplicas in the step or any RemediationPolicy: onduty's default cap of {cap} replicas"
        f" (at most {DEFAULT_MAX_FACTOR}x the current {current}, and at most {DEFAULT_MAX_ADDED} more) applied"
    )


def desired(ctx: Context, current: int) -> int:
    """The replicas the step asks for, clamped to its own min/max; raises :class:`Refused` past a policy's bounds."""
    step, limits = ctx.step, ctx.limits or BlastRadius()
    if step.replicas is not None:
        want = step.replicas
    elif step.factor is not None:
        if current == 0:
            raise Refused(
                "CannotScaleFromZero", f"{ctx.target} has 0 replicas; a factor of {step.factor:g} means nothing"
            )
        want = math.ceil(current * step.factor)
        cap = default_cap(ctx, current)
        want = want if cap is None else min(want, cap)
    else:
        raise Refused("NoScaleGiven", "the step gives neither replicas nor factor")
    want = max(step.min_replicas or 0, min(want, step.max_replicas or want))
    if limits.max_replicas is not None and want > limits.max_replicas:
        raise Refused(
            "BlastRadiusExceeded",
            f"{want} replicas exceed {ctx.limit_of('max_replicas')} maxReplicas {limits.max_replicas}",
        )
    if limits.max_scale_factor is not None and current > 0 and want / current > limits.max_scale_factor:
        raise Refused(
            "BlastRadiusExceeded",
            f"scaling {ctx.target} from {current} to {want} is a factor of {want / current:.2g}, "
            f"over {ctx.limit_of('max_scale_factor')} maxScaleFactor {limits.max_scale_factor:g}",
        )
    if limits.min_available is not None and want < limits.min_available:
        raise Refused(
            "BlastRadiusExceeded",
            f"{want} replicas is below {ctx.limit_of('min_available')} minAvailable {limits.min_available}",
        )
    return want


def change(ctx: Context) -> tuple[int, int]:
    """(current, wanted) replicas; raises :class:`Refused` when there is nothing to change."""
    current = int((ctx.workload.get("spec") or {}).get("replicas", 1))
    want = desired(ctx, current)
    if want == current:
        raise Refused("AlreadyAtScale", f"{ctx.target} already has {current} replicas")
    return current, want


def hpa_of(hpas: list[dict[str, Any]], target: Workload) -> dict[str, Any] | None:
    """The HorizontalPodAutoscaler (of those in the namespace) that scales ``target``, if any."""
    for hpa in hpas:
        ref = hpa["spec"].get("scaleTargetRef") or {}
        if ref.get("kind") == target.kind and ref.get("name") == target.name:
            return dict(hpa)
    return None


@dataclass(frozen=True)
class Plan:
    """The writes, in order: the workload's merge patch, then (under an HPA) the HPA's."""

    workload_patch: dict[str, Any]
    hpa: str | None
    hpa_patch: dict[str, Any] | None
    outcome: Applied


def plan(ctx: Context, current: int, want: int, hpa: dict[str, Any] | None) -> Plan:
    """How to go from ``current`` to ``want`` replicas, with or without the workload's HPA."""
    note = default_cap_note(ctx, current)
    capped = f"; {note}" if note else ""
    if hpa is None:
        return Plan(
            {"metadata": record_metadata(ctx, {"from": current, "to": want}), "spec": {"replicas": want}},
            None,
            None,
            Applied(
                f"replicas {current} → {want}{capped}",
                f"{ctx.target}: spec.replicas {current} -> {want}",
                {"from": current, "to": want},
            ),
        )
    # Fight no HPA: raise its floor instead, and let it scale.
    name, spec = hpa["metadata"]["name"], hpa["spec"]
    if want < current:
        raise Refused(
            "HpaManaged",
            f"HPA {name} manages {ctx.target}; onduty does not scale it down behind the HPA's back",
        )
    if want > int(spec.get("maxReplicas", want)):
        raise Refused("HpaMaxReplicas", f"HPA {name} allows at most {spec.get('maxReplicas')} replicas; {want} asked")
    before = int(spec.get("minReplicas", 1))
    details = {"from": current, "to": want, "hpa": name, "hpaMinBefore": before}
    return Plan(
        {"metadata": record_metadata(ctx, details)},
        name,
        {"metadata": mark(ctx.action_id), "spec": {"minReplicas": want}},
        Applied(
            f"HPA {name} minReplicas {before} → {want} (the HPA scales {ctx.target}){capped}",
            f"HorizontalPodAutoscaler/{name}: minReplicas {before} -> {want}",
            details,
        ),
    )


@dataclass(frozen=True)
class Revert:
    """Back where it was: the HPA's floor (``hpa`` named), else the workload's replicas."""

    hpa: str | None
    patch: dict[str, Any]
    message: str


def revert(record: dict[str, Any]) -> Revert | None:
    """How to undo the scale an action record describes; None when it does not say."""
    details = record.get("details") or {}
    if details.get("hpa"):
        return Revert(
            str(details["hpa"]),
            {"spec": {"minReplicas": details["hpaMinBefore"]}},
            f"HPA {details['hpa']} minReplicas back to {details['hpaMinBefore']}",
        )
    if "from" in details:
        return Revert(None, {"spec": {"replicas": details["from"]}}, f"replicas back to {details['from']}")
    return None
