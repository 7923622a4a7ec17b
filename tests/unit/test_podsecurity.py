"""Pod Security Standards on a job's pod template: a compliant spec passes; each single change fails, naming the field.

Every rule is tested both ways from one restricted-compliant spec: the change
alone makes the check fail with a message naming the field's path and value, and
a baseline rule fails at both levels while a restricted rule fails only there.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from onduty.domain.podsecurity import violations

DELETE = object()  # a change that removes the field


def container(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "registry.example/app:1.0",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        },
        **extra,
    }


def compliant() -> dict[str, Any]:
    """A pod spec that passes restricted, using everything restricted still allows."""
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
            "seLinuxOptions": {"type": "container_t"},
            "appArmorProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "containers": [
            container(
                "app",
                ports=[{"containerPort": 8080}],
                livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}},
                readinessProbe={"tcpSocket": {"port": 8080}},
                lifecycle={"preStop": {"httpGet": {"path": "/drain", "port": 8080}}},
            )
        ],
        "initContainers": [container("setup")],
        "ephemeralContainers": [container("debug")],
        "volumes": [
            {"name": "config", "configMap": {"name": "app"}},
            {"name": "driver", "csi": {"driver": "secrets-store.csi.k8s.io"}},
            {"name": "labels", "downwardAPI": {"items": []}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "claim", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "token", "projected": {"sources": []}},
            {"name": "creds", "secret": {"secretName": "creds"}},
        ],
    }


def changed(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``spec`` with the dotted ``path`` (list indexes as numbers) set to ``value``, or removed."""
    spec = copy.deepcopy(spec)
    *parents, last = path.split(".")
    node: Any = spec
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last) : int(last) + 1] = [value]  # one past the end appends
    else:
        node[last] = value
    return spec


APP = "spec.containers[0](name=app)"
SETUP = "spec.initContainers[0](name=setup)"
DEBUG = "spec.ephemeralContainers[0](name=debug)"
HOST_PATH = {"name": "host", "hostPath": {"path": "/var/run/docker.sock"}}

