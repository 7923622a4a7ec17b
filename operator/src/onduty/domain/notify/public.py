"""What a public status page may say about an incident, and how.

A status page is read by customers, not by the on-call engineer, so it says
the least of every channel: a name and a body written from the incident's
title and severity, never a namespace, workload, command, label value or
diagnostic. Those details can name customers, leak the architecture to
anyone reading the page, or show an attacker where it hurts, and none of them
helps a customer decide what to do. The page also claims no more than onduty
knows, so the wording is a handful of careful sentences chosen by public
status and impact, never free text from an alert.

These rules are shared by every status-page channel (Statuspage and Cachet):
:func:`public_status` says where the incident is, :func:`public_name` names it
without anything internal, :func:`public_body` writes the timeline entry.
Impacts are named as Statuspage's component statuses (``major_outage``,
``partial_outage``, ``degraded_performance``, ``operational``); Cachet maps its
numbers to these names.
"""

from __future__ import annotations

import re

from onduty.domain.notify.channel import Kind, Notice
from onduty.domain.notify.view import IncidentView
from onduty.domain.severity import LEVELS

# Where an incident can be on a public page, in the order it moves through them.
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
# Status pages show long names truncated anyway; this keeps a runaway title off the page.
NAME_CHARS = 120

_IMPACT_PHRASE = {
    "major_outage": "a major outage",
    "partial_outage": "a partial outage",
    "degraded_performance": "degraded performance",
}
_BODY = {
    "investigating": "We are investigating {impact}. We will post an update as soon as we know more.",
    "identified": "We have identified the cause of {impact} and are working on a fix.",
    "monitoring": "A fix has been applied and we are monitoring the results.",
    "resolved": "This incident has been resolved. Thank you for your patience.",
}
_GENERIC_NAME = {
    "major_outage": "Major service outage",
    "partial_outage": "Partial service outage",
    "degraded_performance": "Degraded performance",
}
# A word that looks like an address, a path, a selector or a template is internal.
_INTERNAL_WORD = re.compile(r"[/:=@{}<>`$\\|#_]|\w\.\w|\d+\.\d+\.\d+")
_WORD_EDGE = ".,;!?()[]\"'"
# What a title is left ending with once "... on shop/checkout" is gone.
_DANGLING = frozenset({"on", "in", "at", "for", "of", "to", "from", "-", "\u2013"})


def public_status(notice: Notice, view: IncidentView) -> str:
    """Where the incident is, as a status page says it (one of :data:`INCIDENT_STATUSES`)."""
    if notice.kind is Kind.RESOLVED or view.phase == "Resolved":
        return "resolved"
    if view.phase == "Mitigated" or any(a.state == "Succeeded" for a in view.actions):
        return "monitoring"
    # An action exists only where a runbook matched; diagnostics say something was found.
    if view.actions or view.diagnostics or view.phase == "Remediating":
        return "identified"
    return "investigating"


def public_name(view: IncidentView, component_status: str, override: str = "") -> str:
    """The incident's public name: ``override``, else the title without anything internal in it.

    Alert titles are written for engineers ("High error rate on shop/checkout");
    every word naming a namespace, workload, the incident, a label value, a
    path or an address goes. When fewer than two words are left, a generic
    name by impact is safer than a fragment.
    """
    if override:
        return override[:NAME_CHARS]
    internal = {v.lower() for v in _internal_values(view) if len(v) >= 3}
    kept = []
    for word in view.title.split():
        bare = word.strip(_WORD_EDGE)
        lowered = bare.lower()
        if not bare or _INTERNAL_WORD.search(bare) or any(value in lowered for value in internal):
            continue
        kept.append(word)
    while kept and kept[-1].lower().strip(_WORD_EDGE) in _DANGLING:
        kept.pop()
    name = " ".join(kept).strip(" -\u2013:,;")
    if len(name.split()) < 2:
        return _GENERIC_NAME.get(component_status, "Service disruption")
    return name[:NAME_CHARS]


def public_body(status: str, component_status: str) -> str:
    """One careful sentence or two for the public timeline, by status and impact."""
    return _BODY[status].format(impact=_IMPACT_PHRASE.get(component_status, "an issue affecting our service"))


def _internal_values(view: IncidentView) -> list[str]:
    values = [view.namespace, view.name, view.uid, view.alertname, *view.labels.values()]
    if view.workload:
        values.extend(view.workload.split("/"))
    values.extend(a.target.split("/")[-1] for a in view.actions if a.target)
    return [v for v in values if v and v.lower() not in LEVELS]
