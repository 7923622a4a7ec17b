"""Two replicas with Kopf peering: one acts, the other stands by and takes over a crash; shards split namespaces.

Both run as real processes (``onduty run --peering``) against the local control plane, sharing one
ClusterKopfPeering with distinct priorities and a short keep-alive lifetime, so a SIGKILLed active
replica is replaced within seconds. What is proven: before the crash only the active replica writes;
after it, the standby finishes the incident's approved step exactly once (one rollout, one new
ReplicaSet, one action record) and an approval request that expires while nobody acted still expires.

Sharding: the chart rendered for two shards (one release each, in its own namespace, with its own
``rbac.namespaces`` and peering), run through onduty's own parser, gives two operators that each handle
only their namespaces' incidents; an incident in a namespace neither watches is left alone.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from alertmanager_webhook import am_alert, am_payload, post_json
from kit import apply_manifest, deployment_manifest, drop_namespace, helm_template, open_step_incident, wait_for
from onduty import cli
from receivers import Receiver
from receivers import pagerduty as pd_vendor

# The test cluster's admin (its client certificate's CN): the admission policy records approvers by their own name.
ADMIN = "onduty-admin"
# Short, so a takeover takes seconds here (the chart uses 30).
LIFETIME = 3
# Long enough to approve the first incident after the crash, short enough to watch the second expire.
APPROVAL_TTL_SECONDS = 45


@pytest.fixture
def peering(cluster):
    name = f"ha-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-f", "-", input_=json.dumps(peering_object(name)))
    yield name
    cluster.kubectl("delete", "clusterkopfpeering", name, "--wait=false", check=False)


def peering_object(name):
    return {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}


def replica_args(peering, priority):
    return [
        "--peering",
        f"--peering-name={peering}",
        f"--peering-priority={priority}",
        f"--peering-lifetime={LIFETIME}",
    ]


def replica(operator_factory, peering, priority):
    return operator_factory(extra_args=replica_args(peering, priority))


def incident(cluster, namespace, name):
    return cluster.get_json("incident.onduty.dev", name, "-n", namespace)


def actions(cluster, namespace, name):
    return (incident(cluster, namespace, name).get("status") or {}).get("actions") or []


def replica_sets(cluster, namespace):
    return [
        rs["metadata"]["name"]
        for rs in cluster.get_json("replicasets", "-n", namespace)["items"]
        if any(o.get("name") == "web" for o in rs["metadata"].get("ownerReferences") or [])
    ]


def awaiting_approval(cluster, namespace, name):
    def probe():
        found = actions(cluster, namespace, name)
        return (
            found if found and found[0].get("approval") and found[0]["state"] not in ("Succeeded", "Denied") else None
        )

    return wait_for(probe, timeout=90, what=f"{name}'s step to ask for approval")


def test_one_replica_acts_and_the_standby_finishes_after_the_active_one_crashes(
    cluster, namespace, deployment, operator_factory, peering
):
    active = replica(operator_factory, peering, priority=200).start()
    standby = replica(operator_factory, peering, priority=100).start()
    wait_for(
        lambda: f"peering {peering}: paused, standing by for" in standby.log_path.read_text(),
        timeout=60,
        what="the standby to say it is paused",
    )

    def both_keep_alives():
        # The standby may say it stands by (it read the active's keep-alive) before Kopf writes its own.
        status = cluster.get_json("clusterkopfpeering", peering).get("status") or {}
        return sorted(p["priority"] for p in status.values()) == [100, 200]

    wait_for(both_keep_alives, timeout=60, what="both replicas' keep-alives in the peering object")

    before = cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"]
    sets_before = replica_sets(cluster, namespace)
    first = open_step_incident(
        cluster,
        namespace,
        {"action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "2m"}},
        policy={"requireApproval": ["rolloutRestart"], "approvalTTL": f"{APPROVAL_TTL_SECONDS}s"},
    )
    [waiting] = awaiting_approval(cluster, namespace, first)
    # A second incident on the same runbook and policy, on another workload, left unapproved: its expiry must
    # survive the crash.
    cluster.kubectl("apply", "-f", "-", input_=deployment_manifest("api", namespace))
    second = f"inc-{uuid.uuid4().hex[:6]}"
    apply_manifest(
        cluster,
        {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": second, "namespace": namespace},
            "spec": {
                "title": "broken too",
                "severity": "critical",
                "labels": {"alertname": "Broken"},
                "workload": {"kind": "Deployment", "name": "api"},
            },
        },
    )
    [expiring] = awaiting_approval(cluster, namespace, second)
    # Only the active replica handled the incidents; the standby never touched them.
    standby_log = standby.log_path.read_text()
    assert first not in standby_log and second not in standby_log, standby.tail()
    assert first in active.log_path.read_text()

    active.kill()  # a crash: no goodbye in the peering object, the standby waits out the keep-alive
    killed_at = datetime.now(UTC)
    cluster.kubectl(
        "annotate",
        "incident.onduty.dev",
        first,
        "-n",
        namespace,
        f"onduty.dev/approved-by={ADMIN}",
        "onduty.dev/approve=fix",
    )
    wait_for(
        lambda: f"peering {peering}: active" in standby.log_path.read_text(),
        timeout=LIFETIME + 30,
        what="the standby to take over",
    )
    done = wait_for(
        lambda: next((a for a in actions(cluster, namespace, first) if a["state"] == "Succeeded"), None),
        timeout=120,
        what="the approved restart to be run by the replica that took over",
    )
    assert done["id"] == waiting["id"]
    assert done["approval"].get("decidedBy") == ADMIN, json.dumps(done)
    # Exactly once: one action record, one rollout, one new ReplicaSet, the action's id on the workload.
    assert len(actions(cluster, namespace, first)) == 1
    workload = cluster.get_json("deployment", "web", "-n", namespace)
    assert workload["metadata"]["generation"] == before + 1
    assert workload["spec"]["template"]["metadata"]["annotations"]["onduty.dev/action-id"] == done["id"]
    assert len(replica_sets(cluster, namespace)) == len(sets_before) + 1
    assert first in standby.log_path.read_text()

    # The deadline the crashed replica would have kept: the second request still expires, once.
    expires = datetime.fromisoformat(expiring["approval"]["expiresAt"].replace("Z", "+00:00"))
    assert expires > killed_at  # it was still open when the active replica died
    try:
        expired = wait_for(
            lambda: next((a for a in actions(cluster, namespace, second) if a["state"] == "Denied"), None),
            timeout=APPROVAL_TTL_SECONDS + 60,
            what="the unapproved request to expire",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}: {json.dumps(incident(cluster, namespace, second).get('status'))}") from None
    assert expired["reason"] == "ApprovalExpired"
    assert len(actions(cluster, namespace, second)) == 1
    assert incident(cluster, namespace, second)["status"]["phase"] == "Escalated"
    assert cluster.get_json("deployment", "api", "-n", namespace)["metadata"]["generation"] == 1
    assert datetime.now(UTC) - expires < timedelta(seconds=60)


# --- sharding: one release per shard, each in its own namespace, watching its own namespaces -----------------


@pytest.fixture
def namespaces(cluster):
    """Five fresh namespaces: two shards' homes and three teams'."""
    made = [f"t-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for name in made:
        cluster.kubectl("create", "namespace", name)
    yield made
    for name in made:
        drop_namespace(cluster, name)
        cluster.kubectl("delete", "remediationpolicy", f"p-{name}", "--ignore-not-found", check=False)


def shard_container(cluster, tmp_path, release, home, teams):
    """The operator container the chart renders for one shard, and the ClusterKopfPeering it shares."""
    rendered = helm_template(
        cluster.bin_dir / "helm",
        tmp_path,
        release,
        home,
        "--set",
        f"rbac.namespaces={{{','.join(teams)}}}",
        "--set",
        "replicas=2",
        "--set",
        "peering.enabled=true",
    )
    [deployment] = [d for d in rendered if d["kind"] == "Deployment"]
    [peering] = [d for d in rendered if d["kind"] == "ClusterKopfPeering"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container, peering


def parsed_as_onduty_starts(container, home, monkeypatch):
    """The container's arguments through onduty's own parser; its namespace as the downward API gives it."""
    for variable in [v for v in os.environ if v.startswith("ONDUTY_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("ONDUTY_NAMESPACE", home)
    return cli.build_parser().parse_args(container["args"])


def handled(cluster, namespace, name):
    return bool((cluster.get_json("incident.onduty.dev", name, "-n", namespace).get("status") or {}).get("actions"))


def test_shards_split_the_namespaces_with_no_overlap(cluster, namespaces, operator_factory, tmp_path, monkeypatch):
    home_a, home_b, team_a, team_b, team_c = namespaces
    shards = {}
    for release, home, teams in (("shard-a", home_a, [team_a]), ("shard-b", home_b, [team_b])):
        container, peering = shard_container(cluster, tmp_path, release, home, teams)
        args = parsed_as_onduty_starts(container, home, monkeypatch)
        watched = cli.watch_namespaces(args.watch_namespaces, args.namespace)
        assert set(watched) == {home, *teams} and args.peering
        apply_manifest(cluster, peering)
        onduty = operator_factory(
            extra_args=[
                f"--watch-namespaces={args.watch_namespaces}",
                "--peering",
                f"--peering-name={args.peering_name}",
                f"--peering-lifetime={LIFETIME}",
            ]
        )
        onduty.namespace = args.namespace  # each shard has its own home: its global runbooks, its lone alerts
        shards[release] = (onduty, args.peering_name)
    assert shards["shard-a"][1] != shards["shard-b"][1]  # two peerings: both shards active at once
    for onduty, _ in shards.values():
        onduty.start()

    step = {"action": "rolloutRestart"}  # no Deployment to restart: the step is denied, which is handling it
    incidents = {team: open_step_incident(cluster, team, step) for team in (team_a, team_b, team_c)}
    for team in (team_a, team_b):
        wait_for(lambda team=team: handled(cluster, team, incidents[team]), timeout=90, what=f"the incident in {team}")

    log_a = shards["shard-a"][0].log_path.read_text()
    log_b = shards["shard-b"][0].log_path.read_text()
    assert incidents[team_a] in log_a and incidents[team_a] not in log_b
    assert incidents[team_b] in log_b and incidents[team_b] not in log_a
    # Both shards have handled what they watch; the namespace neither watches is untouched.
    untouched = cluster.get_json("incident.onduty.dev", incidents[team_c], "-n", team_c)
    assert not untouched.get("status") and not untouched["metadata"].get("finalizers")
    assert incidents[team_c] not in log_a + log_b


# --- escalation across a takeover: the standby's bridge takes the alert, the deadline survives the crash ----

PRIMARY_KEY, SECONDARY_KEY = "a" * 32, "b" * 32


def pages(pagerduty, routing_key):
    return [
        body
        for body in (r.json() for r in pagerduty.requests if r.path == "/v2/enqueue")
        if body["routing_key"] == routing_key and body["event_action"] == "trigger"
    ]


def escalation_objects(namespace, url, primary_timeout):
    def secret(name, key):
        data = {"routingKey": base64.b64encode(key.encode()).decode()}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "data": data}

    def notifier(name):
        return {
            "apiVersion": "onduty.dev/v1alpha1",
            "kind": "Notifier",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "pagerduty", "secretRef": {"name": name}, "pagerduty": {"url": f"{url}/v2/enqueue"}},
        }

    policy = {
        "apiVersion": "onduty.dev/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "default", "namespace": namespace},
        "spec": {
            "default": True,
            "levels": [
                {"name": "primary", "ackTimeout": primary_timeout, "notifiers": ["pd-primary"], "users": ["alice"]},
                {"name": "secondary", "ackTimeout": "10m", "notifiers": ["pd-secondary"], "users": ["bob"]},
            ],
        },
    }
    items = [secret("pd-primary", PRIMARY_KEY), secret("pd-secondary", SECONDARY_KEY)]
    return [*items, notifier("pd-primary"), notifier("pd-secondary"), policy]


def test_the_escalation_deadline_survives_the_active_replica_and_nobody_is_paged_twice(
    cluster, namespace, operator_factory, peering
):
    loopback = ["--notifier-allowed-networks", "127.0.0.0/8"]
    with Receiver(check=pd_vendor.check, respond=pd_vendor.respond) as pagerduty:
        for obj in escalation_objects(namespace, pagerduty.url, primary_timeout="30s"):
            apply_manifest(cluster, obj)
        active = operator_factory(extra_args=[*replica_args(peering, 200), *loopback]).start()
        standby = operator_factory(extra_args=[*replica_args(peering, 100), *loopback]).start()
        wait_for(
            lambda: f"peering {peering}: paused, standing by for" in standby.log_path.read_text(),
            timeout=60,
            what="the standby to say it is paused",
        )
        # Alertmanager may reach either replica: the standby's bridge stores the alert, the active one acts.
        labels = {"alertname": "CheckoutDown", "namespace": namespace, "severity": "critical"}
        code, answer = post_json(
            standby.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC)))
        )
        assert code == 200, answer
        wait_for(lambda: pages(pagerduty, PRIMARY_KEY), timeout=60, what="the primary to be paged")

        def escalation():
            items = cluster.get_json("incidents.onduty.dev", "-n", namespace)["items"]
            return next(((i["status"].get("escalation") or {}) for i in items if i.get("status")), {})

        deadline = datetime.fromisoformat(
            wait_for(lambda: escalation().get("nextAt"), timeout=30, what="the ack deadline").replace("Z", "+00:00")
        )
        active.kill()
        assert datetime.now(UTC) < deadline, "the test was too slow to kill the active replica before the deadline"

        wait_for(lambda: pages(pagerduty, SECONDARY_KEY), timeout=90, what="the secondary to be paged by the standby")
        assert escalation().get("level") == 1
        assert len(pages(pagerduty, PRIMARY_KEY)) == 1 and len(pages(pagerduty, SECONDARY_KEY)) == 1
        pagerduty.assert_clean()


def test_a_replica_outranked_mid_wait_leaves_its_deadline_to_the_new_active_one(
    cluster, namespace, operator_factory, peering
):
    """The escalation machinery is onduty's own: it must stand still when Kopf pauses the replica."""
    loopback = ["--notifier-allowed-networks", "127.0.0.0/8"]
    with Receiver(check=pd_vendor.check, respond=pd_vendor.respond) as pagerduty:
        for obj in escalation_objects(namespace, pagerduty.url, primary_timeout="20s"):
            apply_manifest(cluster, obj)
        first = operator_factory(extra_args=[*replica_args(peering, 100), *loopback]).start()
        labels = {"alertname": "CheckoutDown", "namespace": namespace, "severity": "critical"}
        code, answer = post_json(
            first.url + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=datetime.now(UTC)))
        )
        assert code == 200, answer
        wait_for(lambda: pages(pagerduty, PRIMARY_KEY), timeout=60, what="the primary to be paged")

        # A replica of higher priority joins while the first waits for the acknowledgement.
        second = operator_factory(extra_args=[*replica_args(peering, 200), *loopback]).start()
        wait_for(
            lambda: f"peering {peering}: paused, standing by for" in first.log_path.read_text(),
            timeout=60,
            what="the first replica to pause in favour of the second",
        )
        wait_for(lambda: pages(pagerduty, SECONDARY_KEY), timeout=90, what="the secondary to be paged")
        assert len(pages(pagerduty, PRIMARY_KEY)) == 1 and len(pages(pagerduty, SECONDARY_KEY)) == 1
        escalated = "Escalated: secondary"
        wait_for(lambda: escalated in second.log_path.read_text(), timeout=30, what="the second replica to escalate")
        assert escalated not in first.log_path.read_text()
        pagerduty.assert_clean()
