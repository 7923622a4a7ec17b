"""Which incident an alert joins: the grouping key and the incident's name."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from onduty.domain.grouping import DEFAULT_KEYS, GroupingConfig, group_hash, group_key, incident_name
from onduty.domain.workloads import Workload, workload_from_labels

OPENED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
WEB = Workload("Deployment", "web", "shop")


@pytest.mark.parametrize(
    ("labels", "workload", "keys", "expected"),
    [
        pytest.param(
            {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-7d4b9c8f6d-x2x9k"},
            WEB,
            DEFAULT_KEYS,
            'alertname="KubePodCrashLooping",namespace="shop",workload="Deployment/web"',
            id="default-keys",
        ),
        pytest.param(
            {"alertname": "TargetDown", "namespace": "monitoring"},
            None,
            DEFAULT_KEYS,
            'alertname="TargetDown",namespace="monitoring",workload=""',
            id="no-workload",
        ),
        pytest.param({}, None, DEFAULT_KEYS, 'alertname="",namespace="",workload=""', id="missing-labels-are-empty"),
        pytest.param(
            {"alertname": "X", "workload": "from-a-label"},
            None,
            DEFAULT_KEYS,
            'alertname="X",namespace="",workload="from-a-label"',
            id="a-real-workload-label-is-used-when-none-derived",
        ),
        pytest.param(
            {"alertname": "X", "cluster": "eu-1", "namespace": "shop"},
            WEB,
            ("cluster", "alertname"),
            'cluster="eu-1",alertname="X"',
            id="custom-keys-in-given-order",
        ),
    ],
)
def test_the_group_key_lists_the_grouping_labels_in_order(
    labels: dict[str, str], workload: Workload | None, keys: tuple[str, ...], expected: str
) -> None:
    assert group_key(labels, workload, keys) == expected


def test_pods_of_one_deployment_firing_the_same_alert_share_a_group() -> None:
    keys = {
        group_key(labels, workload_from_labels(labels, "shop"), DEFAULT_KEYS)
        for labels in (
            {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-7d4b9c8f6d-x2x9k"},
            {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-7d4b9c8f6d-q8wzt"},
            {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-5f6b8c9d7-m4x7z"},
            {"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "web"},
        )
    }

    assert len(keys) == 1


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"alertname": "KubePodNotReady", "namespace": "shop", "deployment": "web"}, id="other-alert"),
        pytest.param({"alertname": "KubePodCrashLooping", "namespace": "cart", "deployment": "web"}, id="other-ns"),
        pytest.param({"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "api"}, id="other-app"),
        pytest.param({"alertname": "KubePodCrashLooping", "namespace": "shop", "statefulset": "web"}, id="other-kind"),
    ],
)
def test_alerts_differing_in_a_grouping_label_are_separate_groups(other: dict[str, str]) -> None:
    base = {"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "web"}

    assert group_key(other, workload_from_labels(other, other["namespace"]), DEFAULT_KEYS) != group_key(
        base, WEB, DEFAULT_KEYS
    )


def test_label_values_containing_separators_cannot_merge_two_groups() -> None:
    # Without escaping, {a: "1,b=2", b: ""} and {a: "1", b: "2,b="} both read "a=1,b=2,b=".
    keys = ("a", "b")

    assert group_key({"a": "1,b=2", "b": ""}, None, keys) != group_key({"a": "1", "b": "2,b="}, None, keys)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("alertname,namespace,workload", ("alertname", "namespace", "workload")),
        (" alertname , cluster ", ("alertname", "cluster")),
        ("alertname,,namespace,", ("alertname", "namespace")),
        ("alertname", ("alertname",)),
    ],
)
def test_grouping_keys_parse_from_a_comma_separated_list(text: str, keys: tuple[str, ...]) -> None:
    assert GroupingConfig.parse(text).keys == keys


@pytest.mark.parametrize("text", ["", " ", ",", " , ,"])
def test_grouping_keys_without_a_label_name_are_rejected_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        GroupingConfig.parse(text)


def test_the_default_grouping_is_alertname_namespace_and_workload() -> None:
    assert GroupingConfig().keys == ("alertname", "namespace", "workload")


KEY = 'alertname="KubePodCrashLooping",namespace="shop",workload="Deployment/web"'


@pytest.mark.parametrize(
    ("alertname", "prefix"),
    [
        ("KubePodCrashLooping", "kubepodcrashlooping"),
        ("CPU_Throttling.High", "cpu-throttling-high"),
        ("", "incident"),
        ("日本語", "incident"),
        ("A" * 300, "a" * 30),
        ("x" * 29 + "-yyy", "x" * 29),
    ],
)
def test_an_incident_name_is_a_short_dns_label_whatever_the_alertname(alertname: str, prefix: str) -> None:
    name = incident_name(alertname, KEY, OPENED)

    assert DNS1123_LABEL.match(name), name
    assert len(name) <= 63  # also usable as a label value (the alerts' incident label)
    readable, hashed, opened = name.rsplit("-", 2)
    assert readable == prefix
    assert hashed == "e8a8b546"  # sha256 of KEY: e8a8b5466f8e0e40...
    assert int(opened, 36) == int(OPENED.timestamp())


def test_an_incident_name_is_deterministic_for_group_and_second() -> None:
    # 1714564800 (2024-05-01T12:00:00Z) in base 36 is sct2o0; the fraction of the second does not count.
    assert incident_name("X", KEY, OPENED) == "x-e8a8b546-sct2o0"
    assert incident_name("X", KEY, OPENED + timedelta(microseconds=999_999)) == "x-e8a8b546-sct2o0"


@pytest.mark.parametrize(
    ("key", "opened"),
    [
        pytest.param(KEY + "-other", OPENED, id="other-group"),
        pytest.param(KEY, OPENED + timedelta(seconds=1), id="reopened-later"),
    ],
)
def test_another_group_or_opening_time_gives_another_incident_name(key: str, opened: datetime) -> None:
    assert incident_name("X", key, opened) != incident_name("X", KEY, OPENED)


def test_the_group_hash_is_a_valid_label_value() -> None:
    hashed = group_hash(KEY)

    assert re.fullmatch(r"[0-9a-f]{16}", hashed)
    assert hashed == "e8a8b5466f8e0e40"  # the first 16 hex digits of sha256(KEY), after a restart too
