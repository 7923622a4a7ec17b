"""RemediationPolicy: the GitOps-managed guardrails around every action.

Several policies may cover one target; the strictest wins, and each verdict
names the policy that decided it. With **no policy in scope**, nothing is
changed for real: every action runs as a server-side dry run and says so.
That is the safe default — a cluster where nobody has written down what
automation may do gets a record of what it would have done, not a change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from onduty.domain.durations import format_duration, parse_duration
from onduty.domain.guardrails import Verdict
from onduty.domain.runbooks import ACTIONS, LabelSelector
from onduty.domain.schedule import DEFAULT_ZONE, ScheduleError, Window, cron_problem, time_zone
from onduty.domain.specs import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    TIMESTAMP_PATTERN,
    SpecModel,
    SpecRoot,
    cron_problem_in_words,
    describe_validation_error,
    go_duration,
    string_set,
)
from onduty.domain.trust import CLUSTER_SCOPED_ACTIONS, DEFAULT_JOB_SERVICE_ACCOUNTS, Grants


class _Model(SpecModel):
    pass


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class Scope(_Model):
    namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = Field(default=None, alias="namespaceSelector")
    workload_selector: LabelSelector | None = Field(default=None, alias="workloadSelector")

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return string_set(names, max_length=63)

    @field_validator("namespace_selector", "workload_selector")
    @classmethod
    def _kubernetes_labels(cls, selector: LabelSelector | None) -> LabelSelector | None:
        # These select Kubernetes labels (a runbook's select an alert's): keys and values have their bounds.
        for index, requirement in enumerate(selector.match_expressions if selector else ()):
            where = f"matchExpressions[{index}]"
            if len(requirement.key) > 317:
                raise ValueError(f"{where}.key: must be at most 317 characters (a label key)")
            try:
                string_set(requirement.values, max_items=50, max_length=63, unique=False)
            except ValueError as error:
                raise ValueError(f"{where}.values{'' if str(error).startswith('[') else ': '}{error}") from None
        return selector

    def covers(self, namespace: str, namespace_labels: dict[str, str], workload_labels: dict[str, str]) -> bool:
        if self.namespaces and namespace not in self.namespaces:
            return False
        if self.namespace_selector is not None and not self.namespace_selector.matches(namespace_labels):
            return False
        return self.workload_selector is None or self.workload_selector.matches(workload_labels)


# The most actions a rate limit may count. A target's action history keeps this
# many times (the newest), so every allowed maxActions is enforced; the CRD has the same bound.
MAX_RATE_LIMIT_ACTIONS = 1000


class RateLimit(_Model):
    max_actions: int = Field(alias="maxActions", ge=1, le=MAX_RATE_LIMIT_ACTIONS)
    per: str

    @field_validator("per", mode="before")
    @classmethod
    def _go_per(cls, value: Any) -> Any:
        return go_duration(value)

    @field_validator("per")
    @classmethod
    def _per(cls, value: str) -> str:
        return _duration(value)


class Concurrency(_Model):
    cluster_wide: int | None = Field(default=None, alias="clusterWide", ge=1)
    per_namespace: int | None = Field(default=None, alias="perNamespace", ge=1)


class BlastRadius(_Model):
    max_scale_factor: float | None = Field(default=None, alias="maxScaleFactor", gt=1)
    min_available: int | None = Field(default=None, alias="minAvailable", ge=0)
    max_replicas: int | None = Field(default=None, alias="maxReplicas", ge=1)
    max_workloads_per_incident: int | None = Field(default=None, alias="maxWorkloadsPerIncident", ge=1)

    @model_validator(mode="after")
    def _satisfiable(self) -> BlastRadius:
        # The CRD's CEL rule, with its message: no replica count could be both.
        if self.min_available is not None and self.max_replicas is not None and self.min_available > self.max_replicas:
            raise ValueError("minAvailable must not exceed maxReplicas (no scale could satisfy both)")
        return self


class WindowSpec(_Model):
    name: str = ""
    cron: str | None = None
    duration: str | None = None
    # An IANA name; absent means UTC (onduty.domain.schedule.DEFAULT_ZONE). Not on absolute windows.
    time_zone: str | None = Field(default=None, alias="timeZone")
    start: datetime | None = None
    end: datetime | None = None
    reason: str = ""

    @field_validator("name", "cron", "duration", "time_zone", "reason")
    @classmethod
    def _lengths(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit = {"name": 63, "cron": 100, "duration": 20, "time_zone": 64, "reason": 1024}[info.field_name or ""]
        if value is not None and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    @field_validator("cron")
    @classmethod
    def _cron_syntax(cls, value: str | None) -> str | None:
        # The CRD's pattern is the contract, so it goes first: cronsim reads more (names such as
        # SAT and JAN, L, #, steps past 99, tabs), which the API server refuses; widening both would
        # need CEL to follow cronsim's dialect. Then cronsim, which also refuses the one thing the
        # pattern cannot see, a day of month none of the months given has (30 2): the API server
        # stores such a policy, and the operator reports it not Accepted, as it never opens.
        if value is None:
            return value
        written = cron_problem_in_words(value)
        if written:
            raise ValueError(written)
        problem = cron_problem(value)
        if problem:
            raise ValueError(f"cron {value!r}: {problem}")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        # The API server cannot check this (CEL has no zone database): the model is where it is refused.
        if value is not None:
            try:
                time_zone(value)
            except ScheduleError as error:
                raise ValueError(str(error)) from error
        return value

    @field_validator("duration", mode="before")
    @classmethod
    def _go_duration(cls, value: Any) -> Any:
        return go_duration(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _timestamp_pattern(cls, value: Any) -> Any:
        """The CRD's own pattern (specs.TIMESTAMP_PATTERN), so a window is read as the API server checked it."""
        if isinstance(value, str) and not re.fullmatch(TIMESTAMP_PATTERN, value):
            raise ValueError("give an RFC 3339 time with a UTC offset, e.g. 2026-11-27T00:00:00Z")
        return value

    @field_validator("start", "end")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with a UTC offset, e.g. 2026-11-27T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _shape(self) -> WindowSpec:
        recurring = self.cron is not None and self.duration is not None
        absolute = self.start is not None and self.end is not None
        if recurring == absolute:
            raise ValueError("give either cron and duration, or start and end")
        # The CRD's rule, with its message: a zone beside explicit offsets would be ignored, or misread.
        if self.time_zone is not None and self.cron is None:
            raise ValueError("timeZone applies only to a cron window (start and end carry their own UTC offsets)")
        if self.duration is not None:
            _duration(self.duration)
        if absolute and self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def window(self) -> Window:
        if self.cron is not None and self.duration is not None:
            zone = time_zone(self.time_zone or DEFAULT_ZONE)
            return Window(self.name or self.cron, self.cron, parse_duration(self.duration), zone)
        return Window(self.name or "window", start=self.start, end=self.end)


