"""The consumer's ledger is the only writer of the consumer-state tables.

``processed_events``, ``consumer_failures``, ``dead_letters`` and ``projection_watermarks``
are written by ``trellis.core.consuming.ledger`` alone; every other module (the runner,
the rebuild, the operators' commands, the services) reads them at most. Checked on the
source: an ``insert``/``update``/``delete`` of one of them (SQLAlchemy's functions, the
table's own methods, or raw SQL) anywhere else fails this test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "shared/src", *sorted((ROOT / "services").glob("*/src"))]
LEDGER = ROOT / "shared/src/trellis/core/consuming/ledger.py"
TABLES = {"processed_events", "consumer_failures", "dead_letters", "projection_watermarks"}
WRITES = {"insert", "update", "delete"}
RAW_WRITE = re.compile(
    r"\b(insert\s+into|update|delete\s+from)\s+(\w+\.)?\"?(" + "|".join(sorted(TABLES)) + r")\b",
    re.IGNORECASE,
)


def _table_names(tree: ast.AST) -> set[str]:
    """Local names bound to the tables by ``from ... import`` (aliases included)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in TABLES:
                    names.add(alias.asname or alias.name)
    return names


def _is_table(node: ast.AST, names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names
    return isinstance(node, ast.Attribute) and node.attr in TABLES


def _writes(path: Path, root: Path = ROOT) -> list[str]:
    source = path.read_text()
    tree = ast.parse(source)
    names = _table_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if called in WRITES and node.args and _is_table(node.args[0], names):
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)[:80]}")
            elif isinstance(func, ast.Attribute) and func.attr in WRITES and _is_table(func.value, names):
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)[:80]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_WRITE.search(node.value):
            found.append(f"{path.relative_to(root)}:{node.lineno} raw SQL {node.value[:60]!r}")
    return found


def test_only_the_ledger_writes_the_consumer_state_tables() -> None:
    writers = [
        write
        for source in SOURCES
        for path in sorted(source.rglob("*.py"))
        if path != LEDGER and "migrations" not in path.parts
        for write in _writes(path)
    ]
    assert writers == []


def test_the_ledger_is_seen_writing_them() -> None:
    """A guard on the check itself: the ledger's own writes are found."""
    assert len(_writes(LEDGER)) >= 10


def test_the_check_sees_every_way_of_writing(tmp_path: Path) -> None:
    scratch = tmp_path / "m.py"
    scratch.write_text(
        "from sqlalchemy import delete, insert, update\n"
        "from trellis.core.store import tables\n"
        "from trellis.core.store.tables import dead_letters as dl, processed_events\n"
        "insert(processed_events)\n"
        "update(dl).values(x=1)\n"
        "delete(tables.consumer_failures)\n"
        "tables.projection_watermarks.insert()\n"
        "select(dl)\n"
        "text('DELETE FROM processed_events WHERE consumer = :c')\n"
        "text('SELECT * FROM dead_letters')\n"
    )
    lines = sorted(int(w.split(":")[1].split()[0]) for w in _writes(scratch, tmp_path))
    assert lines == [4, 5, 6, 7, 9]
