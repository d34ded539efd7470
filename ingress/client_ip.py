"""The address a per-IP limit should count: the peer, or the client a trusted proxy names."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(address: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _is_trusted(address: IpAddress | None, trusted: Sequence[IpNetwork]) -> bool:
    return address is not None and any(address in network for network in trusted)


def as_address(text: str) -> str | None:
    """``text`` as a normalised IP address, or None when it is not one (``"unknown"``)."""
    parsed = _parse(text)
    return None if parsed is None else str(parsed)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[IpNetwork]) -> str:
    """Walk ``X-Forwarded-For`` from the right while the hop is a trusted proxy.

    Without trusted proxies the header is ignored: anyone can write it. A hop that is not an
    IP address ends the walk at the last real address, so whoever wrote it cannot pick the
    name its requests are counted under.
    """
    address = peer or "unknown"
    if not trusted or not forwarded_for or not _is_trusted(_parse(address), trusted):
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            break
        address = str(parsed)
        if not _is_trusted(parsed, trusted):
            break
    return address
