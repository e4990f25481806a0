"""Where a webhook may be sent: http(s) only, and public addresses only unless allowed.

A host is resolved once per connection, every address it resolves to must be globally
routable, and the connection goes to one of exactly those addresses (``transport.py``):
a name that answers a public address to the check and a loopback one to the connection
(DNS rebinding) cannot slip between two lookups, because there is only one.

Refused: loopback, private (RFC 1918, unique local), link-local (cloud metadata at
169.254.169.254), shared, reserved, multicast, unspecified and site-local (``fec0::/10``)
addresses, the local-use NAT64 prefix (``64:ff9b:1::/48``), and any IPv6 address whose
embedded IPv4 address is one of those: IPv4-mapped (``::ffff:a.b.c.d``), SIIT
(``::ffff:0:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``),
6to4 (``2002:aabb:ccdd::``) and Teredo (server and client).

Private destinations are allowed only where ``Destinations.allow_private`` says so: the
embedded development run, or an explicit setting (see the service's settings).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from trellis.core.errors import InvalidInput
from trellis.notifications.domain.subscription import check_url_shape

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port)`` → the addresses the host resolves to (as strings), in preference order."""

_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use, never global
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated, yet still routed inside some sites


class DestinationRefused(InvalidInput):
    """The URL's host is (or resolves to) an address webhooks may not reach."""

    code = "webhook_destination_refused"


class DestinationUnresolved(DestinationRefused):
    """The host does not resolve (now): refused for a subscription, retried for a delivery."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system's resolver, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, in every form that routes to them."""
    found: list[ipaddress.IPv4Address] = []
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _SIIT or ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        found.append(last32)
    if ip in _LOCAL_NAT64:  # RFC 6052 with a /48 prefix: octets 6-7 and 9-10
        packed = ip.packed
        found.append(ipaddress.IPv4Address(packed[6:8] + packed[9:11]))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _routable(ip: IPAddress) -> bool:
    if ip.is_multicast or not ip.is_global:
        return False
    return not (isinstance(ip, ipaddress.IPv6Address) and (ip in _SITE_LOCAL or ip in _LOCAL_NAT64))


def is_public(address: str) -> bool:
    """Whether webhooks may reach ``address`` when private destinations are not allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone (fe80::1%eth0) changes nothing
    if not _routable(ip):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return all(_routable(v4) for v4 in embedded_ipv4(ip))
    return True


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class Destinations:
    """The one decision of where webhooks may go: the subscription check and every
    delivery's connection both ask ``addresses``."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    async def addresses(self, host: str, port: int, *, url: str | None = None) -> list[str]:
        """Resolve ``host`` once and return the addresses to connect to, each checked.

        Raises ``DestinationRefused`` when it cannot be resolved, or when any address it
        resolves to is not public (unless private destinations are allowed).
        """
        details = {"url": url or host}
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = await self.resolver(host, port)
            except (OSError, UnicodeError, ValueError) as exc:
                raise DestinationUnresolved(f"cannot resolve {host!r}", details=details) from exc
        if not addresses:
            raise DestinationUnresolved(f"{host!r} resolves to no address", details=details)
        if not self.allow_private:
            refused = [a for a in addresses if not is_public(a)]
            if refused:
                raise DestinationRefused(
                    f"{host!r} is or resolves to a private, loopback or link-local address: "
                    "webhooks go to public hosts only",
                    details={**details, "addresses": refused},
                )
        return addresses

    async def check(self, url: str, *, resolve: bool = True) -> None:
        """Raise ``InvalidInput`` (or ``DestinationRefused``) unless ``url`` may receive webhooks.

        ``resolve=False`` checks the URL's shape and a literal address only: deliveries
        through an egress proxy, which resolves (and must refuse internal addresses) itself.
        """
        check_url_shape(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.allow_private or (not resolve and _literal(host) is None):
            return
        await self.addresses(host, parts.port or (443 if parts.scheme == "https" else 80), url=url)


async def check_destination(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """``Destinations(...).check(url)`` for a one-off check."""
    await Destinations(allow_private=allow_private, resolver=resolver).check(url)
