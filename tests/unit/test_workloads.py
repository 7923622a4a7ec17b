"""Which workload an alert is about, read from its labels alone."""

from __future__ import annotations

import pytest

from onduty.domain.trust import Untrusted
from onduty.domain.workloads import Workload, workload_from_labels


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param({"deployment": "web"}, Workload("Deployment", "web", "shop"), id="deployment-label"),
        pytest.param({"statefulset": "db"}, Workload("StatefulSet", "db", "shop"), id="statefulset-label"),
        pytest.param({"daemonset": "node-exporter"}, Workload("DaemonSet", "node-exporter", "shop"), id="daemonset"),
        pytest.param(
            {"deployment": "web", "pod": "other-7d4b9c8f6d-x2x9k"},
            Workload("Deployment", "web", "shop"),
            id="workload-label-beats-pod",
        ),
        pytest.param(
            {"statefulset": "db", "pod": "db-0"}, Workload("StatefulSet", "db", "shop"), id="statefulset-with-pod"
        ),
        pytest.param(
            {"deployment": "", "pod": "web-7d4b9c8f6d-x2x9k"},
            Workload("Deployment", "web", "shop"),
            id="empty-label-falls-through-to-pod",
        ),
        pytest.param({}, None, id="no-labels"),
        pytest.param({"alertname": "TargetDown", "job": "kubelet"}, None, id="no-workload-labels"),
        pytest.param({"deployment": ""}, None, id="empty-deployment-label"),
    ],
)
def test_workload_labels_name_the_workload(labels: dict[str, str], expected: Workload | None) -> None:
    assert workload_from_labels(labels, "shop") == expected


@pytest.mark.parametrize(
    ("pod", "deployment"),
    [
        # Real ReplicaSet pods: <deployment>-<pod-template-hash>-<5 chars>.
        ("web-7d4b9c8f6d-x2x9k", "web"),
        ("coredns-5d78c9869d-6tq8h", "coredns"),
        ("checkout-api-5f6b8c9d7-m4x7z", "checkout-api"),
        ("metrics-server-6d94bc8694-mkqzb", "metrics-server"),
        ("a-b-c-d-857dfc7c46-zr2wq", "a-b-c-d"),
        ("nginx-ingress-controller-59bb5f6b4-q9w8z", "nginx-ingress-controller"),
    ],
)
def test_a_replicaset_pod_name_points_to_its_deployment(pod: str, deployment: str) -> None:
    assert workload_from_labels({"pod": pod}, "shop") == Workload("Deployment", deployment, "shop")


@pytest.mark.parametrize(
    "pod",
    [
        pytest.param("db-0", id="statefulset-pod"),
        pytest.param("kafka-brokers-12", id="statefulset-pod-many-dashes"),
        pytest.param("node-exporter-x7k2p", id="daemonset-pod"),
        pytest.param("kube-proxy-x7k2p", id="daemonset-pod-short-name"),
        pytest.param("backup-28462451-x7k2p", id="cronjob-pod"),
        # A CronJob's Job is named <cronjob>-<scheduled minute>. These digits all fall in
        # the hash alphabet; a pod-template-hash is a uint32 whose decimal digits are
        # mapped 0-9 -> 4,5,6,7,8,9,b,c,d,f, so it nearly always has a consonant. Guessing
        # "Deployment/backup" here could restart an unrelated Deployment of that name.
        pytest.param("backup-29462458-x7k2p", id="cronjob-pod-hash-like-minute"),
        pytest.param("web", id="bare-name"),
        pytest.param("Web-7d4b9c8f6d-x2x9k", id="upper-case"),
        pytest.param("web-7d4b9c8f6d-x2x9", id="suffix-too-short"),
        pytest.param("web-7d4b9-x2x9k", id="hash-too-short"),
        pytest.param("web-7d4b9c8f6d-x2x9k-extra", id="trailing-segment"),
        pytest.param("-7d4b9c8f6d-x2x9k", id="no-name"),
        pytest.param("", id="empty"),
    ],
)
def test_a_pod_name_not_made_by_a_deployment_points_to_nothing(pod: str) -> None:
    assert workload_from_labels({"pod": pod}, "shop") is None


def test_a_workload_round_trips_through_its_dict_form() -> None:
    workload = Workload("StatefulSet", "db", "shop")

    assert workload.to_dict() == {"kind": "StatefulSet", "name": "db", "namespace": "shop"}
    assert Workload.from_dict(workload.to_dict(), "shop") == workload
    assert Workload.from_dict({"kind": "StatefulSet", "name": "db"}, "shop") == workload
    assert str(workload) == "StatefulSet/db"


def test_an_incident_cannot_point_its_workload_at_another_namespace() -> None:
    with pytest.raises(Untrusted) as refused:
        Workload.from_dict({"kind": "Deployment", "name": "coredns", "namespace": "kube-system"}, "team-a")

    assert refused.value.reason == "OutsideNamespace"
    assert "spec.workload.namespace" in refused.value.message and "'kube-system'" in refused.value.message


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        ({"kind": "Deployment", "name": "../../kube-system/deployments/coredns"}, "InvalidName", "spec.workload.name"),
        ({"kind": "Deployment", "name": "web/scale"}, "InvalidName", "spec.workload.name"),
        ({"kind": "Deployment", "name": ".."}, "InvalidName", "spec.workload.name"),
        ({"kind": "Deployment", "name": "Web"}, "InvalidName", "spec.workload.name"),
        (
            {"kind": "Deployment", "name": "web", "namespace": "../kube-system"},
            "InvalidName",
            "spec.workload.namespace",
        ),
        ({"kind": "CronJob", "name": "web"}, "UnsupportedKind", "spec.workload.kind"),
    ],
)
def test_an_incident_workload_with_an_unsafe_name_is_refused_naming_the_field(
    data: dict[str, str], reason: str, field: str
) -> None:
    with pytest.raises(Untrusted) as refused:
        Workload.from_dict(data, "team-a")

    assert refused.value.reason == reason
    assert refused.value.message.startswith(field)


@pytest.mark.parametrize("value", ["../kube-system/deployments/coredns", "web/status", "..", "WEB", "a" * 254])
def test_an_alert_label_that_is_no_valid_name_selects_no_workload(value: str) -> None:
    assert workload_from_labels({"deployment": value}, "team-a") is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kind": "Deployment", "name": "web"}, Workload("Deployment", "web", "default-ns")),
        ({"kind": "Deployment", "name": "web", "namespace": ""}, Workload("Deployment", "web", "default-ns")),
        (None, None),
        ({}, None),
        ({"kind": "Deployment"}, None),
        ({"name": "web"}, None),
        ({"kind": "", "name": "web"}, None),
    ],
)
def test_a_workload_from_a_partial_dict_is_none_or_takes_the_default_namespace(
    data: dict[str, str] | None, expected: Workload | None
) -> None:
    assert Workload.from_dict(data, "default-ns") == expected
