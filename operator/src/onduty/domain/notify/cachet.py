"""Cachet: the self-hosted status page, told the way Statuspage is told.

The same public rules as Statuspage (:mod:`onduty.domain.notify.public`: public
incidents only; a name and body without internals; investigating →
identified → watching → fixed following ours), on Cachet's v1 API of Cachet
2.x, authenticated with ``X-Cachet-Token``::

    first public notice      POST /api/v1/incidents               status 1, component_status by severity
    the public status moves  POST /api/v1/incidents/{id}/updates  status 2 or 3
    RESOLVED                 POST /api/v1/incidents/{id}/updates  status 4
                             PUT  /api/v1/components/{component}  status 1 (operational)

Creating the incident sets the component's status in the same call; an
incident update does not touch the component, hence the explicit PUT at the
end. Remembered: the incident id from ``data.id`` (``cachetIncidentId``) and
the last public status sent (``cachetStatus``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from onduty.domain.notify.channel import Credentials, InvalidConfig, Notice, Outcome, Reply, Request, Verdict, redact
from onduty.domain.notify.http import Wording, base_url, classify, json_object
from onduty.domain.notify.public import public_body, public_name, public_status
from onduty.domain.notify.view import IncidentView
from onduty.domain.severity import LEVELS
from onduty.domain.specs import shown

KIND = "cachet"
INCIDENT_REF = "cachetIncidentId"
STATUS_REF = "cachetStatus"
API_PATH = "/api/v1"

# Cachet's incident status numbers (0 is Scheduled, for maintenance, never ours).
INCIDENT_STATUS = {"investigating": 1, "identified": 2, "monitoring": 3, "resolved": 4}
# Cachet's component status numbers, and their Statuspage names for the public wording.
OPERATIONAL = 1
COMPONENT_STATUS_NAMES = {1: "operational", 2: "degraded_performance", 3: "partial_outage", 4: "major_outage"}
# As on Statuspage: claim no more than onduty knows. Only critical is a major
# outage (4); error a partial outage (3); a warning performance issues (2);
# info leaves the component operational (1).
DEFAULT_COMPONENT_STATUS_BY_SEVERITY: Mapping[str, int] = {"critical": 4, "error": 3, "warning": 2, "info": 1}

# Cachet's ids are auto-increment integers; anything else never reaches a path.
ID_PATTERN = re.compile(r"^[0-9]{1,18}$")
_STATUS_NAMES = {number: name for name, number in INCIDENT_STATUS.items()}
WORDING = Wording.api("Cachet")


class CachetChannel:
    """Cachet 2.x's API: one public incident per onduty incident, and one component."""

    kind = KIND

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = base_url(settings.get("url"), kind=KIND) + API_PATH
        component = settings.get("componentId")
        if component is not None and (isinstance(component, bool) or not ID_PATTERN.match(str(component))):
            raise InvalidConfig(
                f"cachet setting componentId must be a Cachet component id (digits), not {shown(component)}."
            )
        self._component = int(component) if component is not None else None
        self._component_status = _component_statuses(settings.get("componentStatusBySeverity"))
        for field, default in (("notify", True), ("visible", True)):
            if not isinstance(settings.get(field, default), bool):
                raise InvalidConfig(f"cachet setting {field} must be true or false, not {shown(settings.get(field))}.")
        self._notify: bool = settings.get("notify", True)
        self._visible: bool = settings.get("visible", True)
        name = settings.get("incidentName") or ""
        if not isinstance(name, str):
            raise InvalidConfig(f"cachet setting incidentName must be a string, not {shown(name)}.")
        self._name = name
        self._token = credentials.get("apiToken")

    def __repr__(self) -> str:
        return f"CachetChannel(url={self._url!r}, component={self._component!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        return self._plan(notice, view, refs, index)[index:]

    def _plan(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        status = public_status(notice, view)
        impact = self._component_status.get(view.severity, self._component_status["warning"])
        incident_id = refs.get(INCIDENT_REF, "")
        if not incident_id:
            # As on Statuspage: nothing for private incidents, and never open one that is already over.
            if not view.public or status == "resolved":
                return []
            return [self._create(view, status, impact)]
        # Followed to the end once it is on the page (see statuspage). Whether the
        # status moved is decided before the first step: the update's own verdict
        # records the new status, and the component step after it must still run.
        if (index == 0 and status == refs.get(STATUS_REF)) or not ID_PATTERN.match(incident_id):
            return []
        steps = [
            self._request(
                "POST",
                f"/incidents/{quote(incident_id, safe='')}/updates",
                {"status": INCIDENT_STATUS[status], "message": public_body(status, COMPONENT_STATUS_NAMES[impact])},
            )
        ]
        if status == "resolved" and self._component is not None:
            steps.append(self._request("PUT", f"/components/{self._component}", {"status": OPERATIONAL}))
        return steps

    def _create(self, view: IncidentView, status: str, impact: int) -> Request:
        incident: dict[str, Any] = {
            "name": public_name(view, COMPONENT_STATUS_NAMES[impact], self._name),
            "message": public_body(status, COMPONENT_STATUS_NAMES[impact]),
            "status": INCIDENT_STATUS[status],
            "visible": self._visible,
            "notify": self._notify,
        }
        if self._component is not None:
            incident["component_id"] = self._component
            incident["component_status"] = impact
        return self._request("POST", "/incidents", incident)

    def _request(self, method: str, path: str, body: Mapping[str, Any]) -> Request:
        return Request(
            method=method,
            url=self._url + path,
            headers={"X-Cachet-Token": self._token, "Content-Type": "application/json", "Accept": "application/json"},
            json=dict(body),
            secret_values=(self._token,),
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        said = redact(_cachet_message(reply.body), request.secret_values)
        return classify(reply, WORDING, lambda: _delivered(request, reply), said=said)


def _delivered(request: Request, reply: Reply) -> Verdict:
    """A 2xx to one of the steps: what it did, and what to remember of it."""
    if request.method == "PUT":
        return Verdict(Outcome.DELIVERED, "Cachet component is operational again.")
    sent = request.json if isinstance(request.json, Mapping) else {}
    number = sent.get("status")
    status = _STATUS_NAMES.get(number, "") if isinstance(number, int) else ""
    if not request.url.endswith("/incidents"):
        return Verdict(Outcome.DELIVERED, f"Cachet incident is now {status}.", refs={STATUS_REF: status})
    found = json_object(reply.body).get("data")
    raw_id = found.get("id") if isinstance(found, dict) else None
    incident_id = str(raw_id) if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else ""
    if not ID_PATTERN.match(incident_id):
        # Retrying would open a second public incident; a human has to look.
        return Verdict(
            Outcome.FAILED, f"Cachet answered {reply.status} without a usable incident id ({shown(raw_id)})."
        )
    return Verdict(
        Outcome.DELIVERED,
        f"Cachet incident {incident_id} opened as {status}.",
        refs={INCIDENT_REF: incident_id, STATUS_REF: status},
    )


def _component_statuses(value: object) -> Mapping[str, int]:
    if value is None:
        return DEFAULT_COMPONENT_STATUS_BY_SEVERITY
    if not isinstance(value, Mapping):
        raise InvalidConfig(
            "cachet setting componentStatusBySeverity must map severities to component statuses 1-4, "
            f"not {shown(value)}."
        )
    merged = dict(DEFAULT_COMPONENT_STATUS_BY_SEVERITY)
    for severity, status in value.items():
        if severity not in LEVELS:
            raise InvalidConfig(
                f"cachet setting componentStatusBySeverity has {shown(severity)}, "
                f"which is not one of {', '.join(LEVELS)}."
            )
        if isinstance(status, bool) or status not in COMPONENT_STATUS_NAMES:
            raise InvalidConfig(
                f"cachet setting componentStatusBySeverity.{severity} is {shown(status)}, "
                "which is not a component status "
                "(1 operational, 2 performance issues, 3 partial outage, 4 major outage)."
            )
        merged[severity] = status
    return merged


def _cachet_message(body: bytes) -> str:
    """Cachet's JSON:API-style ``errors[].meta.details`` (or ``detail``), as ': <text>', or ''."""
    errors = json_object(body).get("errors")
    said: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        meta = error.get("meta")
        details = meta.get("details") if isinstance(meta, dict) else None
        if isinstance(details, list) and details:
            said.extend(str(d) for d in details)
        elif error.get("detail") or error.get("title"):
            said.append(str(error.get("detail") or error.get("title")))
    text = " ".join("; ".join(said).split())
    return f": {text[:200]}" if text else ""
