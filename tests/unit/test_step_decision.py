"""One step's decision as one pure function: the facts in, every verdict and the policies' decision out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from onduty.domain import steps
from onduty.domain.guardrails import first_denial
from onduty.domain.policies import Policy, TargetState, parse_policy, parse_policy_or_invalid
from onduty.domain.promql import Comparison
from onduty.domain.silences import Silence

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ALLOW = Policy("allow", parse_policy({"scope": {"namespaces": ["shop"]}, "allowedActions": ["rolloutRestart"]}))
CAPPED = Policy(
    "capped",
    parse_policy(
        {"scope": {"namespaces": ["shop"]}, "allowedActions": ["rolloutRestart"], "concurrency": {"perNamespace": 1}}
    ),
)
CLEAR = steps.StepFacts(
    action="rolloutRestart",
    target="Deployment/web",
    target_found=True,
    now=NOW,
    cooldown=timedelta(minutes=15),
    labels={"alertname": "KubePodCrashLooping", "namespace": "shop"},
    in_force=(ALLOW,),
    target_state=TargetState("shop"),
)
RATIO = Comparison(expr="error_ratio", op=">", threshold=0.05)


def _silence(matchers: list[dict[str, object]]) -> Silence:
    return Silence.from_api(
        {
            "id": "s-1",
            "matchers": matchers,
            "startsAt": "2026-11-30T11:00:00Z",
            "endsAt": "2026-11-30T13:00:00Z",
            "createdBy": "alice",
            "comment": "deploying",
            "status": {"state": "active"},
        }
    )


def test_all_clear_gives_every_verdict_in_order_and_no_denial() -> None:
    verdicts, decision = steps.decide(CLEAR)

    assert [v.guardrail for v in verdicts] == [
        "Pause",
        "Target",
        "Cooldown",
        "Silence",
        "Policy",
        "AllowedActions",
        "MaintenanceWindow",
        "ChangeFreeze",
        "PolicyCooldown",
        "RateLimit",
        "Concurrency",
        "BlastRadius",
    ]
    assert first_denial(verdicts) is None
    assert (decision.dry_run, decision.policies) == (False, ("allow",))


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (replace(CLEAR, incident_paused=True), "AutomationPaused"),
        (replace(CLEAR, cluster_paused=True), "AutomationPaused"),
        (replace(CLEAR, target_found=False), "TargetNotFound"),
        (
            replace(CLEAR, unreadable_state="annotation onduty.dev/action-history cannot be read"),
            "GuardrailStateUnreadable",
        ),
        (
            replace(CLEAR, target_state=TargetState("shop", last_same_action=NOW - timedelta(minutes=5))),
            "CooldownActive",
        ),
        (replace(CLEAR, silence=steps.SilenceFacts(error="connection refused")), "SilenceCheckFailed"),
        (
            replace(
                CLEAR,
                silence=steps.SilenceFacts((_silence([{"name": "alertname", "value": "Kube.*", "isRegex": True}]),)),
            ),
            "Silenced",
        ),
        (replace(CLEAR, condition=steps.ConditionFacts(RATIO, (0.01,))), "ConditionNotMet"),
        (replace(CLEAR, condition=steps.ConditionFacts(RATIO, ())), "ConditionNotMet"),  # no data is "no"
        (replace(CLEAR, condition=steps.ConditionFacts(RATIO, None, "Prometheus unavailable")), "ConditionUnknown"),
        (replace(CLEAR, in_force=()), None),  # no policy: allowed, as a dry run
        (
            replace(
                CLEAR,
                in_force=(
                    ALLOW,
                    parse_policy_or_invalid("bad", {"allowedActions": ["rolloutRestart"], "cooldown": "x"}),
                ),
            ),
            "PolicyInvalid",
        ),
    ],
    ids=[
        "incident-paused",
        "cluster-paused",
        "no-target",
        "unreadable-state",
        "cooldown",
        "alertmanager-down",
        "silenced-by-regex",
        "condition-false",
        "condition-no-data",
        "condition-unknown",
        "no-policy",
        "invalid-policy",
    ],
)
def test_the_first_denial_decides(facts: steps.StepFacts, reason: str | None) -> None:
    verdicts, _ = steps.decide(facts)

    denial = first_denial(verdicts)
    assert (denial.reason if denial else None) == reason


def test_a_silence_that_does_not_match_does_not_hold() -> None:
    other = _silence([{"name": "alertname", "value": "Kube.*", "isRegex": True, "isEqual": False}])

    verdicts, _ = steps.decide(replace(CLEAR, silence=steps.SilenceFacts((other,))))

    assert {v.guardrail: v.reason for v in verdicts}["Silence"] == "NotSilenced"


def test_the_condition_met_is_recorded_with_its_values() -> None:
    verdicts, _ = steps.decide(replace(CLEAR, condition=steps.ConditionFacts(RATIO, (0.2,))))

    condition = {v.guardrail: v for v in verdicts}["Condition"]
    assert condition.reason == "ConditionMet" and "0.2" in condition.message


def test_the_budget_is_judged_only_with_the_actions_in_flight_counted() -> None:
    facts = replace(CLEAR, in_force=(CAPPED,))
    assert steps.needs_in_flight(facts) and not steps.needs_in_flight(CLEAR)

    verdicts, _ = steps.decide(steps.with_in_flight(facts, cluster_wide=3, here=1))

    denial = first_denial(verdicts)
    assert denial is not None and (denial.reason, "capped" in denial.message) == ("ConcurrencyLimited", True)
    assert first_denial(steps.decide(steps.with_in_flight(facts, cluster_wide=3, here=0))[0]) is None


def test_no_policy_means_a_dry_run() -> None:
    _, decision = steps.decide(replace(CLEAR, in_force=()))

    assert decision.dry_run and decision.policies == ()
