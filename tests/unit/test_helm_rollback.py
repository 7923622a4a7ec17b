"""Helm rollback decided as values: release encoding, the new revision, the target, and every refusal."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from onduty.adapters.helm import decode_release
from onduty.adapters.helm_rollback import merge_patch
from onduty.domain import helm
from onduty.domain.annotations import ACTION_ID
from onduty.domain.helm import Refusal, RollbackPlan, plan_rollback

NOW = datetime(2025, 3, 4, 10, 0, 0, 123450, tzinfo=UTC)
INSTALLED = "2025-03-01T09:00:00.5Z"


def manifest(*objects: dict[str, Any]) -> str:
    return "".join("---\n" + yaml.safe_dump(o) for o in objects)


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def record(version: int, status: str, **changes: Any) -> dict[str, Any]:
    """A decoded release record as Helm stores it (plus the Secret's custom labels)."""
    base: dict[str, Any] = {
        "name": "shop",
        "info": {
            "first_deployed": INSTALLED,
            "last_deployed": f"2025-03-0{version}T09:00:00Z",
            "deleted": "",
            "description": "Install complete" if version == 1 else "Upgrade complete",
            "status": status,
        },
        "chart": {"metadata": {"name": "demo", "version": f"0.{version}.0"}, "templates": []},
        "config": {"message": f"v{version}"},
        "manifest": manifest(config_map("shop-settings", message=f"v{version}")),
        "version": version,
        "namespace": "apps",
        "labels": {},
    }
    return base | changes


def planned(
    releases: list[dict[str, Any]], to_revision: int | None = None, action_id: str = "inc-1.rb"
) -> RollbackPlan:
    plan = plan_rollback(releases, to_revision, NOW, action_id, release="shop", namespace="apps")
    assert isinstance(plan, RollbackPlan), plan
    return plan


def refused(releases: list[dict[str, Any]], to_revision: int | None = None, action_id: str = "inc-1.rb") -> Refusal:
    plan = plan_rollback(releases, to_revision, NOW, action_id, release="shop", namespace="apps")
    assert isinstance(plan, Refusal), plan
    return plan


# --- storage --------------------------------------------------------------------------------


def test_an_encoded_release_decodes_with_the_release_history_reader() -> None:
    original = record(3, "deployed", labels={"team": "web"})

    encoded = helm.encode_release(original)

    assert encoded.startswith("H4sI")  # base64 of gzip's magic: Helm's own encoding
    decoded = decode_release(base64.b64encode(encoded.encode()).decode())
    assert decoded == {k: v for k, v in original.items() if k != "labels"}  # labels live on the Secret only


def test_encoding_is_gzip_of_json_as_helm_writes_it() -> None:
    raw = base64.b64decode(helm.encode_release(record(1, "deployed")))
    body = gzip.decompress(raw)

    assert json.loads(body)["info"]["status"] == "deployed"
    # gzip's header (RFC 1952): magic 1f 8b, deflate, no flags, MTIME 0, best compression: no clock in the bytes.
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"


def test_a_created_revision_secret_has_helms_labels_and_created_at() -> None:
    secret = helm.release_secret(record(3, "pending-rollback", labels={"team": "web"}), now=NOW, created=True)

    assert secret["metadata"] == {
        "name": "sh.helm.release.v1.shop.v3",
        "labels": {
            "team": "web",
            "createdAt": str(int(NOW.timestamp())),
            "name": "shop",
            "owner": "helm",
            "status": "pending-rollback",
            "version": "3",
        },
    }
    assert secret["type"] == "helm.sh/release.v1"
    assert decode_release(secret["data"]["release"])["version"] == 3


def test_an_updated_revision_secret_has_modified_at_and_loses_created_at_as_with_helm() -> None:
    labels = helm.release_secret(record(2, "superseded"), now=NOW, created=False)["metadata"]["labels"]

    assert sorted(labels) == ["modifiedAt", "name", "owner", "status", "version"]
    assert labels["status"] == "superseded"


def test_custom_labels_are_the_secret_labels_that_are_not_helms() -> None:
    secret_labels = {"name": "shop", "owner": "helm", "status": "deployed", "version": "2", "modifiedAt": "1", "x": "y"}

    assert helm.custom_labels(secret_labels) == {"x": "y"}
    assert helm.custom_labels(None) == {}


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 3, 4, 10, 0, 0, 123450, tzinfo=UTC), "2025-03-04T10:00:00.12345Z"),
        (datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC), "2025-03-04T10:00:00Z"),
        (datetime(2025, 3, 4, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))), "2025-03-04T10:00:00.000001Z"),
        (datetime(2025, 3, 4, 10, 0, 0), "2025-03-04T10:00:00Z"),  # naive: taken as UTC
    ],
)
def test_times_are_written_as_go_writes_rfc3339_nano(moment: datetime, text: str) -> None:
    assert helm.go_time(moment) == text


