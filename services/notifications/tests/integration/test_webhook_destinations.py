"""Webhook deliveries connect to the addresses checked for them: the host name is kept (Host
header, TLS server name and certificate), a name rebound to loopback is refused and nothing
from it reaches the delivery log."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from trellis.contracts.goals import GoalCreated
from trellis.core.runtime.api_kit import application_in
from trellis.notifications.application.wiring import NotificationsApplication
from trellis.notifications.webhooks.destinations import DestinationRefused, Destinations
from trellis.notifications.webhooks.transport import CheckedAddressTransport
from trellis.testing import Database, eventually

from ..conftest import ADMIN, NotificationsService, Receiver, new_service, stop_service, subscribe


class Answers:
    """A resolver answering each lookup with the next of its answers (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


def created(goal_id: str) -> GoalCreated:
    return GoalCreated(goal_id=goal_id, level="individual", title="A goal", owner_id="emil", period="Q1")


@pytest.fixture
async def strict(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any
) -> AsyncIterator[NotificationsService]:
    """The service as in production: private destinations refused (the default outside `trellis up`)."""
    service = await new_service(
        database, nats_url, subject_root, tmp_path, js, webhook_allow_private_urls=None
    )
    try:
        await service.hire_org()
        yield service
    finally:
        await stop_service(service)


async def test_a_delivery_reaches_the_address_its_host_resolved_to_with_the_host_header_kept(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    resolver = Answers(["127.0.0.1"])  # only this resolver knows the name: the system's does not
    application_in(notifications.runtime, NotificationsApplication).destinations.resolver = resolver
    await subscribe(notifications, f"http://hooks.acme.test:{receiver.port}/hooks", ["goals.*"])
    await notifications.stream("goals").emit("g1", created("g1"))

    async def delivered() -> list[Any] | None:
        return receiver.delivered() or None

    [got] = await eventually(delivered)
    assert got.headers["host"] == f"hooks.acme.test:{receiver.port}"
    assert got.json["data"]["aggregate_id"]
    assert "hooks.acme.test" in resolver.lookups


async def test_a_name_rebound_to_loopback_after_the_check_is_refused_and_shows_nothing_of_it(
    strict: NotificationsService, receiver: Receiver
) -> None:
    assert not strict.settings.allow_private_webhook_urls
    # public when the subscription is checked, loopback (the receiver) ever after
    application_in(strict.runtime, NotificationsApplication).destinations.resolver = Answers(
        ["93.184.215.14"], ["127.0.0.1"]
    )
    sub = await subscribe(strict, f"http://rebind.attacker.test:{receiver.port}/hooks", ["goals.*"])
    await strict.stream("goals").emit("g1", created("g1"))

    async def failed() -> list[dict[str, Any]] | None:
        resp = await strict.client.get(
            f"/v1/webhooks/subscriptions/{sub['id']}/deliveries", params={"status": "failed"}, headers=ADMIN
        )
        return resp.json()["items"] or None

    [delivery] = await eventually(failed)
    assert "public hosts only" in delivery["last_error"] and delivery["last_status_code"] is None
    detail = await strict.client.get(
        f"/v1/webhooks/subscriptions/{sub['id']}/deliveries/{delivery['id']}", headers=ADMIN
    )
    assert detail.json()["log"] and all(not a["response_excerpt"] for a in detail.json()["log"])
    await asyncio.sleep(0.2)
    assert receiver.requests == []  # nothing was ever sent to loopback


class FailingAfterTheCheck(Answers):
    """Answers the subscription's check, then the DNS is down."""

    async def __call__(self, host: str, port: int) -> list[str]:
        if self.lookups:
            self.lookups.append(host)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return await super().__call__(host, port)


async def test_a_host_that_does_not_resolve_at_delivery_is_retried_not_given_up(
    strict: NotificationsService,
) -> None:
    application_in(strict.runtime, NotificationsApplication).destinations.resolver = FailingAfterTheCheck(
        ["93.184.215.14"]
    )
    sub = await subscribe(strict, "https://hooks.acme.example/in", ["goals.*"])
    await strict.stream("goals").emit("g1", created("g1"))

    async def retried() -> dict[str, Any] | None:
        resp = await strict.client.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries", headers=ADMIN)
        items = resp.json()["items"]
        return items[0] if items and items[0]["attempts"] >= 2 else None

    delivery = await eventually(retried)
    assert "cannot resolve" in delivery["last_error"]


async def test_with_an_egress_proxy_deliveries_go_through_it_unresolved(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any, receiver: Receiver
) -> None:
    proxy = receiver  # a plain-HTTP forward proxy gets the request with the absolute URL
    service = await new_service(
        database,
        nats_url,
        subject_root,
        tmp_path,
        js,
        webhook_allow_private_urls=None,
        webhook_egress_proxy=f"http://127.0.0.1:{proxy.port}",
    )
    try:
        await service.hire_org()
        resolver = Answers(["93.184.215.14"])
        application_in(service.runtime, NotificationsApplication).destinations.resolver = resolver
        await subscribe(service, "http://hooks.acme.example/in", ["goals.*"])
        await service.stream("goals").emit("g1", created("g1"))

        async def through_proxy() -> list[Any] | None:
            return proxy.delivered() or None

        [got] = await eventually(through_proxy)
        assert got.headers["host"] == "hooks.acme.example"
        assert resolver.lookups == ["hooks.acme.example"]  # the subscription's check only
    finally:
        await stop_service(service)


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_over_tls_the_server_name_and_the_certificate_are_the_host_names(tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path, "hooks.acme.test")
    server_names: list[str | None] = []
    hosts: list[str] = []
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    server_tls.sni_callback = lambda _sock, name, _ctx: server_names.append(name)  # type: ignore[func-returns-value]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.splitlines()
        hosts.extend(line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("host:"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(cert_file))
    destinations = Destinations(allow_private=True, resolver=Answers(["127.0.0.1"]))
    transport = CheckedAddressTransport(destinations, limits=httpx.Limits(max_connections=2), verify=trusted)
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            resp = await client.post(f"https://hooks.acme.test:{port}/hooks", content=b"{}")
            assert resp.status_code == 200
            # the certificate is checked against the host name, not the address connected to
            other = Destinations(allow_private=True, resolver=Answers(["127.0.0.1"]))
            strange = CheckedAddressTransport(other, limits=httpx.Limits(max_connections=2), verify=trusted)
            async with httpx.AsyncClient(transport=strange) as elsewhere:
                with pytest.raises(httpx.ConnectError):
                    await elsewhere.post(f"https://other.acme.test:{port}/hooks", content=b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert server_names[0] == "hooks.acme.test"
    assert hosts == [f"hooks.acme.test:{port}"]
    with pytest.raises(DestinationRefused):  # and the same transport refuses what is not allowed
        strict = Destinations(allow_private=False, resolver=Answers(["127.0.0.1"]))
        async with httpx.AsyncClient(
            transport=CheckedAddressTransport(strict, limits=httpx.Limits(max_connections=2), verify=trusted)
        ) as client:
            await client.post(f"https://hooks.acme.test:{port}/hooks", content=b"{}")
