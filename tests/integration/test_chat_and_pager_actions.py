"""Acknowledging and approving from Slack buttons and PagerDuty webhooks, as the platform's integrations.

Each callback proves itself (Slack's signature and timestamp window, PagerDuty's HMAC), the vendor's user is
mapped to a Kubernetes identity by the platform's onduty-responders ConfigMap, and the API server decides
(a SubjectAccessReview) whether that identity may acknowledge or approve in the incident's namespace. What
onduty then writes passes the admission policies only because onduty holds the *-on-behalf verbs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from alertmanager_webhook import post_json
from kit import REPO, apply_manifest, open_step_incident, wait_for

GLOBAL = "onduty-system"
SIGNING_SECRET = "slack-signing-secret-for-tests"
PD_SECRET = "pagerduty-webhook-secret-for-tests"
OG_TOKEN = "opsgenie-webhook-token-for-tests"
RESPONDERS = """
- user: alice@example.com
  slack: U0ALICE
  pagerduty: Alice Doe
  opsgenie: alice@example.com
- user: mallory@example.com
  slack: U0MALLORY
"""


@pytest.fixture
def integrations(cluster, namespace: str) -> Iterator[dict[str, str]]:
    """The platform's Slack app and PagerDuty webhook (Notifiers in onduty's namespace), and who is who."""
    suffix = uuid.uuid4().hex[:6]
    names = {"slack": f"slack-app-{suffix}", "pagerduty": f"pd-app-{suffix}", "opsgenie": f"og-app-{suffix}"}
    secrets = {
        "slack": {"webhookURL": "https://hooks.slack.com/services/T0/B0/x", "signingSecret": SIGNING_SECRET},
        "pagerduty": {"routingKey": "c" * 32, "webhookSecret": PD_SECRET},
        "opsgenie": {"apiKey": "opsgenie-api-key", "webhookToken": OG_TOKEN},
    }
    for vendor, name in names.items():
        apply_manifest(
            cluster,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": GLOBAL},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in secrets[vendor].items()},
            },
        )
        apply_manifest(
            cluster,
            {
                "apiVersion": "onduty.dev/v1alpha1",
                "kind": "Notifier",
                "metadata": {"name": name, "namespace": GLOBAL},
                "spec": {"type": vendor, "secretRef": {"name": name}},
            },
        )
    apply_manifest(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "onduty-responders", "namespace": GLOBAL},
            "data": {"responders.yaml": RESPONDERS},
        },
    )
    # alice is on call in this namespace (acknowledge and approve); mallory is mapped but has no rights here.
    for role in ("incident_responder_role.yaml", "incident_approver_role.yaml"):
        cluster.kubectl("apply", "-f", str(REPO / "manifests/rbac" / role))
    cluster.kubectl(
        "create", "rolebinding", "alice-approves", "--clusterrole=onduty-incident-approver",
        "--user=alice@example.com", "-n", namespace,
    )  # fmt: skip
    yield names
    for name in names.values():
        cluster.kubectl("delete", "notifier.onduty.dev,secret", name, "-n", GLOBAL, "--ignore-not-found", check=False)
    cluster.kubectl("delete", "configmap", "onduty-responders", "-n", GLOBAL, "--ignore-not-found", check=False)


def _slack(
    url: str, notifier: str, action_id: str, value: str, user: str, *, secret: str = SIGNING_SECRET, age: int = 0
):
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": action_id, "value": value}],
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time()) - age)
    signature = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return post_json(f"{url}/integrations/slack/{notifier}", None, raw=body, headers=headers)


def _pagerduty(url: str, notifier: str, event_type: str, uid: str, agent: str, *, secret: str = PD_SECRET):
    body = json.dumps(
        {
            "event": {
                "event_type": event_type,
                "agent": {"summary": agent, "type": "user_reference"},
                "data": {"id": "PGR0VU2", "type": "incident", "incident_key": uid},
            }
        }
    ).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return post_json(
        f"{url}/integrations/pagerduty/{notifier}", None, raw=body, headers={"X-PagerDuty-Signature": signature}
    )


def _incident(cluster, namespace: str, name: str) -> dict:
    return cluster.get_json("incident.onduty.dev", name, "-n", namespace)


def test_a_slack_button_acknowledges_for_the_mapped_person_and_nobody_else(
    cluster, namespace, deployment, integrations, operator
):
    name = open_step_incident(
        cluster, namespace, {"action": "rolloutRestart"}, policy={"requireApproval": ["rolloutRestart"]}
    )
    slack = integrations["slack"]
    value = f"{namespace}/{name}"

    # Forged, stale, unmapped or unauthorised: refused, and the incident is untouched.
    assert _slack(operator.url, slack, "onduty_ack", value, "U0ALICE", secret="wrong")[0] == 401
    assert _slack(operator.url, slack, "onduty_ack", value, "U0ALICE", age=600)[0] == 401
    code, answer = _slack(operator.url, slack, "onduty_ack", value, "U0NOBODY")
    assert code == 403 and "not mapped" in answer["message"]
    code, answer = _slack(operator.url, slack, "onduty_ack", value, "U0MALLORY")
    assert code == 403 and "mallory@example.com" in answer["message"] and "may not acknowledge" in answer["message"]
    assert "onduty.dev/acknowledge" not in (_incident(cluster, namespace, name)["metadata"].get("annotations") or {})
    # A namespace's own Notifier never receives callbacks: only the platform's, in onduty's namespace.
    assert _slack(operator.url, "no-such-notifier", "onduty_ack", value, "U0ALICE")[0] == 404

    code, answer = _slack(operator.url, slack, "onduty_ack", value, "U0ALICE")
    assert code == 200, answer
    annotations = _incident(cluster, namespace, name)["metadata"]["annotations"]
    assert annotations["onduty.dev/acknowledged-for"] == "alice@example.com"
    assert annotations["onduty.dev/acknowledged-via"] == "slack"
    assert annotations["onduty.dev/acknowledged-by"]  # onduty's own identity, as the API server named it


def test_a_slack_button_approves_a_waiting_action_in_the_approvers_name(
    cluster, namespace, deployment, integrations, operator
):
    name = open_step_incident(
        cluster, namespace, {"action": "rolloutRestart"}, policy={"requireApproval": ["rolloutRestart"]}
    )
    waiting = wait_for(
        lambda: next(
            (a for a in (_incident(cluster, namespace, name).get("status") or {}).get("actions") or []
             if a["state"] == "AwaitingApproval"),
            None,
        ),
        timeout=90,
        what="the action to wait for approval",
    )  # fmt: skip
    value = f"{namespace}/{name}/{waiting['id']}"
    code, answer = _slack(operator.url, integrations["slack"], "onduty_approve", value, "U0MALLORY")
    assert code == 403
    code, answer = _slack(operator.url, integrations["slack"], "onduty_approve", value, "U0ALICE")
    assert code == 200, answer

    def decided():
        actions = (_incident(cluster, namespace, name).get("status") or {}).get("actions") or []
        return next((a for a in actions if a["id"] == waiting["id"] and a["state"] == "Succeeded"), None)

    done = wait_for(decided, timeout=120, what="the approved restart to succeed")
    assert done["approval"]["approved"] is True
    assert done["approval"]["decidedBy"].startswith("alice@example.com (via slack")
    # Nobody but onduty may name someone else as the approver.
    refused = cluster.kubectl(
        "--as=alice@example.com", "annotate", "--overwrite", "incident.onduty.dev", name, "-n", namespace,
        "onduty.dev/approve=fix", "onduty.dev/approved-by=alice@example.com", "onduty.dev/approved-for=bob",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "only onduty approves for someone else" in refused.stderr


def test_pagerduty_acknowledgements_reach_the_incident_by_its_dedup_key(
    cluster, namespace, deployment, integrations, operator
):
    name = open_step_incident(
        cluster, namespace, {"action": "rolloutRestart"}, policy={"requireApproval": ["rolloutRestart"]}
    )
    uid = _incident(cluster, namespace, name)["metadata"]["uid"]
    pd = integrations["pagerduty"]
    assert _pagerduty(operator.url, pd, "incident.acknowledged", uid, "Alice Doe", secret="forged")[0] == 401
    code, answer = _pagerduty(operator.url, pd, "incident.acknowledged", uid, "Alice Doe")
    assert code == 200, answer
    annotations = _incident(cluster, namespace, name)["metadata"]["annotations"]
    assert (annotations["onduty.dev/acknowledged-for"], annotations["onduty.dev/acknowledged-via"]) == (
        "alice@example.com",
        "pagerduty",
    )
    code, answer = _pagerduty(operator.url, pd, "incident.unacknowledged", uid, "Alice Doe")
    assert code == 200, answer
    assert "onduty.dev/acknowledge" not in (_incident(cluster, namespace, name)["metadata"].get("annotations") or {})
    # An event onduty does not act on is still a 200 (PagerDuty would retry anything else).
    code, answer = _pagerduty(operator.url, pd, "incident.annotated", uid, "Alice Doe")
    assert code == 200 and answer["message"].startswith("ignored")
    assert _pagerduty(operator.url, pd, "incident.acknowledged", "no-such-uid", "Alice Doe")[0] == 404


def test_opsgenie_acknowledgements_need_the_shared_token(cluster, namespace, deployment, integrations, operator):
    name = open_step_incident(
        cluster, namespace, {"action": "rolloutRestart"}, policy={"requireApproval": ["rolloutRestart"]}
    )
    uid = _incident(cluster, namespace, name)["metadata"]["uid"]
    url = f"{operator.url}/integrations/opsgenie/{integrations['opsgenie']}"
    body = {"action": "Acknowledge", "alert": {"alias": uid, "username": "alice@example.com"}}
    assert post_json(url, body, headers={"X-Onduty-Token": "guessed"})[0] == 401
    assert post_json(url, body)[0] == 401
    code, answer = post_json(url, body, headers={"X-Onduty-Token": OG_TOKEN})
    assert code == 200, answer
    annotations = _incident(cluster, namespace, name)["metadata"]["annotations"]
    assert (annotations["onduty.dev/acknowledged-for"], annotations["onduty.dev/acknowledged-via"]) == (
        "alice@example.com",
        "opsgenie",
    )