@pytest.mark.parametrize(
    ("action_id", "expected"),
    [
        ("inc-1.helm-rollback", "inc-1.helm-rollback"),
        # 68 characters: "sha256-" and the first 56 hex digits of its SHA-256, the same after a restart.
        (
            "6a1f3c2e-0d4b-4c5e-9f7a-1b2c3d4e5f60.rollback-the-checkout-release",
            "sha256-cc7554d97a92d3cbe4b253b2803baf10f6d485a0ca31af111d41d963",
        ),
        ("ns/name step", "sha256-3ae723e1c7f528059b11b31b7fb38b6fce91a21b395b5cf385d25323"),
        ("", "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"),  # SHA-256 of nothing
    ],
)
def test_action_ids_become_valid_label_values(action_id: str, expected: str) -> None:
    label = helm.action_label(action_id)

    assert label == expected
    assert len(label) <= 63
    assert helm._LABEL_VALUE.match(label)


# --- the target and the new revision --------------------------------------------------------


def test_the_default_target_is_the_revision_before_the_deployed_one() -> None:
    plan = planned([record(2, "deployed"), record(1, "superseded")])

    assert (plan.target_revision, plan.new_revision) == (1, 3)
    assert [(r["version"], r["info"]["status"]) for r in plan.supersede] == [(2, "superseded")]
    assert plan.supersede[0]["info"]["description"] == "Upgrade complete"  # Helm only changes the status
    assert not plan.resume


def test_the_new_revision_is_built_as_helm_prepare_rollback_builds_it() -> None:
    target = record(1, "superseded", labels={"team": "web", ACTION_ID: "older-action"}, apply_method="csa")
    target["info"]["notes"] = "Thanks for installing."

    new = planned([target, record(2, "deployed")]).record

    assert new == {
        "name": "shop",
        "info": {
            "first_deployed": INSTALLED,
            "last_deployed": "2025-03-04T10:00:00.12345Z",
            "deleted": "",
            "description": "Rollback to 1",
            "status": "pending-rollback",
            "notes": "Thanks for installing.",
        },
        "chart": target["chart"],
        "config": {"message": "v1"},
        "manifest": target["manifest"],
        "version": 3,
        "namespace": "apps",
        "apply_method": "csa",
        "labels": {"team": "web", ACTION_ID: "inc-1.rb"},
    }


def test_first_deployed_comes_from_the_latest_revision_and_empty_config_is_left_out() -> None:
    latest = record(2, "deployed")
    latest["info"]["first_deployed"] = "2025-02-01T00:00:00Z"

    new = planned([record(1, "superseded", config={}), latest]).record

    assert new["info"]["first_deployed"] == "2025-02-01T00:00:00Z"
    assert "config" not in new


def test_after_a_failed_upgrade_the_target_is_the_revision_still_running() -> None:
    plan = planned([record(1, "superseded"), record(2, "deployed"), record(3, "failed")])

    assert (plan.target_revision, plan.new_revision) == (2, 4)
    assert [r["version"] for r in plan.supersede] == [2]


def test_a_failed_revision_is_never_the_default_target() -> None:
    # Helm's `helm rollback` would pick latest - 1 (the failed revision 2).
    plan = planned([record(1, "superseded"), record(2, "failed"), record(3, "deployed")])

    assert plan.target_revision == 1


@pytest.mark.parametrize("to_revision", [1, 2, 3])
def test_a_named_revision_is_the_target_whatever_its_status_as_with_helm(to_revision: int) -> None:
    plan = planned([record(1, "superseded"), record(2, "failed"), record(3, "deployed")], to_revision)

    assert (plan.target_revision, plan.new_revision, plan.description) == (to_revision, 4, f"Rollback to {to_revision}")


def test_a_stale_pending_revision_below_the_latest_does_not_block() -> None:
    plan = planned([record(1, "superseded"), record(2, "pending-upgrade"), record(3, "deployed")])

    assert plan.target_revision == 1


def test_every_deployed_revision_is_superseded() -> None:
    plan = planned([record(1, "deployed"), record(2, "superseded"), record(3, "deployed")])

    assert sorted(r["version"] for r in plan.supersede) == [1, 3]


