"""The fault test: Trellis at scale, on loopback, while things die.

A three-node JetStream cluster with the deployment's accounts (a NATS account and user per
service, each following the others' streams through exports and imports; streams
replicated three times, partitioned in four by aggregate), PostgreSQL (a schema per
service) and two instances of every service as separate processes. Under a steady load
of commands (goals created and completed, feedback given, people hired), one NATS node
is SIGKILLed and brought back, then one instance of every service is SIGKILLed and
brought back. At the end:

- every read view equals a rebuild from the events (the operators' dry-run rebuild);
- every notification exists exactly once (one per event and recipient, none missing);
- every webhook delivery arrived, and no event was delivered under two webhook-ids.

The figures (commands, events, time to recover after each kill) are printed; the
deployment docs (docs/deployment.md) quote them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from trellis.cli import app as trellis_app
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.jetstream import JetStreams, connect
from trellis.core.runtime.embedded import EmbeddedCluster
from trellis.notifications.testing import Receiver
from trellis.ops import projections as ops_projections
from trellis.ops.target import OPS_INBOX, Target
from trellis.testing import postgres_database

from .scale_system import ACCOUNTS, IMPORT_PREFIX, NATS_USERS, ScaledSystem, auth

SERVICES = ("goals", "onboarding", "feedback", "notifications")
PEOPLE = [f"p{i}" for i in range(12)]
PROBE = "probe"  # only the recovery probes give feedback to the probe
LOAD_RATE = 12.0  # commands per second


@pytest.fixture
async def scaled(postgres_url: str | None, tmp_path: Path) -> AsyncIterator[ScaledSystem]:
    passwords = {user: uuid.uuid4().hex for user in NATS_USERS}
    async with contextlib.AsyncExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        for user, password in passwords.items():  # the nodes (and their restarts) read them
            env.setenv(f"{user.upper()}_NATS_PASSWORD", password)
        databases = {s: await stack.enter_async_context(postgres_database(postgres_url)) for s in SERVICES}
        cluster = EmbeddedCluster(tmp_path / "nats", config_file=ACCOUNTS)
        cluster.start()
        stack.callback(cluster.stop)
        system = ScaledSystem(cluster, databases, passwords, tmp_path)
        for service in SERVICES:
            extra = (
                {"WEBHOOK_ALLOW_PRIVATE_URLS": "true", "WEBHOOK_POLL_INTERVAL": "0.2"}
                if service == "notifications"
                else {}
            )
            system.add(service, 2, **extra)
        stack.callback(system.stop)
        system.provision()
        for instance in system.all():
            instance.start()
        await system.wait_ready()
        yield system


class Load:
    """A steady stream of commands, spread over the instances like a load balancer would."""

    def __init__(self, system: ScaledSystem, client: httpx.AsyncClient) -> None:
        self.system, self.client = system, client
        self.sent = 0
        self.goals: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        step = 0
        while not self._stop.is_set():
            started = time.monotonic()
            await self.one(step)
            step += 1
            await asyncio.sleep(max(0.0, 1 / LOAD_RATE - (time.monotonic() - started)))

    async def one(self, step: int) -> None:
        person = PEOPLE[step % len(PEOPLE)]
        other = PEOPLE[(step * 7 + 3) % len(PEOPLE)]
        kind = step % 4
        if kind == 0:
            body = {"level": "individual", "title": f"goal {step}", "period": "Q4", "owner_id": person}
            self.goals.append(
                (await self.system.call(self.client, "goals", "POST", "/v1/goals", body))["goal_id"]
            )
        elif kind == 1 and self.goals:
            goal = self.goals.pop(0)
            await self.system.call(self.client, "goals", "POST", f"/v1/goals/{goal}/complete", {})
        elif kind == 2:
            await self.give(person, other if other != person else PEOPLE[0], f"thanks {step}")
        else:
            hire = {
                "employee_id": f"n{step}",
                "name": f"New {step}",
                "email": f"n{step}@acme.test",
                "start_date": "2026-12-01",
                "manager_id": person,
            }
            await self.system.call(self.client, "onboarding", "POST", "/v1/employees", hire)
        self.sent += 1

    async def give(self, giver: str, recipient: str, body: str) -> None:
        feedback = {"recipient_id": recipient, "body": body, "visibility": "private", "anonymous": False}
        await self.system.call(self.client, "feedback", "POST", "/v1/feedback", feedback, auth(giver))

    def stop(self) -> None:
        self._stop.set()


async def received(system: ScaledSystem, client: httpx.AsyncClient) -> int:
    """How many feedback notifications the probe (whom only probes give feedback to) has."""
    inbox = await system.call(client, "notifications", "GET", "/v1/inbox", headers=auth(PROBE))
    return sum(1 for item in inbox["items"] if item["type"] == "feedback.received")


async def time_to_recover(system: ScaledSystem, client: httpx.AsyncClient, load: Load, marker: str) -> float:
    """From now until a feedback given now is in its recipient's inbox (the whole pipeline:
    command, outbox, stream, the notifications reaction, the inbox view)."""
    before = await received(system, client)
    started = time.monotonic()
    await load.give("p1", PROBE, marker)
    while await received(system, client) <= before:
        assert time.monotonic() - started < 90, f"no recovery after 90 s ({marker})"
        await asyncio.sleep(0.2)
    return round(time.monotonic() - started, 1)


async def settled(system: ScaledSystem, expected: int, receiver: Receiver, timeout: float = 120.0) -> None:
    """Every webhook delivery made and every consumer caught up with its stream."""
    nc = await connect(system.nats_url("ops"), name="fault-test", inbox_prefix=OPS_INBOX)
    try:
        streams = JetStreams(nc, home=None, import_prefix=IMPORT_PREFIX)
        subjects = Subjects(system.subject_root)
        deadline = time.monotonic() + timeout
        while True:
            lagging = []
            for service in SERVICES:
                stream = subjects.stream(service)
                for consumer in await streams.of(service).consumers_info(stream):
                    if consumer.num_pending or consumer.num_ack_pending:
                        lagging.append((consumer.name, consumer.num_pending, consumer.num_ack_pending))
            delivered = {r.webhook_id for r in receiver.delivered()}
            if not lagging and len(delivered) >= expected:
                return
            assert time.monotonic() < deadline, (
                f"not settled: {lagging}, {len(delivered)}/{expected} webhooks"
            )
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def query(system: ScaledSystem, service: str, sql: str) -> list[Any]:
    db = system.databases[service]
    engine = create_async_engine(db.url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'SET search_path TO "{db.schema}"'))
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(420)  # about two minutes: processes start, load, kills, settling, checks
async def test_kills_of_a_nats_node_and_of_an_instance_of_every_service_lose_and_duplicate_nothing(
    scaled: ScaledSystem,
) -> None:
    system = scaled
    receiver = Receiver()
    await receiver.start()
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=10.0) as client:
        for person in ["boss", *PEOPLE, PROBE]:
            hire = {
                "employee_id": person,
                "name": person.title(),
                "email": f"{person}@acme.test",
                "start_date": "2026-01-05",
                "manager_id": None if person == "boss" else "boss",
            }
            await system.call(client, "onboarding", "POST", "/v1/employees", hire)
        await everyone_known(system, 2 + len(PEOPLE))
        subscription = await system.call(
            client,
            "notifications",
            "POST",
            "/v1/webhooks/subscriptions",
            {"url": receiver.url, "event_types": ["goals.*", "feedback.*"]},
        )
        figures["recover_before_s"] = await time_to_recover(system, client, Load(system, client), "warm-up")

        load = Load(system, client)
        running = asyncio.create_task(load.run())
        try:
            await asyncio.sleep(8)
            node = system.cluster.nodes[0]
            node.kill()
            figures["recover_nats_kill_s"] = await time_to_recover(system, client, load, "after-nats-kill")
            await asyncio.sleep(2)
            node.start()
            await asyncio.sleep(6)
            victims = [system.instances[s][0] for s in SERVICES]
            for victim in victims:
                victim.kill()
            figures["recover_instance_kill_s"] = await time_to_recover(
                system, client, load, "after-instance-kill"
            )
            for victim in victims:
                victim.start()
            await system.wait_ready(victims)
            await asyncio.sleep(8)  # the restarted instances take their share back under load
        finally:
            load.stop()
            await running
        figures["commands_sent"] = load.sent
        for service in SERVICES:  # the work is split: both instances hold partitions again
            holders = await query(
                system,
                service,
                "SELECT DISTINCT holder FROM consumer_leases "
                "WHERE name LIKE 'consumer/%' AND expires_at > now()",
            )
            assert len(holders) == 2, (service, holders)

        streamed = await count_webhook_events(system)
        await settled(system, streamed, receiver)

        # every notification exactly once: none twice, none missing for a feedback given
        twice = await query(
            system,
            "notifications",
            "SELECT cause_event_id, recipient_id, count(*) FROM inbox_notifications "
            "GROUP BY cause_event_id, recipient_id HAVING count(*) > 1",
        )
        assert twice == []
        given = await query(
            system, "feedback", "SELECT event_id FROM events WHERE event_type = 'FeedbackGiven'"
        )
        told_of = {
            row.cause_event_id
            for row in await query(
                system,
                "notifications",
                "SELECT cause_event_id FROM inbox_notifications WHERE cause_event_type = 'FeedbackGiven'",
            )
        }
        assert {str(row.event_id) for row in given} == told_of
        figures["notifications"] = (
            await query(system, "notifications", "SELECT count(*) FROM inbox_notifications")
        )[0][0]

        # webhooks: every event delivered, under one webhook-id each, none lost
        rows = await query(
            system,
            "notifications",
            "SELECT event_id, webhook_id, status FROM webhook_deliveries "
            f"WHERE subscription_id = '{subscription['id']}'",
        )
        assert len({r.event_id for r in rows}) == len(rows) == streamed  # one delivery per event
        assert {r.status for r in rows} == {"delivered"}
        received = {r.webhook_id for r in receiver.delivered()}
        assert received == {r.webhook_id for r in rows}
        figures["webhooks_delivered"] = len(received)
        figures["webhook_requests"] = len(receiver.delivered())  # a retry after a kill resends the same id

        # the operators' status, through the command line, sees the partitioned consumers caught up
        status = await trellis_status(system)
        assert status["nats"]["error"] is None, status["nats"]
        for entry in status["services"]:
            assert "error" not in entry and entry["outbox"]["unpublished"] == 0, entry
            for projection in entry["projections"]:  # all of them: every service runs consumers
                assert projection["partitions"] == 4 and projection["lag"] == 0, projection

        # every read view equals a rebuild from the events
        differences = await rebuilt_views_differ(system)
        assert differences == {}, differences
        events = 0
        for service in SERVICES:
            events += (await query(system, service, "SELECT count(*) FROM events"))[0][0]
        figures["events"] = events
    await receiver.stop()
    print("\nFAULT TEST FIGURES", json.dumps(figures))


async def everyone_known(system: ScaledSystem, people: int, timeout: float = 60.0) -> None:
    """Wait until every service's org chart replica has the people hired (feedback refuses
    feedback to someone it does not know yet)."""
    deadline = time.monotonic() + timeout
    for service in ("goals", "feedback", "notifications"):
        while (await query(system, service, "SELECT count(*) FROM org_employees"))[0][0] < people:
            assert time.monotonic() < deadline, f"{service} does not know everyone after {timeout} s"
            await asyncio.sleep(0.2)


async def trellis_status(system: ScaledSystem) -> Any:
    """``trellis status --json`` as an operator would run it against this deployment."""
    args = ["status", "--json", "--nats-url", system.nats_url("ops"), "--nats-import-prefix", IMPORT_PREFIX]
    for service in SERVICES:
        db = system.databases[service]
        args += ["--database-url", f"{service}={db.url}", "--database-schema", f"{service}={db.schema}"]
    result = await asyncio.to_thread(CliRunner().invoke, trellis_app, args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


async def count_webhook_events(system: ScaledSystem, timeout: float = 60.0) -> int:
    """How many events of goals and feedback are on their streams (what the subscription
    matches), once their outboxes are drained: a killed instance's last commits are
    published by the instance that takes its place, after the load has stopped."""
    deadline = time.monotonic() + timeout
    for service in ("goals", "feedback"):
        while True:
            pending = (
                await query(
                    system,
                    service,
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL",
                )
            )[0][0]
            if not pending:
                break
            assert time.monotonic() < deadline, f"{service}: {pending} events never published"
            await asyncio.sleep(0.5)
    nc = await connect(system.nats_url("ops"), name="fault-test-count", inbox_prefix=OPS_INBOX)
    try:
        streams = JetStreams(nc, home=None, import_prefix=IMPORT_PREFIX)
        subjects = Subjects(system.subject_root)
        total = 0
        for service in ("goals", "feedback"):
            info = await streams.of(service).stream_info(subjects.stream(service))
            total += info.state.messages
        return total
    finally:
        await nc.close()


async def rebuilt_views_differ(system: ScaledSystem) -> dict[str, Any]:
    """The operators' dry-run rebuild of every rebuildable view, against the live one."""
    found: dict[str, Any] = {}
    target = Target(
        nats_url=system.nats_url("ops"),
        nats_import_prefix=IMPORT_PREFIX,
        subject_root=system.subject_root,
        database_urls={s: system.databases[s].url for s in SERVICES},
        database_schemas={s: system.databases[s].schema or "" for s in SERVICES},
        data_dir=system.folder,
    )
    async with target.runtimes() as runtimes:
        names = [(rt.definition.name, p.name) for rt in runtimes for p in rt.consumers if p.rebuildable]
    for service, name in names:
        one = Target(**{**target.__dict__, "services": [service]})
        result = await ops_projections.rebuild(one, name, operator="fault-test", dry_run=True)
        changed = [d for d in result["differences"] or [] if not _same(d)]
        if changed:
            found[f"{service}/{name}"] = changed
    return found


def _same(diff: dict[str, Any]) -> bool:
    return diff["only_live"] == 0 and diff["only_rebuilt"] == 0 and diff["changed"] == 0
