"""``cordonNode``: mark one node unschedulable, as ``kubectl cordon`` does — only a node the incident's pods run on.

Which node: a node-scoped incident's own Node (its target, chosen only in
onduty's own namespace); a node a runbook step names, only from a runbook of
onduty's own namespace; else the node of the incident's ``node`` label, which
must run a pod of the workload; else the workload's only node. A tenant's
runbook or alert label never picks an arbitrary node. Never the last
schedulable node. The workload's record is written first, then the node,
marked with the action id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onduty.domain import trust
from onduty.domain.actions import pods as pod_rules
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, Refused
from onduty.domain.actions.records import mark, record_metadata
from onduty.domain.rollouts import RolloutState

NAME = "cordonNode"


def named_node(ctx: Context) -> str | None:
    """The node the incident or the step names outright; None when it is to be found among the workload's pods."""
    if ctx.target.kind == "Node":  # a node-scoped incident: its node, chosen in the platform's namespace
        return ctx.target.name
    if ctx.step.node:
        if not ctx.platform_runbook:
            raise Refused(
                "NodeFromRunbook",
                f"step {ctx.step.name}: node {ctx.step.node!r}: only runbooks in onduty's own namespace may name"
                " a node; others cordon the node the incident's pods run on",
            )
        return trust.name(ctx.step.node, field=f"step {ctx.step.name}: node")
    return None


def node_among(ctx: Context, pods: list[dict[str, Any]]) -> str:
    """The node to cordon of those the workload's ``pods`` run on (the incident's ``node`` label picks)."""
    label = (ctx.incident["spec"].get("labels") or {}).get("node")
    hosts = pod_rules.hosts(pods)
    if label:
        name = trust.name(label, field="the incident's node label")
        if name not in hosts:
            raise Refused(
                "NodeNotRunningWorkload",
                f"node {name} (the incident's node label) runs no pod of {ctx.target}; onduty cordons only a"
                f" node the incident's workload runs on ({', '.join(hosts) or 'none'})",
            )
        return name
    if len(hosts) != 1:
        raise Refused(
            "NoNode" if not hosts else "AmbiguousNode",
            f"{ctx.target} runs on {len(hosts)} node(s) ({', '.join(hosts) or 'none'}) and the incident has no"
            " node label to choose one",
        )
    return hosts[0]


@dataclass(frozen=True)
class Plan:
    """The writes, in order: the workload's record, then the node's merge patch."""

    workload_patch: dict[str, Any]
    node_patch: dict[str, Any]
    outcome: Applied


def plan(ctx: Context, name: str, nodes: list[dict[str, Any]]) -> Plan:
    """Cordon node ``name`` (``nodes``: all of them); raises :class:`Refused` if it is missing or the last one."""
    schedulable = [n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("unschedulable")]
    if name not in {n["metadata"]["name"] for n in nodes}:
        raise Refused("NodeNotFound", f"node {name} does not exist")
    if schedulable == [name]:
        raise Refused(
            "LastSchedulableNode", f"node {name} is the last schedulable node; cordoning it stops all scheduling"
        )
    return Plan(
        {"metadata": record_metadata(ctx, {"node": name})},
        {"metadata": mark(ctx.action_id), "spec": {"unschedulable": True}},
        Applied(f"node {name} cordoned", f"Node/{name}: spec.unschedulable false -> true", {"node": name}),
    )


def recorded_node(record: dict[str, Any]) -> str | None:
    """The node an action record names (None: find it again as :func:`named_node` / :func:`node_among` do)."""
    node = (record.get("details") or {}).get("node")
    return str(node) if node else None


def progress(name: str, node: dict[str, Any]) -> RolloutState:
    if (node.get("spec") or {}).get("unschedulable"):
        return RolloutState(True, False, f"node {name} is unschedulable")
    return RolloutState(False, True, f"node {name} is schedulable again (someone uncordoned it)")
