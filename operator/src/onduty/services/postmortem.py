"""Keep the post-mortem draft of a resolved incident beside it, in a ConfigMap it owns.

Written once, when the incident has resolved and nothing about it is still
being sent (so the draft has the resolution's messages too); the incident's
``status.postmortem`` says where it is, and deleting the incident deletes it.
``onduty postmortem`` prints the same bytes from the incident itself, also for
an incident still open.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from onduty.adapters.kube import Cluster, Conflict, segment
from onduty.domain import postmortem, timeline
from onduty.services.diagnostics import Emit

log = logging.getLogger(__name__)


def write(cluster: Cluster, namespace: str, name: str, emit: Emit) -> str | None:
    """Write the draft of the incident if it is due; the ConfigMap's name, or None if it was not due."""
    incident = cluster.get("incidents", namespace, name)
    if not postmortem.due(incident):
        return None
    text = postmortem.render(incident)
    manifest = postmortem.configmap(incident, text)
    configmap: str = manifest["metadata"]["name"]
    path = f"/api/v1/namespaces/{segment(namespace)}/configmaps"
    problem = None
    try:
        cluster.request("POST", path, body=manifest)
    except Conflict:
        # An earlier try whose status write was lost wrote it, owned by this incident; anything else of that name
        # is somebody else's text, never presented as onduty's draft.
        existing = cluster.request("GET", f"{path}/{segment(configmap)}")
        owners = (existing.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("uid") == incident["metadata"]["uid"] for o in owners):
            problem = f"ConfigMap {configmap} already exists and is not this incident's: the draft was not written"
            log.warning("incident %s/%s: %s", namespace, name, problem)

    entry = (
        timeline.Entry(
            "PostmortemNotWritten", f"{problem}; onduty postmortem {name} -n {namespace} prints it", "Warning"
        )
        if problem
        else timeline.Entry(
            "PostmortemWritten",
            f"post-mortem draft in ConfigMap {configmap} (onduty postmortem {name} -n {namespace} prints it)",
        )
    )

    def note(status: dict[str, Any], _: dict[str, Any]) -> bool:
        if status.get("postmortem"):
            return False
        now = datetime.now(UTC)
        postmortem.record(status, configmap, text, now, problem=problem)
        timeline.append(status, entry, now)
        return True

    written, noted = cluster.update_status("incidents", namespace, name, note)
    if noted:
        emit(written, [entry])
    log.info("incident %s/%s: post-mortem draft written to ConfigMap %s", namespace, name, configmap)
    return configmap
