"""On-call schedules: who is on call at a moment, until when, and who comes next.

An ``OnCallSchedule`` is PagerDuty's model. Each *layer* is a rotation: its
members take turns of one ``rotation`` each, in order, from the layer's
``start``, optionally only inside ``restrictions`` (weekday 09:00-17:00).
An *override* puts one member on call for a fixed time. An *iCal feed* (the
text of a ConfigMap key; the operator fetches nothing from outside) names who
is on call by its events. Precedence, lowest first::

    ical  <  layers[0]  <  layers[1]  <  ...  <  overrides[0]  <  overrides[1]  <  ...

At every instant the highest source that has someone on call decides, so a
later layer covers an earlier one only where it has someone, and a gap in it
shows the layer below. Where iCal events overlap, the one that started last
decides (a swap entered on top of a rota). Nobody on call is a possible answer,
not an error: a schedule may leave nights uncovered on purpose.

Local time. Layer starts and restriction windows are wall-clock times in
``spec.timeZone``, and rotation arithmetic is wall-clock arithmetic: a ``1d``
rotation handing off at 09:00 hands off at 09:00 local every day, so the turn
across a clock change lasts 23 or 25 hours, and ``24h`` is the same as ``1d``.
A local time the clocks skip (02:30 on the night they spring forward) means the
moment they jump; one they repeat means its first pass — as maintenance windows
read their cron (:mod:`onduty.domain.schedule`). A turn that a skipped hour
swallows whole (a ``1h`` turn from 02:00) is nobody's.

Everything here is pure: ``now`` and the iCal text are arguments, the clock and
the cluster are the caller's. Every error is an :class:`OnCallError` whose
message names the field and the value. ::

    schedule = parse_oncall_schedule(obj["spec"])
    now_on = on_call(schedule, now, ical_text=configmap_text)   # OnCall(member="alice", ..., until=...)
    coming = shifts(schedule, now, now + timedelta(days=7), ical_text=configmap_text)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

import icalendar

# recurring-ical-events ships no type information (no py.typed marker); only this module calls it.
import recurring_ical_events  # type: ignore[import-untyped]
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from onduty.domain.schedule import ScheduleError, time_zone
from onduty.domain.specs import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    TIMESTAMP_PATTERN,
    Problems,
    SpecModel,
    SpecRoot,
    describe_validation_error,
    distinct,
)

# The patterns the CRD gives, so the model and the CRD check one expression each.
# A rotation: whole weeks, days and hours, in that order, each at least 1 (so every turn lasts at least
# an hour: PagerDuty's shortest turn, and a responder's shift shorter than that is no shift); four digits
# a part keep the arithmetic far inside what a datetime can hold.
ROTATION_PATTERN = r"^([1-9][0-9]{0,3}w)?([1-9][0-9]{0,3}d)?([1-9][0-9]{0,3}h)?$"
# A layer's start: a local date and time, no offset (spec.timeZone says where), years 1970-2999 as timestamps,
# each field within its range (the API server has no format for a time without an offset to check it by).
LOCAL_TIME_PATTERN = (
    r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
)
# A restriction's start and end: a local time of day; an end may also be 24:00, the end of the day.
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
CLOCK_END_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
# A responder as escalation and notifiers name them: a user name or an e-mail address.
MEMBER_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9._@+]*[A-Za-z0-9])?$"
MEMBER_MAX_LENGTH = 253
# An override's start and end: the CRD's bound (a timestamp with a nanosecond fraction has 35 characters).
TIMESTAMP_CHARS = 64
# A ConfigMap data key, as the API server validates it.
CONFIGMAP_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
# How far ahead on_call and next_handoff look for the next change before answering "none": more than a
# year, so a yearly rota (a holiday calendar) still shows its next turn.
HORIZON = timedelta(days=400)
# The first look-ahead, doubled until a change shows or HORIZON is reached: most schedules hand off
# within a week, and a short window keeps the common answer cheap.
_FIRST_LOOK = timedelta(days=2)

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
SourceKind = Literal["layer", "override", "ical"]


class OnCallError(ValueError):
    """A schedule, or an iCal feed, the operator cannot use; the message names the field and the value."""


# --- the spec --------------------------------------------------------------------------------------------


def parse_rotation(text: str) -> timedelta:
    """A rotation (``12h``, ``1d``, ``1w``, ``1w2d``) as wall-clock time; ValueError naming the value."""
    found = re.fullmatch(ROTATION_PATTERN, text)
    if text and found:
        weeks, days, hours = (int(part[:-1]) if part else 0 for part in found.groups())
        return timedelta(weeks=weeks, days=days, hours=hours)
    hint = _rotation_hint(text)
    if hint:
        raise ValueError(f"{text!r} is not a duration; write {hint}")
    raise ValueError(
        f"{text!r} is not a duration such as 12h, 1d or 1w (whole weeks, days and hours, in that order,"
        " at least 1h in all)"
    )


_ROTATION_WORDS = re.compile(r"\s*(\d+)\s*(weeks?|wks?|w|days?|d|hours?|hrs?|h)\s*(?:,|\band\b)?", re.IGNORECASE)
_HOURS = {"w": 168, "d": 24, "h": 1}


def _rotation_hint(text: str) -> str | None:
    """The rotation ``text`` means, written the CRD's way (``1 week`` -> ``1w``), or None if it is no rotation."""
    parts = list(_ROTATION_WORDS.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        return None
    hours = sum(int(p.group(1)) * _HOURS[p.group(2)[0].lower()] for p in parts)
    if hours < 1:
        return None
    weeks, rest = divmod(hours, 168)
    days, hours = divmod(rest, 24)
    written = "".join(f"{n}{unit}" for n, unit in ((weeks, "w"), (days, "d"), (hours, "h")) if n)
    return written if re.fullmatch(ROTATION_PATTERN, written) else None


def parse_local_time(text: str) -> datetime:
    """A layer's start, ``2026-11-02T09:00:00``, as a naive (wall-clock) datetime; ValueError naming the value."""
    if not re.fullmatch(LOCAL_TIME_PATTERN, text):
        if re.fullmatch(TIMESTAMP_PATTERN, text):
            raise ValueError(
                f"{text!r} carries a UTC offset; give the local time without one, such as 2026-11-02T09:00:00"
                " (it is read in spec.timeZone, so handoffs keep their local time across clock changes)"
            )
        raise ValueError(f"{text!r} is not a local date and time such as 2026-11-02T09:00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a date and time that exists ({error})") from error


def _clock(text: str, pattern: str, example: str) -> str:
    if not re.fullmatch(pattern, text):
        raise ValueError(f"{text!r} is not a local time of day such as {example}")
    return text


def _start_clock(text: str) -> str:
    return _clock(text, CLOCK_PATTERN, "09:00")


def _end_clock(text: str) -> str:
    return _clock(text, CLOCK_END_PATTERN, "17:00 (or 24:00, the end of the day)")


def _member(text: str) -> str:
    if len(text) > MEMBER_MAX_LENGTH or not re.fullmatch(MEMBER_PATTERN, text):
        raise ValueError(
            f"{text!r} is not a member name: a user name or e-mail address of letters, digits and . _ @ + -"
            f", starting and ending with a letter or digit, at most {MEMBER_MAX_LENGTH} characters"
        )
    return text


def _rotation(text: str) -> str:
    parse_rotation(text)
    return text


def _local_time(text: str) -> str:
    parse_local_time(text)
    return text


def _timestamp(text: str) -> str:
    if not re.fullmatch(TIMESTAMP_PATTERN, text):
        raise ValueError(f"{text!r} is not an RFC 3339 time with a UTC offset such as 2026-11-24T18:00:00Z")
    try:
        datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{text!r} is not a time that exists ({error})") from error
    return text


def _members(members: tuple[str, ...]) -> tuple[str, ...]:
    if not members:
        raise ValueError("a layer needs at least one member")
    return members


Member = Annotated[str, AfterValidator(_member)]


class _Model(SpecModel):
    pass


class Restriction(_Model):
    """A local window, on the given days, inside which a layer has someone on call."""

    days: Annotated[tuple[Weekday, ...], AfterValidator(distinct)] = Field(default=WEEKDAYS, min_length=1)
    start: Annotated[str, AfterValidator(_start_clock)]
    end: Annotated[str, AfterValidator(_end_clock)]

    @model_validator(mode="after")
    def _end_after_start(self) -> Restriction:
        # The CRD's CEL rule, with its message. "HH:MM" strings order as the times do.
        if self.end <= self.start:
            raise ValueError(
                f"end {self.end!r} must be after start {self.start!r}"
                " (a window across midnight is two: 22:00-24:00 and 00:00-06:00)"
            )
        return self

    def windows(self, day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """This restriction's window on ``day`` (local), as UTC instants, if ``day`` is one of its days."""
        if WEEKDAYS[day.weekday()] not in self.days:
            return
        start = datetime.combine(day, time.fromisoformat(self.start))
        if self.end == "24:00":
            end = datetime.combine(day + timedelta(days=1), time())
        else:
            end = datetime.combine(day, time.fromisoformat(self.end))
        yield local_instant(start, zone), local_instant(end, zone)


class Layer(_Model):
    """One rotation: ``members`` take turns of ``rotation`` each, in order, from ``start`` (local)."""

    name: str = Field(max_length=63, pattern=DNS_LABEL)
    start: Annotated[str, AfterValidator(_local_time)]
    rotation: Annotated[str, AfterValidator(_rotation)]
    # A hundred: a team larger than that rotates in sub-teams, and the object stays small in etcd.
    members: Annotated[tuple[Member, ...], AfterValidator(_members)] = Field(max_length=100)
    # Twenty: two windows a weekday (a split day, or one across midnight) and a few to spare.
    restrictions: tuple[Restriction, ...] = Field(default=(), max_length=20)

    @property
    def anchor(self) -> datetime:
        """The local wall-clock time of the first handoff (naive)."""
        return parse_local_time(self.start)

    @property
    def turn(self) -> timedelta:
        """The length of one turn, in wall-clock time."""
        return parse_rotation(self.rotation)


class Override(_Model):
    """``member`` is on call from ``start`` to ``end`` (RFC 3339 instants), above every layer."""

    member: Member
    start: Annotated[str, AfterValidator(_timestamp)] = Field(max_length=TIMESTAMP_CHARS)
    end: Annotated[str, AfterValidator(_timestamp)] = Field(max_length=TIMESTAMP_CHARS)

    @model_validator(mode="after")
    def _end_after_start(self) -> Override:
        if self.until <= self.since:
            raise ValueError(f"end {self.end!r} must be after start {self.start!r}")
        return self

    @property
    def since(self) -> datetime:
        return datetime.fromisoformat(self.start).astimezone(UTC)

    @property
    def until(self) -> datetime:
        return datetime.fromisoformat(self.end).astimezone(UTC)


class ConfigMapKeyRef(_Model):
    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN)
    key: str = Field(max_length=253, pattern=CONFIGMAP_KEY_PATTERN)


class ICalFeed(_Model):
    """An iCalendar text kept in a ConfigMap in the schedule's namespace (GitOps: no outbound fetch)."""

    config_map_ref: ConfigMapKeyRef = Field(alias="configMapRef")

    @property
    def shown(self) -> str:
        return f"ConfigMap {self.config_map_ref.name} key {self.config_map_ref.key}"


class OnCallScheduleSpec(SpecRoot):
    time_zone: str = Field(alias="timeZone", max_length=64)
    # Ten layers: PagerDuty schedules rarely have more than three; past ten nobody can tell who is on call.
    layers: tuple[Layer, ...] = Field(default=(), max_length=10)
    # A hundred: a quarter's swaps and holidays; past ones can be pruned from Git.
    overrides: tuple[Override, ...] = Field(default=(), max_length=100)
    ical: ICalFeed | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # The API server cannot check this (CEL has no zone database): the model is where it is refused.
        try:
            time_zone(value)
        except ScheduleError as error:
            raise ValueError(str(error)) from error
        return value

    @field_validator("layers")
    @classmethod
    def _unique_names(cls, layers: tuple[Layer, ...]) -> tuple[Layer, ...]:
        # The CRD's list-map key: the API server refuses two layers of one name.
        names = [layer.name for layer in layers]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"layer names must be unique, repeated: {', '.join(repeated)}")
        return layers

    @model_validator(mode="after")
    def _someone(self) -> OnCallScheduleSpec:
        if not self.layers and self.ical is None:
            raise ValueError("a schedule needs at least one layer or an ical feed")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return time_zone(self.time_zone)


