"""Which object a remediation step acts on: one rule for the incident worker and for ``onduty simulate``."""

from __future__ import annotations

from collections.abc import Mapping

from onduty.domain import trust
from onduty.domain.actions import cordon_node, run_job
from onduty.domain.runbooks import Step
from onduty.domain.workloads import Workload

# What a node-scoped incident (a node alert: a ``node`` label, no workload) can do; its Node is the target.
NODE_SCOPED_ACTIONS = (cordon_node.NAME, run_job.NAME)


def step_target(
    step: Step, workload: Workload | None, labels: Mapping[str, str], namespace: str, onduty_namespace: str
) -> Workload | None:
    """The step's target, always in the incident's namespace; raises :class:`trust.Untrusted`.

    The step's own target, else the incident's workload. A node-scoped
    incident has its Node as the target of ``cordonNode`` and ``runJob`` —
    only in onduty's own namespace, where platform owners' alerts and
    runbooks live; a node is never a tenant namespace's to act on.
    """
    if step.target is not None:
        name = trust.name(step.target.name, field=f"step {step.name}: target.name")
        return Workload(step.target.kind, name, namespace)
    node = labels.get("node")
    if workload is not None or not node or step.action not in NODE_SCOPED_ACTIONS:
        return workload
    if namespace != onduty_namespace:
        raise trust.Untrusted(
            "NodeOutsidePlatformNamespace",
            f"the incident names node {node!r} and no workload: node-scoped incidents act only in onduty's own"
            f" namespace {onduty_namespace!r}, not in {namespace!r}",
        )
    return Workload("Node", trust.name(node, field="the incident's node label"), namespace)
