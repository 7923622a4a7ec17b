"""Times as Go programs write them (``time.RFC3339Nano``), for output we fake on their behalf.

onduty itself writes seconds, as Kubernetes does: use ``onduty.domain.times.rfc3339`` for anything
onduty or the API server would write. This one is only for payloads that *other* programs send with
sub-second stamps and that our stand-ins must reproduce faithfully: Alertmanager's webhook
notifications (``startsAt``/``endsAt``) and the CRI log lines kwok serves as a kubelet would (where
``sinceTime`` and ``--timestamps`` depend on the fraction). Standard library only.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339_nano(moment: datetime) -> str:
    """``2026-11-28T12:00:00.123456000Z``: UTC, nine fractional digits (Python has six; the rest are 0)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
