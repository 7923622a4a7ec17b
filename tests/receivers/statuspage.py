"""A Statuspage.io stand-in: the REST API v1 incident calls, checked against the documented contract.

``check`` refuses what Statuspage would (wrong path or method, no ``OAuth``
key, a body that is not ``{"incident": {...}}``, a status or component
status outside the enums). :class:`StatuspageFake` answers like Statuspage:
201 with the new incident (a fresh 12-character id), 200 on an update of a
known incident, 404 for an unknown one, and keeps each incident's updates.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from receivers import Answer, ContractViolation, Received

INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved"}
COMPONENT_STATUSES = {"operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"}
IMPACTS = {"none", "maintenance", "minor", "major", "critical"}
FIELDS = {
    "name",
    "status",
    "body",
    "impact_override",
    "component_ids",
    "components",
    "deliver_notifications",
    "scheduled_for",
    "scheduled_until",
    "metadata",
}
_CREATE = re.compile(r"^/v1/pages/(?P<page>[a-z0-9]+)/incidents$")
_UPDATE = re.compile(r"^/v1/pages/(?P<page>[a-z0-9]+)/incidents/(?P<incident>[a-z0-9]+)$")


def check(got: Received, *, api_key: str | None = None) -> None:
    """Raise :class:`ContractViolation` when ``got`` breaks Statuspage's incident API contract."""
    auth = got.headers.get("authorization", "")
    if not auth.startswith("OAuth ") or not auth.removeprefix("OAuth ").strip():
        raise ContractViolation(f"Authorization must be 'OAuth <key>', got {auth[:12]!r}")
    if api_key is not None and auth != f"OAuth {api_key}":
        raise ContractViolation("Authorization carries the wrong API key")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation(f"Content-Type must be application/json, got {got.headers.get('content-type')!r}")
    if got.method == "POST" and _CREATE.match(got.path):
        creating = True
    elif got.method == "PATCH" and _UPDATE.match(got.path):
        creating = False
    else:
        raise ContractViolation(f"no such Statuspage call: {got.method} {got.path}")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation(f"body is not JSON: {e}") from e
    incident = body.get("incident") if isinstance(body, dict) else None
    if not isinstance(incident, dict) or set(body) != {"incident"}:
        raise ContractViolation('body must be {"incident": {...}}')
    unknown = set(incident) - FIELDS
    if unknown:
        raise ContractViolation(f"unknown incident fields: {sorted(unknown)}")
    if creating and (not isinstance(incident.get("name"), str) or not incident["name"].strip()):
        raise ContractViolation("a new incident needs a name")
    if creating and "status" not in incident:
        raise ContractViolation("a new incident needs a status")
    if "status" in incident and incident["status"] not in INCIDENT_STATUSES:
        raise ContractViolation(f"status {incident['status']!r} is not one of {sorted(INCIDENT_STATUSES)}")
    if "body" in incident and not isinstance(incident["body"], str):
        raise ContractViolation("body must be a string")
    if "impact_override" in incident and incident["impact_override"] not in IMPACTS:
        raise ContractViolation(f"impact_override {incident['impact_override']!r} is not one of {sorted(IMPACTS)}")
    ids = incident.get("component_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ContractViolation("component_ids must be a list of component ids")
    components = incident.get("components", {})
    if not isinstance(components, dict):
        raise ContractViolation("components must map component ids to statuses")
    for component, status in components.items():
        if status not in COMPONENT_STATUSES:
            raise ContractViolation(
                f"component {component} status {status!r} is not one of {sorted(COMPONENT_STATUSES)}"
            )
    if "deliver_notifications" in incident and not isinstance(incident["deliver_notifications"], bool):
        raise ContractViolation("deliver_notifications must be a boolean")


def incident_json(
    incident_id: str, status: str = "investigating", name: str = "Degraded performance"
) -> dict[str, Any]:
    """An incident as Statuspage returns it (the fields a client reads)."""
    return {
        "id": incident_id,
        "name": name,
        "status": status,
        "impact": "minor",
        "shortlink": f"https://stspg.io/{incident_id[:5]}",
        "page_id": "kctbh9vrtdwd",
        "incident_updates": [],
        "components": [],
    }


def created(incident_id: str = "p31zjtct2jer") -> Answer:
    """201 with the new incident, as ``POST /pages/{page}/incidents`` answers."""
    return Answer(201, incident_json(incident_id))


def rate_limited(status: int = 420, retry_after: int = 60) -> Answer:
    """The over-limit answer: 420 (kept for old integrations) or 429, both with ``Retry-After``."""
    return Answer(status, {"error": "Rate limit exceeded"}, {"Retry-After": str(retry_after)})


@dataclass
class StatuspageFake:
    """Answers like Statuspage and remembers every incident and the statuses it went through."""

    incidents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def respond(self, got: Received) -> Answer:
        incident = got.json()["incident"]
        update = _UPDATE.match(got.path)
        if update is None:
            incident_id = f"inc{next(self._ids):09d}"
            self.incidents[incident_id] = [incident]
            return Answer(201, incident_json(incident_id, incident["status"], incident["name"]))
        incident_id = update["incident"]
        if incident_id not in self.incidents:
            return Answer(404, {"error": "Record not found"})
        self.incidents[incident_id].append(incident)
        return Answer(200, incident_json(incident_id, incident.get("status", "investigating")))

    def statuses(self, incident_id: str) -> list[str]:
        return [i.get("status", "") for i in self.incidents[incident_id]]