@pytest.mark.parametrize(
    ("releases", "to_revision", "reason", "words"),
    [
        ([], None, "ReleaseNotFound", "no stored revisions"),
        ([record(1, "deployed")], None, "NothingToRollBack", "no deployed or superseded revision before revision 1"),
        ([record(1, "failed"), record(2, "deployed")], None, "NothingToRollBack", "before revision 2"),
        ([record(1, "superseded"), record(2, "deployed")], 0, "InvalidRevision", "Revision 0 is not"),
        ([record(1, "superseded"), record(2, "deployed")], 5, "RevisionNotFound", "has no revision 5 (it has 1, 2)"),
        ([record(1, "superseded"), record(2, "pending-upgrade")], None, "OperationInProgress", "2 pending-upgrade"),
        ([record(1, "pending-install")], 1, "OperationInProgress", "1 pending-install"),
        ([record(1, "superseded"), record(2, "pending-rollback")], None, "OperationInProgress", "in progress"),
        (
            [record(1, "superseded", hooks=[{"name": "down", "events": ["pre-rollback"]}]), record(2, "deployed")],
            None,
            "RollbackHooksPresent",
            "has pre-rollback hooks",
        ),
        (
            [record(1, "superseded", manifest="---\n- a list\n"), record(2, "deployed")],
            None,
            "ManifestUnreadable",
            "not a Kubernetes object",
        ),
    ],
)
def test_refusals(releases: list[dict[str, Any]], to_revision: int | None, reason: str, words: str) -> None:
    refusal = refused(releases, to_revision)

    assert refusal.reason == reason
    assert words in refusal.message
    assert refusal.message.endswith(".")
    assert refusal.verdict().allowed is False


def test_hooks_for_other_events_do_not_block() -> None:
    hooked = record(1, "superseded", hooks=[{"name": "test", "events": ["test", "post-install"]}])

    assert planned([hooked, record(2, "deployed")]).record["hooks"] == hooked["hooks"]


# --- confinement: the release's namespace, the release's objects ----------------------------


def elsewhere(name: str, namespace: str, kind: str = "DaemonSet", api_version: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}


PRIVILEGED = {
    **elsewhere("node-agent", "kube-system"),
    "spec": {"template": {"spec": {"containers": [{"name": "x", "securityContext": {"privileged": True}}]}}},
}


@pytest.mark.parametrize(
    ("releases", "reason", "words"),
    [
        (
            [record(1, "superseded"), record(2, "deployed", namespace="kube-system")],
            "ReleaseOutsideNamespace",
            "the record of revision 2, stored in namespace apps, names namespace 'kube-system'",
        ),
        (  # any revision, not only the ones the plan reads: Helm never stores one like it
            [record(1, "superseded", namespace="kube-system"), record(2, "superseded"), record(3, "deployed")],
            "ReleaseOutsideNamespace",
            "revision 1",
        ),
        ([record(1, "superseded"), record(2, "deployed", namespace=None)], "ReleaseOutsideNamespace", "None"),
        (
            [record(1, "superseded"), record(2, "deployed", name="payments")],
            "ReleaseNameMismatch",
            "the record of revision 2 names release 'payments'",
        ),
        (  # the target renders it: it would be applied
            [
                record(1, "superseded", manifest=manifest(config_map("shop-settings"), PRIVILEGED)),
                record(2, "deployed"),
            ],
            "ObjectOutsideNamespace",
            "the manifest of revision 1 holds DaemonSet kube-system/node-agent, in namespace kube-system",
        ),
        (  # only the latest renders it: it would be deleted
            [record(1, "superseded"), record(2, "deployed", manifest=manifest(elsewhere("victim", "team-b")))],
            "ObjectOutsideNamespace",
            "the manifest of revision 2 holds DaemonSet team-b/victim",
        ),
        (  # even one that would be kept
            [
                record(1, "superseded"),
                record(2, "deployed", manifest=manifest(elsewhere("data", "team-b", "PersistentVolumeClaim", "v1"))),
            ],
            "ObjectOutsideNamespace",
            "PersistentVolumeClaim team-b/data",
        ),
        (  # the same object in both: applied over the other namespace's
            [
                record(1, "superseded", manifest=manifest(PRIVILEGED)),
                record(2, "deployed", manifest=manifest(PRIVILEGED)),
            ],
            "ObjectOutsideNamespace",
            "kube-system",
        ),
    ],
)
def test_a_rollback_never_leaves_the_namespace_it_was_read_from(
    releases: list[dict[str, Any]], reason: str, words: str
) -> None:
    refusal = refused(releases)

    assert refusal.reason == reason
    assert words in refusal.message
    assert "Helm release apps/shop" in refusal.message
    assert refusal.message.endswith(".")


