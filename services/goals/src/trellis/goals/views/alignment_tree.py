"""The alignment tree: every goal with its parent, key results and rolled-up progress.

Roll-up rule: ``domain.progress.goal_progress`` (the same function answers a read of
a goal the view has not caught up with, so the two agree). A goal's progress is the
weighted mean of its inputs, chosen by its ``progress_rollup``: its key results, its
live aligned children (retired children excluded), or both pooled together; a
completed goal counts as 100 %. After a batch of events, every goal whose inputs they
changed (a child retired, completed, aligned, unaligned or reweighted changes its
parent's inputs) and each of its ancestors is recomputed, deepest first, so the chain
up to the company objective is current when the batch commits.

The projection works on a batch at a time (a single event is a batch of one): it
loads the goals the batch touches, applies the events in memory, rolls up, and writes
the changed rows back with one statement per table. Per-event SQL made catch-up
statement-bound; this keeps it to a handful of statements per batch.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from trellis.contracts.envelope import EventEnvelope, RecordedEvent
from trellis.contracts.goals import (
    GoalAligned,
    GoalChanged,
    GoalCompleted,
    GoalCreated,
    GoalRetired,
    GoalStatusChanged,
    GoalUnaligned,
    KeyResultAdded,
    KeyResultChanged,
    KeyResultProgressRecorded,
    KeyResultRemoved,
    RealignmentRequested,
    RealignmentResolved,
)
from trellis.core.consuming.projection import Projection, rebuild_commits_after, rebuild_memory
from trellis.core.store.database import one_of
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import KEY_RESULT_FIELDS
from trellis.goals.domain.progress import Child, goal_progress, key_result_progress
from trellis.goals.views.tables import goal_key_results, goal_nodes

MAX_DEPTH = 16  # guards walks up the tree against corrupt data
NODE_COLUMNS = [c.name for c in goal_nodes.columns]
KR_COLUMNS = [c.name for c in goal_key_results.columns]
CHANGEABLE = {
    "title",
    "description",
    "period",
    "owner_id",
    "start_date",
    "due_date",
    "weight",
    "progress_rollup",
}
DATES = ("start_date", "due_date")
_REFERENCES = frozenset({"goal_id", "parent_id", "previous_parent_id"})  # goals an event names
_REFERENCES_OF: dict[type[Any], tuple[str, ...]] = {}


def _references(event_type: type[Any]) -> tuple[str, ...]:
    """The fields of ``event_type`` that name goals (looked up once per type)."""
    found = _REFERENCES_OF.get(event_type)
    if found is None:
        found = _REFERENCES_OF[event_type] = tuple(sorted(_REFERENCES.intersection(event_type.model_fields)))
    return found


_TOUCHED = ("version", "updated_at")  # what every event of a goal changes on its node
_PROGRESS_COLUMNS = frozenset({"current", "progress", "confidence", "updated_at"})  # of its key result
_PROGRESS_TOUCHED = frozenset({*_TOUCHED, "status_by_hand"})


class _WorkingSet:
    """The rows a batch touches, loaded once, changed in memory, written back once."""

    def __init__(self, session: Transaction) -> None:
        self.session = session
        # A rebuild lends the rows of earlier batches: only rows not seen yet are loaded
        # (the whole view was read back for every batch of 50,000 events otherwise).
        memory = rebuild_memory(session)
        kept: dict[str, Any] = {} if memory is None else memory.setdefault(AlignmentTree.name, {})
        self.nodes: dict[str, dict[str, Any]] = kept.setdefault("nodes", {})
        self.krs: dict[str, dict[str, Any]] = kept.setdefault("key_results", {})
        self.krs_of: dict[str, list[str]] = kept.setdefault("key_results_of", defaultdict(list))
        # What is still to be written, kept too while a rebuild's transaction goes on
        # (``rebuild_commits_after``): its last batch rolls up and writes once for all.
        pending: dict[str, Any] = kept.setdefault("pending", {})
        self.new_nodes: set[str] = pending.setdefault("new_nodes", set())
        # changed rows → the columns that changed: only those are written back
        self.changed_nodes: dict[str, set[str]] = pending.setdefault("changed_nodes", defaultdict(set))
        self.new_krs: set[str] = pending.setdefault("new_key_results", set())
        self.changed_krs: dict[str, set[str]] = pending.setdefault("changed_key_results", defaultdict(set))
        self.removed_krs: set[str] = pending.setdefault("removed_key_results", set())
        self.dirty: set[str] = pending.setdefault("dirty", set())  # goals whose progress must be recomputed
        self._pending = pending
        self._missing: set[str] = set()

    async def load(self, goal_ids: set[str]) -> None:
        wanted = {g for g in goal_ids if g and g not in self.nodes and g not in self._missing}
        if not wanted:
            return
        reads = _READS[self.session.get_bind().dialect.name == "postgresql"]
        ids = {"ids": list(wanted)}
        rows = await self.session.execute(reads.nodes, ids)
        for row in rows.mappings():
            self.nodes[row["goal_id"]] = dict(row)
        krs = await self.session.execute(reads.key_results, ids)
        for row in krs.mappings():
            self.krs[row["key_result_id"]] = dict(row)
            self.krs_of[row["goal_id"]].append(row["key_result_id"])
        self._missing |= wanted - self.nodes.keys()

    def node(self, goal_id: str) -> dict[str, Any]:
        node = self.nodes.get(goal_id)
        if node is None:
            raise LookupError(f"goal {goal_id} is not in the alignment tree")
        return node

    def key_result(self, key_result_id: str) -> dict[str, Any]:
        kr = self.krs.get(key_result_id)
        if kr is None:
            raise LookupError(f"key result {key_result_id} is not in the alignment tree")
        return kr

    @staticmethod
    def absent(kind: str, key: str, rows: dict[str, Any]) -> None:
        """Refuse a second creation of a row (a corrupt event). The view's key would refuse
        it, but only once written: a creation applied in memory after another, in one batch
        or in a rebuild's transaction (which writes once), would replace the first."""
        if key in rows:
            raise ValueError(f"{kind} {key} is in the alignment tree already: created twice")

    def remove_key_result(self, goal_id: str, key_result_id: str) -> None:
        del self.krs[key_result_id]
        self.krs_of[goal_id].remove(key_result_id)
        self.changed_krs.pop(key_result_id, None)
        if key_result_id in self.new_krs:
            self.new_krs.discard(key_result_id)  # added and removed in one batch: never written
        else:
            self.removed_krs.add(key_result_id)

    def touch(self, goal_id: str, recorded: RecordedEvent, **values: Any) -> dict[str, Any]:
        node = self.node(goal_id)
        node.update(
            values, version=recorded.envelope.aggregate_version, updated_at=recorded.envelope.occurred_at
        )
        self.changed_nodes[goal_id].update(values, _TOUCHED)
        return node

    def change_key_result(self, key_result_id: str, **values: Any) -> dict[str, Any]:
        kr = self.key_result(key_result_id)
        kr.update(values)
        self.changed_krs[key_result_id].update(values)
        return kr

    def record_progress(self, ev: KeyResultProgressRecorded, env: EventEnvelope) -> None:
        """``change_key_result`` and ``touch`` for the commonest event (most of a goal's
        history is progress), without their keyword dictionaries: 10 % less per event."""
        kr, node = self.key_result(ev.key_result_id), self.node(ev.goal_id)
        kr["current"] = ev.value
        kr["progress"] = key_result_progress(kr["start"], kr["target"], ev.value)
        kr["confidence"] = ev.confidence
        kr["updated_at"] = node["updated_at"] = env.occurred_at
        node["status_by_hand"] = False  # a status set by hand gives way
        node["version"] = env.aggregate_version
        self.changed_krs[ev.key_result_id] |= _PROGRESS_COLUMNS
        self.changed_nodes[ev.goal_id] |= _PROGRESS_TOUCHED
        self.dirty.add(ev.goal_id)

    async def roll_up(self) -> None:
        """Recompute every dirty goal and its ancestors, deepest first."""
        # A goal can be dirty without being named by an event (the parent of a retired
        # child): load it, or it and its ancestors would silently keep their old progress.
        await self.load(self.dirty)
        frontier = set(self.dirty)
        for _ in range(MAX_DEPTH):
            parents = {self.nodes[g]["parent_id"] for g in frontier if g in self.nodes} - {None}
            await self.load(parents)
            parents = {p for p in parents if p in self.nodes} - self.dirty
            if not parents:
                break
            self.dirty |= parents
            frontier = parents
        dirty = [g for g in self.dirty if g in self.nodes]
        if not dirty:
            return
        children: dict[str, list[Child]] = defaultdict(list)
        reads = _READS[self.session.get_bind().dialect.name == "postgresql"]
        rows = await self.session.execute(reads.children, {"ids": dirty})
        for row in rows:
            if row.goal_id not in self.nodes:  # the working set's copy is newer
                children[row.parent_id].append((row.progress, row.weight, row.status))
        in_memory: dict[str, list[dict[str, Any]]] = defaultdict(list)  # children by parent, once
        for child in self.nodes.values():
            if child["parent_id"]:
                in_memory[child["parent_id"]].append(child)
        for order_key, goal_id in sorted((-self._depth(g), g) for g in dirty):
            del order_key
            node = self.nodes[goal_id]
            kids = [
                (child["progress"], child["weight"], child["status"]) for child in in_memory.get(goal_id, ())
            ]
            krs = [(self.krs[k]["progress"], self.krs[k]["weight"]) for k in self.krs_of.get(goal_id, [])]
            progress = goal_progress(
                node["progress_rollup"], krs, [*children[goal_id], *kids], node["status"] == "completed"
            )
            if progress != node["progress"]:
                node["progress"] = progress
                self.changed_nodes[goal_id].add("progress")

    def _depth(self, goal_id: str) -> int:
        depth, node = 0, self.nodes.get(goal_id)
        while node is not None and node["parent_id"] and depth < MAX_DEPTH:
            depth += 1
            node = self.nodes.get(node["parent_id"])
        return depth

    async def write(self) -> None:
        """Write what changed, and start again with nothing pending."""
        await self._write()
        for held in self._pending.values():
            held.clear()

    async def _write(self) -> None:
        session = self.session
        if self.new_nodes:
            await session.execute(insert(goal_nodes), [self.nodes[g] for g in self.new_nodes])
        if self.new_krs:
            await session.execute(insert(goal_key_results), [self.krs[k] for k in self.new_krs])
        await _update_many(session, goal_nodes, "goal_id", self.nodes, self.changed_nodes, self.new_nodes)
        await _update_many(
            session, goal_key_results, "key_result_id", self.krs, self.changed_krs, self.new_krs
        )
        if self.removed_krs:
            await session.execute(
                delete(goal_key_results).where(goal_key_results.c.key_result_id.in_(self.removed_krs))
            )


