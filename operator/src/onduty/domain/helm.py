"""Helm releases as Helm stores them, and a rollback decided the way ``helm rollback`` decides it.

Helm 3 keeps one Secret per revision (``sh.helm.release.v1.<release>.v<revision>``,
type ``helm.sh/release.v1``). ``data.release`` is the Secret's own base64 of
Helm's base64 of gzip of the release JSON. The JSON is not the whole release:
Helm's ``Release.Labels`` (``json:"-"``) live only on the Secret, as every label
that is not one of Helm's own (:data:`SYSTEM_LABELS`). Records here are the
decoded JSON with those labels under ``"labels"``, as Helm holds them in memory;
:func:`encode_release` leaves them out of the JSON again. Decoding is
:func:`onduty.adapters.helm.decode_release` (one decoder, with its inflation cap).

A rollback, as ``pkg/action/rollback.go`` does it::

    new revision = latest + 1, chart/config/manifest/hooks/notes/labels of the target,
    first_deployed of the latest, last_deployed now, "Rollback to N"
    1. create it as pending-rollback           (Secret label createdAt)
    2. apply the target's manifest; delete what only the latest revision rendered
    3. every deployed revision -> superseded   (Secret labels rebuilt, modifiedAt)
    4. the new revision -> deployed            (modifiedAt)
    on a rejected write in 2: deployed -> superseded, new -> failed, "Rollback "R" failed: ..."

At no point are two revisions deployed. onduty differs on purpose in a few
places, each a refusal rather than a surprise:

* with no revision named, the target is the newest *deployed or superseded*
  revision before the latest, not blindly ``latest - 1`` (which may be a failed
  upgrade); after a failed upgrade both pick the revision that was running;
* a latest revision that is pending (install, upgrade or rollback in flight)
  refuses, as ``helm upgrade`` does; Helm's rollback would run over it;
* a target whose chart has pre-/post-rollback hooks refuses: onduty does not
  run hooks, and a rollback that skips them is not the rollback the chart wants;
* the new revision carries ``onduty.dev/action-id`` (a custom label to Helm, so
  it survives Helm's own rewrites), which makes a repeat of the same action a
  no-op and lets an interrupted one (still pending-rollback) be finished.

Confinement. Anyone who may edit a namespace may write Secrets there, so a
release record is the namespace editors' word, not Helm's; onduty acts on it
with its own, wider rights. A rollback therefore stays in the namespace the
release was read from: a record naming another release or namespace
(``ReleaseNameMismatch``, ``ReleaseOutsideNamespace``) or a manifest object
placed in another namespace (``ObjectOutsideNamespace``) refuses the plan, and
:func:`placement_refusal` and :func:`ownership_refusal` refuse, object by
object before anything is written, a cluster-scoped kind
(``ClusterScopedObject``) and a live object that Helm's ownership annotations
do not tie to this release (``NotOwnedByRelease``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from onduty.domain.annotations import ACTION_ID
from onduty.domain.guardrails import Verdict

RELEASE_SECRET_TYPE = "helm.sh/release.v1"
GUARDRAIL = "HelmRollback"

STATUS_DEPLOYED = "deployed"
STATUS_SUPERSEDED = "superseded"
STATUS_FAILED = "failed"
STATUS_PENDING_INSTALL = "pending-install"
STATUS_PENDING_UPGRADE = "pending-upgrade"
STATUS_PENDING_ROLLBACK = "pending-rollback"
PENDING = frozenset({STATUS_PENDING_INSTALL, STATUS_PENDING_UPGRADE, STATUS_PENDING_ROLLBACK})
# What a default rollback may land on: revisions that ran successfully once.
_GOOD = frozenset({STATUS_DEPLOYED, STATUS_SUPERSEDED})

# Helm's own Secret labels (``systemLabels`` in pkg/storage/driver/util.go); every
# other label on a release Secret is one of the release's custom labels.
SYSTEM_LABELS = frozenset({"name", "owner", "status", "version", "key", "type", "createdAt", "modifiedAt"})

# What Helm puts on every object it applies (``setMetadataVisitor``): without them
# a later ``helm upgrade`` refuses to adopt an object onduty re-created.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
# ``helm.sh/resource-policy: keep``: Helm never deletes such an object, nor do we.
RESOURCE_POLICY_ANNOTATION = "helm.sh/resource-policy"
# Never deleted when a rollback drops them, whatever Helm would do: a namespace
# takes everything in it along, a claim takes its data, a CRD takes every
# custom resource of its kind. (group, kind); recorded as kept.
NEVER_DELETED = frozenset(
    {("", "Namespace"), ("", "PersistentVolumeClaim"), ("apiextensions.k8s.io", "CustomResourceDefinition")}
)
_ROLLBACK_HOOKS = frozenset({"pre-rollback", "post-rollback"})
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_ROLLBACK_TO = re.compile(r"^Rollback to (\d+)$")
# group/version or version (the core group): both go into a URL.
_API_VERSION = re.compile(r"(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[a-z0-9]{1,63}")
# An object's name as the API server accepts it in a path (``ValidatePathSegmentName``:
# not "." or "..", no "/" or "%"), and no whitespace or control characters.
_SEGMENT = re.compile(r"(?!\.\.?\Z)[^/%\s\x00-\x1f\x7f]{1,253}")


# --- storage ------------------------------------------------------------------------------


def secret_name(release: str, revision: int) -> str:
    return f"sh.helm.release.v1.{release}.v{revision}"


def encode_release(record: Mapping[str, Any]) -> str:
    """Helm's encoding of a release: base64 of gzip (best compression) of the JSON, ``labels`` left out."""
    body = json.dumps({k: v for k, v in record.items() if k != "labels"}, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(gzip.compress(body.encode(), compresslevel=9, mtime=0)).decode()


def custom_labels(secret_labels: Mapping[str, str] | None) -> dict[str, str]:
    """The release's own labels, as Helm's decoder attaches them: the Secret's labels minus Helm's."""
    return {k: v for k, v in (secret_labels or {}).items() if k not in SYSTEM_LABELS}


def release_secret(record: Mapping[str, Any], *, now: datetime, created: bool) -> dict[str, Any]:
    """The Secret Helm writes for ``record``: ``Create`` stamps ``createdAt``, ``Update`` stamps
    ``modifiedAt`` and rebuilds the labels from scratch (so ``createdAt`` goes)."""
    labels = dict(record.get("labels") or {})
    labels["createdAt" if created else "modifiedAt"] = str(int(now.timestamp()))
    labels.update(
        name=str(record["name"]),
        owner="helm",
        status=str((record.get("info") or {}).get("status", "")),
        version=str(record["version"]),
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(str(record["name"]), int(record["version"])), "labels": labels},
        "type": RELEASE_SECRET_TYPE,
        "data": {"release": base64.b64encode(encode_release(record).encode()).decode()},
    }


