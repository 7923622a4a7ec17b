"""Pausing and resuming an incident's automation leaves one timeline entry per change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from onduty.domain import pauses

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _incident(paused: str | None, *, manager: str | None = "kubectl-annotate") -> dict[str, Any]:
    annotations = {"onduty.dev/paused": paused} if paused is not None else {}
    managed = (
        [
            {"manager": "onduty", "fieldsV1": {"f:status": {}}},
            {"manager": manager, "fieldsV1": {"f:metadata": {"f:annotations": {"f:onduty.dev/paused": {}}}}},
        ]
        if manager and paused is not None
        else []
    )
    return {"metadata": {"annotations": annotations, "managedFields": managed}}


def test_setting_the_pause_is_recorded_once_naming_the_client_that_set_it() -> None:
    status: dict[str, Any] = {}
    obj = _incident("true")

    first = pauses.record_pause(status, obj, now=NOW)
    again = pauses.record_pause(status, obj, now=NOW)

    assert [(e.reason, e.type) for e in first] == [("AutomationPausedByUser", "Warning")]
    assert first[0].message.startswith("automation paused by kubectl-annotate (annotation onduty.dev/paused)")
    assert again == []
    assert [e["reason"] for e in status["timeline"]] == ["AutomationPausedByUser"]


def test_removing_the_pause_is_recorded_as_a_resume() -> None:
    status: dict[str, Any] = {}
    pauses.record_pause(status, _incident("true"), now=NOW)

    entries = pauses.record_pause(status, _incident(None), now=NOW)

    assert [(e.reason, e.message) for e in entries] == [
        ("AutomationResumed", "automation resumed (annotation onduty.dev/paused removed)")
    ]
    assert pauses.record_pause(status, _incident(None), now=NOW) == []


def test_a_value_that_is_not_a_yes_is_no_pause_and_no_record() -> None:
    status: dict[str, Any] = {}

    assert pauses.record_pause(status, _incident("false"), now=NOW) == []
    assert not pauses.needs_record({"metadata": {"annotations": {"onduty.dev/paused": "no"}}})
    assert pauses.needs_record({**_incident("yes"), "status": {}})


def test_without_managed_fields_the_pause_names_no_one() -> None:
    entry = pauses.pause_change({}, _incident("true", manager=None))

    assert entry is not None
    assert entry.message.startswith("automation paused (annotation")
