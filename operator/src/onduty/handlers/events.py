"""Timeline entries become Kubernetes Events, so ``kubectl describe`` reads as the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import kopf

from onduty.domain.timeline import Entry


def post(obj: dict[str, Any], entries: Sequence[Entry]) -> None:
    """Queue one Event per entry on ``obj`` (Kopf posts them asynchronously)."""
    if not entries:
        return
    ref = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid") if k in obj["metadata"]},
    }
    for entry in entries:
        kopf.event(
            kopf.Body(cast(kopf.RawBody, ref)), type=entry.type, reason=entry.reason, message=entry.message[:1024]
        )
