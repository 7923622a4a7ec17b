"""Alert objects: deterministic names, the spec written, redeliveries, firing episodes, label values."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from onduty.domain import trust
from onduty.domain.alerts import (
    ALERTNAME_MAX,
    Create,
    Step,
    Unchanged,
    Update,
    WebhookAlert,
    WebhookMessage,
    alert_namespace,
    alert_object_name,
    alert_spec,
    bounded,
    parse_webhook,
    plan_delivery,
    safe_label_value,
    spec_update,
)
from onduty.domain.grouping import incident_name
from onduty.domain.times import rfc3339

# metadata.name of a custom resource: a DNS-1123 subdomain.
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


def _alert(
    *,
    alertname: str = "KubePodCrashLooping",
    fingerprint: str = "3b0d1a4c6f2e9d87",
    starts_at: str = "2024-05-01T11:58:30.123456789Z",
    status: str = "firing",
    ends_at: str = "0001-01-01T00:00:00Z",
    **extra: Any,
) -> WebhookAlert:
    return WebhookAlert.model_validate(
        {
            "status": status,
            "labels": {"alertname": alertname, "namespace": "shop"},
            "annotations": {"summary": "Pod is crash looping."},
            "startsAt": starts_at,
            "endsAt": ends_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": fingerprint,
            **extra,
        }
    )


def _message(*alerts: dict[str, Any]) -> WebhookMessage:
    return parse_webhook(
        {
            "version": "4",
            "groupKey": '{}:{alertname="KubePodCrashLooping"}',
            "receiver": "onduty",
            "status": "firing",
            "alerts": list(alerts),
            "externalURL": "http://alertmanager:9093",
        }
    )


def test_the_object_name_reads_alertname_fingerprint_and_episode() -> None:
    assert alert_object_name(_alert(), 1) == "kubepodcrashlooping-3b0d1a4c6f2e9d87-1"
    assert alert_object_name(_alert(), 12) == "kubepodcrashlooping-3b0d1a4c6f2e9d87-12"


@pytest.mark.parametrize(
    "redelivery",
    [
        pytest.param({}, id="identical-retry"),
        pytest.param({"status": "resolved", "ends_at": "2024-05-01T12:10:00Z"}, id="resolved-later"),
        pytest.param({"fingerprint": "3B0D1A4C6F2E9D87"}, id="upper-case-fingerprint"),
        pytest.param({"starts_at": "2024-05-01T13:58:30.123456789+02:00"}, id="same-instant-other-offset"),
        pytest.param({"starts_at": "2024-05-01T11:50:00Z"}, id="ha-peer-with-an-earlier-start"),
        pytest.param({"starts_at": "2024-05-01T12:05:00Z"}, id="restarted-prometheus-with-a-later-start"),
        pytest.param({"annotations": {"summary": "changed"}}, id="annotations-changed"),
    ],
)
def test_every_delivery_of_one_episode_gets_the_same_name(redelivery: dict[str, Any]) -> None:
    assert alert_object_name(_alert(**redelivery), 1) == alert_object_name(_alert(), 1)


def test_another_episode_or_fingerprint_gets_another_name() -> None:
    assert alert_object_name(_alert(), 2) != alert_object_name(_alert(), 1)
    assert alert_object_name(_alert(fingerprint="9a1e44c0b7f0d2e3"), 1) != alert_object_name(_alert(), 1)


@pytest.mark.parametrize(
    ("alertname", "prefix"),
    [
        ("KubePodCrashLooping", "kubepodcrashlooping-"),
        ("CPU_Throttling.High", "cpu-throttling-high-"),
        ("  spaces  and   tabs\t", "spaces-and-tabs-"),
        ("--Leading-and-trailing--", "leading-and-trailing-"),
        ("Überlast", "berlast-"),
        ("日本語", "alert-"),
        ("", "alert-"),
        ("!!!", "alert-"),
        ("A" * 300, "a" * 40 + "-"),
        ("x" * 39 + "-yyy", "x" * 39 + "-"),  # truncation never leaves a trailing hyphen
    ],
)
def test_any_alertname_yields_a_valid_object_name(alertname: str, prefix: str) -> None:
    name = alert_object_name(_alert(alertname=alertname, fingerprint="f" * 64), 10**9)

    assert name.startswith(prefix)
    assert DNS1123_SUBDOMAIN.match(name), name
    # alertname (<= 40) + fingerprint (<= 64) + a billion episodes: far below the 253 limit.
    assert len(name) <= 40 + 1 + 64 + 1 + 10


def test_the_spec_copies_the_alert_and_the_notification_it_came_in() -> None:
    message = _message(
        {
            "status": "firing",
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
            "annotations": {"summary": "Pod is crash looping."},
            "startsAt": "2024-05-01T11:58:30.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "3B0D1A4C6F2E9D87",
        }
    )

    spec = alert_spec(message.alerts[0], message)

    assert spec == {
        "fingerprint": "3b0d1a4c6f2e9d87",
        "alertname": "KubePodCrashLooping",
        "state": "firing",
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
        "annotations": {"summary": "Pod is crash looping."},
        "startsAt": "2024-05-01T11:58:30.123456Z",
        "generatorURL": "http://prometheus:9090/graph",
        "receiver": "onduty",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}',
        "externalURL": "http://alertmanager:9093",
    }


def test_the_spec_carries_how_many_alerts_alertmanager_left_out_of_the_notification() -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "KubePodCrashLooping"},
        "startsAt": "2024-05-01T11:58:30Z",
        "fingerprint": "3b0d1a4c6f2e9d87",
    }
    truncated = parse_webhook({"version": "4", "status": "firing", "alerts": [alert], "truncatedAlerts": 7})
    whole = _message(alert)

    assert alert_spec(truncated.alerts[0], truncated)["truncatedAlerts"] == 7
    assert "truncatedAlerts" not in alert_spec(whole.alerts[0], whole)


def test_the_spec_carries_the_end_time_once_the_alert_resolved() -> None:
    alert = _alert(status="resolved", ends_at="2024-05-01T14:10:00+02:00")

    spec = alert_spec(alert, _message())

    assert spec["endsAt"] == "2024-05-01T12:10:00Z"
    assert spec["state"] == "resolved"


FIRING = {"state": "firing", "labels": {"a": "1"}, "annotations": {"summary": "s"}, "startsAt": "t0"}


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [
        pytest.param(FIRING, FIRING, None, id="unchanged"),
        pytest.param(
            FIRING,
            {**FIRING, "state": "resolved", "endsAt": "t1"},
            {"state": "resolved", "endsAt": "t1"},
            id="resolves",
        ),
        pytest.param(
            FIRING,
            {**FIRING, "annotations": {"summary": "new"}},
            {"annotations": {"summary": "new"}},
            id="annotations-only",
        ),
        pytest.param(
            {**FIRING, "state": "resolved", "endsAt": "t1"},
            FIRING,
            None,
            id="late-firing-never-reopens",
        ),
        pytest.param(
            {**FIRING, "state": "resolved", "endsAt": "t1"},
            {**FIRING, "state": "firing", "annotations": {"summary": "new"}},
            None,
            id="late-firing-with-changes-still-ignored",
        ),
        pytest.param(
            {**FIRING, "state": "resolved", "endsAt": "t1"},
            {**FIRING, "state": "resolved", "endsAt": "t2"},
            {"endsAt": "t2"},
            id="resolved-redelivered-with-new-end",
        ),
        pytest.param(
            {**FIRING, "state": "resolved", "endsAt": "t1"},
            {**FIRING, "state": "resolved", "endsAt": "t1"},
            None,
            id="resolved-redelivered-unchanged",
        ),
        pytest.param({}, FIRING, FIRING, id="empty-existing-takes-everything"),
    ],
)
def test_a_redelivery_changes_only_what_differs_and_resolved_is_final(
    existing: dict[str, Any], incoming: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    assert spec_update(existing, incoming) == expected


def test_a_real_resolution_changes_state_and_end_time_only() -> None:
    message = _message()
    firing = alert_spec(_alert(), message)
    resolved = alert_spec(_alert(status="resolved", ends_at="2024-05-01T12:10:00Z"), message)

    assert spec_update(firing, resolved) == {"state": "resolved", "endsAt": "2024-05-01T12:10:00Z"}


@pytest.mark.parametrize(
    "value",
    ["KubePodCrashLooping", "", "a", "a" * 63, "dots.and_underscores-ok", "CPU_Throttling.High", "9x"],
)
def test_a_valid_label_value_is_kept_as_is(value: str) -> None:
    assert safe_label_value(value) == value


@pytest.mark.parametrize(
    "value",
    ["a" * 64, "has space", "-leading", "trailing-", "_x", "Überlast", "a/b", "web\n", "web\r\n", "\n"],
)
def test_an_invalid_label_value_becomes_a_short_stable_hash(value: str) -> None:
    shown = safe_label_value(value)

    assert shown.startswith("h-")
    assert len(shown) == 18
    assert LABEL_VALUE.match(shown)
    assert safe_label_value(value) == shown


def test_different_invalid_label_values_hash_differently() -> None:
    assert safe_label_value("a" * 64) != safe_label_value("a" * 65)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=UTC), "2024-05-01T12:00:00Z"),
        (datetime.fromisoformat("2024-05-01T14:00:00+02:00"), "2024-05-01T12:00:00Z"),
    ],
)
def test_kubernetes_times_are_utc_seconds_with_z(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text


# --- whatever Alertmanager sends is stored: what does not fit is hashed -------------


def _labelled(**labels: str) -> WebhookAlert:
    return WebhookAlert.model_validate(
        {"status": "firing", "labels": labels, "startsAt": "2024-05-01T12:00:00Z", "fingerprint": "3b0d1a4c6f2e9d87"}
    )


@pytest.mark.parametrize(
    ("namespace", "stored_in"),
    [
        pytest.param("shop", "shop", id="valid-name"),
        pytest.param("a" * 63, "a" * 63, id="63-characters"),
        pytest.param("../kube-system", "onduty-system", id="dot-dot-path"),
        pytest.param("kube-system/x", "onduty-system", id="slash"),
        pytest.param("Team-A", "onduty-system", id="upper-case"),
        pytest.param("a" * 64, "onduty-system", id="64-characters"),
        pytest.param("", "onduty-system", id="empty"),
        pytest.param("shop.eu", "onduty-system", id="dot-is-no-namespace"),
        pytest.param(" shop", "onduty-system", id="leading-space"),
        pytest.param("shop\n", "onduty-system", id="trailing-newline"),
        pytest.param("-shop", "onduty-system", id="leading-hyphen"),
        pytest.param("%2e%2e", "onduty-system", id="percent-encoded"),
    ],
)
def test_an_alert_is_stored_in_its_namespace_label_only_if_that_is_a_namespace_name(
    namespace: str, stored_in: str
) -> None:
    assert alert_namespace(_labelled(alertname="X", namespace=namespace), "onduty-system") == stored_in


def test_an_alert_without_a_namespace_label_is_stored_in_the_default_namespace() -> None:
    assert alert_namespace(_labelled(alertname="X"), "onduty-system") == "onduty-system"


@pytest.mark.parametrize(
    "alertname",
    [
        pytest.param("A" * 300, id="300-characters"),
        pytest.param("A" * 254, id="one-too-many"),
        pytest.param("日本語" * 100, id="300-non-ascii"),
        pytest.param("x" * 10_000, id="10000-characters"),
    ],
)
def test_an_alertname_too_long_for_the_spec_is_shortened_with_a_hash_of_the_whole(alertname: str) -> None:
    spec = alert_spec(_alert(alertname=alertname), _message())

    assert len(spec["alertname"]) == ALERTNAME_MAX  # the CRD's maxLength
    assert spec["alertname"].startswith(alertname[:200])
    assert spec["labels"]["alertname"] == alertname  # the whole value is kept
    assert alert_spec(_alert(alertname=alertname), _message())["alertname"] == spec["alertname"]
    assert alert_spec(_alert(alertname=alertname + "!"), _message())["alertname"] != spec["alertname"]


@pytest.mark.parametrize("alertname", ["", "KubePodCrashLooping", "日本語", "A" * ALERTNAME_MAX])
def test_an_alertname_that_fits_the_spec_is_kept_as_is(alertname: str) -> None:
    assert alert_spec(_alert(alertname=alertname), _message())["alertname"] == alertname


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly-10", 10, "exactly-10"),
        ("x" * 40, 30, "x" * 13 + "~" + "{digest}"),
    ],
)
def test_bounded_keeps_what_fits_and_hashes_the_rest(value: str, limit: int, expected: str) -> None:
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]

    assert bounded(value, limit) == expected.format(digest=digest)
    assert len(bounded(value, limit)) <= limit


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("x" * 100_000, id="100000-characters"),
        pytest.param("日本語", id="non-ascii"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param("a" * 63 + "\n", id="newline-after-63"),
    ],
)
def test_a_label_value_of_any_length_or_content_becomes_a_valid_one(value: str) -> None:
    shown = safe_label_value(value)

    assert LABEL_VALUE.match(shown)
    assert len(shown) <= 63
    assert safe_label_value(value) == shown


@pytest.mark.parametrize(
    ("alertname", "fingerprint", "starts_at"),
    [
        pytest.param("A" * 300, "F" * 64, "2024-05-01T12:00:00Z", id="longest-fingerprint-and-alertname"),
        pytest.param("日本語", "1", "2024-05-01T12:00:00Z", id="only-non-ascii"),
        pytest.param("\N{FIRE}\N{KELVIN SIGN}", "ab", "2024-05-01T12:00:00Z", id="emoji-and-kelvin"),
        pytest.param("İstanbul", "ab", "2024-05-01T12:00:00Z", id="lowercase-grows"),
        pytest.param("a.b..c", "ab", "9999-12-31T23:59:59.999999Z", id="dots-and-year-9999"),
        pytest.param("-", "ab", "0001-01-01T00:00:01Z", id="before-the-epoch"),
        pytest.param("x" * 39 + "." + "y" * 10, "ab", "2024-05-01T12:00:00+14:00", id="cut-at-a-dot"),
    ],
)
def test_an_alert_object_name_is_a_valid_subdomain_whatever_the_alert(
    alertname: str, fingerprint: str, starts_at: str
) -> None:
    alert = _alert(alertname=alertname, fingerprint=fingerprint, starts_at=starts_at)

    name = alert_object_name(alert, 1)

    assert trust.is_subdomain(name), name
    assert len(name) <= trust.DNS1123_SUBDOMAIN_MAX
    assert alert_object_name(_alert(alertname=alertname, fingerprint=fingerprint, starts_at=starts_at), 1) == name


@pytest.mark.parametrize(
    ("alertname", "opened"),
    [
        pytest.param("A" * 300, datetime(2024, 5, 1, tzinfo=UTC), id="300-characters"),
        pytest.param("日本語", datetime(2024, 5, 1, tzinfo=UTC), id="only-non-ascii"),
        pytest.param("A" * 253, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), id="year-9999"),
        pytest.param("Before-Epoch", datetime(1900, 1, 1, tzinfo=UTC), id="before-the-epoch"),
        pytest.param("x" * 29 + "." + "y", datetime(2024, 5, 1, tzinfo=UTC), id="cut-at-a-dot"),
        pytest.param("\ud800", datetime(2024, 5, 1, tzinfo=UTC), id="lone-surrogate"),
    ],
)
def test_an_incident_name_is_a_valid_label_whatever_the_alertname(alertname: str, opened: datetime) -> None:
    key = f"alertname={json.dumps(alertname)}"

    name = incident_name(alertname, key, opened)

    assert trust.is_label(name), name  # a name that is also a label value (the alerts' incident label)
    assert incident_name(alertname, key, opened) == name
    assert incident_name(alertname, key + ",x", opened) != name


# --- firing episodes: which stored Alert a delivery belongs to -----------------------------------

FP = "3b0d1a4c6f2e9d87"
NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
T0, T1, T2 = "2024-05-01T11:55:00Z", "2024-05-01T12:00:00Z", "2024-05-01T12:02:00Z"
END, END_EARLIER, END_LATER = "2024-05-01T12:10:00Z", "2024-05-01T12:05:00Z", "2024-05-01T12:12:00Z"
T3, END3 = "2024-05-01T12:30:00Z", "2024-05-01T12:40:00Z"
E1, E2 = f"kubepodcrashlooping-{FP}-1", f"kubepodcrashlooping-{FP}-2"
UNSET = "0001-01-01T00:00:00Z"


def _delivery(status: str, starts_at: str, ends_at: str = UNSET) -> WebhookAlert:
    return _alert(status=status, starts_at=starts_at, ends_at=ends_at, fingerprint=FP)


def _stored(
    episode: int | None, state: str, starts_at: str, ends_at: str | None = None, *, fingerprint: str = FP
) -> dict[str, Any]:
    """A stored Alert; episode None: one named by the former fingerprint + startsAt scheme."""
    spec = alert_spec(_alert(starts_at=starts_at, fingerprint=fingerprint), _message())
    spec["state"] = state
    if ends_at is not None:
        spec["endsAt"] = ends_at
    suffix = episode
    if episode is None:
        suffix = int(datetime.fromisoformat(starts_at).timestamp())
    else:
        spec["episode"] = episode
    return {"metadata": {"name": f"kubepodcrashlooping-{fingerprint}-{suffix}", "resourceVersion": "7"}, "spec": spec}


def _plan(delivery: WebhookAlert, *stored: dict[str, Any]) -> list[Step]:
    return plan_delivery(delivery, alert_spec(delivery, _message()), list(stored), now=NOW)


def _summary(steps: list[Step]) -> list[tuple[Any, ...]]:
    """Steps as short tuples: what is created (name, state, start, end, episode), what changes, what stays."""
    out: list[tuple[Any, ...]] = []
    for step in steps:
        if isinstance(step, Create):
            spec = step.spec
            out.append(("create", step.name, spec["state"], spec["startsAt"], spec.get("endsAt"), spec["episode"]))
        elif isinstance(step, Update):
            assert step.resource_version == "7"  # the write is conditional on what was read
            out.append(("update", step.name, step.change))
        else:
            assert isinstance(step, Unchanged)
            out.append(("unchanged", step.name))
    return out


LEGACY_T0 = f"kubepodcrashlooping-{FP}-{int(datetime(2024, 5, 1, 11, 55, tzinfo=UTC).timestamp())}"
LEGACY_T1 = f"kubepodcrashlooping-{FP}-{int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp())}"


@pytest.mark.parametrize(
    ("stored", "delivery", "expected"),
    [
        pytest.param([], _delivery("firing", T1), [("create", E1, "firing", T1, None, 1)], id="first-firing"),
        pytest.param([_stored(1, "firing", T1)], _delivery("firing", T1), [("unchanged", E1)], id="retry"),
        pytest.param(
            [_stored(1, "firing", T1)],
            _delivery("firing", T0),
            [("update", E1, {"startsAt": T0})],
            id="ha-peer-reports-an-earlier-start",
        ),
        pytest.param(
            [_stored(1, "firing", T1)],
            _delivery("firing", T2),
            [("unchanged", E1)],
            id="restarted-prometheus-reports-a-later-start",
        ),
        pytest.param(
            [_stored(1, "firing", T0)],
            _delivery("resolved", T2, END),
            [("update", E1, {"state": "resolved", "endsAt": END})],
            id="resolved-with-another-start-resolves-the-open-episode",
        ),
        pytest.param(
            [_stored(1, "firing", T1)],
            _delivery("resolved", T0, END),
            [("update", E1, {"state": "resolved", "endsAt": END, "startsAt": T0})],
            id="resolved-with-an-earlier-start-also-moves-the-start",
        ),
        pytest.param(
            [_stored(1, "firing", T1)],
            _delivery("resolved", T1),
            [("update", E1, {"state": "resolved", "endsAt": rfc3339(NOW)})],
            id="resolved-without-an-end-ends-now",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END)],
            _delivery("firing", T1),
            [("unchanged", E1)],
            id="late-firing-never-reopens",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END)],
            _delivery("firing", END),
            [("unchanged", E1)],
            id="late-firing-starting-at-the-end-never-reopens",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END)],
            _delivery("firing", T3),
            [("create", E2, "firing", T3, None, 2)],
            id="re-fire-after-the-end-is-the-next-episode",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END), _stored(2, "firing", T3)],
            _delivery("resolved", T1, END),
            [("unchanged", E2)],
            id="a-late-resolution-of-episode-1-leaves-episode-2-firing",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END), _stored(2, "firing", T3)],
            _delivery("resolved", T3, END3),
            [("update", E2, {"state": "resolved", "endsAt": END3})],
            id="episode-2-resolves",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END)],
            _delivery("resolved", T0, END_LATER),
            [("update", E1, {"endsAt": END_LATER})],
            id="resolved-again-the-latest-end-wins",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END)],
            _delivery("resolved", T0, END_EARLIER),
            [("unchanged", E1)],
            id="resolved-again-with-an-earlier-end-changes-nothing",
        ),
        pytest.param(
            [],
            _delivery("resolved", T1, END),
            [("create", E1, "resolved", T1, END, 1)],
            id="resolved-never-seen-firing",
        ),
        pytest.param(
            [_stored(1, "resolved", T0, END)],
            _delivery("resolved", T3, END3),
            [("create", E2, "resolved", T3, END3, 2)],
            id="a-whole-later-episode-we-never-saw-fire",
        ),
        pytest.param(
            [_stored(1, "firing", T1, fingerprint="9a1e44c0b7f0d2e3")],
            _delivery("firing", T1),
            [("create", E1, "firing", T1, None, 1)],
            id="another-fingerprint-is-not-an-episode-of-this-one",
        ),
        pytest.param(
            [_stored(None, "firing", T1)],
            _delivery("firing", T0),
            [("update", LEGACY_T1, {"startsAt": T0})],
            id="an-alert-named-by-start-is-joined",
        ),
        pytest.param(
            [_stored(None, "firing", T0), _stored(None, "firing", T1)],
            _delivery("resolved", T2, END),
            [
                ("update", LEGACY_T0, {"state": "resolved", "endsAt": END}),
                ("update", LEGACY_T1, {"state": "resolved", "endsAt": END}),
            ],
            id="duplicates-the-start-naming-left-all-resolve",
        ),
        pytest.param(
            [_stored(None, "resolved", T0, END)],
            _delivery("firing", T3),
            [("create", E1, "firing", T3, None, 1)],
            id="re-fire-after-an-alert-named-by-start",
        ),
    ],
)
def test_a_delivery_joins_the_episode_it_belongs_to(
    stored: list[dict[str, Any]], delivery: WebhookAlert, expected: list[tuple[Any, ...]]
) -> None:
    assert _summary(_plan(delivery, *stored)) == expected


class _Conflict(Exception):
    pass


class _Store:
    """The API server as the bridge sees it: creates by name, patches with a resourceVersion precondition,
    and the Alert CRD's rules on every update."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0

    def apply(self, steps: list[Step]) -> None:
        for step in steps:
            self.version += 1
            if isinstance(step, Create):
                if step.name in self.objects:
                    raise _Conflict(step.name)
                meta = {"name": step.name, "resourceVersion": str(self.version)}
                self.objects[step.name] = {"metadata": meta, "spec": dict(step.spec)}
            elif isinstance(step, Update):
                obj = self.objects[step.name]
                if obj["metadata"]["resourceVersion"] != step.resource_version:
                    raise _Conflict(step.name)
                old, new = obj["spec"], {**obj["spec"], **step.change}
                assert not (old["state"] == "resolved" and new["state"] == "firing"), "cannot fire again"
                assert new["fingerprint"] == old["fingerprint"] and new.get("episode") == old.get("episode")
                assert datetime.fromisoformat(new["startsAt"]) <= datetime.fromisoformat(old["startsAt"])
                obj["spec"] = new
                obj["metadata"]["resourceVersion"] = str(self.version)

    def plan(self, delivery: WebhookAlert) -> list[Step]:
        return plan_delivery(
            delivery, alert_spec(delivery, _message()), [_with_rv(o) for o in self.objects.values()], now=NOW
        )

    def deliver(self, delivery: WebhookAlert) -> None:
        self.apply(self.plan(delivery))

    def states(self) -> dict[str, tuple[str, str, str | None]]:
        return {
            n: (o["spec"]["state"], o["spec"]["startsAt"], o["spec"].get("endsAt")) for n, o in self.objects.items()
        }


