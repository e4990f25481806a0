"""deploy/postgres/init-databases.sh on the test PostgreSQL: a database and a role per
service; each role migrates and writes its own database and cannot open another's.

Roles are global to the server, so every name carries a unique prefix and everything is
dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

INIT = Path(__file__).parent.parent / "deploy" / "postgres" / "init-databases.sh"
SERVICES = ("goals", "onboarding", "feedback", "notifications")

pytestmark = pytest.mark.postgres


class Server:
    def __init__(self, url: str, prefix: str) -> None:
        parsed = make_url(url)
        self.host = parsed.host or "127.0.0.1"
        self.port = parsed.port or 5432
        self.superuser = parsed.username or "postgres"
        self.superuser_password = parsed.password
        self.prefix = prefix
        self.passwords = {service: uuid.uuid4().hex for service in SERVICES}

    def name(self, service: str) -> str:
        return f"{self.prefix}{service}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "POSTGRES_USER": self.superuser,
            "TRELLIS_DB_PREFIX": self.prefix,
        }
        if self.superuser_password:
            env["PGPASSWORD"] = self.superuser_password
        env.update({f"{s.upper()}_DB_PASSWORD": p for s, p in self.passwords.items()})
        return env

    def url(self, service: str, driver: str = "postgresql", database: str | None = None) -> str:
        name = self.name(service)
        password = self.passwords[service]
        return f"{driver}://{name}:{password}@{self.host}:{self.port}/{database or name}"

    def psql(self, *args: str) -> None:
        base = ["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", "-U", self.superuser, "-d", "postgres"]
        subprocess.run(
            [*base, *args],
            env=self.env(),
            check=True,
            capture_output=True,
            timeout=60,
        )

    def drop_all(self) -> None:
        for service in SERVICES:
            name = self.name(service)
            self.psql("-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.psql("-c", f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def server(postgres_url: str | None) -> Iterator[Server]:
    """The init script applied under a unique prefix, then goals migrated on its own role
    (what the compose migrate step does); everything dropped afterwards."""
    if postgres_url is None:
        pytest.skip("no PostgreSQL: set TRELLIS_TEST_POSTGRES_URL")
    if shutil.which("psql") is None:
        if os.environ.get("CI"):
            pytest.fail("psql is required when CI is set")
        pytest.skip("no psql client on PATH")
    server = Server(postgres_url, f"t{uuid.uuid4().hex[:8]}_")
    try:
        subprocess.run(["sh", str(INIT)], env=server.env(), check=True, capture_output=True, timeout=60)
        subprocess.run(
            [str(Path(sys.executable).parent / "trellis"), "migrate", "goals"],
            env={**os.environ, "TRELLIS_GOALS_DATABASE_URL": server.url("goals", "postgresql+asyncpg")},
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield server
    finally:
        server.drop_all()


async def test_each_service_role_owns_its_database_and_cannot_open_another(server: Server) -> None:
    goals = await asyncpg.connect(server.url("goals"))
    try:
        assert await goals.fetchval("SELECT count(*) FROM alembic_version") >= 1  # migrated as goals
        await goals.execute("CREATE TABLE own_table (x int)")
        await goals.execute("INSERT INTO own_table VALUES (1)")
        assert await goals.fetchval("SELECT x FROM own_table") == 1
        assert not await goals.fetchval(
            "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await goals.close()

    for service in SERVICES:
        for other in SERVICES:
            if other != service:
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT"):
                    await asyncpg.connect(server.url(service, database=server.name(other)))
    notifications = await asyncpg.connect(server.url("notifications"))
    try:
        await notifications.execute("CREATE TABLE own_table (x int)")
    finally:
        await notifications.close()
