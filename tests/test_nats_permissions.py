"""deploy/nats/accounts.conf on a real nats-server: every service in a NATS account of its own,
following the streams of other accounts through what they export, and nothing else; the
operators' tool in an account of its own, reaching every stream.

The services run in-process on their own users (SQLite under the test's folder, subject
root ``trellis`` as the file assumes); the tool runs as the ``ops`` user.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from typer.testing import CliRunner

from trellis.cli import app as trellis_app
from trellis.contracts import SERVICES
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.jetstream import JetStreams, connect
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import EmbeddedNats
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.notifications.webhooks.replay import events_in_range
from trellis.ops.nats_accounts import render
from trellis.ops.target import OPS_INBOX, installed_services
from trellis.orgchart import OrgDirectory
from trellis.testing import eventually

ACCOUNTS = Path(__file__).parent.parent / "deploy" / "nats" / "accounts.conf"
USERS = (*SERVICES, "ops", "sys")
IMPORT_PREFIX = "JS.{service}.API"
HR = {
    "Authorization": "Bearer "
    + mint_token(secret=DEV_JWT_SECRET, tenant="acme", employee="hana", roles=["hr", "admin", "employee"])
}


@pytest.fixture
def secured_nats(tmp_path: Path) -> Iterator[tuple[EmbeddedNats, dict[str, str]]]:
    passwords = {user: uuid.uuid4().hex for user in USERS}
    with pytest.MonkeyPatch.context() as mp:
        for user, password in passwords.items():
            mp.setenv(f"{user.upper()}_NATS_PASSWORD", password)
        server = EmbeddedNats(tmp_path / "secured-nats", config_file=ACCOUNTS)
        server.start()
        try:
            yield server, passwords
        finally:
            server.stop()


def url_for(server: EmbeddedNats, passwords: dict[str, str], user: str) -> str:
    return f"nats://{user}:{passwords[user]}@127.0.0.1:{server.port}"


@dataclass
class Accounts:
    server: EmbeddedNats
    passwords: dict[str, str]
    data_dir: Path
    runtimes: dict[str, Runtime]
    clients: dict[str, httpx.AsyncClient]

    def url(self, user: str) -> str:
        return url_for(self.server, self.passwords, user)

    async def trellis(self, *argv: str) -> str:
        """The operators' tool as the ``ops`` user; its output."""
        flags = ["--nats-url", self.url("ops"), "--nats-import-prefix", IMPORT_PREFIX]
        flags += ["--data-dir", str(self.data_dir)]
        if argv[0] == "projections":
            flags += ["--operator", "olivia"]
        result = await asyncio.to_thread(CliRunner().invoke, trellis_app, [*argv, *flags])
        assert result.exit_code == 0, (argv, result.stdout, result.stderr, result.exception)
        return result.stdout


async def provision(server: EmbeddedNats, passwords: dict[str, str], data_dir: Path) -> None:
    """The operators' bootstrap step: every service's stream, made as the ``ops`` user."""
    flags = ["--nats-url", url_for(server, passwords, "ops"), "--nats-import-prefix", IMPORT_PREFIX]
    flags += ["--data-dir", str(data_dir), "--operator", "olivia"]
    result = await asyncio.to_thread(CliRunner().invoke, trellis_app, ["nats", "provision", *flags])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)


@pytest.fixture
async def accounts(
    secured_nats: tuple[EmbeddedNats, dict[str, str]], tmp_path: Path
) -> AsyncIterator[Accounts]:
    server, passwords = secured_nats
    data_dir = tmp_path / "data"
    await provision(server, passwords, data_dir)
    async with contextlib.AsyncExitStack() as stack:
        runtimes: dict[str, Runtime] = {}
        clients: dict[str, httpx.AsyncClient] = {}
        for name, definition in installed_services().items():
            settings = definition.settings(
                data_dir=data_dir,
                nats_url=url_for(server, passwords, name),
                nats_import_prefix=IMPORT_PREFIX,
                consumer_batch_size=100,
            )
            app = create_app(definition, settings)
            runtime: Runtime = app.state.runtime
            await runtime.start()
            stack.push_async_callback(runtime.stop)
            await runtime.wait_ready()
            runtimes[name] = runtime
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        yield Accounts(server, passwords, data_dir, runtimes, clients)


