"""Runbooks and policies: in-memory indexes (Kopf keeps them current from the watch),
and an ``Accepted`` condition that says whether the operator can use each one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from onduty.domain import timeline
from onduty.domain.policies import InvalidPolicy, Policy, parse_policy_or_invalid
from onduty.domain.runbooks import RunbookError, RunbookRef, parse_runbook


def index_entries(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, RunbookRef]:
    """Index keys for one runbook: each alertname it matches. Invalid runbooks are not indexed."""
    try:
        parsed = parse_runbook(spec)
    except RunbookError:
        return {}
    ref = RunbookRef(namespace, name, parsed)
    return {alertname: ref for alertname in parsed.match.alertnames}


def acceptance(
    spec: dict[str, Any],
    status: dict[str, Any],
    generation: int,
    parse: Callable[[dict[str, Any]], object] = parse_runbook,
) -> dict[str, Any]:
    """The status a runbook (or policy) should have: Accepted True, or False with the field at fault."""
    new: dict[str, Any] = {"conditions": list(status.get("conditions") or [])}
    now = datetime.now(UTC)
    try:
        parse(spec)
    except ValueError as error:  # RunbookError, PolicyError
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
            message="valid and in use",
            now=now,
            generation=generation,
        )
    new["observedGeneration"] = generation
    return new


def policy_entry(name: str, spec: dict[str, Any]) -> dict[str, Policy | InvalidPolicy]:
    """Policies are all read together; an invalid one stays in, to refuse actions in its scope (and says so)."""
    return {"all": parse_policy_or_invalid(name, spec)}
