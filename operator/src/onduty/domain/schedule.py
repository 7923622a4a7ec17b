"""Time windows for guardrails: five-field cron starts plus a duration, or absolute ranges.

``"0 2 * * 6"`` + ``2h`` is "Saturdays 02:00-04:00 UTC". The cron dialect is
the standard one (``*``, lists, ranges, steps; day-of-week 0-7 with 0 and 7 as
Sunday; when both day-of-month and day-of-week are restricted, either may
match, as in Vixie cron). All times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


class ScheduleError(ValueError):
    """A cron expression or window that cannot be parsed; the message names the part."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = text.split()
        if len(parts) != 5:
            raise ScheduleError(f"cron {text!r}: expected 5 fields (minute hour day-of-month month day-of-week)")
        sets = [_field(part, name, lo, hi, text) for part, (name, lo, hi) in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])  # 0 and 7 are both Sunday
        return cls(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] != "*", parts[4] != "*")

    def matches(self, moment: datetime) -> bool:
        if moment.minute not in self.minutes or moment.hour not in self.hours or moment.month not in self.months:
            return False
        weekday = (moment.weekday() + 1) % 7  # Monday=1 ... Sunday=0
        day_ok, weekday_ok = moment.day in self.days, weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def _field(part: str, name: str, lo: int, hi: int, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        base, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = lo, hi
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(base)
                if step_text:
                    end = hi
        except ValueError as error:
            raise ScheduleError(f"cron {text!r}: {name} field {part!r} is not a number, range, list or step") from error
        if step < 1 or start < lo or end > hi or start > end:
            raise ScheduleError(f"cron {text!r}: {name} field {part!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Window:
    """Either a recurring window (cron start + duration) or an absolute one (start, end)."""

    name: str
    cron: Cron | None = None
    duration: timedelta = timedelta(0)
    start: datetime | None = None
    end: datetime | None = None

    def contains(self, now: datetime) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        if self.cron is None or self.duration <= timedelta(0):
            return False
        # Walk back minute by minute over the duration looking for a start:
        # at most 10080 steps for a week-long window, microseconds each.
        moment = now.replace(second=0, microsecond=0)
        earliest = now - self.duration
        while moment > earliest:
            if self.cron.matches(moment):
                return True
            moment -= timedelta(minutes=1)
        return False
