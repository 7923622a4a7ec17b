"""Whether the operator can use a spec, by kind: one answer for the admission webhook and the operator.

The CRDs refuse most bad specs at the API server (schema and CEL). What CEL
cannot judge — an IANA time-zone name, PromQL syntax, a diagnostic's query —
only the operator's own parsers can. The admission webhook
(:mod:`onduty.handlers.admission`) asks them here, through the same parser the
operator reads the kind with, so the webhook never refuses what the operator
would accept, nor the other way round.

Only what the spec says alone is judged: a Notifier's Secret or an
OnCallSchedule's ConfigMap may well be applied after it (GitOps tools apply in
any order), so their contents are left to the ``Accepted`` condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from onduty.domain.escalation import parse_policy as parse_escalation_policy
from onduty.domain.notify.notifiers import parse_notifier
from onduty.domain.oncall import parse_oncall_schedule
from onduty.domain.policies import parse_policy
from onduty.domain.runbooks import parse_runbook


@dataclass(frozen=True)
class CheckedKind:
    kind: str
    plural: str
    parse: Callable[[dict[str, Any]], object]


# Every kind users write and the operator parses. Alerts (the bridge's) and Incidents (the
# operator's own, or a responder's by hand) are left out: the CRD is all there is to judge there.
CHECKED_KINDS: tuple[CheckedKind, ...] = (
    CheckedKind("Runbook", "runbooks", parse_runbook),
    CheckedKind("RemediationPolicy", "remediationpolicies", parse_policy),
    CheckedKind("EscalationPolicy", "escalationpolicies", parse_escalation_policy),
    CheckedKind("Notifier", "notifiers", parse_notifier),
    CheckedKind("OnCallSchedule", "oncallschedules", parse_oncall_schedule),
)
BY_PLURAL: Mapping[str, CheckedKind] = {kind.plural: kind for kind in CHECKED_KINDS}


def spec_problem(plural: str, spec: Any) -> str | None:
    """Why the operator could not use ``spec`` of a ``plural`` object (one line naming the field), or None."""
    checked = BY_PLURAL[plural]
    if not isinstance(spec, dict):
        return f"spec: expected a mapping, not {type(spec).__name__}"
    try:
        checked.parse(spec)
    except ValueError as error:  # each parser's own error type (RunbookError, PolicyError, …) is a ValueError
        return " ".join(str(error).split())
    return None


def refusal(kind: str, namespace: str | None, name: str, problem: str) -> str:
    """What the API server tells the user who applied a spec the operator could not use."""
    where = f"{namespace}/{name}" if namespace else name
    return f"onduty cannot use {kind} {where}: {problem}"
