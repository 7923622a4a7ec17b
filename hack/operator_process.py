"""``onduty run`` (or ``onduty bridge``) as a real child process, for tests and the benchmark.

A real process, not the operator in-process, so a test can stop it, restart it and SIGKILL it midway,
and what survives is what a crash leaves::

    onduty = OperatorProcess(kubeconfig=cluster.kubeconfig, log_dir=tmp_path).start()
    post_json(onduty.url + "/api/v1/alerts", payload)
    onduty.kill()  # a crash
    onduty.start()  # a restart: a new log file, the same ports
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from processes import Process, free_port, http_ok

# Start-up on 2 busy cores: the bridge listens within seconds; the operator is ready (CRDs listed,
# watches established) within tens of seconds.
BRIDGE_START_SECONDS = 30.0
OPERATOR_READY_SECONDS = 60.0


@dataclass
class OperatorProcess:
    """``onduty run`` (or ``onduty bridge``) as a real child process, so tests can stop, restart and SIGKILL it."""

    kubeconfig: Path
    log_dir: Path
    command: str = "run"
    extra_args: list[str] = field(default_factory=list)
    # Extra environment for the process (e.g. ONDUTY_TEST_CRASHPOINTS / ONDUTY_CRASH_AT); kept across restarts
    # unless the test changes it.
    env: dict[str, str] = field(default_factory=dict)
    namespace: str = "onduty-system"
    port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    process: Process | None = None
    starts: int = 0
    # Fast polling for tests (a class attribute, not a field: subclasses switch it off).
    poll_flag: ClassVar[bool] = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """This start's log (each start has its own)."""
        return self.log_dir / f"onduty-{self.command}-{self.port}-{self.starts}.log"

    def argv(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "onduty.cli",
            self.command,
            "--kubeconfig",
            str(self.kubeconfig),
            "--namespace",
            self.namespace,
            "--bridge-port",
            str(self.port),
            *self.extra_args,
        ]
        if self.command == "run":
            args += ["--liveness", f"http://127.0.0.1:{self.health_port}/healthz"]
            if self.poll_flag:
                args += ["--poll-seconds", "0.5"]
        return args

    def start(self, *, wait: bool = True) -> OperatorProcess:
        """Start it; with ``wait``, return once the bridge answers (and, for ``run``, the operator is ready)."""
        self.starts += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = Process.start(f"onduty {self.command}", self.argv(), log=self.log_path, env=env)
        if wait:
            self.process.wait_until(
                lambda: http_ok(self.url + "/healthz"), timeout=BRIDGE_START_SECONDS, what="the bridge to listen"
            )
            if self.command == "run":
                self.process.wait_until(
                    lambda: http_ok(f"http://127.0.0.1:{self.health_port}/healthz"),
                    timeout=OPERATOR_READY_SECONDS,
                    what="the operator to be ready",
                )
        return self

    def tail(self, lines: int = 60) -> str:
        return "" if self.process is None else self.process.log_tail(lines)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (onduty finishes what it is writing first)."""
        if self.process is not None:
            self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final writes — a crash."""
        if self.process is not None:
            self.process.kill()
