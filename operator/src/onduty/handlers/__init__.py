"""Kopf handlers, all registered in one place on an explicit registry.

Each body is a guard plus one call into a module that does the work
(:mod:`.alerts`, :mod:`.remediation`, :mod:`.runbooks`). Nothing is registered
at import time: :func:`build_registry` returns a fresh registry, so tests and
the CLI each get their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import kopf

from onduty import GROUP, VERSION
from onduty.domain import columns, incidents
from onduty.domain.annotations import FINALIZER, KOPF_PREFIX, RESOLVE_ANNOTATION
from onduty.domain.policies import InvalidPolicy, Policy, parse_policy
from onduty.domain.runbooks import RunbookRef
from onduty.handlers import (
    alerts,
    controls,
    escalation,
    housekeeping,
    pauses,
    postmortem,
    refusals,
    remediation,
    retention,
    runbooks,
)
from onduty.handlers.runtime import Runtime
from onduty.services.escalation import PolicyEntry


def configure(settings: kopf.OperatorSettings) -> None:
    """Operator-wide Kopf settings."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    # Kopf's own Events (a handler that failed) come from onduty too; the timeline's
    # Events are onduty's own (handlers/events.py).
    settings.posting.reporting_component = "onduty"
    # The watch stream reconnects every 10 minutes at most, so a silently dead
    # connection (no bookmarks) is replaced before incidents wait on it long.
    settings.watching.server_timeout = 600
    settings.watching.client_timeout = 660
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 5
    # Kopf retries a failed request after 1, 1, 2, 3, 5, 8, 13 and 21 s: after an API server
    # outage of a minute or more, a watch came back up to 21 s after the API server did
    # (tests/integration/test_api_faults.py). Capped at 5 s, the same eight retries come
    # back within 5 s, and a few watches and writes every 5 s is no load to an API server.
    settings.networking.error_backoffs = (1, 1, 2, 3, 5, 5, 5, 5)


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _on_spec(
    registry: kopf.OperatorRegistry, plural: str, *, handler_id: str, field: str = "spec"
) -> Callable[[_Handler], _Handler]:
    """Register a handler as ``handler_id`` for each ``plural`` object: on resume, on create, on ``field`` changing.

    What accepting an object (or reconciling it) needs: it is seen once when
    the operator starts, once when it is created, and again on every edit
    that matters, under one id so Kopf keeps one record of progress for it.
    """

    def register(handler: _Handler) -> _Handler:
        kopf.on.update(GROUP, VERSION, plural, field=field, id=handler_id, registry=registry)(handler)
        kopf.on.create(GROUP, VERSION, plural, id=handler_id, registry=registry)(handler)
        kopf.on.resume(GROUP, VERSION, plural, id=handler_id, registry=registry)(handler)
        return handler

    return register


def _generation(meta: kopf.Meta) -> int:
    return int(meta.get("generation") or 0)


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


def _with_the_operator(
    registry: kopf.OperatorRegistry, key: str, start: Callable[[Runtime], asyncio.Task[None] | _Stoppable]
) -> None:
    """``start(runtime)`` when the operator starts, kept in its memo under ``key``; stopped when it stops
    (a task cancelled, anything else by its ``stop()``). Started with Kopf's context, in its event loop."""

    async def started(memo: kopf.Memo, **_: Any) -> None:
        memo[key] = start(_runtime(memo))

    async def stopped(memo: kopf.Memo, **_: Any) -> None:
        running = memo.get(key)
        if isinstance(running, asyncio.Task):
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        elif running is not None:
            await running.stop()

    kopf.on.startup(id=f"start_{key}", registry=registry)(started)
    kopf.on.cleanup(id=f"stop_{key}", registry=registry)(stopped)


def _runtime(memo: Any) -> Runtime:
    runtime = memo.runtime
    assert isinstance(runtime, Runtime)
    return runtime


def _policy_changed(memo: Any, namespace: str) -> None:
    """Incidents a changed EscalationPolicy may apply to look again (in the event loop: handlers are async)."""
    machinery = memo.get("escalation")
    if isinstance(machinery, escalation.Machinery):
        machinery.policy_changed(namespace)


