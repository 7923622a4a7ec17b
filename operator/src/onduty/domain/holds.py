"""Holds: a denial that will pass by itself makes the step wait for it; one that will not says what would change it.

Every denial reason is one of three kinds (README, "Held and final denials", has the table):

* **paused** — a human said stop (``AutomationPaused``); the step waits until the
  annotation goes, with no time of its own;
* **passing** — it passes by itself: a cooldown ends, a maintenance window opens, a
  change freeze ends, a rate-limit slot frees, a silence ends (the time is
  computed from the same facts the guardrail judged), or a concurrency slot
  frees / Alertmanager answers again (no time: judged again when an incident
  changes, or when Alertmanager, asked every poll interval, answers);
* **final** — nothing that happens by itself will change it (an action no policy
  allows, the blast radius, a missing target, an invalid policy, unreadable
  state, a false or unknown condition, anything not named here: fail closed).

A passing denial **holds** the step: the hold is recorded on the step's action
(``held: {reason, message, since, until}``), the incident says what it waits for
(``status.waitingFor``, phase ``Held``), and when ``until`` comes every guardrail
is judged again (a hold is not an approval). A hold is bounded: a step never
waits longer than :data:`MAX_HOLD` from its first hold; one that would is a
final denial that says so.

::

    denial = deciding(verdicts)            # the verdict that decides, or None
    kind(denial.reason)                    # "paused" | "passing" | "final"
    outcome = hold(facts, denial, since=None)
    isinstance(outcome, Hold)              # wait until outcome.next_look(), or a change
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from onduty.domain import policies
from onduty.domain.durations import format_duration, parse_duration
from onduty.domain.guardrails import Verdict
from onduty.domain.silences import covering
from onduty.domain.steps import StepFacts
from onduty.domain.times import rfc3339

Kind = Literal["paused", "passing", "final"]

PAUSED_REASONS = frozenset({"AutomationPaused"})
# Denials that pass by themselves. Silences pass too: Alertmanager's silences all end.
PASSING_REASONS = frozenset(
    {
        "CooldownActive",
        "OutsideMaintenanceWindow",
        "ChangeFreeze",
        "RateLimited",
        "ConcurrencyLimited",
        "Silenced",
        "SilenceCheckFailed",
    }
)

# What a human said "not now" with (or whether they did cannot be read): these decide alone.
HUMAN_HOLDS = frozenset({"AutomationPaused", "Silenced", "SilenceCheckFailed"})

# The longest a step waits, from its first hold. Six hours covers a night's maintenance
# window or a working day's freeze; an action planned for an incident more than six hours
# old is one a human should judge again rather than automation run unseen.
MAX_HOLD = timedelta(hours=6)
# A held step is judged again when its time comes, and at once when something it is judged on
# changes where a watch shows it: the incident (a pause, a resolution), its namespace or
# onduty's (a pause), a RemediationPolicy's spec (services/wakeups.py). At rest, a hold
# costs no request. What no watch shows is looked at on an interval instead:
# Alertmanager's silences — a human may expire one early, or Alertmanager answers again —
# are asked every poll interval (Alertmanager, never the API server, until they change).
ALERTMANAGER_HOLDS = frozenset({"Silenced", "SilenceCheckFailed"})
# A concurrency slot frees when another incident's action ends: an incident's watch event.
# A held step looks again on such an event, at most this often, so a storm of incident
# writes does not make every held step judge itself again on each.
RECHECK = timedelta(seconds=5)


def kind(reason: str) -> Kind:
    """Whether a denial with ``reason`` is a human's pause, passes by itself, or is final (unknown: final)."""
    if reason in PAUSED_REASONS:
        return "paused"
    if reason in PASSING_REASONS:
        return "passing"
    return "final"


