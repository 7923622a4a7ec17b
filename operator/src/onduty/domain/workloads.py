"""Which workload an alert is about, read from its labels.

kube-state-metrics and most alerting rules name the workload with a
``deployment``/``statefulset``/``daemonset`` label; many only carry ``pod``.
A pod name made by a Deployment has the shape ``<name>-<template hash>-<5 chars>``,
which is enough to find the Deployment without asking the API server.

Labels are untrusted data (:mod:`onduty.domain.trust`): a label value that is
not a valid object name selects nothing, and a workload is always in the
namespace it was read for — an incident's ``spec.workload.namespace`` that
names another is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from onduty.domain import trust

KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_LABEL_KIND = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet"}
# ReplicaSet pod-template-hash is 6-10 chars of [bcdfghjklmnpqrstvwxz2456789]; pod suffix 5.
# A hash of digits only is almost always a CronJob's Job (<cronjob>-<minute>-<suffix>),
# so the hash must hold a letter: that misses ~1% of real hashes, but never points
# at an unrelated Deployment.
_DEPLOYMENT_POD = re.compile(
    r"^(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    r"-(?=[2456789]*[bcdfghjklmnpqrstvwxz])[bcdfghjklmnpqrstvwxz2456789]{6,10}"
    r"-[bcdfghjklmnpqrstvwxz2456789]{5}$"
)


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "namespace": self.namespace}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, namespace: str, *, field: str = "spec.workload") -> Workload | None:
        """The workload an incident names, in ``namespace`` (the incident's); raises :class:`trust.Untrusted`."""
        if not data or not data.get("kind") or not data.get("name"):
            return None
        if data["kind"] not in KINDS:
            raise trust.Untrusted("UnsupportedKind", f"{field}.kind: {data['kind']!r} is not one of {', '.join(KINDS)}")
        boundary = trust.Boundary(namespace)
        where = boundary.target_namespace(data.get("namespace"), field=f"{field}.namespace")
        return cls(str(data["kind"]), trust.name(data["name"], field=f"{field}.name"), where)


def workload_from_labels(labels: dict[str, str], namespace: str) -> Workload | None:
    """The workload an alert points to, or None if its labels do not say."""
    for label, kind in _LABEL_KIND.items():
        if labels.get(label):
            return Workload(kind, labels[label], namespace) if trust.is_subdomain(labels[label]) else None
    match = _DEPLOYMENT_POD.match(labels.get("pod", ""))
    if match:
        return Workload("Deployment", match.group("name"), namespace)
    return None
