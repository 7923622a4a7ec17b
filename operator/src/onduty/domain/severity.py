"""Severity: the four levels PagerDuty's Events API uses, and how labels map to them.

Teams spell severity many ways (``page``, ``P1``, ``high``); normalising once
here keeps runbook matching and escalation rules simple.
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "error", "warning", "info"]
LEVELS: tuple[Severity, ...] = ("critical", "error", "warning", "info")
_ALIASES: dict[str, Severity] = {
    "critical": "critical",
    "page": "critical",
    "p1": "critical",
    "sev1": "critical",
    "fatal": "critical",
    "error": "error",
    "high": "error",
    "major": "error",
    "p2": "error",
    "sev2": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "p3": "warning",
    "sev3": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
    "p4": "info",
    "p5": "info",
    "sev4": "info",
}
# An alert without a recognisable severity is treated as a warning: loud enough
# to be seen, not loud enough to page a manager.
DEFAULT: Severity = "warning"


def normalise(value: str | None) -> Severity:
    return _ALIASES.get((value or "").strip().lower(), DEFAULT)


def worst(*levels: Severity) -> Severity:
    """The most severe of the given levels."""
    return min(levels, key=LEVELS.index) if levels else DEFAULT