def go_time(moment: datetime) -> str:
    """A time as Go's ``time.RFC3339Nano`` writes it (what Helm stores): trailing zeros trimmed.

    Not :func:`onduty.domain.times.rfc3339`: a release record onduty writes must
    read, to ``helm history`` and to the next ``helm upgrade``, exactly as one
    Helm wrote, fraction of a second included.
    """
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def action_label(action_id: str) -> str:
    """The label value that marks ``action_id``'s revision: the id itself when it is a valid label
    value (63 characters at most), else a digest of it that is one."""
    if action_id and _LABEL_VALUE.match(action_id):
        return action_id
    return "sha256-" + hashlib.sha256(action_id.encode()).hexdigest()[:56]


def status_of(record: Mapping[str, Any]) -> str:
    return str((record.get("info") or {}).get("status", ""))


def revision_of(record: Mapping[str, Any]) -> int:
    return int(record.get("version") or 0)


def action_record(releases: Sequence[Mapping[str, Any]], action_id: str) -> dict[str, Any] | None:
    """The revision that the rollback ``action_id`` created, if any.

    Helm copies custom labels forward (``helm upgrade`` keeps the last
    revision's, ``helm rollback`` the target's), so later revisions may carry
    the same label: the oldest one is ours.
    """
    label = action_label(action_id)
    ours = sorted((r for r in releases if (r.get("labels") or {}).get(ACTION_ID) == label), key=revision_of)
    return dict(ours[0]) if ours else None


def with_status(record: Mapping[str, Any], status: str, description: str | None = None) -> dict[str, Any]:
    """``record`` with ``info.status`` (and ``info.description``) changed, as Helm's ``SetStatus`` does."""
    info = {**(record.get("info") or {}), "status": status}
    if description is not None:
        info["description"] = description
    return {**record, "info": info}


