"""Severity: the many spellings teams use map onto four levels."""

from __future__ import annotations

import pytest

from onduty.domain.severity import DEFAULT, LEVELS, Severity, normalise, worst


@pytest.mark.parametrize(
    ("label", "level"),
    [
        ("critical", "critical"),
        ("page", "critical"),
        ("P1", "critical"),
        ("SEV1", "critical"),
        ("fatal", "critical"),
        ("error", "error"),
        ("High", "error"),
        ("major", "error"),
        ("p2", "error"),
        (" sev2 ", "error"),
        ("warning", "warning"),
        ("WARN", "warning"),
        ("medium", "warning"),
        ("minor", "warning"),
        ("p3", "warning"),
        ("info", "info"),
        ("low", "info"),
        ("none", "info"),
        ("p4", "info"),
        ("p5", "info"),
        ("sev4", "info"),
    ],
)
def test_a_known_spelling_maps_to_its_level(label: str, level: Severity) -> None:
    assert normalise(label) == level


@pytest.mark.parametrize("label", [None, "", "   ", "bogus", "sev5", "p0", "criticality"])
def test_an_unknown_or_missing_severity_is_a_warning(label: str | None) -> None:
    assert DEFAULT == "warning"
    assert normalise(label) == "warning"


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (("info", "critical"), "critical"),
        (("critical", "info"), "critical"),
        (("warning", "error", "info"), "error"),
        (("info", "warning"), "warning"),
        (("info", "info"), "info"),
        (("info",), "info"),
        ((), "warning"),
    ],
)
def test_worst_picks_the_most_severe_level(levels: tuple[Severity, ...], expected: Severity) -> None:
    assert worst(*levels) == expected


def test_levels_are_ordered_most_severe_first() -> None:
    assert LEVELS == ("critical", "error", "warning", "info")
