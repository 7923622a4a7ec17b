"""The image's command and the manifests' arguments agree with onduty's own command line.

The image cannot be built here (there is no Docker daemon), so what is checked is what decides
whether the container starts: ``operator/Dockerfile``'s ENTRYPOINT names the console script that
``pyproject.toml`` installs, its CMD parses, the base image is pinned and the user is the numeric
non-root one the Pods require; and every flag and ``ONDUTY_*`` variable the chart's and
``manifests/manager/deployment.yaml``'s container pass exists in ``onduty run`` and converts, the
way onduty itself converts it when it starts (``onduty.cli.build_parser``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import REPO, helm_template
from onduty import cli
from onduty.domain.grouping import GroupingConfig
from onduty.domain.notify.destinations import parse_networks

DOCKERFILE = REPO / "operator/Dockerfile"
# The chart's values that change the container's arguments and environment, and what onduty makes of them.
CHART_CASES = {
    "defaults": (
        (),
        {
            "bridge_port": 9095,
            "log_level": "INFO",
            "namespace": "onduty-system",
            "watch_namespaces": "",
            "bridge_token_file": "/etc/onduty/bridge-token/token",
            "admission_webhook": True,
            "admission_webhook_port": 9443,
        },
    ),
    "namespaced-and-tuned": (
        (
            "--set",
            "rbac.namespaces={team-a,team-b}",
            "--set",
            "globalNamespace=onduty-global",
            "--set",
            "notifiers.allowedNetworks={10.20.0.0/16}",
            "--set",
            "logLevel=DEBUG",
            "--set",
            "bridge.port=9096",
            "--set",
            "extraArgs={--poll-seconds=2,--incident-retention=240h}",
        ),
        {
            "bridge_port": 9096,
            "log_level": "DEBUG",
            "namespace": "onduty-global",
            "poll_seconds": 2.0,
            "incident_retention": "240h",
            "notifier_allowed_networks": "10.20.0.0/16",
        },
    ),
    "two-replicas-with-peering": (
        ("--set", "replicas=2", "--set", "peering.enabled=true", "--set", "peering.lifetimeSeconds=20"),
        {"peering": True, "peering_name": "onduty", "peering_lifetime": 20, "peering_priority": None},
    ),
    "no-token-no-webhook": (
        ("--set", "bridge.token.enabled=false", "--set", "admissionWebhook.enabled=false"),
        {"bridge_token_file": None, "admission_webhook": False},
    ),
}


@pytest.fixture(autouse=True)
def no_onduty_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what the container sets: none of this process's own ONDUTY_* variables."""
    for variable in [v for v in os.environ if v.startswith("ONDUTY_")]:
        monkeypatch.delenv(variable)


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(line for line in dockerfile.read_text().splitlines() if not line.startswith("#"))
    )
    return [
        (parts[0].upper(), parts[1].strip() if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in text.splitlines() if line.strip())
    ]


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _exec_form(instructions: list[tuple[str, str]], name: str) -> list[str]:
    """The last ``name`` instruction, which must be in exec form (a JSON array: no shell in between, so the
    process is PID 1 and gets SIGTERM itself)."""
    [*_, value] = [args for instruction, args in instructions if instruction == name]
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), f"{name} {value} is not exec form"
    return parsed


def test_the_image_runs_the_installed_console_script_as_a_pinned_non_root_image() -> None:
    instructions = _instructions(DOCKERFILE)
    final = _final_stage(instructions)
    entrypoint, command = _exec_form(final, "ENTRYPOINT"), _exec_form(final, "CMD")

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["onduty"]
    assert scripts[entrypoint[0]] == "onduty.cli:main"
    # As pip installs it: the script that `pip install .` makes runs onduty's main.
    [installed] = importlib.metadata.entry_points(group="console_scripts", name=entrypoint[0])
    assert installed.load() is cli.main
    assert cli.build_parser().parse_args(command).command == "run"

    # Non-root, numerically (the Pods' runAsNonRoot can only check a number), the uid the Pods run as.
    [user] = [args for name, args in final if name == "USER"]
    assert user == "65532:65532"

    # The base image is pinned: an exact Python version tag (with its Debian release), or a digest.
    [default] = [
        args.split("=", 1)[1] for name, args in instructions if name == "ARG" and args.startswith("PYTHON_IMAGE=")
    ]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?|python@sha256:[0-9a-f]{64}", default), (
        default
    )
    assert {args.split()[0] for name, args in instructions if name == "FROM"} == {"${PYTHON_IMAGE}"}


def _run_options() -> set[str]:
    parser = cli.build_parser()
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {flag for action in subcommands.choices["run"]._actions for flag in action.option_strings}


def _parse_as_onduty_starts(container: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """The container's arguments and ``ONDUTY_*`` variables through onduty's parser and converters."""
    assert container.get("command") in (None, ["onduty"]), "the image's ENTRYPOINT is the onduty script"
    variables = set()
    for variable in container.get("env", []):
        name = variable["name"]
        if not name.startswith("ONDUTY_"):
            continue
        variables.add(name)
        if "value" in variable:
            monkeypatch.setenv(name, variable["value"])
        else:  # the Pod's namespace, from the downward API
            assert variable["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, variable
            monkeypatch.setenv(name, "onduty-system")
    # Every variable set is one onduty reads (a misspelt one would be ignored in silence).
    known = {cli.environment_variable(flag) for flag in _run_options() if flag.startswith("--")}
    assert variables <= known, sorted(variables - known)

    try:
        args = cli.build_parser().parse_args(container["args"])
    except SystemExit as exit_:
        raise AssertionError(f"onduty refuses the container's arguments {container['args']}") from exit_
    # What onduty converts when it starts, before it connects anywhere.
    assert args.command == "run"
    GroupingConfig.parse(args.grouping_keys)
    cli.watch_namespaces(args.watch_namespaces, args.namespace)
    parse_networks([part for part in args.notifier_allowed_networks.split(",") if part.strip()])
    return args


@pytest.mark.parametrize(("values", "expected"), CHART_CASES.values(), ids=CHART_CASES.keys())
def test_the_charts_container_arguments_are_onduty_run_options(
    values: tuple[str, ...], expected: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import controlplane

    rendered = helm_template(controlplane.find_binaries() / "helm", tmp_path, "onduty", "onduty-system", *values)
    [deployment] = [d for d in rendered if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = _parse_as_onduty_starts(container, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (args.bridge_host, args.bridge_port) == ("0.0.0.0", ports["webhook"])
    assert args.liveness == f"http://0.0.0.0:{ports['health']}/healthz"
    assert {name: getattr(args, name) for name in expected} == expected
    if "admission" in ports:
        assert args.admission_webhook_port == ports["admission"]
    if "--set" in values and "rbac.namespaces={team-a,team-b}" in values:
        assert set(cli.watch_namespaces(args.watch_namespaces, args.namespace)) == {
            "team-a",
            "team-b",
            "onduty-system",
            "onduty-global",
        }


def test_the_kustomize_deployments_container_arguments_are_onduty_run_options(monkeypatch: pytest.MonkeyPatch):
    deployment = yaml.safe_load((REPO / "manifests/manager/deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = _parse_as_onduty_starts(container, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (args.bridge_host, args.bridge_port) == ("0.0.0.0", ports["webhook"])
    assert args.liveness == f"http://0.0.0.0:{ports['health']}/healthz"
    assert args.bridge_token_file == "/etc/onduty/bridge-token/token"
    assert container["image"] == "onduty:0.1.0"
