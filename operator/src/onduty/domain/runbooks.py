"""Runbooks: what they match, and the remediation steps they ask for.

The CRD schema rejects most bad runbooks at admission; this model parses what
the API server accepted into typed values (and reports, in the runbook's
status, anything the schema cannot express).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from onduty.domain.alerts import describe_validation_error
from onduty.domain.diagnostics import DiagnosticSteps
from onduty.domain.durations import parse_duration
from onduty.domain.promql import Comparison
from onduty.domain.severity import Severity

Action = Literal[
    "rolloutRestart", "scale", "rolloutUndo", "deletePod", "cordonNode", "runJob", "argoRollback", "helmRollback"
]
ACTIONS: tuple[str, ...] = get_args(Action)  # one list: the CRD enums are checked against it in the tests
# A restart that did not help within 15 minutes should not be repeated by a
# machine on the same workload: long enough for a human to look, short enough
# that the next genuinely new incident can still use it.
DEFAULT_COOLDOWN = "15m"
# A Deployment's own progressDeadlineSeconds default is 10m; most rollouts of a
# restart finish in well under 5m, and a responder wants to know sooner.
DEFAULT_HEALTHY_WITHIN = "5m"
# After a restart, metrics lag (scrape interval + rate window): two minutes lets
# a 1m rate window fill with post-restart samples.
DEFAULT_METRIC_WITHIN = "2m"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class LabelRequirement(_Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[LabelRequirement, ...] = Field(default=(), alias="matchExpressions")

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
            if req.operator == "In" and labels.get(req.key) not in req.values:
                return False
            if req.operator == "NotIn" and present and labels[req.key] in req.values:
                return False
        return True

    @property
    def specificity(self) -> int:
        return len(self.match_labels) + len(self.match_expressions)


class Match(_Model):
    alertnames: tuple[str, ...] = Field(min_length=1)
    severities: tuple[Severity, ...] = ()
    labels: LabelSelector = Field(default_factory=LabelSelector)


class TargetRef(_Model):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: str


class MetricCheck(Comparison):
    """Verification on metrics: ``expr op threshold`` must hold for every series within ``within``."""

    within: str = DEFAULT_METRIC_WITHIN

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class Verify(_Model):
    rollout_healthy_within: str = Field(default=DEFAULT_HEALTHY_WITHIN, alias="rolloutHealthyWithin")
    promql: MetricCheck | None = None

    @field_validator("rollout_healthy_within")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def deadline(self) -> timedelta:
        return parse_duration(self.rollout_healthy_within)


class JobSpec(_Model):
    template: dict[str, Any]
    backoff_limit: int = Field(default=0, alias="backoffLimit", ge=0, le=6)
    # Ten minutes: a clean-up script that needs longer is not a remediation.
    active_deadline_seconds: int = Field(default=600, alias="activeDeadlineSeconds", ge=1, le=3600)


class Step(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    action: Action
    target: TargetRef | None = None
    condition: Comparison | None = None
    replicas: int | None = Field(default=None, ge=0)
    factor: float | None = Field(default=None, gt=0)
    min_replicas: int | None = Field(default=None, alias="minReplicas", ge=0)
    max_replicas: int | None = Field(default=None, alias="maxReplicas", ge=1)
    to_revision: int | None = Field(default=None, alias="toRevision", ge=1)
    release: str | None = None
    application: str | None = None
    application_namespace: str | None = Field(default=None, alias="applicationNamespace")
    to_history_id: int | None = Field(default=None, alias="toHistoryId", ge=0)
    node: str | None = None
    job: JobSpec | None = None
    revert_on_failure: bool = Field(default=False, alias="revertOnFailure")
    cooldown: str = DEFAULT_COOLDOWN
    verify: Verify = Field(default_factory=Verify)

    @field_validator("cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def cooldown_period(self) -> timedelta:
        return parse_duration(self.cooldown)


class Remediation(_Model):
    steps: tuple[Step, ...] = Field(min_length=1, max_length=10)

    @field_validator("steps")
    @classmethod
    def _unique(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        names = [s.name for s in steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique, repeated: {', '.join(duplicates)}")
        return steps


class RunbookSpec(_Model):
    description: str = ""
    priority: int = 0
    match: Match
    diagnostics: DiagnosticSteps = ()
    remediation: Remediation | None = None
    on_failure: Literal["Escalate"] = Field(default="Escalate", alias="onFailure")


class RunbookError(ValueError):
    """A runbook spec the operator cannot use; the message names the field."""


def parse_runbook(spec: dict[str, Any]) -> RunbookSpec:
    try:
        return RunbookSpec.model_validate(spec)
    except ValidationError as error:
        raise RunbookError(describe_validation_error(error, prefix="spec")) from error


@dataclass(frozen=True)
class RunbookRef:
    """A parsed runbook as the index holds it."""

    namespace: str
    name: str
    spec: RunbookSpec

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def select_runbook(
    candidates: Iterable[RunbookRef],
    *,
    labels: dict[str, str],
    severity: Severity,
    namespace: str,
    global_namespace: str,
) -> RunbookRef | None:
    """The runbook for an incident, or None.

    A runbook applies to incidents in its own namespace; runbooks in the global
    namespace apply everywhere. Among the matches the order is: higher
    ``priority``, then the incident's own namespace over the global one, then
    the more specific label selector, then name (so the choice is stable).
    """
    eligible = [
        rb
        for rb in candidates
        if rb.namespace in (namespace, global_namespace)
        and labels.get("alertname", "") in rb.spec.match.alertnames
        and (not rb.spec.match.severities or severity in rb.spec.match.severities)
        and rb.spec.match.labels.matches(labels)
    ]
    if not eligible:
        return None
    eligible.sort(
        key=lambda rb: (
            -rb.spec.priority,
            rb.namespace != namespace,
            -rb.spec.match.labels.specificity,
            rb.key,
        )
    )
    return eligible[0]