async def test_each_service_in_its_own_account_follows_the_streams_it_consumes(accounts: Accounts) -> None:
    for employee, manager in (("boss", None), ("emil", "boss")):
        hire = {"employee_id": employee, "name": employee.title(), "email": f"{employee}@acme.test"}
        resp = await accounts.clients["onboarding"].post(
            "/v1/employees", json={**hire, "start_date": "2026-01-05", "manager_id": manager}, headers=HR
        )
        assert resp.status_code == 201, resp.text

    async def everyone_knows() -> bool:  # goals, feedback, notifications: onboarding's stream
        for name in ("goals", "feedback", "notifications"):
            async with accounts.runtimes[name].sessions() as session:
                if not await OrgDirectory().manages(session, "acme", "boss", "emil"):
                    return False
        return True

    await eventually(everyone_knows, timeout=20)
    resp = await accounts.clients["goals"].post(
        "/v1/goals", json={"level": "company", "title": "Grow", "period": "2026"}, headers=HR
    )
    assert resp.status_code == 201, resp.text

    # The operators' tool, in its own account, sees every stream and every consumer on it.
    async def caught_up() -> dict[str, Any]:
        found = json.loads(await accounts.trellis("status", "--json"))
        services = {s["name"]: s for s in found["services"]}
        affected = next(
            p for p in services["notifications"]["projections"] if p["name"] == "notifications-goals-affected"
        )
        return services if affected["head"] and affected["lag"] == 0 else {}

    services = await eventually(caught_up, timeout=20)
    assert {name: bool(s["stream"]) for name, s in services.items()} == dict.fromkeys(SERVICES, True)
    goals_stream = services["goals"]["stream"]
    assert goals_stream["name"] == "TRELLIS_GOALS" and goals_stream["messages"] >= 1

    # tail: ordered push consumers in the services' accounts, delivered to the tool's inbox
    tailed = await accounts.trellis(
        "events", "tail", "--all", "--limit", "3", "--idle-timeout", "10", "--json"
    )
    assert {json.loads(line)["event"]["event_type"] for line in tailed.splitlines()} >= {"EmployeeHired"}

    # a rebuild of a view kept from another service's stream reads it across the accounts
    rebuilt = json.loads(
        await accounts.trellis("projections", "rebuild", "notifications-org-chart", "--json")
    )
    assert rebuilt["swapped"] and rebuilt["applied"] >= 2 and rebuilt["watermark"] >= 2, rebuilt

    # and the audit event is in the tool's own account
    ops = await connect(accounts.url("ops"), name="ops-audit-check", inbox_prefix=OPS_INBOX)
    try:
        info = await JetStreams(ops, home=None).own().stream_info("TRELLIS_OPS")
        assert info.state.messages >= 1
    finally:
        await ops.close()


