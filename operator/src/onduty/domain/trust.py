"""Trust boundaries: who may make onduty do what, in one place.

onduty holds cluster-wide rights and acts on input written by people with far
less: a namespace's editors write Runbooks, Incidents, Secrets and workloads,
and whoever ships a metric chooses the labels that become an alert's
``namespace``, ``deployment`` or ``pod``. So every path that turns such input
into a read or a write goes through this module:

* **Platform owners** write cluster-scoped RemediationPolicies and what lives
  in onduty's own namespace. Only they can allow anything that leaves a
  namespace: cordoning a node, an Argo CD Application in another namespace,
  PromQL that is not confined to the incident's namespace.
* **A namespace's editors** (its Runbooks, Incidents, Secrets, workloads) can
  cause reads and actions **only inside that namespace**, and only what a
  policy in scope allows.
* **Alert labels** are untrusted data: they pick a target in the alert's
  namespace or nothing; they never name a path. :func:`name` and
  :func:`namespace` validate a value as Kubernetes defines names before it
  reaches a URL, and refuse it otherwise.
* **Approvers** are identities the API server authenticated and RBAC allowed
  (the ``approve`` verb on ``incidents``); a ValidatingAdmissionPolicy makes
  the recorded approver the real one.

A refusal is an :class:`Untrusted` with a CamelCase ``reason`` and a sentence
naming the field and the value: the caller records it in the incident. Nothing
here reads the cluster; what is unreadable or invalid is refused, never
allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Kubernetes' own definitions (k8s.io/apimachinery/pkg/util/validation).
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# Actions whose effect leaves the incident's namespace. A policy must name them
# in ``allowClusterScopedActions`` (every policy in scope: the strictest wins).
CLUSTER_SCOPED_ACTIONS = ("cordonNode",)


class Untrusted(ValueError):
    """Input that must not be acted on; ``reason`` is one CamelCase word, the message names field and value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _shown(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_label(value: str) -> bool:
    """A DNS-1123 label: namespaces, Services, most names that become one path segment."""
    return len(value) <= DNS1123_LABEL_MAX and bool(_LABEL.fullmatch(value))


def is_subdomain(value: str) -> bool:
    """A DNS-1123 subdomain: Deployments, Pods, Secrets, Nodes, Jobs, custom objects."""
    return len(value) <= DNS1123_SUBDOMAIN_MAX and bool(_SUBDOMAIN.fullmatch(value))


def name(value: object, *, field: str) -> str:
    """``value`` if it is a valid object name (DNS-1123 subdomain), else :class:`Untrusted` ``InvalidName``."""
    if not isinstance(value, str) or not is_subdomain(value):
        raise Untrusted(
            "InvalidName",
            f"{field}: {_shown(value)} is not a valid Kubernetes name (lower-case alphanumerics, '-' and '.',"
            f" at most {DNS1123_SUBDOMAIN_MAX} characters)",
        )
    return value


def namespace(value: object, *, field: str) -> str:
    """``value`` if it is a valid namespace name (DNS-1123 label), else :class:`Untrusted` ``InvalidName``."""
    if not isinstance(value, str) or not is_label(value):
        raise Untrusted(
            "InvalidName",
            f"{field}: {_shown(value)} is not a valid namespace name (lower-case alphanumerics and '-',"
            f" at most {DNS1123_LABEL_MAX} characters)",
        )
    return value


def label_name(value: object, *, field: str) -> str:
    """``value`` if it is a DNS-1123 label (Service names, container names), else ``InvalidName``."""
    if not isinstance(value, str) or not is_label(value):
        raise Untrusted("InvalidName", f"{field}: {_shown(value)} is not a valid DNS-1123 label")
    return value


@dataclass(frozen=True)
class Boundary:
    """What one incident's automation may touch: its own namespace, plus what platform owners granted.

    ``namespace`` is the incident's own (``metadata.namespace``: the API server
    sets it, and RBAC decided who could write there). ``platform`` is true for
    input that platform owners wrote (a runbook in onduty's own namespace).
    """

    namespace: str
    platform: bool = False

    def target_namespace(self, value: object, *, field: str) -> str:
        """The namespace to act in: the incident's own; any other is ``OutsideNamespace``."""
        if value in (None, ""):
            return self.namespace
        given = namespace(value, field=field)
        if given != self.namespace:
            raise Untrusted(
                "OutsideNamespace",
                f"{field}: {given!r} is not the incident's namespace {self.namespace!r}; onduty acts on an"
                " incident only inside its own namespace",
            )
        return given

    def other_namespace(self, value: object, *, field: str, allowed: tuple[str, ...], what: str) -> str:
        """A namespace outside the incident's that a platform policy lists in ``allowed``; else refused."""
        if value in (None, ""):
            return self.namespace
        given = namespace(value, field=field)
        if given == self.namespace:
            return given
        if given not in allowed:
            raise Untrusted(
                "OutsideNamespace",
                f"{field}: {what} in namespace {given!r} is outside the incident's namespace {self.namespace!r},"
                " and no RemediationPolicy in scope allows that namespace",
            )
        return given


# runJob's pods run as the namespace's default ServiceAccount unless a policy names others.
DEFAULT_JOB_SERVICE_ACCOUNTS = ("default",)


@dataclass(frozen=True)
class Grants:
    """What platform owners granted beyond the incident's namespace, from the RemediationPolicies in scope.

    The defaults grant nothing: no policy, no reach outside the namespace.
    """

    cluster_scoped_actions: frozenset[str] = frozenset()
    argocd_namespaces: tuple[str, ...] = ()
    unconfined_promql: bool = False
    job_service_accounts: tuple[str, ...] = DEFAULT_JOB_SERVICE_ACCOUNTS
    job_pod_security: str = "restricted"
    approval_without_admission_policy: bool = False
