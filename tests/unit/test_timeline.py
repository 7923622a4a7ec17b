"""The incident's durable record: a bounded timeline and Kubernetes-style conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from onduty.domain.timeline import TIMELINE_LIMIT, Entry, append, condition_is, set_condition

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)


def _entries(count: int) -> list[dict[str, Any]]:
    return [
        {"time": "2024-05-01T11:00:00Z", "type": "Normal", "reason": f"Old{i}", "message": ""} for i in range(count)
    ]


def test_an_entry_is_recorded_with_its_time_type_reason_and_message() -> None:
    status: dict[str, Any] = {}

    append(status, Entry("RemediationFailed", "rollout did not finish", "Warning"), T0)

    assert status == {
        "timeline": [
            {
                "time": "2024-05-01T12:00:00Z",
                "type": "Warning",
                "reason": "RemediationFailed",
                "message": "rollout did not finish",
            }
        ]
    }


def test_entries_are_normal_unless_said_otherwise() -> None:
    assert Entry("IncidentOpened", "m").type == "Normal"


@pytest.mark.parametrize(
    ("existing", "limit", "dropped_before", "length", "dropped_after", "oldest_kept"),
    [
        pytest.param(0, 3, None, 1, None, "New", id="first-entry"),
        pytest.param(2, 3, None, 3, None, "Old0", id="fills-up-to-the-limit"),
        pytest.param(3, 3, None, 3, 1, "Old1", id="one-over-drops-the-oldest"),
        pytest.param(3, 3, 5, 3, 6, "Old1", id="adds-to-the-earlier-count"),
        pytest.param(5, 3, 2, 3, 5, "Old3", id="a-lowered-limit-drops-the-excess"),
        pytest.param(TIMELINE_LIMIT, TIMELINE_LIMIT, None, TIMELINE_LIMIT, 1, "Old1", id="default-limit"),
    ],
)
def test_the_timeline_keeps_the_newest_entries_and_counts_the_dropped(
    existing: int, limit: int, dropped_before: int | None, length: int, dropped_after: int | None, oldest_kept: str
) -> None:
    status: dict[str, Any] = {"timeline": _entries(existing)}
    if dropped_before is not None:
        status["timelineDropped"] = dropped_before

    append(status, Entry("New", "newest"), T0, limit=limit)

    assert len(status["timeline"]) == length
    assert status.get("timelineDropped") == dropped_after
    assert status["timeline"][0]["reason"] == oldest_kept
    assert status["timeline"][-1]["reason"] == "New"


def test_appending_does_not_mutate_the_list_it_was_given() -> None:
    original = _entries(2)
    status: dict[str, Any] = {"timeline": original}

    append(status, Entry("New", ""), T0)

    assert len(original) == 2


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_a_new_condition_records_when_it_was_set() -> None:
    status: dict[str, Any] = {}

    set_condition(status, type_="Resolved", true=False, reason="AlertsFiring", message="the incident is open", now=T0)

    assert status["conditions"] == [
        {
            "type": "Resolved",
            "status": "False",
            "reason": "AlertsFiring",
            "message": "the incident is open",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
        }
    ]


@pytest.mark.parametrize(
    ("first", "second", "transition"),
    [
        pytest.param(False, False, "2024-05-01T12:00:00Z", id="same-status-keeps-time"),
        pytest.param(True, True, "2024-05-01T12:00:00Z", id="same-true-keeps-time"),
        pytest.param(False, True, "2024-05-01T12:01:00Z", id="flip-to-true-moves-time"),
        pytest.param(True, False, "2024-05-01T12:01:00Z", id="flip-to-false-moves-time"),
    ],
)
def test_last_transition_time_moves_only_when_the_status_flips(first: bool, second: bool, transition: str) -> None:
    status: dict[str, Any] = {}
    set_condition(status, type_="Remediated", true=first, reason="First", message="first", now=T0)

    set_condition(status, type_="Remediated", true=second, reason="Second", message="second", now=T1)

    condition = _condition(status, "Remediated")
    assert condition["lastTransitionTime"] == transition
    assert (condition["reason"], condition["message"]) == ("Second", "second")
    assert len(status["conditions"]) == 1


def test_setting_one_condition_leaves_the_others_alone() -> None:
    status: dict[str, Any] = {}
    set_condition(status, type_="Resolved", true=False, reason="AlertsFiring", message="", now=T0)
    set_condition(status, type_="RunbookMatched", true=True, reason="RunbookMatched", message="", now=T1)

    set_condition(status, type_="RunbookMatched", true=False, reason="NoRunbookMatched", message="", now=T2)

    assert _condition(status, "Resolved") == {
        "type": "Resolved",
        "status": "False",
        "reason": "AlertsFiring",
        "message": "",
        "lastTransitionTime": "2024-05-01T12:00:00Z",
    }
    assert [c["type"] for c in status["conditions"]] == ["Resolved", "RunbookMatched"]


@pytest.mark.parametrize(("generation", "expected"), [(None, None), (1, 1), (7, 7)])
def test_observed_generation_is_recorded_when_given(generation: int | None, expected: int | None) -> None:
    status: dict[str, Any] = {}

    set_condition(status, type_="Accepted", true=True, reason="Valid", message="", now=T0, generation=generation)

    assert status["conditions"][0].get("observedGeneration") == expected


def test_setting_a_condition_does_not_mutate_the_conditions_it_was_given() -> None:
    original = [{"type": "Resolved", "status": "False", "reason": "A", "message": "", "lastTransitionTime": "x"}]
    status: dict[str, Any] = {"conditions": original}

    set_condition(status, type_="Resolved", true=True, reason="B", message="", now=T0)

    assert original[0]["status"] == "False"


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [("Resolved", True, True), ("Resolved", False, False), ("Remediated", True, False), ("Remediated", False, False)],
)
def test_condition_is_answers_for_the_type_and_status_asked(type_: str, value: bool, expected: bool) -> None:
    status: dict[str, Any] = {}
    set_condition(status, type_="Resolved", true=True, reason="AlertsResolved", message="", now=T0)

    assert condition_is(status, type_, value) is expected
