"""Where webhooks may go: every address form, one resolution per connection, the setting."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx
import pytest

from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.webhooks.destinations import DestinationRefused, Destinations, is_public
from trellis.notifications.webhooks.transport import CheckedAddressTransport

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "RFC 1918"),
    ("172.16.5.4", "RFC 1918"),
    ("192.168.0.1", "RFC 1918"),
    ("169.254.169.254", "link-local: cloud metadata"),
    ("100.64.0.1", "shared address space"),
    ("0.0.0.0", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("224.0.0.1", "multicast"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("fe80::1", "IPv6 link-local"),
    ("fe80::1%eth0", "IPv6 link-local with a zone"),
    ("fd00::1", "unique local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "IPv6 multicast"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("::ffff:0:127.0.0.1", "SIIT loopback"),
    ("::ffff:0:a01:203", "SIIT 10.1.2.3"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::a9fe:a9fe", "IPv4-compatible metadata"),
    ("64:ff9b::7f00:1", "NAT64 of loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of metadata"),
    ("64:ff9b:1:7f00:0:100::", "local-use NAT64 (RFC 8215) of loopback"),
    ("64:ff9b:1:808:8:800::", "local-use NAT64 even of a public address"),
    ("2002:7f00:1::1", "6to4 of loopback"),
    ("2002:a9fe:a9fe::1", "6to4 of metadata"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:db8::1", "documentation"),
]

ACCEPTED = [
    ("93.184.215.14", "public IPv4"),
    ("8.8.8.8", "public IPv4"),
    ("2606:4700:4700::1111", "public IPv6"),
    ("::ffff:8.8.8.8", "IPv4-mapped public"),
    ("64:ff9b::808:808", "NAT64 of a public address"),
    ("2002:808:808::1", "6to4 of a public address"),
]


@pytest.mark.parametrize(("address", "form"), REFUSED)
def test_private_addresses_in_every_form_are_not_public(address: str, form: str) -> None:
    assert not is_public(address), form


@pytest.mark.parametrize(("address", "form"), ACCEPTED)
def test_public_addresses_in_every_form_are_public(address: str, form: str) -> None:
    assert is_public(address), form


@pytest.mark.parametrize(("address", "form"), REFUSED)
async def test_a_url_naming_a_private_address_is_refused_unless_allowed(address: str, form: str) -> None:
    literal = address.split("%")[0]
    url = f"http://[{literal}]/hook" if ":" in literal else f"http://{literal}/hook"
    with pytest.raises(DestinationRefused):
        await Destinations(allow_private=False).check(url)
    await Destinations(allow_private=True).check(url)


class Answers:
    """A resolver answering each lookup with the next of its answers (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


async def test_a_host_is_refused_when_any_of_its_addresses_is_private() -> None:
    mixed = Destinations(allow_private=False, resolver=Answers(["93.184.215.14", "64:ff9b::7f00:1"]))
    with pytest.raises(DestinationRefused) as refused:
        await mixed.check("https://hooks.example.com/x")
    assert refused.value.details["addresses"] == ["64:ff9b::7f00:1"]
    await Destinations(allow_private=False, resolver=Answers(["93.184.215.14"])).check("https://a.example/x")


class RecordingBackend(httpcore.AsyncMockBackend):
    """Answers every connection with one canned HTTP response, and records where it went."""

    def __init__(self) -> None:
        super().__init__([b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n", b"\r\n", b"ok"])
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return await super().connect_tcp(host, port, *args, **kwargs)


async def test_a_connection_goes_to_the_address_checked_for_it_and_a_rebound_name_is_refused() -> None:
    # DNS rebinding: the name answers a public address, then loopback.
    resolver = Answers(["93.184.215.14"], ["127.0.0.1"])
    destinations = Destinations(allow_private=False, resolver=resolver)
    backend = RecordingBackend()
    limits = httpx.Limits(max_connections=4)
    async with httpx.AsyncClient(
        transport=CheckedAddressTransport(destinations, limits=limits, inner=backend)
    ) as client:
        resp = await client.post("http://hooks.example.com/x", content=b"{}")
    assert resp.status_code == 200 and resp.request.headers["host"] == "hooks.example.com"
    assert resolver.lookups == ["hooks.example.com"]  # one lookup, nothing re-resolved it
    assert backend.connected == [("93.184.215.14", 80)]  # to exactly the checked address

    async with httpx.AsyncClient(
        transport=CheckedAddressTransport(destinations, limits=limits, inner=backend)
    ) as client:
        with pytest.raises(DestinationRefused):
            await client.post("http://hooks.example.com/x", content=b"{}")
    assert backend.connected == [("93.184.215.14", 80)]  # never connected to loopback


def test_private_destinations_are_allowed_by_default_only_in_the_embedded_run(tmp_path: Any) -> None:
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    postgres = "postgresql+asyncpg://u@db/n"
    assert NotificationsSettings(database_url=sqlite, embedded=True).allow_private_webhook_urls
    assert not NotificationsSettings(database_url=sqlite).allow_private_webhook_urls
    assert not NotificationsSettings(database_url=postgres, embedded=True).allow_private_webhook_urls
    explicit = NotificationsSettings(database_url=postgres, webhook_allow_private_urls=True)
    assert explicit.allow_private_webhook_urls
