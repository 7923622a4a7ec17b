"""The Kubernetes Pod Security Standards, checked on a pod template before onduty creates it.

onduty creates the pods of a runbook's ``runJob`` step with its own,
cluster-wide rights, from a template that a namespace's editors wrote. The
namespace's Pod Security Admission checks pods too, but only at the level the
namespace's labels (or the cluster's defaults) ask for, which is often none.
So onduty checks the template itself, at the level a RemediationPolicy names
(restricted unless a policy says baseline), and refuses the step if anything
fails.

:func:`violations` implements the standards as published for Kubernetes 1.34
(https://kubernetes.io/docs/concepts/security/pod-security-standards/) over
``containers``, ``initContainers`` and ``ephemeralContainers``. Where it differs
from the admission controller:

* Only the pod spec is read: the AppArmor annotations on the pod's metadata are
  not checked here (the ``appArmorProfile`` fields are), so the caller must not
  copy a template's annotations through unchecked.
* Otherwise it is stricter. The relaxations for pods in a user namespace
  (``hostUsers: false``) are not applied: such a pod must still run as non-root
  and keep the default /proc.
* For Windows pods (``os.name: windows``) the restricted level waives
  ``allowPrivilegeEscalation``, seccomp and capabilities, as the standard does;
  the baseline checks of seccomp and added capabilities still apply.
* A field of the wrong type (a string where a boolean belongs) is a violation,
  not something to skip: the API server would refuse it anyway.

Each violation is one sentence naming the field's path, its value, what is
allowed and the level whose rule it breaks. The input is never modified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Level = Literal["baseline", "restricted"]

# The capabilities container runtimes grant by default (Docker's and
# containerd's set): adding one back grants nothing a default container lacks.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# Restricted pods drop everything; binding a port below 1024 is all they may add back.
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})

# Sysctls namespaced to the pod, so setting one affects no other pod on the node
# (the kubelet's "safe" set; ip_local_reserved_ports since 1.27, the tcp_* four since 1.29).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

# The SELinux types the runtimes' own policies give containers; any other type
# (spc_t, unconfined_t) can leave the container's confinement.
SELINUX_TYPES = ("container_t", "container_init_t", "container_kvm_t", "container_engine_t")

# AppArmor and seccomp profiles that confine: the runtime's default, or one the
# node's administrators installed. "Unconfined" is the one that does not.
CONFINING_PROFILES = ("RuntimeDefault", "Localhost")

# Volume sources a restricted pod may use: none reaches the node's filesystem or
# a storage backend except through a PersistentVolume, which platform owners control.
RESTRICTED_VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_LIFECYCLE_HANDLERS = ("postStart", "preStop")
_HOST_NAMESPACES = {
    "hostNetwork": "it shares the node's network namespace",
    "hostPID": "it shares the node's process namespace",
    "hostIPC": "it shares the node's IPC namespace",
}

# A value longer than this is cut in messages; enough to recognise it.
_SHOWN_MAX = 80


def violations(pod_spec: Mapping[str, Any], level: Level, *, path: str = "spec") -> list[str]:
    """Every way ``pod_spec`` (a pod's or a pod template's ``spec``) breaks the ``level`` standard; [] if none.

    ``path`` is where the spec sits, for the messages: ``spec.template.spec``
    for a Job or a Deployment, for instance.
    """
    if level not in get_args(Level):
        raise ValueError(f"unknown Pod Security Standard level {level!r}: expected baseline or restricted")
    check = _Check(level)
    spec = check.mapping(pod_spec, path)
    restricted = level == "restricted"
    # The standard waives its Linux-only restricted rules for Windows pods.
    linux_rules = restricted and check.mapping(spec.get("os"), f"{path}.os").get("name") != "windows"
    pod = check.mapping(spec.get("securityContext"), f"{path}.securityContext")
    pod_at = f"{path}.securityContext"
    containers = _containers(check, spec, path)

    _host_namespaces(check, spec, path)
    _sysctls(check, pod, pod_at)
    _volumes(check, spec, path, restricted=restricted)
    for context, at in [(pod, pod_at), *((c.context, c.context_at) for c in containers)]:
        _host_process(check, context, at)
        _app_armor(check, context, at)
        _se_linux(check, context, at)
        if not linux_rules:
            _seccomp_baseline(check, context, at)
        if restricted:
            _run_as_user(check, context, at)
    for container in containers:
        _container_baseline(check, container)
        capabilities = check.mapping(container.context.get("capabilities"), f"{container.context_at}.capabilities")
        if linux_rules:
            _linux_restricted(check, container, capabilities)
        else:
            _capabilities_added(check, capabilities, f"{container.context_at}.capabilities", BASELINE_CAPABILITIES)
    if restricted:
        _run_as_non_root(check, pod, pod_at, containers)
    if linux_rules:
        _seccomp_restricted(check, pod, pod_at, containers)
    return check.found


@dataclass
class _Check:
    """The level checked and the violations found so far, with the helpers that read the spec safely."""

    level: Level
    found: list[str] = field(default_factory=list)

    def must(self, where: str, value: object, allowed: str, why: str = "", *, level: Level | None = None) -> None:
        reason = f": {why}" if why else ""
        self.found.append(f"{where} must be {allowed}, not {_shown(value)}{reason} ({level or self.level})")

    def mapping(self, value: object, where: str) -> Mapping[str, Any]:
        """``value`` as an object; unset is empty, and anything else is a violation read as empty."""
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return value
        self.must(where, value, "an object")
        return {}

    def sequence(self, value: object, where: str) -> Sequence[Any]:
        if value is None:
            return ()
        if isinstance(value, list | tuple):
            return value
        self.must(where, value, "a list")
        return ()


@dataclass(frozen=True)
class _Container:
    """A container of any of the three kinds, its security context, and where each sits."""

    spec: Mapping[str, Any]
    at: str  # spec.initContainers[0](name=setup)
    context: Mapping[str, Any]
    context_at: str


def _containers(check: _Check, spec: Mapping[str, Any], path: str) -> list[_Container]:
    found = []
    for key in CONTAINER_LISTS:
        for index, item in enumerate(check.sequence(spec.get(key), f"{path}.{key}")):
            at = f"{path}.{key}[{index}]"
            container = check.mapping(item, at)
            name = container.get("name")
            at = f"{at}(name={name})" if isinstance(name, str) else at
            context = check.mapping(container.get("securityContext"), f"{at}.securityContext")
            found.append(_Container(container, at, context, f"{at}.securityContext"))
    return found


# --- baseline -----------------------------------------------------------------------------------


def _host_namespaces(check: _Check, spec: Mapping[str, Any], path: str) -> None:
    for key, why in _HOST_NAMESPACES.items():
        if not _unset_or_false(spec.get(key)):
            check.must(f"{path}.{key}", spec.get(key), "false or unset", why, level="baseline")


def _host_process(check: _Check, context: Mapping[str, Any], where: str) -> None:
    where = f"{where}.windowsOptions"
    value = check.mapping(context.get("windowsOptions"), where).get("hostProcess")
    if not _unset_or_false(value):
        check.must(f"{where}.hostProcess", value, "false or unset", "it runs on the Windows host", level="baseline")


def _app_armor(check: _Check, context: Mapping[str, Any], where: str) -> None:
    where = f"{where}.appArmorProfile"
    value = check.mapping(context.get("appArmorProfile"), where).get("type")
    if value is not None and value not in CONFINING_PROFILES:
        check.must(f"{where}.type", value, _either(*CONFINING_PROFILES, "unset"), level="baseline")


def _se_linux(check: _Check, context: Mapping[str, Any], where: str) -> None:
    where = f"{where}.seLinuxOptions"
    options = check.mapping(context.get("seLinuxOptions"), where)
    value = options.get("type")
    if value not in (None, "", *SELINUX_TYPES):
        check.must(f"{where}.type", value, _either(*SELINUX_TYPES, "unset"), level="baseline")
    for key in ("user", "role"):
        if options.get(key) not in (None, ""):
            check.must(f"{where}.{key}", options.get(key), "unset", level="baseline")


def _seccomp_baseline(check: _Check, context: Mapping[str, Any], where: str) -> None:
    where = f"{where}.seccompProfile"
    value = check.mapping(context.get("seccompProfile"), where).get("type")
    if value is not None and value not in CONFINING_PROFILES:
        check.must(f"{where}.type", value, _either(*CONFINING_PROFILES, "unset"), level="baseline")


def _sysctls(check: _Check, pod_context: Mapping[str, Any], where: str) -> None:
    for index, item in enumerate(check.sequence(pod_context.get("sysctls"), f"{where}.sysctls")):
        name = check.mapping(item, f"{where}.sysctls[{index}]").get("name")
        if not isinstance(name, str) or name not in SAFE_SYSCTLS:
            check.must(
                f"{where}.sysctls[{index}].name",
                name,
                f"a safe sysctl ({_either(*sorted(SAFE_SYSCTLS))})",
                level="baseline",
            )


def _volumes(check: _Check, spec: Mapping[str, Any], path: str, *, restricted: bool) -> None:
    for index, item in enumerate(check.sequence(spec.get("volumes"), f"{path}.volumes")):
        where = f"{path}.volumes[{index}]"
        volume = check.mapping(item, where)
        name = volume.get("name")
        where = f"{where}(name={name})" if isinstance(name, str) else where
        sources = [key for key, value in volume.items() if key != "name" and value is not None]
        if not restricted:
            if "hostPath" in sources:
                check.found.append(f"{where}.hostPath: hostPath volumes are forbidden (baseline)")
            continue
        allowed = f"{_either(*RESTRICTED_VOLUME_SOURCES, last='and')} volumes"
        if not sources:
            check.found.append(f"{where} sets no volume source, and only {allowed} are allowed (restricted)")
        for source in sources:
            if source not in RESTRICTED_VOLUME_SOURCES:
                check.found.append(
                    f"{where}.{source}: {source} volumes are forbidden, only {allowed} are allowed (restricted)"
                )


def _container_baseline(check: _Check, container: _Container) -> None:
    """Privileged mode, /proc, host ports and host probes: the per-container baseline rules."""
    where, context = container.at, container.context
    privileged = context.get("privileged")
    if not _unset_or_false(privileged):
        check.must(
            f"{container.context_at}.privileged",
            privileged,
            "false or unset",
            "a privileged container has the node's devices and every capability",
            level="baseline",
        )
    proc_mount = context.get("procMount")
    if proc_mount not in (None, "Default"):
        check.must(f"{container.context_at}.procMount", proc_mount, "Default or unset", level="baseline")
    for index, item in enumerate(check.sequence(container.spec.get("ports"), f"{where}.ports")):
        port = check.mapping(item, f"{where}.ports[{index}]").get("hostPort")
        if port is not None and not (_is_int(port) and port == 0):
            check.must(
                f"{where}.ports[{index}].hostPort", port, "0 or unset", "host ports are forbidden", level="baseline"
            )
    handlers = [(key, container.spec.get(key)) for key in _PROBES]
    lifecycle = check.mapping(container.spec.get("lifecycle"), f"{where}.lifecycle")
    handlers += [(f"lifecycle.{key}", lifecycle.get(key)) for key in _LIFECYCLE_HANDLERS]
    for key, handler in handlers:
        for kind in ("httpGet", "tcpSocket"):
            at = f"{where}.{key}.{kind}"
            host = check.mapping(check.mapping(handler, f"{where}.{key}").get(kind), at).get("host")
            if host not in (None, ""):
                check.must(f"{at}.host", host, "empty or unset", "it would reach another host", level="baseline")


def _capabilities_added(check: _Check, capabilities: Mapping[str, Any], where: str, allowed: frozenset[str]) -> None:
    """Only ``allowed`` added back; the check's level says which set that is."""
    for index, capability in enumerate(check.sequence(capabilities.get("add"), f"{where}.add")):
        if not isinstance(capability, str) or capability not in allowed:
            check.must(f"{where}.add[{index}]", capability, _either(*sorted(allowed)))


