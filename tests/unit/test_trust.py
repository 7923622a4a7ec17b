"""The trust model's rules as values: names, the namespace boundary, path segments, policy grants, probe addresses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onduty.adapters.kube import UnsafePath, _check_path, segment
from onduty.domain import diagnostics as d
from onduty.domain.policies import Policy, TargetState, decide, grants, parse_policy
from onduty.domain.trust import Boundary, Grants, Untrusted, is_label, is_subdomain, name, namespace

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "label", "subdomain"),
    [
        ("web", True, True),
        ("web-1", True, True),
        ("web.v1", False, True),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        ("a" * 253, False, True),
        ("a" * 254, False, False),
        ("", False, False),
        (".", False, False),
        ("..", False, False),
        ("../kube-system", False, False),
        ("web/scale", False, False),
        ("Web", False, False),
        ("-web", False, False),
        ("web-", False, False),
        ("web..v1", False, False),
        ("wéb", False, False),
        ("web%2f..", False, False),
        ("web\n", False, False),
    ],
)
def test_names_are_validated_as_kubernetes_defines_them(value: str, label: bool, subdomain: bool) -> None:
    assert is_label(value) is label
    assert is_subdomain(value) is subdomain


def test_a_bad_name_is_refused_naming_the_field_and_the_value() -> None:
    with pytest.raises(Untrusted) as refused:
        name("../../kube-system/pods/x", field="alert label deployment")

    assert refused.value.reason == "InvalidName"
    assert refused.value.message.startswith("alert label deployment: '../../kube-system/pods/x' is not a valid")
    with pytest.raises(Untrusted):
        namespace("web.v1", field="namespace")  # a subdomain, but no namespace name
    with pytest.raises(Untrusted):
        name(None, field="x")


@pytest.mark.parametrize("value", [None, "", "team-a"])
def test_the_incidents_own_namespace_is_the_target_namespace(value: str | None) -> None:
    assert Boundary("team-a").target_namespace(value, field="f") == "team-a"


def test_another_namespace_is_outside_the_boundary() -> None:
    with pytest.raises(Untrusted) as refused:
        Boundary("team-a").target_namespace("kube-system", field="spec.workload.namespace")

    assert refused.value.reason == "OutsideNamespace"
    assert "'kube-system'" in refused.value.message and "'team-a'" in refused.value.message


def test_another_namespace_is_reachable_only_when_a_policy_lists_it() -> None:
    boundary = Boundary("team-a")
    assert boundary.other_namespace("argocd", field="f", allowed=("argocd",), what="app") == "argocd"
    with pytest.raises(Untrusted) as refused:
        boundary.other_namespace("team-b", field="f", allowed=("argocd",), what="Argo CD Application x")
    assert refused.value.reason == "OutsideNamespace"
    with pytest.raises(Untrusted) as invalid:
        boundary.other_namespace("../argocd", field="f", allowed=("argocd",), what="app")
    assert invalid.value.reason == "InvalidName"


# --- path segments: the one door of the Kubernetes adapter --------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"), [("web", "web"), ("web.v1", "web.v1"), ("a b", "a%20b"), ("a?b", "a%3Fb")]
)
def test_a_segment_is_percent_encoded(value: str, encoded: str) -> None:
    assert segment(value) == encoded


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "../kube-system"])
def test_a_segment_that_could_name_another_object_is_refused(value: str) -> None:
    with pytest.raises(UnsafePath):
        segment(value)


@pytest.mark.parametrize(
    "path",
    [
        "/apis/apps/v1/namespaces/team-a/deployments/../../kube-system/deployments/coredns",
        "/apis/apps/v1/namespaces/team-a/deployments/%2E%2E/x",
        "/apis/apps/v1/namespaces/team-a/deployments/a%2Fb",
        "/api/v1/namespaces/team-a/pods/./x",
        "/api/v1/namespaces//pods",
        "/api/v1/namespaces/team-a/pods/x?watch=1",
    ],
)
def test_the_adapter_refuses_any_path_that_could_be_normalised_elsewhere_whatever_its_caller(path: str) -> None:
    with pytest.raises(UnsafePath):
        _check_path(path)


def test_an_ordinary_path_passes() -> None:
    _check_path("/apis/onduty.dev/v1alpha1/namespaces/team-a/incidents/inc-1/status")


# --- what policies grant beyond the namespace ----------------------------------------------------


def _policy(name_: str, **spec: object) -> Policy:
    return Policy(name_, parse_policy({"allowedActions": ["cordonNode", "runJob", "argoRollback"], **spec}))


def test_no_policy_grants_nothing() -> None:
    assert grants([]) == Grants()
    assert Grants().job_service_accounts == ("default",)
    assert Grants().job_pod_security == "restricted"


def test_grants_are_what_every_policy_in_scope_grants() -> None:
    wide = _policy(
        "wide",
        allowClusterScopedActions=["cordonNode"],
        argoCDNamespaces=["argocd", "gitops"],
        allowUnconfinedPromQL=True,
        runJob={"serviceAccountNames": ["default", "fixer"], "podSecurity": "baseline"},
        allowApprovalWithoutAdmissionPolicy=True,
    )
    narrow = _policy("narrow", argoCDNamespaces=["argocd"], runJob={"serviceAccountNames": ["fixer"]})

    assert grants([wide]) == Grants(
        frozenset({"cordonNode"}), ("argocd", "gitops"), True, ("default", "fixer"), "baseline", True
    )
    assert grants([wide, narrow]) == Grants(frozenset(), ("argocd",), False, ("fixer",), "restricted", False)


def test_a_cluster_scoped_action_is_refused_unless_every_policy_in_scope_lists_it() -> None:
    state = TargetState(namespace="team-a")
    allowing = _policy("platform", allowClusterScopedActions=["cordonNode"])
    silent = _policy("tenant")

    def verdict(policies: list[Policy]) -> tuple[bool, str]:
        found = next(v for v in decide(policies, "cordonNode", state, NOW).verdicts if v.guardrail == "ClusterScope")
        return found.allowed, found.reason

    assert verdict([allowing]) == (True, "ClusterScopedActionAllowed")
    assert verdict([allowing, silent]) == (False, "ClusterScopedActionNotAllowed")
    assert verdict([]) == (False, "ClusterScopedActionNotAllowed")  # not even as a dry run
    assert all(v.guardrail != "ClusterScope" for v in decide([silent], "runJob", state, NOW).verdicts)


def test_only_cluster_scoped_actions_can_be_granted_as_such() -> None:
    with pytest.raises(ValueError, match=r"spec\.allowClusterScopedActions"):
        parse_policy({"allowedActions": ["scale"], "allowClusterScopedActions": ["scale"]})


# --- where an HTTP check may send a request -------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", None),
        ("2001:db8::1", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("metadata.google.internal", "not an IP address"),
    ],
)
def test_probes_never_go_to_loopback_link_local_or_names(address: str, why: str | None) -> None:
    assert d.probe_forbidden(address) == why


def test_refused_endpoint_addresses_are_reported_not_probed() -> None:
    slices = [
        {
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {"addresses": ["10.0.0.5"]},
                {"addresses": ["169.254.169.254"]},
                {"addresses": ["127.0.0.1"]},
            ],
        }
    ]

    plan = d.endpoints_to_probe(slices, "http")

    assert [e.address for e in plan.probe] == ["10.0.0.5"]
    assert plan.refused == ("169.254.169.254 (link-local)", "127.0.0.1 (loopback)")