def _conditions_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    def shown(status: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in status.get("conditions") or []
        ]

    return shown(before) != shown(after)


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    # --- runbooks -----------------------------------------------------------------
    # Kopf names an index (and the handler kwarg) after the handler id; nested
    # functions need it explicitly.
    @kopf.index(GROUP, VERSION, "runbooks", id="runbooks_by_alertname", registry=registry)
    def runbooks_by_alertname(name: str, namespace: str | None, spec: kopf.Spec, **_: Any) -> dict[str, RunbookRef]:
        return runbooks.index_entries(name, namespace or "", dict(spec))

    @_on_spec(registry, "runbooks", handler_id="accept_runbook")
    def accept_runbook(
        body: kopf.Body,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        result = runbooks.acceptance(dict(spec), dict(status), _generation(meta))
        patch.status.update(result)
        refusals.report(_runtime(memo), body, status, result)

    # --- remediation policies -----------------------------------------------------
    @kopf.index(GROUP, VERSION, "remediationpolicies", id="policies", registry=registry)
    def policies_index(name: str, spec: kopf.Spec, **_: Any) -> dict[str, Policy | InvalidPolicy]:
        return runbooks.policy_entry(name, dict(spec))

    @_on_spec(registry, "remediationpolicies", handler_id="accept_policy")
    def accept_policy(
        body: kopf.Body,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        result = runbooks.acceptance(dict(spec), dict(status), _generation(meta), parse_policy)
        patch.status.update(result)
        patch.status["scope"] = columns.policy_scope(spec.get("scope"))  # the Scope column of kubectl get rpol
        refusals.report(_runtime(memo), body, status, result)

    # --- alerts -------------------------------------------------------------------
    # Recorded from their watch events, a group at a time (handlers/alerts.py): no Kopf change
    # handler, whose last-handled annotation would cost a write per Alert per change.
    _with_the_operator(registry, "alert_recorder", alerts.AlertRecorder)

    @kopf.on.event(GROUP, VERSION, "alerts", id="alert_event", registry=registry)
    async def alert_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        recorder = memo.get("alert_recorder")
        if isinstance(recorder, alerts.AlertRecorder):
            recorder.alert_event(event.get("type"), dict(event.get("object") or {}))

    # --- incidents ----------------------------------------------------------------
    def _unresolved(status: kopf.Status, **_: Any) -> bool:
        return not incidents.is_resolved(dict(status))

    @kopf.daemon(
        GROUP, VERSION, "incidents", id="remediate", when=_unresolved, cancellation_timeout=10, registry=registry
    )
    async def remediate(
        name: str, namespace: str | None, memo: kopf.Memo, body: kopf.Body, stopped: kopf.DaemonStopped, **kwargs: Any
    ) -> None:
        assert namespace is not None  # incidents are namespaced
        index: kopf.Index[str, RunbookRef] = kwargs["runbooks_by_alertname"]

        policy_index: kopf.Index[str, Policy | InvalidPolicy] = kwargs["policies"]

        def candidates(alertname: str) -> list[RunbookRef]:
            return list(index.get(alertname, []))

        def in_force() -> list[Policy | InvalidPolicy]:
            return list(policy_index.get("all", []))

        await remediation.remediate(_runtime(memo), namespace, name, candidates, in_force)
        # Automation is done; a responder's retry or run-for-real reopens a step (until the incident resolves).
        while await controls.wait_for_request(_runtime(memo), namespace, name, body, stopped):
            await remediation.remediate(_runtime(memo), namespace, name, candidates, in_force)

    # A responder resolves the incident by hand (onduty resolve): automation or not, it resolves.
    async def resolve_by_hand(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        assert namespace is not None
        await controls.resolve(_runtime(memo), namespace, name)

    asked = {RESOLVE_ANNOTATION: kopf.PRESENT}
    for on in (kopf.on.resume, kopf.on.create, kopf.on.update):
        on(GROUP, VERSION, "incidents", id="resolve_by_hand", annotations=asked, when=_unresolved, registry=registry)(
            resolve_by_hand
        )

    # What waiting steps wait for (services/wakeups.py): a change of their incident (incident_event,
    # below), of a namespace (its pause annotation), of a RemediationPolicy's spec. Seen in watch
    # events; nothing is read.
    # Async, so they run in the event loop with the waiters (Kopf runs sync handlers in threads).
    @kopf.on.event("", "v1", "namespaces", id="wake_namespace", registry=registry)
    async def wake_namespace(event: kopf.RawEvent, name: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
        _runtime(memo).wakeups.namespace_event(name, meta, deleted=event.get("type") == "DELETED")

    @kopf.on.event(GROUP, VERSION, "remediationpolicies", id="wake_policy", registry=registry)
    async def wake_policy(event: kopf.RawEvent, name: str, meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
        deleted = event.get("type") == "DELETED"
        _runtime(memo).wakeups.policy_event(name, _generation(meta), deleted=deleted)

    # --- retention and background work ---------------------------------------------
    # Resolved Alerts and Incidents go after --alert-retention / --incident-retention:
    # one sweep runs with the operator (handlers/retention.py says why not a daemon per object).
    _with_the_operator(
        registry, "retention_sweep", lambda runtime: asyncio.create_task(retention.sweep_forever(runtime))
    )

    # Whether this replica may act, for onduty's own background work (Kopf pauses only its handlers):
    # followed from the peering object while the operator runs (services/peering.py).
    _with_the_operator(
        registry, "peering_follower", lambda runtime: asyncio.create_task(runtime.standby.follow(runtime.cluster))
    )

    # Memory a burst freed goes back to the operating system (handlers/housekeeping.py).
    _with_the_operator(registry, "housekeeping", lambda _: asyncio.create_task(housekeeping.trim_forever()))

    # --- escalation and notification ----------------------------------------------
    # One work queue for every incident, fed by watch events and by the deadlines
    # escalation asks for (handlers/escalation.py says why not a daemon per incident).
    # Policies are kept in memory as they are written, by namespace.
    escalation_policies: dict[str, dict[str, PolicyEntry]] = {}

    @_on_spec(registry, "escalationpolicies", handler_id="accept_escalation_policy")
    async def accept_escalation_policy(
        body: kopf.Body,
        name: str,
        namespace: str | None,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        assert namespace is not None
        escalation_policies.setdefault(namespace, {})[name] = escalation.policy_entry(name, dict(spec))
        accepted = escalation.policy_acceptance(dict(spec), dict(status), _generation(meta))
        patch.status.update(accepted)
        refusals.report(_runtime(memo), body, status, accepted)
        _policy_changed(memo, namespace)

    @kopf.on.delete(
        GROUP, VERSION, "escalationpolicies", id="forget_escalation_policy", optional=True, registry=registry
    )
    async def forget_escalation_policy(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        escalation_policies.get(namespace or "", {}).pop(name, None)
        _policy_changed(memo, namespace or "")

    @_on_spec(registry, "notifiers", handler_id="accept_notifier")
    async def accept_notifier(
        body: kopf.Body,
        namespace: str | None,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        assert namespace is not None
        cluster = _runtime(memo).cluster
        result = await asyncio.to_thread(
            escalation.notifier_acceptance, cluster, namespace, dict(spec), dict(status), _generation(meta)
        )
        patch.status.update(result)
        refusals.report(_runtime(memo), body, status, result)

    # A schedule's status says who is on call now; a timer keeps it current (handoffs happen
    # without anyone writing the object). Written only when it changed.
    @_on_spec(registry, "oncallschedules", handler_id="accept_schedule")
    @kopf.timer(
        GROUP,
        VERSION,
        "oncallschedules",
        id="refresh_schedule",
        interval=escalation.SCHEDULE_REFRESH_SECONDS,
        registry=registry,
    )
    async def schedule_status(
        body: kopf.Body,
        namespace: str | None,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        memo: kopf.Memo,
        **_: Any,
    ) -> None:
        assert namespace is not None
        current = dict(status)
        result = await asyncio.to_thread(
            escalation.schedule_status, _runtime(memo).cluster, namespace, dict(spec), current, _generation(meta)
        )
        changed = {k: v for k, v in result.items() if k != "conditions" and current.get(k) != v}
        if changed or _conditions_changed(current, result):
            patch.status.update(result)
        refusals.report(_runtime(memo), body, current, result)

    _with_the_operator(registry, "escalation", lambda runtime: escalation.start(runtime, escalation_policies))

    # Every watch event of an incident, in one handler (one Kopf handler run and log line per event, not
    # five): what waits on it wakes (services/wakeups.py), escalation looks at it, onduty's metrics count it
    # (services/metrics.py), a human's pause or resume leaves a timeline entry and an Event, and a resolved
    # incident's post-mortem draft is written once nothing about it is still being sent.
    @kopf.on.event(GROUP, VERSION, "incidents", id="incident_event", registry=registry)
    async def incident_event(event: kopf.RawEvent, name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
        runtime = _runtime(memo)
        obj = event.get("object") or {}
        deleted = event.get("type") == "DELETED"
        runtime.observed.incident_event(event.get("type"), obj)
        if namespace is None:
            return
        runtime.wakeups.incident_event(namespace, name, deleted=deleted)
        machinery = memo.get("escalation")
        if isinstance(machinery, escalation.Machinery):
            machinery.incident_event(namespace, name, deleted=deleted, settled=escalation.settled(obj))
        if deleted:
            return
        try:
            await pauses.incident_seen(runtime, dict(obj))
        finally:  # a failed pause record does not keep the draft from being written
            await postmortem.write_if_due(runtime, namespace, name, dict(obj))

    return registry
