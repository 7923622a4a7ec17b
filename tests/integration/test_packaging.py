"""The two ways to install onduty grant the same permissions, carry the same CRDs and admission policies,
and the admission policies hold the trust boundaries on the real API server."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import yaml

from kit import REPO, wait_for

CHART = REPO / "charts/onduty"
POLICIES = ("onduty-approval", "onduty-incident-target", "onduty-acknowledgement")
# Resources the operator touches only inside namespaces: in least-privilege mode no ClusterRole may grant them.
NAMESPACED = {
    "alerts",
    "incidents",
    "runbooks",
    "events",
    "deployments",
    "statefulsets",
    "daemonsets",
    "horizontalpodautoscalers",
    "pods",
    "pods/log",
    "jobs",
    "applications",
    "secrets",
    "configmaps",
    "services",
    "serviceaccounts",
    "replicasets",
    "endpointslices",
}


def _documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _of_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d.get("kind") == kind}


def _cluster_roles(documents: list[dict]) -> dict[str, list]:
    return {name: d.get("rules", []) for name, d in _of_kind(documents, "ClusterRole").items()}


def _kustomize(cluster) -> list[dict]:
    return _documents(cluster.kubectl("kustomize", str(REPO / "manifests")).stdout)


def _render(helm, *sets: str) -> list[dict]:
    args = [arg for value in sets for arg in ("--set", value)]
    return _documents(helm("template", "onduty", str(CHART), "-n", "onduty-system", *args))


def _grants(rules: list[dict]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def _no_wildcard(rules: list[dict]) -> bool:
    return not any("*" in rule.get(key, []) for rule in rules for key in ("apiGroups", "resources", "verbs"))


def test_kustomize_and_helm_grant_the_same_cluster_roles(cluster, helm):
    kustomized = _kustomize(cluster)
    from_kustomize, from_helm = _cluster_roles(kustomized), _cluster_roles(_render(helm))
    assert from_kustomize  # the operator role, the approver role and the per-kind editor/viewer roles
    assert from_kustomize == from_helm
    operator_rules = from_kustomize["onduty-operator"]
    assert _no_wildcard(operator_rules)
    # The operator can read its admission policies (to tell whether approvals are protected), and only those.
    [admission] = [r for r in operator_rules if r["apiGroups"] == ["admissionregistration.k8s.io"]]
    assert admission["verbs"] == ["get"]
    assert sorted(admission["resourceNames"]) == sorted(POLICIES)
    # `approve` is granted by the approver role alone, which no built-in role aggregates by default.
    approver = _of_kind(kustomized, "ClusterRole")["onduty-incident-approver"]
    assert ("onduty.dev", "incidents", "approve") in _grants(approver["rules"])
    assert not any(label.startswith("rbac.authorization.k8s.io/aggregate") for label in approver["metadata"]["labels"])
    # ... and to onduty itself, which approves for a person who pressed a Slack button once the API server said
    # that person may; naming someone else (the *-on-behalf verbs) is onduty's alone.
    assert sorted(
        name for name, rules in from_kustomize.items() if ("onduty.dev", "incidents", "approve") in _grants(rules)
    ) == ["onduty-incident-approver", "onduty-operator"]
    for verb in ("approve-on-behalf", "acknowledge-on-behalf"):
        assert [
            name for name, rules in from_kustomize.items() if ("onduty.dev", "incidents", verb) in _grants(rules)
        ] == ["onduty-operator"]
    assert sorted(
        name for name, rules in from_kustomize.items() if ("onduty.dev", "incidents", "acknowledge") in _grants(rules)
    ) == ["onduty-incident-approver", "onduty-incident-responder", "onduty-operator"]


def test_listed_namespaces_confine_the_operator_to_roles_there(helm):
    default = _render(helm)
    confined = _render(helm, "rbac.namespaces={team-a,team-b}")
    watched = {"team-a", "team-b", "onduty-system"}  # the listed ones plus the release namespace, always

    roles = [d for d in confined if d["kind"] == "Role"]
    assert {r["metadata"]["namespace"] for r in roles} == watched
    bindings = [d for d in confined if d["kind"] == "RoleBinding"]
    assert {b["metadata"]["namespace"] for b in bindings} == watched
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "onduty-operator",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "onduty", "namespace": "onduty-system"}]

    cluster_rules = _cluster_roles(confined)["onduty-operator"]
    leaked = {(g, r, v) for g, r, v in _grants(cluster_rules) if r in NAMESPACED}
    assert not leaked, f"cluster-wide grants on namespaced resources: {sorted(leaked)}"
    assert ("", "nodes", "patch") in _grants(cluster_rules)  # cordonNode stays possible unless rbac.nodes=false
    assert ("onduty.dev", "remediationpolicies", "watch") in _grants(cluster_rules)
    assert ("", "namespaces", "watch") in _grants(cluster_rules)
    # The same rules as cluster-wide mode, only scoped: nothing gained, nothing lost.
    for role in roles:
        assert _no_wildcard(role["rules"])
        assert _grants(role["rules"]) | _grants(cluster_rules) == _grants(_cluster_roles(default)["onduty-operator"])
    assert not [d for d in default if d["kind"] in ("Role", "RoleBinding")]

    [deployment] = _of_kind(confined, "Deployment").values()
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    [flag] = [a for a in args if a.startswith("--watch-namespaces=")]
    assert set(flag.split("=", 1)[1].split(",")) == watched
    [deployment] = _of_kind(default, "Deployment").values()
    assert not any(
        a.startswith("--watch-namespaces") for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_the_global_namespace_is_always_watched(helm):
    confined = _render(helm, "rbac.namespaces={team-a}", "globalNamespace=onduty-global")
    assert {d["metadata"]["namespace"] for d in confined if d["kind"] == "Role"} == {
        "team-a",
        "onduty-system",
        "onduty-global",
    }


def test_nodes_false_makes_cordon_impossible_at_the_rbac_level(helm):
    for sets in ((), ("rbac.namespaces={team-a}",)):
        rendered = _render(helm, "rbac.nodes=false", *sets)
        every_rule = [rule for d in rendered if d["kind"] in ("ClusterRole", "Role") for rule in d.get("rules", [])]
        assert not any("nodes" in rule["resources"] for rule in every_rule)


def test_kustomize_and_helm_carry_the_same_admission_policies(cluster, helm):
    from_kustomize, from_helm = _kustomize(cluster), _render(helm)
    for kind in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
        ours, theirs = _of_kind(from_kustomize, kind), _of_kind(from_helm, kind)
        assert sorted(ours) == sorted(POLICIES)
        assert {name: d["spec"] for name, d in ours.items()} == {name: d["spec"] for name, d in theirs.items()}
    for binding in _of_kind(from_kustomize, "ValidatingAdmissionPolicyBinding").values():
        assert binding["spec"]["validationActions"] == ["Deny"]
    for policy in _of_kind(from_kustomize, "ValidatingAdmissionPolicy").values():
        assert policy["spec"]["failurePolicy"] == "Fail"
    # Fixed names, whatever the release is called: the operator looks them up by name.
    other = _documents(helm("template", "incidents", str(CHART), "-n", "ops"))
    assert sorted(_of_kind(other, "ValidatingAdmissionPolicy")) == sorted(POLICIES)


def test_helm_lint_is_clean(helm):
    helm("lint", "--strict", str(CHART))
    helm("lint", "--strict", str(CHART), "--set", "rbac.namespaces={team-a,team-b}")


def test_the_chart_and_kustomize_carry_the_canonical_crds():
    canonical = sorted(path.name for path in (REPO / "crds").glob("*.yaml"))
    # The seven kinds and Kopf's peering kind, so an empty (or half-emptied) crds/ cannot pass by comparing nothing.
    assert canonical == [
        "kopf.dev_clusterkopfpeerings.yaml",
        "onduty.dev_alerts.yaml",
        "onduty.dev_escalationpolicies.yaml",
        "onduty.dev_incidents.yaml",
        "onduty.dev_notifiers.yaml",
        "onduty.dev_oncallschedules.yaml",
        "onduty.dev_remediationpolicies.yaml",
        "onduty.dev_runbooks.yaml",
    ]
    for copies in (CHART / "crds", REPO / "manifests/crds"):
        # No stale extra copy (kustomize's own kustomization.yaml aside).
        assert sorted(p.name for p in copies.glob("*.yaml") if p.name != "kustomization.yaml") == canonical, copies
        for name in canonical:
            assert (copies / name).read_text() == (REPO / "crds" / name).read_text(), copies / name


# --- the admission policies on the real API server ---------------------------------------------------------

# What the test applies: the policies, the approver role, and the incident editor role that the built-in
# `edit` aggregates (without it `edit` cannot touch Incidents at all, and every refusal would be RBAC's).
POLICY_FILES = (
    REPO / "manifests/admission/approval.yaml",
    REPO / "manifests/admission/incident_target.yaml",
    REPO / "manifests/admission/acknowledgement.yaml",
)
ROLE_FILES = (
    REPO / "manifests/rbac/incident_approver_role.yaml",
    REPO / "manifests/rbac/incident_editor_role.yaml",
    REPO / "manifests/rbac/incident_responder_role.yaml",
)


def _incident(name: str, namespace: str, workload_namespace: str | None = None, annotations=None) -> str:
    workload = {"kind": "Deployment", "name": "web"}
    if workload_namespace is not None:
        workload["namespace"] = workload_namespace
    metadata = {"name": name, "namespace": namespace, "annotations": annotations or {}}
    spec = {"title": "web is down", "severity": "warning", "workload": workload}
    return json.dumps({"apiVersion": "onduty.dev/v1alpha1", "kind": "Incident", "metadata": metadata, "spec": spec})


def _refused(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode != 0 and "denied request" in result.stderr


def _absent(cluster, paths) -> list[str]:
    """The files among ``paths`` whose objects are not in the cluster yet (so the test may remove them after)."""
    return [str(p) for p in paths if cluster.kubectl("get", "-f", str(p), check=False).returncode != 0]


def _files(paths) -> list[str]:
    return [arg for path in paths for arg in ("-f", str(path))]


@pytest.fixture
def admission_policies(cluster) -> Iterator[None]:
    """The policies and roles in force; what the test added is removed (and out of force) afterwards."""
    added_policies, added_roles = _absent(cluster, POLICY_FILES), _absent(cluster, ROLE_FILES)
    cluster.kubectl("apply", *_files(POLICY_FILES + ROLE_FILES))
    probe_ns = f"probe-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", probe_ns)
    # Probes run as the admin, who may approve anything: what still gets refused is someone else's name
    # and a workload in another namespace. Server-side dry runs go through admission and store nothing.
    someone_else = _incident("probe", probe_ns, annotations={"onduty.dev/approved-by": "nobody-at-all"})
    elsewhere = _incident("probe", probe_ns, workload_namespace="kube-system")
    acked_for_someone = _incident(
        "probe", probe_ns, annotations={"onduty.dev/acknowledge": "true", "onduty.dev/acknowledged-by": "nobody-at-all"}
    )

    def probes_refused() -> list[bool]:
        return [
            _refused(cluster.kubectl("create", "--dry-run=server", "-f", "-", input_=manifest, check=False))
            for manifest in (someone_else, elsewhere, acked_for_someone)
        ]

    try:
        wait_for(lambda: all(probes_refused()), timeout=60, what="the admission policies to take effect")
        yield
    finally:
        if added_policies:
            cluster.kubectl("delete", "--ignore-not-found", *_files(added_policies))
            wait_for(lambda: not any(probes_refused()), timeout=60, what="the admission policies to be gone")
        if added_roles:
            cluster.kubectl("delete", "--ignore-not-found", *_files(added_roles))
        cluster.kubectl("delete", "namespace", probe_ns, "--wait=false", check=False)


def test_the_admission_policies_type_check_against_the_incident_schema(cluster, admission_policies):
    for name in POLICIES:
        policy = cluster.get_json("validatingadmissionpolicy", name)
        assert policy["status"]["observedGeneration"] == policy["metadata"]["generation"]
        assert not policy["status"].get("typeChecking", {}).get("expressionWarnings"), policy["status"]


@pytest.fixture
def tenants(cluster, namespace: str) -> str:
    """alice: the built-in `edit` in the namespace; bob: `edit` plus the approver role there; carol: `edit` plus
    the responder role (she may acknowledge, not approve)."""
    for user in ("alice", "bob", "carol"):
        cluster.kubectl(
            "create", "rolebinding", f"{user}-edit", "--clusterrole=edit", f"--user={user}", "-n", namespace
        )
    cluster.kubectl(
        "create", "rolebinding", "bob-approve", "--clusterrole=onduty-incident-approver", "--user=bob", "-n", namespace
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "carol-respond",
        "--clusterrole=onduty-incident-responder",
        "--user=carol",
        "-n",
        namespace,
    )

    def can(user: str, verb: str) -> bool:
        result = cluster.kubectl(
            "auth", "can-i", verb, "incidents.onduty.dev", "-n", namespace, f"--as={user}", check=False
        )
        return result.stdout.strip() == "yes"

    # `edit` reaches Incidents once the aggregation controller has folded the incident editor role in.
    wait_for(
        lambda: can("alice", "patch") and can("bob", "patch") and can("carol", "patch"),
        timeout=60,
        what="edit to cover Incidents",
    )
    assert can("bob", "approve") and can("bob", "acknowledge")
    assert not can("alice", "approve") and not can("alice", "acknowledge")
    assert can("carol", "acknowledge") and not can("carol", "approve")
    return namespace


def _as(cluster, user: str, *args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(f"--as={user}", *args, input_=input_, check=False)


def _annotate(cluster, user: str, namespace: str, *annotations: str) -> subprocess.CompletedProcess[str]:
    return _as(cluster, user, "annotate", "--overwrite", "incident.onduty.dev", "db", "-n", namespace, *annotations)


def test_only_an_approver_approves_and_only_in_their_own_name(cluster, admission_policies, tenants):
    namespace = tenants
    created = _as(cluster, "alice", "create", "-f", "-", input_=_incident("db", namespace))
    assert created.returncode == 0, created.stderr

    # An editor may annotate Incidents, but not approve, reject or re-attribute a decision.
    refused = _annotate(cluster, "alice", namespace, "onduty.dev/approve=step1")
    assert _refused(refused)
    assert "onduty-approval" in refused.stderr
    assert "approve" in refused.stderr and "alice" in refused.stderr
    assert _refused(_annotate(cluster, "alice", namespace, "onduty.dev/approve=step1", "onduty.dev/approved-by=bob"))
    assert _refused(_annotate(cluster, "alice", namespace, "onduty.dev/reject=step1", "onduty.dev/approved-by=alice"))
    # An approver may not record someone else either.
    refused = _annotate(cluster, "bob", namespace, "onduty.dev/approve=step1", "onduty.dev/approved-by=alice")
    assert _refused(refused)
    assert "onduty.dev/approved-by=bob" in refused.stderr  # names who it must be, and the value given
    assert "onduty.dev/approved-by=alice" in refused.stderr
    assert _refused(_annotate(cluster, "bob", namespace, "onduty.dev/approve=step1"))  # nor leave it out
    assert "onduty.dev/approve" not in cluster.get_json("incident.onduty.dev", "db", "-n", namespace)["metadata"].get(
        "annotations", {}
    )

    accepted = _annotate(cluster, "bob", namespace, "onduty.dev/approve=step1", "onduty.dev/approved-by=bob")
    assert accepted.returncode == 0, accepted.stderr
    annotations = cluster.get_json("incident.onduty.dev", "db", "-n", namespace)["metadata"]["annotations"]
    assert (annotations["onduty.dev/approve"], annotations["onduty.dev/approved-by"]) == ("step1", "bob")

    # Taking bob's approval as her own is a decision too; her other annotations are none of the policy's business.
    assert _refused(_annotate(cluster, "alice", namespace, "onduty.dev/approved-by=alice"))
    assert _annotate(cluster, "alice", namespace, "onduty.dev/paused=true").returncode == 0
    # Withdrawing a decision decides nothing.
    withdrawn = _annotate(cluster, "alice", namespace, "onduty.dev/approve-")
    assert withdrawn.returncode == 0, withdrawn.stderr


def test_only_a_responder_acknowledges_and_only_in_their_own_name(cluster, admission_policies, tenants):
    namespace = tenants
    created = _as(cluster, "alice", "create", "-f", "-", input_=_incident("db", namespace))
    assert created.returncode == 0, created.stderr

    # An editor may not silence the pages: acknowledging needs the acknowledge verb.
    refused = _annotate(cluster, "alice", namespace, "onduty.dev/acknowledge=true", "onduty.dev/acknowledged-by=alice")
    assert _refused(refused)
    assert "onduty-acknowledgement" in refused.stderr and "acknowledge verb" in refused.stderr
    # A responder acknowledges in her own name only, and never "for" someone else (only onduty does, from Slack).
    refused = _annotate(cluster, "carol", namespace, "onduty.dev/acknowledge=true", "onduty.dev/acknowledged-by=bob")
    assert _refused(refused) and "onduty.dev/acknowledged-by=carol" in refused.stderr
    assert _refused(_annotate(cluster, "carol", namespace, "onduty.dev/acknowledge=true"))
    refused = _annotate(
        cluster,
        "carol",
        namespace,
        "onduty.dev/acknowledge=true",
        "onduty.dev/acknowledged-by=carol",
        "onduty.dev/acknowledged-for=bob",
    )
    assert _refused(refused) and "only onduty acknowledges for someone else" in refused.stderr

    accepted = _annotate(cluster, "carol", namespace, "onduty.dev/acknowledge=true", "onduty.dev/acknowledged-by=carol")
    assert accepted.returncode == 0, accepted.stderr
    # Re-attributing it is acknowledging; withdrawing it (paging resumes) is not.
    assert _refused(_annotate(cluster, "alice", namespace, "onduty.dev/acknowledged-by=alice"))
    withdrawn = _annotate(cluster, "alice", namespace, "onduty.dev/acknowledge-", "onduty.dev/acknowledged-by-")
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert _annotate(cluster, "alice", namespace, "onduty.dev/acknowledge=false").returncode == 0


def test_an_incident_names_a_workload_in_its_own_namespace_only(cluster, admission_policies, tenants):
    namespace = tenants
    refused = _as(cluster, "alice", "create", "-f", "-", input_=_incident("away", namespace, "kube-system"))
    assert _refused(refused)
    assert "onduty-incident-target" in refused.stderr
    assert "kube-system" in refused.stderr and namespace in refused.stderr

    for name, workload_namespace in (("here", namespace), ("implicit", None)):
        created = _as(cluster, "alice", "create", "-f", "-", input_=_incident(name, namespace, workload_namespace))
        assert created.returncode == 0, created.stderr
    # Nor can an admitted Incident be pointed elsewhere afterwards.
    moved = _as(
        cluster,
        "alice",
        "patch",
        "incident.onduty.dev",
        "here",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"workload":{"namespace":"kube-system"}}}',
    )
    assert _refused(moved)
    assert (
        cluster.get_json("incident.onduty.dev", "here", "-n", namespace)["spec"]["workload"]["namespace"] == namespace
    )