async def test_a_service_cannot_publish_on_or_reach_into_another_services_stream(
    secured_nats: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, passwords = secured_nats
    errors: list[str] = []
    await provision(server, passwords, server.store_dir.parent / "data")
    onboarding = await connect(url_for(server, passwords, "onboarding"), name="onboarding")
    notifications = await connect(url_for(server, passwords, "notifications"), name="notifications")

    async def record(exc: Exception) -> None:
        errors.append(str(exc))

    goals = await nats.connect(url_for(server, passwords, "goals"), error_cb=record)
    own = goals.jetstream(timeout=1)  # a refused request gets no answer: do not wait 5 s for it
    streams = JetStreams(goals, home="goals", import_prefix=IMPORT_PREFIX, timeout=1)
    try:
        with pytest.raises(Exception):  # noqa: B017 - refused: no ack ever comes
            await own.publish("trellis.onboarding.employee.EmployeeHired.acme.e-1", b"{}", timeout=1)
        await eventually(lambda: _true(any("permissions violation" in e.lower() for e in errors)))
        info = await onboarding.jetstream().stream_info("TRELLIS_ONBOARDING")
        assert info.state.messages == 0
        for forbidden in (
            lambda: own.add_stream(name="TRELLIS_EVIL", subjects=["trellis.evil.>"]),
            lambda: own.delete_stream("TRELLIS_GOALS"),
            lambda: streams.of("onboarding").delete_stream("TRELLIS_ONBOARDING"),  # not exported
            lambda: streams.of("notifications").stream_info("TRELLIS_NOTIFICATIONS"),  # not followed
            lambda: _consumer(streams.of("notifications"), "TRELLIS_NOTIFICATIONS"),
            lambda: own.stream_info("TRELLIS_ONBOARDING"),  # not in goals' account at all
        ):
            with pytest.raises(Exception):  # noqa: B017
                await forbidden()
        # what goals follows, it reaches through onboarding's exports, with its own durables
        await streams.of("onboarding").add_consumer("TRELLIS_ONBOARDING", _durable("goals-org-chart"))
        assert (await streams.of("onboarding").stream_info("TRELLIS_ONBOARDING")).state.messages == 0
    finally:
        await goals.close()
        await onboarding.close()
        await notifications.close()


def _durable(name: str, filter_subject: str | None = None) -> ConsumerConfig:
    return ConsumerConfig(durable_name=name, ack_policy=AckPolicy.EXPLICIT, filter_subject=filter_subject)


async def _consumer(js: Any, stream: str) -> Any:
    config = ConsumerConfig(durable_name=f"goals-test-{uuid.uuid4().hex[:8]}", ack_policy=AckPolicy.EXPLICIT)
    return await js.add_consumer(stream, config)


async def _true(value: bool) -> bool:
    return value


async def test_each_service_uses_only_its_own_durables_and_no_service_changes_a_stream(
    secured_nats: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, passwords = secured_nats
    await provision(server, passwords, server.store_dir.parent / "data")
    errors: list[str] = []

    async def record(exc: Exception) -> None:
        errors.append(str(exc))

    conns = {
        name: await nats.connect(url_for(server, passwords, name), error_cb=record)
        for name in ("goals", "onboarding", "feedback", "notifications")
    }
    apis = {
        name: JetStreams(nc, home=name, import_prefix=IMPORT_PREFIX, timeout=1) for name, nc in conns.items()
    }
    stream, theirs = "TRELLIS_ONBOARDING", "feedback-org-chart"
    try:
        # feedback's own durable on onboarding's stream, with one message waiting for it
        await apis["feedback"].of("onboarding").add_consumer(stream, _durable(theirs, "trellis.onboarding.>"))
        await apis["onboarding"].own().publish("trellis.onboarding.employee.EmployeeHired.acme.e-1", b"{}")

        # another follower (goals), the stream's owner (onboarding) and the replay reader
        # (notifications) can neither fetch from it, read it, nor create or rewrite it
        for name in ("goals", "onboarding", "notifications"):
            for forbidden in _reaching_into(apis[name].of("onboarding"), stream, theirs):
                with pytest.raises(Exception):  # noqa: B017 - refused: no answer ever comes
                    await forbidden()
        mine = apis["feedback"].of("onboarding")
        info = await mine.consumer_info(stream, theirs)
        assert (info.num_pending, info.config.filter_subject) == (1, "trellis.onboarding.>")

        # nor acknowledge its messages
        [msg] = await _fetch(mine, stream, theirs)
        await conns["goals"].publish(msg.reply, b"+ACK")
        await eventually(lambda: _true(any("permissions violation" in e.lower() for e in errors)))
        assert (await mine.consumer_info(stream, theirs)).num_ack_pending == 1
        await msg.ack()  # its own follower can

        # no service creates, updates (max_msgs=1: a purge in all but name), purges or deletes
        # a stream, its own included
        own = apis["onboarding"].own()
        config = (await own.stream_info(stream)).config
        config.max_msgs = 1
        for forbidden in (
            lambda: own.update_stream(config),
            lambda: own.purge_stream(stream),
            lambda: own.delete_stream(stream),
            lambda: own.add_stream(name="TRELLIS_ONBOARDING_COPY", subjects=["trellis.onboarding.copy.>"]),
        ):
            with pytest.raises(Exception):  # noqa: B017
                await forbidden()
        assert (await own.stream_info(stream)).config.max_msgs == -1
        assert (await own.stream_info(stream)).state.messages == 1

        # what is legitimate still works: the replay reads onboarding's stream from notifications
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        replayed = [
            e
            async for e in events_in_range(
                apis["notifications"].of("onboarding"),
                Subjects("trellis"),
                "onboarding",
                "acme",
                since,
                dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            )
        ]
        assert replayed == []  # the message is not an envelope: skipped, yet read without refusal
        ops = await connect(url_for(server, passwords, "ops"), name="ops-check", inbox_prefix=OPS_INBOX)
        try:
            as_ops = JetStreams(ops, home=None, import_prefix=IMPORT_PREFIX).of("onboarding")
            left = await as_ops.consumers_info(stream)
        finally:
            await ops.close()
        assert [c.name for c in left] == [theirs]  # the replay's own consumer was deleted after it
    finally:
        for nc in conns.values():
            await nc.close()


def test_the_accounts_file_is_the_generators_output() -> None:
    assert ACCOUNTS.read_text() == render(), (
        "regenerate it: uv run python -m trellis.ops.nats_accounts > deploy/nats/accounts.conf"
    )


def _reaching_into(js: Any, stream: str, durable: str) -> list[Any]:
    """Everything a service could do to another's durable: fetch, read, create, rewrite, delete."""
    return [
        lambda: _fetch(js, stream, durable),
        lambda: js.consumer_info(stream, durable),
        lambda: js.add_consumer(stream, _durable(durable, "trellis.onboarding.nothing.>")),
        lambda: js.add_consumer(
            stream, ConsumerConfig(name=durable, filter_subject="trellis.onboarding.nothing.>")
        ),
        lambda: js.delete_consumer(stream, durable),
    ]


async def _fetch(js: Any, stream: str, durable: str) -> list[Any]:
    sub = await js.pull_subscribe_bind(durable, stream)
    try:
        return list(await sub.fetch(1, timeout=1))
    finally:
        await sub.unsubscribe()


async def test_a_service_waits_for_the_operators_to_provision_its_stream(
    secured_nats: tuple[EmbeddedNats, dict[str, str]], tmp_path: Path
) -> None:
    server, passwords = secured_nats
    definition = installed_services()["goals"]
    settings = definition.settings(
        data_dir=tmp_path / "data",
        nats_url=url_for(server, passwords, "goals"),
        nats_import_prefix=IMPORT_PREFIX,
    )
    runtime = Runtime(definition, settings)
    await runtime.start()
    try:
        with pytest.raises(TimeoutError):
            await runtime.wait_ready(timeout=2.5)  # it made no stream, and may not
        await provision(server, passwords, tmp_path / "data")
        await runtime.wait_ready(timeout=15)
        info = await runtime.jetstream().stream_info("TRELLIS_GOALS")
        assert info.config.subjects == ["trellis.goals.>"]
    finally:
        await runtime.stop()
