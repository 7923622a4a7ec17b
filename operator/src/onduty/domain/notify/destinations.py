"""Where onduty may send a message: the vendor's public endpoint, never the cluster's insides.

A Notifier's URL comes from a namespace's Secret, so a namespace editor picks
where onduty's Pod connects. Without a check that is a confused deputy: a
"webhook" to ``http://169.254.169.254/`` (cloud metadata), to the API
server's ClusterIP or to another tenant's Service. So a destination must be
``https`` and every address its host resolves to must be public, unless the
platform owner allowed a network with the operator's
``--notifier-allowed-networks`` (a self-hosted Jira or Cachet in the
cluster, or the loopback receivers of onduty's tests). The connection then
goes only to the addresses that were checked (no second DNS answer).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForbiddenDestination(ValueError):
    """onduty will not connect there; the message says why (and never the URL's path or credentials)."""


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as e:
            raise ValueError(f"--notifier-allowed-networks: {value!r} is not a network such as 10.0.0.0/8") from e
    return tuple(networks)


def host_of(url: str, allowed: Sequence[Network]) -> tuple[str, int]:
    """The host and port of ``url``; plain http only where the platform allowed a network."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ForbiddenDestination(f"not an http(s) URL (scheme {parts.scheme!r})")
    if parts.scheme == "http" and not allowed:
        raise ForbiddenDestination(f"plain http to {parts.hostname} (credentials would cross the network in clear)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise ForbiddenDestination(f"bad port in the URL for {parts.hostname}") from e
    # A literal address is never resolved, so it is checked here, not at resolution.
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        return parts.hostname, port
    why = address_forbidden(parts.hostname, allowed)
    if why:
        raise ForbiddenDestination(why)
    return parts.hostname, port


def address_forbidden(address: str, allowed: Sequence[Network]) -> str | None:
    """Why onduty must not connect to ``address`` (an IP), or None if it may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if any(ip in network for network in allowed):
        return None
    for what, hit in (
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata)", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return f"{address} is {what}"
    return None
