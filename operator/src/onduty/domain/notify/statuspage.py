"""Statuspage.io: the public face of an incident, told without its internals.

A status page is read by customers, not by the on-call engineer, so this
channel says the least of all: a name and a body written from the incident's
title and severity, never a namespace, workload, command, label value or
diagnostic (those can name customers, leak architecture, or invite abuse).
It acts only on incidents the escalation policy marks public
(:attr:`IncidentView.public`).

The public status follows ours, one way per notice::

    first public notice         POST  /pages/{page}/incidents        investigating
    a runbook matched, or       PATCH /pages/{page}/incidents/{id}   identified
      diagnostics found something
    mitigated, or an action     PATCH ...                            monitoring
      was verified
    RESOLVED                    PATCH ... (components operational)   resolved

Every PATCH adds an entry to the public timeline, so a notice that does not
change the public status (a page, an acknowledgement) sends nothing. What is
remembered: the incident id (``statuspageIncidentId``) and the last status
sent (``statuspageStatus``). Over-limit answers are 420 (the old code, still
sent to integrations built on it) or 429, both with ``Retry-After``.

The wording (:func:`~onduty.domain.notify.public.public_status`,
:func:`~onduty.domain.notify.public.public_name`,
:func:`~onduty.domain.notify.public.public_body`) is the public-page rules of
:mod:`onduty.domain.notify.public`, which Cachet follows too.
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

KIND = "statuspage"
DEFAULT_URL = "https://api.statuspage.io/v1"
INCIDENT_REF = "statuspageIncidentId"
STATUS_REF = "statuspageStatus"

COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
IMPACTS = ("none", "maintenance", "minor", "major", "critical")

# The page should claim no more than onduty knows: only a critical alert is a
# major outage; an error-level one usually fails some requests (a partial
# outage); a warning is an early sign (degraded performance); an info-level
# incident leaves the component as it is.
DEFAULT_COMPONENT_STATUS_BY_SEVERITY: Mapping[str, str] = {
    "critical": "major_outage",
    "error": "partial_outage",
    "warning": "degraded_performance",
    "info": "operational",
}
# The incident's colour on the page, by the same reasoning.
IMPACT_BY_SEVERITY: Mapping[str, str] = {"critical": "critical", "error": "major", "warning": "minor", "info": "none"}

# Ids that go into URL paths: Statuspage's are 12 lower-case alphanumerics;
# this admits any id-shaped token and nothing that could change the path.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Over its limit Statuspage still answers 420 (the code integrations were built on) as well as 429.
LIMIT_STATUSES = (420, 429)
WORDING = Wording(
    limited="Statuspage is rate limiting ({status}).",
    failing="Statuspage failed ({status}){said}.",
    refused="Statuspage refused the request ({status}){said}.",
)


class StatuspageChannel:
    """Statuspage.io's REST API v1: one public incident per onduty incident."""

    kind = KIND

    def __init__(self, settings: Mapping[str, Any], credentials: Credentials) -> None:
        self._url = base_url(settings.get("url"), kind=KIND, default=DEFAULT_URL)
        self._page = _path_id(settings.get("pageId"), "pageId")
        component_ids = settings.get("componentIds") or []
        if not isinstance(component_ids, list | tuple):
            raise InvalidConfig(
                f"statuspage setting componentIds must be a list of component ids, not {shown(component_ids)}."
            )
        self._components = tuple(_path_id(c, "componentIds") for c in component_ids)
        self._component_status = _component_statuses(settings.get("componentStatusBySeverity"))
        deliver = settings.get("deliverNotifications", True)
        if not isinstance(deliver, bool):
            raise InvalidConfig(f"statuspage setting deliverNotifications must be true or false, not {shown(deliver)}.")
        self._deliver = deliver
        name = settings.get("incidentName") or ""
        if not isinstance(name, str):
            raise InvalidConfig(f"statuspage setting incidentName must be a string, not {shown(name)}.")
        self._name = name
        self._key = credentials.get("apiKey")

    def __repr__(self) -> str:
        return f"StatuspageChannel(page={self._page!r}, url={self._url!r})"

    def requests(self, notice: Notice, view: IncidentView, refs: Mapping[str, str], index: int) -> list[Request]:
        return self._plan(notice, view, refs)[index:]

    def _plan(self, notice: Notice, view: IncidentView, refs: Mapping[str, str]) -> list[Request]:
        status = public_status(notice, view)
        incident_id = refs.get(INCIDENT_REF, "")
        if not incident_id:
            # Opening a public incident only to resolve it would tell customers
            # about something that is already over.
            if not view.public or status == "resolved":
                return []
            return [self._create(view, status)]
        # Once an incident is on the page it is followed to the end, even if the
        # policy stops calling it public: an outage left open there is worse.
        if status == refs.get(STATUS_REF) or not ID_PATTERN.match(incident_id):
            return []
        return [self._update(view, incident_id, status)]

    def _create(self, view: IncidentView, status: str) -> Request:
        impact = self._impact(view)
        incident = {
            "name": public_name(view, impact, self._name),
            "status": status,
            "body": public_body(status, impact),
            "impact_override": IMPACT_BY_SEVERITY.get(view.severity, "minor"),
            "component_ids": list(self._components),
            "components": dict.fromkeys(self._components, impact),
            "deliver_notifications": self._deliver,
        }
        return self._request("POST", f"/pages/{quote(self._page, safe='')}/incidents", incident)

    def _update(self, view: IncidentView, incident_id: str, status: str) -> Request:
        impact = self._impact(view)
        component_status = "operational" if status == "resolved" else impact
        incident = {
            "status": status,
            "body": public_body(status, impact),
            "component_ids": list(self._components),
            "components": dict.fromkeys(self._components, component_status),
            "deliver_notifications": self._deliver,
        }
        path = f"/pages/{quote(self._page, safe='')}/incidents/{quote(incident_id, safe='')}"
        return self._request("PATCH", path, incident)

    def _impact(self, view: IncidentView) -> str:
        return self._component_status.get(view.severity, self._component_status["warning"])

    def _request(self, method: str, path: str, incident: Mapping[str, Any]) -> Request:
        return Request(
            method=method,
            url=self._url + path,
            headers={
                "Authorization": f"OAuth {self._key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            json={"incident": incident},
            secret_values=(self._key,),
        )

    def verdict(self, request: Request, reply: Reply) -> Verdict:
        said = redact(_vendor_message(reply.body), request.secret_values)
        return classify(reply, WORDING, lambda: _delivered(request, reply), said=said, limit_statuses=LIMIT_STATUSES)


def _delivered(request: Request, reply: Reply) -> Verdict:
    """A 2xx to a create or an update: the status now public, and a new incident's id to remember."""
    sent = (request.json or {}).get("incident") or {}
    status = str(sent.get("status", ""))
    if request.method != "POST":
        return Verdict(Outcome.DELIVERED, f"Statuspage incident is now {status}.", refs={STATUS_REF: status})
    incident_id = json_object(reply.body).get("id")
    if not isinstance(incident_id, str) or not ID_PATTERN.match(incident_id):
        # Retrying would open a second public incident; a human has to look.
        return Verdict(
            Outcome.FAILED,
            f"Statuspage answered {reply.status} without a usable incident id ({shown(incident_id)}).",
        )
    return Verdict(
        Outcome.DELIVERED,
        f"Statuspage incident {incident_id} opened as {status}.",
        refs={INCIDENT_REF: incident_id, STATUS_REF: status},
    )


def _component_statuses(value: object) -> Mapping[str, str]:
    if value is None:
        return DEFAULT_COMPONENT_STATUS_BY_SEVERITY
    if not isinstance(value, Mapping):
        raise InvalidConfig(
            "statuspage setting componentStatusBySeverity must map severities to component statuses, "
            f"not {shown(value)}."
        )
    merged = dict(DEFAULT_COMPONENT_STATUS_BY_SEVERITY)
    for severity, status in value.items():
        if severity not in LEVELS:
            raise InvalidConfig(
                f"statuspage setting componentStatusBySeverity has {shown(severity)}, "
                f"which is not one of {', '.join(LEVELS)}."
            )
        if status not in COMPONENT_STATUSES:
            raise InvalidConfig(
                f"statuspage setting componentStatusBySeverity.{severity} is {shown(status)}, "
                f"which is not one of {', '.join(COMPONENT_STATUSES)}."
            )
        merged[severity] = status
    return merged


def _path_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidConfig(
            f"statuspage setting {field} must be a Statuspage id (letters, digits, '-' or '_', at most 64), "
            f"not {shown(value)}."
        )
    return value


def _vendor_message(body: bytes) -> str:
    """What the vendor said, as ': <text>' on one line, or '' when it said nothing usable."""
    data = json_object(body)
    said: Any = data.get("error") or data.get("message") or data.get("errors")
    if isinstance(said, list):
        said = "; ".join(str(s) for s in said)
    if not isinstance(said, str) or not said.strip():
        return ""
    return ": " + " ".join(said.split())[:200]
