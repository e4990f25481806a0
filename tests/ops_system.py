"""A running system for the operators' tool's tests, and the tool invoked as an operator would.

The goals and notifications services run in-process as ``Runtime``s on one nats-server,
each on its own database (two SQLite files under the test's data folder, as in the
embedded run, or two PostgreSQL schemas), with a subject root of the test's own. Events
are made through the services' HTTP APIs. ``OpsSystem.trellis(...)`` runs the real
``trellis`` app (the console script's) with ``CliRunner`` in a thread, since each command
runs its own event loop; it points the tool at this system with the flags an operator
would pass (``--nats-url``, ``--subject-root``, ``--data-dir``, ``--database-url``,
``--database-schema``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from click.testing import Result
from nats.js.errors import NotFoundError
from sqlalchemy import func, select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from trellis.cli import app as trellis_app
from trellis.contracts import SERVICES
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.consumer import RetryPolicy
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, ServiceDefinition, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings
from trellis.goals.views.tables import goal_nodes
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.notifications.settings import NotificationsSettings
from trellis.testing import Database, eventually, postgres_database

OPERATOR = "olivia-ops"
FAST_RETRY = RetryPolicy(max_attempts=2, delays=(0.05,))


def auth(employee: str, *roles: str, tenant: str = "acme") -> dict[str, str]:
    token = mint_token(secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth("ceo", "admin", "employee")
GLOBEX_ADMIN = auth("gus", "admin", "employee", tenant="globex")


@dataclass
class OpsSystem:
    """The running services, and the tool pointed at them."""

    database: Database
    nats_url: str
    subjects: Subjects
    data_dir: Path
    js: Any
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    schemas: dict[str, str | None] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)

    # --- the tool ---------------------------------------------------------------------

    def flags(self) -> list[str]:
        flags = ["--nats-url", self.nats_url, "--subject-root", self.subjects.root]
        flags += ["--data-dir", str(self.data_dir)]
        if self.database.backend == "postgres":
            for name in ("goals", "notifications"):
                flags += ["--database-url", f"{name}={self.urls[name]}"]
                flags += ["--database-schema", f"{name}={self.schemas[name]}"]
        return flags

    async def trellis(self, *argv: str, exit_code: int | None = 0) -> Result:
        """``trellis <argv> <flags>``; checks the exit code unless ``exit_code`` is None."""
        args = [*argv, *self.flags()]
        if argv[0] != "status" and any(a in ("--yes", "redrive", "drop", "rebuild") for a in argv):
            args += ["--operator", OPERATOR]
        result = await asyncio.to_thread(CliRunner().invoke, trellis_app, args)
        if exit_code is not None:
            assert result.exit_code == exit_code, (
                args,
                result.exit_code,
                result.stdout,
                result.stderr,
                result.exception,
            )
        return result

    async def trellis_json(self, *argv: str) -> Any:
        return json.loads((await self.trellis(*argv, "--json")).stdout)

    def audit_lines(self, command: str) -> list[dict[str, Any]]:
        return [e for e in self.logs if e.get("event") == "ops.audit" and e.get("command") == command]

    async def audit_events(self) -> list[dict[str, Any]]:
        """Every ops event on the bus (the ``<ROOT>_OPS`` stream), oldest first."""
        stream = self.subjects.stream("ops")
        info = await self.js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await self.js.get_msg(stream, seq)
            found.append({"subject": msg.subject, **json.loads(msg.data)})
        return found

    # --- the services -----------------------------------------------------------------

    async def call(self, service: str, method: str, url: str, body: Any = None, **kw: Any) -> Any:
        resp = await self.clients[service].request(method, url, json=body, headers=kw.get("headers", ADMIN))
        assert resp.status_code in (200, 201, 202), (method, url, resp.status_code, resp.text)
        return resp.json()

    async def create_goal(self, title: str, *, headers: dict[str, str] = ADMIN, **extra: Any) -> str:
        body = {"level": "company", "title": title, "period": "Q4", **extra}  # no dates: no pace events
        goal_id: str = (await self.call("goals", "POST", "/v1/goals", body, headers=headers))["goal_id"]
        return goal_id

    async def view_rows(self) -> dict[str, dict[str, Any]]:
        """The goals service's live alignment tree, by goal id."""
        async with self.runtimes["goals"].sessions() as session:
            rows = (await session.execute(select(goal_nodes))).mappings().all()
        return {r["goal_id"]: dict(r) for r in rows}

    async def stream_messages(self, service: str) -> int:
        return int((await self.js.stream_info(self.subjects.stream(service))).state.messages)

    async def settled(self, service: str = "goals") -> None:
        """The service's outbox is published and every consumer of its stream has caught up."""
        runtime = self.runtimes[service]

        async def caught_up() -> bool:
            async with runtime.sessions() as session:
                from trellis.core.store.tables import events, outbox

                head = (await session.execute(select(func.count()).select_from(events))).scalar_one()
                left = (
                    await session.execute(
                        select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                    )
                ).scalar_one()
            if left or (await self.stream_messages(service)) < head:
                return False
            stream = runtime.subjects.stream(service)
            # every consumer of this stream, whichever service runs it (notifications follows goals)
            for other in self.runtimes.values():
                for runner in other.runners:
                    spec = runner.spec()
                    if spec.stream != stream:
                        continue
                    try:
                        info = await self.js.consumer_info(spec.stream, spec.durable)
                    except NotFoundError:  # its runner has not created it yet
                        return False
                    if info.num_pending or info.num_ack_pending:
                        return False
            return True

        await eventually(caught_up, timeout=20)

    async def start(self, name: str, **overrides: Any) -> None:
        definition, settings = self._service(name, **overrides)
        app = create_app(definition, settings)
        runtime = Runtime(definition, settings, retry=FAST_RETRY)
        app.state.runtime = runtime
        await runtime.start()
        await runtime.wait_ready()
        self.runtimes[name] = runtime
        self.clients[name] = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
        )

    async def stop(self, name: str) -> None:
        client = self.clients.pop(name, None)
        runtime = self.runtimes.pop(name, None)
        if client is not None:
            await client.aclose()
        if runtime is not None:
            await runtime.stop(grace=2)

    def _service(self, name: str, **overrides: Any) -> tuple[ServiceDefinition, Any]:
        common: dict[str, Any] = {
            "database_url": self.urls[name],
            "database_schema": self.schemas[name],
            "nats_url": self.nats_url,
            "subject_root": self.subjects.root,
            "data_dir": self.data_dir,
            "consumer_batch_size": 100,
            **overrides,
        }
        if name == "goals":
            return GOALS, GoalsSettings(**common)
        fast_webhooks = {
            "webhook_retry_schedule": [0.05, 0.1, 0.2],
            "webhook_retry_jitter": 0.0,
            "webhook_poll_interval": 0.05,
            "webhook_timeout": 3.0,
            "webhook_allow_private_urls": True,  # the receiver listens on loopback
        }
        return NOTIFICATIONS, NotificationsSettings(**{**fast_webhooks, **common})


