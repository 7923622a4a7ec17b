"""The ``configChanges`` diagnostic: which ConfigMaps and Secrets a workload uses changed recently.

A config change rolls out without a new revision, so rollout history misses
it. This finds what the pod template references and when each object last
changed — names and times only, never data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from onduty.domain.diagnostics.results import Result, one_line
from onduty.domain.diagnostics.specs import ConfigChanges
from onduty.domain.times import ago, parse_time, rfc3339

# ConfigMaps and Secrets looked up for one workload; a pod template referencing
# more is unusual, and the rest are named as not checked.
MAX_CONFIG_OBJECTS = 30


def referenced_config(pod_spec: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """ConfigMaps and Secrets a pod template uses: volumes (also projected), env and envFrom."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for volume in pod_spec.get("volumes") or []:
        if (volume.get("configMap") or {}).get("name"):
            configmaps.add(volume["configMap"]["name"])
        if (volume.get("secret") or {}).get("secretName"):
            secrets.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("configMap") or {}).get("name"):
                configmaps.add(source["configMap"]["name"])
            if (source.get("secret") or {}).get("name"):
                secrets.add(source["secret"]["name"])
    for container in list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or []):
        for env in container.get("env") or []:
            ref = env.get("valueFrom") or {}
            if (ref.get("configMapKeyRef") or {}).get("name"):
                configmaps.add(ref["configMapKeyRef"]["name"])
            if (ref.get("secretKeyRef") or {}).get("name"):
                secrets.add(ref["secretKeyRef"]["name"])
        for env_from in container.get("envFrom") or []:
            if (env_from.get("configMapRef") or {}).get("name"):
                configmaps.add(env_from["configMapRef"]["name"])
            if (env_from.get("secretRef") or {}).get("name"):
                secrets.add(env_from["secretRef"]["name"])
    return sorted(configmaps), sorted(secrets)


def last_change(metadata: Mapping[str, Any]) -> tuple[datetime | None, str | None]:
    """When an object last changed, and by which field manager: the newest managedFields entry.

    Objects written without field management (rare) fall back to their creation time.
    """
    newest: tuple[datetime, str | None] | None = None
    for entry in metadata.get("managedFields") or []:
        moment = parse_time(entry.get("time"))
        if moment is not None and (newest is None or moment > newest[0]):
            newest = (moment, entry.get("manager"))
    if newest is not None:
        return newest
    return parse_time(metadata.get("creationTimestamp")), None


def config_changes_result(
    spec: ConfigChanges,
    found: Mapping[tuple[str, str], Mapping[str, Any] | None],
    now: datetime,
    *,
    unchecked: Sequence[tuple[str, str]] = (),
) -> Result:
    """Which referenced ConfigMaps/Secrets changed within the window.

    ``found`` maps (kind, name) to the object's *metadata* (None: it does not
    exist). Only names and times are reported — never data.
    """
    window = timedelta(minutes=spec.within_minutes)
    changed, missing, unchanged = [], [], []
    for (kind, name), metadata in sorted(found.items()):
        if metadata is None:
            missing.append(f"{kind}/{name}")
            continue
        moment, manager = last_change(metadata)
        if moment is not None and now - moment <= window:
            entry: dict[str, Any] = {"kind": kind, "name": name, "changedAt": rfc3339(moment)}
            if manager:
                entry["manager"] = manager
            changed.append(entry)
        else:
            unchanged.append(f"{kind}/{name}")
    changed.sort(key=lambda e: e["changedAt"], reverse=True)
    details: dict[str, Any] = {"withinMinutes": spec.within_minutes, "changed": changed, "unchanged": unchanged}
    if missing:
        details["missing"] = missing
    if unchecked:
        details["notChecked"] = [f"{k}/{n}" for k, n in unchecked]
    total = len(found)
    if not total:
        return Result(spec.name, spec.type, True, "the pod template references no ConfigMaps or Secrets", details)
    summary = f"{len(changed)} of {total} referenced ConfigMaps/Secrets changed in the last {spec.within_minutes}m"
    if changed:
        summary += ": " + ", ".join(
            f"{e['kind']}/{e['name']} {ago(e['changedAt'], now)}" + (f" by {e['manager']}" if e.get("manager") else "")
            for e in changed[:3]
        )
    if missing:
        summary += f"; missing: {', '.join(missing[:3])}"
    if unchecked:
        summary += f"; {len(unchecked)} not checked"
    return Result(spec.name, spec.type, True, one_line(summary), details)
