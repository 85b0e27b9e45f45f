"""Which addresses a feed may be fetched from: never link-local or cloud metadata, private
networks only when ``[collector] allow_private_networks`` lists them.

:func:`ip_refusal` is pure; :func:`address_refusal` resolves a host (blocking) for callers
outside the fetcher (``sources add``); the fetcher (:mod:`noisecast.feeds.http`) resolves
asynchronously on every request and redirect hop and checks the address it connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_SETTING = "[collector] allow_private_networks"
# Never fetched, whatever the setting says: link-local networks (where cloud metadata services
# answer) and the metadata addresses of the big clouds outside them (AWS IPv6, Alibaba).
NEVER_NETWORKS = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), else ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _kind(ip: IPAddress) -> str:
    for kind in ("loopback", "unspecified", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind
    return "non-public"


def ip_refusal(address: str | IPAddress, allowed: Iterable[str] = ()) -> str | None:
    """Why a feed may not be fetched from IP ``address``, or None if it may. Pure.

    Link-local (169.254.0.0/16, fe80::/10) and cloud-metadata addresses are always refused;
    other non-public addresses (loopback, private, unspecified, reserved, shared, multicast) are
    refused unless inside one of the ``allowed`` CIDRs (``[collector]
    allow_private_networks``); public addresses are always allowed. An IPv6 address that
    carries an IPv4 one (``::ffff:a.b.c.d``, 6to4, NAT64) is judged as that IPv4 address."""
    try:
        ip = _embedded_ipv4(
            address if not isinstance(address, str) else ipaddress.ip_address(address)
        )
    except ValueError:
        return f"{address!r} is not an IP address"
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address, which is never fetched"
    if any(ip in network for network in NEVER_NETWORKS):
        return f"{ip} is a link-local address, which is never fetched"
    if ip.is_global and not ip.is_multicast:
        return None
    for cidr in allowed:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if network.version == ip.version and ip in network:
            return None
    suggestion = "127.0.0.0/8" if ip.version == 4 and ip.is_loopback else f"{ip}/{ip.max_prefixlen}"
    kind = _kind(ip)
    return (
        f"{ip} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address; to fetch from it, "
        "add its network to "
        f'{ALLOW_SETTING} (for example "{suggestion}")'
    )


def host_refusal(host: str, addresses: Iterable[str], allowed: Iterable[str]) -> str | None:
    allowed = tuple(allowed)
    for address in addresses:
        reason = ip_refusal(address, allowed)
        if reason:
            return f"refused {host}: {reason}" if host != address else f"refused: {reason}"
    return None


def _host_of(target: str) -> str | None:
    """The host of a URL, or ``target`` itself when it is a bare host or IP address."""
    if "://" not in target:
        return target.strip().strip("[]") or None
    try:
        return urlsplit(target).hostname
    except ValueError:
        return None


def address_refusal(target: str, allowed: Iterable[str] = ()) -> str | None:
    """Why a feed at ``target`` (a URL, a host name or an IP address) may not be fetched, or
    None if it may: the host is resolved (blocking DNS) and every address it has is judged by
    :func:`ip_refusal`. A host that does not resolve is not refused here (fetching it fails
    with a network error of its own). The fetcher makes the same check on every request and
    every redirect hop; this is for callers outside it (``sources add``)."""
    host = _host_of(target)
    if not host:
        return None
    try:
        addresses = [ipaddress.ip_address(host).compressed]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        addresses = [str(info[4][0]) for info in infos]
    return host_refusal(host, addresses, allowed)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (itself if it is an IP literal); [] if it does not."""
    try:
        return [ipaddress.ip_address(host).compressed]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # httpx reports the failure to resolve when it tries
    return [str(info[4][0]) for info in infos]


def peer_address(response: httpx.Response) -> str | None:
    """The IP address the response came from, when the transport tells."""
    stream = response.extensions.get("network_stream")
    try:
        peer = stream.get_extra_info("server_addr") if stream is not None else None
    except Exception:  # a transport without the extension's method
        return None
    return str(peer[0]) if isinstance(peer, tuple) and peer else None
