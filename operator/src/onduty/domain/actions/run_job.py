"""``runJob``: a Job from the runbook's template, with a deadline — the "custom script" remediation.

The Job's pods pass the Pod Security Standard the policies in scope ask for
(restricted unless one says baseline), AppArmor's older annotation form
included, and run as a ServiceAccount of the namespace the policies allow.
The Job's name is derived from the action id, so it exists at most once; the
workload's record is written first, then the Job created.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from onduty.domain import podsecurity
from onduty.domain.actions.context import Context
from onduty.domain.actions.outcomes import Applied, Refused, shown
from onduty.domain.actions.records import record_metadata
from onduty.domain.annotations import ACTION_ID, INCIDENT_ANNOTATION, STEP_LABEL
from onduty.domain.rollouts import RolloutState

NAME = "runJob"
# A finished Job is kept an hour for the post-mortem, then garbage-collected.
TTL_SECONDS_AFTER_FINISHED = 3600
_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def job_name(ctx: Context) -> str:
    return f"onduty-{ctx.step.name}-{hashlib.sha256(ctx.action_id.encode()).hexdigest()[:8]}"[:63]


@dataclass(frozen=True)
class Plan:
    """The writes, in order: the workload's record, then the Job ``name`` created."""

    workload_patch: dict[str, Any]
    name: str
    job: dict[str, Any]
    outcome: Applied


def plan(ctx: Context) -> Plan:
    """The Job the step's template makes; raises :class:`Refused` for no template or a pod that may not run."""
    spec = ctx.step.job
    if spec is None:
        raise Refused("NoJobTemplate", "the step has no job template")
    template = json.loads(json.dumps(spec.template))
    template.setdefault("spec", {})["restartPolicy"] = "Never"
    template.get("metadata", {}).pop("namespace", None)  # the Job's pods live where the Job does
    admit(ctx, template["spec"], template.get("metadata", {}).get("annotations") or {})
    name = job_name(ctx)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "onduty", STEP_LABEL: ctx.step.name},
            "annotations": {ACTION_ID: ctx.action_id, INCIDENT_ANNOTATION: ctx.incident_ref},
        },
        "spec": {
            "template": template,
            "backoffLimit": spec.backoff_limit,
            "activeDeadlineSeconds": spec.active_deadline_seconds,
            "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
        },
    }
    return Plan(
        {"metadata": record_metadata(ctx, {"job": name})},
        name,
        job,
        Applied(
            f"job {name} created (deadline {spec.active_deadline_seconds}s)",
            f"Job/{name}: create {shown(job)}",
            {"job": name},
        ),
    )


def admit(ctx: Context, pod_spec: dict[str, Any], annotations: dict[str, Any]) -> None:
    """The pod spec passes the Pod Security Standard the policies ask for and runs as an allowed account."""
    account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
    if account not in ctx.grants.job_service_accounts:
        raise Refused(
            "ServiceAccountNotAllowed",
            f"step {ctx.step.name}: job.template.spec.serviceAccountName {account!r} is not among the"
            " ServiceAccounts the policies in scope allow for runJob"
            f" ({', '.join(ctx.grants.job_service_accounts) or 'none'})",
        )
    level: podsecurity.Level = "baseline" if ctx.grants.job_pod_security == "baseline" else "restricted"
    problems = podsecurity.violations(pod_spec, level) + apparmor_annotations(annotations)
    if problems:
        listed = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise Refused(
            "PodSecurityViolation",
            f"step {ctx.step.name}: the job's pod template does not pass the {level} Pod Security Standard: {listed}",
        )


def apparmor_annotations(annotations: dict[str, Any]) -> list[str]:
    """The pod template's AppArmor annotations (the field's older form): only confining profiles pass."""
    return [
        f"spec.template.metadata.annotations[{key}]: AppArmor profile {value!r} is not allowed; use runtime/default"
        " or localhost/<profile>"
        for key, value in sorted(annotations.items())
        if key.startswith(_APPARMOR_PREFIX) and not (value == "runtime/default" or str(value).startswith("localhost/"))
    ]


def recorded_job(ctx: Context, record: dict[str, Any]) -> str:
    """The Job an action record names (else the one this action id makes)."""
    return str((record.get("details") or {}).get("job") or job_name(ctx))


def progress(name: str, job: dict[str, Any]) -> RolloutState:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") == "Complete":
            return RolloutState(True, False, f"job {name} completed")
        if cond.get("status") == "True" and cond.get("type") == "Failed":
            return RolloutState(False, True, f"job {name} failed: {cond.get('reason')}: {cond.get('message', '')}")
    return RolloutState(False, False, f"job {name} running")
