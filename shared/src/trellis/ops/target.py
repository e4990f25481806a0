"""Where the operators' tool points: the installed services, their databases, and NATS.

Each service is found through the ``trellis.services`` entry points (its
``ServiceDefinition``); its settings are read as the service itself reads them (its
``TRELLIS_<NAME>_`` environment variables, then the embedded defaults: ``./data``,
``nats://127.0.0.1:14222``), and the tool's flags override them. A service is opened
as a ``Runtime`` that is never started: the engine, event store, projections and
registries of the service, without its relay, consumers or HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from trellis.contracts.subjects import Subjects
from trellis.core.consuming.projection import Consumer
from trellis.core.messaging.jetstream import JetStreams, connect
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.runtime.settings import ServiceSettings
from trellis.core.store.database import is_sqlite
from trellis.core.store.tables import projection_watermarks

NATS_CONNECT_TIMEOUT = 5.0  # seconds before the tool reports NATS unreachable
# The tool's replies and push deliveries (``events tail``, rebuilds from a stream): with an
# account per service, each service's account exports this subject space to the tool's.
OPS_INBOX = "_INBOX_ops"


class OpsError(Exception):
    """A command cannot do what it was asked; the message says why and what to do."""


def installed_services() -> dict[str, ServiceDefinition]:
    """Every installed service's definition, by name."""
    found: dict[str, ServiceDefinition] = {}
    for ep in entry_points(group="trellis.services"):
        found[ep.name] = ep.load()
    return dict(sorted(found.items()))


def operator_name(given: str | None) -> str:
    """Who is acting: ``--operator``, or the OS user."""
    if given:
        return given
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@dataclass
class Target:
    """The services to act on and how to reach them (flags override the services' settings)."""

    services: list[str] = field(default_factory=list)  # empty: every installed service
    data_dir: Path | None = None
    nats_url: str | None = None
    nats_credentials: str | None = None
    nats_import_prefix: str | None = None
    subject_root: str | None = None
    database_urls: dict[str, str] = field(default_factory=dict)
    database_schemas: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, ServiceDefinition] | None = None  # instead of the entry points (tests)

    def chosen(self) -> list[ServiceDefinition]:
        known = self.definitions if self.definitions is not None else installed_services()
        unknown = [s for s in self.services if s not in known]
        if unknown:
            raise OpsError(f"unknown service {', '.join(unknown)}; installed: {', '.join(known) or 'none'}")
        return [d for name, d in known.items() if not self.services or name in self.services]

    def settings_for(self, definition: ServiceDefinition) -> ServiceSettings:
        overrides: dict[str, Any] = {}
        if self.data_dir is not None:
            overrides["data_dir"] = self.data_dir
        if self.nats_url:
            overrides["nats_url"] = self.nats_url
        if self.nats_credentials:
            overrides["nats_credentials"] = self.nats_credentials
        if self.nats_import_prefix:
            overrides["nats_import_prefix"] = self.nats_import_prefix
        if self.subject_root:
            overrides["subject_root"] = self.subject_root
        if definition.name in self.database_urls:
            overrides["database_url"] = self.database_urls[definition.name]
        if definition.name in self.database_schemas:
            overrides["database_schema"] = self.database_schemas[definition.name]
        return definition.settings(**overrides)

    def subjects(self) -> Subjects:
        chosen = self.chosen()
        root = self.subject_root or (self.settings_for(chosen[0]).subject_root if chosen else "trellis")
        return Subjects(root)

    @contextlib.asynccontextmanager
    async def runtime(self, definition: ServiceDefinition) -> AsyncIterator[Runtime]:
        """The service's runtime, not started; its database must exist."""
        settings = self.settings_for(definition)
        missing = _missing_sqlite_file(settings.database_url)
        if missing is not None:
            raise OpsError(
                f"{definition.name}: no database at {missing} (has the service run here? "
                "pass --data-dir, or --database-url SERVICE=URL)"
            )
        runtime = Runtime(definition, settings)
        try:
            yield runtime
        finally:
            await runtime.engine.dispose()

    @contextlib.asynccontextmanager
    async def runtimes(self) -> AsyncIterator[list[Runtime]]:
        """The chosen services' runtimes; those without a database are left out (an error if
        none has one, or if the one service asked for by name has none)."""
        async with contextlib.AsyncExitStack() as stack:
            opened: list[Runtime] = []
            problems: list[str] = []
            for definition in self.chosen():
                try:
                    opened.append(await stack.enter_async_context(self.runtime(definition)))
                except OpsError as exc:
                    problems.append(str(exc))
            if problems and (not opened or self.services):
                raise OpsError("; ".join(problems))
            yield opened

    @contextlib.asynccontextmanager
    async def nats(self) -> AsyncIterator[NATS]:
        """A NATS connection (the first chosen service's URL and credentials, or the flags')."""
        chosen = self.chosen()
        settings = self.settings_for(chosen[0]) if chosen else None
        url = self.nats_url or (settings.nats_url if settings else "")
        credentials = self.nats_credentials or (settings.nats_credentials if settings else None)
        try:
            # connect() retries for ever (right for a service); the tool gives up instead
            nc = await asyncio.wait_for(
                connect(url, name="trellis-ops", credentials=credentials, inbox_prefix=OPS_INBOX),
                NATS_CONNECT_TIMEOUT,
            )
        except Exception as exc:
            raise OpsError(f"NATS at {url} is unreachable: {type(exc).__name__}: {exc}") from exc
        try:
            yield nc
        finally:
            with contextlib.suppress(Exception):
                await nc.drain()

    def streams(self, nc: NATS, **options: Any) -> JetStreams:
        """The tool's JetStream API for each service's stream (its own account's: the audit)."""
        chosen = self.chosen()
        prefix = self.nats_import_prefix or (
            self.settings_for(chosen[0]).nats_import_prefix if chosen else None
        )
        return JetStreams(nc, home=None, import_prefix=prefix, **options)


