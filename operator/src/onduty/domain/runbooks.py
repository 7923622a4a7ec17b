"""Runbooks: what they match, and the remediation steps they ask for.

The model says everything the CRD schema says — the same enums, patterns,
bounds, required fields and CEL rules — so ``onduty lint`` (and any other
reader of a spec that did not come through the API server) accepts exactly
what the API server accepts. ``tests/integration/test_model_matches_crd.py``
holds the two to that: it derives a bad spec from every constraint of the
CRD, and feeds those, a table of bad specs (one per CEL rule) and every sample
to both, demanding the same answer.

The API server's reading that is no field constraint (nulls, JSON types,
field spelling, Go durations) lives in :mod:`onduty.domain.specs`, shared
with the other spec models (policies, diagnostics).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from onduty.domain.diagnostics import DiagnosticSteps
from onduty.domain.durations import parse_duration
from onduty.domain.promql import Comparison
from onduty.domain.severity import Severity
from onduty.domain.specs import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    SpecModel,
    SpecRoot,
    describe_validation_error,
    distinct,
    go_duration,
    without_nulls,
)
from onduty.domain.templates import known_templates, templated_subdomain

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


class _Model(SpecModel):
    pass


Duration = Annotated[str, AfterValidator(go_duration)]
Distinct = AfterValidator(distinct)
# A name field that may hold templates ({{ labels.pod }}: onduty.domain.templates), rendered when the step runs.
TemplatedName = Annotated[str, AfterValidator(templated_subdomain)]


class LabelRequirement(_Model):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> LabelRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError("values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist")
        return self


class LabelSelector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[LabelRequirement, ...] = Field(default=(), alias="matchExpressions", max_length=20)

    @field_validator("match_labels", mode="before")
    @classmethod
    def _null_value_is_absent(cls, value: Any) -> Any:
        # A null map value is dropped as a null field is: `kubectl apply` stores matchLabels {tier: null}
        # as {}, so lint and the operator read it so too (found by tests/integration/test_fuzz_specs.py).
        return without_nulls(value)

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
    alertnames: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=253)], ...], Distinct] = Field(
        min_length=1, max_length=50
    )
    severities: Annotated[tuple[Severity, ...], Distinct] = ()
    labels: LabelSelector = Field(default_factory=LabelSelector)


class TargetRef(_Model):
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: TemplatedName = Field(max_length=253)


class Condition(Comparison, _Model):
    """A PromQL comparison in a spec: ``expr op threshold``, read as the API server reads it."""

    @field_validator("expr")
    @classmethod
    def _templates_known(cls, value: str) -> str:
        return known_templates(value)


class MetricCheck(Condition):
    """Verification on metrics: ``expr op threshold`` must hold for every series within ``within``."""

    within: Duration = DEFAULT_METRIC_WITHIN


class Verify(_Model):
    rollout_healthy_within: Duration = Field(default=DEFAULT_HEALTHY_WITHIN, alias="rolloutHealthyWithin")
    promql: MetricCheck | None = None

    @property
    def deadline(self) -> timedelta:
        return parse_duration(self.rollout_healthy_within)


class JobSpec(_Model):
    template: dict[str, Any]
    backoff_limit: int = Field(default=0, alias="backoffLimit", ge=0, le=6)
    # Ten minutes: a clean-up script that needs longer is not a remediation.
    active_deadline_seconds: int = Field(default=600, alias="activeDeadlineSeconds", ge=1, le=3600)


class Step(_Model):
    name: str = Field(pattern=DNS_LABEL, max_length=40)
    action: Action
    target: TargetRef | None = None
    condition: Condition | None = None
    replicas: int | None = Field(default=None, ge=0)
    factor: float | None = Field(default=None, gt=0)
    min_replicas: int | None = Field(default=None, alias="minReplicas", ge=0)
    max_replicas: int | None = Field(default=None, alias="maxReplicas", ge=1)
    to_revision: int | None = Field(default=None, alias="toRevision", ge=1)
    release: TemplatedName | None = Field(default=None, max_length=53)
    application: TemplatedName | None = Field(default=None, max_length=253)
    application_namespace: str | None = Field(
        default=None, alias="applicationNamespace", max_length=63, pattern=DNS_LABEL
    )
    to_history_id: int | None = Field(default=None, alias="toHistoryId", ge=0)
    node: TemplatedName | None = Field(default=None, max_length=253)
    job: JobSpec | None = None
    revert_on_failure: bool = Field(default=False, alias="revertOnFailure")
    cooldown: Duration = DEFAULT_COOLDOWN
    verify: Verify = Field(default_factory=Verify)

    @model_validator(mode="after")
    def _what_the_action_needs(self) -> Step:
        # The CRD's CEL rules on a step, with their messages.
        if self.action == "scale" and (self.replicas is None) == (self.factor is None):
            raise ValueError("a scale step gives exactly one of replicas and factor")
        if self.action == "runJob" and self.job is None:
            raise ValueError("a runJob step needs job.template")
        if self.action == "argoRollback" and self.application is None:
            raise ValueError("an argoRollback step names its application")
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        if self.replicas is not None and not (
            (self.min_replicas is None or self.replicas >= self.min_replicas)
            and (self.max_replicas is None or self.replicas <= self.max_replicas)
        ):
            raise ValueError("replicas must lie between minReplicas and maxReplicas")
        return self

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


class RunbookSpec(SpecRoot):
    description: str = Field(default="", max_length=4096)
    priority: int = Field(default=0, ge=-1000, le=1000)
    escalation_policy: str | None = Field(default=None, alias="escalationPolicy", max_length=253, pattern=DNS_SUBDOMAIN)
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
        raise RunbookError(describe_validation_error(error)) from error


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
    return explain_selection(
        candidates, labels=labels, severity=severity, namespace=namespace, global_namespace=global_namespace
    ).chosen


# How many runbooks a matching explanation names besides the chosen one (or, when none
# matched, how many near misses): enough to see the competition, short enough for an Event.
EXPLAINED_LIMIT = 3


@dataclass(frozen=True)
class Miss:
    """A runbook that did not match: what of its match held, and what did not."""

    runbook: RunbookRef
    matched: tuple[str, ...]
    missed: tuple[str, ...]

    def describe(self) -> str:
        held = f"{', '.join(self.matched)} matched; " if self.matched else ""
        return f"{self.runbook.key} ({held}{'; '.join(self.missed)})"


@dataclass(frozen=True)
class Selection:
    """Which runbook matched and why it beat the others, or why none matched."""

    chosen: RunbookRef | None
    # The other matching runbooks, best first, each with why the chosen one beat it.
    beaten: tuple[tuple[RunbookRef, str], ...] = ()
    # When none matched: the nearest misses, nearest first.
    nearest: tuple[Miss, ...] = ()
    # What the chosen runbook matched on ("alertname=X, severity=critical, label app=web").
    matched_on: str = ""

    def message(self) -> str:
        """One sentence for the timeline and the ``RunbookMatched`` / ``NoRunbookMatched`` Event."""
        if self.chosen is None:
            if not self.nearest:
                return "no runbook matched: no runbook in scope names this alert"
            shown = ", ".join(m.describe() for m in self.nearest[:EXPLAINED_LIMIT])
            return f"no runbook matched: nearest {shown}"
        text = f"runbook {self.chosen.key} (priority {self.chosen.spec.priority}) matched {self.matched_on}"
        if self.beaten:
            others = "; ".join(
                f"chosen over {rb.key} ({_priority_note(self.chosen, rb)}) because {why}"
                for rb, why in self.beaten[:EXPLAINED_LIMIT]
            )
            more = len(self.beaten) - EXPLAINED_LIMIT
            text += f"; {others}" + (f"; and {more} more" if more > 0 else "")
        return text


def _priority_note(chosen: RunbookRef, other: RunbookRef) -> str:
    if other.spec.priority == chosen.spec.priority:
        return "same priority"
    return f"priority {other.spec.priority}"


def _why_beaten(chosen: RunbookRef, other: RunbookRef, namespace: str) -> str:
    """Which rule of the order (see :func:`select_runbook`) put ``chosen`` before ``other``."""
    if chosen.spec.priority != other.spec.priority:
        return f"its priority is higher ({chosen.spec.priority} > {other.spec.priority})"
    if (chosen.namespace == namespace) != (other.namespace == namespace):
        return f"it is in the incident's namespace {namespace}, the other in the global namespace"
    mine, theirs = chosen.spec.match.labels.specificity, other.spec.match.labels.specificity
    if mine != theirs:
        return f"its label selector is more specific ({mine} requirement(s) against {theirs})"
    return "its name sorts first (all else equal)"


def _label_misses(selector: LabelSelector, labels: dict[str, str]) -> tuple[list[str], list[str]]:
    """The selector's requirements that hold and those that do not, in words."""
    held: list[str] = []
    missed: list[str] = []
    for key, want in selector.match_labels.items():
        have = labels.get(key)
        if have == want:
            held.append(f"{key}={want}")
        elif have is None:
            missed.append(f"label {key} missing, wants {key}={want}")
        else:
            missed.append(f"label {key}={have} \u2260 {want}")
    for req in selector.match_expressions:
        one = LabelSelector.model_validate({"matchExpressions": (req,)})
        shown = f"{req.key} {req.operator}" + (f" ({', '.join(req.values)})" if req.values else "")
        if one.matches(labels):
            held.append(shown)
        else:
            have = labels.get(req.key)
            missed.append(
                f"label {req.key}={have} fails {shown}"
                if have is not None
                else f"label {req.key} missing, wants {shown}"
            )
    return held, missed