def _with_rv(obj: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": dict(obj["metadata"]), "spec": dict(obj["spec"])}


def test_what_an_alertmanager_ha_pair_sends_makes_one_alert_per_episode() -> None:
    store = _Store()

    store.deliver(_delivery("firing", T1))  # Prometheus A
    store.deliver(_delivery("firing", T0))  # Prometheus B, the HA peer: an earlier start
    store.deliver(_delivery("resolved", T2, END))  # the resolution carries yet another start
    store.deliver(_delivery("firing", T1))  # a lagging peer, after the resolution
    assert store.states() == {E1: ("resolved", T0, END)}

    store.deliver(_delivery("firing", T3))  # fires again later
    store.deliver(_delivery("resolved", T1, END))  # a late copy of the first resolution
    assert store.states() == {E1: ("resolved", T0, END), E2: ("firing", T3, None)}

    store.deliver(_delivery("resolved", T3, END3))
    assert store.states() == {E1: ("resolved", T0, END), E2: ("resolved", T3, END3)}


def test_two_deliveries_racing_on_a_new_episode_name_the_same_object_and_the_loser_joins() -> None:
    store = _Store()
    first, second = _delivery("firing", T1), _delivery("firing", T0)
    plans = [store.plan(first), store.plan(second)]  # both looked before either wrote

    assert [_summary(p)[0][:2] for p in plans] == [("create", E1), ("create", E1)]
    store.apply(plans[0])
    with pytest.raises(_Conflict):
        store.apply(plans[1])
    store.deliver(second)  # the bridge looks again after the conflict

    assert store.states() == {E1: ("firing", T0, None)}


def test_a_resolution_racing_a_join_cannot_be_overwritten_by_it() -> None:
    store = _Store()
    store.deliver(_delivery("firing", T1))
    join, resolution = store.plan(_delivery("firing", T0)), store.plan(_delivery("resolved", T1, END))

    store.apply(resolution)
    with pytest.raises(_Conflict):  # the join was planned on the firing episode: its precondition fails
        store.apply(join)
    store.deliver(_delivery("firing", T0))  # looked at again: a late firing, nothing to do

    assert store.states() == {E1: ("resolved", T1, END)}
