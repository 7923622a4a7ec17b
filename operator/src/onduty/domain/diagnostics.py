"""Diagnostics: the context a responder gathers in the first ten minutes, as data.

A runbook lists diagnostic steps (``spec.diagnostics``). When an incident
matches it, the operator runs them all at once, each bounded in time, and
writes one compact result per step into the incident's status, next to a
human-readable summary (which a chat integration can post as it is).

This module is pure. It holds:

* the spec models of each diagnostic type (the CRD schema says the same);
* summarisers that turn what the API server, Helm's release records, Argo CD,
  Prometheus or an HTTP endpoint answered into a :class:`Result` — the
  collectors in ``onduty.adapters.diagnostics`` fetch, these judge;
* the size bounds: a result is at most :data:`RESULT_LIMIT` bytes of JSON and
  all of them together at most :data:`TOTAL_LIMIT`. Over the bound the largest
  parts are cut — log text from its oldest end, lists from their tail (every
  list here is most-relevant first) — each cut marked, and the result says
  how much was cut. Nothing is dropped silently;
* :func:`trend` for range-query samples, and :func:`render_summary`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from onduty.domain.durations import PATTERN as DURATION_PATTERN
from onduty.domain.durations import format_duration, parse_duration
from onduty.domain.redaction import redact_url

# --- bounds, each with its reason --------------------------------------------------------

# Results live in the Incident's status: in etcd (1.5 MiB per object), in every
# watch event of every incident, and in `kubectl get -o yaml`. 4 KiB is about
# 40 log lines or 20 events — what fits on a responder's screen — and 20 of
# them would still be 80 KiB, hence the total bound.
RESULT_LIMIT = 4096
TOTAL_LIMIT = 32 * 1024
# A summary is one line in a list; longer is a paragraph nobody reads in a page.
SUMMARY_LIMIT = 300
ERROR_LIMIT = 1024
# The human summary goes to chat later: Slack truncates messages well above
# this, but a responder's phone screen does not show more.
RENDER_LIMIT = 8192
# One runbook with more diagnostics than this is a dashboard, not a runbook;
# it also bounds the threads one incident can use at once.
MAX_DIAGNOSTICS = 20
# Log streams fetched per diagnostic: the three most interesting pods (not
# ready, most restarted) of a workload, their containers, current and previous.
DEFAULT_LOG_PODS = 3
MAX_LOG_STREAMS = 10
# Each stream is fetched with the API server's limitBytes: 500 lines (the
# maximum tailLines) of 128 bytes; the result bound then cuts it further.
LOG_FETCH_BYTES = 64 * 1024
# An HTTP check probes at most this many endpoints: enough to see "one bad
# replica" versus "all bad" without scanning a 300-pod Service.
MAX_HTTP_ENDPOINTS = 10
# ConfigMaps and Secrets looked up for one workload; a pod template referencing
# more is unusual, and the rest are named as not checked.
MAX_CONFIG_OBJECTS = 30
# A diagnostic that takes longer than this is not "context in seconds"; the
# API server's own read timeout (15 s) is longer, so this one decides.
DEFAULT_TIMEOUT_SECONDS = 10
# Series summarised per PromQL diagnostic: the highest last values first.
MAX_SERIES = 10
# Points per range query: enough for a trend and a min/max, few enough to be cheap.
RANGE_POINTS = 60
# A change of less than 10% of the series' magnitude over the window is noise
# in rates and ratios, not a trend.
TREND_TOLERANCE = 0.1

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DiagnosticType = Literal[
    "podLogs",
    "events",
    "podStatus",
    "rolloutHistory",
    "helmHistory",
    "argoHistory",
    "configChanges",
    "promql",
    "httpCheck",
]
TYPES: tuple[str, ...] = get_args(DiagnosticType)


# --- specs -------------------------------------------------------------------------------


class _Spec(BaseModel):
    # Fields that belong to other types are ignored rather than rejected: the
    # CRD has one flat item schema (with CEL rules for what each type requires),
    # and a runbook must not lose its remediation over a stray `tailLines`.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    timeout_seconds: int = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=60, alias="timeoutSeconds")


class WorkloadRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: str = Field(min_length=1, max_length=253)


class _WorkloadSpec(_Spec):
    """A diagnostic about a workload: the step's ``target``, else the incident's workload."""

    target: WorkloadRef | None = None


class PodLogs(_WorkloadSpec):
    type: Literal["podLogs"]
    tail_lines: int = Field(default=50, ge=1, le=500, alias="tailLines")
    # Also the logs of the previous container instance: for a crash loop, the
    # current container has just started and the reason is in the previous one.
    previous: bool = False
    container: str | None = Field(default=None, max_length=63)
    max_pods: int = Field(default=DEFAULT_LOG_PODS, ge=1, le=MAX_LOG_STREAMS, alias="maxPods")


class Events(_WorkloadSpec):
    type: Literal["events"]
    limit: int = Field(default=20, ge=1, le=100)


class PodStatus(_WorkloadSpec):
    type: Literal["podStatus"]


class RolloutHistory(_WorkloadSpec):
    type: Literal["rolloutHistory"]
    limit: int = Field(default=10, ge=1, le=100)


class HelmHistory(_WorkloadSpec):
    type: Literal["helmHistory"]
    # Default: the workload's app.kubernetes.io/instance label or its
    # meta.helm.sh/release-name annotation (what Helm itself sets).
    release: str | None = Field(default=None, max_length=53)
    limit: int = Field(default=10, ge=1, le=100)


class ArgoHistory(_Spec):
    type: Literal["argoHistory"]
    application: str = Field(min_length=1, max_length=253)
    # Argo CD keeps Applications in its own namespace unless "apps in any namespace" is on.
    namespace: str = Field(default="argocd", min_length=1, max_length=63)
    limit: int = Field(default=10, ge=1, le=100)


class ConfigChanges(_WorkloadSpec):
    type: Literal["configChanges"]
    within_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, alias="withinMinutes")


class PromQL(_Spec):
    type: Literal["promql"]
    expr: str = Field(min_length=1, max_length=4096)
    # Absent: an instant query. Present (``15m``): a range query ending now.
    window: str | None = Field(default=None, alias="range", pattern=DURATION_PATTERN)
    step: str | None = Field(default=None, pattern=DURATION_PATTERN)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None and not timedelta(seconds=1) <= parse_duration(value) <= timedelta(days=7):
            raise ValueError(f"range {value!r} must be between 1s and 168h (7 days)")
        return value

    @property
    def window_delta(self) -> timedelta | None:
        return parse_duration(self.window) if self.window else None

    @property
    def step_seconds(self) -> float:
        """The query step: as given, else the window in :data:`RANGE_POINTS` steps (at least 1 s)."""
        window = self.window_delta or timedelta(0)
        if self.step:
            given = parse_duration(self.step).total_seconds()
            # Prometheus refuses more than 11,000 points; stay far below.
            return max(given, window.total_seconds() / 1000, 1.0)
        return max(1.0, math.ceil(window.total_seconds() / RANGE_POINTS))


class HttpCheck(_Spec):
    type: Literal["httpCheck"]
    service: str = Field(min_length=1, max_length=63)
    # The Service port, by number or name; default: its first port.
    port: int | str | None = None
    path: str = Field(default="/", pattern=r"^/", max_length=1024)


DiagnosticSpec = Annotated[
    PodLogs | Events | PodStatus | RolloutHistory | HelmHistory | ArgoHistory | ConfigChanges | PromQL | HttpCheck,
    Field(discriminator="type"),
]


def _unique_names(steps: tuple[Any, ...]) -> tuple[Any, ...]:
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"diagnostic names must be unique, repeated: {', '.join(duplicates)}")
    return steps


DiagnosticSteps = Annotated[
    tuple[DiagnosticSpec, ...], Field(max_length=MAX_DIAGNOSTICS), AfterValidator(_unique_names)
]

WORKLOAD_TYPES: tuple[str, ...] = (
    "podLogs",
    "events",
    "podStatus",
    "rolloutHistory",
    "helmHistory",
    "configChanges",
)


# --- results -----------------------------------------------------------------------------


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


def _count(n: int, noun: str) -> str:
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


# --- times -------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?")


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 as Kubernetes, Helm (nanoseconds, any offset) and Argo CD write it; None if unreadable."""
    if not isinstance(value, str):
        return None
    found = _TIME.match(value.strip())
    if not found:
        return None
    date, clock, fraction, zone = found.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    zone = "+00:00" if zone in (None, "Z") else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{micro}{zone}").astimezone(UTC)
    except ValueError:
        return None


