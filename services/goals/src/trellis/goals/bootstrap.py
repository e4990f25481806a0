"""Wires the goals service: settings, events, migrations, projections, API."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from trellis.contracts import registry_of
from trellis.contracts.goals import registry
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.runtime.settings import ServiceSettings
from trellis.core.store.repository import Repository
from trellis.goals.api import routers
from trellis.goals.application.cascade import Cascades
from trellis.goals.application.commands import GoalCommands
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.domain.goal import Goal
from trellis.goals.reactions.checkin_progress import CheckInProgress
from trellis.goals.reactions.new_hire_goals import NewHireGoals
from trellis.goals.reactions.realignment import Realignment
from trellis.goals.views.alignment_tree import AlignmentTree
from trellis.orgchart import MIGRATIONS as ORGCHART_MIGRATIONS
from trellis.orgchart import OrgChart, OrgDirectory


class GoalsSettings(ServiceSettings):
    """Environment prefix ``TRELLIS_GOALS_`` (e.g. ``TRELLIS_GOALS_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_GOALS_", extra="ignore")

    service: str = "goals"
    http_port: int = 8001


def build(runtime: Runtime) -> GoalsApplication:
    goals = Repository(runtime.store, Goal)
    return GoalsApplication(
        goals=goals,
        commands=GoalCommands(runtime.sessions, goals, OrgDirectory()),
        cascades=Cascades(runtime.sessions, goals, OrgDirectory()),
        consumers=[
            AlignmentTree(),
            Realignment(goals),
            OrgChart("goals"),
            NewHireGoals(goals),
            CheckInProgress(goals),
        ],
    )


SERVICE = ServiceDefinition(
    contracts=registry_of,
    name="goals",
    title="Trellis goals",
    description=(
        "Company objectives, team and individual goals, key results, the alignment tree "
        "with rolled-up progress, and realignment when an objective changes."
    ),
    settings=GoalsSettings,
    registry=registry,
    migrations=(Path(__file__).parent / "migrations" / "versions", ORGCHART_MIGRATIONS),
    build=build,
    routers=routers,
)
