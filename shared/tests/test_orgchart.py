"""The org chart replica: reporting lines and teams at any depth, kept right through moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.onboarding import (
    EmployeeHired,
    EmployeeManagerChanged,
    EmployeeOffboarded,
    EmployeeTeamChanged,
    TeamCreated,
    TeamMoved,
    registry,
)
from trellis.core.store.database import create_engine
from trellis.core.store.migrate import migrate
from trellis.core.store.sessions import session_factory
from trellis.orgchart import MIGRATIONS, OrgChart, OrgDirectory
from trellis.testing import Database

TENANT = "acme"


class Org:
    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.chart = OrgChart("test")
        self.directory = OrgDirectory()
        self.versions: dict[str, int] = {}

    async def apply(self, aggregate_id: str, ev: Any, tenant: str = TENANT) -> None:
        version = self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        envelope = EventEnvelope(
            event_type=ev.event_type,
            schema_version=ev.schema_version,
            tenant_id=tenant,
            aggregate_type=ev.aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=version,
            actor_id="hr",
            correlation_id="c",
            payload=ev.model_dump(mode="json"),
        )
        async with self.sessions() as session, session.begin():
            await self.chart.handle(session, registry.recorded(envelope))

    async def hire(
        self, who: str, manager: str | None = None, team: str | None = None, tenant: str = TENANT
    ) -> None:
        await self.apply(
            who,
            EmployeeHired(
                employee_id=who,
                name=who,
                email=f"{who}@x.test",
                start_date=dt.date(2026, 1, 5),
                manager_id=manager,
                team_id=team,
            ),
            tenant,
        )

    async def ask(self, question: str, *args: Any, **kw: Any) -> Any:
        async with self.sessions() as session:
            return await getattr(self.directory, question)(session, TENANT, *args, **kw)


@pytest.fixture
async def org(database: Database) -> AsyncIterator[Org]:
    engine = create_engine(database.url, schema=database.schema)
    await migrate(engine, MIGRATIONS, schema=database.schema)
    try:
        yield Org(session_factory(engine))
    finally:
        await engine.dispose()


async def test_reporting_lines_answer_at_any_depth(org: Org) -> None:
    await org.hire("ceo")
    await org.hire("vp", "ceo")
    await org.hire("mgr", "vp")
    await org.hire("ic", "mgr")
    await org.hire("ic2", "mgr")
    assert await org.ask("manager_chain", "ic") == ["mgr", "vp", "ceo"]
    assert await org.ask("reports", "mgr") == ["ic", "ic2"]
    assert sorted(await org.ask("reports", "ceo", indirect=True)) == ["ic", "ic2", "mgr", "vp"]
    assert await org.ask("manages", "vp", "ic")
    assert not await org.ask("manages", "vp", "ic", indirect=False)
    assert not await org.ask("manages", "ic", "ceo")
    assert not await org.ask("manages", "ic", "ic")


async def test_a_manager_change_moves_the_whole_subtree(org: Org) -> None:
    for who, manager in (("ceo", None), ("vp", "ceo"), ("vp2", "ceo"), ("mgr", "vp"), ("ic", "mgr")):
        await org.hire(who, manager)
    await org.apply(
        "mgr", EmployeeManagerChanged(employee_id="mgr", manager_id="vp2", previous_manager_id="vp")
    )
    assert await org.ask("manager_chain", "ic") == ["mgr", "vp2", "ceo"]
    assert not await org.ask("manages", "vp", "ic")
    assert await org.ask("reports", "vp") == []
    assert sorted(await org.ask("reports", "vp2", indirect=True)) == ["ic", "mgr"]
    await org.apply(
        "mgr", EmployeeManagerChanged(employee_id="mgr", manager_id=None, previous_manager_id="vp2")
    )
    assert await org.ask("manager_chain", "ic") == ["mgr"]
    assert await org.ask("manager_chain", "mgr") == []


async def test_a_manager_cycle_is_refused_by_the_replica_too(org: Org) -> None:
    await org.hire("a")
    await org.hire("b", "a")
    with pytest.raises(ValueError, match="cycle"):
        await org.apply(
            "a", EmployeeManagerChanged(employee_id="a", manager_id="b", previous_manager_id=None)
        )
    assert await org.ask("manager_chain", "b") == ["a"]


async def test_team_members_include_the_teams_beneath_and_follow_moves(org: Org) -> None:
    await org.apply("eng", TeamCreated(team_id="eng", name="Engineering"))
    await org.apply("product", TeamCreated(team_id="product", name="Product"))
    await org.apply("platform", TeamCreated(team_id="platform", name="Platform", parent_team_id="eng"))
    await org.apply("infra", TeamCreated(team_id="infra", name="Infra", parent_team_id="platform"))
    await org.hire("ana", team="eng")
    await org.hire("ben", team="infra")
    await org.hire("cy", team="product")
    assert await org.ask("team_members", "eng") == ["ana", "ben"]
    assert await org.ask("team_members", "eng", subtree=False) == ["ana"]
    await org.apply(
        "infra", TeamMoved(team_id="infra", parent_team_id="product", previous_parent_team_id="platform")
    )
    assert await org.ask("team_members", "eng") == ["ana"]
    assert await org.ask("team_members", "product") == ["ben", "cy"]
    await org.apply("cy", EmployeeTeamChanged(employee_id="cy", team_id="eng", previous_team_id="product"))
    await org.apply("ana", EmployeeOffboarded(employee_id="ana", last_day=dt.date(2026, 6, 30)))
    assert await org.ask("team_members", "eng") == ["cy"]
    assert (await org.ask("employee", "ana")).active is False


async def test_another_tenant_sees_nothing(org: Org) -> None:
    await org.hire("boss")
    await org.hire("worker", "boss")
    await org.hire("worker", "boss", tenant="other")  # the same ids elsewhere
    assert await org.ask("reports", "boss") == ["worker"]
    async with org.sessions() as session:
        assert await org.directory.reports(session, "nobody", "boss") == []
