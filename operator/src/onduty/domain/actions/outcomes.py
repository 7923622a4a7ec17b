"""What an action's own judgement answers: done (:class:`Applied`), not yet (:class:`Held`), never (:class:`Refused`).

Exceptions::

    Refused         the action must not run: blast radius, an HPA in the way, nothing to undo
    └── Held        it cannot run *yet* (Argo CD's own operation in progress): the step waits and looks again

A refusal is recorded as the step's denial (guardrail ``Action``); its
``reason`` is one CamelCase word, its message a sentence naming what decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class Refused(Exception):
    """The action must not run; ``reason`` is one CamelCase word, the message a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Held(Refused):
    """The action cannot run *yet* (Argo CD's own operation in progress): the step waits and looks again."""


@dataclass
class Applied:
    message: str
    diff: str
    details: dict[str, Any]  # kept in the action record (e.g. what a revert needs)


def shown(patch: dict[str, Any]) -> str:
    """A patch as the recorded diff shows it: without its ``metadata`` (the action's own record)."""
    return json.dumps({k: v for k, v in patch.items() if k != "metadata"}, sort_keys=True)
