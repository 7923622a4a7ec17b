"""Time windows for guardrails: a cron start in an IANA time zone plus a duration, or an absolute range.

``"0 2 * * 6"`` + ``2h`` in ``Europe/Berlin`` is "Saturdays from 02:00 Berlin
time, for two hours", on CET in winter and CEST in summer alike. Which
instants a cron expression names is cronsim's to say (Debian cron's dialect
and its rules for clock changes), not ours; this module adds the zone, the
duration, and the question "is ``now`` inside?".

A recurring window is ``[start, start + duration)`` for each start the cron
names in the window's zone. The duration is elapsed time: a 2h window lasts two
hours even across a clock change. Clock changes, as cronsim (and Debian cron)
define them, for an expression whose minute and hour fields both name fixed
values (neither starts with ``*``), such as ``30 2 * * *``:

* a start that does not exist (02:30 on the night the clocks spring forward
  from 02:00 to 03:00) moves to the first minute that does: 03:00;
* a start that happens twice (02:30 on the night the clocks fall back from
  03:00 to 02:00) happens once, the first time (02:30 summer time).

An expression with ``*`` in its minute or hour field (``0 * * * *``,
``*/15 2 * * *``) counts real instants instead: local times that are skipped
never start a window, and a repeated hour starts one each time.

The dialect (a policy also checks the CRD's pattern, which is narrower: see
``onduty.domain.policies``): five fields, day of week 0-7 with 0 and 7 both
Sunday; when day of month and day of week both restrict (neither field starts
with ``*``), either may match, as in Vixie cron. Absolute windows carry their
own UTC offsets; a zone does not apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

DEFAULT_ZONE = "UTC"  # what a window without a time zone means: all windows were UTC before zones came


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used; the message names the value."""


def cron_problem(expression: str) -> str | None:
    """What keeps cronsim from reading ``expression`` as a five-field cron (naming the field), or None."""
    # Five fields only: cronsim's sixth (seconds) field also turns its Debian clock-change rules off.
    if len(expression.split()) != 5:
        return "expected 5 fields (minute hour day-of-month month day-of-week)"
    try:
        CronSim(expression, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        # cronsim names the field ("Bad hour"). A day of month that none of the months given has
        # ("30 2") is a bad one to it too: it would never start a window.
        problem = str(error).lower()
        if "day-of-month" in problem:
            problem += " (or one that none of the months given has, such as 30 in month 2)"
        return problem
    return None


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name``; :class:`ScheduleError` names the value if there is none."""
    if name not in _zone_names():
        raise ScheduleError(f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin or UTC")
    return ZoneInfo(name)


@cache
def _zone_names() -> frozenset[str]:
    # IANA's names, from the system's database or the tzdata package, read once on first use.
    # ZoneInfo itself also opens non-IANA files (posix/..., right/..., localtime): the same
    # policy must mean the same zone to `onduty lint` on a laptop and to the operator in its image.
    return frozenset(available_timezones() - {"localtime"})


@dataclass(frozen=True)
class Window:
    """Either a recurring window (cron start in ``zone`` + duration) or an absolute one (start, end)."""

    name: str
    cron: str | None = None
    duration: timedelta = timedelta(0)
    zone: tzinfo = UTC
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        problem = None if self.cron is None else cron_problem(self.cron)
        if problem:
            raise ScheduleError(f"cron {self.cron!r}: {problem}")

    @property
    def shown(self) -> str:
        """The name, and for a recurring window the zone its cron is read in."""
        return f"{self.name} ({self.zone})" if self.cron is not None else self.name

    def contains(self, now: datetime) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        if self.cron is None or self.duration <= timedelta(0):
            return False
        # Inside iff a start falls in (now - duration, now]. Compared in UTC: two datetimes of one
        # ZoneInfo compare by wall clock, which is wrong inside a repeated hour.
        now = now.astimezone(UTC)
        earliest = now - self.duration
        for start in CronSim(self.cron, earliest.astimezone(self.zone)):
            instant = start.astimezone(UTC)
            if instant > now:
                return False
            # From inside a repeated hour cronsim may first name that hour's first pass, which is
            # before `earliest`; the starts after it come in order.
            if instant > earliest:
                return True
        return False  # cronsim found no start in 50 years

    def opens_after(self, now: datetime) -> datetime | None:
        """The first start of the window after ``now`` (UTC), or None if it never opens again."""
        if self.start is not None and self.end is not None:
            return self.start.astimezone(UTC) if self.start > now else None
        if self.cron is None or self.duration <= timedelta(0):
            return None
        now = now.astimezone(UTC)
        for start in CronSim(self.cron, now.astimezone(self.zone)):
            instant = start.astimezone(UTC)
            if instant > now:
                return instant
        return None

    def closes_after(self, now: datetime) -> datetime | None:
        """When the window that contains ``now`` ends (UTC); None when ``now`` is outside it."""
        if not self.contains(now):
            return None
        if self.start is not None and self.end is not None:
            return self.end.astimezone(UTC)
        now = now.astimezone(UTC)
        earliest = now - self.duration
        ends = [start.astimezone(UTC) + self.duration for start in _starts_between(self, earliest, now)]
        return max(ends) if ends else None


def _starts_between(window: Window, earliest: datetime, latest: datetime) -> list[datetime]:
    """The window's starts in ``(earliest, latest]``, for an overlap of consecutive recurrences."""
    assert window.cron is not None
    found = []
    for start in CronSim(window.cron, earliest.astimezone(window.zone)):
        instant = start.astimezone(UTC)
        if instant > latest:
            break
        if instant > earliest:
            found.append(instant)
    return found
