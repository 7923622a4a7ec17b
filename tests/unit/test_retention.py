"""Retention: a resolved Alert or Incident expires once its retention has passed; an unresolved one never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty import cli
from onduty.domain.retention import (
    DEFAULT_ALERT_RETENTION,
    DEFAULT_INCIDENT_RETENTION,
    expired,
    expires_at,
    parse_retention,
    resolved_since,
)
from onduty.handlers.retention import sweep_interval
from onduty.handlers.runtime import OperatorConfig

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
CREATED = "2024-05-01T00:00:00Z"
DAY = timedelta(days=1)


def alert(state: str, ends_at: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"state": state, "startsAt": "2024-04-30T23:00:00Z"}
    if ends_at is not None:
        spec["endsAt"] = ends_at
    return {"kind": "Alert", "metadata": {"creationTimestamp": CREATED}, "spec": spec}


def incident(phase: str | None, resolved_at: str | None = None, condition_at: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
    if resolved_at is not None:
        status["resolvedAt"] = resolved_at
    if condition_at is not None:
        status["conditions"] = [
            {
                "type": "Resolved",
                "status": "True",
                "reason": "ByHand",
                "message": "",
                "lastTransitionTime": condition_at,
            }
        ]
    return {"kind": "Incident", "metadata": {"creationTimestamp": CREATED}, "status": status}


@pytest.mark.parametrize(
    ("obj", "retention", "is_expired"),
    [
        pytest.param(alert("firing"), DAY, False, id="firing-alert-never"),
        pytest.param(alert("firing", "2024-05-01T00:00:00Z"), DAY, False, id="firing-alert-with-an-end-never"),
        pytest.param(alert("resolved", "2024-05-09T13:00:00Z"), DAY, False, id="alert-resolved-23h-ago"),
        pytest.param(alert("resolved", "2024-05-09T12:00:00Z"), DAY, True, id="alert-resolved-exactly-a-day-ago"),
        pytest.param(alert("resolved", "2024-05-01T12:00:00.5Z"), DAY, True, id="alert-resolved-long-ago"),
        pytest.param(alert("resolved"), DAY, True, id="resolved-alert-without-end-counts-from-creation"),
        pytest.param(alert("resolved", "2024-05-01T12:00:00Z"), None, False, id="alert-retention-off"),
        pytest.param(incident("Open"), DAY, False, id="open-incident-never"),
        pytest.param(incident(None), DAY, False, id="incident-without-phase-never"),
        pytest.param(incident("Escalated", "2024-05-01T00:00:00Z"), DAY, False, id="escalated-incident-never"),
        pytest.param(incident("Mitigated"), DAY, False, id="mitigated-incident-never"),
        pytest.param(incident("Resolved", "2024-05-09T13:00:00Z"), DAY, False, id="incident-resolved-23h-ago"),
        pytest.param(incident("Resolved", "2024-05-09T12:00:00Z"), DAY, True, id="incident-resolved-a-day-ago"),
        pytest.param(
            incident("Resolved", condition_at="2024-05-02T00:00:00Z"), DAY, True, id="incident-resolved-by-condition"
        ),
        pytest.param(
            incident("Resolved", condition_at="2024-05-10T00:00:00Z"), DAY, False, id="incident-condition-recent"
        ),
        pytest.param(incident("Resolved"), DAY, True, id="resolved-incident-without-times-counts-from-creation"),
        pytest.param(incident("Resolved", "2024-05-01T00:00:00Z"), None, False, id="incident-retention-off"),
        pytest.param(
            {"kind": "Runbook", "metadata": {"creationTimestamp": CREATED}}, DAY, False, id="another-kind-never"
        ),
    ],
)
def test_only_what_resolved_longer_ago_than_its_retention_expires(
    obj: dict[str, Any], retention: timedelta | None, is_expired: bool
) -> None:
    assert expired(obj, NOW, retention) is is_expired


def test_an_object_expires_its_retention_after_it_resolved() -> None:
    resolved = alert("resolved", "2024-05-09T12:00:00+02:00")

    assert resolved_since(resolved) == datetime(2024, 5, 9, 10, 0, tzinfo=UTC)
    assert expires_at(resolved, timedelta(hours=3)) == datetime(2024, 5, 9, 13, 0, tzinfo=UTC)
    assert expires_at(alert("firing"), timedelta(hours=3)) is None


@pytest.mark.parametrize(
    ("text", "retention"),
    [
        ("72h", timedelta(hours=72)),
        ("720h", timedelta(days=30)),
        ("1h30m", timedelta(minutes=90)),
        ("2s", timedelta(seconds=2)),
        (" 10m ", timedelta(minutes=10)),
        ("0s", None),
        ("0", None),
    ],
)
def test_a_retention_is_a_duration_and_zero_keeps_for_ever(text: str, retention: timedelta | None) -> None:
    assert parse_retention(text) == retention


@pytest.mark.parametrize("text", ["3 days", "forever", "", "-1h", "1 h"])
def test_a_retention_that_is_no_duration_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_retention(text)


def test_the_defaults_keep_alerts_three_days_and_incidents_thirty() -> None:
    assert timedelta(hours=72) == DEFAULT_ALERT_RETENTION
    assert timedelta(days=30) == DEFAULT_INCIDENT_RETENTION
    assert parse_retention(cli.build_parser().parse_args(["run"]).alert_retention) == DEFAULT_ALERT_RETENTION
    assert parse_retention(cli.build_parser().parse_args(["run"]).incident_retention) == DEFAULT_INCIDENT_RETENTION


def test_the_retentions_read_their_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONDUTY_ALERT_RETENTION", "5m")
    monkeypatch.setenv("ONDUTY_INCIDENT_RETENTION", "0s")

    args = cli.build_parser().parse_args(["run"])

    assert (args.alert_retention, args.incident_retention) == ("5m", "0s")


@pytest.mark.parametrize("option", ["--alert-retention", "--incident-retention"])
def test_a_bad_retention_stops_onduty_at_startup_naming_the_option(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--kubeconfig", "/nonexistent", option, "30 days"]) == 2

    err = capsys.readouterr().err
    assert f"{option}: '30 days' is not a duration; write 30d" in err


@pytest.mark.parametrize(
    ("alerts", "incidents", "seconds"),
    [
        pytest.param(DEFAULT_ALERT_RETENTION, DEFAULT_INCIDENT_RETENTION, 300.0, id="defaults-every-five-minutes"),
        pytest.param(timedelta(minutes=8), None, 120.0, id="a-quarter-of-the-retention"),
        pytest.param(None, timedelta(minutes=4), 60.0, id="only-incidents"),
        pytest.param(timedelta(seconds=2), timedelta(hours=1), 1.0, id="never-more-often-than-a-second"),
        pytest.param(None, None, None, id="nothing-expires-no-sweep"),
    ],
)
def test_sweeps_run_a_quarter_of_the_shorter_retention_apart_within_bounds(
    alerts: timedelta | None, incidents: timedelta | None, seconds: float | None
) -> None:
    config = OperatorConfig(alert_retention=alerts, incident_retention=incidents)

    assert sweep_interval(config) == seconds
