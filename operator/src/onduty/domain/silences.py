"""Alertmanager silences: a human's "not now" that automation respects.

Matching follows Alertmanager: every matcher of a silence must match the
labels; regex matchers are anchored (``^(?:re)$``); ``isEqual: false`` negates.
A label the incident lacks matches as the empty string, as in Alertmanager.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onduty.domain.times import require_time


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.is_regex:
            try:
                hit = re.fullmatch(f"(?:{self.value})", actual) is not None
            except re.error:
                return False
        else:
            hit = actual == self.value
        return hit if self.is_equal else not hit


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    comment: str = ""

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return bool(self.matchers) and all(m.matches(labels) for m in self.matchers)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Silence:
        """From one item of ``GET /api/v2/silences``."""
        return cls(
            id=str(data.get("id", "")),
            matchers=tuple(
                Matcher(
                    name=str(m.get("name", "")),
                    value=str(m.get("value", "")),
                    is_regex=bool(m.get("isRegex", False)),
                    is_equal=bool(m.get("isEqual", True)),
                )
                for m in data.get("matchers") or []
            ),
            starts_at=require_time(data["startsAt"]),
            ends_at=require_time(data["endsAt"]),
            created_by=str(data.get("createdBy", "")),
            comment=str(data.get("comment", "")),
        )


def covering(silences: Iterable[Silence], labels: dict[str, str], now: datetime) -> Silence | None:
    """The first active silence that matches ``labels``, if any."""
    return next((s for s in silences if s.active(now) and s.matches(labels)), None)
