"""The validating admission webhook on the real API server, and the loud refusal of what slips past it.

``kubectl apply`` goes through the webhook onduty serves (with ``--admission-webhook``): a spec
onduty's own parsers refuse — an unknown time zone, PromQL that does not parse — is refused at
the API server, naming the field and the value. The webhook fails open: with onduty down the
same apply is stored, and onduty, once it runs, marks the object not Accepted, posts a Warning
Event on it and logs one line naming it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit import helm_template, wait_for
from onduty.adapters.certificates import self_signed
from onduty.handlers.admission import MANAGED_CONFIGURATION
from processes import free_port


def _policy(name: str, time_zone: str) -> dict:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "RemediationPolicy",
        "metadata": {"name": name},
        "spec": {
            "scope": {"namespaces": [f"{name}-scope"]},
            "allowedActions": ["rolloutRestart"],
            "changeFreezes": [{"name": "release", "cron": "0 18 * * 5", "duration": "64h", "timeZone": time_zone}],
        },
    }


def _runbook(name: str, expr: str) -> dict:
    return {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "Runbook",
        "metadata": {"name": name},
        "spec": {
            "match": {"alertnames": ["HighErrorRate"]},
            "remediation": {
                "steps": [
                    {
                        "name": "restart",
                        "action": "rolloutRestart",
                        "condition": {"expr": expr, "op": ">", "threshold": 0.05},
                    }
                ]
            },
        },
    }


def _apply(cluster, obj: dict, namespace: str | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
    where = ["-n", namespace] if namespace else []
    return cluster.kubectl("apply", *where, *extra, "-f", "-", input_=json.dumps(obj), check=False)


@pytest.fixture
def policies(cluster) -> Iterator[list[str]]:
    """Names of cluster-scoped policies a test creates; deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "remediationpolicy.onduty.dev", name, "--wait=false", check=False)


@pytest.fixture
def webhook_configurations(cluster) -> Iterator[list[str]]:
    """ValidatingWebhookConfigurations a test (or the onduty it starts) registers; deleted afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.kubectl("delete", "validatingwebhookconfiguration", name, "--ignore-not-found", check=False)


def test_kubectl_apply_refuses_what_onduty_could_not_use_naming_field_and_value(
    cluster, namespace: str, operator_factory, policies: list[str], webhook_configurations: list[str]
) -> None:
    webhook_configurations.append(MANAGED_CONFIGURATION)
    port = free_port()
    operator_factory(extra_args=["--admission-webhook", "--admission-webhook-port", str(port)]).start()
    name = f"mars-{uuid.uuid4().hex[:6]}"
    policies.append(name)
    bad_policy = _policy(name, "Mars/Olympus")
    # onduty registers its webhook once it runs; the API server uses it a moment later.
    refused = wait_for(
        lambda: (r := _apply(cluster, bad_policy, None, "--dry-run=server")).returncode != 0 and r,
        timeout=60,
        what="the API server to call onduty's webhook",
    )

    stored = _apply(cluster, bad_policy)
    bad_query = _apply(cluster, _runbook("broken-query", "sum(rate(http_requests_total[5m])"), namespace)
    good_policy = _apply(cluster, _policy(f"{name}-ok", "Europe/Berlin"))
    policies.append(f"{name}-ok")
    good_runbook = _apply(cluster, _runbook("error-rate", "sum(rate(http_requests_total[5m])) > 0"), namespace)

    assert "timeZone" in refused.stderr and "Mars/Olympus" in refused.stderr, refused.stderr
    assert stored.returncode != 0 and "Mars/Olympus" in stored.stderr, stored.stderr
    assert cluster.kubectl("get", "remediationpolicy.onduty.dev", name, check=False).returncode != 0
    assert bad_query.returncode != 0, bad_query.stdout
    assert "condition.expr" in bad_query.stderr and "cannot parse PromQL" in bad_query.stderr, bad_query.stderr
    assert good_policy.returncode == 0, good_policy.stderr
    assert good_runbook.returncode == 0, good_runbook.stderr
    registered = cluster.get_json("validatingwebhookconfiguration", MANAGED_CONFIGURATION)
    assert {w["failurePolicy"] for w in registered["webhooks"]} == {"Ignore"}
    assert {w["sideEffects"] for w in registered["webhooks"]} == {"None"}
    assert {op for w in registered["webhooks"] for r in w["rules"] for op in r["operations"]} == {"CREATE", "UPDATE"}
    assert {g for w in registered["webhooks"] for r in w["rules"] for g in r["apiGroups"]} == {"onduty.dev"}


def _chart_webhooks(cluster, tmp_path: Path, url: str, ca: bytes) -> dict:
    """The chart's ValidatingWebhookConfiguration, calling ``url`` instead of the in-cluster Service."""
    rendered = helm_template(cluster.bin_dir / "helm", tmp_path, "onduty", "onduty-system")
    [configuration] = [d for d in rendered if d["kind"] == "ValidatingWebhookConfiguration"]
    configuration["metadata"]["name"] = f"onduty-test-{uuid.uuid4().hex[:6]}"
    for webhook in configuration["webhooks"]:
        path = webhook["clientConfig"]["service"]["path"]
        webhook["clientConfig"] = {"url": url + path, "caBundle": base64.b64encode(ca).decode()}
    return configuration


