"""The one error the control plane raises for what it checks itself (processes raise ``ProcessError``)."""

from __future__ import annotations


class ControlPlaneError(RuntimeError):
    """The control plane could not be started, inspected or stopped."""