def parse_oncall_schedule(spec: Mapping[str, Any]) -> OnCallScheduleSpec:
    """An OnCallSchedule's ``spec``; :class:`OnCallError` names each faulty field and its value."""
    try:
        return OnCallScheduleSpec.model_validate(spec)
    except ValidationError as error:
        raise OnCallError(describe_validation_error(error, style=Problems.OWN_WORDS)) from error


# --- answers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shift:
    """``member`` is on call over ``[start, end)`` (UTC), by ``kind`` (and ``layer``, the layer's name)."""

    member: str
    start: datetime
    end: datetime
    kind: SourceKind
    layer: str | None = None

    @property
    def source(self) -> str:
        """Where the shift comes from, for people: ``layer weekly``, ``override`` or ``ical``."""
        return _shown(self.kind, self.layer)


@dataclass(frozen=True)
class OnCall:
    """Who is on call at a moment (``member`` None: nobody), from which source, and ``until`` when.

    ``until`` is the next handoff: when someone else, or nobody, takes over (the
    same member going on from another source is no handoff). None when that
    does not happen within :data:`HORIZON`.
    """

    member: str | None
    kind: SourceKind | None
    layer: str | None
    until: datetime | None

    @property
    def source(self) -> str | None:
        return None if self.kind is None else _shown(self.kind, self.layer)


