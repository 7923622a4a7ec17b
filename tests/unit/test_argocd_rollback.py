"""Argo CD rollback decisions: refused when Argo CD would refuse it (and a little more),
otherwise the one patch ``argocd app rollback`` would write; and when it is done."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from onduty.domain.annotations import ACTION_ID, ARGO_OPERATION_INFO
from onduty.domain.argocd import (
    applied_by,
    automated_sync_enabled,
    plan_rollback,
    render_diff,
    requested_target,
    rollback_state,
)

REPO = "https://git.example.com/shop/deploy.git"
OLD, MID, NEW = "a" * 40, "b" * 40, "c" * 40


def _source(revision: str = "main") -> dict[str, Any]:
    return {"repoURL": REPO, "path": "checkout", "targetRevision": revision}


def _entry(id_: int, revision: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "revision": revision, "deployedAt": f"2025-01-0{id_}T10:00:00Z", "source": _source()} | extra


def _app(
    *,
    history: list[dict[str, Any]] | None = None,
    automated: Any = None,
    operation: dict[str, Any] | None = None,
    operation_state: dict[str, Any] | None = None,
    sync_options: list[str] | None = None,
    sync_status: str | None = None,
    **meta: Any,
) -> dict[str, Any]:
    sync_policy: dict[str, Any] = {}
    if automated is not None:
        sync_policy["automated"] = automated
    if sync_options:
        sync_policy["syncOptions"] = sync_options
    app: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "checkout", "namespace": "argocd", "resourceVersion": "41"} | meta,
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "source": _source(),
            "syncPolicy": sync_policy,
        },
        "status": {
            "history": [_entry(1, OLD), _entry(2, MID), _entry(3, NEW)] if history is None else history,
        },
    }
    if operation is not None:
        app["operation"] = operation
    if operation_state is not None:
        app["status"]["operationState"] = operation_state
    if sync_status is not None:
        app["status"]["sync"] = {"status": sync_status, "revision": NEW}
    return app


def _plan(app: dict[str, Any], to_id: int | None = None, *, suspend: bool = False):
    return plan_rollback(app, to_id=to_id, action_id="inc-1-a0", allow_suspend_automated=suspend)


FINISHED = {"phase": "Succeeded", "startedAt": "2025-01-03T10:00:00Z", "operation": {"sync": {"revision": NEW}}}


@pytest.mark.parametrize(
    ("app", "to_id", "suspend", "reason", "message_part"),
    [
        pytest.param(
            _app(automated={"prune": True, "selfHeal": True}),
            None,
            False,
            "AutomatedSyncEnabled",
            "automated sync on",
            id="automated-sync-on",
        ),
        pytest.param(_app(automated={}), None, False, "AutomatedSyncEnabled", "automated", id="automated-empty-is-on"),
        pytest.param(
            _app(history=[_entry(1, NEW)]), None, False, "NoEarlierHistory", "1 deployment(s)", id="one-entry"
        ),
        pytest.param(_app(history=[]), None, False, "NoEarlierHistory", "no earlier deployment", id="no-history"),
        pytest.param(_app(), 7, False, "HistoryIdNotFound", "known ids: 1, 2, 3", id="unknown-id"),
        pytest.param(_app(), 3, False, "AlreadyDeployed", "latest deployment", id="named-latest"),
        pytest.param(
            _app(operation={"sync": {"revision": NEW}}),
            None,
            False,
            "OperationInProgress",
            "top-level operation is set",
            id="operation-requested",
        ),
        pytest.param(
            _app(operation_state={"phase": "Running", "startedAt": "2025-01-03T10:00:00Z"}),
            None,
            False,
            "OperationInProgress",
            "still Running",
            id="operation-running",
        ),
        pytest.param(
            _app(operation_state={"phase": "Terminating", "startedAt": "2025-01-03T10:00:00Z"}),
            None,
            False,
            "OperationInProgress",
            "still Terminating",
            id="operation-terminating",
        ),
        pytest.param(
            _app(history=[{"id": 1, "revision": OLD, "deployedAt": "2025-01-01T10:00:00Z"}, _entry(2, NEW)]),
            None,
            False,
            "HistoryEntryWithoutSource",
            "records no source",
            id="entry-without-source",
        ),
        pytest.param(
            _app(deletionTimestamp="2025-01-03T11:00:00Z"),
            None,
            False,
            "ApplicationDeleting",
            "being deleted",
            id="deleting",
        ),
        pytest.param(
            _app(automated={"prune": True}, history=[_entry(1, NEW)]),
            None,
            True,
            "NoEarlierHistory",
            "no earlier deployment",
            id="suspension-allowed-but-nothing-to-roll-back-to",
        ),
    ],
)
def test_refusals_name_the_reason_and_write_nothing(app, to_id, suspend, reason, message_part):
    decision = _plan(app, to_id, suspend=suspend)

    assert (decision.allowed, decision.reason) == (False, reason)
    assert message_part in decision.message
    assert decision.message.endswith(".")
    assert decision.patch == {}
    verdict = decision.verdict()
    assert (verdict.allowed, verdict.reason) == (False, reason)


def test_only_an_operation_in_progress_is_a_holding_refusal():
    assert _plan(_app(operation={"sync": {"revision": NEW}})).holding
    assert not _plan(_app(automated={})).holding


@pytest.mark.parametrize(
    ("automated", "enabled"),
    [
        pytest.param(None, False, id="absent"),
        pytest.param({}, True, id="empty-object"),
        pytest.param({"prune": True, "selfHeal": True}, True, id="prune-selfheal"),
        pytest.param({"enabled": True}, True, id="enabled-true"),
        pytest.param({"enabled": False, "prune": True}, False, id="enabled-false"),
    ],
)
def test_automated_sync_is_on_as_argo_reads_it(automated, enabled):
    assert automated_sync_enabled(_app(automated=automated)) is enabled


def test_rollback_to_previous_entry_writes_the_operation_argo_writes():
    app = _app(sync_options=["CreateNamespace=true"], operation_state=FINISHED)

    decision = _plan(app)

    assert (decision.allowed, decision.reason, decision.suspends_automated) == (True, "RollbackAllowed", False)
    assert decision.target is not None and decision.target.id == 2
    assert "history id 2 (revision " + MID in decision.message
    assert decision.patch == {
        "metadata": {"resourceVersion": "41", "annotations": {ACTION_ID: "inc-1-a0"}},
        "operation": {
            "initiatedBy": {"username": "onduty"},
            "info": [
                {"name": "Reason", "value": "onduty rollback to history id 2"},
                {"name": ARGO_OPERATION_INFO, "value": "inc-1-a0"},
            ],
            "sync": {
                "revision": MID,
                "source": _source(),
                "prune": False,
                "syncOptions": ["CreateNamespace=true"],
                "syncStrategy": {"apply": {}},
            },
        },
        # Argo's SetAppOperation clears the last result, so it is never read as this one's.
        "status": {"operationState": None},
    }


def test_named_history_id_is_the_target():
    decision = _plan(_app(), 1)

    assert decision.allowed and decision.target is not None
    assert decision.patch["operation"]["sync"]["revision"] == OLD
    assert "status" not in decision.patch  # no earlier operation state to clear


def test_the_callers_reason_is_recorded_on_the_operation():
    decision = plan_rollback(_app(), to_id=None, action_id="x", allow_suspend_automated=False, reason="incident X")

    assert decision.patch["operation"]["info"][0] == {"name": "Reason", "value": "incident X"}


def test_automated_sync_is_removed_in_the_same_patch_when_policy_allows():
    app = _app(automated={"prune": True, "selfHeal": True}, sync_options=["ServerSideApply=true"])

    decision = _plan(app, suspend=True)

    assert decision.allowed and decision.suspends_automated
    assert decision.patch["spec"] == {"syncPolicy": {"automated": None}}  # merge patch: delete only that key
    assert decision.patch["operation"]["sync"]["revision"] == MID
    assert "automated sync is suspended in the same write" in decision.message


def test_disabled_automated_sync_needs_no_suspension():
    decision = _plan(_app(automated={"enabled": False}))

    assert decision.allowed and not decision.suspends_automated
    assert "spec" not in decision.patch


def test_multi_source_app_rolls_back_every_source():
    sources = [_source("main"), {"repoURL": "https://charts.example.com", "chart": "checkout", "targetRevision": "1.4"}]
    old = {"id": 4, "revisions": [OLD, "1.3.0"], "sources": sources, "deployedAt": "2025-01-04T10:00:00Z"}
    new = {"id": 5, "revisions": [NEW, "1.4.0"], "sources": sources, "deployedAt": "2025-01-05T10:00:00Z"}

    decision = _plan(_app(history=[old, new]))

    sync = decision.patch["operation"]["sync"]
    assert sync["revisions"] == [OLD, "1.3.0"]
    assert sync["sources"] == sources
    assert "revision" not in sync and "source" not in sync
    assert "revision " + OLD + ", 1.3.0" in decision.message


def test_planning_does_not_touch_the_application():
    app = _app(automated={"prune": True}, operation_state=FINISHED)
    before = copy.deepcopy(app)

    _plan(app, suspend=True)

    assert app == before


@pytest.mark.parametrize(
    ("annotations", "action_id", "expected"),
    [
        pytest.param({ACTION_ID: "inc-1-a0"}, "inc-1-a0", True, id="same-id"),
        pytest.param({ACTION_ID: "inc-1-a0"}, "inc-1-a1", False, id="other-id"),
        pytest.param({}, "inc-1-a0", False, id="no-annotation"),
        pytest.param({ACTION_ID: ""}, "", False, id="empty-id-never-matches"),
    ],
)
def test_applied_by_reads_the_action_id_annotation(annotations, action_id, expected):
    assert applied_by(_app(annotations=annotations), action_id) is expected


def test_requested_target_is_found_before_and_after_the_controller_takes_the_operation():
    patch = _plan(_app())
    operation = patch.patch["operation"]
    pending = _app(operation=operation)
    taken = _app(operation_state={"phase": "Running", "startedAt": "2025-01-03T10:00:00Z", "operation": operation})

    assert requested_target(pending, "inc-1-a0") == (MID, ())
    assert requested_target(taken, "inc-1-a0") == (MID, ())
    assert requested_target(taken, "someone-else") is None


def _state(phase: str, revision: str = MID, **extra: Any) -> dict[str, Any]:
    state = {
        "phase": phase,
        "startedAt": "2025-01-03T12:00:00Z",
        "operation": {"sync": {"revision": MID}},
        "syncResult": {"revision": revision},
    }
    return state | extra


@pytest.mark.parametrize(
    ("app", "done", "failed", "out_of_sync", "message_part"),
    [
        pytest.param(
            _app(operation={"sync": {"revision": MID}}),
            False,
            False,
            False,
            "waiting for Argo CD to start",
            id="queued",
        ),
        pytest.param(_app(), False, False, False, "waiting for Argo CD to report", id="state-cleared"),
        pytest.param(
            _app(operation={"sync": {"revision": MID}}, operation_state=_state("Running", message="syncing")),
            False,
            False,
            False,
            "is Running: syncing",
            id="running",
        ),
        pytest.param(
            _app(operation_state=_state("Failed", message="one or more objects failed to apply")),
            True,
            True,
            False,
            "ended Failed: one or more objects failed to apply",
            id="failed",
        ),
        pytest.param(
            _app(operation_state=_state("Error", message="ComparisonError")), True, True, False, "Error", id="error"
        ),
        pytest.param(
            _app(operation_state=_state("Succeeded", revision=NEW)),
            True,
            True,
            False,
            "another operation replaced the rollback",
            id="succeeded-elsewhere",
        ),
        pytest.param(
            _app(operation_state=_state("Succeeded"), sync_status="OutOfSync"),
            True,
            False,
            True,
            "shows OutOfSync: spec.source.targetRevision is still main",
            id="succeeded-out-of-sync",
        ),
        pytest.param(
            _app(operation_state=_state("Succeeded")),
            True,
            False,
            True,
            "will show OutOfSync",
            id="succeeded-not-yet-compared",
        ),
    ],
)
def test_rollback_state(app, done, failed, out_of_sync, message_part):
    state = rollback_state(app, MID)

    assert (state.done, state.failed, state.out_of_sync) == (done, failed, out_of_sync)
    assert message_part in state.message


def test_done_message_tells_the_timeline_why_the_app_is_out_of_sync():
    state = rollback_state(_app(operation_state=_state("Succeeded"), sync_status="OutOfSync"), MID)

    assert state.message == (
        f"Argo CD synced argocd/checkout to revision {MID}. The application shows OutOfSync: "
        "spec.source.targetRevision is still main, so Git names a newer revision than the one running; "
        "revert the change in Git to settle it, and do not re-enable automated sync before then "
        "(it would sync argocd/checkout forward again)."
    )


def test_a_rollback_to_the_revision_git_names_stays_synced():
    app = _app(operation_state=_state("Succeeded"), sync_status="Synced")
    app["spec"]["source"]["targetRevision"] = MID

    state = rollback_state(app, MID)

    assert (state.done, state.failed, state.out_of_sync) == (True, False, False)
    assert state.message.endswith(
        f"spec.source.targetRevision ({MID}) names that revision too, so the application stays Synced."
    )
    assert "OutOfSync" not in state.message


def test_multi_source_rollback_is_done_when_every_revision_matches():
    app = _app(operation_state=_state("Succeeded") | {"syncResult": {"revision": "", "revisions": [OLD, "1.3.0"]}})

    assert rollback_state(app, "", [OLD, "1.3.0"]).done
    assert rollback_state(app, "", [OLD, "1.3.0"]).failed is False
    assert rollback_state(app, "", [OLD, "1.4.0"]).failed is True


def test_diff_shows_each_changed_leaf_and_skips_server_bookkeeping():
    before = _app(automated={"prune": True})
    after = copy.deepcopy(before)
    after["metadata"] |= {"resourceVersion": "42", "generation": 3, "annotations": {ACTION_ID: "a1"}}
    after["operation"] = {"sync": {"revision": MID}}
    del after["spec"]["syncPolicy"]["automated"]

    diff = render_diff(before, after).splitlines()

    assert diff == [
        f'+ metadata.annotations["{ACTION_ID}"]: "a1"',
        f'+ operation.sync.revision: "{MID}"',
        "+ spec.syncPolicy: {}",
        "- spec.syncPolicy.automated.prune: true",
    ]


def test_diff_of_identical_objects_is_empty():
    assert render_diff(_app(), _app()) == ""