def ago(value: Any, now: datetime) -> str:
    """``3m10s ago`` (or ``at <value>`` when the time cannot be read)."""
    moment = parse_time(value)
    if moment is None:
        return f"at {value}" if value else "at an unknown time"
    delta = now - moment
    if delta < timedelta(seconds=1):
        return "just now"
    return f"{format_duration(delta)} ago"


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z") if moment else None


# --- pods --------------------------------------------------------------------------------


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A metav1.LabelSelector as the ``labelSelector`` query parameter."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key", ""), req.get("operator", ""), ",".join(req.get("values") or [])
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(op, f"!{key}")
        )
    return ",".join(parts)


def _container_statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in _container_statuses(pod))


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def rank_pods(pods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Most interesting first: not ready, then most restarted, then newest; terminating pods last."""

    def key(pod: Mapping[str, Any]) -> tuple[bool, bool, int, float, str]:
        meta = pod.get("metadata") or {}
        created = parse_time(meta.get("creationTimestamp")) or _EPOCH
        return (
            bool(meta.get("deletionTimestamp")),
            is_ready(pod),
            -restarts(pod),
            -created.timestamp(),
            meta.get("name", ""),
        )

    return sorted((dict(p) for p in pods), key=key)


@dataclass(frozen=True)
class LogRequest:
    pod: str
    container: str
    previous: bool = False


def log_requests(pods: Sequence[Mapping[str, Any]], spec: PodLogs) -> list[LogRequest]:
    """Which log streams to read: the spec's container (or every container) of the most interesting pods.

    The previous instance is read only if asked for and one exists (the
    container has terminated before); the API server answers 400 otherwise.
    """
    out: list[LogRequest] = []
    for pod in rank_pods(pods)[: spec.max_pods]:
        name = pod["metadata"]["name"]
        statuses = {c.get("name"): c for c in _container_statuses(pod)}
        containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
        if spec.container:
            containers = [c for c in containers if c == spec.container]
        for container in containers:
            out.append(LogRequest(name, container))
            last = (statuses.get(container) or {}).get("lastState") or {}
            if spec.previous and last.get("terminated"):
                out.append(LogRequest(name, container, previous=True))
    return out[:MAX_LOG_STREAMS]


@dataclass(frozen=True)
class LogStream:
    request: LogRequest
    text: str | None = None
    error: str | None = None


def pod_logs_result(spec: PodLogs, streams: Sequence[LogStream], *, pods: int) -> Result:
    if not streams:
        where = f"container {spec.container!r} in " if spec.container and pods else ""
        return Result(spec.name, spec.type, True, f"no log streams: {where}{pods} pod(s)", {"streams": []})
    read = [s for s in streams if s.text is not None]
    # Each stream's share of the result, so one chatty container does not push the others out.
    share = max(256, (RESULT_LIMIT - 600) // len(streams) - 120)
    entries: list[dict[str, Any]] = []
    total_lines = 0
    for stream in streams:
        entry: dict[str, Any] = {"pod": stream.request.pod, "container": stream.request.container}
        if stream.request.previous:
            entry["previous"] = True
        if stream.text is None:
            entry["error"] = one_line(stream.error or "no answer", 400)
        else:
            lines = stream.text.count("\n") + (0 if stream.text.endswith("\n") or not stream.text else 1)
            total_lines += lines
            text, _ = cut_text(stream.text.rstrip("\n"), share, keep="tail")
            entry.update({"lines": lines, "text": text})
        entries.append(entry)
    details = {"tailLines": spec.tail_lines, "streams": entries}
    if not read:
        errors = "; ".join(sorted({one_line(s.error or "no answer", 200) for s in streams}))
        return replace(failed(spec.name, spec.type, f"no log stream could be read: {errors}"), details=details)
    summary = f"{len(read)} of {_count(len(streams), 'log stream')} read, {_count(total_lines, 'line')}"
    last = next((_last_line(s.text) for s in read if _last_line(s.text)), "")
    if last:
        first = next(s for s in read if _last_line(s.text))
        which = f"{first.request.pod}/{first.request.container}" + (" (previous)" if first.request.previous else "")
        summary += f"; last line of {which}: {one_line(last, 160)}"
    if len(read) < len(streams):
        summary += f"; {len(streams) - len(read)} failed"
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _state(status: Mapping[str, Any]) -> tuple[str, str, int | None]:
    """(state, reason, exit code) of a container state."""
    for name in ("waiting", "terminated", "running"):
        value = status.get(name)
        if value is not None:
            code = value.get("exitCode") if name == "terminated" else None
            return name, str(value.get("reason") or ""), code
    return "unknown", "", None


def pod_status_result(spec: PodStatus, pods: Sequence[Mapping[str, Any]]) -> Result:
    ranked = rank_pods(pods)
    entries = []
    problems: list[str] = []
    for pod in ranked:
        meta, status = pod.get("metadata", {}), pod.get("status") or {}
        containers = []
        for c in list(status.get("initContainerStatuses") or []) + _container_statuses(pod):
            state, reason, code = _state(c.get("state") or {})
            item: dict[str, Any] = {
                "name": c.get("name"),
                "ready": bool(c.get("ready")),
                "restarts": int(c.get("restartCount") or 0),
                "state": state,
            }
            if reason:
                item["reason"] = reason
            if code is not None:
                item["exitCode"] = code
            last_state, last_reason, last_code = _state(c.get("lastState") or {})
            if last_state == "terminated":
                item["lastTerminated"] = {"reason": last_reason, "exitCode": last_code}
                finished = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
                if finished:
                    item["lastTerminated"]["finishedAt"] = finished
            containers.append(item)
            if (reason and reason != "Completed") or (last_reason and last_reason != "Completed"):
                why = reason or state
                if last_reason:
                    why += f" (last terminated {last_reason}" + (
                        f", exit {last_code})" if last_code is not None else ")"
                    )
                problems.append(f"{meta.get('name')}/{c.get('name')}: {why}")
        entry: dict[str, Any] = {
            "name": meta.get("name"),
            "phase": status.get("phase", "Unknown"),
            "ready": is_ready(pod),
            "restarts": restarts(pod),
            "containers": containers,
        }
        if (pod.get("spec") or {}).get("nodeName"):
            entry["node"] = pod["spec"]["nodeName"]
        if meta.get("deletionTimestamp"):
            entry["terminating"] = True
        if status.get("reason"):
            entry["reason"] = status["reason"]
        entries.append(entry)
    if not entries:
        return Result(spec.name, spec.type, True, "no pods", {"pods": []})
    ready = sum(1 for e in entries if e["ready"])
    summary = f"{ready}/{len(entries)} pods ready, {_count(sum(e['restarts'] for e in entries), 'restart')}"
    if problems:
        summary += "; " + "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return Result(spec.name, spec.type, True, one_line(summary), {"pods": entries})


# --- events ------------------------------------------------------------------------------


def event_time(event: Mapping[str, Any]) -> datetime | None:
    series = event.get("series") or {}
    for value in (
        series.get("lastObservedTime"),
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        moment = parse_time(value)
        if moment is not None:
            return moment
    return None


def events_result(spec: Events, events: Iterable[Mapping[str, Any]], now: datetime) -> Result:
    """The newest events first (deduplicated by uid), Warnings named in the summary."""
    unique = {str((e.get("metadata") or {}).get("uid") or id(e)): e for e in events}
    ordered = sorted(unique.values(), key=lambda e: event_time(e) or _EPOCH, reverse=True)
    entries = []
    for event in ordered[: spec.limit]:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        count = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
        entry: dict[str, Any] = {
            "time": _stamp(event_time(event)),
            "type": event.get("type", "Normal"),
            "reason": event.get("reason", ""),
            "object": f"{involved.get('kind', '?')}/{involved.get('name', '?')}",
            "message": one_line(event.get("message") or event.get("note") or "", 300),
        }
        if count > 1:
            entry["count"] = count
        entries.append(entry)
    if not entries:
        return Result(spec.name, spec.type, True, "no recent events", {"events": [], "total": 0})
    warnings = [e for e in entries if e["type"] == "Warning"]
    summary = f"{_count(len(ordered), 'event')} ({len(warnings)} Warning)"
    if len(ordered) > len(entries):
        summary += f", newest {len(entries)} kept"
    latest = warnings[0] if warnings else entries[0]
    times = f" (x{latest['count']})" if latest.get("count") else ""
    summary += (
        f"; latest {latest['type']} {latest['reason']} on {latest['object']} {ago(latest['time'], now)}:"
        f" {latest['message']}{times}"
    )
    return Result(spec.name, spec.type, True, one_line(summary), {"events": entries, "total": len(ordered)})


# --- recent changes ----------------------------------------------------------------------

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"


def _images(template: Mapping[str, Any]) -> list[str]:
    spec = template.get("spec") or {}
    return [str(c.get("image", "")) for c in spec.get("containers") or []]


def rollout_history_result(
    spec: RolloutHistory, deployment: Mapping[str, Any], replicasets: Iterable[Mapping[str, Any]], now: datetime
) -> Result:
    """The Deployment's revisions from the ReplicaSets it owns, newest first (``kubectl rollout history``)."""
    uid = (deployment.get("metadata") or {}).get("uid")
    current = str(((deployment.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, ""))
    revisions = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        if not any(ref.get("uid") == uid and ref.get("controller") for ref in meta.get("ownerReferences") or []):
            continue
        annotations = meta.get("annotations") or {}
        try:
            revision = int(annotations.get(REVISION_ANNOTATION, "0"))
        except ValueError:
            revision = 0
        entry: dict[str, Any] = {
            "revision": revision,
            "replicaSet": meta.get("name"),
            "createdAt": meta.get("creationTimestamp"),
            "images": _images((rs.get("spec") or {}).get("template") or {}),
            "replicas": int((rs.get("status") or {}).get("replicas") or 0),
        }
        if annotations.get(CHANGE_CAUSE_ANNOTATION):
            entry["changeCause"] = one_line(annotations[CHANGE_CAUSE_ANNOTATION], 300)
        if str(revision) == current:
            entry["current"] = True
        revisions.append(entry)
    revisions.sort(key=lambda e: e["revision"], reverse=True)
    kept = revisions[: spec.limit]
    details = {"revisions": kept, "total": len(revisions), "currentRevision": current or None}
    if not kept:
        return Result(spec.name, spec.type, True, "no revisions recorded (no ReplicaSets owned)", details)
    parts = [_describe_revision(e, now) for e in kept[:2]]
    summary = f"{_count(len(revisions), 'revision')}; " + "; ".join(parts)
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _describe_revision(entry: Mapping[str, Any], now: datetime) -> str:
    label = "current revision" if entry.get("current") else "revision"
    text = f"{label} {entry['revision']} created {ago(entry['createdAt'], now)} ({', '.join(entry['images'])})"
    if entry.get("changeCause"):
        text += f" change-cause {entry['changeCause']!r}"
    return text


HELM_INSTANCE_LABEL = "app.kubernetes.io/instance"
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"


def helm_release_of(spec: HelmHistory, workload: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The release name (the step's, else the workload's annotation or instance label) and its namespace."""
    meta = (workload or {}).get("metadata") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    name = spec.release or annotations.get(HELM_RELEASE_ANNOTATION) or labels.get(HELM_INSTANCE_LABEL)
    return name, annotations.get(HELM_NAMESPACE_ANNOTATION)


def helm_history_result(spec: HelmHistory, release: str, records: Iterable[Mapping[str, Any]], now: datetime) -> Result:
    """Revisions of a Helm release from its decoded release records, newest first (``helm history``).

    Only what ``helm history`` shows: never the values (``config``, which may
    hold credentials) or the rendered manifest.
    """
    revisions = []
    for record in records:
        info = record.get("info") or {}
        chart = (record.get("chart") or {}).get("metadata") or {}
        revisions.append(
            {
                "revision": int(record.get("version") or 0),
                "status": info.get("status", "unknown"),
                "updated": info.get("last_deployed"),
                "chart": f"{chart.get('name', '?')}-{chart.get('version', '?')}",
                "appVersion": chart.get("appVersion", ""),
                "description": one_line(info.get("description") or "", 300),
            }
        )
    revisions.sort(key=lambda e: e["revision"], reverse=True)
    kept = revisions[: spec.limit]
    details = {"release": release, "revisions": kept, "total": len(revisions)}
    if not kept:
        return Result(spec.name, spec.type, True, f"release {release}: no revisions found", details)
    latest = kept[0]
    summary = (
        f"release {release}: revision {latest['revision']} {latest['status']} {ago(latest['updated'], now)}"
        f" ({latest['chart']}, {latest['description']!r})"
    )
    if len(kept) > 1:
        prev = kept[1]
        summary += f"; before it revision {prev['revision']} {prev['status']} ({prev['chart']})"
    failed_revisions = [str(e["revision"]) for e in kept if e["status"] == "failed"]
    if failed_revisions:
        summary += f"; failed revisions: {', '.join(failed_revisions)}"
    return Result(spec.name, spec.type, True, one_line(summary), details)


def argo_history_result(spec: ArgoHistory, application: Mapping[str, Any], now: datetime) -> Result:
    """An Argo CD Application's sync and health, its operation, and its deploy history, newest first."""
    status = application.get("status") or {}
    sync, health = status.get("sync") or {}, status.get("health") or {}
    history = []
    for item in reversed(list(status.get("history") or [])):  # Argo keeps it oldest first
        source = item.get("source") or {}
        entry: dict[str, Any] = {
            "id": item.get("id"),
            "revision": item.get("revision"),
            "deployedAt": item.get("deployedAt"),
        }
        if source:
            entry["source"] = {
                k: source[k] for k in ("repoURL", "path", "chart", "targetRevision") if source.get(k) is not None
            }
        by = item.get("initiatedBy") or {}
        if by.get("automated"):
            entry["initiatedBy"] = "automated"
        elif by.get("username"):
            entry["initiatedBy"] = by["username"]
        history.append(entry)
    details: dict[str, Any] = {
        "application": f"{spec.namespace}/{spec.application}",
        "sync": {"status": sync.get("status", "Unknown"), "revision": sync.get("revision")},
        "health": {"status": health.get("status", "Unknown")},
        "history": history[: spec.limit],
        "total": len(history),
    }
    if health.get("message"):
        details["health"]["message"] = one_line(health["message"], 300)
    operation = status.get("operationState") or {}
    if operation:
        details["operationState"] = {
            "phase": operation.get("phase"),
            "message": one_line(operation.get("message") or "", 300),
            "startedAt": operation.get("startedAt"),
            "finishedAt": operation.get("finishedAt"),
            "revision": (operation.get("syncResult") or {}).get("revision")
            or ((operation.get("operation") or {}).get("sync") or {}).get("revision"),
        }
    summary = f"{sync.get('status', 'Unknown')}"
    if sync.get("revision"):
        summary += f" at {_short_revision(sync['revision'])}"
    summary += f", {health.get('status', 'Unknown')}"
    if history:
        last = history[0]
        summary += f"; last deploy #{last['id']} {ago(last['deployedAt'], now)} ({_short_revision(last['revision'])})"
    else:
        summary += "; no deploy history"
    if operation:
        summary += f"; operation {operation.get('phase')}"
        if operation.get("phase") not in ("Succeeded", "Running") and operation.get("message"):
            summary += f": {operation['message']}"
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _short_revision(revision: Any) -> str:
    text = str(revision or "?")
    return text[:7] if re.fullmatch(r"[0-9a-f]{40}", text) else text


def referenced_config(pod_spec: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """ConfigMaps and Secrets a pod template uses: volumes (also projected), env and envFrom."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for volume in pod_spec.get("volumes") or []:
        if (volume.get("configMap") or {}).get("name"):
            configmaps.add(volume["configMap"]["name"])
        if (volume.get("secret") or {}).get("secretName"):
            secrets.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("configMap") or {}).get("name"):
                configmaps.add(source["configMap"]["name"])
            if (source.get("secret") or {}).get("name"):
                secrets.add(source["secret"]["name"])
    for container in list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or []):
        for env in container.get("env") or []:
            ref = env.get("valueFrom") or {}
            if (ref.get("configMapKeyRef") or {}).get("name"):
                configmaps.add(ref["configMapKeyRef"]["name"])
            if (ref.get("secretKeyRef") or {}).get("name"):
                secrets.add(ref["secretKeyRef"]["name"])
        for env_from in container.get("envFrom") or []:
            if (env_from.get("configMapRef") or {}).get("name"):
                configmaps.add(env_from["configMapRef"]["name"])
            if (env_from.get("secretRef") or {}).get("name"):
                secrets.add(env_from["secretRef"]["name"])
    return sorted(configmaps), sorted(secrets)


def last_change(metadata: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """When an object last changed, and by which field manager: the newest managedFields entry.

    Objects written without field management (rare) fall back to their creation time.
    """
    newest: tuple[datetime, str | None] | None = None
    for entry in metadata.get("managedFields") or []:
        moment = parse_time(entry.get("time"))
        if moment is not None and (newest is None or moment > newest[0]):
            newest = (moment, entry.get("manager"))
    if newest is not None:
        return newest
    return parse_time(metadata.get("creationTimestamp")), None


def config_changes_result(
    spec: ConfigChanges,
    found: Mapping[tuple[str, str], Mapping[str, Any] | None],
    now: datetime,
    *,
    unchecked: Sequence[tuple[str, str]] = (),
) -> Result:
    """Which referenced ConfigMaps/Secrets changed within the window.

    ``found`` maps (kind, name) to the object's *metadata* (None: it does not
    exist). Only names and times are reported — never data.
    """
    window = timedelta(minutes=spec.within_minutes)
    changed, missing, unchanged = [], [], []
    for (kind, name), metadata in sorted(found.items()):
        if metadata is None:
            missing.append(f"{kind}/{name}")
            continue
        moment, manager = last_change(metadata)
        if moment is not None and now - moment <= window:
            entry: dict[str, Any] = {"kind": kind, "name": name, "changedAt": _stamp(moment)}
            if manager:
                entry["manager"] = manager
            changed.append(entry)
        else:
            unchanged.append(f"{kind}/{name}")
    changed.sort(key=lambda e: e["changedAt"], reverse=True)
    details: dict[str, Any] = {"withinMinutes": spec.within_minutes, "changed": changed, "unchanged": unchanged}
    if missing:
        details["missing"] = missing
    if unchecked:
        details["notChecked"] = [f"{k}/{n}" for k, n in unchecked]
    total = len(found)
    if not total:
        return Result(spec.name, spec.type, True, "the pod template references no ConfigMaps or Secrets", details)
    summary = f"{len(changed)} of {total} referenced ConfigMaps/Secrets changed in the last {spec.within_minutes}m"
    if changed:
        summary += ": " + ", ".join(
            f"{e['kind']}/{e['name']} {ago(e['changedAt'], now)}" + (f" by {e['manager']}" if e.get("manager") else "")
            for e in changed[:3]
        )
    if missing:
        summary += f"; missing: {', '.join(missing[:3])}"
    if unchecked:
        summary += f"; {len(unchecked)} not checked"
    return Result(spec.name, spec.type, True, one_line(summary), details)


# --- PromQL ------------------------------------------------------------------------------

Trend = Literal["up", "down", "flat"]


def trend(samples: Sequence[tuple[float, float]], tolerance: float = TREND_TOLERANCE) -> Trend:
    """Up, down or flat: the least-squares slope over the window, against the series' magnitude.

    The change the fitted line makes over the window must exceed ``tolerance``
    of the largest absolute value seen; NaN and infinite samples are ignored.
    """
    points = [(t, v) for t, v in samples if math.isfinite(v) and math.isfinite(t)]
    if len(points) < 2:
        return "flat"
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return "flat"
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / spread
    change = slope * (points[-1][0] - points[0][0])
    scale = max(abs(v) for _, v in points)
    if scale == 0 or abs(change) <= tolerance * scale:
        return "flat"
    return "up" if change > 0 else "down"


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    samples: tuple[tuple[float, float], ...]


def graph_link(prometheus_url: str, expr: str, window: str | None) -> str:
    """The Prometheus UI's graph of ``expr`` over ``window`` (1h when none is given), never with credentials."""
    base = redact_url(prometheus_url).rstrip("/")
    return f"{base}/graph?g0.expr={quote(expr, safe='')}&g0.range_input={window or '1h'}"


def _labels_text(labels: Mapping[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else ""


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def promql_result(spec: PromQL, series: Sequence[Series], link: str) -> Result:
    """Last value, min/max and trend of each series (highest last value first), and the graph link."""
    summaries = []
    for s in series:
        values = [v for _, v in s.samples if math.isfinite(v)]
        if not s.samples:
            continue
        item: dict[str, Any] = {"labels": dict(s.labels), "last": _json_number(s.samples[-1][1])}
        if spec.window:
            item.update(
                {
                    "min": _json_number(min(values)) if values else None,
                    "max": _json_number(max(values)) if values else None,
                    "trend": trend(s.samples),
                    "samples": len(s.samples),
                }
            )
        summaries.append(item)
    summaries.sort(key=lambda i: -i["last"] if isinstance(i["last"], float | int) else math.inf)
    details: dict[str, Any] = {"expr": spec.expr, "link": link, "series": summaries[:MAX_SERIES]}
    if spec.window:
        details.update({"range": spec.window, "step": f"{spec.step_seconds:g}s"})
    if len(summaries) > MAX_SERIES:
        details["totalSeries"] = len(summaries)
    if not summaries:
        return Result(spec.name, spec.type, True, f"no data for {one_line(spec.expr, 120)}", details)
    top = summaries[0]
    text = _fmt(top["last"]) if isinstance(top["last"], float | int) else str(top["last"])
    if spec.window:
        text += f" (min {_fmt_opt(top['min'])}, max {_fmt_opt(top['max'])} over {spec.window}, trend {top['trend']})"
    if len(summaries) == 1:
        summary = f"{text}{' ' + _labels_text(top['labels']) if _labels_text(top['labels']) else ''}"
    else:
        summary = f"{len(summaries)} series; highest {_labels_text(top['labels'])}: {text}"
    return Result(spec.name, spec.type, True, one_line(summary), details)


def _json_number(value: float) -> float | str:
    """JSON has no NaN or infinity; Prometheus has both. Keep them readable."""
    return value if math.isfinite(value) else str(value)


def _fmt_opt(value: Any) -> str:
    return _fmt(value) if isinstance(value, float | int) else str(value)


# --- HTTP checks -------------------------------------------------------------------------


class ServicePortError(ValueError):
    """The Service has no such port."""


def service_port(service: Mapping[str, Any], wanted: int | str | None) -> tuple[str, int]:
    """The Service port to check, as (name, port): by number or name, else the first one."""
    ports = list((service.get("spec") or {}).get("ports") or [])
    name = (service.get("metadata") or {}).get("name", "?")
    if not ports:
        raise ServicePortError(f"Service {name} has no ports")
    for port in ports:
        if wanted is None or wanted in (port.get("name"), port.get("port")) or str(port.get("port")) == str(wanted):
            return str(port.get("name") or ""), int(port.get("port") or 0)
    listed = ", ".join(f"{p.get('name') or '-'}/{p.get('port')}" for p in ports)
    raise ServicePortError(f"Service {name} has no port {wanted!r} (it has {listed})")


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int
    target: str | None = None  # the pod (targetRef) the address belongs to

    @property
    def url_host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


@dataclass(frozen=True)
class EndpointPlan:
    probe: list[Endpoint]
    not_ready: int
    not_probed: int
    # Addresses never probed whatever the EndpointSlice says: not an IP (an FQDN resolves to
    # anything), loopback, link-local (cloud metadata), unspecified or multicast.
    refused: tuple[str, ...] = ()


def probe_forbidden(address: str) -> str | None:
    """Why onduty must not send a request to ``address`` from its own Pod, or None if it may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    for what, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
    ):
        if hit:
            return what
    mapped = getattr(ip, "ipv4_mapped", None)
    return probe_forbidden(str(mapped)) if mapped is not None else None


def endpoints_to_probe(
    slices: Iterable[Mapping[str, Any]], port_name: str, limit: int = MAX_HTTP_ENDPOINTS
) -> EndpointPlan:
    """Ready endpoint addresses of the Service's EndpointSlices on the port named like the Service port.

    ``ready`` unset means ready (discovery.k8s.io/v1); terminating endpoints are not ready.
    """
    ready: dict[tuple[str, int], Endpoint] = {}
    refused: dict[str, None] = {}
    not_ready = 0
    for eps in slices:
        port = next(
            (p.get("port") for p in eps.get("ports") or [] if str(p.get("name") or "") == port_name and p.get("port")),
            None,
        )
        if port is None:
            continue
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is False or conditions.get("terminating"):
                not_ready += len(endpoint.get("addresses") or [])
                continue
            target = (endpoint.get("targetRef") or {}).get("name")
            for address in endpoint.get("addresses") or []:
                why = probe_forbidden(str(address))
                if why is not None:
                    refused[f"{address} ({why})"] = None
                    continue
                ready[(address, int(port))] = Endpoint(address, int(port), target)
    ordered = [ready[k] for k in sorted(ready)]
    return EndpointPlan(ordered[:limit], not_ready, max(0, len(ordered) - limit), tuple(refused))


@dataclass(frozen=True)
class Probe:
    endpoint: Endpoint
    url: str
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    body: str | None = None  # the start of a failing answer's body

    @property
    def healthy(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


def http_check_result(spec: HttpCheck, port: tuple[str, int], plan: EndpointPlan, probes: Sequence[Probe]) -> Result:
    entries = []
    for probe in sorted(probes, key=lambda p: (p.healthy, p.url)):  # failures first
        entry: dict[str, Any] = {"url": probe.url}
        if probe.endpoint.target:
            entry["pod"] = probe.endpoint.target
        if probe.status is not None:
            entry["status"] = probe.status
        if probe.latency_ms is not None:
            entry["latencyMs"] = round(probe.latency_ms, 1)
        if probe.error:
            entry["error"] = one_line(probe.error, 300)
        if probe.body and not probe.healthy:
            entry["body"] = one_line(probe.body, 200)
        entries.append(entry)
    details: dict[str, Any] = {
        "service": spec.service,
        "port": port[1],
        "path": spec.path,
        "endpoints": entries,
        "notReady": plan.not_ready,
    }
    if plan.not_probed:
        details["notProbed"] = plan.not_probed
    if plan.refused:
        details["refused"] = list(plan.refused)
    if not probes:
        summary = f"Service {spec.service}: no ready endpoints"
        if plan.not_ready:
            summary += f" ({plan.not_ready} not ready)"
        return Result(spec.name, spec.type, True, summary, details)
    healthy = [p for p in probes if p.healthy]
    summary = f"Service {spec.service}: {len(healthy)}/{len(probes)} endpoints answer GET {spec.path} with 2xx/3xx"
    latencies = sorted(p.latency_ms for p in healthy if p.latency_ms is not None)
    if latencies:
        summary += f" (median {latencies[len(latencies) // 2]:.0f} ms)"
    bad = [p for p in probes if not p.healthy]
    if bad:
        summary += "; " + "; ".join(
            f"{p.endpoint.url_host}:{p.endpoint.port} {p.status if p.status is not None else p.error}" for p in bad[:3]
        )
    if plan.not_ready:
        summary += f"; {plan.not_ready} not ready"
    if plan.not_probed:
        summary += f"; {plan.not_probed} not probed"
    return Result(spec.name, spec.type, True, one_line(summary), details)


# --- the human summary -------------------------------------------------------------------


def _extra_logs(result: Result) -> list[str]:
    for stream in result.details.get("streams") or []:
        text = stream.get("text")
        if text:
            lines = [line for line in text.splitlines() if line.strip()][-5:]
            return ["    " + line[:200] for line in lines]
    return []


def _extra_link(result: Result) -> list[str]:
    link = result.details.get("link")
    return [f"  graph: {link}"] if link else []


def _no_extra(_: Result) -> list[str]:
    return []


_EXTRAS: dict[str, Callable[[Result], list[str]]] = {"podLogs": _extra_logs, "promql": _extra_link}


def render_summary(results: Sequence[Result], *, limit: int = RENDER_LIMIT) -> str:
    """A Markdown-ish digest of every result, for ``status.diagnosticsSummary`` and chat.

    One bullet per diagnostic (failures say so), the last log lines of the most
    interesting stream as a code block, the Prometheus graph link; within ``limit``
    characters, with a closing line saying how much was left out.
    """
    failures = [r for r in results if not r.ok]
    head = f"Diagnostics: {len(results) - len(failures)} of {len(results)} gathered"
    if failures:
        head += f", {len(failures)} failed ({', '.join(r.name for r in failures)})"
    lines = [head]
    for result in results:
        state = "" if result.ok else "FAILED "
        lines.append(f"- {state}`{result.name}` ({result.type}): {result.summary}")
        if result.ok:
            lines += _EXTRAS.get(result.type, _no_extra)(result)
        if result.truncated and result.note:
            lines.append(f"  (truncated: {result.note})")
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > limit - 80:
            break
        kept.append(line)
        used += len(line) + 1
    kept.append(f"… {len(lines) - len(kept)} more lines cut ({len(text) - used} characters); see status.diagnostics")
    return "\n".join(kept)


def conclusion(results: Sequence[Result]) -> tuple[str, str, Literal["Normal", "Warning"]]:
    """The timeline entry for a finished gathering: (reason, message, type)."""
    failures = [r for r in results if not r.ok]
    if results and len(failures) == len(results):
        first = failures[0]
        return (
            "DiagnosticsFailed",
            one_line(f"all {len(results)} diagnostics failed; {first.name}: {first.error or first.summary}", 1000),
            "Warning",
        )
    message = f"diagnostics gathered: {len(results) - len(failures)} of {len(results)} succeeded"
    if failures:
        message += "; failed: " + ", ".join(f"{r.name} ({one_line(r.error or r.summary, 120)})" for r in failures)
    return "DiagnosticsGathered", one_line(message, 1000), "Normal"