async def _update_many(
    session: Transaction,
    table: Any,
    key: str,
    rows: dict[str, dict[str, Any]],
    changed: dict[str, set[str]],
    new: set[str],
) -> None:
    """Write back the changed columns of the changed rows (not the new ones: inserted).

    Rows are grouped by the columns that changed, one executemany per group: a batch of
    progress updates sets four columns of each row instead of all twenty (the rebuild
    rewrote whole rows, and binding every column of each was most of its writing)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    where = f"_{key}"  # a bound parameter cannot share a column's name
    for row_key, columns in changed.items():
        if row_key in new or not columns:
            continue
        row = rows[row_key]
        params = {column: row[column] for column in columns}
        params[where] = row_key
        groups[frozenset(columns)].append(params)
    postgres = session.get_bind().dialect.name == "postgresql"
    for names, group in groups.items():
        if (
            postgres
            and len(group) >= _SET_BASED
            and not any(isinstance(table.c[n].type, JSON) for n in names)
        ):
            # one set-based statement per large group: asyncpg's executemany of 30,000 rows
            # cost twice SQLite's writes in a rebuild (for a few rows it is the cheaper one)
            arrays = {f"_{n}_values": [row[n] for row in group] for n in names}
            arrays["_keys"] = [row[where] for row in group]
            await session.execute(_update_from_arrays(table, key, names), arrays)
        else:
            await session.execute(_update_statement(table, key, names), group)


_SET_BASED = 200  # rows of a group from which PostgreSQL gets one UPDATE … FROM unnest(…)


@functools.cache
def _update_from_arrays(table: Any, key: str, columns: frozenset[str]) -> Any:
    """PostgreSQL: ``UPDATE table SET c = v.c … FROM unnest(:keys, :c_values, …) AS v(…)``."""
    names = sorted(columns)
    rows = (
        func.unnest(
            bindparam("_keys", type_=ARRAY(table.c[key].type)),
            *(bindparam(f"_{n}_values", type_=ARRAY(table.c[n].type)) for n in names),
        )
        .table_valued("_key", *names)
        .render_derived(name="v")
    )
    return update(table).where(table.c[key] == rows.c["_key"]).values({n: rows.c[n] for n in names})


@functools.cache
def _update_statement(table: Any, key: str, columns: frozenset[str]) -> Any:
    return (
        update(table)
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({name: bindparam(name) for name in sorted(columns)})
    )


class AlignmentTree(Projection):
    name = "goals-alignment-tree"
    source = "goals"
    tables = (goal_nodes, goal_key_results)
    consumes = (
        GoalCreated,
        GoalChanged,
        GoalAligned,
        GoalUnaligned,
        KeyResultAdded,
        KeyResultChanged,
        KeyResultRemoved,
        KeyResultProgressRecorded,
        GoalStatusChanged,
        GoalCompleted,
        GoalRetired,
        RealignmentRequested,
        RealignmentResolved,
    )

    async def handle(self, session: Transaction, recorded: RecordedEvent) -> None:
        await self.handle_batch(session, [recorded])

    async def handle_batch(self, session: Transaction, batch: list[RecordedEvent]) -> None:
        ws = _WorkingSet(session)
        referenced: set[str] = set()
        for recorded in batch:
            ev = recorded.event
            for attr in _references(type(ev)):
                value = getattr(ev, attr)
                if value:
                    referenced.add(value)
        await ws.load(referenced)
        for recorded in batch:
            self._apply(ws, recorded)
        if rebuild_commits_after(session):
            await ws.roll_up()
            await ws.write()

    def _apply(self, ws: _WorkingSet, recorded: RecordedEvent) -> None:
        ev, env = recorded.event, recorded.envelope
        match ev:
            # progress first: most of any goal's history (the cases are disjoint types)
            case KeyResultProgressRecorded():
                ws.record_progress(ev, env)
            case GoalCreated():
                ws.absent("goal", ev.goal_id, ws.nodes)
                ws.nodes[ev.goal_id] = {
                    "goal_id": ev.goal_id,
                    "tenant_id": env.tenant_id,
                    "level": ev.level,
                    "title": ev.title,
                    "description": ev.description,
                    "owner_id": ev.owner_id,
                    "team_id": ev.team_id,
                    "period": ev.period,
                    "start_date": ev.start_date,
                    "due_date": ev.due_date,
                    "status": "on_track",
                    "status_by_hand": False,
                    "kind": ev.kind,
                    "parent_id": ev.parent_id,
                    "progress_rollup": ev.progress_rollup,
                    "weight": ev.weight,
                    "progress": 0.0,
                    "realignment_causes": [],
                    "version": env.aggregate_version,
                    "created_at": env.occurred_at,
                    "updated_at": env.occurred_at,
                }
                ws.new_nodes.add(ev.goal_id)
                ws.dirty.add(ev.goal_id)
            case GoalChanged():
                values = {k: v for k, v in ev.changes.items() if k in CHANGEABLE}
                for key in DATES:
                    if values.get(key):
                        values[key] = dt.date.fromisoformat(str(values[key]))
                node = ws.touch(ev.goal_id, recorded, **values)
                if "weight" in values and node["parent_id"]:
                    ws.dirty.add(node["parent_id"])
                if "progress_rollup" in values:
                    ws.dirty.add(ev.goal_id)
            case GoalAligned():
                ws.touch(ev.goal_id, recorded, parent_id=ev.parent_id)
                ws.dirty |= {
                    ev.goal_id,
                    ev.parent_id,
                    *([ev.previous_parent_id] if ev.previous_parent_id else []),
                }
            case GoalUnaligned():
                ws.touch(ev.goal_id, recorded, parent_id=None)
                ws.dirty.add(ev.previous_parent_id)
            case KeyResultAdded():
                ws.absent("key result", ev.key_result_id, ws.krs)
                ws.krs[ev.key_result_id] = {
                    "key_result_id": ev.key_result_id,
                    "goal_id": ev.goal_id,
                    "tenant_id": env.tenant_id,
                    "name": ev.name,
                    "start": ev.start,
                    "target": ev.target,
                    "current": ev.current,
                    "unit": ev.unit,
                    "weight": ev.weight,
                    "progress": key_result_progress(ev.start, ev.target, ev.current),
                    "confidence": None,
                    "updated_at": env.occurred_at,
                }
                ws.krs_of[ev.goal_id].append(ev.key_result_id)
                ws.new_krs.add(ev.key_result_id)
                ws.touch(ev.goal_id, recorded)
                ws.dirty.add(ev.goal_id)
            case KeyResultChanged():
                kr = ws.change_key_result(
                    ev.key_result_id,
                    **{f: getattr(ev, f) for f in KEY_RESULT_FIELDS if getattr(ev, f) is not None},
                    updated_at=env.occurred_at,
                )
                ws.change_key_result(
                    ev.key_result_id, progress=key_result_progress(kr["start"], kr["target"], kr["current"])
                )
                ws.touch(ev.goal_id, recorded)
                ws.dirty.add(ev.goal_id)
            case KeyResultRemoved():
                ws.key_result(ev.key_result_id)
                ws.remove_key_result(ev.goal_id, ev.key_result_id)
                ws.touch(ev.goal_id, recorded)
                ws.dirty.add(ev.goal_id)
            case GoalStatusChanged():
                ws.touch(ev.goal_id, recorded, status=ev.status, status_by_hand=True)
            case GoalCompleted():
                ws.touch(ev.goal_id, recorded, status="completed")
                ws.dirty.add(ev.goal_id)
            case GoalRetired():
                node = ws.touch(ev.goal_id, recorded, status="retired")
                if node["parent_id"]:
                    ws.dirty.add(node["parent_id"])
            case RealignmentRequested():
                node = ws.node(ev.goal_id)
                causes = [
                    *node["realignment_causes"],
                    *([] if ev.cause_event_id in node["realignment_causes"] else [ev.cause_event_id]),
                ]
                ws.touch(ev.goal_id, recorded, realignment_causes=causes)
            case RealignmentResolved():
                node = ws.node(ev.goal_id)
                causes = [c for c in node["realignment_causes"] if c not in ev.cause_event_ids]
                ws.touch(ev.goal_id, recorded, realignment_causes=causes)


@dataclass(frozen=True)
class _Reads:
    """The working set's reads, one statement for any number of goals (``one_of``)."""

    nodes: Any
    key_results: Any
    children: Any

    @classmethod
    def built(cls, *, postgres: bool) -> _Reads:
        c = goal_nodes.c
        return cls(
            nodes=select(goal_nodes).where(one_of(c.goal_id, "ids", postgres=postgres)),
            key_results=select(goal_key_results).where(
                one_of(goal_key_results.c.goal_id, "ids", postgres=postgres)
            ),
            children=select(c.goal_id, c.parent_id, c.progress, c.weight, c.status).where(
                one_of(c.parent_id, "ids", postgres=postgres)
            ),
        )


_READS = {postgres: _Reads.built(postgres=postgres) for postgres in (False, True)}
