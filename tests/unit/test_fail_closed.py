"""Guardrails that fail closed: slots freed at resolution, every rate limit enforced, unreadable state and
invalid policies deny, conflicts back off with jitter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.adapters.kube import CONFLICT_BACKOFF_CAP, conflict_backoff
from onduty.domain import incidents
from onduty.domain.actions import records
from onduty.domain.actions.context import Context
from onduty.domain.annotations import ACTION_HISTORY_ANNOTATION, last_action_annotation
from onduty.domain.policies import (
    MAX_RATE_LIMIT_ACTIONS,
    InvalidPolicy,
    Policy,
    TargetState,
    decide,
    parse_policy,
    parse_policy_or_invalid,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _action(id_: str, state: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "step": id_,
        "action": "rolloutRestart",
        "target": {"kind": "Deployment", "name": "web"},
        "state": state,
        **extra,
    }


# --- resolution frees what the incident held ----------------------------------------------------


def test_resolving_closes_every_open_action_with_its_outcome() -> None:
    status: dict[str, Any] = {
        "phase": "Remediating",
        "actions": [
            _action("applied", "Applied", startedAt="t", appliedAt="t"),
            _action("claimed", "Pending", startedAt="t"),
            _action("waiting", "AwaitingApproval"),
            _action("unstarted", "Pending"),
            _action("done", "Succeeded"),
        ],
    }

    entries = incidents.resolve(status, now=NOW, reason="AlertsResolved", message="all alerts resolved")

    by_id = {a["id"]: a for a in status["actions"]}
    assert [(by_id[i]["state"], by_id[i].get("reason")) for i in ("applied", "claimed", "waiting", "unstarted")] == [
        ("Closed", "IncidentResolved"),
        ("Closed", "IncidentResolved"),
        ("Denied", "IncidentResolved"),
        ("Denied", "IncidentResolved"),
    ]
    assert by_id["done"]["state"] == "Succeeded" and "finishedAt" not in by_id["done"]
    assert all(by_id[i]["finishedAt"] for i in ("applied", "claimed", "waiting", "unstarted"))
    assert [e.reason for e in entries] == ["RemediationClosed"] * 4 + ["IncidentResolved"]
    assert status["phase"] == "Resolved"


def _incident(namespace: str, *actions_: dict[str, Any], resolved: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"actions": list(actions_)}
    if resolved:
        status["phase"] = "Resolved"
    return {"metadata": {"namespace": namespace}, "status": status}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], (0, 0)),
        ([_incident("shop", _action("a", "Applied"))], (1, 1)),
        ([_incident("other", _action("a", "Applied"))], (1, 0)),
        ([_incident("shop", _action("a", "Pending", startedAt="t"))], (1, 1)),
        ([_incident("shop", _action("a", "Pending"))], (0, 0)),  # not claimed yet
        ([_incident("shop", _action("a", "AwaitingApproval"))], (0, 0)),
        ([_incident("shop", _action("a", "Succeeded"), _action("b", "Closed"), _action("c", "Failed"))], (0, 0)),
        ([_incident("shop", _action("me", "Pending", startedAt="t"))], (0, 0)),  # the one being judged
        ([_incident("shop", _action("a", "Applied"), resolved=True)], (0, 0)),  # a resolved incident holds nothing
        ([_incident("shop", _action("a", "Applied")), _incident("other", _action("b", "Applied"))], (2, 1)),
    ],
)
def test_actions_in_flight_are_counted_from_the_incidents(
    items: list[dict[str, Any]], expected: tuple[int, int]
) -> None:
    assert incidents.in_flight(items, namespace="shop", exclude="me") == expected


# --- the target's record of past actions -------------------------------------------------------------


def _workload(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": "1", "annotations": annotations}}


def test_the_history_keeps_enough_times_for_the_largest_rate_limit() -> None:
    assert records.HISTORY_LIMIT >= MAX_RATE_LIMIT_ACTIONS
    times = [(NOW - timedelta(seconds=i)).isoformat().replace("+00:00", "Z") for i in range(1200, 0, -1)]
    workload = _workload(**{ACTION_HISTORY_ANNOTATION: json.dumps(times)})

    assert len(records.history(workload)) == 1200
    from onduty.domain.runbooks import Step

    ctx = Context(
        target=None,  # record_metadata does not read the target
        workload=workload,
        action_id="inc.restart",
        step=Step.model_validate({"name": "restart", "action": "rolloutRestart"}),
        incident={"metadata": {"namespace": "shop", "name": "inc"}},
        limits=None,
        allow_suspend_automated_sync=False,
        now=NOW,
    )
    kept = json.loads(records.record_metadata(ctx)["annotations"][ACTION_HISTORY_ANNOTATION])
    assert len(kept) == records.HISTORY_LIMIT and kept[-1] == "2026-11-30T12:00:00Z"


def test_a_rate_limit_of_a_thousand_is_enforced_from_the_kept_history() -> None:
    policy = Policy(
        "p", parse_policy({"allowedActions": ["rolloutRestart"], "rateLimit": {"maxActions": 1000, "per": "24h"}})
    )
    recent = tuple(NOW - timedelta(seconds=i) for i in range(1, 1001))

    verdicts = {
        v.guardrail: v
        for v in decide([policy], "rolloutRestart", TargetState("shop", recent_actions=recent), NOW).verdicts
    }

    assert (verdicts["RateLimit"].allowed, verdicts["RateLimit"].reason) == (False, "RateLimited")


@pytest.mark.parametrize(
    "annotations",
    [
        {ACTION_HISTORY_ANNOTATION: "not json"},
        {ACTION_HISTORY_ANNOTATION: '{"a": 1}'},
        {ACTION_HISTORY_ANNOTATION: '["yesterday"]'},
    ],
)
def test_an_unreadable_history_is_an_error_not_an_empty_history(annotations: dict[str, str]) -> None:
    with pytest.raises(records.UnreadableState) as error:
        records.history(_workload(**annotations))
    assert ACTION_HISTORY_ANNOTATION in str(error.value)


@pytest.mark.parametrize("raw", ["{", "[]", '"x"', '{"at": 5}'])
def test_an_unreadable_last_action_record_is_an_error(raw: str) -> None:
    with pytest.raises(records.UnreadableState):
        records.last_record(_workload(**{last_action_annotation("scale"): raw}), "scale")


def test_no_record_is_no_record() -> None:
    assert records.history(_workload()) == []
    assert records.last_record(_workload(), "scale") == {}


# --- an invalid policy governs its scope by refusing ------------------------------------------------


STRICT_BAD = {"scope": {"namespaces": ["shop"]}, "allowedActions": ["rolloutRestart"], "cooldown": "soon"}
PERMISSIVE = Policy("permissive", parse_policy({"allowedActions": ["rolloutRestart"]}))


def test_an_invalid_policy_in_scope_denies_rather_than_dropping_out() -> None:
    invalid = parse_policy_or_invalid("strict", STRICT_BAD)
    assert isinstance(invalid, InvalidPolicy)

    decision = decide([PERMISSIVE, invalid], "rolloutRestart", TargetState("shop"), NOW)

    [verdict] = decision.verdicts
    assert (verdict.allowed, verdict.reason) == (False, "PolicyInvalid")
    assert "strict" in verdict.message and "spec.cooldown" in verdict.message


def test_an_invalid_policy_out_of_scope_changes_nothing() -> None:
    invalid = parse_policy_or_invalid("strict", STRICT_BAD)

    decision = decide([PERMISSIVE, invalid], "rolloutRestart", TargetState("elsewhere"), NOW)

    assert decision.allowed and decision.policies == ("permissive",)


def test_an_invalid_policy_whose_scope_does_not_parse_covers_everything() -> None:
    invalid = parse_policy_or_invalid("broken", {"scope": {"namespaces": "shop"}, "allowedActions": ["scale"]})
    assert isinstance(invalid, InvalidPolicy) and invalid.scope is None

    decision = decide([PERMISSIVE, invalid], "rolloutRestart", TargetState("anywhere"), NOW)

    assert [v.reason for v in decision.verdicts] == ["PolicyInvalid"]


# --- conflicts back off ---------------------------------------------------------------------------


def test_conflict_backoff_grows_is_capped_and_jittered() -> None:
    top = [conflict_backoff(n, rand=lambda low, high: high) for n in range(10)]
    assert top[:4] == [0.05, 0.1, 0.2, 0.4]
    assert max(top) == CONFLICT_BACKOFF_CAP
    assert all(conflict_backoff(n, rand=lambda low, high: low) == 0.0 for n in range(10))


# --- a refusal on merged limits names the policy that set them ----------------------------------


def test_each_merged_limit_names_the_policy_that_set_it() -> None:
    lenient = Policy(
        "a-lenient",
        parse_policy({"allowedActions": ["scale"], "blastRadius": {"maxScaleFactor": 4, "minAvailable": 3}}),
    )
    strict = Policy(
        "b-strict",
        parse_policy({"allowedActions": ["scale"], "blastRadius": {"maxScaleFactor": 2, "maxReplicas": 10}}),
    )

    decision = decide([lenient, strict], "scale", TargetState("shop"), NOW)

    assert decision.blast_radius is not None and decision.blast_radius.max_scale_factor == 2
    assert decision.blast_radius_from == {
        "max_scale_factor": "b-strict",
        "min_available": "a-lenient",
        "max_replicas": "b-strict",
    }