# (change path, new value, the field every message names, the value shown in one of them)
BASELINE_RULES = [
    pytest.param("hostNetwork", True, "spec.hostNetwork", "not true", id="hostNetwork"),
    pytest.param("hostPID", True, "spec.hostPID", "not true", id="hostPID"),
    pytest.param("hostIPC", True, "spec.hostIPC", "not true", id="hostIPC"),
    pytest.param(
        "securityContext.windowsOptions.hostProcess",
        True,
        "spec.securityContext.windowsOptions.hostProcess",
        "not true",
        id="pod hostProcess",
    ),
    pytest.param(
        "containers.0.securityContext.windowsOptions.hostProcess",
        True,
        f"{APP}.securityContext.windowsOptions.hostProcess",
        "not true",
        id="container hostProcess",
    ),
    pytest.param(
        "containers.0.securityContext.privileged",
        True,
        f"{APP}.securityContext.privileged",
        "not true",
        id="privileged",
    ),
    pytest.param(
        "initContainers.0.securityContext.privileged",
        True,
        f"{SETUP}.securityContext.privileged",
        "not true",
        id="privileged init container",
    ),
    pytest.param(
        "ephemeralContainers.0.securityContext.privileged",
        True,
        f"{DEBUG}.securityContext.privileged",
        "not true",
        id="privileged ephemeral container",
    ),
    pytest.param(
        "containers.0.securityContext.capabilities.add",
        ["SYS_ADMIN"],
        f"{APP}.securityContext.capabilities.add[0]",
        'not "SYS_ADMIN"',
        id="capability beyond the default set",
    ),
    pytest.param("volumes.8", HOST_PATH, "spec.volumes[8](name=host).hostPath", "hostPath volumes", id="hostPath"),
    pytest.param("containers.0.ports.0.hostPort", 8080, f"{APP}.ports[0].hostPort", "not 8080", id="hostPort"),
    pytest.param(
        "containers.0.livenessProbe.httpGet.host",
        "169.254.169.254",
        f"{APP}.livenessProbe.httpGet.host",
        'not "169.254.169.254"',
        id="probe host",
    ),
    pytest.param(
        "containers.0.readinessProbe.tcpSocket.host",
        "db.other",
        f"{APP}.readinessProbe.tcpSocket.host",
        'not "db.other"',
        id="tcp probe host",
    ),
    pytest.param(
        "containers.0.lifecycle.preStop.httpGet.host",
        "10.0.0.1",
        f"{APP}.lifecycle.preStop.httpGet.host",
        'not "10.0.0.1"',
        id="lifecycle hook host",
    ),
    pytest.param(
        "securityContext.appArmorProfile.type",
        "Unconfined",
        "spec.securityContext.appArmorProfile.type",
        'not "Unconfined"',
        id="pod AppArmor unconfined",
    ),
    pytest.param(
        "initContainers.0.securityContext.appArmorProfile.type",
        "Unconfined",
        f"{SETUP}.securityContext.appArmorProfile.type",
        'not "Unconfined"',
        id="container AppArmor unconfined",
    ),
    pytest.param(
        "securityContext.seLinuxOptions.type",
        "spc_t",
        "spec.securityContext.seLinuxOptions.type",
        'not "spc_t"',
        id="SELinux type",
    ),
    pytest.param(
        "containers.0.securityContext.seLinuxOptions.user",
        "system_u",
        f"{APP}.securityContext.seLinuxOptions.user",
        'not "system_u"',
        id="SELinux user",
    ),
    pytest.param(
        "securityContext.seLinuxOptions.role",
        "sysadm_r",
        "spec.securityContext.seLinuxOptions.role",
        'not "sysadm_r"',
        id="SELinux role",
    ),
    pytest.param(
        "containers.0.securityContext.procMount",
        "Unmasked",
        f"{APP}.securityContext.procMount",
        'not "Unmasked"',
        id="procMount",
    ),
    pytest.param(
        "securityContext.seccompProfile.type",
        "Unconfined",
        "seccompProfile.type",
        'spec.securityContext.seccompProfile.type must be RuntimeDefault, Localhost or unset, not "Unconfined"',
        id="pod seccomp unconfined",
    ),
    pytest.param(
        "ephemeralContainers.0.securityContext.seccompProfile",
        {"type": "Unconfined"},
        f"{DEBUG}.securityContext.seccompProfile.type",
        'not "Unconfined"',
        id="container seccomp unconfined",
    ),
    pytest.param(
        "securityContext.sysctls.0",
        {"name": "kernel.msgmax", "value": "65536"},
        "spec.securityContext.sysctls[0].name",
        'not "kernel.msgmax"',
        id="unsafe sysctl",
    ),
]

