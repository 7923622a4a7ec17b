"""Argo CD rollback on the real API server, with Argo's Application CRD and a stand-in
controller (tests/argocd_standin.py) playing Argo's part: the operation onduty writes is
the one Argo CD would carry out, refusals write nothing, dry runs store nothing, and an
action id is never applied twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from argocd_standin import ArgoStandIn
from kit import argocd_crd, wait_for
from onduty.adapters import argocd
from onduty.adapters.kube import Cluster
from onduty.domain.annotations import ACTION_ID
from onduty.domain.argocd import RollbackState, rollback_state

GIT = "https://git.example.com/shop/deploy.git"
OLD, MID, NEW = "1" * 40, "2" * 40, "3" * 40


@pytest.fixture(scope="module")
def argo_crd(cluster):
    # Argo CD's own Application CRD, from its release module (hack/fetch-argocd-crd.sh).
    argocd_crd(cluster)


def _source() -> dict[str, Any]:
    return {"repoURL": GIT, "path": "checkout", "targetRevision": "main"}


def _entry(id_: int, revision: str) -> dict[str, Any]:
    return {
        "id": id_,
        "revision": revision,
        "deployStartedAt": f"2025-03-0{id_ + 1}T09:59:30Z",
        "deployedAt": f"2025-03-0{id_ + 1}T10:00:00Z",
        "source": _source(),
        "initiatedBy": {"automated": True},
    }


def _create_app(
    kube: Cluster, namespace: str, name: str = "checkout", *, automated: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An Application that Argo CD has synced three times (history ids 0..2, oldest first)."""
    sync_policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
    if automated is not None:
        sync_policy["automated"] = automated
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "source": _source(),
            "syncPolicy": sync_policy,
        },
        # No status subresource on this CRD: status is written with the object, as Argo does.
        "status": {
            "history": [_entry(0, OLD), _entry(1, MID), _entry(2, NEW)],
            "sync": {"status": "Synced", "revision": NEW},
            "health": {"status": "Healthy"},
            "operationState": {
                "operation": {"sync": {"revision": NEW}, "initiatedBy": {"automated": True}},
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "startedAt": "2025-03-03T09:59:30Z",
                "finishedAt": "2025-03-03T10:00:00Z",
                "syncResult": {"revision": NEW, "source": _source()},
            },
        },
    }
    return kube.request("POST", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications", body=body)


def _rollback(kube: Cluster, namespace: str, **kwargs: Any) -> argocd.RollbackResult:
    args: dict[str, Any] = {
        "to_id": None,
        "action_id": "inc-7-step1",
        "allow_suspend_automated": False,
        "dry_run": False,
    } | kwargs
    return argocd.rollback(kube, namespace, "checkout", **args)


def _wait_done(kube: Cluster, namespace: str, revision: str) -> RollbackState:
    """Poll as the engine will: the Application, judged by the domain, until the sync is over."""

    def probe() -> RollbackState | None:
        state = rollback_state(argocd.get_application(kube, namespace, "checkout"), revision)
        return state if state.done else None

    return wait_for(probe, timeout=30, what=f"the stand-in to finish the sync to {revision}")


def test_rollback_to_previous_entry_is_synced_by_argo_and_reported_out_of_sync(argo_crd, cluster, kube, namespace):
    _create_app(kube, namespace)

    result = _rollback(kube, namespace)

    assert result.outcome == "Applied", result.message
    assert (result.target_revision, result.decision.target and result.decision.target.id) == (MID, 1)
    written = result.application
    assert written["operation"] == {
        "initiatedBy": {"username": "onduty"},
        "info": [
            {"name": "Reason", "value": "onduty rollback to history id 1"},
            {"name": "onduty.dev/action-id", "value": "inc-7-step1"},
        ],
        "sync": {
            "revision": MID,
            "source": _source(),
            "prune": False,
            "syncOptions": ["CreateNamespace=true"],
            "syncStrategy": {"apply": {}},
        },
    }
    assert "operationState" not in written["status"]  # the last result is cleared, as Argo does
    assert written["metadata"]["annotations"][ACTION_ID] == "inc-7-step1"
    assert f'+ operation.sync.revision: "{MID}"' in result.diff.splitlines()
    assert "+ status.operationState" not in result.diff

    with ArgoStandIn(kube, namespace) as argo:
        state = _wait_done(kube, namespace, MID)

    assert argo.synced == [("checkout", MID)]
    assert (state.failed, state.out_of_sync) == (False, True)
    assert "shows OutOfSync: spec.source.targetRevision is still main" in state.message
    app = argocd.get_application(kube, namespace, "checkout")
    assert "operation" not in app
    assert [(h["id"], h["revision"]) for h in app["status"]["history"]] == [(0, OLD), (1, MID), (2, NEW), (3, MID)]
    assert app["status"]["history"][-1]["initiatedBy"] == {"username": "onduty"}
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    # What an engineer sees: the CRD's printer columns.
    printed = cluster.kubectl("get", "applications.argoproj.io", "checkout", "-n", namespace).stdout
    assert printed.split("\n")[1].split() == ["checkout", "OutOfSync", "Healthy"]


def test_rollback_is_refused_while_automated_sync_is_on_and_nothing_is_written(argo_crd, kube, namespace):
    created = _create_app(kube, namespace, automated={"prune": True, "selfHeal": True})

    result = _rollback(kube, namespace)

    assert (result.outcome, result.reason) == ("Refused", "AutomatedSyncEnabled")
    assert result.verdict().allowed is False
    assert "automated sync on" in result.message
    app = argocd.get_application(kube, namespace, "checkout")
    assert app["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert "operation" not in app


def test_policy_may_let_onduty_suspend_automated_sync_in_the_same_write(argo_crd, kube, namespace):
    created = _create_app(kube, namespace, automated={"prune": True, "selfHeal": True})

    result = _rollback(kube, namespace, allow_suspend_automated=True)

    assert result.outcome == "Applied", result.message
    assert result.decision.suspends_automated
    # One write: the object it returned has both the operation and no automated sync.
    written = result.application
    assert written["operation"]["sync"]["revision"] == MID
    assert written["spec"]["syncPolicy"] == {"syncOptions": ["CreateNamespace=true"]}
    assert int(written["metadata"]["generation"]) == int(created["metadata"]["generation"]) + 1
    assert "- spec.syncPolicy.automated.prune: true" in result.diff.splitlines()
    assert "automated sync is suspended in the same write" in result.message

    with ArgoStandIn(kube, namespace):
        state = _wait_done(kube, namespace, MID)
    assert not state.failed
    assert "do not re-enable automated sync before then" in state.message


def test_dry_run_stores_nothing_and_returns_the_would_be_change(argo_crd, kube, namespace):
    created = _create_app(kube, namespace, automated={"selfHeal": True})

    result = _rollback(kube, namespace, dry_run=True, allow_suspend_automated=True)

    assert result.outcome == "DryRun"
    assert result.message.startswith("dry run: would roll Application")
    lines = result.diff.splitlines()
    assert f'+ metadata.annotations["{ACTION_ID}"]: "inc-7-step1"' in lines
    assert f'+ operation.sync.revision: "{MID}"' in lines
    assert '+ operation.initiatedBy.username: "onduty"' in lines
    assert "- spec.syncPolicy.automated.selfHeal: true" in lines
    assert any(line.startswith("- status.operationState.phase") for line in lines)
    app = argocd.get_application(kube, namespace, "checkout")
    assert app["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert "operation" not in app
    assert app["spec"]["syncPolicy"]["automated"] == {"selfHeal": True}
    assert not argocd.applied_by(app, "inc-7-step1")


def test_a_completed_rollback_is_recognised_by_its_action_id_and_not_repeated(argo_crd, kube, namespace):
    _create_app(kube, namespace)
    first = _rollback(kube, namespace)
    assert first.outcome == "Applied"
    with ArgoStandIn(kube, namespace):
        _wait_done(kube, namespace, MID)
    done = argocd.get_application(kube, namespace, "checkout")
    assert argocd.applied_by(done, "inc-7-step1")
    assert not argocd.applied_by(done, "inc-7-step2")

    # A restarted operator asks again with the same action id: history has moved on
    # ("the previous entry" is now the bad revision), and nothing is written.
    again = _rollback(kube, namespace)

    assert (again.outcome, again.reason) == ("AlreadyApplied", "AlreadyApplied")
    assert (again.target_revision, again.verdict().allowed) == (MID, True)
    after = argocd.get_application(kube, namespace, "checkout")
    assert after["metadata"]["resourceVersion"] == done["metadata"]["resourceVersion"]
    assert len(after["status"]["history"]) == 4


class _RacingCluster(Cluster):
    """Lets someone else write the Application just before onduty's first patch lands."""

    def __init__(self, inner: Cluster, race: dict[str, Any]) -> None:
        super().__init__(inner.api, timeout=inner.timeout)
        self.inner, self.race, self.patches = inner, race, 0

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if method == "PATCH":
            self.patches += 1
            if self.patches == 1:
                self.inner.request("PATCH", path, body=self.race, content_type="application/merge-patch+json")
        return self.inner.request(method, path, **kwargs)


@pytest.mark.parametrize(
    ("race", "outcome", "reason", "patches"),
    [
        # Someone turns automated sync on while onduty decides: judged again, refused.
        pytest.param(
            {"spec": {"syncPolicy": {"automated": {"selfHeal": True}}}},
            "Refused",
            "AutomatedSyncEnabled",
            1,
            id="automated-turned-on",
        ),
        # An unrelated edit: judged again on the new version, written.
        pytest.param({"metadata": {"labels": {"team": "shop"}}}, "Applied", "RollbackAllowed", 2, id="unrelated-edit"),
    ],
)
def test_a_change_between_judging_and_writing_is_judged_again(
    argo_crd, kube, namespace, race, outcome, reason, patches
):
    _create_app(kube, namespace)
    racing = _RacingCluster(kube, race)

    result = argocd.rollback(
        racing, namespace, "checkout", to_id=None, action_id="a1", allow_suspend_automated=False, dry_run=False
    )

    # The first, stale write was refused by the API server (409) and never stored.
    assert racing.patches == patches
    assert (result.outcome, result.reason) == (outcome, reason)
    app = argocd.get_application(kube, namespace, "checkout")
    assert argocd.applied_by(app, "a1") is (outcome == "Applied")
    assert ("operation" in app) is (outcome == "Applied")


def test_a_failed_sync_is_reported_as_failed(argo_crd, kube, namespace):
    _create_app(kube, namespace)
    result = _rollback(kube, namespace, to_id=0)
    assert result.target_revision == OLD

    with ArgoStandIn(kube, namespace, fail_revisions=frozenset({OLD})):
        state = _wait_done(kube, namespace, OLD)

    assert state.failed
    assert "ended Failed: one or more objects failed to apply" in state.message
    assert len(argocd.get_application(kube, namespace, "checkout")["status"]["history"]) == 3
