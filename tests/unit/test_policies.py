"""RemediationPolicies: specs that name their faulty field, scope, and decide() — the strictest policy wins.

Every denial names the policy that decided it, so a reviewer knows which
GitOps-managed file to read. Times are fixed UTC instants; 2026-11-28 is a Saturday.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain.guardrails import first_denial
from onduty.domain.policies import (
    BlastRadius,
    Policy,
    PolicyError,
    Scope,
    TargetState,
    decide,
    merged_blast_radius,
    parse_policy,
)

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)  # Saturday noon
SHOP = TargetState(namespace="shop", namespace_labels={"tier": "prod"}, workload_labels={"app": "web"})


def policy(name: str, **spec: Any) -> Policy:
    """A policy allowing every action unless the spec says otherwise."""
    spec.setdefault("allowedActions", ["rolloutRestart", "scale", "rolloutUndo", "deletePod"])
    return Policy(name, parse_policy(spec))


def state(**changes: Any) -> TargetState:
    return dataclasses.replace(SHOP, **changes)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


# --- parsing: errors name the field -----------------------------------------------------------


def test_a_complete_policy_parses_into_typed_values() -> None:
    spec = parse_policy(
        {
            "scope": {"namespaces": ["shop"], "workloadSelector": {"matchLabels": {"app": "web"}}},
            "allowedActions": ["scale"],
            "requireApproval": ["scale"],
            "approvalTTL": "1h",
            "cooldown": "10m",
            "rateLimit": {"maxActions": 3, "per": "1h"},
            "concurrency": {"clusterWide": 5, "perNamespace": 2},
            "blastRadius": {"maxScaleFactor": 2, "minAvailable": 1, "maxReplicas": 20, "maxWorkloadsPerIncident": 3},
            "maintenanceWindows": [{"name": "sat", "cron": "0 2 * * 6", "duration": "2h"}],
            "changeFreezes": [{"start": "2026-12-20T00:00:00Z", "end": "2026-12-27T00:00:00Z", "reason": "holidays"}],
            "dryRun": True,
            "allowSuspendAutomatedSync": True,
        }
    )

    assert spec.scope.namespaces == ("shop",)
    assert (spec.allowed_actions, spec.require_approval, spec.approval_ttl) == (("scale",), ("scale",), "1h")
    assert spec.rate_limit is not None and (spec.rate_limit.max_actions, spec.rate_limit.per) == (3, "1h")
    assert spec.concurrency is not None and (spec.concurrency.cluster_wide, spec.concurrency.per_namespace) == (5, 2)
    assert spec.blast_radius == BlastRadius(
        max_scale_factor=2, min_available=1, max_replicas=20, max_workloads_per_incident=3
    )
    assert spec.maintenance_windows[0].window().name == "sat"
    assert spec.change_freezes[0].window().contains(datetime(2026, 12, 24, tzinfo=UTC))
    assert (spec.dry_run, spec.allow_suspend_automated_sync) == (True, True)


def test_null_is_absent_as_the_api_server_prunes_it() -> None:
    spec = parse_policy({"allowedActions": ["scale"], "cooldown": None, "approvalTTL": None, "bogus": None})

    assert (spec.cooldown, spec.approval_ttl) == (None, "30m")


def test_a_minimal_policy_has_safe_defaults() -> None:
    spec = parse_policy({"allowedActions": ["rolloutRestart"]})

    assert spec.scope == Scope()
    assert (spec.require_approval, spec.approval_ttl, spec.cooldown) == ((), "30m", None)
    assert (spec.rate_limit, spec.concurrency, spec.blast_radius) == (None, None, None)
    assert (spec.dry_run, spec.allow_suspend_automated_sync) == (False, False)


@pytest.mark.parametrize(
    ("spec", "message_part"),
    [
        pytest.param({}, "spec.allowedActions: required", id="allowed-actions-missing"),
        pytest.param({"allowedActions": ["reboot"]}, "spec.allowedActions: ", id="unknown-allowed-action"),
        pytest.param(
            {"allowedActions": ["scale"], "requireApproval": ["reboot"]},
            "spec.requireApproval: unknown action(s) reboot",
            id="unknown-approval-action",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "cooldown": "5 minutes"},
            "spec.cooldown: '5 minutes' is not a duration",
            id="cooldown-not-a-duration",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "approvalTTL": "soon"}, "spec.approvalTTL: ", id="ttl-not-a-duration"
        ),
        pytest.param(
            {"allowedActions": ["scale"], "rateLimit": {"maxActions": 0, "per": "1h"}},
            "spec.rateLimit.maxActions: must be at least 1, not 0",
            id="rate-limit-zero",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "rateLimit": {"maxActions": 3, "per": "hourly"}},
            "spec.rateLimit.per: ",
            id="rate-limit-period-not-a-duration",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "concurrency": {"clusterWide": 0}},
            "spec.concurrency.clusterWide: ",
            id="concurrency-zero",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "blastRadius": {"maxScaleFactor": 1}},
            "spec.blastRadius.maxScaleFactor: must be more than 1.0, not 1",
            id="scale-factor-not-growth",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "blastRadius": {"minAvailable": -1}},
            "spec.blastRadius.minAvailable: ",
            id="negative-min-available",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "0 25 * * *", "duration": "1h"}]},
            "spec.maintenanceWindows[0].cron: '0 25 * * *' is not five cron fields such as '0 2 * * 6'",
            id="window-cron-out-of-range",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "0 2 * * *"}]},
            "spec.maintenanceWindows[0]: give either cron and duration, or start and end",
            id="window-cron-without-duration",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "maintenanceWindows": [
                    {
                        "cron": "0 2 * * *",
                        "duration": "1h",
                        "start": "2026-12-20T00:00:00Z",
                        "end": "2026-12-21T00:00:00Z",
                    }
                ],
            },
            "spec.maintenanceWindows[0]: give either cron and duration, or start and end",
            id="window-both-shapes",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "changeFreezes": [{"cron": "0 2 * * *", "duration": "two hours"}]},
            "spec.changeFreezes[0].duration: 'two hours' is not a duration",
            id="freeze-duration-not-a-duration",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "changeFreezes": [{"start": "2026-12-20T00:00:00Z", "end": "2026-12-19T00:00:00Z"}],
            },
            "spec.changeFreezes[0]: end must be after start",
            id="freeze-ends-before-it-starts",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "changeFreezes": [{"start": "2026-12-20T00:00:00", "end": "2026-12-27T00:00:00"}],
            },
            "spec.changeFreezes[0].start: ",
            id="freeze-without-a-utc-offset",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "scope": {"namespaces": "shop"}},
            "spec.scope.namespaces: ",
            id="namespaces-not-a-list",
        ),
        pytest.param({"allowedActions": ["scale"], "dryrun": True}, "spec.dryrun: unknown field", id="misspelt-field"),
        # What the CRD says and the model did not (the API server refused these; lint passed them).
        pytest.param(
            {"allowedActions": ["rolloutRestart"], "requireApproval": ["scale"]},
            "every action in spec.requireApproval must also be in spec.allowedActions",
            id="approval-for-an-action-not-allowed",
        ),
        pytest.param({"allowedActions": []}, "spec.allowedActions: must have at least 1", id="no-action"),
        pytest.param(
            {"allowedActions": ["scale", "scale"]},
            "spec.allowedActions: duplicate value 'scale'",
            id="twice",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "argoCDNamespaces": ["Argo CD"]},
            "spec.argoCDNamespaces[0]: 'Argo CD' is not a lower-case DNS label",
            id="argocd-namespace-pattern",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "scope": {"namespaces": ["n" * 64]}},
            "spec.scope.namespaces[0]: must be at most 63 characters",
            id="namespace-too-long",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "scope": {
                    "workloadSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["v" * 64]}]}
                },
            },
            "spec.scope.workloadSelector: matchExpressions[0].values[0]: must be at most 63 characters",
            id="label-value-too-long",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "runJob": {"serviceAccountNames": [f"sa-{i}" for i in range(21)]}},
            "spec.runJob.serviceAccountNames: must have at most 20 items",
            id="too-many-service-accounts",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "0 2 * * *", "duration": "1h"}] * 21},
            "spec.maintenanceWindows: must have at most 20 items",
            id="too-many-windows",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "007 2 * * *", "duration": "1h"}]},
            "spec.maintenanceWindows[0].cron: '007 2 * * *' is not five cron fields",
            id="cron-number-of-three-digits",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "5-2 * * * *", "duration": "1h"}]},
            "spec.maintenanceWindows[0].cron: cron '5-2 * * * *': bad minute",
            id="cron-range-backwards",
        ),
        # cronsim reads names, L and #; the CRD's pattern does not, and it is the contract.
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "0 2 * * SAT", "duration": "1h"}]},
            "spec.maintenanceWindows[0].cron: '0 2 * * SAT' is not five cron fields such as '0 2 * * 6'",
            id="cron-day-name",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "0 2 L * *", "duration": "1h"}]},
            "spec.maintenanceWindows[0].cron: '0 2 L * *' is not five cron fields",
            id="cron-last-day-of-month",
        ),
        # What the pattern passes and cronsim refuses: a day that never comes.
        pytest.param(
            {"allowedActions": ["scale"], "changeFreezes": [{"cron": "0 0 30 2 *", "duration": "1h"}]},
            "spec.changeFreezes[0].cron: cron '0 0 30 2 *': bad day-of-month (or one that none of the"
            " months given has, such as 30 in month 2)",
            id="cron-day-that-never-comes",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "maintenanceWindows": [{"cron": "0 2 * * 6", "duration": "1h", "timeZone": "Europe/Berln"}],
            },
            "spec.maintenanceWindows[0].timeZone: unknown time zone 'Europe/Berln': give an IANA name",
            id="unknown-time-zone",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "maintenanceWindows": [{"cron": "0 2 * * 6", "duration": "1h", "timeZone": "Europe/" + "x" * 58}],
            },
            "spec.maintenanceWindows[0].timeZone: must be at most 64 characters",
            id="time-zone-too-long",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "changeFreezes": [
                    {"start": "2026-12-20T00:00:00Z", "end": "2026-12-27T00:00:00Z", "timeZone": "Europe/Berlin"}
                ],
            },
            "spec.changeFreezes[0]: timeZone applies only to a cron window (start and end carry their own UTC offsets)",
            id="time-zone-on-an-absolute-window",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "maintenanceWindows": [{"cron": "0 2 * * 6", "duration": "1h", "time_zone": "Europe/Berlin"}],
            },
            "maintenanceWindows[0].time_zone: unknown field (the CRD calls it timeZone)",
            id="time-zone-by-its-python-name",
        ),
        pytest.param(
            {
                "allowedActions": ["scale"],
                "changeFreezes": [{"start": "2026-12-20t00:00:00Z", "end": "2026-12-27T00:00:00Z"}],
            },
            "spec.changeFreezes[0].start: give an RFC 3339 time with a UTC offset",
            id="time-with-lower-case-t",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "cooldown": "99999999999h"},
            "spec.cooldown: '99999999999h' is longer than 2562047h",
            id="cooldown-past-go",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "rateLimit": {"maxActions": "3", "per": "1h"}},
            "spec.rateLimit.maxActions: must be of type integer, not string",
            id="max-actions-as-a-string",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "dryRun": "false"},
            "spec.dryRun: must be of type boolean, not string",
            id="dry-run-as-a-string",
        ),
        pytest.param(
            {"allowedActions": ["scale"], "rateLimit": {"max_actions": 3, "per": "1h"}},
            "rateLimit.max_actions: unknown field (the CRD calls it maxActions)",
            id="python-name",
        ),
    ],
)
def test_an_unusable_policy_is_refused_naming_the_field(spec: dict[str, Any], message_part: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(spec)

    assert message_part in str(caught.value)


# --- scope ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "namespace", "namespace_labels", "workload_labels", "covers"),
    [
        pytest.param({}, "shop", {}, {}, True, id="empty-scope-covers-everything"),
        pytest.param({"namespaces": ["shop", "cart"]}, "cart", {}, {}, True, id="listed-namespace"),
        pytest.param({"namespaces": ["shop"]}, "billing", {}, {}, False, id="unlisted-namespace"),
        pytest.param(
            {"namespaceSelector": {"matchLabels": {"tier": "prod"}}}, "x", {"tier": "prod"}, {}, True, id="ns-labels"
        ),
        pytest.param(
            {"namespaceSelector": {"matchLabels": {"tier": "prod"}}}, "x", {"tier": "dev"}, {}, False, id="ns-other"
        ),
        pytest.param(
            {"namespaceSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
            "x",
            {},
            {},
            False,
            id="ns-expression-unmet",
        ),
        pytest.param(
            {"workloadSelector": {"matchLabels": {"app": "web"}}}, "x", {}, {"app": "web"}, True, id="workload-labels"
        ),
        pytest.param(
            {"workloadSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}},
            "x",
            {},
            {"app": "db"},
            False,
            id="workload-expression-excludes",
        ),
        pytest.param(
            {"namespaces": ["shop"], "workloadSelector": {"matchLabels": {"app": "web"}}},
            "shop",
            {},
            {"app": "api"},
            False,
            id="all-parts-must-hold-workload-fails",
        ),
        pytest.param(
            {
                "namespaces": ["shop"],
                "namespaceSelector": {"matchLabels": {"tier": "prod"}},
                "workloadSelector": {"matchLabels": {"app": "web"}},
            },
            "shop",
            {"tier": "prod"},
            {"app": "web"},
            True,
            id="all-parts-hold",
        ),
        pytest.param(
            {"namespaces": ["shop"], "namespaceSelector": {"matchLabels": {"tier": "prod"}}},
            "shop",
            {"tier": "dev"},
            {},
            False,
            id="all-parts-must-hold-namespace-labels-fail",
        ),
    ],
)
def test_a_scope_covers_a_target_only_if_every_part_of_it_matches(
    scope: dict[str, Any],
    namespace: str,
    namespace_labels: dict[str, str],
    workload_labels: dict[str, str],
    covers: bool,
) -> None:
    parsed = Scope.model_validate(scope)

    assert parsed.covers(namespace, namespace_labels, workload_labels) is covers


# --- no policy in scope: a dry run ------------------------------------------------------------


@pytest.mark.parametrize(
    "policies",
    [
        pytest.param([], id="no-policies-at-all"),
        pytest.param(
            [policy("billing-only", scope={"namespaces": ["billing"]}, requireApproval=["scale"])],
            id="policies-elsewhere",
        ),
    ],
)
def test_with_no_policy_in_scope_the_action_runs_as_a_dry_run_and_says_why(policies: list[Policy]) -> None:
    decision = decide(policies, "scale", SHOP, NOW)

    assert [(v.guardrail, v.allowed, v.reason) for v in decision.verdicts] == [("Policy", True, "NoPolicyInScope")]
    assert "dry run" in decision.verdicts[0].message
    assert (decision.dry_run, decision.needs_approval, decision.policies) == (True, False, ())
    assert decision.allowed
    assert (decision.blast_radius, decision.allow_suspend_automated_sync) == (None, False)


def test_the_decision_names_only_the_policies_in_scope_sorted() -> None:
    policies = [
        policy("zeta"),
        policy("billing-only", scope={"namespaces": ["billing"]}),
        policy("alpha", scope={"namespaceSelector": {"matchLabels": {"tier": "prod"}}}),
    ]

    decision = decide(policies, "scale", SHOP, NOW)

    assert decision.policies == ("alpha", "zeta")
    assert decision.verdicts[0].reason == "PoliciesInScope"
    assert "alpha, zeta" in decision.verdicts[0].message


# --- the strictest policy wins, and the denial names it --------------------------------------

LENIENT = policy(
    "lenient",
    cooldown="10m",
    rateLimit={"maxActions": 100, "per": "1h"},
    concurrency={"clusterWide": 100, "perNamespace": 100},
    blastRadius={"maxWorkloadsPerIncident": 100},
)
SATURDAY_NIGHT = [{"name": "saturday-night", "cron": "0 2 * * 6", "duration": "2h"}]
HOLIDAYS = [{"name": "black-friday", "start": "2026-11-27T00:00:00Z", "end": "2026-11-30T00:00:00Z", "reason": "sales"}]


@pytest.mark.parametrize(
    ("strict", "action", "target", "now", "guardrail", "reason", "message_part"),
    [
        pytest.param(
            policy("strict", allowedActions=["rolloutRestart"]),
            "scale",
            SHOP,
            NOW,
            "AllowedActions",
            "ActionNotAllowed",
            "scale is not among the allowed actions of policy strict",
            id="action-not-allowed",
        ),
        pytest.param(
            policy("strict", maintenanceWindows=SATURDAY_NIGHT),
            "scale",
            SHOP,
            NOW,
            "MaintenanceWindow",
            "OutsideMaintenanceWindow",
            "policy strict allows actions only in: saturday-night",
            id="outside-maintenance-window",
        ),
        pytest.param(
            policy("strict", maintenanceWindows=SATURDAY_NIGHT),
            "scale",
            SHOP,
            datetime(2026, 11, 28, 4, 0, tzinfo=UTC),
            "MaintenanceWindow",
            "OutsideMaintenanceWindow",
            "saturday-night",
            id="maintenance-window-end-is-outside",
        ),
        pytest.param(
            policy("strict", changeFreezes=HOLIDAYS),
            "scale",
            SHOP,
            NOW,
            "ChangeFreeze",
            "ChangeFreeze",
            "change freeze black-friday of policy strict: sales",
            id="change-freeze",
        ),
        pytest.param(
            policy("strict", cooldown="1h"),
            "scale",
            state(last_same_action=ago(minutes=30)),
            NOW,
            "PolicyCooldown",
            "CooldownActive",
            "policy strict requires 1h between actions on this target; 30m left",
            id="longer-cooldown-wins",
        ),
        pytest.param(
            policy("strict", rateLimit={"maxActions": 2, "per": "1h"}),
            "scale",
            state(recent_actions=(ago(minutes=50), ago(minutes=10))),
            NOW,
            "RateLimit",
            "RateLimited",
            "policy strict allows 2 action(s) per 1h on this target; 2 already",
            id="rate-limited",
        ),
        pytest.param(
            policy("strict", concurrency={"clusterWide": 3}),
            "scale",
            state(in_flight_cluster=3),
            NOW,
            "Concurrency",
            "ConcurrencyLimited",
            "policy strict allows 3 action(s) at once cluster-wide; 3 in flight",
            id="cluster-wide-concurrency",
        ),
        pytest.param(
            policy("strict", concurrency={"perNamespace": 1}),
            "scale",
            state(in_flight_cluster=1, in_flight_namespace=1),
            NOW,
            "Concurrency",
            "ConcurrencyLimited",
            "policy strict allows 1 action(s) at once in namespace shop; 1 in flight",
            id="per-namespace-concurrency",
        ),
        pytest.param(
            policy("strict", blastRadius={"maxWorkloadsPerIncident": 2}),
            "scale",
            state(workloads_touched_by_incident=2),
            NOW,
            "BlastRadius",
            "TooManyWorkloads",
            "policy strict allows 2 workload(s) per incident; this incident already acted on 2",
            id="too-many-workloads",
        ),
    ],
)
@pytest.mark.parametrize("order", [1, -1], ids=["strict-last", "strict-first"])
def test_the_strictest_policy_denies_and_the_verdict_names_it(
    strict: Policy,
    action: str,
    target: TargetState,
    now: datetime,
    guardrail: str,
    reason: str,
    message_part: str,
    order: int,
) -> None:
    decision = decide([LENIENT, strict][::order], action, target, now)

    denial = first_denial(decision.verdicts)
    assert denial is not None
    assert (denial.guardrail, denial.reason) == (guardrail, reason)
    assert message_part in denial.message
    assert not decision.allowed
    assert [v.reason for v in decision.verdicts if not v.allowed] == [reason]


@pytest.mark.parametrize(
    ("strict", "target", "now", "reason"),
    [
        pytest.param(
            policy("strict", maintenanceWindows=SATURDAY_NIGHT),
            SHOP,
            datetime(2026, 11, 28, 2, 0, tzinfo=UTC),
            "InsideMaintenanceWindow",
            id="inside-maintenance-window-at-its-start",
        ),
        pytest.param(
            policy("strict", changeFreezes=HOLIDAYS),
            SHOP,
            datetime(2026, 11, 30, 0, 0, tzinfo=UTC),
            "NoFreeze",
            id="freeze-has-ended-at-its-end",
        ),
        pytest.param(
            policy("strict", cooldown="1h"),
            state(last_same_action=ago(hours=1)),
            NOW,
            "CooldownElapsed",
            id="longer-cooldown-elapsed-exactly",
        ),
        pytest.param(
            policy("strict", cooldown="1h"),
            state(last_same_action=None),
            NOW,
            "NoRecentAction",
            id="never-acted",
        ),
        pytest.param(
            policy("strict", rateLimit={"maxActions": 2, "per": "1h"}),
            state(recent_actions=(ago(hours=3), ago(hours=2), ago(hours=1), ago(minutes=10))),
            NOW,
            "WithinRateLimit",
            id="rate-limit-counts-only-inside-the-window",
        ),
        pytest.param(
            policy("strict", concurrency={"clusterWide": 3, "perNamespace": 1}),
            state(in_flight_cluster=2, in_flight_namespace=0),
            NOW,
            "WithinConcurrency",
            id="below-both-concurrency-caps",
        ),
        pytest.param(
            policy("strict", blastRadius={"maxWorkloadsPerIncident": 2}),
            state(workloads_touched_by_incident=1),
            NOW,
            "WithinBlastRadius",
            id="below-workloads-per-incident",
        ),
    ],
)
def test_an_action_within_every_limit_is_allowed(
    strict: Policy, target: TargetState, now: datetime, reason: str
) -> None:
    decision = decide([LENIENT, strict], "scale", target, now)

    assert decision.allowed, [v for v in decision.verdicts if not v.allowed]
    assert reason in [v.reason for v in decision.verdicts]
    assert decision.policies == ("lenient", "strict")


@pytest.mark.parametrize(
    ("cooldowns", "last_same_action", "reason"),
    [
        pytest.param([None, None], ago(seconds=1), "NoPolicyCooldown", id="no-policy-sets-one"),
        pytest.param([None, "1h"], None, "NoRecentAction", id="set-but-never-acted"),
        pytest.param([None, "1h"], ago(minutes=59), "CooldownActive", id="one-policy-sets-it-for-all"),
    ],
)
def test_the_cooldown_verdict_says_whether_no_policy_sets_one_or_the_target_was_never_acted_on(
    cooldowns: list[str | None], last_same_action: datetime | None, reason: str
) -> None:
    policies = [policy(f"p{i}", **({"cooldown": c} if c else {})) for i, c in enumerate(cooldowns)]

    decision = decide(policies, "scale", state(last_same_action=last_same_action), NOW)

    verdict = next(v for v in decision.verdicts if v.guardrail == "PolicyCooldown")
    assert verdict.reason == reason
    assert verdict.allowed is (reason != "CooldownActive")


def test_every_guardrail_gives_a_verdict_so_the_record_is_complete() -> None:
    decision = decide([LENIENT], "scale", SHOP, NOW)

    assert [v.guardrail for v in decision.verdicts] == [
        "Policy",
        "AllowedActions",
        "MaintenanceWindow",
        "ChangeFreeze",
        "PolicyCooldown",
        "RateLimit",
        "Concurrency",
        "BlastRadius",
    ]


# NOW is Saturday 12:00 UTC, 13:00 in Berlin (CET) and 07:00 in New York (EST).
BERLIN_LUNCH = {"name": "berlin-lunch", "cron": "0 13 * * 6", "duration": "1h", "timeZone": "Europe/Berlin"}
NEW_YORK_MORNING = {"name": "ny-morning", "cron": "0 13 * * 6", "duration": "1h", "timeZone": "America/New_York"}


@pytest.mark.parametrize(
    ("spec", "reason", "message"),
    [
        pytest.param(
            {"maintenanceWindows": [BERLIN_LUNCH]},
            "InsideMaintenanceWindow",
            "no maintenance window restricts this time",
            id="window-open-in-its-zone",
        ),
        pytest.param(
            {"maintenanceWindows": [{**BERLIN_LUNCH, "timeZone": "UTC"}]},
            "OutsideMaintenanceWindow",
            "policy p allows actions only in: berlin-lunch (UTC)",
            id="the-same-window-in-utc-is-closed",
        ),
        pytest.param(
            {"maintenanceWindows": [{k: v for k, v in BERLIN_LUNCH.items() if k != "timeZone"}]},
            "OutsideMaintenanceWindow",
            "policy p allows actions only in: berlin-lunch (UTC)",
            id="no-zone-is-utc",
        ),
        pytest.param(
            {"maintenanceWindows": [NEW_YORK_MORNING]},
            "OutsideMaintenanceWindow",
            "policy p allows actions only in: ny-morning (America/New_York)",
            id="window-closed-in-its-zone-names-the-zone",
        ),
        pytest.param(
            {"changeFreezes": [{**BERLIN_LUNCH, "name": "berlin-release", "reason": "release"}]},
            "ChangeFreeze",
            "change freeze berlin-release (Europe/Berlin) of policy p: release",
            id="freeze-in-its-zone-names-the-zone",
        ),
        pytest.param(
            {"changeFreezes": [{**NEW_YORK_MORNING, "name": "ny-release"}]},
            "NoFreeze",
            "no change freeze covers this time",
            id="freeze-elsewhere-not-yet",
        ),
    ],
)
def test_a_window_is_read_in_its_time_zone(spec: dict[str, Any], reason: str, message: str) -> None:
    decision = decide([policy("p", **spec)], "scale", SHOP, NOW)

    [verdict] = [v for v in decision.verdicts if v.reason == reason]
    assert verdict.message == message


def test_one_of_several_maintenance_windows_is_enough() -> None:
    windows = [
        {"name": "weekday-mornings", "cron": "0 6 * * 1-5", "duration": "2h"},
        {"name": "saturday-noon", "cron": "0 11 * * 6", "duration": "2h"},
    ]

    decision = decide([policy("p", maintenanceWindows=windows)], "scale", SHOP, NOW)

    assert decision.allowed


# --- dry run, approval, suspending Argo CD's automated sync -----------------------------------


@pytest.mark.parametrize(
    ("dry_runs", "dry_run"),
    [
        pytest.param([False, False], False, id="none-says-dry-run"),
        pytest.param([False, True], True, id="one-says-dry-run"),
        pytest.param([True, True], True, id="all-say-dry-run"),
    ],
)
def test_the_action_is_a_dry_run_if_any_policy_in_scope_says_so(dry_runs: list[bool], dry_run: bool) -> None:
    policies = [policy(f"p{i}", dryRun=flag) for i, flag in enumerate(dry_runs)]

    decision = decide(policies, "scale", SHOP, NOW)

    assert decision.dry_run is dry_run
    assert decision.allowed  # a dry run is not a denial


@pytest.mark.parametrize(
    ("approvals", "needs_approval", "ttl"),
    [
        pytest.param([([], "5m")], False, timedelta(0), id="nobody-requires-it"),
        pytest.param([(["rolloutRestart"], "5m")], False, timedelta(0), id="required-for-another-action"),
        pytest.param([(["scale"], "1h")], True, timedelta(hours=1), id="one-requires-it"),
        pytest.param([(["scale"], "1h"), (["scale"], "15m")], True, timedelta(minutes=15), id="shortest-ttl"),
        pytest.param(
            [(["scale"], "1h"), ([], "5m")], True, timedelta(hours=1), id="ttl-of-non-requiring-policy-ignored"
        ),
    ],
)
def test_approval_is_needed_if_any_policy_requires_it_and_expires_after_the_shortest_ttl(
    approvals: list[tuple[list[str], str]], needs_approval: bool, ttl: timedelta
) -> None:
    policies = [policy(f"p{i}", requireApproval=actions, approvalTTL=t) for i, (actions, t) in enumerate(approvals)]

    decision = decide(policies, "scale", SHOP, NOW)

    assert (decision.needs_approval, decision.approval_ttl) == (needs_approval, ttl)


@pytest.mark.parametrize(
    ("allows", "allowed"),
    [
        pytest.param([True], True, id="the-only-policy-allows"),
        pytest.param([True, True], True, id="all-allow"),
        pytest.param([True, False], False, id="one-does-not"),
        pytest.param([False], False, id="default-is-no"),
    ],
)
def test_suspending_automated_sync_needs_every_policy_in_scope_to_allow_it(allows: list[bool], allowed: bool) -> None:
    policies = [policy(f"p{i}", allowSuspendAutomatedSync=flag) for i, flag in enumerate(allows)]

    decision = decide(policies, "argoRollback", SHOP, NOW)

    assert decision.allow_suspend_automated_sync is allowed


# --- blast radius: the strictest of each limit --------------------------------------------------


@pytest.mark.parametrize(
    ("radii", "merged"),
    [
        pytest.param([], BlastRadius(), id="no-limits"),
        pytest.param([None, None], BlastRadius(), id="policies-without-limits"),
        pytest.param(
            [{"maxScaleFactor": 3, "minAvailable": 1, "maxReplicas": 50, "maxWorkloadsPerIncident": 5}],
            BlastRadius(max_scale_factor=3, min_available=1, max_replicas=50, max_workloads_per_incident=5),
            id="one-policy",
        ),
        pytest.param(
            [
                {"maxScaleFactor": 3, "minAvailable": 1, "maxReplicas": 50, "maxWorkloadsPerIncident": 5},
                {"maxScaleFactor": 1.5, "minAvailable": 2, "maxReplicas": 80, "maxWorkloadsPerIncident": 2},
            ],
            BlastRadius(max_scale_factor=1.5, min_available=2, max_replicas=50, max_workloads_per_incident=2),
            id="min-factor-replicas-workloads-max-min-available",
        ),
        pytest.param(
            [{"maxScaleFactor": 2}, {"minAvailable": 0}, None, {"maxReplicas": 10}],
            BlastRadius(max_scale_factor=2, min_available=0, max_replicas=10),
            id="limits-from-different-policies-combine",
        ),
    ],
)
def test_the_merged_blast_radius_takes_the_strictest_of_each_limit(
    radii: list[dict[str, Any] | None], merged: BlastRadius
) -> None:
    policies = [policy(f"p{i}", **({"blastRadius": r} if r else {})) for i, r in enumerate(radii)]

    assert merged_blast_radius(policies) == merged
    if policies:
        assert decide(policies, "scale", SHOP, NOW).blast_radius == merged
