"""Alertmanager webhook v4 payloads and the Alert objects made from them.

The bridge validates the whole payload before writing anything, so a request
that can never be accepted leaves nothing behind. Object names are a pure
function of the alert's fingerprint and ``startsAt``: Alertmanager retries and
the duplicate deliveries of an HA pair land on the same object.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Alertmanager writes this for "not set".
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")
# Label values we copy to metadata.labels must satisfy Kubernetes' label syntax.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

AlertState = Literal["firing", "resolved"]


class WebhookAlert(BaseModel):
    """One alert of a v4 notification. Unknown fields (Grafana adds some) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: AlertState
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(pattern=r"^[0-9a-fA-F]{1,64}$")

    @field_validator("starts_at")
    @classmethod
    def _start(cls, value: datetime) -> datetime:
        start = _utc_or_unset(value)
        if start is None:
            raise ValueError("startsAt is required and must be a real time, not Alertmanager's 'unset' value")
        return start

    @field_validator("ends_at")
    @classmethod
    def _end(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc_or_unset(value)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


def _utc_or_unset(value: datetime) -> datetime | None:
    """UTC, or None for Alertmanager's "unset" (0001-01-01, possibly in another zone)."""
    if value.tzinfo is None:
        raise ValueError("timestamp has no time zone; Alertmanager sends RFC 3339")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # before year 1 once moved to UTC: "unset" written with an offset
        return None
    return None if value <= _ZERO_TIME else value


class WebhookMessage(BaseModel):
    """The top level of an Alertmanager webhook notification, version "4"."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    receiver: str = ""
    status: AlertState
    alerts: list[WebhookAlert]
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")


class PayloadError(ValueError):
    """A payload that can never be accepted; the message names the field and value."""


def parse_webhook(document: Any) -> WebhookMessage:
    """Validate a decoded JSON document as a v4 notification.

    Raises PayloadError whose message names every bad field and its value, e.g.
    ``alerts[0].status: Input should be 'firing' or 'resolved' (got 'burning')``.
    """
    if not isinstance(document, dict):
        raise PayloadError(f"payload: expected a JSON object, got {type(document).__name__}")
    try:
        return WebhookMessage.model_validate(document)
    except ValidationError as error:
        raise PayloadError(describe_validation_error(error)) from error


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``field.path: what is wrong (got value)``."""
    lines = []
    for problem in error.errors(include_url=False):
        path = prefix
        for part in problem["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        shown = problem.get("input")
        got = "" if problem["type"] == "missing" else f" (got {_short(shown)})"
        lines.append(f"{path or 'payload'}: {problem['msg']}{got}")
    return "; ".join(lines)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def slug(text: str, limit: int = 40) -> str:
    """A DNS-label-safe, readable fragment of ``text`` (may be empty)."""
    cleaned = _NAME_UNSAFE.sub("-", text.lower()).strip("-")
    return cleaned[:limit].strip("-")


def alert_object_name(alert: WebhookAlert) -> str:
    """Deterministic object name: readable alertname + fingerprint + startsAt.

    The same alert instance (same label set, same start) always maps to the
    same name, however often and by however many Alertmanagers it is sent.
    """
    started = int(alert.starts_at.timestamp())
    prefix = slug(alert.alertname) or "alert"
    return f"{prefix}-{alert.fingerprint.lower()}-{started}"


def safe_label_value(value: str) -> str:
    """``value`` if it is a valid Kubernetes label value, else a short stable hash."""
    if len(value) <= 63 and _LABEL_VALUE.fullmatch(value):
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()[:16]


def alert_spec(alert: WebhookAlert, message: WebhookMessage) -> dict[str, Any]:
    """The ``spec`` of the Alert object for one webhook alert."""
    spec: dict[str, Any] = {
        "fingerprint": alert.fingerprint.lower(),
        "alertname": alert.alertname,
        "state": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": _rfc3339(alert.starts_at),
        "generatorURL": alert.generator_url,
        "receiver": message.receiver,
        "groupKey": message.group_key,
        "externalURL": message.external_url,
    }
    if alert.ends_at is not None:
        spec["endsAt"] = _rfc3339(alert.ends_at)
    return spec


def spec_update(existing: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any] | None:
    """What to change on a stored Alert when the same instance is delivered again.

    ``resolved`` is final for an alert instance: a late ``firing`` delivery from
    a lagging HA peer must not re-open it (a re-fire has a new ``startsAt`` and
    so a new object). Returns None when nothing changes.
    """
    if existing.get("state") == "resolved" and incoming.get("state") == "firing":
        return None
    changes = {k: v for k, v in incoming.items() if existing.get(k) != v}
    return changes or None


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, seconds precision, as Kubernetes writes times."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
