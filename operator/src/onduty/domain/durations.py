"""Durations as people write them in specs: ``90s``, ``10m``, ``1h30m``, ``1d``, ``1d12h``.

Go's format (every Kubernetes user knows it from ``kubectl``), plus a leading
count of days, because nobody writes a day as ``24h`` by choice. The CRDs
check the same expression (:data:`PATTERN`, in a CEL rule whose message gives
examples, not the expression) and bound the length by :data:`MAX` the way the
API server's CEL reads it: CEL's ``duration()`` is Go's and has no ``d``, so the
rule adds the days to the rest in milliseconds (:func:`milliseconds`). A value
that reaches :func:`parse_duration` from the API server therefore parses.
"""

from __future__ import annotations

import re
from datetime import timedelta

# At most five digits of days (99999d, 273 years: below MAX, so a day count alone never overflows),
# then Go's units; a value is days alone, or Go's units with or without days before them.
_GO_PART = "[0-9]+([.][0-9]+)?(ms|s|m|h)"
PATTERN = f"^([0-9]{{1,5}}d({_GO_PART})*|({_GO_PART})+)$"
# The longest a duration may be written: far more than any real one needs, and it keeps the
# CRDs' CEL cost estimate small (the API server refuses a CRD whose rules might cost too much).
MAX_LENGTH = 32
# The longest duration a spec may give. The API server's CEL holds durations as Go's
# time.Duration, which ends at 2562047h47m16s (292 years); Python's timedelta could not hold
# much more. Compared in whole milliseconds, as the CRDs' rule does (CEL's getMilliseconds()).
MAX = "2562047h"
MAX_MILLISECONDS = 2562047 * 3600 * 1000
EXAMPLES = "90s, 10m, 1h30m or 1d"

_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ms|s|m|h|d)")
_NANOS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
# How people spell units in prose, and the unit onduty reads: '5 minutes' → 5m.
_WORDS = {
    "ms": "ms",
    "msec": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
}


def is_duration(text: str) -> bool:
    """Whether ``text`` is written as a duration onduty and the CRDs read (its length is checked apart)."""
    return re.fullmatch(PATTERN, text) is not None


def nanoseconds(text: str) -> int:
    """The length of a duration :func:`is_duration` accepts, in nanoseconds, truncated as Go's parser does."""
    return sum(
        int(whole) * _NANOS[unit] + (int(fraction or 0) * _NANOS[unit]) // 10 ** len(fraction)
        for whole, fraction, unit in _PART.findall(text)
    )


def milliseconds(text: str) -> int:
    """The length in whole milliseconds: what the CRDs' CEL rules compare (``getMilliseconds()``)."""
    return nanoseconds(text) // 10**6


def suggestion(text: str) -> str | None:
    """How ``text`` is written as a duration, where that is obvious: ``'5 minutes'`` → ``5m``; None if not."""
    words = re.findall(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)", text)
    if not words or re.sub(r"[0-9.]+\s*[A-Za-z]+|[\s,]+|\band\b", "", text):
        return None
    parts = []
    for number, word in words:
        unit = _WORDS.get(word if word in ("m", "M") else word.lower())
        if word == "M" or unit is None:
            return None  # M is months to some people and minutes to others: no guess
        parts.append((number, unit))
    if len(parts) == 1 and parts[0][1] == "d" and "." in parts[0][0]:
        hours = float(parts[0][0]) * 24
        parts = [(f"{hours:g}", "h")]
    written = "".join(f"{number}{unit}" for number, unit in parts)
    return written if written != text and is_duration(written) else None


def problem(text: str) -> str | None:
    """Why ``text`` is not a duration a spec may give, naming it and a fix where one is obvious; None if it is."""
    if len(text) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters, not {len(text)}"
    if not is_duration(text):
        fix = suggestion(text)
        if fix:
            return f"{text!r} is not a duration; write {fix}"
        return f"{text!r} is not a duration such as {EXAMPLES}"
    if milliseconds(text) > MAX_MILLISECONDS:
        return f"{text!r} is longer than {MAX}, the longest duration Kubernetes can hold"
    return None


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m`` or ``1d12h`` into a timedelta; raise ValueError naming the value."""
    if not is_duration(text):
        fix = suggestion(text)
        raise ValueError(
            f"{text!r} is not a duration; write {fix}" if fix else f"{text!r} is not a duration such as {EXAMPLES}"
        )
    return timedelta(microseconds=nanoseconds(text) // 1000)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta the short way people read it: ``4m10s``."""
    total = int(delta.total_seconds())
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
    return "".join(parts)