def _shown(kind: SourceKind, layer: str | None) -> str:
    return f"layer {layer}" if kind == "layer" else kind


def on_call(schedule: OnCallScheduleSpec, now: datetime, ical_text: str | None = None) -> OnCall:
    """Who is on call at ``now``, from which layer (or override, or the iCal feed), until the next handoff."""
    sources = _Sources.of(schedule, ical_text)
    current, until = sources.change_after(_aware(now, "now"))
    if current.who is None:
        return OnCall(None, None, None, until)
    return OnCall(current.who.member, current.who.kind, current.who.layer, until)


def next_handoff(schedule: OnCallScheduleSpec, now: datetime, ical_text: str | None = None) -> datetime | None:
    """The first moment after ``now`` when someone else (or nobody) is on call; None within :data:`HORIZON`."""
    return _Sources.of(schedule, ical_text).change_after(_aware(now, "now"))[1]


def shifts(schedule: OnCallScheduleSpec, start: datetime, end: datetime, ical_text: str | None = None) -> list[Shift]:
    """Who is on call when over ``[start, end)``, all sources merged by precedence, gaps left out.

    Shifts are cut to the range; adjacent turns of one member from one source
    are one shift.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    return [
        Shift(s.who.member, s.start, s.end, s.who.kind, s.who.layer)
        for s in _Sources.of(schedule, ical_text).segments(start, end)
        if s.who is not None
    ]


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not {moment.isoformat()}")
    return moment.astimezone(UTC)


# --- local time ------------------------------------------------------------------------------------------


def local_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock time ``local`` in ``zone``.

    A time the clocks repeat is its first pass; a time they skip is the moment they jump.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first  # it exists; fold=0 is the first pass of a repeated time

    # Skipped. Read with the offset after the jump it is an instant before the jump, with the offset
    # before it one after (PEP 495); the jump, a whole second, lies between.
    def offset(seconds: int) -> timedelta | None:
        return datetime.fromtimestamp(seconds, UTC).astimezone(zone).utcoffset()

    before = int(local.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    after = int(first.timestamp())
    old = offset(before)
    while after - before > 1:
        middle = (before + after) // 2
        before, after = (middle, after) if offset(middle) == old else (before, middle)
    return datetime.fromtimestamp(after, UTC)


# --- the sources and their merge -------------------------------------------------------------------------

# Precedence of a claim, higher wins: (0 ical, 1 layer, 2 override; its place among its class's claims).
_Rank = tuple[int, int]


@dataclass(frozen=True)
class _Claim:
    """One source has ``member`` on call over ``[start, end)``."""

    start: datetime
    end: datetime
    member: str
    kind: SourceKind
    layer: str | None
    rank: _Rank


@dataclass(frozen=True)
class _Segment:
    """``who`` (the winning claim; None: nobody) is on call over ``[start, end)``."""

    start: datetime
    end: datetime
    who: _Claim | None

    @property
    def member(self) -> str | None:
        return None if self.who is None else self.who.member

    def continues(self, other: _Segment) -> bool:
        """``other`` is the same member from the same source."""
        mine = None if self.who is None else (self.who.member, self.who.kind, self.who.layer)
        theirs = None if other.who is None else (other.who.member, other.who.kind, other.who.layer)
        return mine == theirs


@dataclass(frozen=True)
class _Sources:
    schedule: OnCallScheduleSpec
    calendar: icalendar.Calendar | None

    @classmethod
    def of(cls, schedule: OnCallScheduleSpec, ical_text: str | None) -> _Sources:
        return cls(schedule, _read_calendar(schedule, ical_text))

    def claims(self, start: datetime, end: datetime) -> list[_Claim]:
        zone = self.schedule.zone
        claims: list[_Claim] = []
        if self.calendar is not None and self.schedule.ical is not None:
            claims += _ical_claims(self.calendar, self.schedule.ical, zone, start, end)
        for index, layer in enumerate(self.schedule.layers):
            turns = _turns(layer, zone, start, end)
            if layer.restrictions:
                turns = _restricted(turns, _windows(layer.restrictions, zone, start, end))
            claims += [_Claim(s, e, member, "layer", layer.name, (1, index)) for s, e, member in turns]
        for index, override in enumerate(self.schedule.overrides):
            since, until = max(override.since, start), min(override.until, end)
            if since < until:
                claims.append(_Claim(since, until, override.member, "override", None, (2, index)))
        return claims

    def segments(self, start: datetime, end: datetime) -> list[_Segment]:
        """``[start, end)`` cut where the winning claim changes, each piece with its winner (or nobody)."""
        claims = sorted(self.claims(start, end), key=lambda c: c.start)
        bounds = sorted({start, end, *(c.start for c in claims), *(c.end for c in claims)})
        segments: list[_Segment] = []
        active: list[_Claim] = []
        waiting = iter(claims)
        upcoming = next(waiting, None)
        for left, right in pairwise(bounds):
            while upcoming is not None and upcoming.start <= left:
                active.append(upcoming)
                upcoming = next(waiting, None)
            active = [c for c in active if c.end > left]
            piece = _Segment(left, right, max(active, key=lambda c: c.rank, default=None))
            if segments and segments[-1].continues(piece):
                segments[-1] = _Segment(segments[-1].start, right, segments[-1].who)
            else:
                segments.append(piece)
        return segments

    def change_after(self, now: datetime) -> tuple[_Segment, datetime | None]:
        """The segment at ``now``, and the first moment after it when the member on call changes."""
        look = _FIRST_LOOK
        while True:
            segments = self.segments(now, now + look)
            current = segments[0]
            for segment in segments[1:]:
                if segment.member != current.member:
                    return current, segment.start
            if look >= HORIZON:
                return current, None
            look = min(look * 2, HORIZON)


def _turns(layer: Layer, zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime, str]]:
    """The layer's turns over ``[start, end)``, cut to it: none before the layer's start."""
    anchor, step, members = layer.anchor, layer.turn, layer.members

    def handoff(k: int) -> datetime:
        return local_instant(anchor + k * step, zone)

    if end <= handoff(0):
        return []
    # A first guess from the wall clock, then exact: across a clock change the guess can be one off.
    k = max(0, (start.astimezone(zone).replace(tzinfo=None) - anchor) // step)
    while k > 0 and handoff(k) > start:
        k -= 1
    while handoff(k + 1) <= start:
        k += 1
    turns = []
    begin = handoff(k)
    while begin < end:
        finish = handoff(k + 1)
        if finish > begin:  # a turn inside a skipped hour lasts no time: nobody's
            turns.append((max(begin, start), min(finish, end), members[k % len(members)]))
        k, begin = k + 1, finish
    return turns


def _windows(
    restrictions: Iterable[Restriction], zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The restrictions' windows over ``[start, end)``, sorted and merged where they overlap or touch."""
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    found = sorted(
        window
        for offset in range((last - first).days + 1)
        for restriction in restrictions
        for window in restriction.windows(first + timedelta(days=offset), zone)
    )
    merged: list[tuple[datetime, datetime]] = []
    for since, until in found:
        if merged and since <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], until))
        else:
            merged.append((since, until))
    return merged


