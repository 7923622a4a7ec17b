"""The command line: a bad option is one line on stderr and exit status 2 before any connection, a failure at run
time one line and exit status 1; never a traceback, never a secret. Every ``run`` flag has its ``ONDUTY_*`` variable."""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import logging
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
import pytest

from kit import REPO, onduty_cli
from onduty.app import API_REQUESTS, CLUSTER_STREAMS, NAMESPACED_KINDS, api_connections, watch_scope
from onduty.cli import (
    StartupError,
    bridge_token,
    build_parser,
    environment_variable,
    main,
    undecidable,
    watch_namespaces,
)
from onduty.cli import _context_namespace as context_namespace
from onduty.cli import _peering as peering_config
from onduty.handlers.runtime import OperatorConfig

SECRET = "s3cr3t-pa55"
# Never read: every case below must fail before onduty loads a kubeconfig.
NO_CLUSTER = ["--kubeconfig", "/nonexistent/kubeconfig"]


@pytest.mark.parametrize(
    ("text", "namespaces"),
    [
        pytest.param("", (), id="empty-is-cluster-wide"),
        pytest.param(" , ,", (), id="only-separators-is-cluster-wide"),
        pytest.param("shop", ("shop", "onduty-system"), id="own-namespace-added"),
        pytest.param(" shop , payments ", ("shop", "payments", "onduty-system"), id="spaces-trimmed"),
        pytest.param("shop,,shop,onduty-system", ("shop", "onduty-system"), id="duplicates-dropped"),
        pytest.param("onduty-system", ("onduty-system",), id="own-namespace-only"),
    ],
)
def test_watch_namespaces_parse_from_a_comma_separated_list(text: str, namespaces: tuple[str, ...]) -> None:
    assert watch_namespaces(text, "onduty-system") == namespaces


@pytest.mark.parametrize(
    "value", ["Team-A", "../kube-system", "kube-system/x", "shop*", "!shop", "a" * 64, "-shop", "shop."]
)
def test_a_watch_namespace_that_is_no_namespace_name_is_refused_naming_it(value: str) -> None:
    with pytest.raises(StartupError, match=r"--watch-namespaces") as caught:
        watch_namespaces(f"shop,{value}", "onduty-system")

    assert repr(value)[:40] in str(caught.value)


@pytest.mark.parametrize(
    ("config", "scope"),
    [
        pytest.param(OperatorConfig(), {"clusterwide": True}, id="cluster-wide-by-default"),
        pytest.param(
            OperatorConfig(global_namespace="ops", watch_namespaces=("shop",)),
            {"clusterwide": False, "namespaces": ["shop", "ops"]},
            id="own-namespace-always-watched",
        ),
        pytest.param(
            OperatorConfig(global_namespace="ops", watch_namespaces=("ops", "shop")),
            {"clusterwide": False, "namespaces": ["ops", "shop"]},
            id="own-namespace-once",
        ),
    ],
)
def test_kopf_watches_cluster_wide_or_exactly_the_named_namespaces(
    config: OperatorConfig, scope: dict[str, object]
) -> None:
    assert watch_scope(config) == scope
    # The installed Kopf takes exactly these arguments.
    inspect.signature(kopf.operator).bind(**scope)


def test_options_read_their_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONDUTY_MAX_ALERTS", "25")
    monkeypatch.setenv("ONDUTY_WATCH_NAMESPACES", "shop,payments")

    args = build_parser().parse_args(["run"])

    assert args.max_alerts == 25
    assert args.watch_namespaces == "shop,payments"


def test_the_default_alert_cap_is_a_thousand() -> None:
    assert build_parser().parse_args(["bridge"]).max_alerts == 1000


