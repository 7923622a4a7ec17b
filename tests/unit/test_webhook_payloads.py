"""Alertmanager webhook v4 payloads: what the bridge accepts and how it says no."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from onduty.domain.alerts import MAX_JSON_DEPTH, PayloadError, decode_json, json_depth, parse_webhook

# A notification as Alertmanager 0.27 sends it (webhook_config, send_resolved: true):
# one firing and one resolved alert of the same group.
ALERTMANAGER_V4: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}/{namespace="shop"}:{alertname="KubePodCrashLooping", namespace="shop"}',
    "truncatedAlerts": 0,
    "receiver": "onduty",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "container": "web",
                "namespace": "shop",
                "pod": "web-7d4b9c8f6d-x2x9k",
                "severity": "warning",
            },
            "annotations": {
                "description": 'Pod shop/web-7d4b9c8f6d-x2x9k (web) is in waiting state (reason: "CrashLoopBackOff").',
                "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
                "summary": "Pod is crash looping.",
            },
            "startsAt": "2024-05-01T11:58:30.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%5B5m%5D%29+%3E%3D+1&g0.tab=1",
            "fingerprint": "3b0d1a4c6f2e9d87",
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "KubePodCrashLooping",
                "container": "web",
                "namespace": "shop",
                "pod": "web-7d4b9c8f6d-q8wzt",
                "severity": "warning",
            },
            "annotations": {"summary": "Pod is crash looping."},
            "startsAt": "2024-05-01T11:40:00Z",
            "endsAt": "2024-05-01T11:55:00.5+00:00",
            "generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr=up&g0.tab=1",
            "fingerprint": "9a1e44c0b7f0d2e3",
        },
    ],
    "groupLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
    "commonLabels": {
        "alertname": "KubePodCrashLooping",
        "container": "web",
        "namespace": "shop",
        "severity": "warning",
    },
    "commonAnnotations": {"summary": "Pod is crash looping."},
    "externalURL": "http://alertmanager-main-0:9093",
}


_DELETE = object()


def _payload(**changes: Any) -> dict[str, Any]:
    """A deep copy of the reference payload; ``alert0__field`` edits the first alert; _DELETE removes."""
    document = copy.deepcopy(ALERTMANAGER_V4)
    for key, value in changes.items():
        target = document["alerts"][0] if key.startswith("alert0__") else document
        field = key.removeprefix("alert0__")
        if value is _DELETE:
            del target[field]
        else:
            target[field] = value
    return document


def test_a_real_alertmanager_notification_parses_into_every_field() -> None:
    message = parse_webhook(ALERTMANAGER_V4)

    assert (message.version, message.receiver, message.status) == ("4", "onduty", "firing")
    assert message.group_key == ALERTMANAGER_V4["groupKey"]
    assert message.truncated_alerts == 0
    assert message.group_labels == {"alertname": "KubePodCrashLooping", "namespace": "shop"}
    assert message.common_labels["severity"] == "warning"
    assert message.common_annotations == {"summary": "Pod is crash looping."}
    assert message.external_url == "http://alertmanager-main-0:9093"
    firing, resolved = message.alerts
    assert firing.status == "firing"
    assert firing.alertname == "KubePodCrashLooping"
    assert firing.labels["pod"] == "web-7d4b9c8f6d-x2x9k"
    assert firing.annotations["summary"] == "Pod is crash looping."
    assert firing.fingerprint == "3b0d1a4c6f2e9d87"
    assert firing.generator_url.startswith("http://prometheus-k8s-0:9090/graph?")
    assert resolved.status == "resolved"
    assert resolved.fingerprint == "9a1e44c0b7f0d2e3"


@pytest.mark.parametrize(
    ("starts_at", "expected"),
    [
        # Go's RFC3339Nano: nine fractional digits; Python keeps microseconds.
        ("2024-05-01T11:58:30.123456789Z", datetime(2024, 5, 1, 11, 58, 30, 123456, tzinfo=UTC)),
        ("2024-05-01T11:58:30Z", datetime(2024, 5, 1, 11, 58, 30, tzinfo=UTC)),
        ("2024-05-01T13:58:30.5+02:00", datetime(2024, 5, 1, 11, 58, 30, 500000, tzinfo=UTC)),
        ("2024-05-01T06:58:30-05:00", datetime(2024, 5, 1, 11, 58, 30, tzinfo=UTC)),
    ],
)
def test_start_times_are_normalised_to_utc_whatever_their_precision_or_offset(
    starts_at: str, expected: datetime
) -> None:
    alert = parse_webhook(_payload(alert0__startsAt=starts_at)).alerts[0]

    assert alert.starts_at == expected
    assert alert.starts_at.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize(
    ("ends_at", "expected"),
    [
        ("0001-01-01T00:00:00Z", None),  # Alertmanager's "not set"
        (_DELETE, None),
        ("2024-05-01T11:55:00.5+00:00", datetime(2024, 5, 1, 11, 55, 0, 500000, tzinfo=UTC)),
    ],
)
def test_zero_or_missing_end_time_means_not_set(ends_at: Any, expected: datetime | None) -> None:
    alert = parse_webhook(_payload(alert0__endsAt=ends_at)).alerts[0]

    assert alert.ends_at == expected


def test_fields_added_by_grafana_are_ignored() -> None:
    document = _payload(orgId=1, title="[FIRING:1] KubePodCrashLooping", state="alerting", message="text")
    document["alerts"][0].update(
        silenceURL="http://grafana/alerting/silence/new",
        dashboardURL="http://grafana/d/abc",
        panelURL="http://grafana/d/abc?viewPanel=2",
        values={"B": 1.0},
        valueString="[ var='B' labels={} value=1 ]",
    )

    message = parse_webhook(document)

    assert message.alerts[0].fingerprint == "3b0d1a4c6f2e9d87"
    assert not hasattr(message, "orgId")
    assert "silenceURL" not in message.alerts[0].model_dump(by_alias=True)


@pytest.mark.parametrize(
    ("document", "field", "value"),
    [
        pytest.param(_payload(version="3"), "version:", "'3'", id="older-version"),
        pytest.param(_payload(version=4), "version:", "4", id="version-as-number"),
        pytest.param(_payload(version=_DELETE), "version:", "required", id="no-version"),
        pytest.param(_payload(status="pending"), "status:", "'pending'", id="bad-group-status"),
        pytest.param(_payload(alert0__status="burning"), "alerts[0].status:", "'burning'", id="bad-alert-status"),
        pytest.param(_payload(alert0__fingerprint=_DELETE), "alerts[0].fingerprint:", "required", id="no-fingerprint"),
        pytest.param(
            _payload(alert0__fingerprint="not-hex!"), "alerts[0].fingerprint:", "'not-hex!'", id="non-hex-fingerprint"
        ),
        pytest.param(_payload(alert0__fingerprint=""), "alerts[0].fingerprint:", "''", id="empty-fingerprint"),
        pytest.param(
            _payload(alert0__startsAt="2024-05-01T11:58:30"),
            "alerts[0].startsAt:",
            "'2024-05-01T11:58:30'",
            id="start-without-zone",
        ),
        pytest.param(
            _payload(alert0__endsAt="2024-05-01T11:58:30.123"),
            "alerts[0].endsAt:",
            "'2024-05-01T11:58:30.123'",
            id="end-without-zone",
        ),
        pytest.param(_payload(alert0__startsAt="yesterday"), "alerts[0].startsAt:", "'yesterday'", id="not-a-time"),
        pytest.param(_payload(alert0__startsAt=_DELETE), "alerts[0].startsAt:", "required", id="no-start"),
        pytest.param(_payload(alert0__labels={}), "alerts[0].labels:", "{}", id="empty-labels"),
        pytest.param(_payload(alert0__labels={"alertname": 1}), "alerts[0].labels.alertname:", "1", id="label-int"),
        pytest.param(_payload(truncatedAlerts=-1), "truncatedAlerts:", "-1", id="negative-truncated"),
        pytest.param(_payload(alerts="none"), "alerts:", "'none'", id="alerts-not-a-list"),
        pytest.param(_payload(alerts=_DELETE), "alerts:", "required", id="no-alerts"),
    ],
)
def test_a_rejected_payload_names_the_field_and_the_value(document: dict[str, Any], field: str, value: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(document)

    message = str(caught.value)
    assert field in message
    assert value in message[message.index(field) :], f"{value} not after {field} in: {message}"


def test_every_bad_field_is_reported_not_only_the_first() -> None:
    document = _payload(version="3", alert0__status="burning")

    with pytest.raises(PayloadError) as caught:
        parse_webhook(document)

    assert "version:" in str(caught.value)
    assert "alerts[0].status:" in str(caught.value)


@pytest.mark.parametrize(
    ("document", "shown"),
    [([ALERTMANAGER_V4], "list"), ("{}", "str"), (None, "NoneType"), (4, "int"), (b"{}", "bytes")],
)
def test_a_payload_that_is_not_an_object_is_rejected_with_its_type(document: Any, shown: str) -> None:
    with pytest.raises(PayloadError, match=rf"^payload: expected a JSON object, got {shown}$"):
        parse_webhook(document)


def test_long_values_are_shortened_in_the_error_message() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_webhook(_payload(alert0__status="x" * 500))

    assert len(str(caught.value)) < 200
    assert "..." in str(caught.value)


@pytest.mark.parametrize(
    "starts_at",
    [
        # Alertmanager's "not set" is no start time; an alert must have one.
        "0001-01-01T00:00:00Z",
        # Also "not set", written with an offset: must not escape as OverflowError.
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_an_alert_without_a_real_start_time_is_rejected_naming_starts_at(starts_at: str) -> None:
    with pytest.raises(PayloadError, match=r"alerts\[0\]\.startsAt"):
        parse_webhook(_payload(alert0__startsAt=starts_at))


def test_an_end_time_before_year_one_utc_is_not_set_rather_than_a_crash() -> None:
    # astimezone(UTC) of 0001-01-01T00:00:00+01:00 underflows year 1: either answer
    # below is fine, an OverflowError escaping the PayloadError contract is not.
    try:
        ends_at = parse_webhook(_payload(alert0__endsAt="0001-01-01T00:00:00+01:00")).alerts[0].ends_at
    except PayloadError:
        ends_at = None

    assert ends_at is None


# --- the body before validation: nesting, encoding, surrogates -----------------------


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_a_real_notification_decodes_as_json_loads_does() -> None:
    assert decode_json(_body(ALERTMANAGER_V4)) == ALERTMANAGER_V4


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"[" * 100_000, id="100000-open-brackets"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100000-balanced"),
        pytest.param(b'{"a":' * 5_000 + b"1" + b"}" * 5_000, id="5000-objects"),
        pytest.param(_body(_payload(alert0__labels={"x": "y"}))[:-1] + b', "extra": ' + b"[" * 40 + b"]" * 40 + b"}"),
    ],
)
def test_nesting_beyond_the_limit_is_refused_naming_the_limit_not_a_recursion_error(raw: bytes) -> None:
    with pytest.raises(PayloadError, match=rf"more than the limit of {MAX_JSON_DEPTH}"):
        decode_json(raw)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        (_nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH),
        ('["[[[[", "]]"]', 1),  # brackets in strings do not nest
        ('["\\"[[[[", "\\\\", "[["]', 1),  # nor after escaped quotes and backslashes
        ('"[[[[[[', 0),  # an unterminated string runs to the end
        ('"\\"\\"\\', 0),  # ... even ending in a backslash
    ],
)
def test_nesting_depth_counts_arrays_and_objects_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert decode_json(_nested(MAX_JSON_DEPTH).encode()) == json.loads(_nested(MAX_JSON_DEPTH))


def test_a_grafana_notification_nests_well_within_the_limit() -> None:
    document = _payload()
    document["alerts"][0]["values"] = {"B": 1.0}

    assert json_depth(json.dumps(document)) == 4 < MAX_JSON_DEPTH


def _with_raw(document: dict[str, Any], marker: str, raw_json: str) -> bytes:
    """The document's JSON with the string ``marker`` replaced by ``raw_json`` (escapes json.dumps would not write)."""
    text = json.dumps(document)
    assert text.count(json.dumps(marker)) == 1
    return text.replace(json.dumps(marker), raw_json).encode()


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        pytest.param(
            _with_raw(_payload(alert0__labels={"alertname": "X", "pod": "@"}), "@", '"web-\\ud800"'),
            "alerts[0].labels.pod:",
            id="label-value",
        ),
        pytest.param(
            _with_raw(_payload(alert0__labels={"alertname": "X", "@": "v"}), "@", '"\\udfff"'),
            "alerts[0].labels: key",
            id="label-name",
        ),
        pytest.param(_with_raw(_payload(receiver="@"), "@", '"\\ud83d"'), "receiver:", id="high-surrogate-alone"),
        pytest.param(
            _with_raw(_payload(alert0__annotations={"summary": "@"}), "@", '"x\\ude00y"'),
            "alerts[0].annotations.summary:",
            id="low-surrogate-alone",
        ),
        pytest.param(_with_raw(_payload(title="@"), "@", '"\\uDBFF"'), "title:", id="ignored-field-upper-hex"),
        pytest.param(_with_raw(_payload(alerts=["@"]), "@", '"\\ud800"'), "alerts[0]:", id="alerts-item"),
    ],
)
def test_an_unpaired_surrogate_anywhere_is_refused_naming_where(raw: bytes, where: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_json(raw)

    assert str(caught.value).startswith(where)
    assert "surrogate" in str(caught.value)


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    raw = _with_raw(_payload(alert0__annotations={"summary": "@"}), "@", '"fire \\ud83d\\udd25"')

    assert decode_json(raw)["alerts"][0]["annotations"]["summary"] == "fire \N{FIRE}"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"version": "4", "alerts": [', id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{", id="bad-utf16"),
        pytest.param(b'{"receiver": "\xed\xa0\x80"}', id="surrogate-as-utf8-bytes"),
        pytest.param(b'{"receiver": "\xff"}', id="not-utf8"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", id="integer-beyond-python-digit-limit"),
    ],
)
def test_a_body_that_is_not_json_text_is_refused_as_before(raw: bytes) -> None:
    with pytest.raises(PayloadError, match=r"^body is not valid JSON: "):
        decode_json(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_body(ALERTMANAGER_V4).decode().encode("utf-16"), id="utf-16-with-bom"),
        pytest.param(b"\xef\xbb\xbf" + _body(ALERTMANAGER_V4), id="utf-8-bom"),
        pytest.param(json.dumps(ALERTMANAGER_V4, ensure_ascii=False).encode(), id="raw-utf-8"),
    ],
)
def test_json_encodings_accepted_before_are_still_accepted(raw: bytes) -> None:
    assert decode_json(raw) == ALERTMANAGER_V4
