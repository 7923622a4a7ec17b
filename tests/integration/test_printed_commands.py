"""Every command onduty prints for a human, run as printed: each does what it says.

An approval request's Event (and timeline entry) tells the on-call engineer how
to approve or reject the held action; the chart's NOTES tell an installer how
to set up the bridge's token, watch incidents, pause automation, bind
approvers, approve with kubectl alone and upgrade the CRDs. Each command is
taken from the text a user reads, given the test's kubeconfig (KUBECONFIG, as a
user's shell has it), run through a shell, and its effect checked on the real
API server with a running operator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kit import REPO, incident_where, open_step_incident, wait_for

ADMIN = "onduty-admin"  # the test cluster's admin, as the API server authenticates it
STEP = {"action": "rolloutRestart", "verify": {"rolloutHealthyWithin": "2m"}}


def run(cluster, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` through bash, as pasted into a shell that has onduty and kubectl on its PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), str(cluster.bin_dir), os.environ.get("PATH", "")])
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PATH": path},
    )


def awaiting_approval(cluster, namespace: str) -> tuple[str, str]:
    """An incident whose one step waits for approval; its name and its ApprovalRequired Event's message."""
    name = open_step_incident(cluster, namespace, STEP, policy={"requireApproval": ["rolloutRestart"]})
    waiting = incident_where(
        cluster,
        namespace,
        lambda i: (i.get("status") or {}).get("lastAction") == "rolloutRestart AwaitingApproval",
        "the approval request",
    )
    [entry] = [e for e in waiting["status"]["timeline"] if e["reason"] == "ApprovalRequired"]

    def event() -> str | None:
        events = cluster.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
        return next((e["message"] for e in events["items"] if e["reason"] == "ApprovalRequired"), None)

    message = wait_for(event, what="the ApprovalRequired Event")
    assert message == entry["message"]  # kubectl describe shows what the timeline says
    return name, message


def generation(cluster, namespace: str) -> int:
    return int(cluster.get_json("deployment", "web", "-n", namespace)["metadata"]["generation"])