@pytest.mark.parametrize("content", ["", "\n", "  \t\n "], ids=["empty", "newline", "whitespace"])
def test_an_empty_token_file_is_a_startup_error_naming_the_file(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text(content)

    assert main(["bridge", "--bridge-token-file", str(token), *NO_CLUSTER]) == 2

    error = capsys.readouterr().err
    assert str(token) in error
    assert "empty" in error


def test_an_unreadable_token_file_is_a_startup_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-token"

    assert main(["run", "--bridge-token-file", str(missing), *NO_CLUSTER]) == 2

    assert str(missing) in capsys.readouterr().err


def test_the_token_is_read_trimmed_and_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token = tmp_path / "token"
    token.write_text(f"{SECRET}\n")

    with caplog.at_level(logging.DEBUG):
        assert bridge_token(str(token), port=9095) == SECRET

    assert SECRET not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_bridge_without_a_token_warns_once_that_anyone_can_create_alerts(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert bridge_token(None, port=9095) is None

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "anyone" in warnings[0].getMessage()
    assert "9095" in warnings[0].getMessage()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        pytest.param(["bridge", "--max-alerts", "0"], "--max-alerts", id="no-alert-allowed"),
        pytest.param(["bridge", "--max-body-bytes", "-1"], "--max-body-bytes", id="negative-body-limit"),
        pytest.param(["bridge", "--namespace", "Team-A"], "--namespace", id="namespace-not-a-name"),
        pytest.param(["run", "--watch-namespaces", "../kube-system"], "--watch-namespaces", id="watch-path"),
        pytest.param(["run", "--grouping-keys", ","], "--grouping-keys", id="no-grouping-key"),
        pytest.param(["run", "--prometheus-url", f"user:{SECRET}@prom:9090"], "--prometheus-url", id="no-scheme"),
        pytest.param(["run", "--alertmanager-url", f"ftp://u:{SECRET}@am"], "--alertmanager-url", id="not-http"),
        pytest.param(["run", "--prometheus-url", f"http://u:{SECRET}@"], "--prometheus-url", id="no-host"),
        pytest.param(["run", "--prometheus-url", f"http://u:{SECRET}@[::1"], "--prometheus-url", id="bad-ipv6"),
    ],
)
def test_a_bad_option_is_a_startup_error_naming_it_without_credentials(
    argv: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("token\n")

    assert main([*argv, "--bridge-token-file", str(token), *NO_CLUSTER]) == 2

    error = capsys.readouterr().err
    assert named in error
    assert SECRET not in error
    assert "Traceback" not in error


def test_the_command_exits_with_status_2_and_one_line_for_an_empty_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n")

    result = subprocess.run(
        [sys.executable, "-m", "onduty.cli", "bridge", "--bridge-token-file", str(token), *NO_CLUSTER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"onduty: error: --bridge-token-file {token} is empty: give the bearer token Alertmanager sends"
    ]


# --- every flag of `onduty run` has its ONDUTY_* variable --------------------------------------------------------


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [choices] = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(choices)


def run_flags() -> list[argparse.Action]:
    run = subcommands(build_parser())["run"]
    return [a for a in run._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


# A value each kind of option takes from its variable, and what the option then holds.
SAMPLES: dict[str, tuple[str, Any]] = {
    "--log-level": ("warning", "WARNING"),
    "--bridge-port": ("19095", 19095),
    "--max-body-bytes": ("2048", 2048),
    "--max-alerts": ("25", 25),
    "--poll-seconds": ("2.5", 2.5),
    "--no-bridge": ("true", True),
    "--peering": ("TRUE", True),
    "--peering-priority": ("42", 42),
    "--peering-lifetime": ("5", 5),
    "--admission-webhook": ("yes", True),
    "--admission-webhook-port": ("19443", 19443),
}


@pytest.mark.parametrize("action", run_flags(), ids=lambda a: a.option_strings[-1])
def test_every_run_flag_is_set_by_its_onduty_variable(action: argparse.Action, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = action.option_strings[-1]
    given, expected = SAMPLES.get(flag, ("from-the-environment", "from-the-environment"))
    variable = environment_variable(flag)
    monkeypatch.delenv(variable, raising=False)
    unset = getattr(build_parser().parse_args(["run"]), action.dest)

    monkeypatch.setenv(variable, given)
    args = build_parser().parse_args(["run"])

    assert variable == "ONDUTY_" + flag.removeprefix("--").upper().replace("-", "_")
    assert getattr(args, action.dest) == expected != unset


def test_peering_gives_each_replica_its_own_identity_and_a_priority_from_its_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("ONDUTY_PEERING_NAME", "ONDUTY_PEERING_PRIORITY", "ONDUTY_PEERING_LIFETIME"):
        monkeypatch.delenv(variable, raising=False)
    first = peering_config(build_parser().parse_args(["run", "--peering"]))
    later = peering_config(build_parser().parse_args(["run", "--peering"]))
    given = peering_config(
        build_parser().parse_args(["run", "--peering", "--peering-priority=7", "--peering-name=a.b"])
    )

    assert (first.name, first.lifetime) == ("onduty", 30)
    assert first.priority >= later.priority and first.identity.startswith(socket.gethostname())
    assert (given.name, given.priority) == ("a.b", 7)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--peering-name=Team_A"], "--peering-name 'Team_A': expected a DNS name"),
        (["--peering-lifetime=0"], "--peering-lifetime 0: expected 1 or more"),
    ],
)
def test_a_bad_peering_option_is_a_startup_error_naming_it(argv: list[str], message: str) -> None:
    with pytest.raises(StartupError, match=re.escape(message)):
        peering_config(build_parser().parse_args(["run", "--peering", *argv]))


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONDUTY_BRIDGE_PORT", "abc")  # never converted: the flag replaces it
    monkeypatch.setenv("ONDUTY_MAX_ALERTS", "25")

    args = build_parser().parse_args(["run", "--bridge-port", "9096", "--max-alerts", "30"])

    assert (args.bridge_port, args.max_alerts) == (9096, 30)


def test_the_readme_configure_table_lists_every_run_flag() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Configure\n", 1)[1].split("\n## ", 1)[0]
    listed = {
        flag
        for row in section.splitlines()
        if row.startswith("| `--")
        for flag in re.findall(r"`(--[a-z-]+)`", row.split("|")[1])
    }

    assert {a.option_strings[-1] for a in run_flags()} <= listed


@pytest.mark.parametrize("value", ["debug", "Info", "WARNING", " error "])
def test_a_log_level_is_taken_in_any_case(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONDUTY_LOG_LEVEL", value)

    assert build_parser().parse_args(["bridge"]).log_level == value.strip().upper()
    assert build_parser().parse_args(["bridge", "--log-level", value]).log_level == value.strip().upper()


# --- help and version ----------------------------------------------------------------------------------------------


def test_every_help_text_is_plain_text() -> None:
    parser = build_parser()
    texts = [parser.format_help(), *(sub.format_help() for sub in subcommands(parser).values())]

    for text in texts:
        assert not re.search(r"``|:(mod|class|func):`", text), text
    assert set(subcommands(parser)) == {
        "run",
        "bridge",
        "approve",
        "reject",
        "ack",
        "unack",
        "resolve",
        "retry",
        "oncall",
        "lint",
        "get",
        "postmortem",
        "simulate",
    }
    for name, sub in subcommands(parser).items():
        assert sub.description, f"onduty {name} has no description"
        for action in sub._actions:
            assert action.help, f"onduty {name} {action.option_strings or action.dest} has no help"


# Values that are wrong for every option that converts them: help must not read them.
GARBAGE = {
    environment_variable(flag): "not-a-value!"
    for flag in (
        "--bridge-port",
        "--max-alerts",
        "--max-body-bytes",
        "--poll-seconds",
        "--log-level",
        "--peering",
        "--no-bridge",
    )
}


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["bridge", "--help"], ["approve", "--help"]])
def test_help_works_whatever_the_environment_holds(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in GARBAGE.items():
        monkeypatch.setenv(variable, value)

    result = onduty_cli(*argv)

    assert (result.returncode, result.stderr) == (0, "")
    assert "usage: onduty" in result.stdout


def test_onduty_version_is_the_installed_package_version() -> None:
    result = onduty_cli("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"onduty {importlib.metadata.version('onduty')}"


# --- user errors: one line, the option or variable and the value, exit 2 (usage) or 1 (failure) -------------------


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ONDUTY_BRIDGE_PORT", "abc"),
        ("ONDUTY_BRIDGE_PORT", "70000"),
        ("ONDUTY_MAX_ALERTS", "many"),
        ("ONDUTY_POLL_SECONDS", "-1"),
        ("ONDUTY_LOG_LEVEL", "verbose"),
        ("ONDUTY_PEERING", "maybe"),
    ],
)
def test_a_bad_onduty_variable_is_one_line_naming_it_and_its_value(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)

    result = onduty_cli("run", *NO_CLUSTER)

    assert result.returncode == 2
    assert one_line(result).startswith(f"onduty: error: {variable}={value!r}: expected ")


def test_a_missing_kubeconfig_is_one_line_naming_it(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("token\n")

    for argv in (["bridge", "--bridge-port", "19097", "--bridge-token-file", str(token)], ["ack", "x"], ["oncall"]):
        result = onduty_cli(*argv, *NO_CLUSTER)

        assert result.returncode == 2, argv
        assert one_line(result) == "onduty: error: --kubeconfig /nonexistent/kubeconfig: no such file"


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose API server is a port nothing listens on; its token must never be shown."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:1"}}}}]
users: [{{name: u, user: {{token: {SECRET}}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u, namespace: shop}}}}]
current-context: c
"""
    )
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["approve", "some-incident"],
        ["reject", "some-incident"],
        ["ack", "some-incident"],
        ["unack", "some-incident"],
        ["oncall"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_unreachable_api_server_is_one_line_and_exit_status_1(
    argv: list[str], unreachable_kubeconfig: Path, tmp_path: Path
) -> None:
    # (`run` and `bridge` start anyway: tests/integration/test_bridge.py shows the bridge answering 503.)
    result = onduty_cli(*argv, "--kubeconfig", str(unreachable_kubeconfig))

    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("onduty: error: cannot reach the API server at https://127.0.0.1:1")
    assert str(unreachable_kubeconfig) in line
    assert SECRET not in result.stderr


def test_a_bridge_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("token\n")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        result = onduty_cli("bridge", "--bridge-port", str(port), "--bridge-token-file", str(token), *NO_CLUSTER)

    assert result.returncode == 1
    assert one_line(result) == (
        f"onduty: error: --bridge-port {port}: cannot listen on 127.0.0.1:{port}: Address already in use"
        " (another process listens there)"
    )


def test_a_missing_token_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"

    result = onduty_cli("run", "--bridge-token-file", str(missing), *NO_CLUSTER)

    assert result.returncode == 2
    assert (
        one_line(result)
        == f"onduty: error: --bridge-token-file {missing}: cannot read the token: No such file or directory"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("kind: Runbook\nspec: [\n", "{path}:3:1: not valid YAML: ", id="unclosed-flow"),
        pytest.param("kind: Runbook\n  bad: indent\n", "{path}:2:6: not valid YAML: ", id="bad-indent"),
        pytest.param(
            "apiVersion: onduty.dev/v1alpha1\nkind: Runbook\nmetadata: [x]\n",
            "{path}: document 1: metadata: must be a mapping",
            id="list-metadata",
        ),
        pytest.param(
            "apiVersion: onduty.dev/v1alpha1\nkind: Runbook\nmetadata: {name: r}\nspec: [1]\n",
            "{path}: Runbook r: spec: must be a mapping, not list",
            id="list-spec",
        ),
        pytest.param(b"kind: \xff\n", "{path}: not UTF-8 text", id="not-utf8"),
    ],
)
def test_lint_reports_a_bad_file_in_one_line(content: str | bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    result = onduty_cli("lint", str(path))

    assert result.returncode == 1
    assert one_line(result).startswith(message.format(path=path))


# --- simulate: what would happen to an alert, offline -------------------------------------------------------------

SAMPLE_DIR = REPO / "manifests/samples"
SIMULATE_SAMPLES = (
    "simulate",
    "--alert",
    str(SAMPLE_DIR / "alert.json"),
    "--runbooks",
    str(SAMPLE_DIR / "runbook.yaml"),
    "--policies",
    *(str(p) for p in sorted(SAMPLE_DIR.glob("remediationpolicy*.yaml"))),
    "--at",
    "2026-12-01T10:00:00Z",
)


def test_simulate_prints_the_incident_the_runbook_and_each_verdict_of_the_samples() -> None:
    result = onduty_cli(*SIMULATE_SAMPLES)

    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    for line in (
        "simulated at 2026-12-01T10:00:00Z, offline (nothing is read from a cluster)",
        "alert 1 KubePodCrashLooping (firing): opens incident 1",
        "alert 2 KubePodCrashLooping (firing): joins incident 1",
        "incident 1: default/web-7d9f8b6c5d-x2x4z is crash-looping",
        '  grouping key: alertname="KubePodCrashLooping",namespace="default",workload="Deployment/web"',
        "  severity:     warning",
        "  workload:     Deployment/web",
        "  runbook:      runbook default/restart-on-crashloop (priority 0) matched alertname=KubePodCrashLooping,"
        " severity=warning",
        "  step 1 restart: rolloutRestart of Deployment/web",
        "    Policy            allowed  PoliciesInScope: in scope: default-namespace",
        "    ChangeFreeze      allowed  NoFreeze: no change freeze covers this time",
        "    Silence           allowed  NotCheckedOffline: not checked offline: Alertmanager's silences are not read",
        "    decision: would run",
    ):
        assert line in lines, result.stdout


def test_simulate_fails_a_ci_gate_only_on_the_outcomes_named(tmp_path: Path) -> None:
    frozen = tmp_path / "freeze.yaml"
    frozen.write_text(
        "apiVersion: onduty.dev/v1alpha1\nkind: RemediationPolicy\nmetadata: {name: freeze}\nspec:\n"
        "  scope: {namespaces: [default]}\n  allowedActions: [rolloutRestart]\n"
        "  changeFreezes: [{start: '2026-12-01T09:00:00Z', end: '2026-12-01T12:00:00Z', reason: launch}]\n"
    )
    args = [*SIMULATE_SAMPLES[:5], "--policies", str(frozen), "--at", "2026-12-01T10:00:00Z", "-o", "json"]

    passing = onduty_cli(*args, "--fail-on", "denied")
    failing = onduty_cli(*args, "--fail-on", "denied", "--fail-on", "held")

    assert passing.returncode == 0
    [step] = json.loads(passing.stdout)["incidents"][0]["steps"]
    assert (step["outcome"], step["until"]) == ("held", "2026-12-01T12:00:00Z")
    assert failing.returncode == 3
    assert one_line(failing) == "--fail-on held: at least one step is held"


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        pytest.param(
            "policy.yaml",
            (SAMPLE_DIR / "invalid-remediationpolicy.yaml").read_text(),
            "onduty: error: {path}: RemediationPolicy approve-scaling: spec: every action in spec.requireApproval"
            " must also be in spec.allowedActions",
            id="invalid-policy",
        ),
        pytest.param(
            "alert.json",
            '{"version": "4", "status": "firing", "alerts": [{"status": "burning"}]}',
            "onduty: error: {path}: alerts[0].status: ",
            id="invalid-alert",
        ),
        pytest.param("alert.json", "{", "onduty: error: {path}: body is not valid JSON: ", id="not-json"),
    ],
)
def test_simulate_refuses_bad_input_in_one_line_naming_file_and_field(
    file: str, content: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / file
    path.write_text(content)
    alert = str(path) if file == "alert.json" else str(SAMPLE_DIR / "alert.json")
    policies = ["--policies", str(path)] if file != "alert.json" else []

    result = onduty_cli("simulate", "--alert", alert, *policies)

    assert result.returncode == 1
    assert one_line(result).startswith(message.format(path=path))


# --- approve and reject: only an action waiting now ------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def action(step: str, state: str, **fields: Any) -> dict[str, Any]:
    return {"step": step, "state": state, **fields}


WAITING = action("fix", "AwaitingApproval", approval={"expiresAt": "2026-03-01T12:10:00Z"})


@pytest.mark.parametrize(
    ("actions", "step", "decided", "why_not"),
    [
        pytest.param([WAITING], None, "fix", "", id="the-one-waiting"),
        pytest.param([WAITING], "fix", "fix", "", id="named-and-waiting"),
        pytest.param(
            [action("fix", "AwaitingApproval", approval={"expiresAt": "2026-03-01T11:59:59Z"})],
            None,
            "fix",
            "the approval request for step fix expired at 2026-03-01T11:59:59Z; nothing is waiting for approval",
            id="expired",
        ),
        pytest.param(
            [action("fix", "Succeeded", reason="Verified", finishedAt="2026-03-01T11:00:00Z")],
            "fix",
            "fix",
            "step fix has finished: Succeeded (Verified); nothing is waiting for approval",
            id="finished",
        ),
        pytest.param(
            [action("fix", "Pending")],
            "fix",
            "fix",
            "step fix is not waiting for approval: it is Pending",
            id="not-waiting",
        ),
        pytest.param(
            [WAITING],
            "other",
            "other",
            "has 1 action(s) waiting (fix); step other is not one of them",
            id="no-such-step",
        ),
        pytest.param([], None, None, "has 0 action(s) waiting (none); name one with --step", id="nothing-waiting"),
        pytest.param(
            [WAITING, action("undo", "AwaitingApproval")],
            None,
            None,
            "has 2 action(s) waiting (fix, undo); name one with --step",
            id="two-waiting",
        ),
    ],
)
def test_only_an_action_waiting_now_can_be_decided(
    actions: list[dict[str, Any]], step: str | None, decided: str | None, why_not: str
) -> None:
    assert undecidable(actions, step, now=NOW) == (decided, why_not)


@pytest.mark.parametrize(
    ("context", "namespace"),
    [
        pytest.param(None, "shop", id="current-context"),
        pytest.param("bare", "default", id="context-without-namespace"),
        pytest.param("nosuch", "default", id="unknown-context"),
    ],
)
def test_the_namespace_defaults_to_the_kube_contexts(
    context: str | None, namespace: str, unreachable_kubeconfig: Path
) -> None:
    text = unreachable_kubeconfig.read_text().replace(
        "contexts: [", "contexts: [{name: bare, context: {cluster: c, user: u}}, "
    )
    unreachable_kubeconfig.write_text(text)

    assert context_namespace(str(unreachable_kubeconfig), context) == namespace
    assert context_namespace("/nonexistent/kubeconfig", context) == "default"


def test_kopf_may_hold_a_connection_for_every_watch_stream_and_a_bounded_number_of_requests() -> None:
    cluster_wide = api_connections(OperatorConfig())
    five_namespaces = api_connections(OperatorConfig(global_namespace="ops", watch_namespaces=("a", "b", "c", "d")))

    assert cluster_wide == NAMESPACED_KINDS + CLUSTER_STREAMS + API_REQUESTS
    # Watching namespaces one by one opens a stream per kind in each: the bound grows with them, so
    # no request ever waits behind watches for a connection.
    assert five_namespaces == NAMESPACED_KINDS * 5 + CLUSTER_STREAMS + API_REQUESTS


def test_the_namespaced_kinds_counted_for_watch_streams_are_the_ones_onduty_handles() -> None:
    from onduty.handlers import build_registry

    registry = build_registry()
    # Kopf keeps no public list of what a registry handles; its sub-registries do.
    kinds = (registry._indexing, registry._watching, registry._spawning, registry._changing)
    plurals = {selector.plural or selector.any_name for sub in kinds for selector in sub.get_all_selectors()}
    namespaced = {"alerts", "incidents", "runbooks", "escalationpolicies", "notifiers", "oncallschedules"}
    assert namespaced <= plurals
    assert len(namespaced) == NAMESPACED_KINDS
    # Everything else onduty handles is cluster-scoped and counted in CLUSTER_STREAMS.
    assert len(plurals - namespaced) < CLUSTER_STREAMS
