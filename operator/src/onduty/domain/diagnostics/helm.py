"""The ``helmHistory`` diagnostic: a Helm release's revisions, as ``helm history`` shows them.

Which release a workload belongs to is read from what Helm itself writes on
it; the revisions come from Helm's release records, reduced to what ``helm
history`` shows — never the values or the rendered manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from onduty.domain.diagnostics.results import Result, one_line
from onduty.domain.diagnostics.specs import HelmHistory
from onduty.domain.times import ago

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