def test_with_onduty_down_a_bad_policy_is_stored_then_refused_loudly(
    cluster, kube, operator_factory, tmp_path: Path, policies: list[str], webhook_configurations: list[str]
) -> None:
    # As the chart runs it: a certificate given (--admission-webhook-cert-dir), the chart's configuration.
    port = free_port()
    certificate = self_signed(["127.0.0.1"], tmp_path)
    configuration = _chart_webhooks(cluster, tmp_path, f"https://127.0.0.1:{port}", certificate.certfile.read_bytes())
    webhook_configurations.append(configuration["metadata"]["name"])
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(configuration))
    args = ["--admission-webhook", "--admission-webhook-port", str(port), "--admission-webhook-cert-dir", str(tmp_path)]
    onduty = operator_factory(extra_args=args).start()
    name = f"mars-{uuid.uuid4().hex[:6]}"
    policies.append(name)
    bad_policy = _policy(name, "Mars/Olympus")
    wait_for(
        lambda: _apply(cluster, bad_policy, None, "--dry-run=server").returncode != 0,
        timeout=60,
        what="the API server to call onduty's webhook through the chart's configuration",
    )
    onduty.stop()

    stored = _apply(cluster, bad_policy)
    assert stored.returncode == 0, stored.stderr  # failurePolicy Ignore: onduty down refuses nothing

    onduty.start()
    policy = wait_for(
        lambda: (
            (p := cluster.get_json("remediationpolicy.onduty.dev", name))
            and any(
                c["type"] == "Accepted" and c["status"] == "False"
                for c in (p.get("status") or {}).get("conditions", [])
            )
            and p
        ),
        timeout=60,
        what="the policy to be marked not Accepted",
    )
    [accepted] = [c for c in policy["status"]["conditions"] if c["type"] == "Accepted"]
    assert "timeZone" in accepted["message"] and "Mars/Olympus" in accepted["message"]

    def warnings() -> list[dict]:
        events = kube.request("GET", "/apis/events.k8s.io/v1/events")["items"]
        return [
            e
            for e in events
            if (e.get("regarding") or {}).get("name") == name
            and (e.get("regarding") or {}).get("kind") == "RemediationPolicy"
            and e.get("type") == "Warning"
        ]

    [event] = wait_for(warnings, timeout=30, what="a Warning Event on the policy")
    assert "Mars/Olympus" in event["note"] and "timeZone" in event["note"]
    log_lines = [line for line in onduty.log_path.read_text().splitlines() if f"RemediationPolicy {name}:" in line]
    assert len(log_lines) == 1 and "WARNING" in log_lines[0] and "Mars/Olympus" in log_lines[0], "\n".join(
        onduty.log_path.read_text().splitlines()[-40:]
    )

    # The webhook judges a changed spec only: the stored policy still takes a label (and onduty's own writes).
    labelled = cluster.kubectl("label", "remediationpolicy.onduty.dev", name, "team=platform", check=False)
    assert labelled.returncode == 0, labelled.stderr

    # Once per change: a restart reads the policy again (a resume) and says nothing new.
    onduty.stop()
    onduty.start()
    every_policy = len(cluster.get_json("remediationpolicies.onduty.dev")["items"])
    wait_for(
        lambda: onduty.log_path.read_text().count("Handler 'accept_policy' succeeded") >= every_policy,
        timeout=30,
        what="onduty to read every policy again",
    )
    assert f"RemediationPolicy {name}:" not in onduty.log_path.read_text()
    assert len(warnings()) == 1


