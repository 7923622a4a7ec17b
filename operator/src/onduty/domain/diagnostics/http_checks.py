"""The ``httpCheck`` diagnostic: which of a Service's endpoints answer, and which addresses are never probed.

"One bad replica or all of them?" is answered by probing each ready endpoint
behind the Service. The operator sends these requests from its own Pod, so
:func:`probe_forbidden` keeps it off addresses an EndpointSlice must not
steer it to (loopback, link-local cloud metadata, ...).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onduty.domain.diagnostics.results import Result, one_line
from onduty.domain.diagnostics.specs import HttpCheck

# An HTTP check probes at most this many endpoints: enough to see "one bad
# replica" versus "all bad" without scanning a 300-pod Service.
MAX_HTTP_ENDPOINTS = 10


class ServicePortError(ValueError):
    """The Service has no such port."""


def service_port(service: Mapping[str, Any], wanted: int | str | None) -> tuple[str, int]:
    """The Service port to check, as (name, port): by number or name, else the first one."""
    ports = list((service.get("spec") or {}).get("ports") or [])
    name = (service.get("metadata") or {}).get("name", "?")
    if not ports:
        raise ServicePortError(f"Service {name} has no ports")
    for port in ports:
        if wanted is None or wanted in (port.get("name"), port.get("port")) or str(port.get("port")) == str(wanted):
            return str(port.get("name") or ""), int(port.get("port") or 0)
    listed = ", ".join(f"{p.get('name') or '-'}/{p.get('port')}" for p in ports)
    raise ServicePortError(f"Service {name} has no port {wanted!r} (it has {listed})")


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int
    target: str | None = None  # the pod (targetRef) the address belongs to

    @property
    def url_host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


@dataclass(frozen=True)
class EndpointPlan:
    probe: list[Endpoint]
    not_ready: int
    not_probed: int
    # Addresses never probed whatever the EndpointSlice says: not an IP (an FQDN resolves to
    # anything), loopback, link-local (cloud metadata), unspecified or multicast.
    refused: tuple[str, ...] = ()


def probe_forbidden(address: str) -> str | None:
    """Why onduty must not send a request to ``address`` from its own Pod, or None if it may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    for what, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
    ):
        if hit:
            return what
    mapped = getattr(ip, "ipv4_mapped", None)
    return probe_forbidden(str(mapped)) if mapped is not None else None


def endpoints_to_probe(
    slices: Iterable[Mapping[str, Any]], port_name: str, limit: int = MAX_HTTP_ENDPOINTS
) -> EndpointPlan:
    """Ready endpoint addresses of the Service's EndpointSlices on the port named like the Service port.

    ``ready`` unset means ready (discovery.k8s.io/v1); terminating endpoints are not ready.
    """
    ready: dict[tuple[str, int], Endpoint] = {}
    refused: dict[str, None] = {}
    not_ready = 0
    for eps in slices:
        port = next(
            (p.get("port") for p in eps.get("ports") or [] if str(p.get("name") or "") == port_name and p.get("port")),
            None,
        )
        if port is None:
            continue
        for endpoint in eps.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is False or conditions.get("terminating"):
                not_ready += len(endpoint.get("addresses") or [])
                continue
            target = (endpoint.get("targetRef") or {}).get("name")
            for address in endpoint.get("addresses") or []:
                why = probe_forbidden(str(address))
                if why is not None:
                    refused[f"{address} ({why})"] = None
                    continue
                ready[(address, int(port))] = Endpoint(address, int(port), target)
    ordered = [ready[k] for k in sorted(ready)]
    return EndpointPlan(ordered[:limit], not_ready, max(0, len(ordered) - limit), tuple(refused))


@dataclass(frozen=True)
class Probe:
    endpoint: Endpoint
    url: str
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    body: str | None = None  # the start of a failing answer's body

    @property
    def healthy(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


def http_check_result(spec: HttpCheck, port: tuple[str, int], plan: EndpointPlan, probes: Sequence[Probe]) -> Result:
    entries = []
    for probe in sorted(probes, key=lambda p: (p.healthy, p.url)):  # failures first
        entry: dict[str, Any] = {"url": probe.url}
        if probe.endpoint.target:
            entry["pod"] = probe.endpoint.target
        if probe.status is not None:
            entry["status"] = probe.status
        if probe.latency_ms is not None:
            entry["latencyMs"] = round(probe.latency_ms, 1)
        if probe.error:
            entry["error"] = one_line(probe.error, 300)
        if probe.body and not probe.healthy:
            entry["body"] = one_line(probe.body, 200)
        entries.append(entry)
    details: dict[str, Any] = {
        "service": spec.service,
        "port": port[1],
        "path": spec.path,
        "endpoints": entries,
        "notReady": plan.not_ready,
    }
    if plan.not_probed:
        details["notProbed"] = plan.not_probed
    if plan.refused:
        details["refused"] = list(plan.refused)
    if not probes:
        summary = f"Service {spec.service}: no ready endpoints"
        if plan.not_ready:
            summary += f" ({plan.not_ready} not ready)"
        return Result(spec.name, spec.type, True, summary, details)
    healthy = [p for p in probes if p.healthy]
    summary = f"Service {spec.service}: {len(healthy)}/{len(probes)} endpoints answer GET {spec.path} with 2xx/3xx"
    latencies = sorted(p.latency_ms for p in healthy if p.latency_ms is not None)
    if latencies:
        summary += f" (median {latencies[len(latencies) // 2]:.0f} ms)"
    bad = [p for p in probes if not p.healthy]
    if bad:
        summary += "; " + "; ".join(
            f"{p.endpoint.url_host}:{p.endpoint.port} {p.status if p.status is not None else p.error}" for p in bad[:3]
        )
    if plan.not_ready:
        summary += f"; {plan.not_ready} not ready"
    if plan.not_probed:
        summary += f"; {plan.not_probed} not probed"
    return Result(spec.name, spec.type, True, one_line(summary), details)
