"""Timeline entries as events.k8s.io/v1 Events: from onduty, ordered to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime

from kubernetes.client import ApiClient

from onduty.adapters.kube import Cluster
from onduty.adapters.recorder import EventRecorder, event_body, micro_time
from onduty.domain import timeline
from onduty.domain.timeline import Entry

AT = datetime(2024, 5, 1, 12, 0, 0, 1234, tzinfo=UTC)
INCIDENT = {
    "apiVersion": "onduty.dev/v1alpha1",
    "kind": "Incident",
    "metadata": {"name": "web-down", "namespace": "shop", "uid": "u-1", "resourceVersion": "7"},
}


def test_an_event_names_onduty_the_object_and_the_time_to_the_microsecond() -> None:
    body = event_body(
        INCIDENT, Entry("RunbookMatched", "x" * 2000), at=AT, controller="onduty.dev/operator", instance="pod-1"
    )

    assert body["eventTime"] == "2024-05-01T12:00:00.001234Z"
    assert body["reportingController"] == "onduty.dev/operator"
    assert body["reportingInstance"] == "pod-1"
    assert body["action"] and body["reason"] == "RunbookMatched" and body["type"] == "Normal"
    assert len(body["note"]) == 1024
    assert body["regarding"] == {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Incident",
        "name": "web-down",
        "namespace": "shop",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert body["metadata"]["namespace"] == "shop"
    assert body["metadata"]["name"].startswith("web-down.")
    # The fields events.k8s.io/v1 refuses on create are not sent.
    assert not {"deprecatedLastTimestamp", "deprecatedSource", "deprecatedCount"} & body.keys()


def test_a_long_object_name_still_makes_a_valid_event_name() -> None:
    long = {**INCIDENT, "metadata": {**INCIDENT["metadata"], "name": "a" * 253}}

    name = event_body(long, Entry("R", "m"), at=AT, controller="c", instance="i")["metadata"]["name"]

    assert len(name) <= 253


def test_entries_stamped_at_the_same_instant_keep_their_order() -> None:
    recorder = EventRecorder(Cluster(ApiClient()), instance="pod-1")  # nothing is posted here

    stamps = [recorder.stamp(AT) for _ in range(3)]

    assert [micro_time(s) for s in stamps] == [
        "2024-05-01T12:00:00.001234Z",
        "2024-05-01T12:00:00.001235Z",
        "2024-05-01T12:00:00.001236Z",
    ]


def test_entries_of_a_merged_reason_become_one_entry_where_the_first_was() -> None:
    entries = [
        Entry("IncidentOpened", "opened"),
        Entry("AlertJoined", "alert a joined"),
        Entry("AlertsTruncated", "40 left out", "Warning"),
        Entry("AlertJoined", "alert b joined"),
        Entry("AlertResolved", "alert c resolved"),
        Entry("AlertJoined", "alert d joined"),
    ]

    out = timeline.merged(entries, {"AlertJoined", "AlertResolved"})

    assert [(e.reason, e.message, e.type) for e in out] == [
        ("IncidentOpened", "opened", "Normal"),
        ("AlertJoined", "3 AlertJoined: alert a joined; alert b joined; alert d joined", "Normal"),
        ("AlertsTruncated", "40 left out", "Warning"),
        ("AlertResolved", "alert c resolved", "Normal"),  # one of its kind: as it was
    ]
    assert timeline.merged(entries, ()) == entries