RESTRICTED_RULES = [
    pytest.param(
        "volumes.8",
        {"name": "share", "nfs": {"server": "nfs.example", "path": "/"}},
        "spec.volumes[8](name=share).nfs",
        "nfs volumes are forbidden",
        id="nfs volume",
    ),
    pytest.param(
        "volumes.8",
        {"name": "repo", "gitRepo": {"repository": "https://example/x.git"}},
        "spec.volumes[8](name=repo).gitRepo",
        "gitRepo volumes are forbidden",
        id="gitRepo volume",
    ),
    pytest.param(
        "volumes.8", {"name": "empty"}, "spec.volumes[8](name=empty)", "sets no volume source", id="no source"
    ),
    pytest.param(
        "containers.0.securityContext.allowPrivilegeEscalation",
        True,
        f"{APP}.securityContext.allowPrivilegeEscalation must be false",
        "not true",
        id="allowPrivilegeEscalation true",
    ),
    pytest.param(
        "initContainers.0.securityContext.allowPrivilegeEscalation",
        DELETE,
        f"{SETUP}.securityContext.allowPrivilegeEscalation must be false",
        "not unset",
        id="allowPrivilegeEscalation unset",
    ),
    pytest.param(
        "securityContext.runAsNonRoot",
        False,
        "runAsNonRoot",
        "spec.securityContext.runAsNonRoot must be true or unset, not false",
        id="pod runAsNonRoot false",
    ),
    pytest.param(
        "securityContext.runAsNonRoot",
        DELETE,
        "securityContext.runAsNonRoot must be true (here or in spec.securityContext), not unset",
        f"{DEBUG}.securityContext.runAsNonRoot",
        id="runAsNonRoot nowhere",
    ),
    pytest.param(
        "containers.0.securityContext.runAsNonRoot",
        False,
        f"{APP}.securityContext.runAsNonRoot",
        "not false",
        id="container runAsNonRoot false",
    ),
    pytest.param("securityContext.runAsUser", 0, "spec.securityContext.runAsUser", "not 0", id="pod runAsUser 0"),
    pytest.param(
        "initContainers.0.securityContext.runAsUser",
        0,
        f"{SETUP}.securityContext.runAsUser",
        "not 0",
        id="container runAsUser 0",
    ),
    pytest.param(
        "securityContext.seccompProfile",
        DELETE,
        "securityContext.seccompProfile.type must be RuntimeDefault or Localhost (here or in",
        f"{SETUP}.securityContext.seccompProfile.type",
        id="seccomp nowhere",
    ),
    pytest.param(
        "containers.0.securityContext.capabilities.drop",
        DELETE,
        f"{APP}.securityContext.capabilities.drop must be a list that includes ALL",
        "not unset",
        id="capabilities not dropped",
    ),
    pytest.param(
        "containers.0.securityContext.capabilities.drop",
        ["NET_RAW"],
        f"{APP}.securityContext.capabilities.drop",
        'not ["NET_RAW"]',
        id="not all capabilities dropped",
    ),
    pytest.param(
        "ephemeralContainers.0.securityContext.capabilities.add",
        ["NET_BIND_SERVICE", "CHOWN"],
        f"{DEBUG}.securityContext.capabilities.add[1] must be NET_BIND_SERVICE",
        'not "CHOWN"',
        id="default capability added back",
    ),
]


def test_the_compliant_spec_passes_both_levels() -> None:
    assert violations(compliant(), "restricted") == []
    assert violations(compliant(), "baseline") == []


@pytest.mark.parametrize(("path", "value", "field", "shown"), BASELINE_RULES)
@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_a_baseline_rule_broken_fails_both_levels_naming_the_field(
    level: Any, path: str, value: Any, field: str, shown: str
) -> None:
    found = violations(changed(compliant(), path, value), level)
    assert found, "expected a violation"
    assert all(field in message for message in found), found
    assert any(shown in message for message in found), found


@pytest.mark.parametrize(("path", "value", "field", "shown"), RESTRICTED_RULES)
def test_a_restricted_rule_broken_fails_restricted_naming_the_field(
    path: str, value: Any, field: str, shown: str
) -> None:
    found = violations(changed(compliant(), path, value), "restricted")
    assert found, "expected a violation"
    assert all(field in message and message.endswith("(restricted)") for message in found), found
    assert any(shown in message for message in found), found


@pytest.mark.parametrize(("path", "value", "field", "shown"), RESTRICTED_RULES)
def test_a_restricted_rule_broken_still_passes_baseline(path: str, value: Any, field: str, shown: str) -> None:
    assert violations(changed(compliant(), path, value), "baseline") == []


def test_the_message_names_path_value_allowed_values_and_level() -> None:
    spec = changed(compliant(), "volumes.8", HOST_PATH)
    assert violations(spec, "baseline") == [
        "spec.volumes[8](name=host).hostPath: hostPath volumes are forbidden (baseline)"
    ]
    spec = changed(compliant(), "containers.0.securityContext.allowPrivilegeEscalation", True)
    assert violations(spec, "restricted") == [
        f"{APP}.securityContext.allowPrivilegeEscalation must be false, not true:"
        " set-user-ID programs could gain privileges (restricted)"
    ]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("securityContext.seccompProfile.type", "Localhost", id="Localhost seccomp profile"),
        pytest.param("securityContext.appArmorProfile.type", "Localhost", id="Localhost AppArmor profile"),
        pytest.param("securityContext.appArmorProfile", DELETE, id="no AppArmor profile"),
        pytest.param("securityContext.seLinuxOptions.type", "", id="empty SELinux type"),
        pytest.param("securityContext.seLinuxOptions.type", "container_engine_t", id="container_engine_t"),
        pytest.param("securityContext.runAsUser", DELETE, id="runAsUser unset"),
        pytest.param("containers.0.ports.0.hostPort", 0, id="hostPort 0"),
        pytest.param("containers.0.livenessProbe.httpGet.host", "", id="empty probe host"),
        pytest.param("containers.0.securityContext.procMount", "Default", id="Default procMount"),
        pytest.param("containers.0.securityContext.capabilities.add", DELETE, id="nothing added back"),
        pytest.param("containers.0.securityContext.capabilities.drop", ["NET_RAW", "ALL"], id="ALL among others"),
        pytest.param("hostNetwork", False, id="hostNetwork false"),
        pytest.param("securityContext.sysctls.0.name", "net.ipv4.tcp_keepalive_time", id="safe sysctl since 1.29"),
    ],
)
def test_allowed_alternatives_pass_restricted(path: str, value: Any) -> None:
    assert violations(changed(compliant(), path, value), "restricted") == []


