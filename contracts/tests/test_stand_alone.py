"""The contracts are what a consumer installs: nothing of the server comes with them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER = ("fastapi", "sqlalchemy", "uvicorn", "alembic", "asyncpg", "aiosqlite", "trellis.core")


def test_importing_every_contract_loads_nothing_of_the_server() -> None:
    code = (
        "import sys\n"
        "from trellis.contracts import SERVICES, registry_of\n"
        "import trellis.contracts.envelope, trellis.contracts.subjects, trellis.contracts.errors\n"
        "for service in SERVICES: registry_of(service)\n"
        f"print(sorted(m for m in sys.modules if m.startswith({SERVER!r})))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_distribution_depends_on_pydantic_alone_and_faststream_only_as_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0] for d in project["dependencies"]] == ["pydantic"]
    assert list(project["optional-dependencies"]) == ["faststream"]
