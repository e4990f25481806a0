"""Roll-ups are right: every ancestor follows a child leaving or joining, read-your-writes
gives what the view will, and no number a goal may hold breaks the view or its rebuild."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from trellis.contracts.envelope import Metadata
from trellis.contracts.goals import GoalCreated, KeyResultAdded
from trellis.core.consuming.projection import rebuild_commits_after
from trellis.core.rebuild.event_sources import StoreSource
from trellis.core.rebuild.rebuilder import Rebuild, rebuild
from trellis.core.runtime.api_kit import application_in
from trellis.core.runtime.auth import Actor
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.store.tables import dead_letters, processed_events
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.goals.views import alignment_tree
from trellis.goals.views.tables import goal_key_results, goal_nodes
from trellis.testing import Database, eventually

from ..conftest import ADMIN, TENANT, GoalsService, auth
from .test_goals_api import create, find_in_tree

MANAGER = auth("mia", "manager", "employee")
EMPLOYEE = auth("emil", "employee")


async def key_result(client: Any, goal: str, start: float, target: float, **body: Any) -> str:
    resp = await client.post(
        f"/v1/goals/{goal}/key-results",
        json={"name": "k", "start": start, "target": target, **body},
        headers=ADMIN,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["key_result_id"])


async def record(client: Any, goal: str, kr: str, value: float, **body: Any) -> None:
    resp = await client.post(
        f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": value, **body}, headers=ADMIN
    )
    assert resp.status_code == 200, resp.text


async def individual(client: Any, parent: str, done: float) -> str:
    """An individual goal under ``parent`` whose one key result is ``done`` of the way (0..1)."""
    goal = await create(client, EMPLOYEE, level="individual", title="I", parent_id=parent)
    kr = await key_result(client, goal, 0, 10)
    if done:
        await record(client, goal, kr, 10 * done)
    return goal


def tree_runner(goals: GoalsService) -> Any:
    return next(r for r in goals.runtime.runners if r.name == "goals-alignment-tree")


async def settled(goals: GoalsService) -> None:
    """Wait until the alignment tree has applied every event in the store."""
    name = tree_runner(goals).name

    async def done() -> bool:
        async with goals.runtime.sessions() as session:
            applied = (
                await session.execute(
                    select(func.count())
                    .select_from(processed_events)
                    .where(processed_events.c.consumer == name)
                )
            ).scalar()
        return applied == await goals.runtime.store.head()

    await eventually(done)


async def progress_everywhere(goals: GoalsService, goal: str) -> tuple[float, ...]:
    """A goal's progress as the tree, the objectives list (if an objective) and GET show it."""
    client = goals.client
    node = await find_in_tree(client, goal)
    assert node is not None
    shown = [node["progress"]]
    objectives = (await client.get("/v1/objectives", headers=ADMIN)).json()["objectives"]
    shown += [o["progress"] for o in objectives if o["id"] == goal]
    shown.append((await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["progress"])
    return tuple(shown)


async def command(goals: GoalsService, method: str, *args: Any) -> None:
    actor = Actor(employee_id="ceo", tenant_id=TENANT, roles=frozenset({"admin"}))
    await getattr(application_in(goals.runtime, GoalsApplication).commands, method)(actor, "test", *args)


# ---- every ancestor follows a child leaving or joining its roll-up -----------------------

CHANGES = ["retire", "complete", "unalign", "realign", "reweight"]


@pytest.mark.parametrize("change", CHANGES)
async def test_a_child_leaving_or_joining_a_roll_up_recomputes_every_ancestor(
    goals: GoalsService, change: str
) -> None:
    """O <- T (children) <- A (100 %), B (0 %); O <- T2 (children, none yet)."""
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="O")
    team = await create(
        client, MANAGER, level="team", title="T", parent_id=objective, progress_rollup="children"
    )
    other = await create(
        client, MANAGER, level="team", title="T2", parent_id=objective, progress_rollup="children"
    )
    a = await individual(client, team, 1.0)
    b = await individual(client, team, 0.0)
    await settled(goals)
    assert await progress_everywhere(goals, team) == (0.5, 0.5)
    assert await progress_everywhere(goals, objective) == (0.25, 0.25, 0.25)

    if change == "retire":  # B leaves: T is A alone
        await command(goals, "retire", b, None, "no longer needed")
        expected = {team: 1.0, other: 0.0, objective: 0.5}
    elif change == "complete":  # B counts 100 %
        await command(goals, "complete", b, None)
        expected = {team: 1.0, other: 0.0, objective: 0.5}
    elif change == "unalign":  # B leaves T, aligned to nothing
        await command(goals, "unalign", b, None)
        expected = {team: 1.0, other: 0.0, objective: 0.5}
    elif change == "realign":  # A leaves T and joins T2
        await command(goals, "align", a, other, None)
        expected = {team: 0.0, other: 1.0, objective: 0.5}
    else:  # A weighs three times B
        await command(goals, "change", a, None, {"weight": 3.0})
        expected = {team: 0.75, other: 0.0, objective: 0.375}
    await settled(goals)
    for goal, progress in expected.items():
        shown = await progress_everywhere(goals, goal)
        assert set(shown) == {progress}, (change, goal, shown)


