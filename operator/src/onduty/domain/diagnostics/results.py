"""A diagnostic's outcome as it is stored in the Incident's status, and the bounds on its size.

Every summariser returns a :class:`Result`. Results live in the Incident's
status, so they are bounded: a result is at most :data:`RESULT_LIMIT` bytes of
JSON and all of them together at most :data:`TOTAL_LIMIT`. Over the bound the
largest parts are cut — log text from its oldest end, lists from their tail
(every list here is most-relevant first) — each cut marked, and the result
says how much was cut. Nothing is dropped silently.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# Results live in the Incident's status: in etcd (1.5 MiB per object), in every
# watch event of every incident, and in `kubectl get -o yaml`. 4 KiB is about
# 40 log lines or 20 events — what fits on a responder's screen — and 20 of
# them would still be 80 KiB, hence the total bound.
RESULT_LIMIT = 4096
TOTAL_LIMIT = 32 * 1024
# A summary is one line in a list; longer is a paragraph nobody reads in a page.
SUMMARY_LIMIT = 300
ERROR_LIMIT = 1024


@dataclass(frozen=True)
class Result:
    """One diagnostic's outcome, as it is stored in ``status.diagnostics[]``.

    ``ok`` says the diagnostic gathered what it was asked for — not that the
    workload is healthy: "0 of 3 endpoints answer" is a successful finding.
    """

    name: str
    type: str
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    note: str | None = None
    error: str | None = None
    duration_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "ok": self.ok,
            "summary": self.summary,
            "details": self.details,
            "truncated": self.truncated,
        }
        if self.note:
            out["note"] = self.note
        if self.error:
            out["error"] = self.error
        if self.duration_ms is not None:
            out["durationMs"] = self.duration_ms
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            name=str(data.get("name", "")),
            type=str(data.get("type", "")),
            ok=bool(data.get("ok")),
            summary=str(data.get("summary", "")),
            details=dict(data.get("details") or {}),
            truncated=bool(data.get("truncated")),
            note=data.get("note"),
            error=data.get("error"),
            duration_ms=data.get("durationMs"),
        )


def failed(name: str, type_: str, error: str, *, duration_ms: int | None = None) -> Result:
    """A diagnostic that could not gather its data; the error says why, in one line."""
    message = one_line(error, ERROR_LIMIT)
    return Result(name, type_, False, one_line(message), error=message, duration_ms=duration_ms)


def counted(n: int, noun: str) -> str:
    """``1 restart``, ``3 restarts``: a count and its noun, for summaries."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def one_line(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """Whitespace collapsed to single spaces, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- size bounds -------------------------------------------------------------------------


