"""Which incident an alert belongs to.

Alerts with the same grouping key join one open incident. The default key is
alertname + namespace + the workload the labels point to: one broken
Deployment firing the same alert from ten pods is one incident, not ten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from onduty.domain.alerts import slug
from onduty.domain.workloads import Workload

WORKLOAD_KEY = "workload"  # a pseudo-label: the workload derived from the labels
DEFAULT_KEYS: tuple[str, ...] = ("alertname", "namespace", WORKLOAD_KEY)


@dataclass(frozen=True)
class GroupingConfig:
    keys: tuple[str, ...] = DEFAULT_KEYS

    @classmethod
    def parse(cls, text: str) -> GroupingConfig:
        keys = tuple(k.strip() for k in text.split(",") if k.strip())
        if not keys:
            raise ValueError(f"grouping keys {text!r}: give at least one label name")
        return cls(keys)


def group_key(labels: dict[str, str], workload: Workload | None, keys: Sequence[str]) -> str:
    """Canonical ``k=v`` list of the grouping labels; missing labels group as empty."""
    parts = []
    for key in keys:
        value = str(workload) if key == WORKLOAD_KEY and workload else labels.get(key, "")
        parts.append(f"{key}={json.dumps(value)}")  # quoted: a value with "," cannot merge two groups
    return ",".join(parts)


def group_hash(key: str) -> str:
    """Short stable hash of a group key, usable as a label value."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def incident_name(alertname: str, key: str, opened_at: datetime) -> str:
    """Readable, unique name: ``<alertname>-<group hash>-<opened, base36 seconds>``."""
    return f"{slug(alertname, 30) or 'incident'}-{group_hash(key)[:8]}-{_base36(max(0, int(opened_at.timestamp())))}"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out