def test_an_interrupted_rollback_is_confined_too() -> None:
    ours = mine(3, "pending-rollback")
    ours["manifest"] = manifest(PRIVILEGED)

    refusal = refused([record(1, "superseded"), record(2, "deployed"), ours])

    assert refusal.reason == "ObjectOutsideNamespace"
    assert "the manifest of revision 3 holds DaemonSet kube-system/node-agent" in refusal.message


def test_a_finished_rollback_whose_record_names_another_namespace_is_refused_not_taken_as_done() -> None:
    refusal = refused([record(1, "superseded"), record(2, "superseded"), mine(3, "deployed") | {"namespace": "x"}])

    assert refusal.reason == "ReleaseOutsideNamespace"


def test_a_clean_release_naming_its_own_namespace_still_plans() -> None:
    own = {**config_map("shop-settings", message="v1"), "metadata": {"name": "shop-settings", "namespace": "apps"}}
    crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}

    plan = planned([record(1, "superseded", manifest=manifest(own, crb)), record(2, "deployed")])

    # A cluster-scoped kind carries no namespace in a manifest: the domain cannot tell it from a
    # namespaced one; API discovery does, before anything is written (placement_refusal).
    assert [helm.describe(a.obj, "apps") for a in plan.apply] == [
        "ConfigMap apps/shop-settings",
        "ClusterRoleBinding apps/x",
    ]


@pytest.mark.parametrize("name", ["a/b", "..", ".", "x%2fy", "bad\nname", "spaced name"])
def test_a_manifest_object_whose_name_is_not_a_name_is_refused(name: str) -> None:
    latest = record(2, "deployed", manifest=manifest(config_map(name)))

    refusal = refused([record(1, "superseded"), latest])

    assert refusal.reason == "ManifestUnreadable"
    assert f"whose metadata.name {name!r} is not a name" in refusal.message


@pytest.mark.parametrize("api_version", ["v1/../../apis/x/v1", "apps/v1/x", "/v1", "Apps/v1", "apps/"])
def test_a_manifest_object_whose_api_version_is_not_one_is_refused(api_version: str) -> None:
    obj = {**config_map("x"), "apiVersion": api_version}

    refusal = refused([record(1, "superseded", manifest=manifest(obj)), record(2, "deployed")])

    assert refusal.reason == "ManifestUnreadable"
    assert f"whose apiVersion {api_version!r} is not one" in refusal.message


def test_a_manifest_object_whose_namespace_is_not_a_name_is_refused() -> None:
    obj = elsewhere("x", "apps/../kube-system", "ConfigMap", "v1")

    assert refused([record(1, "superseded", manifest=manifest(obj)), record(2, "deployed")]).reason == (
        "ManifestUnreadable"
    )


@pytest.mark.parametrize(
    ("obj", "namespaced", "reason", "words"),
    [
        (
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "own"}},
            False,
            "ClusterScopedObject",
            "would apply ClusterRoleBinding own, which is cluster-scoped",
        ),
        (PRIVILEGED, True, "ObjectOutsideNamespace", "would apply DaemonSet kube-system/node-agent, in namespace"),
        (elsewhere("x", "", "ConfigMap", "v1"), True, "ObjectOutsideNamespace", "in namespace "),
        (elsewhere("settings", "apps", "ConfigMap", "v1"), True, None, ""),
    ],
)
def test_only_namespaced_objects_in_the_release_namespace_may_be_written(
    obj: dict[str, Any], namespaced: bool, reason: str | None, words: str
) -> None:
    refusal = helm.placement_refusal(obj, action="apply", namespaced=namespaced, release="shop", namespace="apps")

    assert (refusal.reason if refusal else None) == reason
    if refusal:
        assert words in refusal.message
        assert "onduty writes only in the release's namespace apps." in refusal.message


def annotated(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "settings", "namespace": "apps", "annotations": annotations, "uid": "u"}}


