"""Escalation and notification of one incident: read → plan → record (fenced) → deliver.

:meth:`Escalation.step` is what the work queue (:mod:`.deadlines`) runs for an
incident whenever it changes (a watch event) or a deadline it asked for
comes: it reads the incident, picks the EscalationPolicy that applies, asks
who is on call, lets :func:`onduty.domain.escalation.plan` decide, and
writes the new state and one ``Pending`` record per notice and notifier —
with the resourceVersion it read, so a second writer (another replica, a
stale operator) loses the race instead of paging again. Only after that
write do deliveries start (:class:`Deliveries`), each on its notifier's own
queue, so a slow or failing vendor holds up nobody else: not remediation,
not escalation timing, not other channels.

A delivery is recorded ``Sending`` before the request leaves. A restarted
operator that finds a ``Sending`` record does not know whether the vendor got
it; it marks it ``Unknown`` and sends it once more (the vendor's dedup key —
PagerDuty's ``dedup_key``, Opsgenie's alias, the webhook's delivery id —
absorbs a repeat); one found ``Unknown`` is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from onduty.adapters.kube import Cluster, KubeError, NotFound
from onduty.adapters.notifiers import Delivered, Transport, deliver, read_configmap, read_secret
from onduty.domain import escalation, oncall, timeline
from onduty.domain.escalation import EscalationPolicySpec, InvalidEscalationPolicy, Plan, Send, State
from onduty.domain.notify import view as views
from onduty.domain.notify.channel import Credentials, Kind, Notice, Outcome
from onduty.domain.notify.notifiers import PAGERS, InvalidNotifier, NotifierSpec, channel_for, parse_notifier
from onduty.domain.timeline import Entry
from onduty.domain.times import rfc3339

log = logging.getLogger(__name__)

PolicyEntry = tuple[str, EscalationPolicySpec | InvalidEscalationPolicy]  # (name, parsed policy or why not)
Post = Callable[[dict[str, Any], Sequence[Entry]], None]
Now = Callable[[], datetime]

# status.notifications keeps at most this many records: every open one, then the
# newest finished ones (the escalation state's `notified` keys, not this list,
# are what stops a notice from being sent twice).
NOTIFICATIONS_LIMIT = 200
OPEN_STATES = ("Pending", "Sending", "Unknown")
# A delivery that failed on the API server's side (not the vendor's) is tried again this
# many times, after 5 s, 10 s, 20 s, ... (jittered): never a tight loop.
RETRY_JOB_TIMES = 5
RETRY_JOB_BASE = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True)
class Job:
    namespace: str  # the incident's
    name: str
    key: str  # the record's key
    notifier: str  # namespace/name of the Notifier


class Metrics:
    """What escalation and delivery count, for dashboards and onduty's own alerts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "onduty_notifications",
            "Messages onduty finished sending (or gave up on), by channel type, notice kind and outcome.",
            ["type", "kind", "outcome"],
            registry=registry,
        )
        self.pages = Counter(
            "onduty_escalation_pages",
            "Escalation levels paged (or notified), by level (0 = the first) and whether it was late.",
            ["level", "late"],
            registry=registry,
        )
        self.steps = Counter(
            "onduty_escalation_steps",
            "Escalation steps recorded, by what happened (EscalationStarted, Escalated, Acknowledged, ...).",
            ["reason"],
            registry=registry,
        )


