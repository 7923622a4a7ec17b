"""The human digest of a gathering: the Markdown summary and the timeline entry.

``status.diagnosticsSummary`` is what a responder (or a chat integration)
reads first; :func:`conclusion` is the one timeline entry (and Event) a
gathering leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from onduty.domain.diagnostics.results import Result, one_line

# The human summary goes to chat later: Slack truncates messages well above
# this, but a responder's phone screen does not show more.
RENDER_LIMIT = 8192


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
