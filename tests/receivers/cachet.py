"""A Cachet 2.x stand-in: incidents, incident updates and components, checked against the API contract.

``check`` refuses what Cachet would: no ``X-Cachet-Token``, an unknown
call, a missing name or message, statuses outside 0-4 (incidents) or 1-4
(components), ``component_status`` without ``component_id``.
:class:`CachetFake` answers like Cachet (``{"data": {...}}``) and keeps
each incident's statuses and each component's status.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from receivers import Answer, ContractViolation, Received

INCIDENT_STATUSES = {0, 1, 2, 3, 4}
COMPONENT_STATUSES = {1, 2, 3, 4}
_CREATE = "/api/v1/incidents"
_UPDATE = re.compile(r"^/api/v1/incidents/(?P<incident>[0-9]+)/updates$")
_COMPONENT = re.compile(r"^/api/v1/components/(?P<component>[0-9]+)$")
_BOOLEANS = (True, False, 0, 1)


def check(got: Received, *, token: str | None = None) -> None:
    """Raise :class:`ContractViolation` when ``got`` breaks Cachet's API contract."""
    sent_token = got.headers.get("x-cachet-token", "")
    if not sent_token:
        raise ContractViolation("X-Cachet-Token is missing")
    if token is not None and sent_token != token:
        raise ContractViolation("X-Cachet-Token is the wrong token")
    if not got.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation(f"Content-Type must be application/json, got {got.headers.get('content-type')!r}")
    try:
        body = got.json()
    except ValueError as e:
        raise ContractViolation(f"body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise ContractViolation("body must be a JSON object")
    if got.method == "POST" and got.path == _CREATE:
        for name in ("name", "message"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                raise ContractViolation(f"a new incident needs a {name}")
        _status(body, "status", INCIDENT_STATUSES, required=True)
        for name in ("visible", "notify"):
            if name in body and body[name] not in _BOOLEANS:
                raise ContractViolation(f"{name} must be a boolean")
        if "component_status" in body and "component_id" not in body:
            raise ContractViolation("component_status needs a component_id")
        if "component_id" in body:
            if isinstance(body["component_id"], bool) or not isinstance(body["component_id"], int):
                raise ContractViolation("component_id must be an integer")
            _status(body, "component_status", COMPONENT_STATUSES, required=True)
    elif got.method == "POST" and _UPDATE.match(got.path):
        _status(body, "status", INCIDENT_STATUSES - {0}, required=True)
        if not isinstance(body.get("message"), str) or not body["message"].strip():
            raise ContractViolation("an incident update needs a message")
    elif got.method == "PUT" and _COMPONENT.match(got.path):
        _status(body, "status", COMPONENT_STATUSES, required=True)
    else:
        raise ContractViolation(f"no such Cachet call: {got.method} {got.path}")


def _status(body: dict[str, Any], name: str, allowed: set[int], *, required: bool) -> None:
    if name not in body:
        if required:
            raise ContractViolation(f"{name} is required")
        return
    value = body[name]
    if isinstance(value, bool) or value not in allowed:
        raise ContractViolation(f"{name} {value!r} is not one of {sorted(allowed)}")


def created(incident_id: int = 42) -> Answer:
    """What ``POST /api/v1/incidents`` answers: the incident under ``data``."""
    return Answer(200, {"data": {"id": incident_id, "name": "Degraded performance", "status": 1, "visible": 1}})


@dataclass
class CachetFake:
    """Answers like Cachet and keeps incidents' statuses and components' statuses."""

    incidents: dict[int, list[int]] = field(default_factory=dict)
    components: dict[int, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def respond(self, got: Received) -> Answer:
        body = got.json()
        if got.path == _CREATE:
            incident_id = next(self._ids)
            self.incidents[incident_id] = [body["status"]]
            if "component_id" in body:
                self.components[body["component_id"]] = body["component_status"]
            return Answer(200, {"data": {"id": incident_id, "name": body["name"], "status": body["status"]}})
        update = _UPDATE.match(got.path)
        if update is not None:
            incident_id = int(update["incident"])
            if incident_id not in self.incidents:
                return Answer(404, {"errors": [{"status": 404, "title": "Not Found", "detail": "Incident not found."}]})
            self.incidents[incident_id].append(body["status"])
            return Answer(200, {"data": {"id": 900 + len(self.incidents[incident_id]), "incident_id": incident_id}})
        component = _COMPONENT.match(got.path)
        assert component is not None
        self.components[int(component["component"])] = body["status"]
        return Answer(200, {"data": {"id": int(component["component"]), "status": body["status"]}})
