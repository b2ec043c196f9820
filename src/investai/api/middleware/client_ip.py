"""The client's IP address as the edge sees it, modelled on how AWS WAF and API Gateway derive the source
IP: the socket peer, unless that peer is one of our own trusted proxies (a load balancer, CloudFront), in
which case ``X-Forwarded-For`` is walked from the right — the entries our proxies appended — and the first
address that is not a trusted proxy is the client. Entries left of it are whatever the client sent and are
never believed, so a spoofed header from an untrusted peer changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_FOR = b"x-forwarded-for"


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """Networks from settings strings: a bare IP (``203.0.113.7``, ``2001:db8::1``) or a CIDR
    (``10.0.0.0/8``). Host bits are allowed (``10.1.2.3/8`` means ``10.0.0.0/8``). A malformed entry raises
    ``ValueError``: a block list or proxy list that silently lost an entry is worse than a failed start."""
    networks: list[IPNetwork] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        networks.append(ipaddress.ip_network(text, strict=False))
    return networks


@lru_cache(maxsize=4096)
def parse_ip(value: str) -> IPAddress | None:
    """An address from a header or socket entry, or ``None`` when it is not one. Accepts ``[v6]:port``,
    ``v4:port`` and IPv4-mapped IPv6 (returned as the IPv4 address, so block lists match either form).
    Remembered for the most recent addresses: every request parses its peer, and clients repeat."""
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has at least two colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted_proxies)


def forwarded_for(scope: Scope) -> list[str]:
    """Every ``X-Forwarded-For`` entry, left to right, across repeated headers."""
    entries: list[str] = []
    for name, value in scope.get("headers", []):
        if name.lower() == FORWARDED_FOR:
            entries.extend(part.strip() for part in value.decode("latin-1").split(","))
    return entries


def client_ip(scope: Scope, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The client address of an ASGI request (see the module docstring). A peer that is not an IP at all
    (a Unix socket, a test client) is returned as given and is never a trusted proxy. Computed once per
    request and kept in the request state, where the audit log's call context reads it too."""
    state = scope.setdefault("state", {})
    known = state.get("client_ip")
    if isinstance(known, str):
        return known
    state["client_ip"] = found = _client_ip(scope, trusted_proxies)
    return found


def _client_ip(scope: Scope, trusted_proxies: Sequence[IPNetwork]) -> str:
    client = scope.get("client")
    peer_text = str(client[0]) if client else ""
    peer = parse_ip(peer_text)
    if peer is None:
        return peer_text
    if not trusted_proxies or not is_trusted(peer, trusted_proxies):
        return str(peer)
    leftmost: IPAddress | None = None
    for entry in reversed(forwarded_for(scope)):
        address = parse_ip(entry)
        if address is None:
            continue  # malformed entries are ignored
        if not is_trusted(address, trusted_proxies):
            return str(address)
        leftmost = address
    # every hop was one of ours: the request originated inside the trusted network
    return str(leftmost if leftmost is not None else peer)