@pytest.mark.parametrize(
    ("live", "reason", "words"),
    [
        (None, None, ""),  # absent: may be created
        (annotated(**{helm.RELEASE_NAME_ANNOTATION: "shop", helm.RELEASE_NAMESPACE_ANNOTATION: "apps"}), None, ""),
        (
            annotated(**{helm.RELEASE_NAME_ANNOTATION: "payments", helm.RELEASE_NAMESPACE_ANNOTATION: "apps"}),
            "NotOwnedByRelease",
            "which belongs to Helm release apps/payments by its annotations",
        ),
        (
            annotated(**{helm.RELEASE_NAME_ANNOTATION: "shop", helm.RELEASE_NAMESPACE_ANNOTATION: "other"}),
            "NotOwnedByRelease",
            "Helm release other/shop",
        ),
        (annotated(**{helm.RELEASE_NAME_ANNOTATION: "shop"}), "NotOwnedByRelease", "Helm release ?/shop"),
        (annotated(), "NotOwnedByRelease", "carries no Helm ownership annotations"),
        ({"metadata": {"name": "settings"}}, "NotOwnedByRelease", "carries no Helm ownership annotations"),
    ],
)
def test_only_objects_helm_ties_to_this_release_may_be_changed(
    live: dict[str, Any] | None, reason: str | None, words: str
) -> None:
    obj = elsewhere("settings", "apps", "ConfigMap", "v1")

    refusal = helm.ownership_refusal(obj, live, action="delete", release="shop", namespace="apps")

    assert (refusal.reason if refusal else None) == reason
    if refusal:
        assert words in refusal.message
        assert "the rollback would delete ConfigMap apps/settings" in refusal.message
        assert refusal.message.endswith("onduty changes only this release's objects.")


def test_what_a_rollback_applies_it_owns_afterwards() -> None:
    """Objects onduty re-created carry the same annotations, so the next rollback may change them."""
    (item,) = planned([record(1, "superseded"), record(2, "deployed")]).apply

    assert helm.ownership_refusal(item.obj, item.obj, action="apply", release="shop", namespace="apps") is None


# --- the same action again ------------------------------------------------------------------


def mine(version: int, status: str, action_id: str = "inc-1.rb", target: int = 1) -> dict[str, Any]:
    r = record(version, status, labels={ACTION_ID: helm.action_label(action_id)})
    r["info"]["description"] = f"Rollback to {target}"
    return r


def test_an_interrupted_rollback_is_resumed_not_planned_again() -> None:
    plan = planned([record(1, "superseded"), record(2, "deployed"), mine(3, "pending-rollback")])

    assert plan.resume
    assert (plan.target_revision, plan.new_revision) == (1, 3)
    assert [r["version"] for r in plan.supersede] == [2]
    assert plan.deployed()["info"] == {**plan.record["info"], "status": "deployed"}


@pytest.mark.parametrize("status", ["deployed", "superseded", "failed"])
def test_a_finished_rollback_is_not_applied_again(status: str) -> None:
    refusal = refused([record(1, "superseded"), record(2, "superseded"), mine(3, status)])

    assert refusal.reason == "AlreadyApplied"
    assert f"already {status}" in refusal.message


def test_labels_helm_copied_forward_do_not_make_a_later_revision_ours() -> None:
    # `helm upgrade` after our rollback copies our label into revision 4.
    later = record(4, "pending-upgrade", labels={ACTION_ID: "inc-1.rb"})
    releases = [record(1, "superseded"), record(2, "superseded"), mine(3, "superseded"), later]

    assert (helm.action_record(releases, "inc-1.rb") or {}).get("version") == 3
    assert refused(releases).reason == "AlreadyApplied"


def test_an_interrupted_rollback_that_others_wrote_over_is_not_finished() -> None:
    releases = [record(1, "superseded"), mine(2, "pending-rollback"), record(3, "deployed")]

    assert refused(releases).reason == "OperationSuperseded"


def test_another_action_id_plans_afresh() -> None:
    plan = planned([record(1, "superseded"), record(2, "superseded"), mine(3, "deployed")], action_id="inc-2.rb")

    assert (plan.target_revision, plan.new_revision, plan.resume) == (2, 4, False)


# --- objects --------------------------------------------------------------------------------


def test_objects_only_the_latest_rendered_are_deleted_except_the_ones_never_deleted() -> None:
    extra = config_map("extra")
    kept = config_map("kept-by-policy")
    kept["metadata"]["annotations"] = {"helm.sh/resource-policy": "keep"}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}}
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.y"}}
    latest = record(2, "deployed", manifest=manifest(config_map("shop-settings"), extra, kept, pvc, ns, crd))

    plan = planned([record(1, "superseded"), latest])

    assert [helm.describe(o, "apps") for o in plan.delete] == ["ConfigMap apps/extra"]
    assert [(helm.describe(o, "apps"), why) for o, why in plan.keep] == [
        ("ConfigMap apps/kept-by-policy", "annotated helm.sh/resource-policy: keep"),
        ("PersistentVolumeClaim apps/data", "a PersistentVolumeClaim is never deleted by onduty"),
        ("Namespace apps/team", "a Namespace is never deleted by onduty"),
        ("CustomResourceDefinition apps/x.y", "a CustomResourceDefinition is never deleted by onduty"),
    ]


