"""Bring a service's database to the newest schema with Alembic.

The core's migrations (branch ``core``) and the service's own (its read views,
a branch that depends on ``core``) are applied together. Safe to run from several
replicas at once: on PostgreSQL they queue on an advisory lock.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def _core_location() -> Path:
    return Path(str(resources.files("trellis.core.store") / "migrations"))


async def migrate(engine: AsyncEngine, *extra_version_locations: Path, schema: str | None = None) -> None:
    core = _core_location()
    cfg = Config()
    cfg.set_main_option("script_location", str(core))
    locations = [core / "versions", *extra_version_locations]
    cfg.set_main_option("version_locations", " ".join(str(p) for p in locations))
    cfg.set_main_option("path_separator", "space")

    def _upgrade(connection: object) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('trellis.migrate'))"))
            if schema:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(_upgrade)