class Escalation:
    """The escalation use case for every incident (one instance per operator)."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        global_namespace: str,
        policies: Callable[[str], Iterable[PolicyEntry]],
        deliveries: Deliveries,
        post: Post,
        metrics: Metrics,
        now: Now = _now,
    ) -> None:
        self.cluster = cluster
        self.metrics = metrics
        self.global_namespace = global_namespace
        self.policies = policies
        self.deliveries = deliveries
        self.post = post
        self.now = now

    # -- which policy -------------------------------------------------------------------
    def policy_for(self, incident: Mapping[str, Any]) -> tuple[str, EscalationPolicySpec | None, list[str]]:
        """``(namespace/name, policy, problems)``: the runbook's, the namespace default, the cluster default."""
        namespace = str(incident["metadata"]["namespace"])
        runbook = (incident.get("status") or {}).get("runbook") or {}
        problems: list[str] = []
        named = runbook.get("escalationPolicy")
        if named:
            where = str(runbook.get("namespace") or namespace)
            for name, parsed in self.policies(where):
                if name == named:
                    if isinstance(parsed, InvalidEscalationPolicy):
                        problems.append(f"the runbook's EscalationPolicy {where}/{name} is invalid: {parsed}")
                        break
                    return f"{where}/{name}", parsed, problems
            else:
                problems.append(f"the runbook names EscalationPolicy {where}/{named}, which does not exist")
        for where in dict.fromkeys((namespace, self.global_namespace)):
            for name, parsed in sorted(self.policies(where), key=lambda entry: entry[0]):
                if isinstance(parsed, InvalidEscalationPolicy):
                    continue
                if parsed.default:
                    return f"{where}/{name}", parsed, problems
        return "", None, problems

    # -- one step ---------------------------------------------------------------------------
    async def step(self, namespace: str, name: str) -> datetime | None:
        try:
            incident = await asyncio.to_thread(self.cluster.get, "incidents", namespace, name)
        except NotFound:
            return None
        key, policy, problems = self.policy_for(incident)
        if policy is None:
            await self._no_policy(namespace, name, incident, problems)
            return None
        policy_namespace = key.split("/", 1)[0]
        on_call = await self._on_call(policy_namespace, policy)
        now = self.now()

        def mutate(status: dict[str, Any], obj: dict[str, Any]) -> Plan:
            current = dict(obj, status=status)
            facts = escalation.facts_from_incident(current, on_call)
            state = State.from_status(status.get("escalation"))
            p = escalation.plan(policy, key, facts, state, now)
            if not p.changed and state.to_status() == p.state.to_status():
                return p
            record = p.state.to_status()
            record["summary"] = summary(policy, p.state)
            for problem in problems:
                record["error"] = problem
            status["escalation"] = record
            if p.state.acknowledged_at is not None:
                status["acknowledgedAt"] = rfc3339(p.state.acknowledged_at)
            elif "acknowledgedAt" in status and p.state.state != "Resolved":
                del status["acknowledgedAt"]
            for entry in p.entries:
                timeline.append(status, entry, now)
            public = facts.severity in policy.public_severities
            add_records(status, _records(p.sends, policy_namespace, public, now))
            return p

        # Most watch events change nothing for escalation: judge on what was just read, and only
        # read-modify-write (with its own read, fenced by the resourceVersion) when something changes.
        current = incident.get("status") or {}
        draft = copy.deepcopy(current)
        judged = mutate(draft, incident)
        if draft == current:
            self._deliver_open(incident)
            return judged.wake_at
        obj, p = await asyncio.to_thread(self.cluster.update_status, "incidents", namespace, name, mutate)
        self.post(obj, list(p.entries))
        for entry in p.entries:
            self.metrics.steps.labels(reason=entry.reason).inc()
            if entry.reason == "Escalated":
                level = p.state.level
                self.metrics.pages.labels(level=str(level), late=str("late" in entry.message).lower()).inc()
        self._deliver_open(obj)
        return p.wake_at

    async def _no_policy(self, namespace: str, name: str, incident: Mapping[str, Any], problems: list[str]) -> None:
        """Say once, loudly, that nobody will be paged — only when someone should have been."""
        status = incident.get("status") or {}
        if (status.get("escalation") or {}).get("error") or status.get("phase") == "Resolved":
            return
        if escalation.facts_from_incident(incident).gave_up == "":
            return
        why = "; ".join(problems) or (
            f"no EscalationPolicy applies (none named by the runbook, no default in {namespace} or "
            f"{self.global_namespace})"
        )
        entry = Entry("NoEscalationPolicy", f"nobody is paged for this incident: {why}", "Warning")
        now = self.now()

        def mutate(s: dict[str, Any], _: dict[str, Any]) -> None:
            if (s.get("escalation") or {}).get("error"):
                return
            s["escalation"] = {
                **(s.get("escalation") or {}),
                "state": "Waiting",
                "error": why,
                "summary": "nobody paged",
            }
            timeline.append(s, entry, now)

        obj, _ = await asyncio.to_thread(self.cluster.update_status, "incidents", namespace, name, mutate)
        self.post(obj, [entry])

    async def _on_call(self, namespace: str, policy: EscalationPolicySpec) -> dict[str, tuple[str, ...]]:
        names = {s for level in policy.levels for s in level.schedules}
        names |= {s for rule in policy.severity_rules for s in rule.schedules}
        found: dict[str, tuple[str, ...]] = {}
        for name in sorted(names):
            found[name] = await asyncio.to_thread(self._who_is_on_call, namespace, name)
        return found

    def _who_is_on_call(self, namespace: str, name: str) -> tuple[str, ...]:
        try:
            obj = self.cluster.get("oncallschedules", namespace, name)
            spec = oncall.parse_oncall_schedule(obj.get("spec") or {})
            ical = None
            if spec.ical is not None:
                ical = read_configmap(self.cluster, namespace, spec.ical.config_map_ref.name).get(
                    spec.ical.config_map_ref.key
                )
            who = oncall.on_call(spec, self.now(), ical)
        except (KubeError, ValueError) as e:
            log.warning("OnCallSchedule %s/%s cannot say who is on call: %s", namespace, name, e)
            return ()
        return (who.member,) if who.member else ()

    def _deliver_open(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        for record in (obj.get("status") or {}).get("notifications") or []:
            if record.get("state") in OPEN_STATES:
                self.deliveries.enqueue(
                    Job(str(meta["namespace"]), str(meta["name"]), str(record["key"]), str(record["notifier"]))
                )


def summary(policy: EscalationPolicySpec, state: State) -> str:
    """One line for ``kubectl get incidents``."""
    if state.state == "Acknowledged":
        return f"acked by {state.acknowledged_by}"
    if state.state == "Escalating":
        level = policy.levels[state.level] if state.level < len(policy.levels) else None
        name = (level.name if level and level.name else f"level {state.level + 1}") if level else "?"
        return f"{name} {'paged' if level is None or level.page else 'notified'}"
    if state.state == "Waiting":
        return "waiting (automation first)"
    return state.state.lower()


def _records(sends: Sequence[Send], namespace: str, public: bool, now: datetime) -> list[dict[str, Any]]:
    records = []
    for send in sends:
        for notifier in send.notifiers:
            record: dict[str, Any] = {
                "key": f"{send.key}@{notifier}",
                "notifier": f"{namespace}/{notifier}",
                "kind": str(send.kind),
                "state": "Pending",
                "attempts": 0,
                "recordedAt": rfc3339(now),
                "message": send.message[:1024],
                "page": send.page,
                "public": public,
            }
            if send.level is not None:
                record["level"] = send.level
            if send.repeat:
                record["repeat"] = send.repeat
            if send.responders:
                record["responders"] = list(send.responders)
            records.append(record)
    return records


def add_records(status: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Append records (a key already there is not added again); keep the list bounded."""
    current = list(status.get("notifications") or [])
    known = {r.get("key") for r in current}
    current += [r for r in records if r["key"] not in known]
    overflow = len(current) - NOTIFICATIONS_LIMIT
    if overflow > 0:
        finished = [i for i, r in enumerate(current) if r.get("state") not in OPEN_STATES][:overflow]
        drop = set(finished)
        current = [r for i, r in enumerate(current) if i not in drop]
        status["notificationsDropped"] = int(status.get("notificationsDropped") or 0) + len(drop)
    status["notifications"] = current


def _record(status: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    return next((dict(r) for r in status.get("notifications") or [] if r.get("key") == key), None)


def _put(status: dict[str, Any], record: Mapping[str, Any]) -> None:
    status["notifications"] = [
        dict(record) if r.get("key") == record["key"] else r for r in status.get("notifications") or []
    ]


class Deliveries:
    """One queue and one worker per Notifier: a vendor that hangs or fails delays only its own messages."""

    def __init__(
        self,
        cluster: Cluster,
        transport: Transport,
        *,
        post: Post,
        metrics: Metrics,
        prometheus_url: str = "",
        now: Now = _now,
        deliver_fn: Callable[..., Any] = deliver,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.cluster = cluster
        # Awaited before each delivery: a standby replica (services/peering.py) sends nothing.
        self._ready = ready
        self.metrics = metrics
        self.transport = transport
        self.post = post
        self.prometheus_url = prometheus_url
        self.now = now
        self._deliver = deliver_fn
        self._queues: dict[str, asyncio.Queue[Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._queued: set[tuple[str, str, str]] = set()
        self._failures: dict[tuple[str, str, str], int] = {}

    def enqueue(self, job: Job) -> None:
        ident = (job.namespace, job.name, job.key)
        if ident in self._queued:
            return  # queued or in flight in this process: not again
        self._queued.add(ident)
        queue = self._queues.get(job.notifier)
        if queue is None:
            queue = self._queues[job.notifier] = asyncio.Queue()
            self._workers[job.notifier] = asyncio.create_task(self._work(queue), name=f"notifier {job.notifier}")
        queue.put_nowait(job)

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        for task in self._workers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._queues.clear()

    async def _work(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            ident = (job.namespace, job.name, job.key)
            try:
                if self._ready is not None:
                    await self._ready()
                await self._one(job)
            except asyncio.CancelledError:
                raise
            except NotFound:
                self._failures.pop(ident, None)  # the incident is gone: nothing to tell any more
            except Exception as e:
                # The API server failed us (the record stays Pending or Sending): try again later, calmly,
                # a few times; a restarted operator picks up whatever is still open.
                failures = self._failures.get(ident, 0) + 1
                self._failures[ident] = failures
                log.warning("delivery %s of %s/%s failed (%s), try %d", job.key, job.namespace, job.name, e, failures)
                if failures < RETRY_JOB_TIMES:
                    delay = random.uniform(0.5, 1.0) * min(60.0, RETRY_JOB_BASE * 2 ** (failures - 1))
                    asyncio.get_running_loop().call_later(delay, self._retry, job)
                else:
                    self._failures.pop(ident, None)
            else:
                self._failures.pop(ident, None)
            finally:
                self._queued.discard(ident)

    def _retry(self, job: Job) -> None:
        self.enqueue(job)

    async def _one(self, job: Job) -> None:
        notifier_namespace, notifier_name = job.notifier.split("/", 1)
        try:
            spec, credentials = await asyncio.to_thread(self._notifier, notifier_namespace, notifier_name)
            problem = ""
        except InvalidNotifier as e:
            spec, credentials, problem = None, None, str(e)
        except NotFound:
            spec, credentials, problem = None, None, f"Notifier {job.notifier} does not exist"
        now = self.now()

        def claim(status: dict[str, Any], _: dict[str, Any]) -> str:
            """Mark the record Sending (or finish it at once); return what to do."""
            record = _record(status, job.key)
            if record is None or record.get("state") not in OPEN_STATES:
                return "done"
            if problem or spec is None:
                record.update(state="Failed", reason=problem[:1024], finishedAt=rfc3339(now))
                _put(status, record)
                return "failed"
            if not spec.wants(Kind(str(record.get("kind")))):
                record.update(state="Skipped", reason=f"the Notifier's events leave out {record.get('kind')}")
                _put(status, record)
                return "skipped"
            if record.get("state") == "Unknown":
                record.update(
                    state="Failed",
                    reason=(
                        "the outcome of the last try is unknown (onduty stopped twice while sending); not sent again"
                    ),
                    finishedAt=rfc3339(now),
                )
                _put(status, record)
                return "failed"
            if record.get("state") == "Sending":
                # Left by an operator that stopped mid-send: once more, no more.
                record["state"] = "Unknown"
            else:
                record["state"] = "Sending"
            record["attempts"] = int(record.get("attempts") or 0) + 1
            _put(status, record)
            return "send"

        obj, what = await asyncio.to_thread(self.cluster.update_status, "incidents", job.namespace, job.name, claim)
        if what in ("failed", "skipped"):
            kind = str((_record(obj.get("status") or {}, job.key) or {}).get("kind") or "")
            outcome = "Failed" if what == "failed" else "Skipped"
            self.metrics.notifications.labels(type=spec.type if spec else "unknown", kind=kind, outcome=outcome).inc()
        if what == "failed":
            entry = Entry("NotificationFailed", f"{job.notifier}: {problem}", "Warning")
            self.post(obj, [entry])
            return
        if what != "send" or spec is None or credentials is None:
            return
        status = obj.get("status") or {}
        record = _record(status, job.key) or {}
        channel = channel_for(spec, credentials)
        notice = Notice(
            kind=Kind(str(record.get("kind"))),
            key=f"{obj['metadata'].get('uid')}/{job.key}",
            message=str(record.get("message") or ""),
            level=record.get("level") if isinstance(record.get("level"), int) else None,
            repeat=int(record.get("repeat") or 0),
            responders=tuple(str(r) for r in record.get("responders") or ()),
            page=bool(record.get("page", True)),
            at=self.now(),
        )
        view = views.build(obj, public=bool(record.get("public")), prometheus_url=self.prometheus_url)
        refs = dict((status.get("notifierRefs") or {}).get(job.notifier) or {})
        result: Delivered = await self._deliver(channel, notice, view, refs, self.transport)
        done = self.now()

        def finish(s: dict[str, Any], _: dict[str, Any]) -> list[Entry]:
            current = _record(s, job.key)
            if current is None:
                return []
            state = "Delivered" if result.outcome == Outcome.DELIVERED else "Failed"
            current.update(state=state, finishedAt=rfc3339(done), attempts=int(current.get("attempts") or 0))
            current["reason"] = result.reason[:1024] if result.reason else ""
            if not current["reason"]:
                current.pop("reason")
            current["tries"] = result.attempts
            _put(s, current)
            if result.refs:
                all_refs = dict(s.get("notifierRefs") or {})
                all_refs[job.notifier] = {**(all_refs.get(job.notifier) or {}), **result.refs}
                s["notifierRefs"] = all_refs
            entries = []
            if state == "Failed":
                entries.append(
                    Entry(
                        "NotificationFailed", f"{spec.type} {job.notifier} ({notice.kind}): {result.reason}", "Warning"
                    )
                )
            elif notice.kind in (Kind.PAGE, Kind.RESOLVED, Kind.ACKNOWLEDGED) and spec.type in PAGERS | {"slack"}:
                entries.append(Entry("NotificationSent", f"{spec.type} {job.notifier}: {notice.kind} sent"))
            for entry in entries:
                timeline.append(s, entry, done)
            return entries

        obj, entries = await asyncio.to_thread(self.cluster.update_status, "incidents", job.namespace, job.name, finish)
        self.post(obj, entries)
        outcome = "Delivered" if result.outcome == Outcome.DELIVERED else "Failed"
        self.metrics.notifications.labels(type=spec.type, kind=str(notice.kind), outcome=outcome).inc()

    def _notifier(self, namespace: str, name: str) -> tuple[NotifierSpec, Credentials]:
        obj = self.cluster.get("notifiers", namespace, name)
        spec = parse_notifier(obj.get("spec") or {})
        try:
            credentials = Credentials(read_secret(self.cluster, namespace, spec.secret_ref.name))
        except NotFound as e:
            raise InvalidNotifier(
                f"the Secret {spec.secret_ref.name} (spec.secretRef.name) does not exist in {namespace}"
            ) from e
        except ValueError as e:
            raise InvalidNotifier(f"the Secret {spec.secret_ref.name}: {e}") from e
        channel_for(spec, credentials)  # settings and keys checked before anything is claimed
        return spec, credentials
