"""``helm rollback`` without helm: through Helm's release Secrets and the Kubernetes API.

The decision is :func:`onduty.domain.helm.plan_rollback`; this module reads the
release Secrets (decoded by :func:`onduty.adapters.helm.decode_release`), applies
the target revision's manifest and writes the revisions in Helm's order::

    result = rollback(cluster, "shop", "checkout", to_revision=None, action_id="inc-42.rollback", dry_run=False)
    result.outcome      # "Applied" | "DryRun" | "AlreadyApplied" | "Refused" | "Failed"
    result.summary      # diff-like text: the revisions written, each object applied / deleted / kept
    result.verdict()    # for the incident's record

It reads the release from the namespace it is asked about and writes only
there. A release Secret is anyone's who may edit that namespace, so nothing in
it is taken on trust: before the first write (the dry run's too) every record
must name this release and namespace and every object to apply or delete must
be of a namespaced kind (API discovery), in that namespace, and either absent
or tied to this release by Helm's ownership annotations (``meta.helm.sh/
release-name``, ``meta.helm.sh/release-namespace``), which Helm 3.2+ sets on
every object it creates. Anything else refuses the whole rollback, with the
object and the reason (``ReleaseOutsideNamespace``, ``ReleaseNameMismatch``,
``ObjectOutsideNamespace``, ``ClusterScopedObject``, ``NotOwnedByRelease``),
and nothing is written, not even the pending revision: onduty's rights must
not reach past what the namespace's own editors could do.

Writes, in order (so a crash never leaves two revisions deployed):

1. the new revision's Secret, ``pending-rollback``, labelled ``onduty.dev/action-id``;
2. every object of the target manifest, server-side applied (field manager
   ``onduty``, conflicts forced: these are objects the chart renders), then the
   map keys the latest revision rendered and the target does not are removed
   (a merge patch of nulls: apply never removes another manager's fields);
   objects only the latest revision rendered are deleted (the very object
   checked: a uid precondition), except namespaces, PVCs, CRDs and
   ``helm.sh/resource-policy: keep`` (kept, and said so);
3. every deployed revision's Secret -> ``superseded``;
4. the new revision's Secret -> ``deployed``.

If the API server rejects an object in step 2, the revisions are recorded as
Helm records a failed rollback (the deployed one superseded, the new one
``failed``, ``Rollback "<release>" failed: ...``) and the outcome is
``Failed``. Anything transient (``ApiUnavailable``, a ``Conflict`` on a release
Secret) is raised with the new revision still ``pending-rollback``: calling
:func:`rollback` again with the same action id finishes it, and once it is
finished the same call answers ``AlreadyApplied`` and writes nothing.

``dry_run`` sends every write with ``dryRun=All`` (the API server validates
and admits each one, stores nothing) and says in ``summary`` what would change.

What Helm does and this does not: run pre-/post-rollback hooks (a chart with
them is refused), wait for resources, recreate objects (``--force``), and
remove list items that only the latest revision rendered inside lists that
are merged by key (an env var, a container): server-side apply keeps them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from onduty.adapters.helm import decode_release
from onduty.adapters.kube import ApiRejected, Cluster, Conflict, NotFound, segment
from onduty.domain import helm
from onduty.domain.annotations import ACTION_ID
from onduty.domain.guardrails import Verdict
from onduty.domain.helm import Refusal, RollbackPlan

log = logging.getLogger(__name__)

Outcome = Literal["Applied", "DryRun", "AlreadyApplied", "Refused", "Failed"]
FIELD_MANAGER = "onduty"


@dataclass(frozen=True)
class ObjectOutcome:
    """What the rollback did (or, dry run, would do) to one object."""

    action: Literal["apply", "delete", "keep"]
    object: str  # "ConfigMap shop/checkout-settings"
    detail: str  # "created" | "changed: data.message" | "unchanged" | "deleted" | "already gone" | why kept

    def line(self) -> str:
        if self.action == "keep":
            return f"! {self.object}: kept ({self.detail})"
        if self.action == "delete":
            return f"- {self.object}: {self.detail}"
        mark = "+" if self.detail == "created" else "=" if self.detail == "unchanged" else "~"
        return f"{mark} {self.object}: {self.detail}"


@dataclass(frozen=True)
class HelmRollbackResult:
    outcome: Outcome
    reason: str
    message: str
    release: str
    namespace: str
    target_revision: int = 0
    new_revision: int = 0
    objects: tuple[ObjectOutcome, ...] = field(default_factory=tuple)
    # Diff-like text: the revisions written, then one line per object.
    summary: str = ""

    def verdict(self) -> Verdict:
        return Verdict(helm.GUARDRAIL, self.outcome not in ("Refused", "Failed"), self.reason, self.message)


@dataclass
class _Stored:
    """One revision: its record (with the Secret's custom labels) and its Secret's resourceVersion."""

    record: dict[str, Any]
    resource_version: str


def secrets_path(namespace: str, name: str | None = None) -> str:
    return f"/api/v1/namespaces/{segment(namespace)}/secrets" + (f"/{segment(name)}" if name else "")


def _read(cluster: Cluster, namespace: str, release: str, *, extra_selector: str = "") -> dict[int, _Stored]:
    listed = cluster.request(
        "GET",
        secrets_path(namespace),
        query={"labelSelector": f"owner=helm,name={release}{extra_selector}"},
    )
    stored: dict[int, _Stored] = {}
    for item in listed.get("items") or []:
        value = (item.get("data") or {}).get("release")
        if item.get("type") != helm.RELEASE_SECRET_TYPE or not value:
            continue
        meta = item["metadata"]
        record = decode_release(value)
        record["labels"] = helm.custom_labels(meta.get("labels"))
        stored[helm.revision_of(record)] = _Stored(record, str(meta.get("resourceVersion", "")))
    return stored


def applied_by(cluster: Cluster, namespace: str, release: str, action_id: str) -> bool:
    """The rollback ``action_id`` has run to its end: its revision is deployed, superseded since, or failed.

    False before it started, and while it is still ``pending-rollback``
    (interrupted): :func:`rollback` with the same id finishes that one.
    """
    selector = f",{ACTION_ID}={helm.action_label(action_id)}"
    ours = helm.action_record(
        [s.record for s in _read(cluster, namespace, release, extra_selector=selector).values()], action_id
    )
    return ours is not None and helm.status_of(ours) != helm.STATUS_PENDING_ROLLBACK


def rollback(
    cluster: Cluster,
    namespace: str,
    release: str,
    *,
    to_revision: int | None,
    action_id: str,
    dry_run: bool,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> HelmRollbackResult:
    """Roll ``release`` in ``namespace`` back to ``to_revision`` (None: the last good one before the latest)."""
    for attempt in (1, 2):
        stored = _read(cluster, namespace, release)
        records = [s.record for s in stored.values()]
        if not records:
            refusal = Refusal(
                "ReleaseNotFound", f"Helm release {namespace}/{release} has no stored revisions (helm.sh/release.v1)."
            )
            return _refused(refusal, release, namespace)
        plan = helm.plan_rollback(records, to_revision, now(), action_id, release=release, namespace=namespace)
        if isinstance(plan, Refusal) and plan.reason == "AlreadyApplied":
            return _already_applied(plan, records, release, namespace, action_id)
        if isinstance(plan, Refusal):
            return _refused(plan, release, namespace)
        try:
            return _Run(cluster, plan, stored, dry_run=dry_run, now=now).run()
        except _NewRevisionTaken:
            if attempt == 2:
                raise
            log.info("revision of %s/%s was taken while a rollback was planned; planning again", namespace, release)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _already_applied(
    refusal: Refusal, records: list[dict[str, Any]], release: str, namespace: str, action_id: str
) -> HelmRollbackResult:
    """The rollback ``action_id`` ran to its end: say which revisions it wrote (the record a restart needs)."""
    ours = helm.action_record(records, action_id)
    new_revision = helm.revision_of(ours) if ours else 0
    target = helm.rollback_target(ours) if ours else None
    return HelmRollbackResult(
        "AlreadyApplied", refusal.reason, refusal.message, release, namespace, target or 0, new_revision
    )


def _refused(refusal: Refusal, release: str, namespace: str) -> HelmRollbackResult:
    outcome: Outcome = "AlreadyApplied" if refusal.reason == "AlreadyApplied" else "Refused"
    return HelmRollbackResult(outcome, refusal.reason, refusal.message, release, namespace)


class _NewRevisionTaken(Conflict):
    """The new revision's Secret exists already: someone (Helm) wrote a revision since we read."""


class _KindNotServed(ApiRejected):
    """API discovery does not list the kind: nothing of it can be read or written."""


class _Run:
    """One execution of a plan; ``dry_run`` turns every write into ``dryRun=All``."""

    def __init__(
        self,
        cluster: Cluster,
        plan: RollbackPlan,
        stored: dict[int, _Stored],
        *,
        dry_run: bool,
        now: Callable[[], datetime],
    ) -> None:
        self.cluster = cluster
        self.plan = plan
        self.stored = stored
        self.dry_run = dry_run
        self.now = now
        self.dry = {"dryRun": "All"} if dry_run else {}
        self.resources: dict[str, dict[str, tuple[str, bool]]] = {}
        # Objects as the pre-flight read them, by API path (None: absent), and the
        # ones the API server would not let us read (never written: see _apply, _delete).
        self.live: dict[str, dict[str, Any] | None] = {}
        self.unreadable: dict[str, ApiRejected] = {}
        self.outcomes: list[ObjectOutcome] = []

    # --- the steps -----------------------------------------------------------------------
    def run(self) -> HelmRollbackResult:
        plan = self.plan
        refusal = self._preflight()
        if refusal is not None:
            log.warning("rollback of %s/%s refused: %s", plan.namespace, plan.release, refusal.message)
            return _refused(refusal, plan.release, plan.namespace)
        new_version = self._create_pending()
        try:
            for item in plan.apply:
                self._apply(item)
        except ApiRejected as error:
            return self._fail(error, new_version)
        for obj in plan.delete:
            self._delete(obj)
        for obj, why in plan.keep:
            self.outcomes.append(ObjectOutcome("keep", helm.describe(obj, plan.namespace), why))
        for record in plan.supersede:
            self._write_revision(record, self.stored[helm.revision_of(record)].resource_version)
        if not self.dry_run:  # the new Secret does not exist in a dry run: nothing to update
            self._write_revision(plan.deployed(), new_version)
        verb = "would roll" if self.dry_run else "rolled"
        message = (
            f"Helm release {plan.namespace}/{plan.release} {verb} back to revision {plan.target_revision} "
            f"as revision {plan.new_revision} ({plan.description})."
        )
        return self._result("DryRun" if self.dry_run else "Applied", "RolledBack", message)

    def _preflight(self) -> Refusal | None:
        """Step 0, reads only: every object to apply or delete is this release's to write, or the refusal."""
        plan = self.plan
        checks = [*(("apply", item.obj) for item in plan.apply), *(("delete", obj) for obj in plan.delete)]
        for action, obj in checks:
            try:
                path, body, namespaced = self._object_path(obj)
            except _KindNotServed:
                continue  # nothing of it can be written: its apply fails (as Helm's), its delete is kept
            refusal = helm.placement_refusal(
                body, action=action, namespaced=namespaced, release=plan.release, namespace=plan.namespace
            )
            if refusal is None and path not in self.live and path not in self.unreadable:
                try:
                    self.live[path] = self.cluster.request("GET", path)
                except NotFound:
                    self.live[path] = None
                except ApiRejected as error:  # forbidden, say: it is never written, so nothing to check
                    self.unreadable[path] = error
            if refusal is None and path in self.live:
                refusal = helm.ownership_refusal(
                    body, self.live[path], action=action, release=plan.release, namespace=plan.namespace
                )
            if refusal is not None:
                return refusal
        return None

    def _create_pending(self) -> str:
        """Step 1; the resourceVersion of the new revision's Secret (empty in a dry run)."""
        plan = self.plan
        if plan.resume:
            log.info("finishing rollback %s of %s/%s", plan.new_revision, plan.namespace, plan.release)
            return self.stored[plan.new_revision].resource_version
        body = helm.release_secret(plan.record, now=self.now(), created=True)
        try:
            created = self.cluster.request("POST", secrets_path(plan.namespace), query=self.dry or None, body=body)
        except Conflict as error:
            raise _NewRevisionTaken(str(error), status=error.status, reason=error.reason) from error
        return str((created.get("metadata") or {}).get("resourceVersion", ""))

    def _apply(self, item: helm.Apply) -> None:
        path, body, _ = self._object_path(item.obj)
        if path in self.unreadable:  # as the GET answered: the rollback fails here, as Helm's would
            raise self.unreadable[path]
        live = self.live[path]  # read (and found ours or absent) by the pre-flight
        query = {"fieldManager": FIELD_MANAGER, "force": "true", **self.dry}
        after = self.cluster.request("PATCH", path, query=query, body=body, content_type="application/apply-patch+yaml")
        if item.removals and live is not None:
            if self.dry_run:  # the dry-run apply above stored nothing to patch; show it on its answer
                after = merge_patch(after, item.removals)
            else:
                after = self.cluster.request(
                    "PATCH", path, body=item.removals, content_type="application/merge-patch+json"
                )
        changed = helm.changed_paths(live, after) if live is not None else []
        detail = "created" if live is None else f"changed: {', '.join(changed)}" if changed else "unchanged"
        self.outcomes.append(ObjectOutcome("apply", helm.describe(body), detail))

    def _delete(self, obj: dict[str, Any]) -> None:
        name = helm.describe(obj, self.plan.namespace)
        try:
            path, body, _ = self._object_path(obj)
        except ApiRejected as error:  # the kind is not served any more: nothing of it to delete
            self.outcomes.append(ObjectOutcome("keep", name, f"not deleted: {error}"))
            return
        name = helm.describe(body)
        if path in self.unreadable:
            self.outcomes.append(ObjectOutcome("keep", name, f"not deleted: {self.unreadable[path]}"))
            return
        live = self.live[path]  # read (and found ours or absent) by the pre-flight
        if live is None:
            self.outcomes.append(ObjectOutcome("delete", name, "already gone"))
            return
        # DeleteOptions, all in the body: with a body the API server ignores the query
        # (dryRun there would be dropped). The uid: the very object the pre-flight checked.
        options: dict[str, Any] = {
            "propagationPolicy": "Background",
            "preconditions": {"uid": str((live.get("metadata") or {}).get("uid", ""))},
            **({"dryRun": ["All"]} if self.dry_run else {}),
        }
        try:
            self.cluster.request("DELETE", path, body=options)
        except NotFound:
            self.outcomes.append(ObjectOutcome("delete", name, "already gone"))
        except ApiRejected as error:  # Helm logs a failed delete and carries on; so do we
            log.warning(
                "rollback of %s/%s could not delete %s: %s", self.plan.namespace, self.plan.release, name, error
            )
            self.outcomes.append(ObjectOutcome("keep", name, f"delete refused: {error}"))
        else:
            self.outcomes.append(ObjectOutcome("delete", name, "deleted"))

    def _fail(self, error: ApiRejected, new_version: str) -> HelmRollbackResult:
        plan = self.plan
        if self.dry_run:
            message = f"Helm release {plan.namespace}/{plan.release}: the rollback would fail: {error}"
            return self._result("Failed", "RollbackFailed", message)
        for record in plan.supersede:
            self._write_revision(record, self.stored[helm.revision_of(record)].resource_version)
        failed = plan.failed(str(error))
        self._write_revision(failed, new_version)
        return self._result(
            "Failed",
            "RollbackFailed",
            f"Helm release {plan.namespace}/{plan.release}: {failed['info']['description']}.",
        )

    def _write_revision(self, record: dict[str, Any], resource_version: str) -> None:
        body = helm.release_secret(record, now=self.now(), created=False)
        if resource_version:  # the revision as it was read, or a 409
            body["metadata"]["resourceVersion"] = resource_version
        path = secrets_path(self.plan.namespace, body["metadata"]["name"])
        self.cluster.request("PUT", path, query=self.dry or None, body=body)

    # --- reporting -------------------------------------------------------------------------
    def _result(self, outcome: Outcome, reason: str, message: str) -> HelmRollbackResult:
        plan = self.plan
        final = "failed" if outcome == "Failed" else "deployed"
        head = [
            f"{'dry run, nothing written: ' if self.dry_run else ''}Helm release {plan.namespace}/{plan.release}: "
            f"revision {plan.new_revision}, {plan.description!r}"
            + (" (finishing an interrupted rollback)" if plan.resume else ""),
            *(f"  revision {helm.revision_of(r)}: deployed -> superseded" for r in plan.supersede),
            f"  revision {plan.new_revision}: pending-rollback -> {final}",
        ]
        if outcome == "Failed":
            head.append(f"  {message}")
        summary = "\n".join([*head, *(o.line() for o in self.outcomes)])
        return HelmRollbackResult(
            outcome,
            reason,
            message,
            plan.release,
            plan.namespace,
            plan.target_revision,
            plan.new_revision,
            tuple(self.outcomes),
            summary,
        )

    # --- where objects live ----------------------------------------------------------------
    def _object_path(self, obj: dict[str, Any]) -> tuple[str, dict[str, Any], bool]:
        """The object's API path, the object as sent (namespace defaulted, or dropped if cluster-scoped),
        and whether its kind is namespaced."""
        api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
        plural, namespaced = self._resource(api_version, kind)
        meta = dict(obj.get("metadata") or {})
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced:
            meta["namespace"] = meta.get("namespace") or self.plan.namespace
            base += f"/namespaces/{segment(meta['namespace'])}"
        else:
            meta.pop("namespace", None)
        return f"{base}/{segment(plural)}/{segment(meta['name'])}", {**obj, "metadata": meta}, namespaced

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) of ``kind`` in ``api_version``, from API discovery (cached per rollback)."""
        if api_version not in self.resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listed = self.cluster.request("GET", path)
            except NotFound:
                listed = {}
            self.resources[api_version] = {
                r["kind"]: (r["name"], bool(r.get("namespaced")))
                for r in listed.get("resources") or []
                if "/" not in r.get("name", "")
            }
        found = self.resources[api_version].get(kind)
        if found is None:
            raise _KindNotServed(
                f"the API server does not serve {kind} in {api_version}", status=404, reason="NotFound"
            )
        return found


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``patch`` applied to ``target`` (for showing a dry run's result)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