def failure_description(release: str, error: str) -> str:
    return f"Rollback {json.dumps(release)} failed: {error}"


# --- manifests ----------------------------------------------------------------------------


class ManifestError(ValueError):
    """A release manifest that does not read as Kubernetes objects."""


def manifest_objects(manifest: str) -> list[dict[str, Any]]:
    """The objects of a rendered manifest (YAML documents; empty ones skipped)."""
    try:
        documents = list(yaml.safe_load_all(manifest or ""))
    except yaml.YAMLError as error:
        raise ManifestError(f"manifest is not YAML: {error}") from error
    objects = []
    for doc in documents:
        if not doc:
            continue
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise ManifestError("manifest holds a document that is not a Kubernetes object")
        if not (isinstance(doc["apiVersion"], str) and _API_VERSION.fullmatch(doc["apiVersion"])):
            raise ManifestError(f"manifest holds a {doc['kind']} whose apiVersion {doc['apiVersion']!r} is not one")
        meta = doc.get("metadata") or {}
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ManifestError(f"manifest holds a {doc['kind']} without metadata.name")
        for key in ("name", "namespace"):
            value = meta.get(key)
            if value is not None and not (isinstance(value, str) and _SEGMENT.fullmatch(value)):
                # The name goes into a URL: "a/b" or ".." could address some other object.
                raise ManifestError(f"manifest holds a {doc['kind']} whose metadata.{key} {value!r} is not a name")
        objects.append(doc)
    return objects


def group_of(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.split("/", 1)[0] if "/" in api_version else ""


ObjectKey = tuple[str, str, str, str]


def object_key(obj: Mapping[str, Any], namespace: str) -> ObjectKey:
    """Identity as Helm compares objects across revisions: group, kind, namespace, name (not the version).

    A namespaced object without ``metadata.namespace`` goes to the release's
    namespace; cluster-scoped objects get it too, harmlessly, as long as both
    sides are keyed the same way.
    """
    meta = obj.get("metadata") or {}
    return group_of(obj), str(obj["kind"]), str(meta.get("namespace") or namespace), str(meta["name"])


def describe(obj: Mapping[str, Any], namespace: str | None = None) -> str:
    meta = obj.get("metadata") or {}
    where = meta.get("namespace") or namespace
    return f"{obj.get('kind')} {where + '/' if where else ''}{meta.get('name')}"


def owned_by_release(obj: Mapping[str, Any], release: str, namespace: str) -> dict[str, Any]:
    """``obj`` with Helm's ownership label and annotations, as ``setMetadataVisitor(force=true)`` sets them."""
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: "Helm"}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        RELEASE_NAME_ANNOTATION: release,
        RELEASE_NAMESPACE_ANNOTATION: namespace,
    }
    return {**obj, "metadata": meta}