@contextlib.asynccontextmanager
async def nats_if_reachable(target: Target) -> AsyncIterator[NATS | None]:
    """A NATS connection, or None when NATS cannot be reached (for audit events: the log
    line is written either way)."""
    context = target.nats()
    try:
        nc = await context.__aenter__()
    except OpsError:
        yield None
        return
    try:
        yield nc
    finally:
        await context.__aexit__(None, None, None)


def _missing_sqlite_file(url: str) -> str | None:
    """The SQLite file ``url`` names if it does not exist (opening it would create it)."""
    if not is_sqlite(url):
        return None
    path = make_url(url).database or ""
    return None if path and Path(path).exists() else path


def database_label(runtime: Runtime) -> str:
    url = make_url(runtime.settings.database_url).render_as_string(hide_password=True)
    schema = runtime.settings.database_schema
    return f"{url} (schema {schema})" if schema else url


async def require_current_schema(runtime: Runtime) -> None:
    """Refuse to change a database its service has not migrated to this version yet."""
    try:
        async with runtime.sessions() as session:
            await session.execute(select(projection_watermarks.c.consumer).limit(1))
    except DBAPIError as exc:
        raise OpsError(
            f"{runtime.definition.name}: the database is older than this tool (start the service "
            "once: it migrates), then try again"
        ) from exc


@dataclass(frozen=True)
class FoundProjection:
    """A consumer (a projection or a reaction), and the runtime of the service that runs it."""

    runtime: Runtime
    projection: Consumer


def find_projection(runtimes: list[Runtime], name: str) -> FoundProjection:
    found = [FoundProjection(rt, p) for rt in runtimes for p in rt.consumers if p.name == name]
    if not found:
        names = sorted(p.name for rt in runtimes for p in rt.consumers)
        raise OpsError(f"no projection {name!r}; known: {', '.join(names) or 'none'}")
    if len(found) > 1:
        services = ", ".join(f.runtime.definition.name for f in found)
        raise OpsError(f"{name!r} is kept by several services ({services}): pass --service")
    return found[0]
