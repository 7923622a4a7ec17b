"""Alertmanager webhook v4 payloads and the Alert objects made from them.

The bridge validates the whole payload before writing anything, so a request
that can never be accepted leaves nothing behind.

One Alert object is one *episode* of a fingerprint: from the first firing
delivery to the resolution. ``startsAt`` cannot name it: Alertmanager keeps the
earliest start it has seen, an HA pair of Prometheus servers (or a restarted
one) reports the same firing alert with different starts, and a ``resolved``
notification may carry yet another. So the name is the fingerprint plus the
episode's number (``highrate-3b0d1a4c6f2e9d87-1``, ``-2`` for the next
re-fire), and :func:`plan_delivery` decides, from the fingerprint's stored
episodes, which one a delivery belongs to:

* a ``firing`` delivery joins the open episode, whatever its ``startsAt`` (the
  episode keeps the earliest); with none open, a ``startsAt`` no later than the
  last episode's end is a late delivery (it never re-opens a resolved episode),
  a later one starts the next episode;
* a ``resolved`` delivery resolves the open episode(s) that started before its
  ``endsAt``; one about an episode already resolved changes at most its end.

The plan is a pure function of what is stored, so concurrent deliveries (an HA
pair of Alertmanagers) compute the same name: the loser of a create gets a
conflict, looks again and joins the winner's object.

Every alert Alertmanager can send is stored, whatever its labels: what does
not fit a Kubernetes name, label value or bounded field is shortened, with a
hash of the whole so the result stays deterministic and distinct. Only what
can never be a notification (malformed or deeply nested JSON, text that is not
Unicode, invalid fields) is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from onduty.domain import trust
from onduty.domain.annotations import INCIDENT_LABEL
from onduty.domain.specs import describe_validation_error, shown
from onduty.domain.times import parse_time, rfc3339_microseconds

# Alertmanager writes this for "not set".
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")
# Label values we copy to metadata.labels must satisfy Kubernetes' label syntax.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# The Alert CRD bounds spec.alertname like an object name; the whole value stays in spec.labels.
ALERTNAME_MAX = 253
# A webhook notification nests four deep (notification, alerts, alert, labels;
# Grafana's "values" too). 32 leaves room for any sender's extra fields and
# keeps the recursive JSON decoder and validation far from Python's recursion
# limit, so deep nesting is a 400 naming the depth, never a crash.
MAX_JSON_DEPTH = 32
# A JSON string, or an unterminated one through the end of the text. Possessive,
# and it matches at every quote: one linear pass whatever the body holds.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}
# A UTF-16 surrogate; decoded text holds one only from a "\ud800"-style escape.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# How an RFC 3339 time begins (the API server's date-time accepts "t" and a space too).
_RFC3339_DATE = re.compile(r"\d{4}-\d\d-\d\d[Tt ]")

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

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _rfc3339_text(cls, value: Any) -> Any:
        # Alertmanager writes RFC 3339 text; pydantic alone would read a number, or a string of digits, as Unix time.
        if value is None or (isinstance(value, str) and _RFC3339_DATE.match(value)):
            return value
        raise ValueError("must be an RFC 3339 time such as 2026-11-28T12:00:00Z")

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
    # Strict: a count is a JSON integer (not true, 5.0 or "5"); at most int64's, which the Alert CRD stores.
    truncated_alerts: int = Field(default=0, ge=0, le=2**63 - 1, strict=True, alias="truncatedAlerts")
    receiver: str = ""
    status: AlertState
    alerts: list[WebhookAlert]
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")


class PayloadError(ValueError):
    """A payload that can never be accepted; the message names the field and value."""


def decode_json(raw: bytes) -> Any:
    """The JSON document in a request body, or :class:`PayloadError` saying what is wrong and where.

    Beyond :func:`json.loads`: nesting deeper than :data:`MAX_JSON_DEPTH` is
    refused before decoding (no ``RecursionError``), bytes are decoded strictly
    (no surrogates smuggled in as CESU-8), and a string holding an unpaired
    surrogate (from a ``"\\ud800"`` escape) is refused naming its field: no
    UTF-8 text, and so no Kubernetes object, can hold it.
    """
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as error:
        raise PayloadError(f"body is not valid JSON: {error}") from error
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise PayloadError(
            f"body nests JSON {depth} levels deep, more than the limit of {MAX_JSON_DEPTH};"
            " a webhook notification nests four deep"
        )
    try:
        document = json.loads(text, parse_constant=_not_json)
    except ValueError as error:  # JSONDecodeError, and integers beyond Python's digit limit
        raise PayloadError(f"body is not valid JSON: {error}") from error
    if _SURROGATE_ESCAPE.search(text):  # else no string can hold a surrogate: skip the walk
        _check_text(document)
    return document


def _not_json(constant: str) -> Any:
    """Python's decoder reads NaN and Infinity; JSON has no such numbers, and no Kubernetes object can hold one."""
    raise ValueError(f"{constant} is not a JSON value")


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest, brackets inside strings aside; without recursion.

    On invalid JSON the count may be off past the first error, which is as far as a decoder reads.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def _check_text(document: Any) -> None:
    """Refuse any key or string value holding an unpaired surrogate, naming the first in document order."""
    pending: list[tuple[Any, str]] = [(document, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise PayloadError(f"{path or 'payload'}: {shown(value)} holds an unpaired UTF-16 surrogate")
        elif isinstance(value, dict):
            for key in value:
                if _SURROGATE.search(key):
                    raise PayloadError(f"{path or 'payload'}: key {shown(key)} holds an unpaired UTF-16 surrogate")
            pending.extend((item, f"{path}.{key}" if path else key) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))


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
        raise PayloadError(describe_validation_error(error, prefix="", document="payload")) from error


def slug(text: str, limit: int = 40) -> str:
    """A DNS-label-safe, readable fragment of ``text`` (may be empty)."""
    cleaned = _NAME_UNSAFE.sub("-", text.lower()).strip("-")
    return cleaned[:limit].strip("-")


def alert_object_name(alert: WebhookAlert, episode: int) -> str:
    """Deterministic object name: readable alertname + fingerprint + episode number.

    Every delivery of one firing episode, however often and by however many
    Alertmanagers it is sent and whatever ``startsAt`` it carries, maps to the
    same name; :func:`plan_delivery` picks the episode.
    """
    prefix = slug(alert.alertname) or "alert"
    return f"{prefix}-{alert.fingerprint.lower()}-{episode}"


def alert_namespace(alert: WebhookAlert, default: str) -> str:
    """Where to store ``alert``: its ``namespace`` label if that is a valid namespace name, else ``default``.

    The label is untrusted data and never becomes part of a path: ``../kube-system``,
    ``kube-system/x``, ``Team-A`` or 64 characters all mean "no usable namespace".
    (Whether the namespace exists is the bridge's question, asked of the API server.)
    """
    label = alert.labels.get("namespace", "")
    return label if trust.is_label(label) else default


def attached_incident(alert: dict[str, Any]) -> str:
    """The incident an Alert object was recorded in ("": none yet): its incident label, or the
    ``status.incident`` that Alerts recorded by earlier versions of onduty carry."""
    labels = (alert.get("metadata") or {}).get("labels") or {}
    return str(labels.get(INCIDENT_LABEL) or (alert.get("status") or {}).get("incident") or "")


def safe_label_value(value: str) -> str:
    """``value`` if it is a valid Kubernetes label value, else a short stable hash."""
    if len(value) <= 63 and _LABEL_VALUE.fullmatch(value):
        return value
    return "h-" + _digest(value)


def bounded(value: str, limit: int) -> str:
    """``value`` if it has at most ``limit`` characters, else its head, ``~`` and a hash of the whole.

    Deterministic, and two values that share a long head stay distinct.
    """
    if len(value) <= limit:
        return value
    digest = _digest(value)
    return value[: limit - len(digest) - 1] + "~" + digest


def _digest(value: str) -> str:
    # surrogatepass: total on any str, so a hash never fails where a value is odd.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def alert_spec(alert: WebhookAlert, message: WebhookMessage) -> dict[str, Any]:
    """The ``spec`` of the Alert object for one webhook alert."""
    spec: dict[str, Any] = {
        "fingerprint": alert.fingerprint.lower(),
        "alertname": bounded(alert.alertname, ALERTNAME_MAX),
        "state": alert.status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339_microseconds(alert.starts_at),
        "generatorURL": alert.generator_url,
        "receiver": message.receiver,
        "groupKey": message.group_key,
        "externalURL": message.external_url,
    }
    if alert.ends_at is not None:
        spec["endsAt"] = rfc3339_microseconds(alert.ends_at)
    if message.truncated_alerts:
        # Alertmanager cut this many alerts of the group (its max_alerts); the incident says so.
        spec["truncatedAlerts"] = message.truncated_alerts
    return spec


def spec_update(existing: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any] | None:
    """What to change on a stored Alert when a delivery of the same episode arrives.

    ``resolved`` is final for an episode: a late ``firing`` delivery from a
    lagging HA peer must not re-open it (a re-fire starts the next episode, a
    new object). Returns None when nothing changes.
    """
    if existing.get("state") == "resolved" and incoming.get("state") == "firing":
        return None
    changes = {k: v for k, v in incoming.items() if existing.get(k) != v}
    return changes or None


# --- episodes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Create:
    """Store a new episode: no stored one takes this delivery."""

    name: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """Change a stored episode; the write carries ``resource_version``, so a racing writer makes it conflict."""

    name: str
    resource_version: str
    change: dict[str, Any]


@dataclass(frozen=True)
class Unchanged:
    """The delivery belongs to a stored episode and changes nothing (a retry, an HA duplicate, a late firing)."""

    name: str


Step = Create | Update | Unchanged


def plan_delivery(
    alert: WebhookAlert, incoming: dict[str, Any], stored: Sequence[dict[str, Any]], *, now: datetime
) -> list[Step]:
    """What one delivery does to its fingerprint's episodes (``stored``: the Alert objects listed by fingerprint).

    ``incoming`` is :func:`alert_spec` of the delivery. Pure: the same stored
    objects give the same plan, so an HA pair racing on one fingerprint makes
    the same name and the API server's create conflict settles who writes it.
    A resolved delivery without ``endsAt`` (not Alertmanager: it always sends
    one) ends at ``now``, so a later late firing still finds the episode's end.
    """
    fingerprint = alert.fingerprint.lower()
    episodes = sorted(
        (o for o in stored if (o.get("spec") or {}).get("fingerprint") == fingerprint and _start(o) is not None),
        key=_episode_order,
    )
    latest = episodes[-1] if episodes else None
    following = max((_episode_number(o) for o in episodes), default=0) + 1
    if alert.status == "firing":
        open_ = [o for o in episodes if o["spec"].get("state") == "firing"]
        if open_:
            return [_merge(open_[-1], incoming)]
        if latest is not None and alert.starts_at <= _end(latest):
            return [Unchanged(latest["metadata"]["name"])]  # a late firing: never re-opens a resolved episode
        return [Create(alert_object_name(alert, following), {**incoming, "episode": following})]

    ends = alert.ends_at or max(now.astimezone(UTC), alert.starts_at)
    incoming = {**incoming, "endsAt": rfc3339_microseconds(ends)}
    resolvable = [
        o for o in episodes if o["spec"].get("state") == "firing" and _sortable_time(o["spec"]["startsAt"]) <= ends
    ]
    if resolvable:
        # Normally one; more only where the former startsAt naming left duplicates of one episode.
        return [_merge(o, incoming) for o in resolvable]
    if latest is None:
        return [Create(alert_object_name(alert, following), {**incoming, "episode": following})]
    if (
        latest["spec"].get("state") == "resolved"
        and alert.starts_at <= _end(latest)
        and _sortable_time(latest["spec"]["startsAt"]) <= ends
    ):
        return [_merge(latest, incoming)]  # the latest episode's resolution again
    if latest["spec"].get("state") == "firing" or ends < _sortable_time(latest["spec"]["startsAt"]):
        # About an episode before the latest: a resolution older than what is stored changes nothing.
        return [Unchanged(latest["metadata"]["name"])]
    # Started after the latest episode ended and already over: an episode whose firing never reached us.
    return [Create(alert_object_name(alert, following), {**incoming, "episode": following})]


def _merge(stored: dict[str, Any], incoming: dict[str, Any]) -> Step:
    """The delivery joins ``stored``: the earliest start stays (as Alertmanager merges), the latest end wins."""
    spec = stored.get("spec") or {}
    wanted = dict(incoming)
    wanted["startsAt"] = min(spec["startsAt"], incoming["startsAt"], key=_sortable_time)
    if spec.get("state") == "resolved" and spec.get("endsAt") and incoming.get("endsAt"):
        wanted["endsAt"] = max(spec["endsAt"], incoming["endsAt"], key=_sortable_time)
    change = spec_update(spec, wanted)
    if change is None:
        return Unchanged(stored["metadata"]["name"])
    return Update(stored["metadata"]["name"], str(stored["metadata"].get("resourceVersion", "")), change)


def _episode_number(obj: dict[str, Any]) -> int:
    """The stored episode number; 0 for an object named by the former fingerprint + startsAt scheme."""
    number = (obj.get("spec") or {}).get("episode")
    return number if isinstance(number, int) and not isinstance(number, bool) else 0


def _episode_order(obj: dict[str, Any]) -> tuple[int, datetime]:
    return _episode_number(obj), _start(obj) or _ZERO_TIME


def _start(obj: dict[str, Any]) -> datetime | None:
    return parse_time((obj.get("spec") or {}).get("startsAt"))


def _end(obj: dict[str, Any]) -> datetime:
    """When a stored episode ended: ``endsAt``, else (a firing one, or one stored without an end) its start."""
    spec = obj.get("spec") or {}
    if spec.get("state") == "firing":
        return datetime.max.replace(tzinfo=UTC)
    return parse_time(spec.get("endsAt")) or _start(obj) or _ZERO_TIME


def _sortable_time(value: Any) -> datetime:
    return parse_time(value) or _ZERO_TIME