def test_the_chart_renders_the_webhook_when_enabled_and_nothing_of_it_when_disabled(cluster, tmp_path: Path) -> None:
    helm = cluster.bin_dir / "helm"
    enabled = helm_template(helm, tmp_path, "onduty", "onduty-system")
    disabled = helm_template(helm, tmp_path, "onduty", "onduty-system", "--set", "admissionWebhook.enabled=false")

    [configuration] = [d for d in enabled if d["kind"] == "ValidatingWebhookConfiguration"]
    [secret] = [d for d in enabled if d["kind"] == "Secret" and d["metadata"]["name"] == "onduty-webhook-tls"]
    [service] = [d for d in enabled if d["kind"] == "Service" and d["metadata"]["name"] == "onduty-webhook"]
    [deployment] = [d for d in enabled if d["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {w["failurePolicy"] for w in configuration["webhooks"]} == {"Ignore"}
    assert all(w["timeoutSeconds"] <= 10 for w in configuration["webhooks"])
    assert {w["sideEffects"] for w in configuration["webhooks"]} == {"None"}
    assert {tuple(w["admissionReviewVersions"]) for w in configuration["webhooks"]} == {("v1",)}
    assert {w["clientConfig"]["service"]["name"] for w in configuration["webhooks"]} == {"onduty-webhook"}
    assert {w["clientConfig"]["caBundle"] for w in configuration["webhooks"]} == {secret["data"]["ca.crt"]}
    assert {g for w in configuration["webhooks"] for r in w["rules"] for g in r["apiGroups"]} == {"onduty.dev"}
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert service["spec"]["ports"][0]["targetPort"] == "admission"
    assert "--admission-webhook" in args
    assert any(a.startswith("--admission-webhook-cert-dir=") for a in args)

    assert not [d for d in disabled if d["kind"] == "ValidatingWebhookConfiguration"]
    assert not [d for d in disabled if d["metadata"]["name"] in ("onduty-webhook", "onduty-webhook-tls")]
    [plain] = [d for d in disabled if d["kind"] == "Deployment"]
    assert not [a for a in plain["spec"]["template"]["spec"]["containers"][0]["args"] if "admission-webhook" in a]


def test_the_chart_grants_onduty_no_right_on_webhook_configurations(cluster, tmp_path: Path) -> None:
    rendered = helm_template(cluster.bin_dir / "helm", tmp_path, "onduty", "onduty-system")
    rules = [r for d in rendered if d["kind"] in ("ClusterRole", "Role") for r in d.get("rules") or []]

    assert not [
        r
        for r in rules
        if "admissionregistration.k8s.io" in r.get("apiGroups", [])
        and {"create", "patch", "update", "*"} & set(r.get("verbs", []))
        and {"validatingwebhookconfigurations", "*"} & set(r.get("resources", []))
    ]
