"""Child processes that must outlive a step but not the run: started with a log file, ready by a condition,
stopped by PID.

Every long-running process the local stack and the tests start — the control plane's components,
Prometheus and Alertmanager, ``onduty run`` and ``onduty bridge`` — goes through :class:`Process`::

    server = Process.start("prometheus", [PROMETHEUS, ...], log=run_dir / "logs" / "prometheus.log")
    server.wait_until(lambda: http_ok(url + "/-/ready"), timeout=60, what="Prometheus /-/ready")
    ...
    server.stop()  # SIGTERM, a bounded wait, then SIGKILL

* Its own session: a Ctrl-C meant for the starter does not reach it, and it survives the starter when it
  must (``controlplane.py up`` returns while the cluster runs). Stdin is closed; stdout and stderr are
  appended to one log file, whose tail every failure carries.
* Ready when a condition holds (:func:`wait_until`), never after a sleep; the wait fails at once, with the
  log's tail, when a process it watches exits first.
* Stopped by its PID only, never by name. A process recorded by another run (:meth:`Process.attach`) is
  recognised by PID *and* the kernel's start time, so a reused PID is left alone.

Standard library only: ``hack/controlplane.py`` runs before any virtualenv exists.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, TypeVar

__all__ = ["Process", "ProcessError", "free_port", "free_ports", "http_ok", "wait_until"]

T = TypeVar("T")
log = logging.getLogger("onduty.processes")

# Enough to show a stack trace or the last few start-up errors, not a whole log.
LOG_TAIL_LINES: Final = 40
# After SIGKILL a process is gone within milliseconds unless stuck in the kernel (D state); 10 s says so.
KILL_WAIT_SECONDS: Final = 10.0
# What a readiness probe may raise while the server is still coming up (connection refused, a TLS
# handshake with a half-started server, a half-written answer): "not yet", not a failure.
NOT_YET: Final = (OSError, ValueError, KeyError)


class ProcessError(RuntimeError):
    """A process exited early, was not ready in time, or did not stop; the message carries its log's tail."""


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on; the command name (field 2) may hold spaces."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux), or None when there is no such process."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])  # field 22 overall


@dataclass
class Process:
    """One child process and its log file. Create with :meth:`start` (or :meth:`attach` to a recorded one)."""

    name: str
    argv: list[str]
    log: Path
    pid: int
    start_ticks: int | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Process:
        """Start ``argv`` in its own session, stdout and stderr appended to ``log``; return at once."""
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        return cls(name, list(argv), log, popen.pid, start_ticks(popen.pid), popen)

    @classmethod
    def attach(cls, record: Mapping[str, Any]) -> Process:
        """A process another run started, from its :meth:`record` (it can be watched and stopped, not waited)."""
        ticks = record.get("start_ticks")
        return cls(
            name=str(record["name"]),
            argv=[str(a) for a in record["argv"]],
            log=Path(record["log"]),
            pid=int(record["pid"]),
            start_ticks=None if ticks is None else int(ticks),
        )

    def record(self) -> dict[str, Any]:
        """What :meth:`attach` needs, as JSON."""
        return {
            "name": self.name,
            "pid": self.pid,
            "argv": self.argv,
            "log": str(self.log),
            "start_ticks": self.start_ticks,
        }

    # -- state ------------------------------------------------------------------

    def is_ours(self) -> bool:
        """True while the PID still names the process that was started (not a reuse of the number)."""
        if self._popen is not None:
            return self._popen.poll() is None
        if self.start_ticks is not None:
            return start_ticks(self.pid) == self.start_ticks
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        fields = _stat_fields(self.pid)
        return self.is_ours() and fields is not None and fields[0] not in ("Z", "X")

    @property
    def exit_code(self) -> int | None:
        """The exit status once a process started here has exited (negative: the signal); else None."""
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with self.log.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 64 * 1024))
                text = fh.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    # -- waiting ----------------------------------------------------------------

    def wait_until(self, check: Callable[[], T | None], *, timeout: float, what: str) -> T:
        """:func:`wait_until` watching this process."""
        return wait_until(check, timeout=timeout, what=what, watch=[self])

    def wait(self, timeout: float) -> int:
        """Wait for a process started here to exit by itself; its exit status."""
        if self._popen is None:
            raise ProcessError(f"{self.name} (pid {self.pid}) was not started here; it cannot be waited for")
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcessError(
                f"{self.name} (pid {self.pid}) still runs after {timeout:g}s; last lines of {self.log}:\n"
                f"{self.log_tail()}"
            ) from None

    # -- stopping ---------------------------------------------------------------

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Idempotent; never touches a reused PID."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, KILL_WAIT_SECONDS)):
            if not self.alive():
                self._reap()
                return
            log.info("stopping %s (pid %d) with %s", self.name, self.pid, sig.name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            if self._wait_gone(wait):
                return
        raise ProcessError(f"{self.name} (pid {self.pid}) did not exit after SIGKILL")

    def kill(self) -> None:
        """SIGKILL at once: no clean-up, no last writes — a crash, for tests of what survives one."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._wait_gone(KILL_WAIT_SECONDS)

    def _wait_gone(self, timeout: float) -> bool:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _reap(self) -> None:
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(0)


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    watch: Sequence[Process] = (),
    interval: float = 0.1,
    tolerate: tuple[type[BaseException], ...] = NOT_YET,
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    An exception in ``tolerate`` counts as "not yet" (the last one is reported). Fails with
    :class:`ProcessError` as soon as a process in ``watch`` has exited, or after ``timeout`` seconds,
    with the tail of each watched process's log.
    """
    began = time.monotonic()
    last_error = ""
    while True:
        try:
            value = check()
        except tolerate as exc:
            value, last_error = None, f"{type(exc).__name__}: {exc}"
        if value:
            return value
        for proc in watch:
            if not proc.alive():
                raise ProcessError(
                    f"{proc.name} exited (code {proc.exit_code}) while waiting for {what}; "
                    f"last lines of {proc.log}:\n{proc.log_tail()}"
                )
        if time.monotonic() - began > timeout:
            tails = "".join(f"\n--- last lines of {p.log}:\n{p.log_tail()}" for p in watch)
            cause = f" (last error: {last_error})" if last_error else ""
            raise ProcessError(f"timed out after {timeout:g}s waiting for {what}{cause}{tails}")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """The readiness probe of most servers: ``GET url`` answers 200 (False while nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status) == HTTPStatus.OK
    except (OSError, http.client.HTTPException):  # URLError is an OSError
        return False


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports that were free a moment ago (all held open together while choosing)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    return free_ports(1)[0]