def test_applied_objects_carry_helms_ownership_and_what_to_remove() -> None:
    latest = record(2, "deployed", manifest=manifest(config_map("shop-settings", message="v2", added="yes")))

    (item,) = planned([record(1, "superseded"), latest]).apply

    assert item.obj["metadata"] == {
        "name": "shop-settings",
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": "shop", "meta.helm.sh/release-namespace": "apps"},
    }
    assert item.obj["data"] == {"message": "v1"}
    assert item.removals == {"data": {"added": None}}


def test_an_object_in_another_namespace_or_version_is_the_same_object_by_group_kind_and_name() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}}
    v2 = {**v1, "apiVersion": "autoscaling/v2", "metadata": {"name": "web", "namespace": "apps"}}

    assert (
        helm.object_key(v1, "apps")
        == helm.object_key(v2, "apps")
        == ("autoscaling", "HorizontalPodAutoscaler", "apps", "web")
    )


@pytest.mark.parametrize(
    ("previous", "target", "patch"),
    [
        ({"data": {"a": "1", "b": "2"}}, {"data": {"a": "1"}}, {"data": {"b": None}}),
        ({"data": {"a": "1"}}, {}, {"data": {"a": None}}),  # key by key, never the whole map
        (
            {"metadata": {"name": "x", "annotations": {"t": "g"}, "labels": {"l": "1"}}},
            {"metadata": {"name": "x"}},
            {"metadata": {"annotations": {"t": None}, "labels": {"l": None}}},
        ),
        ({"metadata": {"name": "x", "namespace": "a"}}, {"metadata": {"name": "x"}}, {}),  # not the chart's to remove
        (
            {"spec": {"replicas": 3, "template": {"x": 1}}},
            {"spec": {"template": {"x": 2}}},
            {"spec": {"replicas": None}},
        ),
        (
            {"spec": {"ports": [{"port": 80}, {"port": 81}]}},
            {"spec": {"ports": [{"port": 80}]}},
            {},
        ),  # lists: applied whole
        ({"spec": {"a": {"b": 1}}}, {"spec": {"a": "flat"}}, {}),  # a map replaced by a value: the apply replaces it
        ({"apiVersion": "v1", "kind": "ConfigMap", "status": {}}, {}, {}),
    ],
)
def test_removed_fields(previous: dict[str, Any], target: dict[str, Any], patch: dict[str, Any]) -> None:
    assert helm.removed_fields(previous, target) == patch


def test_changed_paths_ignore_what_the_api_server_owns() -> None:
    before = {
        "metadata": {"name": "x", "resourceVersion": "1", "managedFields": [1], "annotations": {"a": "1"}},
        "data": {"m": "two", "added": "yes"},
        "status": {"x": 1},
    }
    after = {"metadata": {"name": "x", "resourceVersion": "2", "annotations": {"a": "1"}}, "data": {"m": "one"}}

    assert helm.changed_paths(before, after) == ["data.added", "data.m"]
    assert helm.changed_paths(after, after) == []


def test_a_failed_rollback_is_described_as_helm_describes_it() -> None:
    plan = planned([record(1, "superseded"), record(2, "deployed")])

    failed = plan.failed("PATCH ...: 422 Invalid: spec.replicas")

    assert failed["info"]["status"] == "failed"
    assert failed["info"]["description"] == 'Rollback "shop" failed: PATCH ...: 422 Invalid: spec.replicas'
    assert plan.record["info"]["status"] == "pending-rollback"  # values, not mutations


def test_a_dry_run_shows_removals_on_the_applied_object() -> None:
    applied = {"metadata": {"name": "x", "annotations": {"t": "g", "keep": "1"}}, "data": {"a": "1", "b": "2"}}

    shown = merge_patch(applied, {"metadata": {"annotations": {"t": None}}, "data": {"b": None}})

    assert shown == {"metadata": {"name": "x", "annotations": {"keep": "1"}}, "data": {"a": "1"}}
    assert applied["data"] == {"a": "1", "b": "2"}
