"""Startup options: a bad one is a one-line error and exit status 2 before any connection, never a secret."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
from pathlib import Path

import kopf
import pytest

from onduty.app import watch_scope
from onduty.cli import StartupError, bridge_token, build_parser, main, watch_namespaces
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
