"""What changed: rollout, Helm and Argo CD history, and config changes, as diagnostic results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain import diagnostics as d

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


# --- rollout, Helm and Argo CD history ----------------------------------------------------


def _replicaset(name: str, revision: int, image: str, *, owner: str = "dep-uid", cause: str | None = None) -> dict:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": _at(10 * (5 - revision)),
            "annotations": annotations,
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
        "status": {"replicas": 2 if revision == 3 else 0},
    }


def test_rollout_history_is_the_deployments_own_replicasets_newest_first() -> None:
    deployment = {"metadata": {"uid": "dep-uid", "annotations": {"deployment.kubernetes.io/revision": "3"}}}
    replicasets = [
        _replicaset("web-a", 1, "app:1.0"),
        _replicaset("web-c", 3, "app:1.2", cause="bump to 1.2"),
        _replicaset("web-b", 2, "app:1.1"),
        _replicaset("other-x", 9, "other:1", owner="someone-else"),
    ]

    result = d.rollout_history_result(d.RolloutHistory(name="r", type="rolloutHistory"), deployment, replicasets, NOW)

    assert [r["revision"] for r in result.details["revisions"]] == [3, 2, 1]
    assert result.details["revisions"][0] == {
        "revision": 3,
        "replicaSet": "web-c",
        "createdAt": _at(20),
        "images": ["app:1.2"],
        "replicas": 2,
        "changeCause": "bump to 1.2",
        "current": True,
    }
    assert result.summary == (
        "3 revisions; current revision 3 created 20m ago (app:1.2) change-cause 'bump to 1.2';"
        " revision 2 created 30m ago (app:1.1)"
    )


def _helm_record(version: int, status: str, description: str, chart_version: str) -> dict[str, Any]:
    return {
        "name": "shop",
        "version": version,
        "info": {"status": status, "description": description, "last_deployed": _at(60 - version)},
        "chart": {"metadata": {"name": "web", "version": chart_version, "appVersion": "1.0"}},
        "config": {"password": "hunter2"},
        "manifest": "apiVersion: v1\nkind: Secret\n",
    }


def test_helm_history_reports_revisions_and_never_values_or_manifests() -> None:
    records = [
        _helm_record(1, "superseded", "Install complete", "0.1.0"),
        _helm_record(3, "deployed", "Upgrade complete", "0.3.0"),
        _helm_record(2, "failed", "Upgrade failed: timed out", "0.2.0"),
    ]

    result = d.helm_history_result(d.HelmHistory(name="h", type="helmHistory"), "shop", records, NOW)

    assert result.details["revisions"][0] == {
        "revision": 3,
        "status": "deployed",
        "updated": _at(57),
        "chart": "web-0.3.0",
        "appVersion": "1.0",
        "description": "Upgrade complete",
    }
    assert "hunter2" not in json.dumps(result.to_dict())
    assert "kind: Secret" not in json.dumps(result.to_dict())
    assert result.summary == (
        "release shop: revision 3 deployed 57m ago (web-0.3.0, 'Upgrade complete');"
        " before it revision 2 failed (web-0.2.0); failed revisions: 2"
    )


@pytest.mark.parametrize(
    ("release", "metadata", "expected"),
    [
        ("given", {"labels": {"app.kubernetes.io/instance": "label"}}, ("given", None)),
        (
            None,
            {
                "labels": {"app.kubernetes.io/instance": "label"},
                "annotations": {"meta.helm.sh/release-name": "annotated", "meta.helm.sh/release-namespace": "apps"},
            },
            ("annotated", "apps"),
        ),
        (None, {"labels": {"app.kubernetes.io/instance": "label"}}, ("label", None)),
        (None, {}, (None, None)),
    ],
)
def test_the_helm_release_of_a_workload(
    release: str | None, metadata: dict[str, Any], expected: tuple[str | None, str | None]
) -> None:
    spec = d.HelmHistory(name="h", type="helmHistory", release=release)

    assert d.helm_release_of(spec, {"metadata": metadata}) == expected


def test_argo_history_newest_first_with_sync_health_and_operation() -> None:
    sha = "a" * 40
    app = {
        "status": {
            "sync": {"status": "OutOfSync", "revision": sha},
            "health": {"status": "Degraded", "message": "Deployment web exceeded its progress deadline"},
            "history": [
                {"id": 1, "revision": "b" * 40, "deployedAt": _at(120), "source": {"repoURL": "https://git/x"}},
                {"id": 2, "revision": sha, "deployedAt": _at(5), "initiatedBy": {"automated": True}},
            ],
            "operationState": {
                "phase": "Failed",
                "message": "one or more objects failed to apply",
                "startedAt": _at(5),
                "finishedAt": _at(4),
                "syncResult": {"revision": sha},
            },
        }
    }

    result = d.argo_history_result(d.ArgoHistory(name="a", type="argoHistory", application="shop"), app, NOW)

    assert [h["id"] for h in result.details["history"]] == [2, 1]
    assert result.details["history"][0]["initiatedBy"] == "automated"
    assert result.details["operationState"]["phase"] == "Failed"
    assert result.summary == (
        "OutOfSync at aaaaaaa, Degraded; last deploy #2 5m ago (aaaaaaa);"
        " operation Failed: one or more objects failed to apply"
    )


# --- config changes ----------------------------------------------------------------------


def test_config_referenced_by_volumes_env_and_env_from() -> None:
    pod_spec = {
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-volume"}},
            {"name": "b", "secret": {"secretName": "secret-volume"}},
            {
                "name": "c",
                "projected": {"sources": [{"configMap": {"name": "cm-projected"}}, {"secret": {"name": "s-proj"}}]},
            },
            {"name": "d", "emptyDir": {}},
        ],
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "s-init"}}]}],
        "containers": [
            {
                "name": "app",
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm-env", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "b"}}},
                    {"name": "C", "value": "plain"},
                ],
                "envFrom": [{"configMapRef": {"name": "cm-volume"}}],
            }
        ],
    }

    assert d.referenced_config(pod_spec) == (
        ["cm-env", "cm-projected", "cm-volume"],
        ["s-env", "s-init", "s-proj", "secret-volume"],
    )


def test_config_changed_within_the_window_by_its_newest_managed_fields_time() -> None:
    found = {
        ("ConfigMap", "web-config"): {
            "creationTimestamp": _at(600),
            "managedFields": [
                {"manager": "kubectl-client-side-apply", "time": _at(600)},
                {"manager": "kubectl-patch", "time": _at(3)},
            ],
        },
        ("Secret", "db"): {"creationTimestamp": _at(20)},  # no managedFields: its creation counts
        ("ConfigMap", "old"): {"creationTimestamp": _at(900), "managedFields": [{"manager": "helm", "time": _at(900)}]},
        ("Secret", "gone"): None,
    }

    result = d.config_changes_result(d.ConfigChanges(name="c", type="configChanges"), found, NOW)

    assert result.details["changed"] == [
        {"kind": "ConfigMap", "name": "web-config", "changedAt": _at(3), "manager": "kubectl-patch"},
        {"kind": "Secret", "name": "db", "changedAt": _at(20)},
    ]
    assert result.details["unchanged"] == ["ConfigMap/old"]
    assert result.details["missing"] == ["Secret/gone"]
    assert result.summary == (
        "2 of 4 referenced ConfigMaps/Secrets changed in the last 60m:"
        " ConfigMap/web-config 3m ago by kubectl-patch, Secret/db 20m ago; missing: Secret/gone"
    )
