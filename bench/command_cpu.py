"""CPU a command costs the service's process, beside the cheapest transaction on the same database.

    uv run python bench/command_cpu.py                      # SQLite files (WAL, synchronous=NORMAL)
    uv run python bench/command_cpu.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

On two cores a service's throughput is bounded by the CPU each command takes in its own
process (the database's share is the database's), so this is the figure to compare two
commits by; rates swing by half with the machine's load, CPU time far less. One writer,
the goals service's command path as ``bench/peers.py`` drives it: goal creates, then
key-result progress on ten goals. Beside it, in alternating rounds of the same run: the raw
limit, one transaction inserting one row through SQLAlchemy Core on an ``AsyncConnection``
of the same kind of engine (its ``BEGIN``, the insert, its ``COMMIT``). Each figure is the
min-max of ``--rounds`` rounds; CPU is ``time.process_time()`` of this process.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from peers import TrellisGoals, run_bench
from pipeline import drop_schema
from rich.console import Console
from rich.table import Table
from sqlalchemy import Column, Integer, MetaData, String, insert
from sqlalchemy import Table as SqlTable

from trellis.core.store.database import create_engine, is_sqlite

console = Console()
_raw_rows = SqlTable(
    "bench_raw_rows", MetaData(), Column("id", Integer, primary_key=True), Column("v", String)
)


async def _cpu_per(work: Any, count: int) -> float:
    """Microseconds of this process's CPU per unit of ``work(count)``."""
    started = time.process_time()
    await work(count)
    return (time.process_time() - started) * 1e6 / count


async def trellis_round(db_url: str, workdir: Path, n: int) -> tuple[float, float]:
    goals = await TrellisGoals.open(db_url, workdir)
    try:
        await goals.creates(100)  # warm: statement caches, the first connections
        creates = await _cpu_per(goals.creates, n)
        targets = await goals.targets()
        await goals.updates(targets, 100)
        updates = await _cpu_per(lambda count: goals.updates(targets, count), n)
    finally:
        await goals.close()
    return creates, updates


async def raw_round(db_url: str, workdir: Path, n: int) -> float:
    sqlite = is_sqlite(db_url)
    schema = None if sqlite else f"bench_raw_{uuid.uuid4().hex[:8]}"
    url = f"sqlite+aiosqlite:///{workdir / 'raw-tx.db'}" if sqlite else db_url
    engine = create_engine(url, schema=schema)
    try:
        async with engine.begin() as conn:
            if schema:
                await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            await conn.run_sync(_raw_rows.metadata.drop_all)
            await conn.run_sync(_raw_rows.metadata.create_all)
        statement = insert(_raw_rows)

        async def transactions(count: int) -> None:
            for i in range(count):
                async with engine.begin() as conn:
                    await conn.execute(statement, {"v": f"row {i}"})

        await transactions(100)
        return await _cpu_per(transactions, n)
    finally:
        await engine.dispose()
        if schema:
            await drop_schema(db_url, schema)


async def _run(db_url: str, workdir: Path, n: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[float]] = {"creates": [], "updates": [], "raw": []}
    for r in range(rounds):
        creates, updates = await trellis_round(db_url, workdir, n)
        raw = await raw_round(db_url, workdir, n)
        runs["creates"].append(creates)
        runs["updates"].append(updates)
        runs["raw"].append(raw)
        console.print(f"round {r + 1}: create {creates:,.0f} µs, update {updates:,.0f} µs, raw {raw:,.0f} µs")
    figures: dict[str, Any] = {"raw_transaction_us": [min(runs["raw"]), max(runs["raw"])]}
    for kind in ("creates", "updates"):
        ratios = [mine / raw for mine, raw in zip(runs[kind], runs["raw"], strict=True)]
        figures[f"{kind}_us"] = [min(runs[kind]), max(runs[kind])]
        figures[f"{kind}_to_raw"] = [min(ratios), max(ratios)]
    return figures


def report(figures: dict[str, Any], db_url: str) -> None:
    table = Table(title=f"CPU per command, one writer ({db_url.split(':')[0]}, one run)")
    for column in ("in the service's process", "µs of CPU", "times the raw transaction's"):
        table.add_column(column, justify="left" if column.startswith("in") else "right")
    for kind in ("creates", "updates"):
        table.add_row(
            f"a goal {kind[:-1]}",
            "{:,.0f}-{:,.0f}".format(*figures[f"{kind}_us"]),
            "{:.1f}-{:.1f}".format(*figures[f"{kind}_to_raw"]),
        )
    table.add_row(
        "raw: one-row insert transaction", "{:,.0f}-{:,.0f}".format(*figures["raw_transaction_us"]), "1"
    )
    console.print(table)


def main(
    commands: Annotated[int, typer.Option(help="commands per measurement")] = 3000,
    rounds: Annotated[int, typer.Option(help="alternating rounds (Trellis, raw, ...)")] = 3,
    database_url: Annotated[str, typer.Option(help="default: SQLite files in a temporary folder")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="also print the figures as JSON")] = False,
    loop: Annotated[str, typer.Option(help="uvloop (as `trellis serve` runs) or asyncio")] = "uvloop",
) -> None:
    run_bench(
        "trellis-cpu-",
        loop,
        database_url,
        lambda db_url, workdir: _run(db_url, workdir, commands, rounds),
        report,
        as_json=as_json,
    )


if __name__ == "__main__":
    typer.run(main)