def _restricted(
    turns: list[tuple[datetime, datetime, str]], windows: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime, str]]:
    """The parts of ``turns`` inside ``windows`` (both sorted and without overlaps)."""
    kept = []
    w = 0
    for begin, finish, member in turns:
        while w < len(windows) and windows[w][1] <= begin:
            w += 1
        j = w
        while j < len(windows) and windows[j][0] < finish:
            since, until = max(begin, windows[j][0]), min(finish, windows[j][1])
            if since < until:
                kept.append((since, until, member))
            j += 1
    return kept


# --- the iCal feed ---------------------------------------------------------------------------------------


def _read_calendar(schedule: OnCallScheduleSpec, text: str | None) -> icalendar.Calendar | None:
    feed = schedule.ical
    if feed is None:
        if text is not None:
            raise OnCallError("spec.ical is not set, yet iCal text was given: the schedule names no feed to read")
        return None
    where = f"spec.ical.configMapRef ({feed.shown})"
    if text is None:
        raise OnCallError(f"{where}: no iCal text was given; read the ConfigMap key first")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as error:
        raise OnCallError(f"{where}: not iCalendar text: {error}") from error
    if calendar.name != "VCALENDAR":
        raise OnCallError(f"{where}: not iCalendar text: it holds a {calendar.name}, not a VCALENDAR")
    for event in calendar.walk("VEVENT"):
        _event_member(event, where)  # every event names its member, not only those in the next window
    return calendar