@pytest.fixture
def goals_overrides() -> dict[str, Any]:
    """Settings of the goals service that a test changes (parametrize this name)."""
    return {}


@pytest.fixture
async def ops(
    database: Database,
    postgres_url: str | None,
    nats_url: str,
    subject_root: str,
    tmp_path: Path,
    goals_overrides: dict[str, Any],
) -> AsyncIterator[OpsSystem]:
    with capture_logs() as logs:
        async with contextlib.AsyncExitStack() as stack:
            nc = await connect(nats_url, name="ops-cli-test")
            stack.push_async_callback(nc.close)
            system = OpsSystem(database, nats_url, Subjects(subject_root), tmp_path / "data", nc.jetstream())
            system.logs = logs
            for name in ("goals", "notifications"):
                if database.backend == "sqlite":  # the embedded run's files: <data_dir>/<service>.db
                    system.urls[name] = f"sqlite+aiosqlite:///{system.data_dir / (name + '.db')}"
                    system.schemas[name] = None
                else:
                    db = await stack.enter_async_context(postgres_database(postgres_url))
                    system.urls[name], system.schemas[name] = db.url, db.schema
            for source in SERVICES:  # every stream exists, as when every service runs
                await ensure_stream(
                    system.js, StreamSpec(system.subjects.stream(source), [system.subjects.all_of(source)])
                )
            stack.push_async_callback(
                lambda: asyncio.gather(*(system.stop(n) for n in list(system.runtimes)))
            )
            await system.start("goals", **goals_overrides)
            await system.start("notifications")
            yield system
    structlog.reset_defaults()
