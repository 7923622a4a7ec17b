"""Manifests as ``onduty lint`` reads them: every document of a file, judged as the API server would.

A GitOps directory holds onduty's objects next to everything else, so a
document is one of three things:

* an object of a kind onduty owns (``onduty.dev``): checked with the model the
  operator reads it with, which says what the CRD says (:data:`CHECKS`);
* an object of another API group (a Deployment, a ConfigMap): skipped, not a
  failure;
* a mistake the API server would refuse before any schema is read: no
  ``apiVersion`` or ``kind``, a kind ``onduty.dev`` does not have (``RunBook``),
  an onduty kind under another version.

A ``List`` (``kind: List`` or ``<Kind>List``) is read item by item, as kubectl
applies it. Each answer is a :class:`Finding`; the command prints it as one line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from onduty.domain.escalation import parse_policy as parse_escalation_policy
from onduty.domain.notify.notifiers import parse_notifier
from onduty.domain.oncall import parse_oncall_schedule
from onduty.domain.policies import parse_policy
from onduty.domain.runbooks import parse_runbook
from onduty.domain.specs import DNS_SUBDOMAIN

GROUP = "onduty.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


def _required(*fields: str) -> Callable[[Mapping[str, Any]], object]:
    """A check of the spec fields a kind's CRD requires, for kinds onduty writes itself (Alert, Incident)."""

    def check(spec: Mapping[str, Any]) -> object:
        missing = [f"spec.{field}: required" for field in fields if spec.get(field) is None]
        if missing:
            raise ValueError("; ".join(missing))
        return spec

    return check


# Every kind onduty owns, and how its spec is checked: the operator's own models for what people write;
# for what onduty writes (Alert: the bridge; Incident: the operator, or a person by hand), the CRD's required fields.
CHECKS: dict[str, Callable[[Any], object]] = {
    "Runbook": parse_runbook,
    "RemediationPolicy": parse_policy,
    "EscalationPolicy": parse_escalation_policy,
    "Notifier": parse_notifier,
    "OnCallSchedule": parse_oncall_schedule,
    "Alert": _required("fingerprint", "state", "labels", "startsAt"),
    "Incident": _required("title", "severity"),
}


@dataclass(frozen=True)
class Finding:
    """One object's answer: ``ok`` (True, False, or None for skipped), who it is and what was found."""

    ok: bool | None
    who: str  # "Runbook restart-web", or "document 3" where the document says too little to name it
    message: str


def _who(doc: Mapping[str, Any], place: str) -> str:
    kind, metadata = doc.get("kind"), doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if isinstance(kind, str) and kind and isinstance(name, str) and name:
        return f"{kind} {name}"
    return place


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _unknown_kind(kind: str) -> str:
    """Why ``kind`` is refused in onduty's group, with the kind it most likely means."""
    folded = {known.lower(): known for known in CHECKS}
    guess = folded.get(kind.lower()) or next(iter(difflib.get_close_matches(kind, list(CHECKS), n=1, cutoff=0.6)), None)
    hint = f"; did you mean {guess}?" if guess else f"; onduty's kinds are {', '.join(CHECKS)}"
    return f"unknown kind {kind} in {API_VERSION}{hint}"


def _check_object(doc: Mapping[str, Any], kind: str) -> str | None:
    """Why the API server or onduty would refuse this object of an onduty kind; None if neither would."""
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping):
        return "metadata.name: required" if metadata is None else "metadata: must be a mapping"
    name = metadata.get("name")
    if name is None:
        return "metadata.name: required"
    if not isinstance(name, str) or len(name) > 253 or not re.fullmatch(DNS_SUBDOMAIN, name):
        return f"metadata.name: {name!r} is not a lower-case RFC 1123 subdomain (e.g. restart-web)"
    spec = doc.get("spec")
    if spec is None:
        return "spec: required"
    if not isinstance(spec, Mapping):
        return f"spec: must be a mapping, not {type(spec).__name__}"
    try:
        CHECKS[kind](dict(spec))
    except ValueError as error:  # RunbookError, PolicyError, ...
        return " ".join(str(error).split())
    return None


def _is_list(doc: Mapping[str, Any], kind: str) -> bool:
    """A ``List`` (``kind: List``, or ``<Kind>List`` with items), read item by item as kubectl applies it."""
    return kind == "List" or (kind.endswith("List") and isinstance(doc.get("items"), list))


def objects(doc: Any, place: str) -> Iterator[tuple[str, Any]]:
    """Each object of one YAML document with its place (``document 2 items[0]``): a List's items one by one."""
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    if (
        isinstance(doc, Mapping)
        and isinstance(kind, str)
        and _is_list(doc, kind)
        and isinstance(doc.get("items"), list)
    ):
        for index, item in enumerate(doc["items"]):
            yield from objects(item, f"{place} items[{index}]")
        return
    yield place, doc


def check_document(doc: Any, place: str) -> Iterator[Finding]:
    """The findings for one YAML document (several for a List); ``place`` names it (``document 2``)."""
    if doc is None:
        return  # an empty document (a trailing ---): kubectl skips it too
    if not isinstance(doc, Mapping):
        yield Finding(False, place, "not a Kubernetes object: expected a mapping with apiVersion and kind")
        return
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    missing = [field for field, value in (("apiVersion", api_version), ("kind", kind)) if not value]
    if missing:
        yield Finding(
            False,
            _who(doc, place),
            f"{' and '.join(missing)}: required (every Kubernetes object names its apiVersion and kind)",
        )
        return
    if not isinstance(api_version, str) or not isinstance(kind, str):
        yield Finding(False, place, "apiVersion and kind must be strings")
        return
    if _is_list(doc, kind):
        items = doc.get("items")
        if not isinstance(items, list):
            yield Finding(False, _who(doc, place), f"a {kind} needs items: a list of objects")
            return
        for index, item in enumerate(items):
            yield from check_document(item, f"{place} items[{index}]")
        return
    group = _group(api_version)
    if group == GROUP and kind not in CHECKS:
        yield Finding(False, _who(doc, place), _unknown_kind(kind))
        return
    if kind in CHECKS and group in (GROUP, ""):
        if api_version != API_VERSION:
            yield Finding(
                False, _who(doc, place), f"apiVersion {api_version} does not serve {kind}; write {API_VERSION}"
            )
            return
        problem = _check_object(doc, kind)
        yield Finding(problem is None, _who(doc, place), problem or "ok")
        return
    yield Finding(None, _who(doc, place), f"skipped ({api_version} is not onduty's)")
