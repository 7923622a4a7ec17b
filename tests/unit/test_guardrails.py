"""Guardrails: a verdict before every action, allowed or denied with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onduty.domain.guardrails import (
    Verdict,
    allowed,
    check_cooldown,
    check_pause,
    check_target_exists,
    first_denial,
)

LAST = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
COOLDOWN = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("last_action_at", "now", "allowed_", "reason", "message_part"),
    [
        pytest.param(None, LAST, True, "NoRecentAction", "no earlier rolloutRestart", id="never-acted"),
        pytest.param(
            LAST,
            LAST + timedelta(minutes=5),
            False,
            "CooldownActive",
            "cooldown 15m ends at 2024-05-01T12:15:00Z (in 10m)",
            id="within",
        ),
        pytest.param(
            LAST,
            LAST + COOLDOWN - timedelta(seconds=1),
            False,
            "CooldownActive",
            "(in 1s)",
            id="one-second-before-the-end",
        ),
        pytest.param(LAST, LAST + COOLDOWN, True, "CooldownElapsed", "cooldown 15m has passed", id="exactly-at-end"),
        pytest.param(LAST, LAST + timedelta(hours=3), True, "CooldownElapsed", "at 2024-05-01T12:00:00Z", id="after"),
        pytest.param(LAST, LAST, False, "CooldownActive", "(in 15m)", id="same-instant"),
    ],
)
def test_the_same_action_waits_out_its_cooldown(
    last_action_at: datetime | None, now: datetime, allowed_: bool, reason: str, message_part: str
) -> None:
    verdict = check_cooldown(last_action_at=last_action_at, cooldown=COOLDOWN, now=now, action="rolloutRestart")

    assert (verdict.guardrail, verdict.allowed, verdict.reason) == ("Cooldown", allowed_, reason)
    assert message_part in verdict.message


@pytest.mark.parametrize(
    ("incident_paused", "namespace_paused", "allowed_", "reason", "where"),
    [
        (False, False, True, "NotPaused", "no pause annotation"),
        (True, False, False, "AutomationPaused", "on this incident"),
        (False, True, False, "AutomationPaused", "for this namespace"),
        (True, True, False, "AutomationPaused", "on this incident"),
    ],
)
def test_a_pause_on_the_incident_or_its_namespace_stops_automation(
    incident_paused: bool, namespace_paused: bool, allowed_: bool, reason: str, where: str
) -> None:
    verdict = check_pause(incident_paused=incident_paused, namespace_paused=namespace_paused)

    assert (verdict.guardrail, verdict.allowed, verdict.reason) == ("Pause", allowed_, reason)
    assert where in verdict.message


@pytest.mark.parametrize(
    ("exists", "allowed_", "reason"), [(True, True, "TargetFound"), (False, False, "TargetNotFound")]
)
def test_an_action_needs_its_target_to_exist(exists: bool, allowed_: bool, reason: str) -> None:
    verdict = check_target_exists(exists=exists, target="Deployment/web")

    assert (verdict.allowed, verdict.reason) == (allowed_, reason)
    assert "Deployment/web" in verdict.message


OK_A = Verdict("Pause", True, "NotPaused", "")
OK_B = Verdict("Target", True, "TargetFound", "")
NO_A = Verdict("Cooldown", False, "CooldownActive", "")
NO_B = Verdict("Target", False, "TargetNotFound", "")


@pytest.mark.parametrize(
    ("verdicts", "all_allowed", "denial"),
    [
        ([], True, None),
        ([OK_A], True, None),
        ([OK_A, OK_B], True, None),
        ([NO_A], False, NO_A),
        ([OK_A, NO_A, NO_B], False, NO_A),
        ([OK_A, NO_B, NO_A], False, NO_B),
    ],
)
def test_an_action_runs_only_if_every_verdict_allows_it(
    verdicts: list[Verdict], all_allowed: bool, denial: Verdict | None
) -> None:
    assert allowed(verdicts) is all_allowed
    assert first_denial(verdicts) == denial


def test_a_verdict_is_recorded_with_all_its_fields() -> None:
    assert NO_A.to_dict() == {"guardrail": "Cooldown", "allowed": False, "reason": "CooldownActive", "message": ""}
