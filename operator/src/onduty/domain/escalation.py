"""Escalation: reach a human, in order, until someone owns the incident.

An :class:`EscalationPolicy` lists levels ("the primary has 5 minutes, then
the secondary"), repeats the whole chain, pages some severities at once, and
names the channels that are kept informed of everything (chat, status page,
ticket). :func:`plan` is the whole policy in one pure function: given the
policy, what the incident looks like (:class:`Facts`), what escalation has
done so far (:class:`State`, kept in the Incident's ``status.escalation``) and
``now``, it returns the next state, the notices to deliver and when to look
again. Nothing here reads the clock or the cluster.

Why state lives in status and nowhere else: deadlines are absolute times
(``nextAt``), so an operator restarted at 4m59s still escalates at 5m, and a
deadline that passed while it was down fires once, late, and says by how
much. Every step bumps ``attempt`` and is written with the object's
resourceVersion as a precondition: of two replicas (or a restarted operator
and a stale one) only one write lands, and notices are delivered only after
the write that records them — nobody is paged twice for one step.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, field_validator, model_validator

from onduty.domain.annotations import (
    ACKNOWLEDGE_ANNOTATION,
    ACKNOWLEDGED_BY_ANNOTATION,
    ACKNOWLEDGED_FOR_ANNOTATION,
    ACKNOWLEDGED_VIA_ANNOTATION,
)
from onduty.domain.durations import format_duration, parse_duration
from onduty.domain.notify.channel import Kind
from onduty.domain.specs import (
    DNS_SUBDOMAIN,
    MAX_DURATION,
    Problems,
    SpecModel,
    SpecRoot,
    describe_validation_error,
    distinct,
    go_duration,
    string_set,
)
from onduty.domain.timeline import Entry
from onduty.domain.times import parse_time, rfc3339

# A policy's chain is short by nature; these bounds keep the incident's record
# of pages (levels x repeats) small and a typo ("repeat: 1000") harmless.
MAX_LEVELS = 10
MAX_REPEAT = 10
MAX_TARGETS = 20
# Without a grace, automation gets this long before people are paged for an
# incident a runbook is working on: most of onduty's fixes verify within a few
# minutes, and paging for an incident that fixes itself trains people to ignore pages.
DEFAULT_AUTOMATION_GRACE = timedelta(minutes=5)
# PagerDuty's default acknowledgement timeout is off; ours too unless a policy names one.

SEVERITIES = ("critical", "error", "warning", "info")
StateName = Literal["Waiting", "Escalating", "Acknowledged", "Exhausted", "Resolved"]


class InvalidEscalationPolicy(ValueError):
    """The policy cannot be used; the message names the field and the value."""


# --- the policy, as the CRD holds it -----------------------------------------------


class _Model(SpecModel):
    pass


# What the CRD says of the names a policy gives (x-kubernetes-list-type: set): Notifiers and
# OnCallSchedules are object names; users are whatever a channel pages people by.
_NAMES: dict[str, Any] = {"max_items": MAX_TARGETS, "max_length": 253, "pattern": DNS_SUBDOMAIN}
_USERS: dict[str, Any] = {"max_items": MAX_TARGETS, "max_length": 253, "min_length": 1}
Severity = Literal["critical", "error", "warning", "info"]


def _targets(value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    return string_set(value, **(_USERS if info.field_name == "users" else _NAMES))


def _longer_than_zero(value: str | None) -> str | None:
    # The CRD's CEL rule: a timeout of 0s would page the next level (or withdraw an acknowledgement) at once.
    if value is not None and parse_duration(value) <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than 0s and at most {MAX_DURATION}")
    return value


class _Targets(_Model):
    """Whom a level or a severity rule tells: Notifiers, people, and who is on call in schedules."""

    notifiers: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()
    # False: "notify, don't page" — chat channels hear about it, pagers do not.
    page: bool = True

    _names = field_validator("notifiers", "users", "schedules")(_targets)

    @property
    def someone(self) -> bool:
        return bool(self.notifiers or self.users or self.schedules)


class Level(_Targets):
    name: str = Field(default="", max_length=63)
    ack_timeout: str = Field(alias="ackTimeout", max_length=20)

    _duration = field_validator("ack_timeout")(go_duration)
    _positive = field_validator("ack_timeout")(_longer_than_zero)

    @model_validator(mode="after")
    def _someone(self) -> Level:
        if not self.someone:
            raise ValueError("a level must name at least one of notifiers, users or schedules")
        return self

    @property
    def timeout(self) -> timedelta:
        return parse_duration(self.ack_timeout)


class SeverityRule(_Targets):
    """``critical`` also pages the engineering manager, at once."""

    severities: Annotated[tuple[Severity, ...], AfterValidator(distinct)] = Field(min_length=1)

    @model_validator(mode="after")
    def _someone(self) -> SeverityRule:
        if not self.someone:
            raise ValueError("a severity rule must name at least one of notifiers, users or schedules")
        return self


class EscalationPolicySpec(SpecRoot):
    # true: this namespace's default (in onduty's own namespace: the cluster default).
    default: bool = False
    levels: tuple[Level, ...] = Field(min_length=1, max_length=MAX_LEVELS)
    # How many times the whole chain runs before escalation gives up (PagerDuty's num_loops + 1).
    repeat: int = Field(default=1, ge=1, le=MAX_REPEAT)
    automation_grace: str = Field(default="5m", alias="automationGrace", max_length=20)
    # Severities paged as soon as the incident opens, whatever automation is doing.
    page_immediately_for: Annotated[tuple[Severity, ...], AfterValidator(distinct)] = Field(
        default=(), alias="pageImmediatelyFor"
    )
    severity_rules: tuple[SeverityRule, ...] = Field(default=(), alias="severityRules", max_length=MAX_LEVELS)
    # Channels told about everything (opened, actions, approvals, acks, resolution).
    inform: tuple[str, ...] = ()
    # Severities shown on public status pages; other incidents never reach one.
    public_severities: Annotated[tuple[Severity, ...], AfterValidator(distinct)] = Field(
        default=(), alias="publicSeverities"
    )
    # An acknowledgement older than this (incident still open) is withdrawn and the
    # current level paged again, as PagerDuty's acknowledgement timeout does. Unset: never.
    acknowledgement_timeout: str | None = Field(default=None, alias="acknowledgementTimeout", max_length=20)

    _durations = field_validator("automation_grace", "acknowledgement_timeout")(go_duration)
    _positive = field_validator("acknowledgement_timeout")(_longer_than_zero)
    _names = field_validator("inform")(_targets)

    @property
    def grace(self) -> timedelta:
        return parse_duration(self.automation_grace)

    @property
    def ack_expiry(self) -> timedelta | None:
        return parse_duration(self.acknowledgement_timeout) if self.acknowledgement_timeout else None

    def notifiers(self) -> set[str]:
        """Every Notifier the policy may use."""
        names = set(self.inform)
        for level in self.levels:
            names.update(level.notifiers)
        for rule in self.severity_rules:
            names.update(rule.notifiers)
        return names


def parse_policy(spec: Mapping[str, Any]) -> EscalationPolicySpec:
    """The policy, or :class:`InvalidEscalationPolicy` naming the first bad field and its value."""
    try:
        return EscalationPolicySpec.model_validate(dict(spec))
    except ValidationError as e:
        raise InvalidEscalationPolicy(describe_validation_error(e, style=Problems.FIRST)) from e


# --- what the planner sees ---------------------------------------------------------


# A human acknowledges with annotations on the Incident (see onduty.domain.annotations).
ACKNOWLEDGE = ACKNOWLEDGE_ANNOTATION
ACKNOWLEDGED_BY = ACKNOWLEDGED_BY_ANNOTATION
ACKNOWLEDGED_FOR = ACKNOWLEDGED_FOR_ANNOTATION
ACKNOWLEDGED_VIA = ACKNOWLEDGED_VIA_ANNOTATION


@dataclass(frozen=True)
class Ack:
    by: str
    via: str = ""  # "kubectl", "slack", "pagerduty", ...
    # The acknowledge annotation's value: acknowledging again (a new value, as `onduty ack`
    # writes the time) is a new acknowledgement, so one that expired can be renewed.
    token: str = "true"

    @property
    def expired_key(self) -> str:
        digest = hashlib.sha256(f"{self.by}\n{self.token}".encode()).hexdigest()[:12]
        return f"ack-expired/{digest}"


@dataclass(frozen=True)
class Facts:
    """The incident as escalation sees it (read from the Incident, pure values)."""

    uid: str
    severity: str
    opened_at: datetime
    resolved: bool = False
    # Automation has handed over (EscalationRequired: no runbook, a step failed or was denied).
    gave_up: str = ""  # the reason, e.g. NoRunbookMatched; empty while automation works
    mitigated: bool = False  # an action succeeded and is verified; waiting for the alert to resolve
    acknowledged: Ack | None = None
    # (action id, state) of every action, and the one waiting for approval, if any.
    actions: tuple[tuple[str, str], ...] = ()
    # Who each named schedule has on call now (resolved by the caller from OnCallSchedules).
    on_call: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class State:
    """``status.escalation`` of the Incident."""

    policy: str = ""  # namespace/name of the policy that applies
    state: StateName = "Waiting"
    reason: str = ""  # why escalation started
    started_at: datetime | None = None
    level: int = 0
    repeat: int = 0
    next_at: datetime | None = None  # the deadline of the next step
    attempt: int = 0  # fencing token: bumped by every step
    acknowledged_by: str = ""
    acknowledged_at: datetime | None = None
    acknowledged_via: str = ""
    notified: tuple[str, ...] = ()  # notice keys already recorded (never recorded twice)

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "state": self.state,
            "level": self.level,
            "repeat": self.repeat,
            "attempt": self.attempt,
            "notified": list(self.notified),
        }
        for key, value in (
            ("reason", self.reason),
            ("startedAt", self.started_at),
            ("nextAt", self.next_at),
            ("acknowledgedBy", self.acknowledged_by),
            ("acknowledgedAt", self.acknowledged_at),
            ("acknowledgedVia", self.acknowledged_via),
        ):
            if value:
                out[key] = rfc3339(value) if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_status(cls, raw: Mapping[str, Any] | None) -> State:
        raw = raw or {}
        state = raw.get("state")
        return cls(
            policy=str(raw.get("policy") or ""),
            state=state if state in ("Waiting", "Escalating", "Acknowledged", "Exhausted", "Resolved") else "Waiting",
            reason=str(raw.get("reason") or ""),
            started_at=parse_time(raw.get("startedAt")),
            level=_int(raw.get("level")),
            repeat=_int(raw.get("repeat")),
            next_at=parse_time(raw.get("nextAt")),
            attempt=_int(raw.get("attempt")),
            acknowledged_by=str(raw.get("acknowledgedBy") or ""),
            acknowledged_at=parse_time(raw.get("acknowledgedAt")),
            acknowledged_via=str(raw.get("acknowledgedVia") or ""),
            notified=tuple(str(k) for k in raw.get("notified") or ()),
        )


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


# --- what the planner decides ------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """One notice to deliver to some notifiers (delivery is the adapter's job)."""

    key: str  # unique per incident: the delivery key's stem
    kind: Kind
    message: str
    notifiers: tuple[str, ...]
    level: int | None = None
    repeat: int = 0
    responders: tuple[str, ...] = ()
    page: bool = True


@dataclass(frozen=True)
class Plan:
    state: State
    sends: tuple[Send, ...] = ()
    entries: tuple[Entry, ...] = ()
    wake_at: datetime | None = None  # look again then (None: only when the incident changes)

    @property
    def changed(self) -> bool:
        return bool(self.sends or self.entries)


def plan(policy: EscalationPolicySpec, policy_key: str, facts: Facts, state: State, now: datetime) -> Plan:
    """The next escalation step for one incident. Idempotent: planning twice at once plans nothing new."""
    p = _Planner(policy, facts, dataclasses.replace(state, policy=policy_key), now)
    p.run()
    return p.result()


class _Planner:
    def __init__(self, policy: EscalationPolicySpec, facts: Facts, state: State, now: datetime) -> None:
        self.policy = policy
        self.facts = facts
        self.state = state
        self.now = now
        self.sends: list[Send] = []
        self.entries: list[Entry] = []
        self.notified = list(state.notified)
        self.wake: list[datetime] = []

    # -- helpers ---------------------------------------------------------------------
    def _once(self, key: str) -> bool:
        """True the first time a notice key is seen; it is then recorded."""
        if key in self.notified:
            return False
        self.notified.append(key)
        return True

    def _reached(self) -> tuple[str, ...]:
        """Every notifier that has heard about this incident (so it hears the ending too)."""
        names = set(self.policy.inform)
        for key in self.notified:
            if key.startswith("page/"):
                level, repeat = (int(x) for x in key.split("/")[1:3])
                del repeat
                if level < len(self.policy.levels):
                    names.update(self.policy.levels[level].notifiers)
            if key == "severity":
                for rule in self._rules():
                    names.update(rule.notifiers)
        return tuple(sorted(names))

    def _rules(self) -> list[SeverityRule]:
        return [r for r in self.policy.severity_rules if self.facts.severity in r.severities]

    def _responders(self, users: Sequence[str], schedules: Sequence[str]) -> tuple[str, ...]:
        people = list(users)
        for schedule in schedules:
            people.extend(self.facts.on_call.get(schedule, ()))
        return tuple(dict.fromkeys(people))

    def _inform(self, key: str, kind: Kind, message: str) -> None:
        if self._once(key) and self.policy.inform:
            self.sends.append(Send(key, kind, message, tuple(self.policy.inform)))

    # -- the policy --------------------------------------------------------------------
    def run(self) -> None:
        f = self.facts
        self._inform("opened", Kind.OPENED, f"incident opened ({f.severity})")
        if f.resolved:
            self._resolve()
            return
        for action_id, action_state in f.actions:
            if action_state == "AwaitingApproval":
                self._inform(f"approval/{action_id}", Kind.APPROVAL_NEEDED, f"action {action_id} waits for approval")
            elif action_state in ("Applied", "Succeeded", "Failed", "Denied"):
                self._inform(
                    f"action/{action_id}/{action_state}", Kind.REMEDIATION, f"action {action_id}: {action_state}"
                )
        if f.gave_up:
            self._inform("escalated", Kind.ESCALATED, f"automation handed over: {f.gave_up}")
        self._acknowledgement()
        if self.state.state in ("Acknowledged", "Exhausted"):
            return
        if self.state.state == "Waiting":
            self._maybe_start()
        elif self.state.state == "Escalating":
            self._maybe_next()

    def _resolve(self) -> None:
        if self.state.state != "Resolved":
            self.state = dataclasses.replace(self.state, state="Resolved", next_at=None)
        if self._once("resolved"):
            reached = self._reached()
            if reached:
                self.sends.append(Send("resolved", Kind.RESOLVED, "incident resolved", reached))

    def _acknowledgement(self) -> None:
        f, s = self.facts, self.state
        ack = f.acknowledged
        if ack is not None and ack.expired_key in self.notified:
            ack = None  # it expired; only a new acknowledgement counts
        if ack is None:
            if s.state == "Acknowledged":
                self._unacknowledge(
                    f"unack/{rfc3339(s.acknowledged_at) if s.acknowledged_at else '-'}", s.acknowledged_by
                )
            return
        # When it was acknowledged is when onduty first saw it (an annotation carries no trusted time).
        same = s.state == "Acknowledged" and s.acknowledged_by == ack.by and s.acknowledged_at is not None
        at = s.acknowledged_at if same and s.acknowledged_at is not None else self.now
        expiry = self.policy.ack_expiry
        if expiry is not None and self.now >= at + expiry:
            self.entries.append(
                Entry(
                    "AcknowledgementExpired",
                    f"{ack.by} acknowledged {format_duration(self.now - at)} ago and the incident is still "
                    f"open (acknowledgementTimeout {self.policy.acknowledgement_timeout}): escalation resumes",
                    "Warning",
                )
            )
            self._unacknowledge(ack.expired_key, ack.by)
            return
        if expiry is not None:
            self.wake.append(at + expiry)
        if same:
            return
        self.state = dataclasses.replace(
            s, state="Acknowledged", acknowledged_by=ack.by, acknowledged_at=at, acknowledged_via=ack.via, next_at=None
        )
        via = f" via {ack.via}" if ack.via else ""
        self.entries.append(Entry("Acknowledged", f"acknowledged by {ack.by}{via}: escalation stops"))
        key = f"ack/{rfc3339(at)}"
        if self._once(key):
            reached = self._reached()
            if reached:
                self.sends.append(Send(key, Kind.ACKNOWLEDGED, f"acknowledged by {ack.by}{via}", reached))

    def _unacknowledge(self, key: str, was: str) -> None:
        s = self.state
        if self._once(key):
            if not key.startswith("ack-expired/"):
                self.entries.append(
                    Entry("Unacknowledged", f"{was or 'someone'}'s acknowledgement was withdrawn", "Warning")
                )
            reached = self._reached()
            if s.started_at is not None and s.state == "Acknowledged":
                # The current level is paged again below: that page is its news.
                paged = set(self.policy.levels[s.level].notifiers)
                reached = tuple(n for n in reached if n not in paged)
            if reached:
                self.sends.append(
                    Send(key, Kind.UNACKNOWLEDGED, f"{was or 'someone'}'s acknowledgement was withdrawn", reached)
                )
        cleared = dataclasses.replace(s, acknowledged_by="", acknowledged_at=None, acknowledged_via="")
        if s.started_at is not None and s.state in ("Acknowledged", "Escalating"):
            # Back to triggered: the current level is paged again now and its timeout runs anew.
            self.state = dataclasses.replace(cleared, state="Escalating")
            if s.state == "Acknowledged":
                self._page(self.state.level, self.state.repeat, late=None, again=True)
        elif s.state == "Acknowledged":
            self.state = dataclasses.replace(cleared, state="Waiting")

    def _start_at(self) -> tuple[datetime, str]:
        f = self.facts
        if f.severity in self.policy.page_immediately_for:
            return f.opened_at, f"severity {f.severity} is paged at once"
        if f.gave_up:
            return self.now, f"automation handed over ({f.gave_up})"
        return (
            f.opened_at + self.policy.grace,
            f"automation had {self.policy.automation_grace} and the incident is still open",
        )

    def _maybe_start(self) -> None:
        if (
            self.facts.mitigated
            and not self.facts.gave_up
            and self.facts.severity not in self.policy.page_immediately_for
        ):
            # Mitigated: the fix worked and waits for the alert to resolve; nobody needs waking.
            return
        start_at, why = self._start_at()
        if self.now < start_at:
            self.wake.append(start_at)
            return
        self.state = dataclasses.replace(self.state, state="Escalating", reason=why, started_at=self.now)
        self.entries.append(Entry("EscalationStarted", f"escalation started: {why}", "Warning"))
        rules = self._rules()
        if rules and self._once("severity"):
            for rule in rules:
                responders = self._responders(rule.users, rule.schedules)
                if rule.notifiers:
                    self.sends.append(
                        Send(
                            "severity",
                            Kind.PAGE,
                            f"{self.facts.severity} incident: paged at once",
                            tuple(rule.notifiers),
                            level=None,
                            responders=responders,
                            page=rule.page,
                        )
                    )
        late = (
            self.now - start_at
            if self.now - start_at > timedelta(seconds=1) and start_at > self.facts.opened_at
            else None
        )
        self._page(0, 0, late=late)

    def _maybe_next(self) -> None:
        s = self.state
        if s.next_at is None:
            return
        if self.now < s.next_at:
            self.wake.append(s.next_at)
            return
        late = self.now - s.next_at if self.now - s.next_at > timedelta(seconds=1) else None
        level, repeat = s.level + 1, s.repeat
        if level >= len(self.policy.levels):
            level, repeat = 0, repeat + 1
        if repeat >= self.policy.repeat:
            self.state = dataclasses.replace(s, state="Exhausted", next_at=None)
            self.entries.append(
                Entry(
                    "EscalationExhausted",
                    f"nobody acknowledged after {self.policy.repeat} pass(es) over {len(self.policy.levels)} level(s); "
                    "escalation stops here",
                    "Warning",
                )
            )
            return
        self._page(level, repeat, late=late)

    def _page(self, level: int, repeat: int, *, late: timedelta | None, again: bool = False) -> None:
        spec = self.policy.levels[level]
        key = f"page/{level}/{repeat}/{self.state.attempt + 1}" if again else f"page/{level}/{repeat}"
        next_at = self.now + spec.timeout
        self.state = dataclasses.replace(
            self.state, level=level, repeat=repeat, next_at=next_at, attempt=self.state.attempt + 1
        )
        self.wake.append(next_at)
        if not self._once(key):
            return
        responders = self._responders(spec.users, spec.schedules)
        who = ", ".join(responders) if responders else ", ".join(spec.notifiers)
        name = spec.name or f"level {level + 1}"
        lateness = f" ({format_duration(late)} late: onduty was not running at the deadline)" if late else ""
        word = "notified" if not spec.page else "paged"
        passes = f", pass {repeat + 1} of {self.policy.repeat}" if self.policy.repeat > 1 else ""
        message = f"{name}{passes} {word}: {who}; next level in {spec.ack_timeout} unless acknowledged{lateness}"
        self.entries.append(Entry("Escalated", message, "Warning" if late else "Normal"))
        if spec.notifiers:
            self.sends.append(
                Send(
                    key,
                    Kind.PAGE,
                    message,
                    tuple(spec.notifiers),
                    level=level,
                    repeat=repeat,
                    responders=responders,
                    page=spec.page,
                )
            )

    def result(self) -> Plan:
        state = dataclasses.replace(self.state, notified=bounded(self.notified))
        wake = min(self.wake) if self.wake and state.state not in ("Resolved",) else None
        return Plan(state=state, sends=tuple(self.sends), entries=tuple(self.entries), wake_at=wake)


# status.escalation.notified keeps at most this many keys (the CRD allows 1000). Keys
# of one-off moments (an acknowledgement, a withdrawal, a re-page after one) never
# recur, so the oldest of them may go; the rest (opened, each level's page, each
# action's states) are bounded by the policy's and the incident's own limits.
NOTIFIED_LIMIT = 500


def bounded(keys: Sequence[str]) -> tuple[str, ...]:
    """``keys`` without the oldest one-off keys past :data:`NOTIFIED_LIMIT` (the newest expired ack stays)."""
    keys = list(keys)
    overflow = len(keys) - NOTIFIED_LIMIT
    if overflow <= 0:
        return tuple(keys)
    expired = [k for k in keys if k.startswith("ack-expired/")]
    keep_expired = expired[-1] if expired else None

    def one_off(key: str) -> bool:
        if key == keep_expired:
            return False
        return key.startswith(("ack/", "unack/", "ack-expired/")) or (key.startswith("page/") and key.count("/") == 3)

    drop: set[int] = set()
    for index, key in enumerate(keys):
        if len(drop) >= overflow:
            break
        if one_off(key):
            drop.add(index)
    return tuple(k for i, k in enumerate(keys) if i not in drop)


def late_by(deadline: datetime | None, now: datetime) -> timedelta | None:
    if deadline is None or now <= deadline:
        return None
    return now - deadline


def facts_from_incident(incident: Mapping[str, Any], on_call: Mapping[str, tuple[str, ...]] | None = None) -> Facts:
    """Read the incident as escalation needs it."""
    meta = incident.get("metadata") or {}
    spec = incident.get("spec") or {}
    status = incident.get("status") or {}
    notes = meta.get("annotations") or {}
    opened = parse_time(status.get("openedAt")) or parse_time(meta.get("creationTimestamp"))
    assert opened is not None, "an incident has a creationTimestamp"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    gave_up = ""
    escalation = conditions.get("EscalationRequired") or {}
    if escalation.get("status") == "True":
        gave_up = str(escalation.get("reason") or "EscalationRequired")
    ack = None
    by = str(notes.get(ACKNOWLEDGED_FOR) or notes.get(ACKNOWLEDGED_BY) or "")
    token = str(notes.get(ACKNOWLEDGE) or "")
    if token.lower() not in ("", "false", "no", "0") and by:
        ack = Ack(by=by, via=str(notes.get(ACKNOWLEDGED_VIA) or "kubectl"), token=token)
    return Facts(
        uid=str(meta.get("uid") or ""),
        severity=str(spec.get("severity") or "warning"),
        opened_at=opened,
        resolved=status.get("phase") == "Resolved",
        gave_up=gave_up,
        mitigated=status.get("phase") == "Mitigated",
        acknowledged=ack,
        actions=tuple((str(a.get("id")), str(a.get("state"))) for a in status.get("actions") or [] if a.get("id")),
        on_call=dict(on_call or {}),
    )
