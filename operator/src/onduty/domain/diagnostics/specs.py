"""What a runbook's ``spec.diagnostics`` may say: one model per diagnostic type.

The CRD has one flat item schema for every type, with CEL rules for what each
type requires; these models say the same, so a spec read outside the API
server (``onduty lint``) is accepted exactly where the API server accepts it.
:data:`DiagnosticSteps` is the list a :class:`~onduty.domain.runbooks.RunbookSpec`
holds. How the API server reads a spec (nulls, JSON types, names, durations)
comes from :mod:`onduty.domain.specs`, shared with the runbook and policy models.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from onduty.domain.durations import PATTERN as DURATION_PATTERN
from onduty.domain.durations import parse_duration
from onduty.domain.promql_scope import parsed
from onduty.domain.specs import DNS_LABEL, go_duration, json_type_error, without_nulls
from onduty.domain.templates import known_templates, templated_label, templated_subdomain

# One runbook with more diagnostics than this is a dashboard, not a runbook;
# it also bounds the threads one incident can use at once.
MAX_DIAGNOSTICS = 20
# Log streams fetched per diagnostic: the three most interesting pods (not
# ready, most restarted) of a workload, their containers, current and previous.
DEFAULT_LOG_PODS = 3
MAX_LOG_STREAMS = 10
# A diagnostic that takes longer than this is not "context in seconds"; the
# API server's own read timeout (15 s) is longer, so this one decides.
DEFAULT_TIMEOUT_SECONDS = 10
# Points per range query: enough for a trend and a min/max, few enough to be cheap.
RANGE_POINTS = 60

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DiagnosticType = Literal[
    "podLogs",
    "events",
    "podStatus",
    "rolloutHistory",
    "helmHistory",
    "argoHistory",
    "configChanges",
    "promql",
    "httpCheck",
]
TYPES: tuple[str, ...] = get_args(DiagnosticType)


class _Spec(BaseModel):
    # Fields that belong to other types are ignored rather than rejected: the
    # CRD has one flat item schema (with CEL rules for what each type requires),
    # and a runbook must not lose its remediation over a stray `tailLines`.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    timeout_seconds: int = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=60, alias="timeoutSeconds")

    @model_validator(mode="before")
    @classmethod
    def _as_the_crd_reads_it(cls, data: Any) -> Any:
        """The CRD's one flat item: its CEL rules, and every field checked, whichever type it belongs to.

        A field of another type is then ignored, but its value must still be
        one the CRD accepts: the API server checks it (and nulls are absent).
        """
        if not isinstance(data, dict):
            return data
        data = without_nulls(data)
        kind = data.get("type")
        if "target" in data and kind not in WORKLOAD_TYPES:
            raise ValueError(f"target applies only to {', '.join(WORKLOAD_TYPES[:-1])} and {WORKLOAD_TYPES[-1]}")
        if ("range" in data or "step" in data) and kind != "promql":
            raise ValueError("range and step apply only to a promql diagnostic")
        variants: tuple[type[_Spec], ...] = get_args(get_args(DiagnosticSpec)[0])
        for key, value in data.items():
            owners = [(cls, n) for n, f in cls.model_fields.items() if key in (n, f.alias)]
            # Else another type's field, by the name the CRD gives it.
            owners = owners or [(v, n) for v in variants for n, f in v.model_fields.items() if key == (f.alias or n)]
            if not owners:
                raise ValueError(f"unknown field {key!r}")
            variant, name = owners[0]
            problem = json_type_error(value, variant.model_fields[name].annotation)
            if problem:
                raise ValueError(f"{key}: {problem}")
            if variant is cls:
                continue
            try:  # the field's own validation, on an unvalidated instance of its type
                blank = variant.model_construct(name=str(data.get("name", "")))
                variant.__pydantic_validator__.validate_assignment(blank, name, value)
            except ValidationError as error:
                which = get_args(variant.model_fields["type"].annotation)[0]
                raise ValueError(f"{key} (a {which} field): {error.errors(include_url=False)[0]['msg']}") from None
        return data

    @field_validator("release", "application", "namespace", "service", check_fields=False)
    @classmethod
    def _object_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.field_name in ("release", "application"):  # names that may hold templates ({{ labels.NAME }})
            return templated_subdomain(value)
        if info.field_name == "service":
            return templated_label(value)
        if not re.fullmatch(DNS_LABEL, value):  # a namespace is never templated: it is the incident's, or named
            raise ValueError(f"{value!r} is not a Kubernetes object name (lower case, digits, '-')")
        return value

    @field_validator("window", "step", mode="before", check_fields=False)
    @classmethod
    def _go_duration(cls, value: Any) -> Any:
        return go_duration(value)


class WorkloadRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["Deployment", "StatefulSet", "DaemonSet"]
    name: str = Field(min_length=1, max_length=253)

    @model_validator(mode="before")
    @classmethod
    def _without_nulls(cls, data: Any) -> Any:
        return without_nulls(data)

    @field_validator("name")
    @classmethod
    def _object_name(cls, value: str) -> str:
        return templated_subdomain(value)


class _WorkloadSpec(_Spec):
    """A diagnostic about a workload: the step's ``target``, else the incident's workload."""

    target: WorkloadRef | None = None


class PodLogs(_WorkloadSpec):
    type: Literal["podLogs"]
    tail_lines: int = Field(default=50, ge=1, le=500, alias="tailLines")
    # Also the logs of the previous container instance: for a crash loop, the
    # current container has just started and the reason is in the previous one.
    previous: bool = False
    container: str | None = Field(default=None, max_length=63)
    max_pods: int = Field(default=DEFAULT_LOG_PODS, ge=1, le=MAX_LOG_STREAMS, alias="maxPods")


class Events(_WorkloadSpec):
    type: Literal["events"]
    limit: int = Field(default=20, ge=1, le=100)


class PodStatus(_WorkloadSpec):
    type: Literal["podStatus"]


class RolloutHistory(_WorkloadSpec):
    type: Literal["rolloutHistory"]
    limit: int = Field(default=10, ge=1, le=100)


class HelmHistory(_WorkloadSpec):
    type: Literal["helmHistory"]
    # Default: the workload's app.kubernetes.io/instance label or its
    # meta.helm.sh/release-name annotation (what Helm itself sets).
    release: str | None = Field(default=None, max_length=53)
    limit: int = Field(default=10, ge=1, le=100)


class ArgoHistory(_Spec):
    type: Literal["argoHistory"]
    application: str = Field(min_length=1, max_length=253)
    # Argo CD keeps Applications in its own namespace unless "apps in any namespace" is on.
    namespace: str = Field(default="argocd", min_length=1, max_length=63)
    limit: int = Field(default=10, ge=1, le=100)


class ConfigChanges(_WorkloadSpec):
    type: Literal["configChanges"]
    within_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, alias="withinMinutes")


class PromQL(_Spec):
    type: Literal["promql"]
    expr: str = Field(min_length=1, max_length=4096)
    # Absent: an instant query. Present (``15m``): a range query ending now.
    window: str | None = Field(default=None, alias="range", pattern=DURATION_PATTERN)
    step: str | None = Field(default=None, pattern=DURATION_PATTERN)

    @field_validator("expr")
    @classmethod
    def _templates_known(cls, value: str) -> str:
        return known_templates(value)

    @field_validator("expr")
    @classmethod
    def _parses(cls, value: str) -> str:
        # After the templates: an unknown one is named as such, not as a PromQL syntax error.
        return parsed(value)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None and not timedelta(seconds=1) <= parse_duration(value) <= timedelta(days=7):
            raise ValueError(f"range {value!r} must be between 1s and 168h (7 days)")
        return value

    @property
    def window_delta(self) -> timedelta | None:
        return parse_duration(self.window) if self.window else None

    @property
    def step_seconds(self) -> float:
        """The query step: as given, else the window in :data:`RANGE_POINTS` steps (at least 1 s)."""
        window = self.window_delta or timedelta(0)
        if self.step:
            given = parse_duration(self.step).total_seconds()
            # Prometheus refuses more than 11,000 points; stay far below.
            return max(given, window.total_seconds() / 1000, 1.0)
        return max(1.0, math.ceil(window.total_seconds() / RANGE_POINTS))


class HttpCheck(_Spec):
    type: Literal["httpCheck"]
    service: str = Field(min_length=1, max_length=63)
    # The Service port, by number or name; default: its first port.
    port: int | str | None = None
    path: str = Field(default="/", pattern=r"^/", max_length=1024)


DiagnosticSpec = Annotated[
    PodLogs | Events | PodStatus | RolloutHistory | HelmHistory | ArgoHistory | ConfigChanges | PromQL | HttpCheck,
    Field(discriminator="type"),
]


def _unique_names(steps: tuple[Any, ...]) -> tuple[Any, ...]:
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"diagnostic names must be unique, repeated: {', '.join(duplicates)}")
    return steps


DiagnosticSteps = Annotated[
    tuple[DiagnosticSpec, ...], Field(max_length=MAX_DIAGNOSTICS), AfterValidator(_unique_names)
]

WORKLOAD_TYPES: tuple[str, ...] = (
    "podLogs",
    "events",
    "podStatus",
    "rolloutHistory",
    "helmHistory",
    "configChanges",
)
