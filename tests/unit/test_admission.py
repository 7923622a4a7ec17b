"""What the admission webhook judges (the operator's own parsers), and reporting a refusal once per change."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from onduty.adapters.certificates import self_signed
from onduty.domain.admission import BY_PLURAL, CHECKED_KINDS, refusal, spec_problem
from onduty.handlers.admission import WebhookOptions, handler_id
from onduty.handlers.refusals import newly_refused

GOOD_POLICY = {"scope": {"namespaces": ["shop"]}, "allowedActions": ["rolloutRestart"]}


def _runbook(**step: Any) -> dict[str, Any]:
    return {
        "match": {"alertnames": ["HighErrorRate"]},
        "remediation": {"steps": [{"name": "restart", "action": "rolloutRestart", **step}]},
    }


@pytest.mark.parametrize(
    ("plural", "spec", "words"),
    [
        (
            "remediationpolicies",
            {**GOOD_POLICY, "changeFreezes": [{"cron": "0 18 * * 5", "duration": "64h", "timeZone": "Mars/Olympus"}]},
            ["spec.changeFreezes[0].timeZone", "'Mars/Olympus'"],
        ),
        (
            "remediationpolicies",
            {**GOOD_POLICY, "maintenanceWindows": [{"cron": "0 2 * * *", "duration": "1h", "timeZone": "Berlin"}]},
            ["spec.maintenanceWindows[0].timeZone", "'Berlin'"],
        ),
        (
            "runbooks",
            _runbook(condition={"expr": "sum(rate(x[5m])", "op": ">", "threshold": 1}),
            ["spec.remediation.steps[0].condition.expr", "cannot parse PromQL", "'sum(rate(x[5m])'"],
        ),
        (
            "runbooks",
            _runbook(verify={"promql": {"expr": "up{job=", "op": "<", "threshold": 1, "within": "3m"}}),
            ["verify.promql.expr", "cannot parse PromQL", "'up{job='"],
        ),
        (
            "runbooks",
            {**_runbook(), "diagnostics": [{"name": "errors", "type": "promql", "expr": "rate(x[5m]) +"}]},
            ["spec.diagnostics[0]", "expr", "cannot parse PromQL"],
        ),
        ("escalationpolicies", "not a mapping", ["spec: expected a mapping"]),
    ],
)
def test_a_spec_onduty_cannot_use_is_refused_naming_the_field_and_value(
    plural: str, spec: Any, words: list[str]
) -> None:
    problem = spec_problem(plural, spec)

    assert problem is not None
    for word in words:
        assert word in problem


@pytest.mark.parametrize(
    ("plural", "spec"),
    [
        ("remediationpolicies", GOOD_POLICY),
        (
            "remediationpolicies",
            {**GOOD_POLICY, "changeFreezes": [{"cron": "0 18 * * 5", "duration": "64h", "timeZone": "Europe/Berlin"}]},
        ),
        (
            "runbooks",
            _runbook(
                condition={"expr": 'sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m]))', "op": ">", "threshold": 0.05}
            ),
        ),
    ],
)
def test_a_spec_onduty_can_use_passes(plural: str, spec: dict[str, Any]) -> None:
    assert spec_problem(plural, spec) is None


def test_every_kind_users_write_is_judged_and_each_has_its_own_path() -> None:
    assert {k.kind for k in CHECKED_KINDS} == {
        "Runbook",
        "RemediationPolicy",
        "EscalationPolicy",
        "Notifier",
        "OnCallSchedule",
    }
    assert len({handler_id(k.plural) for k in CHECKED_KINDS}) == len(CHECKED_KINDS)
    assert set(BY_PLURAL) == {k.plural for k in CHECKED_KINDS}


def test_the_refusal_names_the_kind_and_the_object() -> None:
    assert refusal("Runbook", "shop", "restart", "spec.x: bad") == "onduty cannot use Runbook shop/restart: spec.x: bad"
    assert refusal("RemediationPolicy", None, "freeze", "p").startswith("onduty cannot use RemediationPolicy freeze:")


def _accepted(status: str, generation: int, message: str = "spec: bad", reason: str = "InvalidSpec") -> dict:
    condition = {
        "type": "Accepted",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }
    return {"conditions": [condition]}


@pytest.mark.parametrize(
    ("before", "after", "reported"),
    [
        ({}, _accepted("False", 1), True),  # first seen
        (_accepted("True", 1), _accepted("False", 2), True),  # an edit broke it
        (_accepted("False", 1), _accepted("False", 2), True),  # another broken edit
        (_accepted("False", 2), _accepted("False", 2, "spec: other"), True),  # new words for the same generation
        (_accepted("False", 2), _accepted("False", 2), False),  # a restart or a resync: already said
        ({}, _accepted("True", 1), False),
        (_accepted("False", 1), _accepted("True", 2), False),
    ],
)
def test_a_refusal_is_reported_once_per_change(before: dict, after: dict, reported: bool) -> None:
    assert (newly_refused(before, after) is not None) is reported


def test_a_self_signed_certificate_serves_tls_for_its_hosts(tmp_path: Path) -> None:
    certificate = self_signed(["127.0.0.1", "onduty.local"], tmp_path, now=datetime.now(UTC))

    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certificate.certfile, certificate.keyfile)
    client = ssl.create_default_context(cadata=certificate.certfile.read_text())
    assert client.get_ca_certs()[0]["subjectAltName"] == (("IP Address", "127.0.0.1"), ("DNS", "onduty.local"))
    assert certificate.keyfile.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("options", "host"),
    [
        (WebhookOptions(), "127.0.0.1"),
        (WebhookOptions(address="0.0.0.0"), "127.0.0.1"),
        (WebhookOptions(address="::"), "127.0.0.1"),
        (WebhookOptions(address="0.0.0.0", host="onduty.example"), "onduty.example"),
        (WebhookOptions(address="10.1.2.3"), "10.1.2.3"),
    ],
)
def test_the_api_server_calls_the_webhook_at_its_host_else_its_address(options: WebhookOptions, host: str) -> None:
    assert options.reachable_host == host
