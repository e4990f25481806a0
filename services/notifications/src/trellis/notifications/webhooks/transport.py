"""The HTTP transport of webhook deliveries: it connects only to addresses just checked.

httpx resolves a URL's host itself when it opens a connection, so checking the host
beforehand leaves a window: the name can answer differently the second time (DNS
rebinding). Here the connection pool's network backend does the one resolution: it asks
``Destinations.addresses`` (resolve, check every address) and opens the TCP connection to
one of those addresses. The pool still knows the connection by the URL's host name, so
the ``Host`` header, the TLS server name (SNI), certificate verification and connection
reuse all stay those of the host name.

With an egress proxy configured, deliveries go through it instead: the proxy resolves
and connects, and must refuse internal destinations itself.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from trellis.notifications.webhooks.destinations import Destinations


class CheckedAddressBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the checked addresses of a host, never resolving it again."""

    def __init__(self, destinations: Destinations, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.destinations = destinations
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.destinations.addresses(host, port):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address of the same checked answer, as a resolver would
        assert failure is not None  # addresses() never answers an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class CheckedAddressTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with a connection pool on ``CheckedAddressBackend``.

    httpx 0.28 takes no network backend argument (encode/httpx#3749 proposes one), so the
    pool it builds is replaced by one built the same way with the backend; everything
    else (request and response mapping, exceptions, streaming) is httpx's.
    """

    def __init__(
        self,
        destinations: Destinations,
        *,
        limits: httpx.Limits,
        verify: ssl.SSLContext | bool = True,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(limits=limits, verify=verify)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedAddressBackend(destinations, inner),
        )


def delivery_transport(
    destinations: Destinations,
    *,
    limits: httpx.Limits,
    egress_proxy: str | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncBaseTransport:
    """The transport deliveries go out through: the checked addresses, or the egress proxy."""
    if egress_proxy:
        return httpx.AsyncHTTPTransport(limits=limits, proxy=egress_proxy, verify=verify)
    return CheckedAddressTransport(destinations, limits=limits, verify=verify)
