"""Alertmanager's webhook notifications, as Alertmanager 0.25 sends them, and a client that posts them.

For the tests of the bridge and for ``hack/fire-alert.py`` and ``hack/bench_latency.py``, which play
Alertmanager without running one::

    code, body = post_json(bridge + "/api/v1/alerts", am_payload(am_alert(labels, starts_at=now)))

Stamps carry sub-second digits (``go_time.rfc3339_nano``) because Alertmanager writes Go's
``RFC3339Nano``: the bridge must read what it really gets. Standard library only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from go_time import rfc3339_nano

# What Alertmanager writes for "no end yet": Go's zero time.
UNSET_TIME = "0001-01-01T00:00:00Z"


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint: FNV-1a 64 over sorted name/value pairs, 0xff-separated."""
    value = 14695981039346656037
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            value ^= byte
            value = (value * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def am_alert(
    labels: dict[str, str],
    *,
    starts_at: datetime,
    status: str = "firing",
    ends_at: datetime | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One alert of a notification."""
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations or {"summary": f"{labels.get('alertname')} on {labels.get('deployment', '?')}"},
        "startsAt": rfc3339_nano(starts_at),
        "endsAt": rfc3339_nano(ends_at) if ends_at else UNSET_TIME,
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        "fingerprint": fingerprint(labels),
    }


def am_payload(*alerts: dict[str, Any], receiver: str = "onduty") -> dict[str, Any]:
    """An Alertmanager webhook v4 notification, as Alertmanager 0.25 sends it."""
    common = dict(set.intersection(*(set(a["labels"].items()) for a in alerts))) if alerts else {}
    return {
        "receiver": receiver,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": common.get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local:9093",
        "version": "4",
        "groupKey": '{}:{alertname="' + common.get("alertname", "") + '"}',
        "truncatedAlerts": 0,
    }


def post_json(
    url: str, body: Any, *, headers: dict[str, str] | None = None, raw: bytes | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` (or ``raw`` bytes) as Alertmanager does; the status and the JSON answer (``raw`` if not JSON)."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"raw": text.decode(errors="replace")}
