"""The ``podLogs`` diagnostic: which log streams to read, and what they say.

For a crash loop the reason is in the last lines of the previous container
instance; these decide which streams of which pods are read
(:func:`log_requests`) and keep the newest lines of each within the result's
share (:func:`pod_logs_result`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from onduty.domain.diagnostics.pods import container_statuses, rank_pods
from onduty.domain.diagnostics.results import RESULT_LIMIT, Result, counted, cut_text, failed, one_line
from onduty.domain.diagnostics.specs import MAX_LOG_STREAMS, PodLogs

# Each stream is fetched with the API server's limitBytes: 500 lines (the
# maximum tailLines) of 128 bytes; the result bound then cuts it further.
LOG_FETCH_BYTES = 64 * 1024


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
        statuses = {c.get("name"): c for c in container_statuses(pod)}
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
    summary = f"{len(read)} of {counted(len(streams), 'log stream')} read, {counted(total_lines, 'line')}"
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
