"""What a human said about an action that waits for approval, read from the incident's annotations.

An approver annotates the incident (``onduty approve`` does it for them):
``onduty.dev/approve`` or ``onduty.dev/reject`` set to the step's name or the
action's id, and ``onduty.dev/approved-by`` set to their own name — which the
chart's admission policy checks against the user the API server
authenticated. A rejection wins over an approval. From a Slack button, onduty
writes them for the person who pressed it (``approved-for``), after asking the
API server whether that person may approve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from onduty.domain.annotations import (
    APPROVE_ANNOTATION,
    APPROVED_BY_ANNOTATION,
    APPROVED_FOR_ANNOTATION,
    APPROVED_VIA_ANNOTATION,
    REJECT_ANNOTATION,
)


@dataclass(frozen=True)
class Answer:
    approved: bool  # the approve annotation names this action (it may also be rejected: rejected wins)
    rejected: bool
    by: str  # who, as the approved-by annotation (or, without one, managedFields) says

    @property
    def given(self) -> bool:
        return self.approved or self.rejected


def answer(incident: dict[str, Any], action: dict[str, Any]) -> Answer:
    """The human's answer on ``incident`` for ``action`` (a record of ``status.actions``)."""
    annotations = incident["metadata"].get("annotations") or {}
    keys = {action["id"], action["step"]}
    return Answer(
        approved=annotations.get(APPROVE_ANNOTATION) in keys,
        rejected=annotations.get(REJECT_ANNOTATION) in keys,
        by=_approver(annotations) or annotation_manager(incident),
    )


def _approver(annotations: dict[str, Any]) -> str:
    """The person on record: the one onduty approved for (from Slack), else the requesting user."""
    person = str(annotations.get(APPROVED_FOR_ANNOTATION) or "")
    by = str(annotations.get(APPROVED_BY_ANNOTATION) or "")
    if person:
        via = str(annotations.get(APPROVED_VIA_ANNOTATION) or "a chat")
        return f"{person} (via {via}, checked by {by or 'onduty'})"
    return by


def approved(action: dict[str, Any]) -> bool:
    """The action's record says a human approved it."""
    return (action.get("approval") or {}).get("approved") is True


def annotation_manager(obj: dict[str, Any]) -> str:
    """Who last wrote the incident's annotations, as far as managedFields tell (not a user name)."""
    for entry in reversed(obj["metadata"].get("managedFields") or []):
        if "f:annotations" in json.dumps(entry.get("fieldsV1") or {}):
            return f"unknown user via {entry.get('manager', '?')}"
    return "unknown user"