def deciding(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The denial that decides the step.

    A human's "not now" — a pause, an Alertmanager silence (or silences that cannot
    be read) — decides alone: while a human holds automation, nothing is judged for
    good (a condition not yet met, say). Otherwise a final denial decides over a
    passing one: waiting for a cooldown to end only to be refused by a policy then
    helps nobody. Otherwise the first denial decides.
    """
    denials = [v for v in verdicts if not v.allowed]
    if not denials:
        return None
    human = next((v for v in denials if v.reason in HUMAN_HOLDS), None)
    if human is not None:
        return human
    return next((v for v in denials if kind(v.reason) == "final"), denials[0])


@dataclass(frozen=True)
class Hold:
    reason: str
    message: str
    since: datetime  # the step's first hold: the bound counts from here
    until: datetime | None  # when the denial passes (None: not known; look again after RECHECK)

    @property
    def limit(self) -> datetime:
        return self.since + MAX_HOLD

    def to_dict(self) -> dict[str, Any]:
        held = {"reason": self.reason, "message": self.message, "since": rfc3339(self.since)}
        if self.until is not None:
            held["until"] = rfc3339(self.until)
        return held

    def next_look(self) -> datetime:
        """When to judge the step again if nothing it is judged on is seen changing: when the denial
        passes, or at the bound of the wait."""
        return min(self.until or self.limit, self.limit)


def hold(facts: StepFacts, denial: Verdict, *, since: datetime | None) -> Hold | Verdict:
    """The hold a passing (or paused) ``denial`` puts on the step, or the final denial it becomes past MAX_HOLD.

    ``since`` is the step's first hold as recorded (None: this is the first).
    """
    now = facts.now
    start = since or now
    until = passes_at(facts, denial)
    if kind(denial.reason) == "paused":
        return Hold(denial.reason, denial.message, start, None)
    limit = start + MAX_HOLD
    longest = format_duration(MAX_HOLD)
    if now >= limit:
        return Verdict(
            denial.guardrail,
            False,
            "HoldExpired",
            f"{denial.message}; the step has been held since {rfc3339(start)}, and a step waits {longest} at most:"
            " it no longer runs by itself (run it by hand if it is still needed)",
        )
    if until is not None and until > limit:
        return Verdict(
            denial.guardrail,
            False,
            "HoldTooLong",
            f"{denial.message}; that passes at {rfc3339(until)}, later than a step waits ({longest} from"
            f" {rfc3339(start)}): the step does not run by itself (run it by hand when it may)",
        )
    return Hold(denial.reason, denial.message, start, until)


def passes_at(facts: StepFacts, denial: Verdict) -> datetime | None:
    """When ``denial`` passes, judged on the same facts; None when there is no time to compute."""
    state = facts.target_state
    now = facts.now
    scoped = sorted(policies.in_scope(facts.in_force, state), key=lambda p: p.name)
    if denial.reason == "CooldownActive" and state.last_same_action is not None:
        if denial.guardrail == "Cooldown":
            return state.last_same_action + facts.cooldown
        floors = [parse_duration(p.spec.cooldown) for p in scoped if p.spec.cooldown]
        return state.last_same_action + max(floors) if floors else None
    if denial.reason == "OutsideMaintenanceWindow":
        for policy in scoped:
            windows = [w.window() for w in policy.spec.maintenance_windows]
            if windows and not any(w.contains(now) for w in windows):
                opens = [t for t in (w.opens_after(now) for w in windows) if t is not None]
                return min(opens) if opens else None
        return None
    if denial.reason == "ChangeFreeze":
        ends = [
            end
            for policy in scoped
            for spec in policy.spec.change_freezes
            if (end := spec.window().closes_after(now)) is not None
        ]
        return max(ends) if ends else None
    if denial.reason == "RateLimited":
        frees = []
        for policy in scoped:
            limit = policy.spec.rate_limit
            if limit is None:
                continue
            per = parse_duration(limit.per)
            counted = sorted(t for t in state.recent_actions if t > now - per)
            if len(counted) >= limit.max_actions:
                # Below the limit once all but max_actions - 1 of them have aged out.
                frees.append(counted[len(counted) - limit.max_actions] + per)
        return max(frees) if frees else None
    if denial.reason == "Silenced" and facts.silence.configured:
        hit = covering(facts.silence.silences, facts.labels, now)
        return hit.ends_at if hit is not None else None
    return None


def what_would_change(facts: StepFacts, denial: Verdict) -> str:
    """For a final denial: what a person would change to let the step run ("" when the message says it)."""
    scope = f"namespace {facts.target_state.namespace}"
    scoped = sorted(policies.in_scope(facts.in_force, facts.target_state), key=lambda p: p.name)
    reason = denial.reason
    if reason == "ActionNotAllowed":
        refusing = [p.name for p in scoped if facts.action not in p.spec.allowed_actions]
        return (
            f"{facts.action} is not in spec.allowedActions of RemediationPolicy {', '.join(refusing)}, in scope for"
            f" {scope}: add it there (every policy in scope must allow it) to let this step run"
        )
    if reason == "ClusterScopedActionNotAllowed":
        return (
            f"a platform owner adds {facts.action} to spec.allowClusterScopedActions of every RemediationPolicy in"
            f" scope for {scope}"
        )
    if reason == "TooManyWorkloads":
        return "raise spec.blastRadius.maxWorkloadsPerIncident of the policy named, or act by hand"
    if reason in ("TargetNotFound", "NoTarget"):
        return "create the target, or name an existing one in the step's target or the incident's spec.workload"
    if reason == "PolicyInvalid":
        return "fix the policy: `kubectl describe remediationpolicy` shows why it is not valid"
    if reason == "GuardrailStateUnreadable":
        return "repair or remove the target's onduty.dev annotations named, so its past actions can be read"
    if reason == "ConditionNotMet":
        return "the step runs only if its condition holds when the step comes up; it is judged once"
    if reason == "ConditionUnknown":
        return "the condition must be readable (Prometheus reachable, --prometheus-url set) when the step comes up"
    return ""


def final(facts: StepFacts, denial: Verdict) -> Verdict:
    """The final denial with what would change it added to its message."""
    hint = what_would_change(facts, denial)
    if not hint:
        return denial
    return Verdict(denial.guardrail, False, denial.reason, f"{denial.message}; {hint}")
