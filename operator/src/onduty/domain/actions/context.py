"""What one action is judged and carried out on: the step, its target as read, the policies' limits and grants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from onduty.domain import trust
from onduty.domain.policies import BlastRadius
from onduty.domain.runbooks import Step
from onduty.domain.workloads import Workload


@dataclass
class Context:
    """One action on one target, as the incident worker hands it over.

    Every action acts in the incident's namespace (``target.namespace``, checked
    by :mod:`onduty.domain.trust` before an action is asked); what reaches beyond
    it needs one of ``grants``.
    """

    target: Workload
    workload: dict[str, Any]  # the target as read just before judging (a Node for a node-scoped incident)
    action_id: str
    step: Step
    incident: dict[str, Any]
    limits: BlastRadius | None
    allow_suspend_automated_sync: bool
    now: datetime
    grants: trust.Grants = field(default_factory=trust.Grants)
    platform_runbook: bool = False  # the runbook is in onduty's own namespace (the platform owners')
    limits_from: dict[str, str] = field(
        default_factory=dict
    )  # which policy set each limit (Decision.blast_radius_from)

    def limit_of(self, attr: str) -> str:
        """``"policy NAME's"`` for the policy that set limit ``attr``, so a refusal names the deciding policy."""
        name = self.limits_from.get(attr)
        return f"policy {name}'s" if name else "the policy's"

    @property
    def incident_ref(self) -> str:
        return f"{self.incident['metadata']['namespace']}/{self.incident['metadata']['name']}"
