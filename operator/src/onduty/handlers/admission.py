"""The validating admission webhook: ``kubectl apply`` refuses what the operator could not use.

The CRDs refuse most bad specs by themselves (schema and CEL). What CEL cannot
judge — an IANA time zone, PromQL syntax — the operator's own parsers can; this
webhook asks them (:mod:`onduty.domain.admission`, the same parser the operator
reads each kind with) and refuses with the field and the value.

It is early feedback, not the safety net, so it fails open
(``failurePolicy: Ignore``): were it ``Fail``, nobody could edit a change
freeze or a policy while onduty is down, which is often during an incident.
What slips past it (written while onduty was down, or before the webhook was
enabled) is still refused by the operator, loudly: ``Accepted: False``, a
Warning Event and a log line, and an invalid RemediationPolicy refuses every
action in its scope until it is fixed.

Two ways to serve it, chosen by whether a certificate is given:

* ``--admission-webhook-cert-dir`` (the chart): the certificate, the Service
  and the ``ValidatingWebhookConfiguration`` are the chart's; onduty only
  serves, and needs no right on webhook configurations.
* none (a local ``onduty run``): onduty signs its own certificate and, as only
  it knows that CA, registers the configuration itself (Kopf's managed mode,
  removed again when onduty stops), pointing at ``https://<host>:<port>``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from onduty import GROUP, VERSION
from onduty.adapters.certificates import self_signed
from onduty.domain.admission import CHECKED_KINDS, CheckedKind, refusal, spec_problem

# The configuration onduty registers for itself when it signs its own certificate (a local run);
# also the suffix of each webhook's name, which the API server wants fully qualified.
MANAGED_CONFIGURATION = "webhook.onduty.dev"
# Where it listens by default: the port controller-runtime webhooks use, on loopback (a local run).
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 9443


def handler_id(plural: str) -> str:
    """The id of a kind's handler, which is also its URL path: Kopf serves each handler at ``/<id>``."""
    return f"validate-{plural}"


@dataclass(frozen=True)
class WebhookOptions:
    address: str = DEFAULT_ADDRESS
    port: int = DEFAULT_PORT
    # The name or address the API server calls (and the certificate names); default: the address.
    host: str | None = None
    # tls.crt and tls.key (as a kubernetes.io/tls Secret mounts them); None: sign one and register it.
    cert_dir: Path | None = None

    @property
    def reachable_host(self) -> str:
        if self.host:
            return self.host
        try:
            if ipaddress.ip_address(self.address).is_unspecified:
                return "127.0.0.1"
        except ValueError:
            pass
        return self.address


def register(registry: kopf.OperatorRegistry) -> None:
    """One validating handler per kind the operator parses, for CREATE and UPDATE."""
    for checked in CHECKED_KINDS:
        kopf.on.validate(
            GROUP,
            VERSION,
            checked.plural,
            id=handler_id(checked.plural),
            operations=["CREATE", "UPDATE"],
            # Fail open: see the module's docstring.
            ignore_failures=True,
            registry=registry,
        )(_validator(checked))


def _validator(checked: CheckedKind) -> Callable[..., Coroutine[Any, Any, None]]:
    async def validate(
        body: kopf.Body, old: kopf.Body | None, operation: str | None, namespace: str | None, **_: Any
    ) -> None:
        spec = body.get("spec")
        # Only a changed spec is judged: an object that slipped past the webhook must still take
        # the operator's own writes (finalizers, annotations) and a label, and can be deleted.
        if operation == "UPDATE" and old is not None and old.get("spec") == spec:
            return
        problem = spec_problem(checked.plural, spec if spec is not None else {})
        if problem:
            meta = body.get("metadata") or {}
            name = meta.get("name") or meta.get("generateName") or ""
            raise kopf.AdmissionError(refusal(checked.kind, namespace, name, problem), code=422)

    return validate


def configure(settings: kopf.OperatorSettings, options: WebhookOptions) -> None:
    """Serve the webhook over https: with the given certificate, or a self-signed one onduty registers."""
    host = options.reachable_host
    if options.cert_dir is not None:
        settings.admission.server = kopf.WebhookServer(
            addr=options.address,
            port=options.port,
            host=host,
            certfile=options.cert_dir / "tls.crt",
            pkeyfile=options.cert_dir / "tls.key",
        )
        return
    certificate = self_signed([host, *([options.address] if _specific(options.address) else [])])
    settings.admission.server = kopf.WebhookServer(
        addr=options.address,
        port=options.port,
        host=host,
        certfile=certificate.certfile,
        pkeyfile=certificate.keyfile,
    )
    settings.admission.managed = MANAGED_CONFIGURATION


def _specific(address: str) -> bool:
    """An address a client can call (not 0.0.0.0 or ::), worth naming in the certificate."""
    try:
        return not ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return bool(address)
