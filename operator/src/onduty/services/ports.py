"""What the use cases need from the running operator, as protocols: the handlers' ``Runtime`` provides it.

The services take these rather than :class:`onduty.handlers.runtime.Runtime`
itself, so they sit below the handlers and a test passes anything of this
shape.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from onduty.adapters.kube import Cluster
from onduty.services.wakeups import Wakeups


class Settings(Protocol):
    """The operator's configuration, as far as remediation and diagnostics read it."""

    @property
    def global_namespace(self) -> str: ...  # onduty's own namespace: the platform owners'
    @property
    def poll_seconds(self) -> float: ...  # how often verification looks again (and a silence is asked about)
    @property
    def prometheus_url(self) -> str | None: ...
    @property
    def alertmanager_url(self) -> str | None: ...
    @property
    def watch_namespaces(self) -> tuple[str, ...]: ...  # (): cluster-wide


class Runtime(Protocol):
    @property
    def cluster(self) -> Cluster: ...
    @property
    def config(self) -> Settings: ...
    @property
    def budget_lock(self) -> asyncio.Lock: ...  # held while the concurrency budget is judged and claimed
    @property
    def wakeups(self) -> Wakeups: ...  # what waiting steps wait for: changes seen in watch events
