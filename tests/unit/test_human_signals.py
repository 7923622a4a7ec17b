"""What people say to onduty through annotations: pause, approve, reject, and who they are."""

from __future__ import annotations

from typing import Any

import pytest

from onduty.domain import approvals, incidents
from onduty.domain.annotations import APPROVE_ANNOTATION, APPROVED_BY_ANNOTATION, REJECT_ANNOTATION, is_paused
from onduty.domain.workloads import Workload

ACTION = {"id": "inc-1.restart", "step": "restart"}


@pytest.mark.parametrize(
    ("value", "paused"), [("true", True), ("Yes", True), (" 1 ", True), ("false", False), ("", False), (None, False)]
)
def test_a_pause_is_any_yes(value: str | None, paused: bool) -> None:
    annotations = {} if value is None else {"onduty.dev/paused": value}
    assert is_paused({"metadata": {"annotations": annotations}}) is paused


def _incident(annotations: dict[str, str], managed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"annotations": annotations, "managedFields": managed or []}}


@pytest.mark.parametrize(
    ("annotations", "approved", "rejected"),
    [
        ({APPROVE_ANNOTATION: "restart"}, True, False),  # by step name
        ({APPROVE_ANNOTATION: "inc-1.restart"}, True, False),  # by action id
        ({APPROVE_ANNOTATION: "other-step"}, False, False),
        ({APPROVE_ANNOTATION: "restart", REJECT_ANNOTATION: "restart"}, True, True),  # the worker lets rejected win
        ({}, False, False),
    ],
)
def test_an_answer_names_the_step_or_the_action(annotations: dict[str, str], approved: bool, rejected: bool) -> None:
    answer = approvals.answer(_incident(annotations), ACTION)
    assert (answer.approved, answer.rejected, answer.given) == (approved, rejected, approved or rejected)


def test_the_approver_is_the_named_one_else_whoever_managed_fields_say_wrote_the_annotations() -> None:
    named = _incident({APPROVE_ANNOTATION: "restart", APPROVED_BY_ANNOTATION: "alice"})
    unnamed = _incident(
        {APPROVE_ANNOTATION: "restart"},
        [{"manager": "kubectl-annotate", "fieldsV1": {"f:metadata": {"f:annotations": {}}}}],
    )
    assert approvals.answer(named, ACTION).by == "alice"
    assert approvals.answer(unnamed, ACTION).by == "unknown user via kubectl-annotate"


def test_the_workloads_an_incident_touched_count_every_other_target_once() -> None:
    actions = [
        {"id": "a", "state": "Succeeded", "target": {"kind": "Deployment", "name": "api"}},
        {"id": "b", "state": "Failed", "target": {"kind": "Deployment", "name": "api"}},
        {"id": "c", "state": "Applied", "target": {"kind": "Deployment", "name": "web"}},  # the target itself
        {"id": "d", "state": "Denied", "target": {"kind": "Deployment", "name": "db"}},  # never acted
        {"id": "me", "state": "Applied", "target": {"kind": "Deployment", "name": "cache"}},  # the one judged
    ]
    touched = incidents.workloads_touched({"status": {"actions": actions}}, Workload("Deployment", "web", "shop"), "me")
    assert touched == 1
