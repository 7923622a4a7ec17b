"""One remediation step's decision, as one pure function: every guardrail's verdict, and what to do.

The remediation worker gathers what the step needs to know once (the incident's
and namespaces' pause annotations, the target and its record of past actions,
Alertmanager's silences, the condition's PromQL values, the policies in force,
the actions in flight) into :class:`StepFacts`, calls :func:`decide`, then acts
and records. The whole safety model of DESIGN.md reads top to bottom here::

    facts = StepFacts(action="rolloutRestart", target="Deployment/web", ...)
    verdicts, decision = decide(facts)
    first_denial(verdicts)   # None: the action may run (as a dry run if decision.dry_run)

Verdicts come in a fixed order: pause, target, the state they are judged on,
cooldown, silence, condition, then the policies' (scope, allowed actions,
windows, freezes, policy cooldown, rate limit, concurrency, blast radius).
The first denial decides; every verdict is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from onduty.domain import controls, guardrails, policies, promql
from onduty.domain.guardrails import Verdict
from onduty.domain.silences import Silence, covering


@dataclass(frozen=True)
class SilenceFacts:
    """What Alertmanager said: its silences, or why it could not be asked (None: not configured)."""

    silences: tuple[Silence, ...] = ()
    error: str | None = None
    configured: bool = True


@dataclass(frozen=True)
class ConditionFacts:
    """The step's PromQL condition and what Prometheus returned for it (``values`` None: unknown, with ``error``)."""

    comparison: promql.Comparison
    values: tuple[float, ...] | None
    error: str | None = None


@dataclass(frozen=True)
class StepFacts:
    action: str
    target: str  # "Deployment/web", as verdicts name it
    target_found: bool
    now: datetime
    cooldown: timedelta  # the step's own cooldown
    labels: dict[str, str] = field(default_factory=dict)  # the incident's labels, namespace included (silences)
    incident_paused: bool = False
    namespace_paused: bool = False
    cluster_paused: bool = False
    unreadable_state: str | None = None  # why the target's record of past actions cannot be read
    silence: SilenceFacts = field(default_factory=lambda: SilenceFacts(configured=False))
    condition: ConditionFacts | None = None
    in_force: Sequence[policies.Policy | policies.InvalidPolicy] = ()  # every RemediationPolicy, valid or not
    target_state: policies.TargetState = field(default_factory=lambda: policies.TargetState(namespace=""))
    # A dry run a human approved to run for real (onduty.domain.controls), and the target as read now.
    for_real: controls.ForReal | None = None
    target_object: Mapping[str, Any] | None = None


def decide(facts: StepFacts) -> tuple[list[Verdict], policies.Decision]:
    """Every verdict for the step, and the policies' decision (dry run, approval, limits, grants)."""
    verdicts = [
        guardrails.check_pause(
            incident_paused=facts.incident_paused,
            namespace_paused=facts.namespace_paused,
            cluster_paused=facts.cluster_paused,
        ),
        guardrails.check_target_exists(exists=facts.target_found, target=facts.target),
    ]
    if facts.target_found:
        if facts.unreadable_state is not None:  # fail closed: what cannot be read cannot allow
            verdicts.append(Verdict("State", False, "GuardrailStateUnreadable", facts.unreadable_state))
        verdicts.append(
            guardrails.check_cooldown(
                last_action_at=facts.target_state.last_same_action,
                cooldown=facts.cooldown,
                now=facts.now,
                action=facts.action,
            )
        )
    verdicts.append(_silence(facts))
    if facts.condition is not None:
        condition = facts.condition
        evaluation = promql.evaluate(condition.comparison, condition.values, error=condition.error)
        verdicts.append(guardrails.check_condition(holds=evaluation.holds, message=evaluation.message))
    decision = policies.decide(facts.in_force, facts.action, facts.target_state, facts.now)
    if facts.for_real is not None:  # the change its dry run showed, only on the target it showed it for
        verdicts.append(controls.check_unchanged(facts.for_real, facts.target, facts.target_object))
        decision = replace(decision, dry_run=False)
    return verdicts + list(decision.verdicts), decision


def with_in_flight(facts: StepFacts, *, cluster_wide: int, here: int) -> StepFacts:
    """The same facts with the actions in flight counted (under the budget lock, just before claiming)."""
    return replace(
        facts, target_state=replace(facts.target_state, in_flight_cluster=cluster_wide, in_flight_namespace=here)
    )


def needs_in_flight(facts: StepFacts) -> bool:
    """Counting the actions in flight reads every incident: only when a policy in scope sets a cap."""
    return any(p.spec.concurrency for p in policies.in_scope(facts.in_force, facts.target_state))


def _silence(facts: StepFacts) -> Verdict:
    if not facts.silence.configured:
        return Verdict("Silence", True, "SilencesNotChecked", "no Alertmanager configured (--alertmanager-url)")
    if facts.silence.error is not None:
        return guardrails.check_silence(silence_id=None, error=facts.silence.error)
    hit = covering(facts.silence.silences, facts.labels, facts.now)
    if hit is None:
        return guardrails.check_silence(silence_id=None)
    return guardrails.check_silence(silence_id=hit.id, created_by=hit.created_by, comment=hit.comment)
