"""Mistakes caught when runbooks and policies are written: durations, wording, scale bounds, ``onduty lint``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from onduty import cli
from onduty.domain import durations, manifests
from onduty.domain.actions import scale
from onduty.domain.actions.context import Context
from onduty.domain.escalation import parse_policy as parse_escalation_policy
from onduty.domain.policies import BlastRadius, PolicyError, parse_policy
from onduty.domain.runbooks import RunbookError, Step, parse_runbook
from onduty.domain.specs import cron_suggestion
from onduty.domain.workloads import Workload

# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", timedelta(days=1)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2d0.5h", timedelta(days=2, minutes=30)),
    ],
)
def test_a_duration_is_written_as_people_write_it(text: str, expected: timedelta) -> None:
    assert durations.parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "fix"),
    [
        ("5 minutes", "5m"),
        ("2 hours", "2h"),
        ("1 day", "1d"),
        ("30 sec", "30s"),
        ("1h 30m", "1h30m"),
        ("1.5d", "36h"),
        ("1 hour and 30 minutes", "1h30m"),
    ],
)
def test_a_duration_in_words_is_refused_with_the_way_to_write_it(text: str, fix: str) -> None:
    assert durations.problem(text) == f"{text!r} is not a duration; write {fix}"


@pytest.mark.parametrize("text", ["soon", "10M", "1w", "", "-5m"])
def test_a_duration_with_no_obvious_fix_is_refused_with_examples(text: str) -> None:
    assert durations.problem(text) == f"{text!r} is not a duration such as 90s, 10m, 1h30m or 1d"


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("2562047h", False),
        ("106751d23h", True),  # six digits of days: refused as written, whatever its length
        ("99999d", False),
        ("99999d2562047h", True),
        ("2562047h0.5s", True),
        ("2562047h0.0005s", False),  # whole milliseconds, as the CRDs' CEL rule compares them
    ],
)
def test_the_longest_duration_is_go_s_counted_in_milliseconds_as_the_crd_does(text: str, refused: bool) -> None:
    assert (durations.problem(text) is not None) is refused


def test_a_duration_longer_than_the_crds_allow_is_refused_by_its_length() -> None:
    assert durations.problem("0" * 31 + "1s") == "must be at most 32 characters, not 33"


# --- what a spec's problems read like --------------------------------------------------------------

PYDANTIC_WORDS = ("Field required", "Value error", "Input should be", "Extra inputs", "String should")


@pytest.mark.parametrize(
    ("parse", "spec", "expected"),
    [
        (parse_policy, {}, "spec.allowedActions: required"),
        (
            parse_policy,
            {"allowedActions": ["scale"], "cooldown": "2 hours"},
            "spec.cooldown: '2 hours' is not a duration; write 2h",
        ),
        (
            parse_policy,
            {"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "0 2 * * Sat", "duration": "2h"}]},
            "spec.maintenanceWindows[0].cron: '0 2 * * Sat' is not five cron fields such as '0 2 * * 6'",
        ),
        (parse_policy, {"allowedActions": ["scale"], "dryrun": True}, "spec.dryrun: unknown field"),
        (
            parse_policy,
            {"allowedActions": ["scale"], "rateLimit": {"maxActions": 0, "per": "1h"}},
            "spec.rateLimit.maxActions: must be at least 1, not 0",
        ),
        (
            parse_runbook,
            {
                "match": {"alertnames": ["X"]},
                "remediation": {"steps": [{"name": "s", "action": "scale", "factor": 2, "cooldown": "5 minutes"}]},
            },
            "spec.remediation.steps[0].cooldown: '5 minutes' is not a duration; write 5m",
        ),
        (
            parse_runbook,
            {"match": {"alertnames": ["X"]}, "priority": 5000},
            "spec.priority: must be at most 1000, not 5000",
        ),
        (
            parse_escalation_policy,
            {"levels": [{"ackTimeout": "5 minutes", "notifiers": ["pager"]}]},
            "spec.levels[0].ackTimeout: '5 minutes' is not a duration; write 5m",
        ),
    ],
)
def test_a_spec_s_problem_reads_in_the_user_s_words(parse: Any, spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)) as refused:
        parse(spec)

    message = str(refused.value)
    assert message.startswith(expected), message
    assert not [words for words in PYDANTIC_WORDS if words in message]


def test_a_cron_suggestion_follows_a_write_when_the_fix_is_obvious() -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy({"allowedActions": ["scale"], "maintenanceWindows": [{"cron": "@daily", "duration": "1h"}]})

    assert str(refused.value).endswith("; write '0 0 * * *'")


@pytest.mark.parametrize(
    ("cron", "fix"),
    [
        ("0 2 * * Sat", "0 2 * * 6"),
        ("0 2 * * mon-fri", "0 2 * * 1-5"),
        ("0 2 1 Jan *", "0 2 1 1 *"),
        ("@hourly", "0 * * * *"),
        ("0 25 * * *", None),
        ("0 2 * *", None),
    ],
)
def test_a_cron_written_with_names_is_told_in_numbers(cron: str, fix: str | None) -> None:
    assert cron_suggestion(cron) == fix


# --- scale bounds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"factor": 2, "minReplicas": 10, "maxReplicas": 2}, "minReplicas must not exceed maxReplicas"),
        ({"replicas": 20, "maxReplicas": 10}, "replicas must lie between minReplicas and maxReplicas"),
        ({"replicas": 1, "minReplicas": 2}, "replicas must lie between minReplicas and maxReplicas"),
    ],
)
def test_a_scale_step_with_bounds_that_disagree_is_refused(step: dict[str, Any], message: str) -> None:
    spec = {"match": {"alertnames": ["X"]}, "remediation": {"steps": [{"name": "s", "action": "scale", **step}]}}
    with pytest.raises(RunbookError, match=message):
        parse_runbook(spec)


def test_a_policy_whose_blast_radius_no_scale_can_satisfy_is_refused() -> None:
    with pytest.raises(PolicyError, match="minAvailable must not exceed maxReplicas"):
        parse_policy({"allowedActions": ["scale"], "blastRadius": {"minAvailable": 5, "maxReplicas": 3}})


def _scale_ctx(limits: BlastRadius | None, **step: Any) -> Context:
    return Context(
        target=Workload("Deployment", "web", "shop"),
        workload={"metadata": {"resourceVersion": "1", "uid": "u"}, "spec": {"replicas": 2}},
        action_id="inc.step",
        step=Step.model_validate({"name": "step", "action": "scale", **step}),
        incident={"metadata": {"namespace": "shop", "name": "inc"}, "spec": {"labels": {}}},
        limits=limits,
        allow_suspend_automated_sync=False,
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )


def test_a_factor_nobody_bounded_is_capped_by_the_default_and_the_result_says_so() -> None:
    ctx = _scale_ctx(None, factor=10)

    current, want = scale.change(ctx)
    outcome = scale.plan(ctx, current, want, None).outcome

    assert (current, want) == (2, 4)
    assert "no maxReplicas in the step or any RemediationPolicy: onduty's default cap of 4 replicas" in outcome.message


@pytest.mark.parametrize(
    ("current", "cap"),
    [(1, 2), (2, 4), (10, 20), (30, 40), (100, 110)],
)
def test_the_default_cap_is_twice_the_replicas_and_at_most_ten_more(current: int, cap: int) -> None:
    assert scale.default_cap(_scale_ctx(None, factor=10), current) == cap


@pytest.mark.parametrize(
    ("limits", "step", "want"),
    [
        (None, {"factor": 10, "maxReplicas": 8}, 8),  # the step's bound
        (BlastRadius(maxReplicas=30), {"factor": 10}, 20),  # a policy's maxReplicas
        (None, {"replicas": 12}, 12),  # a replica count is its own bound
        (None, {"factor": 1.5}, 3),  # within the cap: nothing to say
    ],
)
def test_a_written_bound_replaces_the_default_cap(limits: BlastRadius | None, step: dict[str, Any], want: int) -> None:
    ctx = _scale_ctx(limits, **step)

    current, wanted = scale.change(ctx)

    assert wanted == want
    assert "default cap" not in scale.plan(ctx, current, wanted, None).outcome.message


# --- onduty lint ---------------------------------------------------------------------------------

RUNBOOK = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Runbook",
    "metadata": {"name": "restart"},
    "spec": {"match": {"alertnames": ["X"]}},
}


def _findings(doc: Any) -> list[tuple[bool | None, str, str]]:
    return [(f.ok, f.who, f.message) for f in manifests.check_document(doc, "document 1")]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(RUNBOOK, [(True, "Runbook restart", "ok")], id="ok"),
        pytest.param(
            {**RUNBOOK, "kind": "RunBook"},
            [(False, "RunBook restart", "unknown kind RunBook in onduty.dev/v1alpha1; did you mean Runbook?")],
            id="kind-typo",
        ),
        pytest.param(
            {**RUNBOOK, "kind": "Runbok"},
            [(False, "Runbok restart", "unknown kind Runbok in onduty.dev/v1alpha1; did you mean Runbook?")],
            id="kind-misspelt",
        ),
        pytest.param(
            {**RUNBOOK, "apiVersion": "onduty.dev/v1"},
            [(False, "Runbook restart", "apiVersion onduty.dev/v1 does not serve Runbook; write onduty.dev/v1alpha1")],
            id="wrong-version",
        ),
        pytest.param(
            {"kind": "Runbook", "metadata": {"name": "r"}},
            [(False, "Runbook r", "apiVersion: required (every Kubernetes object names its apiVersion and kind)")],
            id="no-apiVersion",
        ),
        pytest.param(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
            [(None, "Deployment web", "skipped (apps/v1 is not onduty's)")],
            id="other-group",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "List", "items": [RUNBOOK, {**RUNBOOK, "kind": "Runbooks"}]},
            [
                (True, "Runbook restart", "ok"),
                (False, "Runbooks restart", "unknown kind Runbooks in onduty.dev/v1alpha1; did you mean Runbook?"),
            ],
            id="list",
        ),
        pytest.param(
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "Incident",
                "metadata": {"name": "i"},
                "spec": {"title": "t"},
            },
            [(False, "Incident i", "spec.severity: required")],
            id="incident-without-severity",
        ),
        pytest.param(
            {"apiVersion": "onduty.dev/v1alpha1", "kind": "Alert", "metadata": {"name": "a"}},
            [(False, "Alert a", "spec: required")],
            id="alert-without-spec",
        ),
        pytest.param(None, [], id="empty-document"),
        pytest.param(
            ["a"],
            [(False, "document 1", "not a Kubernetes object: expected a mapping with apiVersion and kind")],
            id="a-list",
        ),
    ],
)
def test_lint_judges_each_document_as_the_api_server_would(
    doc: Any, expected: list[tuple[bool | None, str, str]]
) -> None:
    assert _findings(doc) == expected


def test_lint_reads_a_directory_and_fails_only_for_onduty_s_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "web.yml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    (tmp_path / "runbook.yaml").write_text(
        "apiVersion: onduty.dev/v1alpha1\nkind: Runbook\nmetadata: {name: r}\nspec: {match: {alertnames: [X]}}\n"
        "---\napiVersion: onduty.dev/v1alpha1\nkind: RunBook\nmetadata: {name: typo}\n"
    )
    (tmp_path / "notes.txt").write_text("kind: RunBook\n")

    status = cli.main(["lint", str(tmp_path)])

    out, err = capsys.readouterr()
    assert status == 1
    assert out.splitlines() == [
        f"{tmp_path / 'apps' / 'web.yml'}: Deployment web: skipped (apps/v1 is not onduty's)",
        f"{tmp_path / 'runbook.yaml'}: Runbook r: ok",
    ]
    assert err.splitlines() == [
        f"{tmp_path / 'runbook.yaml'}: RunBook typo: unknown kind RunBook in onduty.dev/v1alpha1; did you mean Runbook?"
    ]


def test_lint_passes_a_directory_of_other_groups_objects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")

    assert cli.main(["lint", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("ConfigMap c: skipped (v1 is not onduty's)")
