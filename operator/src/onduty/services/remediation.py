"""The core use case: drive one incident from triage to the end of its runbook.

Triage matches a runbook and gathers its diagnostics; then, for each step,
the loop of :meth:`IncidentWorker._decide_and_apply` reads as the safety model:

* **gather** every fact the step is judged on, once (:meth:`IncidentWorker._facts`);
* **decide**: every guardrail's verdict and the policies' decision, one pure
  function (:func:`onduty.domain.steps.decide`);
* **record** the action (its id and verdicts) in the incident *before* acting;
* **act** through the action's executor (:mod:`onduty.services.actions`);
* **record** the result, then **verify** it (:meth:`IncidentWorker._verify`).

The action id is also written on what the action changes, so an operator that
crashed between acting and recording finds the action applied and does not
apply it again.

The Kopf daemon of each unresolved incident (:mod:`onduty.handlers.remediation`)
runs :meth:`IncidentWorker.run`, which returns when the incident needs nothing
more from automation, and turns the API server's errors into Kopf's. API calls
run in worker threads; waits are plain ``asyncio.sleep`` so Kopf can cancel them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from onduty.adapters.alertmanager import Alertmanager, AlertmanagerUnavailable
from onduty.adapters.kube import ApiRejected, Cluster, Conflict, KubeError, NotFound
from onduty.adapters.prometheus import Prometheus, PrometheusUnavailable
from onduty.domain import (
    approvals,
    controls,
    guardrails,
    holds,
    incidents,
    policies,
    promql,
    promql_scope,
    runbook_rendering,
    steps,
    targets,
    templates,
    timeline,
    trust,
)
from onduty.domain.actions import records
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Held, Refused
from onduty.domain.annotations import is_paused
from onduty.domain.durations import parse_duration
from onduty.domain.rollouts import RolloutState, rollout_state
from onduty.domain.runbooks import MetricCheck, RunbookRef, RunbookSpec, Selection, explain_selection
from onduty.domain.severity import normalise
from onduty.domain.timeline import Entry
from onduty.domain.times import require_time, rfc3339
from onduty.domain.workloads import Workload
from onduty.services import actions, crashpoints, wakeups
from onduty.services.diagnostics import Emit, gather
from onduty.services.ports import Runtime

log = logging.getLogger(__name__)

# How long the worker waits for the alert handler to open an alert-made incident
# before opening it itself; the handler's write normally lands within milliseconds.
OPEN_WAIT_SECONDS = 10.0
# The ValidatingAdmissionPolicy (and its binding, of the same name) that makes
# the API server refuse an approval by anyone without the `approve` verb, or
# one that names someone else: without it an approver is self-declared.
APPROVAL_ADMISSION_POLICY = "onduty-approval"
# How far past a hold's deadline the worker looks again: times are recorded to the
# second, and a look a moment early would only find the hold still on.
HOLD_MARGIN_SECONDS = 0.2
# The least time between two judgements of a waiting step (see IncidentWorker.run).
MIN_LOOK_SECONDS = 1.0

Mutation = Callable[[dict[str, Any], dict[str, Any]], list[Entry]]


class IncidentWorker:
    """Remediation of one incident. Stateless between runs: all state is in the API server."""

    def __init__(
        self,
        runtime: Runtime,
        namespace: str,
        name: str,
        runbooks: Callable[[str], Iterable[RunbookRef]],
        policies_in_force: Callable[[], list[policies.Policy | policies.InvalidPolicy]] = list,
        *,
        emit: Emit,
    ) -> None:
        self.runtime = runtime
        self._emit = emit  # timeline entries as Events (the handler passes Kopf's)
        self.cluster: Cluster = runtime.cluster
        self.namespace = namespace
        self.name = name
        self.runbooks = runbooks
        self.policies_in_force = policies_in_force
        # A runbook in onduty's own namespace is the platform owners': its PromQL is not confined.
        self._platform_runbook = False
        self._holds_reported: set[str] = set()
        config = runtime.config
        self._prometheus = Prometheus(config.prometheus_url) if config.prometheus_url else None
        self._alertmanager = Alertmanager(config.alertmanager_url) if config.alertmanager_url else None
        self._spec: RunbookSpec | None = None
        self._topics = (
            wakeups.incident(namespace, name),
            *(wakeups.namespace(n) for n in dict.fromkeys((namespace, config.global_namespace))),
            wakeups.POLICIES,
            wakeups.ANY_INCIDENT,
        )
        self._mark: dict[wakeups.Topic, int] = self.runtime.wakeups.mark(self._topics)
        self._last: dict[str, Any] | None = None  # the incident as last read or written
        self._written: dict[wakeups.Topic, int] | None = None  # the mark taken before the last write, if it was last
        # What the step waits for once it returns: until, the facts (a silence: Alertmanager is asked), reason.
        self._deferred: tuple[datetime | None, steps.StepFacts | None, str] | None = None

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _read(self) -> dict[str, Any]:
        """The incident, fresh from the API server; what a wait after this read waits for is marked first,
        so a change that lands between the read and the wait still ends the wait (services/wakeups.py)."""
        self._mark = self.runtime.wakeups.mark(self._topics)
        self._last = dict(await self._call(self.cluster.get, "incidents", self.namespace, self.name))
        self._written = None
        return self._last

    async def _current(self) -> dict[str, Any]:
        """The incident as this worker's own last write returned it, if that is the last thing it did to it
        (marked before that write, so a change since still ends a wait); else :meth:`_read`. Saves the read
        between one step's outcome and the next step."""
        if self._written is not None and self._last is not None:
            self._mark, self._written = self._written, None
            return self._last
        return await self._read()

    async def _update(self, mutate: Mutation) -> dict[str, Any]:
        """Edit the incident's status; the object as last read or written saves a read (``known``)."""
        mark = self.runtime.wakeups.mark(self._topics)
        obj, entries = await self._call(
            self.cluster.update_status, "incidents", self.namespace, self.name, mutate, known=self._last
        )
        self._emit(obj, entries)
        self._last, self._written = dict(obj), mark
        return self._last

    async def _record_outcome(self, mutate: Mutation) -> dict[str, Any]:
        """Write a step's outcome and, if it was the last step, the conclusion, in one write."""

        def both(status: dict[str, Any], obj: dict[str, Any]) -> list[Entry]:
            entries = mutate(status, obj)
            if self._spec is not None and incidents.next_step(self._spec, status, obj["metadata"]["uid"]) is None:
                entries += incidents.conclude(status, now=_now())
            return entries

        return await self._update(both)

    async def give_up(self, error: ApiRejected) -> None:
        """The API server refused a request for good (a 4xx): the incident escalates with the error."""
        message = f"automation stopped: the API server refused a request for good: {error}"
        try:
            await self._update(
                lambda s, _: incidents.escalate(s, now=_now(), reason="AutomationFailed", message=message)
            )
        except KubeError as again:  # nothing more to do than say so
            log.error("incident %s/%s: %s (and recording it failed: %s)", self.namespace, self.name, message, again)

    async def run(self) -> None:
        obj = await self._read()
        status = obj.get("status") or {}
        if incidents.is_resolved(status):
            return
        if not status.get("openedAt") and obj["spec"].get("source") == "alertmanager":
            # The alert handler opens it with its first alert in the same breath; wait for that
            # (its write is a watch event) rather than race it (bounded: after a crash, open it here).
            deadline = asyncio.get_running_loop().time() + OPEN_WAIT_SECONDS
            while not (obj.get("status") or {}).get("openedAt") and asyncio.get_running_loop().time() < deadline:
                await self.runtime.wakeups.wait(self._own(), deadline - asyncio.get_running_loop().time())
                obj = await self._read()
        del status  # the worker may wait for hours: it keeps no old copy of the incident
        if not (obj.get("status") or {}).get("openedAt"):  # made by hand with kubectl
            try:
                workload = self._workload(obj)
            except trust.Untrusted:
                workload = None  # each step refuses it, with the reason, when it would act
            obj = await self._update(
                lambda s, o: incidents.open_incident(s, now=_now(), title=o["spec"]["title"], workload=workload)
            )
        if "runbook" not in (obj.get("status") or {}):
            selection = self._match(obj)
            obj = await self._update(
                lambda s, _: incidents.record_runbook(s, selection.chosen, now=_now(), why=selection.message())
            )
        ref = (obj.get("status") or {}).get("runbook") or {}
        if not ref:
            return
        runbook = next(
            (rb for rb in self._all_runbooks(obj) if rb.namespace == ref["namespace"] and rb.name == ref["name"]), None
        )
        if runbook is None:
            await self._update(
                lambda s, _: incidents.escalate(
                    s,
                    now=_now(),
                    reason="RunbookGone",
                    message=f"runbook {ref['namespace']}/{ref['name']} no longer exists or is invalid",
                )
            )
            return
        self._spec = runbook.spec
        self._platform_runbook = runbook.namespace == self.runtime.config.global_namespace
        # Context first (bounded in time; a failed diagnostic never blocks what follows).
        if runbook.spec.diagnostics and "diagnostics" not in (obj.get("status") or {}):
            grants = await self._grants(obj)
            await gather(
                self.runtime,
                obj,
                runbook.spec,
                emit=self._emit,
                grants=grants,
                confine_promql=self._confines_promql(grants),
            )
            self._written = None  # diagnostics wrote the incident: read it
        while True:
            obj = await self._current()
            if incidents.is_resolved(obj.get("status") or {}):
                return  # resolution closed a waiting step (and dropped its hold) with a record
            nxt = incidents.next_step(runbook.spec, obj.get("status") or {}, obj["metadata"]["uid"])
            if nxt is None:
                await self._update(
                    lambda s, _: (
                        incidents.conclude(s, now=_now())
                        if incidents.next_step(runbook.spec, s, obj["metadata"]["uid"]) is None
                        else []
                    )
                )
                return
            await self._step(obj, runbook.spec, nxt)
            del obj, nxt
            if self._deferred is not None:
                # The step waits (an approval, a hold): with what it was judged on dropped, so a thousand
                # waiting incidents hold a few small objects each, not their incidents and targets.
                (until, facts, reason), self._deferred = self._deferred, None
                self._last = self._written = None
                started = asyncio.get_running_loop().time()
                await self._wait(until, facts, reason)
                # A waiting step is judged again at most once a second, whatever wakes it: a judgement that
                # writes (and so wakes itself) can never become a tight loop against the API server.
                await asyncio.sleep(max(0.0, MIN_LOOK_SECONDS - (asyncio.get_running_loop().time() - started)))

    # --- triage -----------------------------------------------------------------------
    def _workload(self, obj: dict[str, Any]) -> Workload | None:
        """The incident's workload, in the incident's namespace; raises :class:`trust.Untrusted` otherwise."""
        return Workload.from_dict(obj["spec"].get("workload"), self.namespace)

    def _confines_promql(self, grants: trust.Grants) -> bool:
        return not (self._platform_runbook or grants.unconfined_promql)

    async def _grants(self, obj: dict[str, Any]) -> trust.Grants:
        """What the policies covering this incident's namespace and workload grant beyond the namespace."""
        namespace_labels = (await self._namespaces())[0]
        workload_labels: dict[str, str] = {}
        try:
            target = self._workload(obj)
            if target is not None:
                found = await self._call(self.cluster.get_workload, target.kind, target.namespace, target.name)
                workload_labels = dict(found["metadata"].get("labels") or {})
        except (trust.Untrusted, NotFound):
            pass
        state = policies.TargetState(
            namespace=self.namespace, namespace_labels=namespace_labels, workload_labels=workload_labels
        )
        return policies.grants(policies.in_scope(self.policies_in_force(), state))

    async def _namespaces(self) -> tuple[dict[str, str], bool, bool]:
        """The incident namespace's labels, and whether it, or onduty's own namespace, is paused."""
        namespace_labels: dict[str, str] = {}
        namespace_paused = cluster_paused = False
        for ns_name in dict.fromkeys((self.namespace, self.runtime.config.global_namespace)):
            # As the namespaces' watch last showed it (a pause is seen as soon as it is written); read if not seen.
            ns = self.runtime.wakeups.seen_namespace(ns_name)
            if ns is None:
                try:
                    ns = await self._call(self.cluster.get_namespace, ns_name)
                except NotFound:
                    continue
            paused = is_paused(ns)
            if ns_name == self.namespace:
                namespace_paused = paused
                namespace_labels = dict(ns["metadata"].get("labels") or {})
            if ns_name == self.runtime.config.global_namespace:
                cluster_paused = paused
        return namespace_labels, namespace_paused, cluster_paused

    def _all_runbooks(self, obj: dict[str, Any]) -> list[RunbookRef]:
        alertname = (obj["spec"].get("labels") or {}).get("alertname", "")
        return list(self.runbooks(alertname))

    def _match(self, obj: dict[str, Any]) -> Selection:
        labels = dict(obj["spec"].get("labels") or {})
        return explain_selection(
            self._all_runbooks(obj),
            labels=labels,
            severity=normalise(obj["spec"].get("severity")),
            namespace=self.namespace,
            global_namespace=self.runtime.config.global_namespace,
        )

    # --- one step -----------------------------------------------------------------------
    async def _step(self, obj: dict[str, Any], spec: RunbookSpec, nxt: incidents.NextStep) -> None:
        record = nxt.action
        try:  # the step's templates, rendered with this incident's values before anything reads the step
            nxt = replace(nxt, step=runbook_rendering.render_step(nxt.step, self._values(obj)))
        except trust.Untrusted as refusal:
            await self._refuse_untrusted(nxt, refusal)
            return
        # A request for approval that stands (a restarted or newly active operator finds it) is judged
        # again like a pending step: it runs once approved, expires, or keeps waiting; never verified unrun.
        if record is None or record.get("state") in ("Pending", "AwaitingApproval"):
            try:
                target = self._target(obj, nxt)
            except trust.Untrusted as refusal:
                await self._refuse_untrusted(nxt, refusal)
                return
            record = await self._decide_and_apply(obj, nxt, target, record)
            if record is None or record.get("state") != "Applied":
                return
        await self._verify(obj, nxt, record)

    def _values(self, obj: dict[str, Any]) -> templates.IncidentValues:
        """What the runbook's templates render for this incident: its own namespace, workload and labels."""
        return runbook_rendering.incident_values(obj, self.namespace)

    def _target(self, obj: dict[str, Any], nxt: incidents.NextStep) -> Workload | None:
        """The step's target (:func:`onduty.domain.targets.step_target`); raises :class:`trust.Untrusted`."""
        labels = obj["spec"].get("labels") or {}
        workload = self._workload(obj) if nxt.step.target is None else None
        return targets.step_target(nxt.step, workload, labels, self.namespace, self.runtime.config.global_namespace)

    async def _deny_untargeted(self, nxt: incidents.NextStep, verdict: guardrails.Verdict) -> None:
        """A step that has no target to act on (none named, or one refused): denied and recorded."""
        action = {
            "id": nxt.id,
            "step": nxt.step.name,
            "action": nxt.step.action,
            "target": {},
            "state": "Pending",
            "createdAt": rfc3339(_now()),
        }
        await self._record_outcome(lambda s, _: incidents.deny_action(s, dict(action), [verdict], now=_now()))

    async def _refuse_untrusted(self, nxt: incidents.NextStep, refusal: trust.Untrusted) -> None:
        """An input that would reach outside the incident's namespace, or no valid name: refused and recorded."""
        await self._deny_untargeted(nxt, guardrails.Verdict("Trust", False, refusal.reason, refusal.message))

    async def _decide_and_apply(
        self, obj: dict[str, Any], nxt: incidents.NextStep, target: Workload | None, record: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        if target is None:
            await self._deny_untargeted(
                nxt,
                guardrails.Verdict(
                    "Target", False, "NoTarget", "the incident names no workload and the step no target"
                ),
            )
            return None
        while True:
            try:
                workload = await self._call(self.cluster.get_workload, target.kind, target.namespace, target.name)
            except NotFound:
                workload = None
            executor = actions.EXECUTORS[nxt.step.action]
            if workload is not None and record is not None and record.get("startedAt"):
                ctx = self._context(obj, nxt, target, workload, None)
                try:
                    found = await self._call(executor.applied, self.cluster, ctx)
                except records.UnreadableState as error:
                    await self._refuse(record, [], Refused("GuardrailStateUnreadable", str(error)))
                    return None
                if found:
                    # Crashed after acting, before recording: the action happened. Do not repeat it. What
                    # verification and a revert need is in the workload's record of it.
                    try:
                        kept = records.details(records.last_record(workload, nxt.step.action))
                    except records.UnreadableState:
                        kept = {}  # the effect is there; only its details are lost
                    return await self._mark_applied(
                        nxt, record, "found applied after an operator restart (its action id is on the target)", kept
                    )
            # Everything the step is judged on is read here, once, outside the budget lock (a slow
            # Alertmanager must not queue other incidents); the judgement itself is one pure function.
            facts = await self._facts(obj, nxt, target, workload)
            verdicts, decision = steps.decide(facts)
            denial = holds.deciding(verdicts)
            base = dict(record or incidents.new_action(nxt, target, now=_now()))
            base["policies"] = list(decision.policies)
            claims = denial is None and not decision.dry_run and (record is None or not record.get("startedAt"))
            # The hold has passed: judged again, and it is said. A step that claims a share of a concurrency
            # budget is released only once the budget is counted (below): released here, it would be held
            # again at once, and each release and hold a write and a timeline entry.
            if base.get("held") and denial is None and not (claims and steps.needs_in_flight(facts)):
                await self._release(base)
            if denial is None and decision.needs_approval and not approvals.approved(base):
                answer = await self._approval(obj, base, verdicts, decision)
                if answer == "waiting":
                    denial = guardrails.Verdict("Approval", False, "AwaitingApproval", "waiting for a human")
                elif answer == "closed":
                    return None
            if denial is None and not decision.dry_run and (record is None or not record.get("startedAt")):
                async with self.runtime.budget_lock:  # judging the budget and claiming it are one step
                    if steps.needs_in_flight(facts):
                        cluster_wide, here = await self._call(self._in_flight, nxt.id)
                        facts = steps.with_in_flight(facts, cluster_wide=cluster_wide, here=here)
                        verdicts, decision = steps.decide(facts)
                        denial = holds.deciding(verdicts)
                    if denial is None:
                        if base.get("held"):
                            await self._release(base)
                        await self._update(lambda s, _: incidents.start_action(s, dict(base), verdicts, now=_now()))
                        crashpoints.reached("after-record")
            asking = base.get("state") == "AwaitingApproval"  # a request stands: it keeps waiting as it is
            if denial is not None and (
                denial.reason == "AwaitingApproval" or (asking and holds.kind(denial.reason) != "final")
            ):
                self._wait_for_approval(base, facts, denial)
            elif denial is not None and holds.kind(denial.reason) != "final":
                outcome = holds.hold(facts, denial, since=_held_since(base))
                if not isinstance(outcome, holds.Hold):
                    denial = outcome  # held too long: final, and it says so
                else:
                    await self._hold_step(base, outcome, verdicts, facts)
            if denial is not None and (denial.reason == "AwaitingApproval" or holds.kind(denial.reason) != "final"):
                return None  # it waits (self._deferred), then the step is judged again from the incident
            if denial is not None:
                decisive = holds.final(facts, denial)
                await self._record_outcome(
                    lambda s, _: incidents.deny_action(s, dict(base), verdicts, now=_now(), decisive=decisive)
                )
                return None
            assert workload is not None  # a missing target is a denial above
            ctx = self._context(obj, nxt, target, workload, decision)
            if decision.dry_run:
                try:
                    diff = (await self._call(executor.apply, self.cluster, ctx, dry_run=True)).diff
                except Conflict:
                    continue
                except Held as hold:
                    await self._hold(guardrails.Verdict("Action", False, hold.reason, hold.message))
                    continue
                except (Refused, trust.Untrusted) as refusal:
                    await self._refuse(base, verdicts, refusal)
                    return None
                why = (
                    "no RemediationPolicy covers the target"
                    if not decision.policies
                    else "a policy in scope says dryRun"
                )
                await self._record_outcome(
                    lambda s, _: incidents.dry_run_action(
                        s, {**base, **controls.basis(workload)}, verdicts, now=_now(), diff=diff, why=why
                    )
                )
                return None
            # The claim was just written (or, dry run aside, stood before): the object as written says it.
            record = incidents.find_action((self._last or {}).get("status") or {}, nxt.id)
            if record is None:
                record = incidents.find_action((await self._read()).get("status") or {}, nxt.id)
            assert record is not None
            # tests: die after the N-th write this action makes
            cluster = crashpoints.CountingWrites(self.cluster) if crashpoints.armed() else self.cluster
            try:
                applied = await self._call(executor.apply, cluster, ctx, dry_run=False)
            except Conflict:
                continue  # the target changed under us: look again (cooldown may now deny)
            except Held as hold:  # claimed, not acted: the claim stays while it waits
                await self._hold(guardrails.Verdict("Action", False, hold.reason, hold.message))
                obj = await self._read()
                record = incidents.find_action(obj.get("status") or {}, nxt.id)
                continue
            except (Refused, trust.Untrusted) as refusal:
                await self._refuse(record, verdicts, refusal)
                return None
            return await self._mark_applied(nxt, record, applied.message, applied.details)

    def _context(
        self,
        obj: dict[str, Any],
        nxt: incidents.NextStep,
        target: Workload,
        workload: dict[str, Any],
        decision: policies.Decision | None,
    ) -> Context:
        return Context(
            target=target,
            workload=workload,
            action_id=controls.attempt_id(nxt.id, nxt.action),  # a retried step is a new action
            step=nxt.step,
            incident=obj,
            limits=decision.blast_radius if decision else None,
            allow_suspend_automated_sync=bool(decision and decision.allow_suspend_automated_sync),
            now=_now(),
            grants=decision.grants if decision else trust.Grants(),
            limits_from=dict(decision.blast_radius_from) if decision else {},
            platform_runbook=self._platform_runbook,
        )

    async def _refuse(
        self, action: dict[str, Any], verdicts: list[guardrails.Verdict], refusal: Refused | trust.Untrusted
    ) -> None:
        """The action itself found it must not run (blast radius, an HPA, nothing to undo): a denial."""
        verdict = guardrails.Verdict("Action", False, refusal.reason, refusal.message)
        await self._record_outcome(
            lambda s, _: incidents.deny_action(s, dict(action), [*verdicts, verdict], now=_now())
        )

    async def _approval(
        self,
        obj: dict[str, Any],
        action: dict[str, Any],
        verdicts: list[guardrails.Verdict],
        decision: policies.Decision,
    ) -> str:
        """Ask for, or read, a human's decision: "approved", "waiting" or "closed" (rejected/expired)."""
        human = approvals.answer(obj, action)
        if (
            human.given
            and action.get("state") == "AwaitingApproval"
            and not decision.grants.approval_without_admission_policy
        ):
            unprotected = await self._call(self._approval_unprotected)
            if unprotected is not None:
                verdict = guardrails.Verdict("Approval", False, "ApprovalNotProtected", unprotected)
                await self._record_outcome(
                    lambda s, _: incidents.deny_action(s, dict(action), [*verdicts, verdict], now=_now())
                )
                return "closed"
        if human.rejected:
            await self._record_outcome(
                lambda s, _: incidents.decide_approval(s, dict(action), now=_now(), approved=False, by=human.by)
            )
            return "closed"
        if human.approved and action.get("state") == "AwaitingApproval":
            await self._update(
                lambda s, _: incidents.decide_approval(s, dict(action), now=_now(), approved=True, by=human.by)
            )
            action.update(
                incidents.find_action(
                    (await self._call(self.cluster.get, "incidents", self.namespace, self.name))["status"], action["id"]
                )
                or {}
            )
            return "approved"
        if action.get("state") != "AwaitingApproval":
            names = ", ".join(decision.policies)
            await self._update(
                lambda s, _: incidents.request_approval(
                    s, dict(action), verdicts, now=_now(), ttl=decision.approval_ttl, policies=names
                )
            )
            return "waiting"
        expires_at = (action.get("approval") or {}).get("expiresAt")
        expires = require_time(expires_at) if expires_at else None
        if expires is not None and _now() >= expires:
            await self._record_outcome(lambda s, _: incidents.expire_approval(s, dict(action), now=_now()))
            return "closed"
        return "waiting"

    def _approval_unprotected(self) -> str | None:
        """Why an approval annotation cannot be trusted here, or None when the admission policy guards it.

        Unreadable counts as missing: an approval onduty cannot trust is refused, never accepted.
        """
        for kind, plural in (
            ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"),
            ("ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings"),
        ):
            try:
                self.cluster.get_admission(plural, APPROVAL_ADMISSION_POLICY)
            except (NotFound, ApiRejected) as error:
                return (
                    f"approvals are refused: the {kind} {APPROVAL_ADMISSION_POLICY} is not installed or not readable"
                    f" ({error.status} {error.reason or 'error'}), so the API server does not check who approves;"
                    " install the chart's admission policies, or let a RemediationPolicy say"
                    " allowApprovalWithoutAdmissionPolicy"
                )
        return None

    async def _release(self, action: dict[str, Any]) -> None:
        """The step's hold has passed: say so on its action (and in the timeline)."""
        await self._update(lambda s, _: incidents.release_hold(s, dict(action), now=_now()))
        action.pop("held", None)

    async def _mark_applied(
        self, nxt: incidents.NextStep, record: dict[str, Any], message: str, details: dict[str, Any]
    ) -> dict[str, Any]:
        def mutate(s: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
            action = incidents.find_action(s, nxt.id) or dict(record)
            if details:
                action["details"] = details
            return incidents.applied_action(s, action, now=_now(), message=message)

        obj = await self._update(mutate)
        found = incidents.find_action(obj.get("status") or {}, nxt.id)
        assert found is not None
        return found

    async def _hold_step(
        self, action: dict[str, Any], hold: holds.Hold, verdicts: list[guardrails.Verdict], facts: steps.StepFacts
    ) -> None:
        """Record the hold on the step's action (written when its reason or end changes); the step then waits.

        The wait (:meth:`run`, then :meth:`_wait`) ends when the hold passes (:meth:`holds.Hold.next_look`),
        or at once when what the step is judged on changes where a watch shows it: a pause set or lifted,
        an edited policy, the incident resolved. A resolved incident's worker is cancelled mid-wait.
        """
        held = hold.to_dict()
        recorded = action.get("held") or {}
        if (recorded.get("reason"), recorded.get("until"), recorded.get("since")) != (
            held.get("reason"),
            held.get("until"),
            held.get("since"),
        ):
            await self._update(lambda s, _: incidents.hold_action(s, dict(action), held, verdicts, now=_now()))
        self._defer(hold.next_look(), facts, hold.reason)

    def _wait_for_approval(self, action: dict[str, Any], facts: steps.StepFacts, denial: guardrails.Verdict) -> None:
        """The step waits for a human's answer (an annotation: a watch event), the request's expiry, or — a
        request that also stands held — the hold's end."""
        expires_at = (action.get("approval") or {}).get("expiresAt")
        until = require_time(expires_at) if isinstance(expires_at, str) else None
        if denial.reason != "AwaitingApproval":
            outcome = holds.hold(facts, denial, since=_held_since(action))
            if isinstance(outcome, holds.Hold):  # (held too long: the request still stands until it expires)
                until = min(until, outcome.next_look()) if until is not None else outcome.next_look()
        self._defer(until, facts, denial.reason)

    def _defer(self, until: datetime | None, facts: steps.StepFacts, reason: str) -> None:
        """Wait once the step returns (:meth:`run`), keeping the facts only where the wait asks Alertmanager."""
        self._deferred = (until, facts if reason in holds.ALERTMANAGER_HOLDS else None, reason)

    def _own(self) -> dict[wakeups.Topic, int]:
        """The mark of the last read, on what a step waits for: its incident, the namespaces whose pause
        holds it, the policies in force."""
        return {topic: count for topic, count in self._mark.items() if topic != wakeups.ANY_INCIDENT}

    async def _wait(self, until: datetime | None, facts: steps.StepFacts | None, reason: str) -> None:
        """Until ``until`` (just past it: a guardrail that ends "at" a time allows from that instant on),
        or until a change seen since the last read of the incident.

        Nothing here asks the API server. What no watch shows is asked elsewhere: Alertmanager's silences
        every poll interval while one holds the step; a concurrency slot is any incident's change, looked at
        no more often than ``holds.RECHECK``.
        """
        own = self._own()
        loop = asyncio.get_running_loop()

        def left() -> float | None:
            if until is None:
                return None
            return max(0.0, (until - _now()).total_seconds()) + HOLD_MARGIN_SECONDS

        if reason in holds.ALERTMANAGER_HOLDS and facts is not None:
            while True:
                remaining = left()
                step = self.runtime.config.poll_seconds
                if await self.runtime.wakeups.wait(own, step if remaining is None else min(step, remaining)):
                    return
                if remaining is not None and remaining <= step:
                    return
                verdicts, _ = steps.decide(replace(facts, silence=await self._silences(), now=_now()))
                now_deciding = holds.deciding(verdicts)
                if now_deciding is None or now_deciding.reason != reason:
                    return
        if reason == "ConcurrencyLimited":
            started = loop.time()
            mark = {**own, wakeups.ANY_INCIDENT: self._mark.get(wakeups.ANY_INCIDENT, 0)}
            if not await self.runtime.wakeups.wait(mark, left()):
                return
            gap = holds.RECHECK.total_seconds() - (loop.time() - started)
            if gap > 0 and not self.runtime.wakeups.moved(own):
                await self.runtime.wakeups.wait(own, gap)
            return
        await self.runtime.wakeups.wait(own, left())

    async def _hold(self, denial: guardrails.Verdict) -> None:
        """Say (once per reason) that the step waits, then wait one poll interval (or a change)."""
        await self._report_hold(denial)
        await self.runtime.wakeups.wait(self._own(), self.runtime.config.poll_seconds)

    async def _report_hold(self, denial: guardrails.Verdict) -> None:
        """Say once per reason that automation is held (the wait itself is silent)."""
        if denial.reason in self._holds_reported:
            return
        self._holds_reported.add(denial.reason)
        reason = {"AutomationPaused": "AutomationPaused", "Silenced": "AutomationSilenced"}.get(
            denial.reason, denial.reason
        )

        def _mutate(s: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
            entry = Entry(reason, f"automation held: {denial.message}", "Warning")
            timeline.append(s, entry, _now())
            return [entry]

        await self._update(_mutate)

    async def _facts(
        self, obj: dict[str, Any], nxt: incidents.NextStep, target: Workload, workload: dict[str, Any] | None
    ) -> steps.StepFacts:
        """Everything one step is judged on, read once (the reads only: :func:`steps.decide` judges)."""
        # The guardrails are judged on the namespace actually touched: the target is always in the
        # incident's own namespace (trust.Boundary), so its labels, pause and policies are these.
        namespace_labels, namespace_paused, cluster_paused = await self._namespaces()
        recent: tuple[datetime, ...] = ()
        last_same: datetime | None = None
        unreadable: str | None = None
        if workload is not None:
            try:
                recent = tuple(records.history(workload))
                last_same = records.last_action_at(workload, nxt.step.action, controls.attempt_id(nxt.id, nxt.action))
            except records.UnreadableState as error:
                unreadable = str(error)
        state = policies.TargetState(
            namespace=self.namespace,
            namespace_labels=namespace_labels,
            workload_labels=dict(((workload or {}).get("metadata") or {}).get("labels") or {}),
            recent_actions=recent,
            last_same_action=last_same,
            workloads_touched_by_incident=incidents.workloads_touched(obj, target, nxt.id),
        )
        in_force = self.policies_in_force()
        condition = None
        if nxt.step.condition is not None:
            grants = policies.grants(policies.in_scope(in_force, state))
            condition = await self._condition(nxt.step.condition, grants)
        return steps.StepFacts(
            action=nxt.step.action,
            target=f"{target.kind}/{target.name}",
            target_found=workload is not None,
            now=_now(),
            cooldown=nxt.step.cooldown_period,
            labels={**(obj["spec"].get("labels") or {}), "namespace": self.namespace},
            incident_paused=is_paused(obj),
            namespace_paused=namespace_paused,
            cluster_paused=cluster_paused,
            unreadable_state=unreadable,
            silence=await self._silences(),
            condition=condition,
            in_force=in_force,
            target_state=state,
            for_real=controls.for_real(nxt.action),
            target_object=workload,
        )

    def _in_flight(self, action_id: str) -> tuple[int, int]:
        """Actions in flight cluster-wide and here, counted (``incidents.in_flight``) from the API server.

        The incidents' statuses are the record, so the count survives an
        operator restart; the caller holds the budget lock while it judges and
        claims, so two workers of this operator cannot both take the last slot.
        """
        watched = self.runtime.config.watch_namespaces
        # Cluster-wide, or (least-privilege install) the namespaces onduty may read, which hold all it acts on.
        listed = (
            [i for ns in dict.fromkeys(watched) for i in self.cluster.list("incidents", ns)]
            if watched
            else self.cluster.list("incidents")
        )
        return incidents.in_flight(listed, namespace=self.namespace, exclude=action_id)

    async def _silences(self) -> steps.SilenceFacts:
        if self._alertmanager is None:
            return steps.SilenceFacts(configured=False)
        try:
            return steps.SilenceFacts(tuple(await self._call(self._alertmanager.silences)))
        except AlertmanagerUnavailable as error:
            return steps.SilenceFacts(error=str(error))

    def _query(self, expr: str, grants: trust.Grants) -> str:
        """The PromQL to send: a namespaced runbook's is confined to the incident's namespace's series."""
        if not self._confines_promql(grants):
            return expr
        return promql_scope.confine(expr, self.namespace)

    async def _condition(self, condition: promql.Comparison, grants: trust.Grants) -> steps.ConditionFacts:
        if self._prometheus is None:
            return steps.ConditionFacts(condition, None, "no Prometheus configured (--prometheus-url)")
        try:
            values = await self._call(self._prometheus.vector, self._query(condition.expr, grants))
        except promql_scope.PromQLError as error:
            return steps.ConditionFacts(condition, None, f"the expression cannot be confined: {error}")
        except PrometheusUnavailable as error:
            return steps.ConditionFacts(condition, None, f"Prometheus unavailable: {error}")
        return steps.ConditionFacts(condition, tuple(values))

    async def _verify(self, obj: dict[str, Any], nxt: incidents.NextStep, record: dict[str, Any]) -> None:
        """The rollout (or the Job, the Node, the Argo sync) must be healthy in time; then, if asked,
        the metrics must recover in time. On failure, revert where the runbook asks for it."""
        crashpoints.reached("before-verify")
        executor = actions.EXECUTORS[nxt.step.action]
        target = record["target"]
        workload_ref = Workload(target["kind"], target["name"], target["namespace"])

        async def finish(ok: bool, reason: str, message: str) -> None:
            if not ok and nxt.step.revert_on_failure:
                message += await self._revert(obj, executor, nxt, workload_ref, record)
            await self._record_outcome(
                lambda s, _: incidents.finish_action(
                    s,
                    incidents.find_action(s, nxt.id) or dict(record),
                    now=_now(),
                    ok=ok,
                    reason=reason,
                    message=message,
                )
            )

        applied_at = require_time(record["appliedAt"]) if record.get("appliedAt") else _now()
        deadline = applied_at + nxt.step.verify.deadline
        if nxt.step.job is not None and nxt.step.action == "runJob":
            deadline = applied_at + timedelta(seconds=nxt.step.job.active_deadline_seconds + 30)
        while True:
            try:
                workload = await self._call(
                    self.cluster.get_workload, target["kind"], target["namespace"], target["name"]
                )
                ctx = self._context(
                    obj,
                    nxt,
                    workload_ref,
                    workload,
                    None,
                )
                state = await self._call(executor.progress, self.cluster, ctx, record)
                if state.done and not state.failed and executor.verifies_rollout:
                    rollout = rollout_state(target["kind"], workload)
                    shown = (
                        rollout.message
                        if isinstance(executor, actions.RolloutLike)
                        else f"{state.message}; {rollout.message}"
                    )
                    state = RolloutState(rollout.done, rollout.failed, shown)
            except NotFound:
                await finish(
                    False, "TargetNotFound", f"{target['kind']}/{target['name']} disappeared during verification"
                )
                return
            if state.failed:
                await finish(False, "VerificationFailed", state.message)
                return
            if state.done:
                break
            if _now() >= deadline:
                await finish(
                    False,
                    "VerificationTimeout",
                    f"not healthy within {nxt.step.verify.rollout_healthy_within}: {state.message}",
                )
                return
            await asyncio.sleep(self.runtime.config.poll_seconds)
        check = nxt.step.verify.promql
        if check is None:
            await finish(True, "RolloutHealthy" if executor.verifies_rollout else "Verified", state.message)
            return
        ok, message = await self._wait_for_metrics(check, await self._grants(obj))
        await finish(ok, "MetricsRecovered" if ok else "MetricsNotRecovered", f"{state.message}; {message}")

    async def _revert(
        self,
        obj: dict[str, Any],
        executor: actions.Executor,
        nxt: incidents.NextStep,
        target: Workload,
        record: dict[str, Any],
    ) -> str:
        try:
            workload = await self._call(self.cluster.get_workload, target.kind, target.namespace, target.name)
            ctx = self._context(obj, nxt, target, workload, None)
            done = await self._call(executor.revert, self.cluster, ctx, record)
        except KubeError as error:
            return f"; revert failed: {error}"
        return f"; reverted: {done}" if done else "; this action has no automatic revert"

    async def _wait_for_metrics(self, check: MetricCheck, grants: trust.Grants) -> tuple[bool, str]:
        if self._prometheus is None:
            return False, f"cannot verify {check}: no Prometheus configured (--prometheus-url)"
        try:
            query = self._query(check.expr, grants)
        except promql_scope.PromQLError as error:
            return False, f"cannot verify {check}: the expression cannot be confined: {error}"
        deadline = _now() + parse_duration(check.within)
        last = "no answer yet"
        while True:
            try:
                values = await self._call(self._prometheus.vector, query)
            except PrometheusUnavailable as error:
                last = f"Prometheus unavailable: {error}"
            else:
                shown = ", ".join(f"{v:.4g}" for v in values[:5]) or "no data"
                if promql.all_hold(check, values):
                    return True, f"{check.expr} = {shown}, {check.op} {check.threshold:g}"
                last = f"{check.expr} = {shown}, not yet {check.op} {check.threshold:g}"
            if _now() >= deadline:
                return False, f"metrics did not recover within {check.within}: {last}"
            await asyncio.sleep(self.runtime.config.poll_seconds)


def _now() -> datetime:
    return datetime.now(UTC)


def _held_since(action: dict[str, Any]) -> datetime | None:
    """When the step was first held, as its record says (the bound of every hold counts from there)."""
    since = (action.get("held") or {}).get("since")
    return require_time(since) if isinstance(since, str) else None
