"""`make run` twice, after a crash, and on a taken port: it says what to do, or recovers.

hack/dev.py is what `make run` runs. Each test gives it its own run directory and
port, so a developer's own `make run` is never touched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import controlplane
from kit import REPO
from processes import Process, free_port, http_ok, wait_until

DEV = [sys.executable, str(REPO / "hack/dev.py")]


def _healthy(port: int) -> bool:
    return http_ok(f"http://127.0.0.1:{port}/healthz")


def _start(run_dir: Path, port: int, log: Path, *, replacing: Process | None = None) -> Process:
    """Start make run; return once its own onduty answers (not one an earlier run left on the port)."""
    dev = Process.start("make run", [*DEV, "--run-dir", str(run_dir), "--port", str(port)], log=log, cwd=REPO)

    def ready() -> bool | None:
        ours = replacing is None or not replacing.alive()
        return (ours and "onduty is starting" in log.read_text() and _healthy(port)) or None

    dev.wait_until(ready, timeout=120, what=f"onduty's bridge answering on port {port}")
    return dev


def _cluster_processes(run_dir: Path) -> list[Process]:
    return controlplane.LocalCluster.attach(run_dir / "cluster").components


def test_a_second_make_run_says_where_the_first_runs_and_a_crashed_one_is_recovered(tmp_path: Path) -> None:
    run_dir, port = tmp_path / "run", free_port()
    first = _start(run_dir, port, tmp_path / "first.log")
    try:
        second = subprocess.run(
            [*DEV, "--run-dir", str(run_dir), "--port", str(port)], capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1, second.stderr
        assert f"`make run` is already running (pid {first.pid}, bridge on 127.0.0.1:{port})" in second.stderr
        assert "Traceback" not in second.stderr
        assert _healthy(port), "the second run must leave the first alone"

        # A crash: make run is killed, its onduty and control plane stay behind, onduty holding the port.
        left = Process.attach(json.loads((run_dir / "dev.json").read_text())["onduty"])
        first.kill()
        assert left.alive() and _healthy(port)
        cluster = _cluster_processes(run_dir)
        assert cluster and all(c.alive() for c in cluster)

        third = _start(run_dir, port, tmp_path / "third.log", replacing=left)
        try:
            log = third.log.read_text()
            assert f"stopping onduty (pid {left.pid}), left running by an earlier `make run` that crashed" in log
            assert "using the control plane already running" in log
            assert not left.alive()
            assert [c.pid for c in _cluster_processes(run_dir)] == [c.pid for c in cluster]
        finally:
            third.stop()
        # It owned the control plane the crashed run had started, so it stopped it too.
        assert not any(c.alive() for c in cluster)
        assert not (run_dir / "dev.json").exists()
    finally:
        first.stop()
        for process in _cluster_processes(run_dir):
            process.stop()


def test_a_port_taken_by_another_program_is_named_with_the_setting_to_change(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [*DEV, "--run-dir", str(tmp_path / "run"), "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"make run: port {port} is in use by another process")
    assert f"make run ONDUTY_BRIDGE_PORT={port + 1}" in result.stderr
    assert not (tmp_path / "run/cluster/state.json").exists(), "nothing is started on a taken port"


def test_the_port_is_a_setting(tmp_path: Path) -> None:
    port = free_port()
    dev = Process.start(
        "make run",
        [*DEV, "--run-dir", str(tmp_path / "run")],
        log=tmp_path / "dev.log",
        cwd=REPO,
        env={**os.environ, "ONDUTY_BRIDGE_PORT": str(port)},
    )
    try:
        wait_until(
            lambda: _healthy(port) or None, timeout=120, what=f"the bridge on ONDUTY_BRIDGE_PORT={port}", watch=[dev]
        )
        fired = subprocess.run(
            [sys.executable, str(REPO / "hack/fire-alert.py")],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "ONDUTY_BRIDGE_PORT": str(port)},
        )
        assert fired.returncode == 0 and fired.stdout.startswith("200 "), fired.stdout + fired.stderr
    finally:
        dev.stop()
    assert not any(c.alive() for c in _cluster_processes(tmp_path / "run"))