def removed_fields(previous: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of nulls: the map keys ``previous`` rendered that ``target`` does not (leaves only).

    Server-side apply never removes a field another manager (Helm) set, so
    this is the deleting half of Helm's three-way merge. It stops at lists:
    merge patches replace lists whole, and the target's lists are applied
    already.
    """
    patch: dict[str, Any] = {}
    for key, old in previous.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        new = target.get(key)
        if isinstance(old, Mapping) and (new is None or isinstance(new, Mapping)):
            # Key by key, never the whole map: others' keys (Helm's own annotations) stay.
            inner = removed_fields(old, new or {})
            if inner:
                patch[key] = inner
        elif key not in target:
            patch[key] = None
    if "metadata" in patch:
        # Of metadata, only labels and annotations are the chart's to remove.
        patch["metadata"] = {k: v for k, v in patch["metadata"].items() if k in ("labels", "annotations")}
        if not patch["metadata"]:
            del patch["metadata"]
    return patch


# Fields the API server owns; a difference there is not a change the rollback made.
_VOLATILE_METADATA = frozenset(
    {"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"}
)


def changed_paths(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """Dotted paths that differ between two versions of an object (lists compared whole;
    ``status`` and server-owned metadata ignored)."""

    def leaves(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if path == "status" or (prefix == "metadata" and key in _VOLATILE_METADATA):
                continue
            if isinstance(value, Mapping) and value:
                yield from leaves(value, path)
            else:
                yield path, value

    old, new = dict(leaves(before or {})), dict(leaves(after))
    return sorted(p for p in old.keys() | new.keys() if old.get(p, _MISSING) != new.get(p, _MISSING))


_MISSING = object()


# --- the decision -------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str

    def verdict(self) -> Verdict:
        return Verdict(GUARDRAIL, False, self.reason, self.message)


@dataclass(frozen=True)
class Apply:
    """One object of the target manifest, with Helm's ownership metadata, and what of it to remove."""

    obj: dict[str, Any]
    removals: dict[str, Any]


@dataclass(frozen=True)
class RollbackPlan:
    release: str
    namespace: str
    target_revision: int
    # The revision written for this rollback, as first stored (pending-rollback), with its labels.
    record: dict[str, Any]
    # The deployed revisions, as they will be stored once superseded.
    supersede: tuple[dict[str, Any], ...]
    apply: tuple[Apply, ...]
    # Objects only the latest revision rendered: deleted, as Helm deletes them ...
    delete: tuple[dict[str, Any], ...]
    # ... except these, with why.
    keep: tuple[tuple[dict[str, Any], str], ...]
    # The record exists already (pending-rollback): an interrupted run to finish.
    resume: bool = False

    @property
    def new_revision(self) -> int:
        return revision_of(self.record)

    @property
    def description(self) -> str:
        return str(self.record["info"]["description"])

    def deployed(self) -> dict[str, Any]:
        return with_status(self.record, STATUS_DEPLOYED)

    def failed(self, error: str) -> dict[str, Any]:
        return with_status(self.record, STATUS_FAILED, failure_description(self.release, error))

    def verdict(self) -> Verdict:
        return Verdict(GUARDRAIL, True, "RollbackPlanned", self.message)

    @property
    def message(self) -> str:
        return (
            f"Helm release {self.namespace}/{self.release}: revision {self.new_revision} rolls back to revision "
            f"{self.target_revision} ({len(self.apply)} objects to apply, {len(self.delete)} to delete"
            + (f", {len(self.keep)} kept" if self.keep else "")
            + ")."
        )


def plan_rollback(
    releases: list[dict[str, Any]],
    to_revision: int | None,
    now: datetime,
    action_id: str,
    *,
    release: str,
    namespace: str,
) -> RollbackPlan | Refusal:
    """Decide a rollback of one release, given all its stored revisions (any order).

    ``releases`` are decoded records with the Secret's custom labels under
    ``"labels"``, as read from the Secrets of ``release`` in ``namespace``.
    ``to_revision`` None means the newest deployed or superseded revision
    before the latest. A record that names another release or namespace, or a
    manifest object in another namespace, refuses the whole rollback.
    """
    if not releases:
        return Refusal("ReleaseNotFound", "The release has no stored revisions (no helm.sh/release.v1 Secrets).")
    history = sorted(releases, key=revision_of)
    for stored in history:
        refusal = _foreign_record(stored, release, namespace)
        if refusal is not None:
            return refusal
    latest = history[-1]
    where = f"Helm release {namespace}/{release}"  # what every record names, as just checked
    by_revision = {revision_of(r): r for r in history}

    ours = action_record(history, action_id)
    if ours is not None:
        return _resume(ours, history, action_id, where)

    if status_of(latest) in PENDING:
        return Refusal(
            "OperationInProgress",
            f"{where} has revision {revision_of(latest)} {status_of(latest)}: another Helm operation "
            "(install, upgrade or rollback) is in progress.",
        )
    if to_revision is not None:
        if to_revision < 1:
            return Refusal("InvalidRevision", f"Revision {to_revision} is not a revision number; they start at 1.")
        if to_revision not in by_revision:
            known = ", ".join(str(v) for v in by_revision)
            return Refusal("RevisionNotFound", f"{where} has no revision {to_revision} (it has {known}).")
        target = by_revision[to_revision]
    else:
        earlier = [r for r in history[:-1] if status_of(r) in _GOOD]
        if not earlier:
            return Refusal(
                "NothingToRollBack",
                f"{where} has no deployed or superseded revision before revision {revision_of(latest)} "
                "to roll back to.",
            )
        target = earlier[-1]
    hooks = sorted({e for h in target.get("hooks") or [] for e in h.get("events") or [] if e in _ROLLBACK_HOOKS})
    if hooks:
        return Refusal(
            "RollbackHooksPresent",
            f"Revision {revision_of(target)} of {where} has {' and '.join(hooks)} hooks, which onduty does not run; "
            "roll it back with helm instead.",
        )

    record = _rollback_record(latest, target, now, action_id)
    return _plan(record, target_revision=revision_of(target), previous=latest, history=history, resume=False)


def _foreign_record(record: Mapping[str, Any], release: str, namespace: str) -> Refusal | None:
    """A record that is not ``release`` in ``namespace``, which it was read as: refused (Helm never writes one)."""
    revision = revision_of(record)
    where = f"Helm release {namespace}/{release}"
    if record.get("namespace") != namespace:
        return Refusal(
            "ReleaseOutsideNamespace",
            f"{where}: the record of revision {revision}, stored in namespace {namespace}, names namespace "
            f"{record.get('namespace')!r}; onduty rolls a release back only in the namespace it is stored in.",
        )
    if record.get("name") != release:
        return Refusal(
            "ReleaseNameMismatch",
            f"{where}: the record of revision {revision} names release {record.get('name')!r}; "
            "onduty rolls back only a release whose records name it.",
        )
    return None


def _foreign_object(objects: Sequence[Mapping[str, Any]], revision: int, name: str, namespace: str) -> Refusal | None:
    """The first manifest object placed outside the release's namespace, refused."""
    for obj in objects:
        elsewhere = (obj.get("metadata") or {}).get("namespace")
        if elsewhere and elsewhere != namespace:
            return Refusal(
                "ObjectOutsideNamespace",
                f"Helm release {namespace}/{name}: the manifest of revision {revision} holds {describe(obj)}, "
                f"in namespace {elsewhere}; onduty writes only in the release's namespace {namespace}.",
            )
    return None


def placement_refusal(
    obj: Mapping[str, Any], *, action: str, namespaced: bool, release: str, namespace: str
) -> Refusal | None:
    """Whether a rollback of ``release`` in ``namespace`` may ``action`` ("apply", "delete") ``obj`` where it is.

    ``obj`` is the object as it will be sent (namespace defaulted) and
    ``namespaced`` what API discovery says of its kind: only a namespaced
    object in ``namespace`` passes.
    """
    where = f"Helm release {namespace}/{release}"
    if not namespaced:
        return Refusal(
            "ClusterScopedObject",
            f"{where}: the rollback would {action} {describe(obj)}, which is cluster-scoped; "
            f"onduty writes only in the release's namespace {namespace}.",
        )
    elsewhere = (obj.get("metadata") or {}).get("namespace")
    if elsewhere != namespace:
        return Refusal(
            "ObjectOutsideNamespace",
            f"{where}: the rollback would {action} {describe(obj)}, in namespace {elsewhere}; "
            f"onduty writes only in the release's namespace {namespace}.",
        )
    return None


def ownership_refusal(
    obj: Mapping[str, Any], live: Mapping[str, Any] | None, *, action: str, release: str, namespace: str
) -> Refusal | None:
    """Whether the live object (None: absent) is this release's to ``action``.

    An absent object may be created; a present one must carry Helm's
    ownership annotations naming this very release and namespace. Helm (3.2
    and later) sets both on every object it creates, as :func:`owned_by_release`
    does on every object a rollback applies; ``helm upgrade`` refuses to adopt
    an object without them, and so does this.
    """
    if live is None:
        return None
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    owner = (annotations.get(RELEASE_NAME_ANNOTATION), annotations.get(RELEASE_NAMESPACE_ANNOTATION))
    if owner == (release, namespace):
        return None
    if owner == (None, None):
        held = "carries no Helm ownership annotations"
    else:
        held = f"belongs to Helm release {owner[1] or '?'}/{owner[0] or '?'} by its annotations"
    return Refusal(
        "NotOwnedByRelease",
        f"Helm release {namespace}/{release}: the rollback would {action} {describe(obj)}, which {held} "
        f"({RELEASE_NAME_ANNOTATION}, {RELEASE_NAMESPACE_ANNOTATION}); onduty changes only this release's objects.",
    )


def _rollback_record(
    current: Mapping[str, Any], target: Mapping[str, Any], now: datetime, action_id: str
) -> dict[str, Any]:
    """The new revision exactly as ``prepareRollback`` builds it (key order as Go writes it)."""
    info: dict[str, Any] = {
        "first_deployed": (current.get("info") or {}).get("first_deployed", ""),
        "last_deployed": go_time(now),
        "deleted": "",
        "description": f"Rollback to {revision_of(target)}",
        "status": STATUS_PENDING_ROLLBACK,
    }
    notes = (target.get("info") or {}).get("notes")
    if notes:
        info["notes"] = notes
    record: dict[str, Any] = {"name": current.get("name"), "info": info}
    for key in ("chart", "config", "manifest", "hooks"):  # omitempty in Helm's JSON
        if target.get(key):
            record[key] = target[key]
    record["version"] = revision_of(current) + 1
    record["namespace"] = current.get("namespace")
    for key, value in target.items():  # fields newer Helms add (apply_method, ...): kept as they were
        if key not in record and key not in ("info", "labels", "chart", "config", "manifest", "hooks"):
            record[key] = value
    record["labels"] = {**(target.get("labels") or {}), ACTION_ID: action_label(action_id)}
    return record


def _resume(ours: dict[str, Any], history: list[dict[str, Any]], action_id: str, where: str) -> RollbackPlan | Refusal:
    revision = revision_of(ours)
    if status_of(ours) != STATUS_PENDING_ROLLBACK:
        return Refusal(
            "AlreadyApplied",
            f"{where}: rollback {action_id} is revision {revision}, already {status_of(ours)}; not applying it again.",
        )
    if revision != revision_of(history[-1]):
        return Refusal(
            "OperationSuperseded",
            f"{where}: rollback {action_id} stopped at revision {revision} (pending-rollback), and revision "
            f"{revision_of(history[-1])} was written after it; not finishing it.",
        )
    before = [r for r in history if revision_of(r) < revision]
    target_revision = rollback_target(ours) or 0
    return _plan(
        ours, target_revision=target_revision, previous=before[-1] if before else {}, history=history, resume=True
    )


def rollback_target(record: Mapping[str, Any]) -> int | None:
    """The revision a rollback revision went back to, from Helm's description ``Rollback to N``."""
    match = _ROLLBACK_TO.match(str((record.get("info") or {}).get("description", "")))
    return int(match.group(1)) if match else None


def _plan(
    record: dict[str, Any],
    *,
    target_revision: int,
    previous: Mapping[str, Any],
    history: list[dict[str, Any]],
    resume: bool,
) -> RollbackPlan | Refusal:
    name, namespace = str(record["name"]), str(record["namespace"])
    try:
        target_objects = manifest_objects(str(record.get("manifest") or ""))
        previous_objects = manifest_objects(str(previous.get("manifest") or ""))
    except ManifestError as error:
        return Refusal("ManifestUnreadable", f"Helm release {namespace}/{name}: {error}.")
    # A resumed plan's manifest is its own stored revision's; a new one's is the target's.
    rendered_by = revision_of(record) if resume else target_revision
    refusal = _foreign_object(target_objects, rendered_by, name, namespace) or _foreign_object(
        previous_objects, revision_of(previous), name, namespace
    )
    if refusal is not None:
        return refusal
    rendered_before = {object_key(o, namespace): o for o in previous_objects}
    wanted = {object_key(o, namespace) for o in target_objects}
    apply = []
    for obj in target_objects:
        before = rendered_before.get(object_key(obj, namespace))
        apply.append(Apply(owned_by_release(obj, name, namespace), removed_fields(before, obj) if before else {}))
    delete: list[dict[str, Any]] = []
    keep: list[tuple[dict[str, Any], str]] = []
    for key, obj in rendered_before.items():
        if key in wanted:
            continue
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if (key[0], key[1]) in NEVER_DELETED:
            keep.append((obj, f"a {key[1]} is never deleted by onduty"))
        elif annotations.get(RESOURCE_POLICY_ANNOTATION) == "keep":
            keep.append((obj, f"annotated {RESOURCE_POLICY_ANNOTATION}: keep"))
        else:
            delete.append(obj)
    supersede = tuple(
        with_status(r, STATUS_SUPERSEDED)
        for r in history
        if status_of(r) == STATUS_DEPLOYED and revision_of(r) != revision_of(record)
    )
    return RollbackPlan(
        release=name,
        namespace=namespace,
        target_revision=target_revision,
        record=record,
        supersede=supersede,
        apply=tuple(apply),
        delete=tuple(delete),
        keep=tuple(keep),
        resume=resume,
    )