def _event_member(event: icalendar.cal.Component, where: str) -> str:
    """The member an event puts on call: its SUMMARY if that is a member name, else its ATTENDEE's CN."""
    summary = str(event.get("SUMMARY", "")).strip()
    try:
        return _member(summary)
    except ValueError:
        pass
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [] if attendees is None else [attendees]
    names = [str(a.params["CN"]).strip() for a in attendees if "CN" in a.params]
    shown = f"event {summary!r} (UID {str(event.get('UID', '?'))!r})"
    if len(names) > 1:
        raise OnCallError(f"{where}: {shown} names {len(names)} attendees {names!r}; an on-call event names one")
    if not names:
        raise OnCallError(
            f"{where}: {shown} names no member: its SUMMARY is not a member name and it has no ATTENDEE with a CN"
        )
    try:
        return _member(names[0])
    except ValueError as error:
        raise OnCallError(f"{where}: {shown}: ATTENDEE CN {error}") from error


def _ical_claims(
    calendar: icalendar.Calendar, feed: ICalFeed, zone: ZoneInfo, start: datetime, end: datetime
) -> list[_Claim]:
    where = f"spec.ical.configMapRef ({feed.shown})"
    # A day either side: recurring-ical-events reads floating and all-day events in its own way at the
    # edges; here they are local to spec.timeZone, and cut to the range below.
    try:
        events = list(recurring_ical_events.of(calendar).between(start - timedelta(days=1), end + timedelta(days=1)))
        occurrences = [(_ical_instant(e["DTSTART"].dt, zone), _ical_instant(e["DTEND"].dt, zone), e) for e in events]
    except (ValueError, KeyError) as error:
        # The libraries' InvalidCalendar and BadRuleStringFormat are ValueErrors; KeyError is a missing DTSTART.
        raise OnCallError(f"{where}: cannot expand the calendar's events: {error}") from error
    claims = []
    for index, (since, until, event) in enumerate(sorted(occurrences, key=lambda o: (o[0], o[1]))):
        since, until = max(since, start), min(until, end)
        if since < until:
            # Among overlapping events the one that started last decides (a swap on top of a rota).
            claims.append(_Claim(since, until, _event_member(event, where), "ical", None, (0, index)))
    return claims


def _ical_instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """An iCal DTSTART/DTEND as a UTC instant: floating times and all-day dates are local to ``zone``."""
    if not isinstance(value, datetime):
        return local_instant(datetime.combine(value, time()), zone)
    if value.tzinfo is None:
        return local_instant(value, zone)
    return value.astimezone(UTC)
