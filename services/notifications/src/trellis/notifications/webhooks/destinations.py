"""Where a webhook may be sent: http(s) only, and public addresses only unless allowed.

The host is resolved and every address it resolves to must be globally routable: no
loopback, private (RFC 1918, unique local), link-local (cloud metadata at
169.254.169.254), shared, reserved, multicast or unspecified addresses, also when
written as IPv4-mapped IPv6. Checked when a subscription is created or changed, and
again before each attempt (DNS may have changed since).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from trellis.core.errors import InvalidInput
from trellis.notifications.domain.subscription import check_url_shape


class DestinationRefused(InvalidInput):
    """The URL's host is (or resolves to) an address webhooks may not reach."""

    code = "webhook_destination_refused"


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Raise ``InvalidInput`` (or ``DestinationRefused``) unless ``url`` may receive webhooks."""
    check_url_shape(url)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            raise DestinationRefused(f"cannot resolve {host!r}", details={"url": url}) from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    refused = [a for a in addresses if not _public(a)]
    if refused or not addresses:
        raise DestinationRefused(
            f"{host!r} is a private, loopback or link-local address: webhooks go to public hosts only",
            details={"url": url, "addresses": refused},
        )