# --- restricted ---------------------------------------------------------------------------------


def _run_as_user(check: _Check, context: Mapping[str, Any], where: str) -> None:
    value = context.get("runAsUser")
    if value is not None and not (_is_int(value) and value != 0):
        check.must(f"{where}.runAsUser", value, "a non-zero user ID or unset", "0 is root", level="restricted")


def _run_as_non_root(check: _Check, pod: Mapping[str, Any], pod_at: str, containers: list[_Container]) -> None:
    """``runAsNonRoot: true`` on the pod or on every container; ``false`` nowhere."""
    pod_value = pod.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        check.must(f"{pod_at}.runAsNonRoot", pod_value, "true or unset", level="restricted")
    for container in containers:
        value = container.context.get("runAsNonRoot")
        at = f"{container.context_at}.runAsNonRoot"
        if value is None and pod_value is not True:
            check.must(at, None, f"true (here or in {pod_at})", level="restricted")
        elif value is not None and value is not True:
            check.must(at, value, "true or unset" if pod_value is True else "true", level="restricted")


def _seccomp_restricted(check: _Check, pod: Mapping[str, Any], pod_at: str, containers: list[_Container]) -> None:
    """A confining seccomp profile on the pod or on every container; an unconfining one nowhere."""
    allowed = _either(*CONFINING_PROFILES)
    pod_at = f"{pod_at}.seccompProfile"
    pod_value = check.mapping(pod.get("seccompProfile"), pod_at).get("type")
    if pod_value is not None and pod_value not in CONFINING_PROFILES:
        check.must(f"{pod_at}.type", pod_value, _either(*CONFINING_PROFILES, "unset"), level="restricted")
    for container in containers:
        at = f"{container.context_at}.seccompProfile"
        value = check.mapping(container.context.get("seccompProfile"), at).get("type")
        if value is None and pod_value not in CONFINING_PROFILES:
            check.must(f"{at}.type", None, f"{allowed} (here or in {pod_at}.type)", level="restricted")
        elif value is not None and value not in CONFINING_PROFILES:
            check.must(f"{at}.type", value, _either(*CONFINING_PROFILES, "unset"), level="restricted")


