"""RemediationPolicy: the GitOps-managed guardrails around every action.

Several policies may cover one target; the strictest wins, and each verdict
names the policy that decided it. With **no policy in scope**, nothing is
changed for real: every action runs as a server-side dry run and says so.
That is the safe default — a cluster where nobody has written down what
automation may do gets a record of what it would have done, not a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from onduty.domain.alerts import describe_validation_error
from onduty.domain.durations import format_duration, parse_duration
from onduty.domain.guardrails import Verdict
from onduty.domain.runbooks import ACTIONS, LabelSelector
from onduty.domain.schedule import Cron, ScheduleError, Window
from onduty.domain.trust import CLUSTER_SCOPED_ACTIONS, DEFAULT_JOB_SERVICE_ACCOUNTS, Grants


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class Scope(_Model):
    namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = Field(default=None, alias="namespaceSelector")
    workload_selector: LabelSelector | None = Field(default=None, alias="workloadSelector")

    def covers(self, namespace: str, namespace_labels: dict[str, str], workload_labels: dict[str, str]) -> bool:
        if self.namespaces and namespace not in self.namespaces:
            return False
        if self.namespace_selector is not None and not self.namespace_selector.matches(namespace_labels):
            return False
        return self.workload_selector is None or self.workload_selector.matches(workload_labels)


class RateLimit(_Model):
    max_actions: int = Field(alias="maxActions", ge=1, le=1000)
    per: str

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


class WindowSpec(_Model):
    name: str = ""
    cron: str | None = None
    duration: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    reason: str = ""

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
        if self.cron is not None:
            try:
                Cron.parse(self.cron)
            except ScheduleError as error:
                raise ValueError(str(error)) from error
        if self.duration is not None:
            _duration(self.duration)
        if absolute and self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def window(self) -> Window:
        if self.cron is not None and self.duration is not None:
            return Window(self.name or self.cron, Cron.parse(self.cron), parse_duration(self.duration))
        return Window(self.name or "window", start=self.start, end=self.end)


class JobPolicy(_Model):
    service_account_names: tuple[str, ...] = Field(default=DEFAULT_JOB_SERVICE_ACCOUNTS, alias="serviceAccountNames")
    pod_security: Literal["restricted", "baseline"] = Field(default="restricted", alias="podSecurity")


class PolicySpec(_Model):
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


class PolicyError(ValueError):
    """A policy spec the operator cannot use; the message names the field."""


def parse_policy(spec: dict[str, Any]) -> PolicySpec:
    try:
        return PolicySpec.model_validate(spec)
    except ValidationError as error:
        raise PolicyError(describe_validation_error(error, prefix="spec")) from error


@dataclass(frozen=True)
class Policy:
    name: str
    spec: PolicySpec


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

    @property
    def allowed(self) -> bool:
        return all(v.allowed for v in self.verdicts)


def in_scope(policies: Sequence[Policy], state: TargetState) -> list[Policy]:
    return [p for p in policies if p.spec.scope.covers(state.namespace, state.namespace_labels, state.workload_labels)]


def decide(policies: Sequence[Policy], action: str, state: TargetState, now: datetime) -> Decision:
    """Every policy guardrail's verdict for ``action`` on the target, strictest first."""
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
            shown = ", ".join(w.name for w in windows)
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
            if spec.window().contains(now):
                why = f": {spec.reason}" if spec.reason else ""
                return Verdict(
                    "ChangeFreeze",
                    False,
                    "ChangeFreeze",
                    f"change freeze {spec.window().name} of policy {policy.name}{why}",
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