def test_every_container_may_carry_runasnonroot_and_seccomp_instead_of_the_pod() -> None:
    spec = compliant()
    del spec["securityContext"]["runAsNonRoot"], spec["securityContext"]["seccompProfile"]
    for key in ("containers", "initContainers", "ephemeralContainers"):
        spec[key][0]["securityContext"] |= {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert violations(spec, "restricted") == []


def test_a_pod_level_true_does_not_excuse_a_container_that_sets_false() -> None:
    spec = changed(compliant(), "initContainers.0.securityContext.runAsNonRoot", False)
    assert violations(spec, "restricted") == [
        f"{SETUP}.securityContext.runAsNonRoot must be true or unset, not false (restricted)"
    ]


def test_a_default_pod_passes_baseline_but_not_restricted() -> None:
    spec = {"containers": [{"name": "app", "image": "nginx"}]}
    assert violations(spec, "baseline") == []
    found = violations(spec, "restricted")
    for field in ("allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile.type", "capabilities.drop"):
        assert any(f"{APP}.securityContext.{field}" in message for message in found), (field, found)


def test_windows_pods_are_spared_the_linux_only_restricted_rules() -> None:
    spec: dict[str, Any] = {
        "os": {"name": "windows"},
        "securityContext": {"runAsNonRoot": True},
        "containers": [{"name": "app", "image": "mcr.example/app"}],
    }
    assert violations(spec, "restricted") == []
    spec = changed(spec, "containers.0.securityContext", {"seccompProfile": {"type": "Unconfined"}})
    assert violations(spec, "restricted") == [
        f'{APP}.securityContext.seccompProfile.type must be RuntimeDefault, Localhost or unset, not "Unconfined"'
        " (baseline)"
    ]


def test_every_volume_source_restricted_allows_is_allowed() -> None:
    sources = [key for volume in compliant()["volumes"] for key in volume if key != "name"]
    assert sorted(sources) == sorted(
        ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param("hostNetwork", "true", 'spec.hostNetwork must be false or unset, not "true"', id="string boolean"),
        pytest.param(
            "containers.0.securityContext", "privileged", f"{APP}.securityContext must be an object", id="ctx"
        ),
        pytest.param("volumes", {"name": "x"}, "spec.volumes must be a list", id="volumes not a list"),
        pytest.param(
            "securityContext.sysctls.0.name", ["kernel.msgmax"], "spec.securityContext.sysctls[0].name", id="odd name"
        ),
        pytest.param("securityContext.runAsUser", "0", "spec.securityContext.runAsUser must be", id="string uid"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_violation_not_a_crash(path: str, value: Any, message: str) -> None:
    found = violations(changed(compliant(), path, value), "restricted")
    assert any(message in m for m in found), found


def test_the_input_is_not_modified() -> None:
    spec = changed(compliant(), "containers.0.securityContext.privileged", True)
    before = copy.deepcopy(spec)
    violations(spec, "restricted")
    assert spec == before


def test_messages_use_the_path_the_caller_gives() -> None:
    spec = changed(compliant(), "hostPID", True)
    assert violations(spec, "baseline", path="spec.template.spec") == [
        "spec.template.spec.hostPID must be false or unset, not true: it shares the node's process namespace (baseline)"
    ]


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Pod Security Standard level 'privileged'"):
        violations(compliant(), "privileged")  # type: ignore[arg-type]