class JobPolicy(_Model):
    service_account_names: tuple[str, ...] = Field(default=DEFAULT_JOB_SERVICE_ACCOUNTS, alias="serviceAccountNames")
    pod_security: Literal["restricted", "baseline"] = Field(default="restricted", alias="podSecurity")

    @field_validator("service_account_names")
    @classmethod
    def _service_accounts(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return string_set(names, max_items=20, max_length=253, pattern=DNS_SUBDOMAIN)


class PolicySpec(SpecRoot):
    scope: Scope = Field(default_factory=Scope)
    allowed_actions: tuple[str, ...] = Field(alias="allowedActions")
    require_approval: tuple[str, ...] = Field(default=(), alias="requireApproval")
    approval_ttl: str = Field(default="30m", alias="approvalTTL")
    cooldown: str | None = None
    rate_limit: RateLimit | None = Field(default=None, alias="rateLimit")
    concurrency: Concurrency | None = None
    blast_radius: BlastRadius | None = Field(default=None, alias="blastRadius")
    maintenance_windows: tuple[WindowSpec, ...] = Field(default=(), alias="maintenanceWindows")
    change_freezes: tuple[WindowSpec, ...] = Field(default=(), alias="changeFreezes")
    dry_run: bool = Field(default=False, alias="dryRun")
    allow_suspend_automated_sync: bool = Field(default=False, alias="allowSuspendAutomatedSync")
    # What only platform owners can grant (onduty.domain.trust): effects outside the incident's namespace.
    allow_cluster_scoped_actions: tuple[str, ...] = Field(default=(), alias="allowClusterScopedActions")
    argocd_namespaces: tuple[str, ...] = Field(default=(), alias="argoCDNamespaces")
    allow_unconfined_promql: bool = Field(default=False, alias="allowUnconfinedPromQL")
    run_job: JobPolicy | None = Field(default=None, alias="runJob")
    allow_approval_without_admission_policy: bool = Field(default=False, alias="allowApprovalWithoutAdmissionPolicy")

    @field_validator("allow_cluster_scoped_actions")
    @classmethod
    def _cluster_scoped(cls, actions: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in actions if a not in CLUSTER_SCOPED_ACTIONS]
        if unknown:
            raise ValueError(
                f"not cluster-scoped action(s) {', '.join(unknown)}; those are: {', '.join(CLUSTER_SCOPED_ACTIONS)}"
            )
        return actions

    @field_validator("allowed_actions", "require_approval")
    @classmethod
    def _known(cls, actions: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")
        return actions

    @field_validator("approval_ttl", "cooldown")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    # What the CRD says besides the fields' types (onduty.domain.runbooks keeps the two equal).
    @field_validator("approval_ttl", "cooldown", mode="before")
    @classmethod
    def _go_durations(cls, value: Any) -> Any:
        return go_duration(value)

    @field_validator("allowed_actions", "require_approval", "allow_cluster_scoped_actions", "argocd_namespaces")
    @classmethod
    def _sets(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        bounds: dict[str, dict[str, Any]] = {
            "allowed_actions": {"min_items": 1, "max_items": 20, "max_length": 40},
            "require_approval": {"max_items": 20, "max_length": 40},
            "allow_cluster_scoped_actions": {"max_items": 4, "max_length": 40},
            "argocd_namespaces": {"max_items": 20, "max_length": 63, "pattern": DNS_LABEL},
        }
        return string_set(values, **bounds[info.field_name or ""])

    @field_validator("maintenance_windows", "change_freezes")
    @classmethod
    def _at_most_20_windows(cls, windows: tuple[WindowSpec, ...]) -> tuple[WindowSpec, ...]:
        if len(windows) > 20:
            raise ValueError(f"must have at most 20 items, not {len(windows)}")
        return windows

    @model_validator(mode="after")
    def _approval_only_for_allowed_actions(self) -> PolicySpec:
        if not set(self.require_approval) <= set(self.allowed_actions):
            raise ValueError("every action in spec.requireApproval must also be in spec.allowedActions")
        return self


class PolicyError(ValueError):
    """A policy spec the operator cannot use; the message names the field."""


def parse_policy(spec: dict[str, Any]) -> PolicySpec:
    try:
        return PolicySpec.model_validate(spec)
    except ValidationError as error:
        raise PolicyError(describe_validation_error(error)) from error


@dataclass(frozen=True)
class Policy:
    name: str
    spec: PolicySpec


@dataclass(frozen=True)
class InvalidPolicy:
    """A policy the operator cannot use. It still governs its scope: actions there are refused.

    Left out, it would let a more permissive overlapping policy decide alone.
    ``scope`` is None when even the scope does not parse: then it covers everything.
    """

    name: str
    error: str
    scope: Scope | None

    @classmethod
    def of(cls, name: str, spec: dict[str, Any], error: str) -> InvalidPolicy:
        try:
            scope: Scope | None = Scope.model_validate((spec or {}).get("scope") or {})
        except ValidationError:
            scope = None
        return cls(name, error, scope)


def parse_policy_or_invalid(name: str, spec: dict[str, Any]) -> Policy | InvalidPolicy:
    try:
        return Policy(name, parse_policy(spec))
    except PolicyError as error:
        return InvalidPolicy.of(name, spec, str(error))


@dataclass(frozen=True)
class TargetState:
    """What the guardrails need to know about the target and the cluster, read by the caller."""

    namespace: str
    namespace_labels: dict[str, str] = field(default_factory=dict)
    workload_labels: dict[str, str] = field(default_factory=dict)
    recent_actions: tuple[datetime, ...] = ()  # this target's actions, any kind, newest last
    last_same_action: datetime | None = None
    in_flight_cluster: int = 0  # actions started and not finished, cluster-wide
    in_flight_namespace: int = 0
    workloads_touched_by_incident: int = 0  # other targets this incident already acted on


@dataclass(frozen=True)
class Decision:
    verdicts: tuple[Verdict, ...]
    dry_run: bool
    needs_approval: bool
    approval_ttl: timedelta
    policies: tuple[str, ...]
    blast_radius: BlastRadius | None  # the strictest limits, merged, for the action to apply
    allow_suspend_automated_sync: bool = False  # every policy in scope must allow it
    grants: Grants = field(
        default_factory=Grants
    )  # what leaves the namespace, or loosens confinement: every policy must grant it
    # Which policy set each merged limit (field name -> policy), so a refusal names the deciding policy.
    blast_radius_from: dict[str, str] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return all(v.allowed for v in self.verdicts)


def in_scope(policies: Sequence[Policy | InvalidPolicy], state: TargetState) -> list[Policy]:
    """The valid policies covering the target."""
    return [
        p
        for p in policies
        if isinstance(p, Policy) and p.spec.scope.covers(state.namespace, state.namespace_labels, state.workload_labels)
    ]


def invalid_in_scope(policies: Sequence[Policy | InvalidPolicy], state: TargetState) -> list[InvalidPolicy]:
    """The invalid policies that (may) cover the target: one whose scope does not parse covers everything."""
    return [
        p
        for p in policies
        if isinstance(p, InvalidPolicy)
        and (p.scope is None or p.scope.covers(state.namespace, state.namespace_labels, state.workload_labels))
    ]


def decide(policies: Sequence[Policy | InvalidPolicy], action: str, state: TargetState, now: datetime) -> Decision:
    """Every policy guardrail's verdict for ``action`` on the target, strictest first.

    An invalid policy in scope denies (``PolicyInvalid``): it may have been the
    stricter one, and the target is judged with it or not at all.
    """
    invalid = sorted(invalid_in_scope(policies, state), key=lambda p: p.name)
    if invalid:
        bad = invalid[0]
        where = "every target (its scope does not parse either)" if bad.scope is None else "this target"
        verdict = Verdict(
            "Policy",
            False,
            "PolicyInvalid",
            f"RemediationPolicy {bad.name} covers {where} but is not valid ({bad.error}); actions in its scope are refused until it is fixed",
        )
        return Decision((verdict,), True, False, timedelta(0), tuple(p.name for p in invalid), None)
    scoped = sorted(in_scope(policies, state), key=lambda p: p.name)
    names = tuple(p.name for p in scoped)
    if not scoped:
        verdict = Verdict(
            "Policy",
            True,
            "NoPolicyInScope",
            "no RemediationPolicy covers this target: the action runs as a dry run only",
        )
        verdicts: list[Verdict] = [verdict]
        if action in CLUSTER_SCOPED_ACTIONS:
            verdicts.append(_cluster_scoped(scoped, action))
        return Decision(tuple(verdicts), True, False, timedelta(0), (), None)
    verdicts = [Verdict("Policy", True, "PoliciesInScope", f"in scope: {', '.join(names)}")]
    verdicts.append(_allowed(scoped, action))
    if action in CLUSTER_SCOPED_ACTIONS:
        verdicts.append(_cluster_scoped(scoped, action))
    verdicts.append(_windows(scoped, now))
    verdicts.append(_freezes(scoped, now))
    verdicts.append(_cooldown(scoped, state, now))
    verdicts.append(_rate_limit(scoped, state, now))
    verdicts.append(_concurrency(scoped, state))
    verdicts.append(_workloads(scoped, state))
    approvers = [p.name for p in scoped if action in p.spec.require_approval]
    dry = [p.name for p in scoped if p.spec.dry_run]
    ttl = min(
        (parse_duration(p.spec.approval_ttl) for p in scoped if action in p.spec.require_approval), default=timedelta(0)
    )
    suspend = all(p.spec.allow_suspend_automated_sync for p in scoped)
    return Decision(
        tuple(verdicts),
        bool(dry),
        bool(approvers),
        ttl,
        names,
        merged_blast_radius(scoped),
        suspend,
        grants(scoped),
        blast_radius_sources(scoped),
    )


def grants(scoped: Sequence[Policy]) -> Grants:
    """What the policies in scope grant beyond the namespace: only what every one of them grants.

    No policy in scope grants nothing: a namespace nobody wrote a policy for
    stays confined to itself.
    """
    if not scoped:
        return Grants()
    jobs = [p.spec.run_job or JobPolicy() for p in scoped]
    accounts = set(jobs[0].service_account_names).intersection(*(j.service_account_names for j in jobs[1:]))
    return Grants(
        cluster_scoped_actions=frozenset.intersection(
            *(frozenset(p.spec.allow_cluster_scoped_actions) for p in scoped)
        ),
        argocd_namespaces=tuple(
            sorted(set(scoped[0].spec.argocd_namespaces).intersection(*(p.spec.argocd_namespaces for p in scoped[1:])))
        ),
        unconfined_promql=all(p.spec.allow_unconfined_promql for p in scoped),
        job_service_accounts=tuple(sorted(accounts)),
        job_pod_security="restricted" if any(j.pod_security == "restricted" for j in jobs) else "baseline",
        approval_without_admission_policy=all(p.spec.allow_approval_without_admission_policy for p in scoped),
    )


def _cluster_scoped(scoped: Sequence[Policy], action: str) -> Verdict:
    """An action whose effect leaves the namespace runs only where every policy in scope names it."""
    if not scoped:
        return Verdict(
            "ClusterScope",
            False,
            "ClusterScopedActionNotAllowed",
            f"{action} acts outside the incident's namespace; no RemediationPolicy covers this target to allow it (allowClusterScopedActions)",
        )
    refusing = [p.name for p in scoped if action not in p.spec.allow_cluster_scoped_actions]
    if refusing:
        return Verdict(
            "ClusterScope",
            False,
            "ClusterScopedActionNotAllowed",
            f"{action} acts outside the incident's namespace; policy {refusing[0]} does not list it in allowClusterScopedActions",
        )
    return Verdict(
        "ClusterScope",
        True,
        "ClusterScopedActionAllowed",
        f"every policy in scope lists {action} in allowClusterScopedActions",
    )


def _allowed(scoped: Sequence[Policy], action: str) -> Verdict:
    refusing = [p.name for p in scoped if action not in p.spec.allowed_actions]
    if refusing:
        return Verdict(
            "AllowedActions",
            False,
            "ActionNotAllowed",
            f"{action} is not among the allowed actions of policy {refusing[0]}",
        )
    return Verdict("AllowedActions", True, "ActionAllowed", f"{action} is allowed by every policy in scope")


def _windows(scoped: Sequence[Policy], now: datetime) -> Verdict:
    for policy in scoped:
        windows = [w.window() for w in policy.spec.maintenance_windows]
        if windows and not any(w.contains(now) for w in windows):
            shown = ", ".join(w.shown for w in windows)
            return Verdict(
                "MaintenanceWindow",
                False,
                "OutsideMaintenanceWindow",
                f"policy {policy.name} allows actions only in: {shown}",
            )
    return Verdict("MaintenanceWindow", True, "InsideMaintenanceWindow", "no maintenance window restricts this time")


def _freezes(scoped: Sequence[Policy], now: datetime) -> Verdict:
    for policy in scoped:
        for spec in policy.spec.change_freezes:
            freeze = spec.window()
            if freeze.contains(now):
                why = f": {spec.reason}" if spec.reason else ""
                return Verdict(
                    "ChangeFreeze",
                    False,
                    "ChangeFreeze",
                    f"change freeze {freeze.shown} of policy {policy.name}{why}",
                )
    return Verdict("ChangeFreeze", True, "NoFreeze", "no change freeze covers this time")


def _cooldown(scoped: Sequence[Policy], state: TargetState, now: datetime) -> Verdict:
    floors = [(parse_duration(p.spec.cooldown), p.name) for p in scoped if p.spec.cooldown]
    if not floors:
        return Verdict("PolicyCooldown", True, "NoPolicyCooldown", "no policy sets a cooldown")
    if state.last_same_action is None:
        return Verdict("PolicyCooldown", True, "NoRecentAction", "no earlier run of this action on this target")
    period, name = max(floors)
    ready = state.last_same_action + period
    if now < ready:
        return Verdict(
            "PolicyCooldown",
            False,
            "CooldownActive",
            f"policy {name} requires {format_duration(period)} between actions on this target; {format_duration(ready - now)} left",
        )
    return Verdict("PolicyCooldown", True, "CooldownElapsed", f"policy cooldown {format_duration(period)} has passed")


def _rate_limit(scoped: Sequence[Policy], state: TargetState, now: datetime) -> Verdict:
    for policy in scoped:
        limit = policy.spec.rate_limit
        if limit is None:
            continue
        since = now - parse_duration(limit.per)
        count = sum(1 for t in state.recent_actions if t > since)
        if count >= limit.max_actions:
            return Verdict(
                "RateLimit",
                False,
                "RateLimited",
                f"policy {policy.name} allows {limit.max_actions} action(s) per {limit.per} on this target; {count} already",
            )
    return Verdict("RateLimit", True, "WithinRateLimit", "no rate limit exceeded")


def _concurrency(scoped: Sequence[Policy], state: TargetState) -> Verdict:
    for policy in scoped:
        caps = policy.spec.concurrency
        if caps is None:
            continue
        if caps.cluster_wide is not None and state.in_flight_cluster >= caps.cluster_wide:
            return Verdict(
                "Concurrency",
                False,
                "ConcurrencyLimited",
                f"policy {policy.name} allows {caps.cluster_wide} action(s) at once cluster-wide; {state.in_flight_cluster} in flight",
            )
        if caps.per_namespace is not None and state.in_flight_namespace >= caps.per_namespace:
            return Verdict(
                "Concurrency",
                False,
                "ConcurrencyLimited",
                f"policy {policy.name} allows {caps.per_namespace} action(s) at once in namespace {state.namespace}; {state.in_flight_namespace} in flight",
            )
    return Verdict(
        "Concurrency",
        True,
        "WithinConcurrency",
        f"{state.in_flight_cluster} action(s) in flight cluster-wide, {state.in_flight_namespace} here",
    )


def _workloads(scoped: Sequence[Policy], state: TargetState) -> Verdict:
    for policy in scoped:
        radius = policy.spec.blast_radius
        if (
            radius
            and radius.max_workloads_per_incident is not None
            and state.workloads_touched_by_incident >= radius.max_workloads_per_incident
        ):
            return Verdict(
                "BlastRadius",
                False,
                "TooManyWorkloads",
                f"policy {policy.name} allows {radius.max_workloads_per_incident} workload(s) per incident; this incident already acted on {state.workloads_touched_by_incident}",
            )
    return Verdict("BlastRadius", True, "WithinBlastRadius", "within the workloads-per-incident limit")


_STRICTEST = {"max_scale_factor": min, "min_available": max, "max_replicas": min, "max_workloads_per_incident": min}


def blast_radius_sources(scoped: Sequence[Policy]) -> dict[str, str]:
    """For each blast-radius limit, the policy whose value is the strictest (the first by name on a tie)."""
    sources: dict[str, str] = {}
    for attr, pick in _STRICTEST.items():
        values = [
            (getattr(p.spec.blast_radius, attr), p.name)
            for p in sorted(scoped, key=lambda p: p.name)
            if p.spec.blast_radius is not None and getattr(p.spec.blast_radius, attr) is not None
        ]
        if values:
            best = pick(v for v, _ in values)
            sources[attr] = next(name for v, name in values if v == best)
    return sources


def merged_blast_radius(scoped: Sequence[Policy]) -> BlastRadius:
    """The strictest of each limit across the policies."""
    radii = [p.spec.blast_radius for p in scoped if p.spec.blast_radius is not None]

    def strictest(attr: str, pick: Any) -> Any:
        values = [getattr(r, attr) for r in radii if getattr(r, attr) is not None]
        return pick(values) if values else None

    return BlastRadius(
        max_scale_factor=strictest("max_scale_factor", min),
        min_available=strictest("min_available", max),
        max_replicas=strictest("max_replicas", min),
        max_workloads_per_incident=strictest("max_workloads_per_incident", min),
    )
