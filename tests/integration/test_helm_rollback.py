"""Native Helm rollback on the real control plane, judged by the real ``helm`` CLI.

Every release here is installed and upgraded by ``helm`` itself; onduty then rolls
one back through the release Secrets and the Kubernetes API, and ``helm history``,
``helm status`` and the cluster's objects must look as they do after ``helm rollback``
of a twin release.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import REPO
from onduty.adapters.helm import decode_release
from onduty.adapters.helm_rollback import HelmRollbackResult, applied_by, rollback
from onduty.adapters.kube import ApiRejected, ApiUnavailable, Cluster

CHART = REPO / "tests/fixtures/charts/demo"
Helm = Callable[..., str]


@pytest.fixture
def upgraded_chart(tmp_path: Path) -> Path:
    """The demo chart, version 0.2.0: one more ConfigMap, and one more key and annotation on the settings."""
    chart = tmp_path / "demo-0.2.0"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    (chart / "Chart.yaml").write_text(yaml.safe_dump({**meta, "version": "0.2.0", "appVersion": "1.1"}))
    settings = (CHART / "templates/configmap.yaml").read_text()
    settings = settings.replace("  labels:\n", "  annotations:\n    demo/tier: gold\n  labels:\n", 1)
    (chart / "templates/configmap.yaml").write_text(settings + '  added: "in 0.2.0"\n')
    (chart / "templates/extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  only: in-0.2.0\n"
    )
    return chart


def install_and_upgrade(helm: Helm, release: str, namespace: str, upgraded: Path) -> None:
    helm("install", release, str(CHART), "-n", namespace)
    helm("upgrade", release, str(upgraded), "-n", namespace, "--set", "message=two")


def history(helm: Helm, release: str, namespace: str) -> list[dict[str, Any]]:
    return json.loads(helm("history", release, "-n", namespace, "-o", "json"))


def shape(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """A history without its timestamps."""
    return [(r["revision"], r["status"], r["chart"], r["app_version"], r["description"]) for r in rows]


def release_secrets(kube: Cluster, namespace: str, release: str) -> dict[str, dict[str, Any]]:
    items = kube.request(
        "GET", f"/api/v1/namespaces/{namespace}/secrets", query={"labelSelector": f"owner=helm,name={release}"}
    )["items"]
    return {i["metadata"]["name"]: i for i in items}


def config_map(kube: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")


def config_map_names(kube: Cluster, namespace: str) -> set[str]:
    return {i["metadata"]["name"] for i in kube.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")["items"]}


def roll_back(kube: Cluster, namespace: str, release: str, **kwargs: Any) -> HelmRollbackResult:
    args: dict[str, Any] = {"to_revision": None, "action_id": "inc-1.helm-rollback", "dry_run": False} | kwargs
    return rollback(kube, namespace, release, **args)


def test_rollback_shows_in_helm_exactly_as_helm_rollback_does(kube, namespace, helm, upgraded_chart):
    install_and_upgrade(helm, "ours", namespace, upgraded_chart)
    install_and_upgrade(helm, "helms", namespace, upgraded_chart)

    result = roll_back(kube, namespace, "ours")
    helm("rollback", "helms", "-n", namespace)

    assert result.outcome == "Applied", result.summary
    assert (result.target_revision, result.new_revision) == (1, 3)
    ours, theirs = history(helm, "ours", namespace), history(helm, "helms", namespace)
    assert (
        shape(ours)
        == shape(theirs)
        == [
            (1, "superseded", "demo-0.1.0", "1.0", "Install complete"),
            (2, "superseded", "demo-0.2.0", "1.1", "Upgrade complete"),
            (3, "deployed", "demo-0.1.0", "1.0", "Rollback to 1"),
        ]
    )
    status = json.loads(helm("status", "ours", "-n", namespace, "-o", "json"))
    twin = json.loads(helm("status", "helms", "-n", namespace, "-o", "json"))
    assert (status["version"], status["info"]["status"], status["info"]["description"]) == (
        3,
        "deployed",
        "Rollback to 1",
    )
    assert status["info"]["first_deployed"] == ours[0]["updated"]  # kept from the install
    assert status["manifest"] == twin["manifest"].replace("helms", "ours")

    # The cluster: revision 1's settings again (the key and annotation 0.2.0 added are gone), no extra object.
    for release in ("ours", "helms"):
        settings = config_map(kube, namespace, f"{release}-settings")
        assert settings["data"] == {"message": "hello"}, release
        assert "demo/tier" not in (settings["metadata"].get("annotations") or {}), release
        assert settings["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert settings["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
    assert "ours-extra" not in config_map_names(kube, namespace)
    assert "helms-extra" not in config_map_names(kube, namespace)
    assert "~ ConfigMap " + f"{namespace}/ours-settings: changed: " in result.summary
    assert f"- ConfigMap {namespace}/ours-extra: deleted" in result.summary

    # The release Secrets: the same labels and the same records, save the names, the times and our label.
    mine, helms = release_secrets(kube, namespace, "ours"), release_secrets(kube, namespace, "helms")
    for revision in (1, 2, 3):
        a, b = mine[f"sh.helm.release.v1.ours.v{revision}"], helms[f"sh.helm.release.v1.helms.v{revision}"]
        labels_a = {k: v for k, v in a["metadata"]["labels"].items() if k not in ("name", "modifiedAt")}
        labels_b = {k: v for k, v in b["metadata"]["labels"].items() if k not in ("name", "modifiedAt")}
        expected_extra = {"onduty.dev/action-id": "inc-1.helm-rollback"} if revision == 3 else {}
        assert labels_a == labels_b | expected_extra, revision
        assert sorted(a["metadata"]["labels"]) == sorted([*b["metadata"]["labels"], *expected_extra])
        record_a, record_b = decode_release(a["data"]["release"]), decode_release(b["data"]["release"])
        for record in (record_a, record_b):
            record.pop("name")
            record["info"].pop("last_deployed")
            record["info"].pop("first_deployed")
            record["manifest"] = record["manifest"].replace("helms", "ours")
        assert record_a == record_b, revision

    # Helm carries on from our revision as from its own.
    helm("upgrade", "ours", str(upgraded_chart), "-n", namespace, "--set", "message=three")
    assert shape(history(helm, "ours", namespace))[2:] == [
        (3, "superseded", "demo-0.1.0", "1.0", "Rollback to 1"),
        (4, "deployed", "demo-0.2.0", "1.1", "Upgrade complete"),
    ]
    assert config_map(kube, namespace, "ours-settings")["data"] == {"message": "three", "added": "in 0.2.0"}


def test_rollback_to_a_named_revision(kube, namespace, helm, upgraded_chart):
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    helm("upgrade", "shop", str(upgraded_chart), "-n", namespace, "--set", "message=three")

    result = roll_back(kube, namespace, "shop", to_revision=2)

    assert result.outcome == "Applied", result.summary
    assert shape(history(helm, "shop", namespace))[1:] == [
        (2, "superseded", "demo-0.2.0", "1.1", "Upgrade complete"),
        (3, "superseded", "demo-0.2.0", "1.1", "Upgrade complete"),
        (4, "deployed", "demo-0.2.0", "1.1", "Rollback to 2"),
    ]
    assert config_map(kube, namespace, "shop-settings")["data"] == {"message": "two", "added": "in 0.2.0"}
    assert "shop-extra" in config_map_names(kube, namespace)


def test_dry_run_writes_nothing_and_says_what_would_change(kube, namespace, helm, upgraded_chart):
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    secrets_before = {n: s["metadata"]["resourceVersion"] for n, s in release_secrets(kube, namespace, "shop").items()}
    settings_before = config_map(kube, namespace, "shop-settings")

    result = roll_back(kube, namespace, "shop", dry_run=True)

    assert result.outcome == "DryRun", result.summary
    assert result.summary.splitlines()[:3] == [
        f"dry run, nothing written: Helm release {namespace}/shop: revision 3, 'Rollback to 1'",
        "  revision 2: deployed -> superseded",
        "  revision 3: pending-rollback -> deployed",
    ]
    assert (
        f"~ ConfigMap {namespace}/shop-settings: changed: data.added, data.message, "
        "metadata.annotations.demo/tier" in result.summary
    )
    assert f"- ConfigMap {namespace}/shop-extra: deleted" in result.summary
    after = {n: s["metadata"]["resourceVersion"] for n, s in release_secrets(kube, namespace, "shop").items()}
    assert after == secrets_before
    assert config_map(kube, namespace, "shop-settings") == settings_before
    assert "shop-extra" in config_map_names(kube, namespace)
    assert [r["status"] for r in history(helm, "shop", namespace)] == ["superseded", "deployed"]
    assert not applied_by(kube, namespace, "shop", "inc-1.helm-rollback")


def test_applied_by_is_false_before_and_true_after_and_a_repeat_writes_nothing(kube, namespace, helm, upgraded_chart):
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    assert not applied_by(kube, namespace, "shop", "inc-1.helm-rollback")

    first = roll_back(kube, namespace, "shop")
    secrets = {n: s["metadata"]["resourceVersion"] for n, s in release_secrets(kube, namespace, "shop").items()}
    again = roll_back(kube, namespace, "shop")

    assert first.outcome == "Applied"
    assert applied_by(kube, namespace, "shop", "inc-1.helm-rollback")
    assert not applied_by(kube, namespace, "shop", "inc-2.helm-rollback")
    assert (again.outcome, again.reason) == ("AlreadyApplied", "AlreadyApplied")
    assert {n: s["metadata"]["resourceVersion"] for n, s in release_secrets(kube, namespace, "shop").items()} == secrets
    assert len(history(helm, "shop", namespace)) == 3


def test_refuses_when_there_is_nothing_to_roll_back_to(kube, namespace, helm):
    helm("install", "shop", str(CHART), "-n", namespace)

    result = roll_back(kube, namespace, "shop")

    assert (result.outcome, result.reason) == ("Refused", "NothingToRollBack")
    assert "no deployed or superseded revision before revision 1" in result.message
    assert list(release_secrets(kube, namespace, "shop")) == ["sh.helm.release.v1.shop.v1"]
    assert roll_back(kube, namespace, "nowhere").reason == "ReleaseNotFound"


class FailingCluster(Cluster):
    """The real cluster, with one kind of request made to fail: a crash or a rejection, on cue."""

    def __init__(self, real: Cluster, fails: Callable[[str, str, dict[str, str] | None], Exception | None]) -> None:
        super().__init__(real.api, timeout=real.timeout)
        self.fails = fails

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        error = self.fails(method, path, kwargs.get("query"))
        if error is not None:
            raise error
        return super().request(method, path, **kwargs)


def test_an_interrupted_rollback_is_finished_by_the_next_call_never_repeated(kube, namespace, helm, upgraded_chart):
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    # The API server goes away after the objects are applied, before any revision is superseded.
    down = FailingCluster(
        kube, lambda method, path, _: ApiUnavailable("connection refused") if method == "PUT" else None
    )

    with pytest.raises(ApiUnavailable):
        roll_back(down, namespace, "shop")

    # Never two deployed revisions: the new one is still pending.
    assert [(r["revision"], r["status"]) for r in history(helm, "shop", namespace)] == [
        (1, "superseded"),
        (2, "deployed"),
        (3, "pending-rollback"),
    ]
    assert not applied_by(kube, namespace, "shop", "inc-1.helm-rollback")
    assert roll_back(kube, namespace, "shop", action_id="inc-2.other").reason == "OperationInProgress"

    result = roll_back(kube, namespace, "shop")

    assert result.outcome == "Applied", result.summary
    assert "(finishing an interrupted rollback)" in result.summary
    assert shape(history(helm, "shop", namespace)) == [
        (1, "superseded", "demo-0.1.0", "1.0", "Install complete"),
        (2, "superseded", "demo-0.2.0", "1.1", "Upgrade complete"),
        (3, "deployed", "demo-0.1.0", "1.0", "Rollback to 1"),
    ]
    assert applied_by(kube, namespace, "shop", "inc-1.helm-rollback")


def test_a_rejected_object_is_recorded_as_helm_records_a_failed_rollback(kube, namespace, helm, upgraded_chart):
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    rejecting = FailingCluster(
        kube,
        lambda method, path, query: (
            ApiRejected("PATCH: 422 Invalid: no", status=422)
            if method == "PATCH" and path.endswith("/deployments/shop")
            else None
        ),
    )

    result = roll_back(rejecting, namespace, "shop")

    assert (result.outcome, result.reason) == ("Failed", "RollbackFailed")
    rows = history(helm, "shop", namespace)
    assert [(r["revision"], r["status"]) for r in rows] == [(1, "superseded"), (2, "superseded"), (3, "failed")]
    assert rows[2]["description"] == 'Rollback "shop" failed: PATCH: 422 Invalid: no'
    assert applied_by(kube, namespace, "shop", "inc-1.helm-rollback")


# --- a forged release record: a namespace editor must not borrow onduty's rights ----------------

FORGER = "mallory"
# What the forger adds to a real revision's manifest, each out of reach of the `edit` role.
PRIVILEGED_DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "onduty-forged-agent", "namespace": "kube-system"},
    "spec": {
        "selector": {"matchLabels": {"app": "forged"}},
        "template": {
            "metadata": {"labels": {"app": "forged"}},
            "spec": {
                "hostPID": True,
                "containers": [{"name": "x", "image": "busybox", "securityContext": {"privileged": True}}],
            },
        },
    },
}
CLUSTER_ADMIN_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "onduty-forged-admin"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": FORGER}],
}
# Another release's object in the same namespace (the "payments" release installs it).
VICTIM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "payments-settings"},
    "data": {"message": "forged"},
}
# Lands wherever the record's namespace says, if that is believed.
STRAY = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "onduty-forged"}, "data": {"x": "y"}}


@pytest.fixture
def forger(cluster, namespace) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """kubectl as a user who holds only the built-in ``edit`` role, in the test's namespace only.

    Whatever a forgery got onduty to write outside the namespace goes at teardown, so one
    failure does not lend the forger cluster-admin in the tests after it.
    """
    cluster.kubectl("create", "rolebinding", "forger-edit", "--clusterrole=edit", f"--user={FORGER}", "-n", namespace)

    def can(*args: str) -> bool:
        return cluster.kubectl("auth", "can-i", f"--as={FORGER}", *args, check=False).stdout.strip() == "yes"

    assert can("create", "secrets", "-n", namespace)
    assert can("update", "secrets", "-n", namespace)
    assert not can("create", "clusterrolebindings")
    assert not can("create", "daemonsets", "-n", "kube-system")
    assert not can("create", "rolebindings", "-n", namespace)

    def run(*args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
        return cluster.kubectl(f"--as={FORGER}", *args, input_=input_)

    yield run
    cluster.kubectl("delete", "clusterrolebinding", "onduty-forged-admin", "--ignore-not-found", check=False)
    cluster.kubectl(
        "delete",
        "daemonset/onduty-forged-agent",
        "configmap/onduty-forged",
        "-n",
        "kube-system",
        "--ignore-not-found",
        check=False,
    )
    cluster.kubectl("delete", "secrets", "-n", "kube-system", "-l", "owner=helm,name=shop", check=False)


def forge(forger: Callable[..., Any], namespace: str, record: dict[str, Any]) -> None:
    """Write ``record`` as Helm would store it, as the forger can: a Secret, base64 of gzip of JSON."""
    version, status = record["version"], record["info"]["status"]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"sh.helm.release.v1.{record['name']}.v{version}",
            "labels": {"owner": "helm", "name": record["name"], "status": status, "version": str(version)},
        },
        "type": "helm.sh/release.v1",
        # stringData: the API server adds the Secret's own base64 layer.
        "stringData": {"release": base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()},
    }
    forger("create", "-n", namespace, "-f", "-", input_=json.dumps(secret))


def with_objects(manifest: str, *objects: dict[str, Any]) -> str:
    return manifest + "".join("\n---\n" + yaml.safe_dump(o) for o in objects)


def kube_system(cluster) -> set[str]:
    listed = cluster.kubectl("get", "daemonsets,configmaps,secrets", "-n", "kube-system", "-o", "name").stdout
    return set(listed.split())


@pytest.mark.parametrize("dry_run", [False, True], ids=["applied", "dry-run"])
@pytest.mark.parametrize(
    ("where", "added", "changes", "reason", "words"),
    [
        pytest.param(
            "target",
            PRIVILEGED_DAEMONSET,
            {},
            "ObjectOutsideNamespace",
            "holds DaemonSet kube-system/onduty-forged-agent, in namespace kube-system",
            id="privileged-daemonset-in-kube-system",
        ),
        pytest.param(
            "target",
            CLUSTER_ADMIN_BINDING,
            {},
            "ClusterScopedObject",
            "would apply ClusterRoleBinding onduty-forged-admin, which is cluster-scoped",
            id="cluster-role-binding",
        ),
        pytest.param(
            "target",
            VICTIM,
            {},
            "NotOwnedByRelease",
            "payments-settings, which belongs to Helm release {namespace}/payments",
            id="another-releases-object-applied",
        ),
        pytest.param(
            "latest",
            VICTIM,
            {},
            "NotOwnedByRelease",
            "would delete ConfigMap {namespace}/payments-settings",
            id="another-releases-object-deleted",
        ),
        pytest.param(
            "target",
            STRAY,
            {"namespace": "kube-system"},
            "ReleaseOutsideNamespace",
            "stored in namespace {namespace}, names namespace 'kube-system'",
            id="record-naming-kube-system",
        ),
    ],
)
def test_a_forged_release_record_is_refused_and_nothing_is_written(
    cluster, kube, namespace, helm, forger, upgraded_chart, where, added, changes, reason, words, dry_run
):
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    helm("install", "payments", str(CHART), "-n", namespace)
    real = decode_release(release_secrets(kube, namespace, "shop")["sh.helm.release.v1.shop.v2"]["data"]["release"])
    # Revision 3 is the default target (the newest good one before the latest), revision 4 the latest.
    target = real | {"version": 3, "info": real["info"] | {"status": "superseded"}}
    latest = real | {"version": 4}
    (target if where == "target" else latest).update(manifest=with_objects(real["manifest"], added), **changes)
    forge(forger, namespace, target)
    forge(forger, namespace, latest)

    history_before = history(helm, "shop", namespace)
    secrets_before = {n: s["metadata"]["resourceVersion"] for n, s in release_secrets(kube, namespace, "shop").items()}
    system_before = kube_system(cluster)
    victim_before = config_map(kube, namespace, "payments-settings")
    names_before = config_map_names(kube, namespace)

    result = roll_back(kube, namespace, "shop", dry_run=dry_run)

    assert (result.outcome, result.reason) == ("Refused", reason), result.message
    assert words.format(namespace=namespace) in result.message
    assert result.verdict().allowed is False
    assert kube_system(cluster) == system_before
    crb = cluster.kubectl("get", "clusterrolebinding", "onduty-forged-admin", check=False)
    assert crb.returncode != 0 and "NotFound" in crb.stderr
    assert config_map(kube, namespace, "payments-settings") == victim_before  # resourceVersion too
    assert config_map_names(kube, namespace) == names_before
    assert history(helm, "shop", namespace) == history_before  # no revision 5, none changed
    assert {
        n: s["metadata"]["resourceVersion"] for n, s in release_secrets(kube, namespace, "shop").items()
    } == secrets_before
    assert [r["status"] for r in history(helm, "payments", namespace)] == ["deployed"]


def test_a_real_release_with_another_release_beside_it_still_rolls_back(kube, namespace, helm, upgraded_chart):
    """Helm's ownership annotations are on every object helm creates: the checks pass real releases."""
    install_and_upgrade(helm, "shop", namespace, upgraded_chart)
    helm("install", "payments", str(CHART), "-n", namespace)
    payments = config_map(kube, namespace, "payments-settings")

    result = roll_back(kube, namespace, "shop")

    assert result.outcome == "Applied", result.summary
    assert f"- ConfigMap {namespace}/shop-extra: deleted" in result.summary
    assert config_map(kube, namespace, "payments-settings") == payments
    # What onduty applied carries the annotations, so a rollback of the rollback passes too.
    again = roll_back(kube, namespace, "shop", to_revision=2, action_id="inc-2.helm-rollback")
    assert again.outcome == "Applied", again.summary
    assert config_map(kube, namespace, "shop-settings")["data"] == {"message": "two", "added": "in 0.2.0"}