def size_of(value: Any) -> int:
    """Bytes of compact JSON, as the API server stores it."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


_CUT_HEAD = re.compile(r"^\[… (\d+) bytes cut …\]\n")
_CUT_TAIL = re.compile(r"\n\[… (\d+) bytes cut …\]$")
# Strings under this size are left alone: cutting them saves little and loses a lot.
_MIN_STRING = 96
# Keys whose text is a log: its newest lines (the end) matter, so cut the start.
_TAIL_KEYS = frozenset({"text"})


def cut_text(text: str, max_bytes: int, *, keep: Literal["head", "tail"] = "tail") -> tuple[str, int]:
    """``text`` within ``max_bytes`` (UTF-8), cut at a line break where one is near, with a marker.

    Returns the new text and how many bytes of the original were cut (0 if it fit).
    Cutting an already cut text adds to the count in its marker.
    """
    earlier = 0
    pattern = _CUT_HEAD if keep == "tail" else _CUT_TAIL
    found = pattern.search(text)
    if found:
        earlier = int(found.group(1))
        text = text[: found.start()] + text[found.end() :]
    data = text.encode()
    if len(data) + (_marker_bytes(earlier) + 1 if earlier else 0) <= max_bytes:
        return (_with_marker(text, earlier, keep), 0) if earlier else (text, 0)
    room = max(0, max_bytes - _marker_bytes(earlier + len(data)) - 1)
    if keep == "tail":
        kept = data[len(data) - room :].decode(errors="ignore")
        newline = kept.find("\n")
        if 0 <= newline < len(kept) // 4:  # start at a whole line if that costs little
            kept = kept[newline + 1 :]
    else:
        kept = data[:room].decode(errors="ignore")
        newline = kept.rfind("\n")
        if newline >= 0 and len(kept) - newline < len(kept) // 4:
            kept = kept[:newline]
    cut = len(data) - len(kept.encode())
    return _with_marker(kept, earlier + cut, keep), cut


def _marker(count: int) -> str:
    return f"[… {count} bytes cut …]"


def _marker_bytes(count: int) -> int:
    return len(_marker(count).encode())


def _with_marker(text: str, count: int, keep: str) -> str:
    return f"{_marker(count)}\n{text}" if keep == "tail" else f"{text}\n{_marker(count)}"


Path = tuple[str | int, ...]


def _path_text(path: Path) -> str:
    out = "details"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _largest(node: Any, path: Path = ()) -> tuple[int, Path] | None:
    """The biggest node that can still shrink: a long string, or a list of two or more."""
    best: tuple[int, Path] | None = None
    if isinstance(node, str):
        size = size_of(node)
        return (size, path) if size > _MIN_STRING else None
    children: Iterable[tuple[str | int, Any]]
    if isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
        if len(node) > 1:
            best = (size_of(node), path)
    else:
        return None
    for key, child in children:
        found = _largest(child, (*path, key))
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    return best


def _get(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def _exists(node: Any, path: Path) -> bool:
    try:
        _get(node, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _set(node: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def bound(result: Result, limit: int = RESULT_LIMIT) -> Result:
    """``result`` within ``limit`` bytes of JSON, cutting its largest parts first, and saying so."""
    result = replace(result, summary=one_line(result.summary), error=result.error and one_line(result.error, 1024))
    original = size_of(result.to_dict())
    if original <= limit:
        return result
    details = copy.deepcopy(result.details)
    lists: dict[Path, list[int]] = {}  # path -> [kept, originally]
    strings: dict[Path, int] = {}  # path -> bytes cut
    dropped_all = False
    # Room for the note this function adds (it names the cuts, bounded below).
    reserve = min(400, limit // 4)

    def over() -> int:
        return size_of(replace(result, details=details, truncated=True).to_dict()) + reserve - limit

    for _ in range(500):
        excess = over()
        if excess <= 0:
            break
        target = _largest(details)
        if target is None:
            dropped_all = True
            details = {}
            break
        size, path = target
        node = _get(details, path)
        if isinstance(node, str):
            keep: Literal["head", "tail"] = "tail" if path and path[-1] in _TAIL_KEYS else "head"
            # Cut what is needed, but at most half of it per round, so the cuts
            # spread over the biggest parts instead of erasing one of them.
            want = max(size - excess - 40, size // 2, 0)
            text, cut = cut_text(node, want, keep=keep)
            if cut == 0:  # cannot shrink further without emptying it
                text, cut = cut_text(node, len(node.encode()) // 2, keep=keep)
            _set(details, path, text)
            strings[path] = strings.get(path, 0) + cut
        else:
            originally = lists.get(path, [len(node), len(node)])[1]
            drop, freed = 0, 0
            while drop < len(node) // 2 or (drop == 0 and len(node) > 1):
                drop += 1
                freed += size_of(node[-drop]) + 1
                if freed >= excess:
                    break
            kept = node[: len(node) - drop]
            _set(details, path, kept)
            lists[path] = [len(kept), originally]
    if over() > 0 and not dropped_all:
        dropped_all, details = True, {}
    parts = []
    if dropped_all:
        parts.append("details dropped entirely")
    parts += [f"{_path_text(p)} kept {kept} of {was} items" for p, (kept, was) in lists.items() if not dropped_all]
    parts += [
        f"{_path_text(p)} cut {cut} bytes"
        for p, cut in strings.items()
        if cut and not dropped_all and _exists(details, p)
    ]
    shown = "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more cuts" if len(parts) > 6 else "")
    note = one_line(f"cut from {original} to fit {limit} bytes: {shown}", reserve - 20)
    bounded = replace(result, details=details, truncated=True, note=note)
    # Still over (a tiny limit): the error, then the summary, give way.
    while size_of(bounded.to_dict()) > limit and (len(bounded.error or "") > 40 or len(bounded.summary) > 40):
        if len(bounded.error or "") > 40:
            bounded = replace(bounded, error=one_line(bounded.error or "", len(bounded.error or "") // 2))
        else:
            bounded = replace(bounded, summary=one_line(bounded.summary, len(bounded.summary) // 2))
    return bounded


def bound_all(results: Sequence[Result], *, limit: int = RESULT_LIMIT, total: int = TOTAL_LIMIT) -> list[Result]:
    """Every result within ``limit`` and all of them within ``total``.

    Small results keep their size; the room they leave goes to the larger ones
    (each gets an equal share of what is left when its turn comes, smallest first).
    """
    order = sorted(range(len(results)), key=lambda i: size_of(results[i].to_dict()))
    out: list[Result | None] = [None] * len(results)
    remaining = total
    for position, index in enumerate(order):
        share = remaining // (len(order) - position)
        bounded = bound(results[index], min(limit, max(share, 512)))
        out[index] = bounded
        remaining -= size_of(bounded.to_dict())
    return [r for r in out if r is not None]