# ---- read-your-writes gives what the view will --------------------------------------------


@pytest.fixture
async def lagging(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[GoalsService]:
    """The goals service with no consumer running: its views hold only what a test builds."""
    settings = GoalsSettings(
        database_url=database.url,
        database_schema=database.schema,
        nats_url=nats_url,
        subject_root=subject_root,
        data_dir=tmp_path,
        run_consumers=False,
    )
    app = create_app(SERVICE, settings)
    runtime: Runtime = app.state.runtime
    await runtime.start()
    await runtime.wait_ready()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://goals")
    try:
        yield GoalsService(runtime, client, org=None)  # type: ignore[arg-type]  # no org events here
    finally:
        await client.aclose()
        await runtime.stop()


async def catch_up(goals: GoalsService) -> None:
    """Bring the alignment tree up to every event in the store, as its consumer would."""
    await rebuild(tree_runner(goals).projection, goals.runtime.store)


@pytest.mark.parametrize("rollup", ["key_results", "children", "both"])
async def test_a_goal_read_right_after_a_write_is_what_the_view_gives_once_caught_up(
    lagging: GoalsService, rollup: str
) -> None:
    client = lagging.client
    objective = await create(client, ADMIN, level="company", title="O")
    team = await create(client, MANAGER, level="team", title="T", parent_id=objective, progress_rollup=rollup)
    kr = await key_result(client, team, 0, 50)
    await record(client, team, kr, 10, confidence=3)
    await individual(client, team, 0.5)
    retired = await individual(client, team, 1.0)
    await command(lagging, "retire", retired, None, "")
    await catch_up(lagging)

    await record(client, team, kr, 30, confidence=4, comment="check-in")
    await key_result(client, team, 100, 0, current=75, weight=2)  # a decreasing target, 25 % done
    written = (await client.get(f"/v1/goals/{team}", headers=ADMIN)).json()
    assert written["version"] > (await find_in_tree(client, team) or {})["version"]  # from the events
    assert [kr["confidence"] for kr in written["key_results"]] == [4, None]
    expected = {"key_results": round((0.6 + 2 * 0.25) / 3, 4), "children": 0.5, "both": 0.4}[rollup]
    assert written["progress"] == expected

    await catch_up(lagging)
    assert (await client.get(f"/v1/goals/{team}", headers=ADMIN)).json() == written


async def test_one_key_result_read_at_once_shows_its_own_progress_and_confidence(
    lagging: GoalsService,
) -> None:
    """The issue's case: 0 -> 50, at 10, no children: 0.2 (it read 0.1, confidence null)."""
    client = lagging.client
    goal = await create(client, EMPLOYEE, level="individual", title="Mine")
    await catch_up(lagging)
    kr = await key_result(client, goal, 0, 50)
    await record(client, goal, kr, 10, confidence=5)
    body = (await client.get(f"/v1/goals/{goal}", headers=EMPLOYEE)).json()
    assert body["progress"] == 0.2
    assert body["key_results"][0]["confidence"] == 5
    await catch_up(lagging)
    assert (await client.get(f"/v1/goals/{goal}", headers=EMPLOYEE)).json() == body


# ---- extreme numbers ------------------------------------------------------------------------


async def append(goals: GoalsService, goal_id: str, *events: Any, tenant: str = TENANT) -> None:
    """Append events as an older version of the service could have (no domain check)."""
    store = goals.runtime.store
    async with goals.runtime.sessions() as session, session.begin():
        version = await store.current_version(session, goal_id)
        await store.append(
            session,
            aggregate_type="goal",
            aggregate_id=goal_id,
            expected_version=version,
            events=list(events),
            metadata=Metadata(tenant_id=tenant, actor_id="ceo", correlation_id="old"),
        )


async def test_weights_of_1_7e308_roll_up_to_a_finite_progress_live_and_in_a_rebuild(
    goals: GoalsService,
) -> None:
    client = goals.client
    goal = await create(client, ADMIN, level="company", title="Old data")
    await append(
        goals,
        goal,
        *(
            KeyResultAdded(
                goal_id=goal,
                key_result_id=f"{goal}-{i}",
                name="k",
                start=0,
                target=1,
                current=min(i, 1),
                weight=1.7e308,
            )
            for i in (0, 1, 2)
        ),
    )
    await settled(goals)
    assert (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["progress"] == 0.6667
    projection = tree_runner(goals).projection
    result = await Rebuild(
        projection,
        engine=goals.runtime.engine,
        source=StoreSource(goals.runtime.store, projection.event_types()),
        subjects=goals.runtime.subjects,
    ).run()
    assert result.swapped and result.dead_lettered == 0
    async with goals.runtime.sessions() as session:
        progress = (await session.execute(select(goal_nodes.c.progress))).scalars().all()
    assert progress and all(math.isfinite(p) and 0 <= p <= 1 for p in progress)
    assert (await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["progress"] == 0.6667


async def test_a_rebuild_dead_letters_an_event_the_view_refuses_and_builds_the_rest(
    goals: GoalsService,
) -> None:
    """A corrupt event (a second creation of an existing goal) would break the view's key:
    the rebuild dead-letters it instead of stopping, and every other goal is rebuilt. In one
    batch with the first creation too, where the view's key would not see it (the rebuild
    writes a transaction's rows once): the view refuses it in memory."""
    client = goals.client
    first = await create(client, ADMIN, level="company", title="First")
    await append(
        goals, "corrupt", GoalCreated(goal_id=first, level="company", title="Again", owner_id="x", period="Q")
    )
    later = await create(client, ADMIN, level="company", title="Later")
    projection = tree_runner(goals).projection
    result = await Rebuild(
        projection,
        engine=goals.runtime.engine,
        source=StoreSource(goals.runtime.store, projection.event_types()),
        subjects=goals.runtime.subjects,
    ).run()
    assert result.swapped and result.dead_lettered == 1
    async with goals.runtime.sessions() as session:
        letters = (
            await session.execute(select(dead_letters).where(dead_letters.c.consumer == projection.name))
        ).all()
        titles = dict((await session.execute(select(goal_nodes.c.goal_id, goal_nodes.c.title))).all())
    assert {d.aggregate_id for d in letters} == {"corrupt"}
    assert "created twice" in letters[0].reason
    assert titles == {first: "First", later: "Later"}


@pytest.mark.parametrize("failing", [1, 3], ids=["first-of-its-transaction", "behind-held-back-writes"])
async def test_a_rebuild_keeps_rows_between_batches_and_equals_the_live_view_column_for_column(
    goals: GoalsService, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    """A rebuild keeps the rows of earlier batches in memory and reads only rows it has
    not seen, and writes them once a transaction. In batches of three, with one batch
    failing after it changed those rows, the rebuilt tree equals the live one in every
    column of every row. The first batch of its transaction is rolled back, the memory
    emptied, and gone through one event at a time; a later one, behind batches whose writes
    were held back, takes its transaction back with it, and those batches go through again
    one a transaction. On PostgreSQL the rebuild writes every group of changed rows
    set-based (``UPDATE … FROM unnest``), the live view row by row."""
    client = goals.client
    top = await create(client, ADMIN, level="company", title="Top")
    top_kr = await key_result(client, top, 0, 10)
    children = [await individual(client, top, done) for done in (0.5, 0.2, 0.0)]
    for value in (1, 4, 7):
        await record(client, top, top_kr, value)
    moved = await create(client, ADMIN, level="company", title="Other")
    resp = await client.put(f"/v1/goals/{children[2]}/alignment", json={"parent_id": moved}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    await record(client, top, top_kr, 9)
    await settled(goals)

    async def view() -> list[Any]:
        async with goals.runtime.sessions() as session:
            nodes = (await session.execute(select(goal_nodes).order_by(goal_nodes.c.goal_id))).all()
            krs = (
                await session.execute(select(goal_key_results).order_by(goal_key_results.c.key_result_id))
            ).all()
        return [*map(tuple, nodes), *map(tuple, krs)]

    live = await view()
    monkeypatch.setattr(alignment_tree, "_SET_BASED", 1)
    assert len(live) == 5 + 4  # five goals, four key results (the other company goal has none)
    source = tree_runner(goals).projection
    failed: list[int] = []
    batches: list[tuple[int, bool]] = []  # (events, whether its transaction commits after it)

    class FailsOnce(type(source)):  # type: ignore[misc]
        async def handle_batch(self, session: Any, batch: list[Any]) -> None:
            batches.append((len(batch), rebuild_commits_after(session)))
            await super().handle_batch(session, batch)
            if len(batches) == failing and not failed:  # after the batch changed the kept rows
                failed.append(len(batch))
                raise RuntimeError("a batch failing after it was applied")

    projection = FailsOnce()
    result = await Rebuild(
        projection,
        engine=goals.runtime.engine,
        source=StoreSource(goals.runtime.store, projection.event_types()),
        subjects=goals.runtime.subjects,
        batch_size=3,
        commit_every=12,  # four batches a transaction
    ).run()
    assert result.swapped and result.dead_lettered == 0 and failed == [3]
    assert await view() == live
    held_back = [commits for size, commits in batches if size == 3]
    assert False in held_back  # some batches did hold their writes back
    if failing == 3:  # the first two and the failing one went through again, alone
        assert batches[3:6] == [(3, True), (3, True), (3, True)]
