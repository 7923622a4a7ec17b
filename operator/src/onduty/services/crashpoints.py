"""Named points where a test can make onduty die as a SIGKILL would: no clean-up, no last write.

The remediation worker passes these points; with ``ONDUTY_TEST_CRASHPOINTS=1``
*and* ``ONDUTY_CRASH_AT=<point>`` in its environment the process ends there
with exit status 137. Both are needed so that a stray variable in a real
deployment can never stop onduty. The points:

* ``after-record`` — the action is recorded (claimed) in the incident, nothing done yet;
* ``after-write-N`` — the N-th write the action made to the cluster (1-based: the
  workload's record first, then what the action changes);
* ``before-verify`` — the action is recorded as applied, verification not begun.

Tests restart onduty without them and check the action happened exactly once
and is recorded as it happened.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

ENABLE = "ONDUTY_TEST_CRASHPOINTS"
AT = "ONDUTY_CRASH_AT"
EXIT_STATUS = 137  # what a SIGKILLed process reports


def reached(point: str) -> None:
    """Die here if the test environment asks for it."""
    if os.environ.get(ENABLE) == "1" and os.environ.get(AT) == point:
        log.warning("crash point %s reached: exiting as if killed", point)
        logging.shutdown()
        os._exit(EXIT_STATUS)


def armed() -> bool:
    return os.environ.get(ENABLE) == "1" and bool(os.environ.get(AT))


class CountingWrites:
    """A Cluster stand-in for one action's run: passes every call through, and after each write
    (anything but GET) passes the point ``after-write-N``."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        self._writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        result = self._cluster.request(method, path, **kwargs)
        body = kwargs.get("body")
        dry = (kwargs.get("query") or {}).get("dryRun") or (isinstance(body, dict) and body.get("dryRun"))
        if method != "GET" and not dry:
            self._writes += 1
            reached(f"after-write-{self._writes}")
        return result

    def patch_workload(self, kind: str, namespace: str, name: str, patch: Any, *, dry_run: bool = False) -> Any:
        result = self._cluster.patch_workload(kind, namespace, name, patch, dry_run=dry_run)
        if not dry_run:
            self._writes += 1
            reached(f"after-write-{self._writes}")
        return result
