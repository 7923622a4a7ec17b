"""Timeline entries become Kubernetes Events, so ``kubectl describe`` reads as the timeline.

The Events are onduty's own (``events.k8s.io/v1``, from ``onduty.dev/operator``,
time-stamped to the microsecond so entries of one second keep their order):
see :mod:`onduty.adapters.recorder`.

Every entry is also a line of the operator's log, naming the object
(``Incident shop/web-down: RemediationApplied: …``): each action started,
applied, verified or skipped, each refusal, at INFO (Normal) or WARNING
(Warning), so the log alone tells what onduty did.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from onduty.domain import timeline
from onduty.domain.timeline import Entry
from onduty.handlers.runtime import Runtime
from onduty.services.diagnostics import Emit

log = logging.getLogger("onduty.timeline")


def _log(obj: Mapping[str, Any], entries: Sequence[Entry]) -> None:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    for entry in entries:
        level = logging.WARNING if entry.type == "Warning" else logging.INFO
        log.log(level, "%s %s: %s: %s", obj.get("kind") or "object", where, entry.reason, entry.message)


def post(runtime: Runtime, obj: dict[str, Any], entries: Sequence[Entry]) -> None:
    """Log each entry and queue one Event per entry on ``obj`` (posted in the background, in order)."""
    _log(obj, entries)
    runtime.events.record(obj, entries)


def post_merged(runtime: Runtime, obj: dict[str, Any], entries: Sequence[Entry], *, merge: frozenset[str]) -> None:
    """:func:`post`, with the entries of each reason in ``merge`` as one Event (:func:`timeline.merged`):
    a storm's hundred alerts joining in one write are one Event, not a hundred. The log keeps every entry."""
    _log(obj, entries)
    runtime.events.record(obj, timeline.merged(entries, merge))


def poster(runtime: Runtime) -> Emit:
    """``post`` bound to ``runtime``: what services take as their ``emit``."""

    def emit(obj: dict[str, Any], entries: Sequence[Entry]) -> None:
        post(runtime, obj, entries)

    return emit
