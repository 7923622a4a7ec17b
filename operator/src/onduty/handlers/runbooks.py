"""Runbooks: an in-memory index by alertname (Kopf keeps it current from the watch),
and an ``Accepted`` condition that says whether the operator can use a runbook.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from onduty.domain import timeline
from onduty.domain.runbooks import RunbookError, RunbookRef, parse_runbook


def index_entries(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, RunbookRef]:
    """Index keys for one runbook: each alertname it matches. Invalid runbooks are not indexed."""
    try:
        parsed = parse_runbook(spec)
    except RunbookError:
        return {}
    ref = RunbookRef(namespace, name, parsed)
    return {alertname: ref for alertname in parsed.match.alertnames}


def acceptance(spec: dict[str, Any], status: dict[str, Any], generation: int) -> dict[str, Any]:
    """The status a runbook should have: Accepted True, or False with the field at fault."""
    new: dict[str, Any] = {"conditions": list(status.get("conditions") or [])}
    now = datetime.now(UTC)
    try:
        parse_runbook(spec)
    except RunbookError as error:
        timeline.set_condition(
            new,
            type_="Accepted",
            true=False,
            reason="InvalidSpec",
            message=f"spec: {error}",
            now=now,
            generation=generation,
        )
    else:
        timeline.set_condition(
            new,
            type_="Accepted",
            true=True,
            reason="Valid",
            message="the runbook is valid and indexed",
            now=now,
            generation=generation,
        )
    new["observedGeneration"] = generation
    return new
