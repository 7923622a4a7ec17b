"""Kopf's side of escalation: watch events and deadlines feed one work queue.

Every watch event of an Incident pokes its key; the queue
(:class:`onduty.services.deadlines.Deadlines`) runs
:meth:`onduty.services.escalation.Escalation.step`, which returns the next
deadline. No daemon per incident and no polling: a thousand incidents
waiting for an acknowledgement cost a thousand heap entries.

EscalationPolicies and Notifiers are checked when written and the verdict
goes to their ``Accepted`` condition (with an Event when it is False).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onduty.adapters.kube import Cluster, KubeError, NotFound
from onduty.adapters.notifiers import HttpTransport, read_configmap, read_secret
from onduty.domain import escalation, oncall, timeline
from onduty.domain.escalation import EscalationPolicySpec, InvalidEscalationPolicy
from onduty.domain.notify.channel import Credentials
from onduty.domain.notify.notifiers import InvalidNotifier, channel_for, parse_notifier
from onduty.domain.times import rfc3339
from onduty.handlers.events import poster
from onduty.handlers.runtime import Runtime
from onduty.services.deadlines import Deadlines
from onduty.services.escalation import OPEN_STATES, Deliveries, Escalation, Metrics, PolicyEntry


@dataclass
class Machinery:
    deadlines: Deadlines
    deliveries: Deliveries
    service: Escalation
    transport: HttpTransport
    global_namespace: str
    # Started by the first watch event, not at startup: tasks inherit the context they are
    # created in, and Kopf's Event posting is set up only in its watchers' context.
    task: asyncio.Task[None] | None = None
    # The incidents seen in watch events, by namespace: a policy written after its
    # incidents (or at startup, after their first events) looks at them again.
    known: dict[str, set[str]] = dataclasses.field(default_factory=dict)

    def incident_event(self, namespace: str, name: str, *, deleted: bool, settled: bool = False) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self.deadlines.run(), name="escalation deadlines")
        if deleted or settled:
            # Gone, or resolved with everything told: nothing will happen to it again.
            self.known.get(namespace, set()).discard(name)
            self.deadlines.forget((namespace, name))
            return
        self.known.setdefault(namespace, set()).add(name)
        self.deadlines.poke((namespace, name))

    def policy_changed(self, namespace: str) -> None:
        """A policy in ``namespace`` changed: its incidents (all, for the cluster default) look again."""
        scopes = list(self.known) if namespace == self.global_namespace else [namespace]
        for scope in scopes:
            for name in self.known.get(scope, ()):
                self.deadlines.poke((scope, name))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.deliveries.close()
        await self.transport.close()


def start(runtime: Runtime, policies: dict[str, dict[str, PolicyEntry]]) -> Machinery:
    """Build the escalation machinery of one operator; ``policies`` is kept current by the policy handlers."""
    config = runtime.config
    transport = HttpTransport(config.notifier_allowed_networks)
    metrics = Metrics(runtime.metrics)
    deliveries = Deliveries(
        runtime.cluster,
        transport,
        post=poster(runtime),
        metrics=metrics,
        prometheus_url=config.prometheus_url or "",
        ready=runtime.standby.wait_active,
    )

    def in_namespace(namespace: str) -> list[PolicyEntry]:
        return list(policies.get(namespace, {}).values())

    service = Escalation(
        runtime.cluster,
        global_namespace=config.global_namespace,
        policies=in_namespace,
        deliveries=deliveries,
        post=poster(runtime),
        metrics=metrics,
    )

    async def work(key: tuple[str, str]) -> datetime | None:
        # A standby replica keeps its deadlines and works them once it is the active one: the step reads
        # the incident afresh, so a deadline that passed meanwhile fires then (Kopf re-lists on resuming too).
        await runtime.standby.wait_active()
        return await service.step(*key)

    deadlines = Deadlines(work)
    return Machinery(deadlines, deliveries, service, transport, config.global_namespace)


def settled(incident: Mapping[str, Any]) -> bool:
    """Resolved, escalation closed (or never begun) and no message still to send: no need to look again.

    A restarted operator receives a watch event for every incident; this spares
    it a read of each resolved one.
    """
    status = incident.get("status") or {}
    if status.get("phase") != "Resolved":
        return False
    state = (status.get("escalation") or {}).get("state")
    if state not in (None, "Resolved"):
        return False
    return not any(n.get("state") in OPEN_STATES for n in status.get("notifications") or [])


def policy_entry(name: str, spec: Mapping[str, Any]) -> PolicyEntry:
    try:
        return name, escalation.parse_policy(spec)
    except InvalidEscalationPolicy as e:
        return name, e


def policy_acceptance(spec: Mapping[str, Any], status: Mapping[str, Any], generation: int) -> dict[str, Any]:
    """``status`` of an EscalationPolicy: Accepted (or why not) and the chain in one line."""
    now = datetime.now(UTC)
    out: dict[str, Any] = {"conditions": list(status.get("conditions") or [])}
    try:
        parsed = escalation.parse_policy(spec)
    except InvalidEscalationPolicy as e:
        timeline.set_condition(
            out, type_="Accepted", true=False, reason="InvalidPolicy", message=str(e), now=now, generation=generation
        )
        out["summary"] = "invalid"
    else:
        timeline.set_condition(
            out,
            type_="Accepted",
            true=True,
            reason="Valid",
            message="the policy is used for incidents it applies to",
            now=now,
            generation=generation,
        )
        out["summary"] = chain(parsed)
    out["observedGeneration"] = generation
    return out


def chain(policy: EscalationPolicySpec) -> str:
    parts = [f"{level.name or f'level {i + 1}'} {level.ack_timeout}" for i, level in enumerate(policy.levels)]
    return " → ".join(parts) + (f" (x{policy.repeat})" if policy.repeat > 1 else "")


def notifier_acceptance(
    cluster: Cluster, namespace: str, spec: Mapping[str, Any], status: Mapping[str, Any], generation: int
) -> dict[str, Any]:
    """``status`` of a Notifier: its settings and Secret keys checked (the values never shown)."""
    now = datetime.now(UTC)
    out: dict[str, Any] = {"conditions": list(status.get("conditions") or [])}
    try:
        parsed = parse_notifier(spec)
        try:
            values = read_secret(cluster, namespace, parsed.secret_ref.name)
        except NotFound as e:
            raise InvalidNotifier(
                f"the Secret {parsed.secret_ref.name} (spec.secretRef.name) does not exist in {namespace}"
            ) from e
        except ValueError as e:
            raise InvalidNotifier(f"the Secret {parsed.secret_ref.name}: {e}") from e
        channel_for(parsed, Credentials(values))
    except InvalidNotifier as e:
        timeline.set_condition(
            out, type_="Accepted", true=False, reason="InvalidNotifier", message=str(e), now=now, generation=generation
        )
    except KubeError as e:
        timeline.set_condition(
            out,
            type_="Accepted",
            true=False,
            reason="SecretUnreadable",
            message=f"the Secret cannot be read now: {e}",
            now=now,
            generation=generation,
        )
    else:
        timeline.set_condition(
            out,
            type_="Accepted",
            true=True,
            reason="Valid",
            message=f"{parsed.type} settings and Secret keys are complete",
            now=now,
            generation=generation,
        )
    out["observedGeneration"] = generation
    return out


# How often a schedule's status (who is on call now, the next handoff) is brought
# up to date: a minute late at a handoff is fine for a display; `onduty oncall`
# and escalation itself always compute it at the moment.
SCHEDULE_REFRESH_SECONDS = 60.0


def schedule_status(
    cluster: Cluster, namespace: str, spec: Mapping[str, Any], status: Mapping[str, Any], generation: int
) -> dict[str, Any]:
    """``status`` of an OnCallSchedule: Accepted, who is on call now, and the next handoff."""
    now = datetime.now(UTC)
    out: dict[str, Any] = {"conditions": list(status.get("conditions") or []), "observedGeneration": generation}
    try:
        parsed = oncall.parse_oncall_schedule(spec)
        ical = None
        if parsed.ical is not None:
            ref = parsed.ical.config_map_ref
            try:
                ical = read_configmap(cluster, namespace, ref.name).get(ref.key)
            except NotFound as e:
                raise oncall.OnCallError(f"spec.ical.configMapRef: ConfigMap {ref.name} does not exist") from e
            if ical is None:
                raise oncall.OnCallError(f"spec.ical.configMapRef: ConfigMap {ref.name} has no key {ref.key!r}")
        who = oncall.on_call(parsed, now, ical)
        handoff = who.until
        after = oncall.on_call(parsed, handoff, ical) if handoff else None
    except (oncall.OnCallError, ValueError) as e:
        timeline.set_condition(
            out, type_="Accepted", true=False, reason="InvalidSchedule", message=str(e), now=now, generation=generation
        )
        return out
    except KubeError as e:
        timeline.set_condition(
            out, type_="Accepted", true=False, reason="ICalUnreadable", message=str(e), now=now, generation=generation
        )
        return out
    timeline.set_condition(
        out, type_="Accepted", true=True, reason="Valid", message="the schedule is used", now=now, generation=generation
    )
    out["onCall"] = who.member
    out["onCallSource"] = who.source
    out["nextHandoff"] = rfc3339(handoff) if handoff else None
    out["nextOnCall"] = after.member if after else None
    return out
