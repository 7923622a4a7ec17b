"""A responder's controls on the real API server, with onduty running: resolve by hand, retry, run a dry run for real.

Each is an annotation the ``onduty`` CLI writes with the caller's name, which
the admission policies check (the custom verbs ``resolve``, ``retry`` and
``approve``); the operator acts on it and records who asked.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from kit import (
    apply_manifest,
    get_deployment,
    onduty_cli,
    open_step_incident,
    timeline_reasons,
    verdict_reasons,
    wait_for,
)

ADMIN = "onduty-admin"  # the test cluster's admin, as the API server authenticates it


def _incident(cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(cluster.get_json("incident.onduty.dev", name, "-n", namespace))


def _until(cluster, namespace: str, name: str, predicate, what: str, timeout: float = 90) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        incident = _incident(cluster, namespace, name)
        return incident if predicate(incident) else None

    try:
        return wait_for(probe, timeout=timeout, what=what)
    except AssertionError as error:
        status = _incident(cluster, namespace, name).get("status") or {}
        shown = {k: status.get(k) for k in ("phase", "actions", "timeline", "escalation")}
        raise AssertionError(f"{error}: {json.dumps(shown)}") from None


def _action(incident: dict[str, Any]) -> dict[str, Any]:
    return dict(((incident.get("status") or {}).get("actions") or [{}])[0])


def _cli(cluster, *args: str):
    return onduty_cli(*args, "--kubeconfig", str(cluster.kubeconfig))


def _events(cluster, namespace: str, name: str) -> list[str]:
    events = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return [e.get("reason") for e in events["items"]]


def test_a_manual_incident_is_resolved_by_hand_and_its_paging_stops(cluster, namespace, operator) -> None:
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {
                "default": True,
                "levels": [{"name": "primary", "ackTimeout": "5m", "users": ["ann@example.com"]}],
            },
        },
    )
    name = f"manual-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"title": "checkout is slow", "severity": "warning", "source": "manual", "labels": {}},
        },
    )
    _until(
        cluster,
        namespace,
        name,
        lambda i: (i.get("status") or {}).get("phase") == "Escalated" and (i["status"].get("escalation") or {}),
        "the manual incident to escalate to a human",
    )

    result = _cli(cluster, "resolve", name, "-n", namespace, "--reason", "the cache was flushed by hand")

    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert f"resolved incident {namespace}/{name} as {ADMIN}" in result.stdout
    resolved = _until(
        cluster,
        namespace,
        name,
        lambda i: (i["status"].get("escalation") or {}).get("state") == "Resolved",
        "the incident to resolve and its escalation to stop",
    )
    status = resolved["status"]
    assert (status["phase"], status["resolvedBy"], status["resolution"]) == (
        "Resolved",
        ADMIN,
        "the cache was flushed by hand",
    )
    assert "IncidentResolved" in timeline_reasons(resolved)
    [condition] = [c for c in status["conditions"] if c["type"] == "Resolved"]
    assert (condition["status"], condition["reason"]) == ("True", "ResolvedByHand")
    wait_for(lambda: "IncidentResolved" in _events(cluster, namespace, name), timeout=30, what="the Event")

    again = _cli(cluster, "resolve", name, "-n", namespace, "--reason", "twice")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"onduty: error: incident {namespace}/{name}: already resolved at {status['resolvedAt']} by {ADMIN}"
    )
    ack = _cli(cluster, "ack", name, "-n", namespace)
    assert ack.returncode == 1 and "is already resolved at" in ack.stderr


def test_a_step_denied_by_a_policy_runs_when_retried_after_the_policy_is_fixed(
    cluster, namespace, deployment, operator
) -> None:
    step = {"action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "2m"}}
    name = open_step_incident(cluster, namespace, step, policy={"allowedActions": ["scale"]})
    denied = _until(cluster, namespace, name, lambda i: _action(i).get("state") == "Denied", "the denial")
    before = get_deployment(cluster, namespace)["metadata"]["generation"]
    assert denied["status"]["phase"] == "Escalated"

    apply_manifest(  # the platform owner fixes the policy
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "RemediationPolicy",
            "metadata": {"name": f"p-{namespace}"},
            "spec": {"scope": {"namespaces": [namespace]}, "allowedActions": ["rolloutRestart"]},
        },
    )
    result = _cli(cluster, "retry", name, "fix", "-n", namespace)

    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "(retry 1 of 3)" in result.stdout
    done = _until(cluster, namespace, name, lambda i: _action(i).get("state") == "Succeeded", "the retried restart")
    action = _action(done)
    assert (action["retries"], action["retriedBy"]) == (1, ADMIN)
    assert get_deployment(cluster, namespace)["metadata"]["generation"] > before
    assert done["status"]["phase"] == "Mitigated"
    assert "StepRetried" in timeline_reasons(done)
    annotations = done["metadata"].get("annotations") or {}
    assert "onduty.dev/retry" not in annotations  # taken: the next retry is a new request

    succeeded = _cli(cluster, "retry", name, "fix", "-n", namespace)
    assert succeeded.returncode == 1
    assert "step fix succeeded" in succeeded.stderr and "nothing to retry" in succeeded.stderr
    unknown = _cli(cluster, "retry", name, "nope", "-n", namespace)
    assert unknown.returncode == 1 and "has no step nope that ran (steps with a record: fix)" in unknown.stderr


def test_a_step_is_retried_at_most_three_times(cluster, namespace, deployment, operator) -> None:
    name = open_step_incident(cluster, namespace, {"action": "rolloutRestart"}, policy={"allowedActions": ["scale"]})
    _until(cluster, namespace, name, lambda i: _action(i).get("state") == "Denied", "the denial")
    for attempt in (1, 2, 3):
        result = _cli(cluster, "retry", name, "fix", "-n", namespace)
        assert result.returncode == 0, result.stderr
        _until(
            cluster,
            namespace,
            name,
            lambda i, n=attempt: _action(i).get("retries") == n and _action(i).get("state") == "Denied",
            f"retry {attempt} to be denied again",
        )

    refused = _cli(cluster, "retry", name, "fix", "-n", namespace)

    assert refused.returncode == 1
    assert "step fix was retried 3 times already, the most a step may be (3)" in refused.stderr
    incident = _incident(cluster, namespace, name)
    assert timeline_reasons(incident).count("StepRetried") == 3
    assert "onduty.dev/retry" not in (incident["metadata"].get("annotations") or {})


def _dry_run(cluster, namespace: str) -> str:
    step = {"action": "scale", "replicas": 3, "verify": {"rolloutHealthyWithin": "2m"}}
    name = open_step_incident(cluster, namespace, step, policy={"dryRun": True})
    dry = _until(cluster, namespace, name, lambda i: _action(i).get("state") == "DryRun", "the dry run")
    assert "replicas" in _action(dry)["diff"]
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 2
    return name


def test_a_dry_run_run_for_real_applies_the_change_it_showed(cluster, namespace, deployment, operator) -> None:
    name = _dry_run(cluster, namespace)

    result = _cli(cluster, "approve", name, "-n", namespace, "--step", "fix", "--for-real")

    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    done = _until(cluster, namespace, name, lambda i: _action(i).get("state") == "Succeeded", "the real scale")
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 3
    action = _action(done)
    assert action["approval"]["decidedBy"] == ADMIN and action["forReal"]["requestedBy"] == ADMIN
    assert verdict_reasons(action)["DryRun"] == "TargetUnchanged"
    assert "DryRunApproved" in timeline_reasons(done)

    again = _cli(cluster, "approve", name, "-n", namespace, "--step", "fix", "--for-real")
    assert again.returncode == 1 and "step fix did not run as a dry run: it is Succeeded" in again.stderr


def test_a_dry_run_is_not_run_for_real_on_a_target_changed_since(cluster, namespace, deployment, operator) -> None:
    name = _dry_run(cluster, namespace)
    cluster.kubectl(
        "set", "image", "deployment/web", "app=registry.local/app:1.1", "-n", namespace
    )  # someone deploys meanwhile

    result = _cli(cluster, "approve", name, "-n", namespace, "--for-real")

    assert result.returncode == 0, result.stderr
    denied = _until(cluster, namespace, name, lambda i: _action(i).get("state") == "Denied", "the refusal")
    action = _action(denied)
    assert action["reason"] == "TargetChangedSinceDryRun"
    assert "Deployment/web changed since its dry run (generation" in action["message"]
    assert "retry the step to see a new dry run" in action["message"]
    assert get_deployment(cluster, namespace)["spec"]["replicas"] == 2


def test_only_an_identity_with_the_right_may_resolve_retry_or_run_for_real(cluster, namespace) -> None:
    """eve may edit incidents (patch) but holds no custom verb; rita is a responder (resolve, retry)."""
    for user, verbs in (("eve", []), ("rita", ["resolve", "retry"])):
        apply_manifest(
            cluster,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": user, "namespace": namespace},
                "rules": [{"apiGroups": ["onduty.dev"], "resources": ["incidents"], "verbs": ["get", "patch", *verbs]}],
            },
        )
        apply_manifest(
            cluster,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": user, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            },
        )
    name = "target"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"title": "t", "severity": "warning", "source": "manual", "labels": {}},
        },
    )

    def annotate(user: str, *pairs: str):
        return cluster.kubectl(
            "--as", user, "annotate", "incident.onduty.dev", name, "-n", namespace, *pairs, "--overwrite", check=False
        )

    refused = {
        "eve resolves": annotate("eve", "onduty.dev/resolve=done", "onduty.dev/resolved-by=eve"),
        "eve retries": annotate("eve", "onduty.dev/retry=fix", "onduty.dev/retried-by=eve"),
        "rita runs for real": annotate("rita", "onduty.dev/run-for-real=fix", "onduty.dev/approved-by=rita"),
        "rita resolves as eve": annotate("rita", "onduty.dev/resolve=done", "onduty.dev/resolved-by=eve"),
        "rita retries unnamed": annotate("rita", "onduty.dev/retry=fix"),
    }
    assert {what: r.returncode != 0 for what, r in refused.items()} == dict.fromkeys(refused, True)
    assert "needs the resolve verb on incidents.onduty.dev" in refused["eve resolves"].stderr
    assert "needs the retry verb on incidents.onduty.dev" in refused["eve retries"].stderr
    assert "needs the approve verb on incidents.onduty.dev" in refused["rita runs for real"].stderr
    assert "unless onduty.dev/resolved-by=rita is recorded" in refused["rita resolves as eve"].stderr
    annotations = _incident(cluster, namespace, name)["metadata"].get("annotations") or {}
    assert not {"onduty.dev/resolve", "onduty.dev/retry", "onduty.dev/run-for-real"} & set(annotations)

    accepted = annotate("rita", "onduty.dev/retry=fix", "onduty.dev/retried-by=rita")
    assert accepted.returncode == 0, accepted.stderr