def _judge(rb: RunbookRef, *, labels: dict[str, str], severity: Severity) -> Miss:
    """Each part of ``rb``'s match against the incident: an empty ``missed`` is a match."""
    held: list[str] = []
    missed: list[str] = []
    alertname = labels.get("alertname", "")
    if alertname in rb.spec.match.alertnames:
        held.append(f"alertname={alertname}")
    else:
        missed.append(f"alertname {alertname or '(none)'} not in {', '.join(rb.spec.match.alertnames)}")
    if rb.spec.match.severities:
        if severity in rb.spec.match.severities:
            held.append(f"severity={severity}")
        else:
            missed.append(f"severity {severity} \u2260 {', '.join(rb.spec.match.severities)}")
    label_held, label_missed = _label_misses(rb.spec.match.labels, labels)
    held += [f"label {text}" for text in label_held]
    missed += label_missed
    return Miss(rb, tuple(held), tuple(missed))


def explain_selection(
    candidates: Iterable[RunbookRef],
    *,
    labels: dict[str, str],
    severity: Severity,
    namespace: str,
    global_namespace: str,
) -> Selection:
    """:func:`select_runbook` with its reasons: why the chosen one beat each other match, or the nearest misses."""
    # Runbooks of other namespaces are not named, not even as near misses: the explanation is
    # an Event in the incident's namespace, and another team's runbooks are not its business.
    judged = [
        _judge(rb, labels=labels, severity=severity)
        for rb in candidates
        if rb.namespace in (namespace, global_namespace)
    ]
    eligible = [j.runbook for j in judged if not j.missed]
    if not eligible:
        # Nearest first: fewest misses, then the order a match would have had.
        judged.sort(
            key=lambda j: (len(j.missed), -j.runbook.spec.priority, j.runbook.namespace != namespace, j.runbook.key)
        )
        return Selection(None, nearest=tuple(judged[:EXPLAINED_LIMIT]))
    eligible.sort(
        key=lambda rb: (
            -rb.spec.priority,
            rb.namespace != namespace,
            -rb.spec.match.labels.specificity,
            rb.key,
        )
    )
    chosen = eligible[0]
    on = next(j for j in judged if j.runbook is chosen).matched
    if not chosen.spec.match.severities:
        on = (*on[:1], "any severity", *on[1:])
    return Selection(
        chosen,
        beaten=tuple((rb, _why_beaten(chosen, rb, namespace)) for rb in eligible[1:]),
        matched_on=", ".join(on),
    )