def _linux_restricted(check: _Check, container: _Container, capabilities: Mapping[str, Any]) -> None:
    """No privilege escalation; every capability dropped, only NET_BIND_SERVICE added back."""
    at = container.context_at
    escalation = container.context.get("allowPrivilegeEscalation")
    if escalation is not False:
        check.must(
            f"{at}.allowPrivilegeEscalation",
            escalation,
            "false",
            "set-user-ID programs could gain privileges",
            level="restricted",
        )
    drop = capabilities.get("drop")
    if drop is None or (isinstance(drop, list | tuple) and "ALL" not in drop):
        check.must(f"{at}.capabilities.drop", drop, "a list that includes ALL", level="restricted")
    else:
        check.sequence(drop, f"{at}.capabilities.drop")  # reports a drop that is not a list
    _capabilities_added(check, capabilities, f"{at}.capabilities", RESTRICTED_CAPABILITIES)


# --- values -------------------------------------------------------------------------------------


def _either(*options: str, last: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return options[0] if len(options) == 1 else f"{', '.join(options[:-1])} {last} {options[-1]}"


def _unset_or_false(value: object) -> bool:
    return value is None or value is False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A value as it reads in a manifest: true, "Unconfined", 8080, ["NET_RAW"]; None is unset."""
    if value is None:
        return "unset"
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."
