"""Group commit beside one transaction per command, on the goals service's command path.

    uv run python bench/group_commit.py                      # SQLite files (WAL, synchronous=NORMAL)
    uv run python bench/group_commit.py --database-url postgresql+asyncpg://postgres@127.0.0.1/postgres

Group commit (``core/store/sessions.py``) runs the commands that arrive together in one
transaction, each behind a savepoint of its own, with one commit. This bench runs the
goals service's real command path (``GoalCommands``, as ``bench/peers.py`` does: 1 and 8
concurrent writers, creates, then key-result progress on each writer's ten goals) both
ways, alternating, in one run, and prints the commands per commit it saw. Its figures
chose ``ServiceSettings.group_commit``'s default for each database. Each figure is the
min-max of ``--rounds`` rounds; the ratio is to one transaction per command in the same
round. The raw batched-insert limit of the same database is measured in the same run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from peers import WRITERS, TrellisGoals, _raw_url, _timed, run_bench
from pipeline import raw_inserts
from rich.console import Console
from rich.table import Table

console = Console()
MODES = {"per command": False, "group commit": True}


async def round_of(mode: str, db_url: str, workdir: Path, n: int, writers: int) -> tuple[float, float, float]:
    """(creates/s, updates/s, mean commands per commit) of one mode."""
    goals = await TrellisGoals.open(db_url, workdir, group_commit=MODES[mode])
    group = goals.runtime.sessions.group
    per = max(1, n // writers)
    try:
        await goals.creates(20)  # warm: statement caches, the first connections
        before = (group.batches, group.commands) if group else (0, 0)
        created = await _timed(lambda: asyncio.gather(*(goals.creates(per) for _ in range(writers))))
        targets = [await goals.targets() for _ in range(writers)]
        updated = await _timed(
            lambda: asyncio.gather(*(goals.updates(targets[w], per) for w in range(writers)))
        )
    finally:
        await goals.close()
    batch = 1.0
    if group and group.batches > before[0]:
        batch = (group.commands - before[1]) / (group.batches - before[0])
    return per * writers / created, per * writers / updated, batch


async def _run(db_url: str, workdir: Path, n: int, rounds: int, raw: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"raw_inserts": await raw_inserts(_raw_url(db_url, workdir), raw)}
    for writers in WRITERS:
        runs: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
        for r in range(rounds):
            for mode in MODES:
                runs[mode].append(await round_of(mode, db_url, workdir, n, writers))
            console.print(
                f"writers={writers} round {r + 1}: "
                + ", ".join(f"{mode} {runs[mode][-1][0]:,.0f}/{runs[mode][-1][1]:,.0f}" for mode in MODES)
                + " creates/updates per s"
            )
        for mode in MODES:
            entry: dict[str, Any] = {
                "batch": [min(run[2] for run in runs[mode]), max(run[2] for run in runs[mode])]
            }
            for i, kind in enumerate(("creates", "updates")):
                mine = [run[i] for run in runs[mode]]
                ratios = [a[i] / b[i] for a, b in zip(runs[mode], runs["per command"], strict=True)]
                entry[kind] = {"per_s": [min(mine), max(mine)], "ratio": [min(ratios), max(ratios)]}
            figures[f"{mode} / {writers}"] = entry
    return figures


def report(figures: dict[str, Any], db_url: str, loop: str) -> None:
    table = Table(
        title=f"Group commit on the goals command path ({db_url.split(':')[0]}, {loop} loop, one run)"
    )
    for column in (
        "writers",
        "mode",
        "commands per commit",
        "creates /s",
        "÷ per command",
        "updates /s",
        "÷ per command",
    ):
        table.add_column(column, justify="left" if column in ("writers", "mode") else "right")
    for writers in WRITERS:
        for mode in MODES:
            f = figures[f"{mode} / {writers}"]
            table.add_row(
                str(writers),
                mode,
                "{:.1f}-{:.1f}".format(*f["batch"]),
                "{:,.0f}-{:,.0f}".format(*f["creates"]["per_s"]),
                "{:.2f}-{:.2f}".format(*f["creates"]["ratio"]),
                "{:,.0f}-{:,.0f}".format(*f["updates"]["per_s"]),
                "{:.2f}-{:.2f}".format(*f["updates"]["ratio"]),
            )
    console.print(table)
    console.print(f"raw batched inserts, same database, same run: {figures['raw_inserts']:,.0f} rows/s")


def main(
    commands: Annotated[int, typer.Option(help="commands per measurement (split over the writers)")] = 1600,
    rounds: Annotated[int, typer.Option(help="rounds per figure, the modes alternating in each")] = 3,
    raw: Annotated[int, typer.Option(help="rows for the raw insert limit")] = 20000,
    database_url: Annotated[str, typer.Option(help="default: SQLite files in a temporary folder")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="also print the figures as JSON")] = False,
    loop: Annotated[
        str, typer.Option(help="the event loop: uvloop (as `trellis serve`) or asyncio")
    ] = "uvloop",
) -> None:
    run_bench(
        "trellis-group-commit-",
        loop,
        database_url,
        lambda db_url, workdir: _run(db_url, workdir, commands, rounds, raw),
        lambda figures, db_url: report(figures, db_url, loop),
        as_json=as_json,
    )


if __name__ == "__main__":
    typer.run(main)
