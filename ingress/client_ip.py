"""The address a per-IP limit should count: the peer, or the client a trusted proxy names."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _is_trusted(address: str, trusted: Sequence[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[IpNetwork]) -> str:
    """Walk ``X-Forwarded-For`` from the right while the hop is a trusted proxy.

    Without trusted proxies the header is ignored: anyone can write it.
    """
    address = peer or "unknown"
    if not trusted or not forwarded_for or not _is_trusted(address, trusted):
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address
