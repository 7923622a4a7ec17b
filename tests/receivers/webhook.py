"""A receiver of onduty's signed webhook, built the way its docs tell users to build one.

:func:`checker` returns a ``check`` that refuses an unsigned, mis-signed or
stale request (``X-Onduty-Signature`` over ``{timestamp}.{body}``, within five
minutes of the receiver's ``now``), one without a delivery id, and a body
missing the notice or the incident. ``seen_deliveries`` shows how a receiver
drops repeats by ``X-Onduty-Delivery``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from onduty.domain.notify.webhook import verify_webhook_signature
from receivers import Answer, ContractViolation, Received

Check = Callable[[Received], None]


def checker(secret: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Check:
    def check(got: Received) -> None:
        if got.method != "POST":
            raise ContractViolation(f"method {got.method}: onduty's webhook is POST")
        if got.headers.get("content-type") != "application/json":
            raise ContractViolation("Content-Type must be application/json")
        for header in ("x-onduty-timestamp", "x-onduty-signature", "x-onduty-delivery", "x-onduty-event"):
            if not got.headers.get(header):
                raise ContractViolation(f"missing header {header}")
        if not verify_webhook_signature(
            secret, got.headers["x-onduty-timestamp"], got.body, got.headers["x-onduty-signature"], now()
        ):
            raise ContractViolation("X-Onduty-Signature does not verify (wrong secret, altered body or stale)")
        body = json.loads(got.body)
        if body.get("apiVersion") != "onduty.dev/v1" or not isinstance(body.get("notice"), dict):
            raise ContractViolation("body lacks apiVersion onduty.dev/v1 or the notice")
        incident = body.get("incident")
        if not isinstance(incident, dict) or not incident.get("name") or not incident.get("namespace"):
            raise ContractViolation("body lacks the incident's name and namespace")
        if body["notice"].get("key") != got.headers["x-onduty-delivery"]:
            raise ContractViolation("X-Onduty-Delivery is not the notice's key")

    return check


def seen_deliveries(requests: list[Received]) -> list[str]:
    """Delivery ids in arrival order, each once: what a receiver would act on."""
    out: list[str] = []
    for got in requests:
        delivery = got.headers.get("x-onduty-delivery", "")
        if delivery not in out:
            out.append(delivery)
    return out


def ok() -> Answer:
    return Answer(204, b"")