def action_of(cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(cluster.get_json("incident.onduty.dev", name, "-n", namespace)["status"]["actions"][0])


@pytest.mark.parametrize(("verb", "state", "restarts"), [("approve", "Succeeded", 1), ("reject", "Denied", 0)])
def test_the_command_an_approval_request_prints_decides_it(
    cluster, namespace, deployment, operator, verb, state, restarts
) -> None:
    name, message = awaiting_approval(cluster, namespace)
    before = generation(cluster, namespace)
    [command] = [c for c in re.findall(r"`([^`]+)`", message) if c.startswith(f"onduty {verb} ")]

    result = run(cluster, command)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{verb.removesuffix('e')}ed step fix of incident {namespace}/{name} as {ADMIN}"
    action = wait_for(
        lambda: (a := action_of(cluster, namespace, name))["state"] in ("Succeeded", "Failed", "Denied") and a,
        timeout=90,
        what=f"the {verb}d action's outcome",
    )
    assert (action["state"], action["approval"]["approved"], action["approval"]["decidedBy"]) == (
        state,
        verb == "approve",
        ADMIN,
    )
    assert generation(cluster, namespace) == before + restarts


def test_a_printed_command_for_an_action_not_waiting_changes_nothing(cluster, namespace, deployment, operator) -> None:
    name, message = awaiting_approval(cluster, namespace)
    [command] = [c for c in re.findall(r"`([^`]+)`", message) if c.startswith("onduty approve ")]

    result = run(cluster, command.replace(".fix", ".other"))

    assert result.returncode == 1
    assert f"incident {namespace}/{name} has 1 action(s) waiting (fix); step other is not one of them" in result.stderr
    annotations = cluster.get_json("incident.onduty.dev", name, "-n", namespace)["metadata"].get("annotations") or {}
    assert "onduty.dev/approve" not in annotations


# --- the chart's NOTES ---------------------------------------------------------------------------


def notes_commands(notes: str) -> list[str]:
    """The command lines of rendered NOTES: lines starting with ``kubectl``, continuations joined, comments cut,
    and a here-document (``<<'EOF'`` … ``EOF``) kept with its command, as bash reads it when pasted."""
    commands, current = [], ""
    lines = iter(notes.splitlines())
    for line in lines:
        text = line.strip()
        if not current and not text.startswith("kubectl "):
            continue
        current += text
        if current.endswith("\\"):
            current = current[:-1]
            continue
        command = re.sub(r"\s{2,}#.*$", "", current).strip()
        if command.endswith("<<'EOF'"):
            indent = len(line) - len(line.lstrip())
            body = []
            for here in lines:
                if here.strip() == "EOF":
                    break
                body.append(here[indent:])
            command += "\n" + "\n".join(body) + "\nEOF"
        commands.append(command)
        current = ""
    return commands


def test_every_command_in_the_chart_notes_does_what_it_says(
    cluster, namespace, deployment, operator, helm, tmp_path
) -> None:
    release = f"notes-{uuid.uuid4().hex[:6]}"
    # The approval policies exist in this cluster already (the session installed them), not from this release.
    values = ["--set", "admissionPolicies.create=false"]
    rendered = helm("install", release, str(REPO / "charts/onduty"), "-n", namespace, "--dry-run=server", *values)
    notes = rendered[rendered.index("NOTES:") :]
    [approver_role] = [
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all(helm("template", release, str(REPO / "charts/onduty"), "-n", namespace, *values))
        if doc and doc["kind"] == "ClusterRole" and doc["metadata"]["name"].endswith("-incident-approver")
    ]
    name, _ = awaiting_approval(cluster, namespace)
    placeholders = {
        "<ns>": namespace,
        "<name>": name,
        "<step>": "fix",
        "<your on-call group>": "oncall",
        "<the new chart's directory>": str(REPO / "charts/onduty"),
    }

    def incident() -> dict[str, Any]:
        return dict(cluster.get_json("incident.onduty.dev", name, "-n", namespace))

    def paused(_: str) -> None:
        assert incident()["metadata"]["annotations"]["onduty.dev/paused"] == "true"
        cluster.kubectl("annotate", "incident.onduty.dev", name, "-n", namespace, "onduty.dev/paused-")

    def approved(_: str) -> None:
        action = wait_for(
            lambda: (a := action_of(cluster, namespace, name))["state"] == "Succeeded" and a,
            timeout=90,
            what="the approved restart",
        )
        assert action["approval"]["decidedBy"] == ADMIN

    def bound(_: str) -> None:
        binding = cluster.get_json("rolebinding", "oncall-approvers", "-n", namespace)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": approver_role,
        }
        assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "oncall"}]

    def policy(out: str) -> None:
        # The example policy, as printed; it names a namespace no test uses, and goes again at once.
        try:
            created = cluster.get_json("remediationpolicy.onduty.dev", "shop")
            assert created["spec"]["allowedActions"] == ["rolloutRestart", "scale"], out
            assert created["spec"]["scope"] == {"namespaces": ["shop"]}
        finally:
            cluster.kubectl("delete", "remediationpolicy.onduty.dev", "shop", "--ignore-not-found")

    def secret(_: str) -> None:
        data = cluster.get_json("secret", "onduty-bridge-token", "-n", namespace)["data"]
        assert len(data["token"]) > 40  # 32 random bytes in hex, base64-encoded

    checks: dict[str, Callable[[str], None]] = {
        "create secret generic": secret,
        "get onduty -A": lambda out: (name in out) or pytest.fail(out),
        "describe incident.onduty.dev": lambda out: ("ApprovalRequired" in out) or pytest.fail(out),
        "onduty.dev/paused=true": paused,
        "create rolebinding": bound,
        "onduty.dev/approve=": approved,
        "apply --server-side --force-conflicts": lambda out: ("runbooks.onduty.dev" in out) or pytest.fail(out),
        "kind: RemediationPolicy": policy,
    }
    commands = notes_commands(notes)
    assert len(commands) == len(checks), commands
    for command in commands:
        for placeholder, value in placeholders.items():
            command = command.replace(placeholder, value)
        assert "<" not in command.replace("<<'EOF'", ""), f"a placeholder the test does not know: {command}"
        [check] = [c for key, c in checks.items() if key in command]

        result = run(cluster, command)

        assert result.returncode == 0, f"{command}\n{result.stderr}"
        check(result.stdout)
