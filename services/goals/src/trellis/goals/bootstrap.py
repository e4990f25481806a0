"""Wires the goals service: settings, events, migrations, projections, API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import SettingsConfigDict

from trellis.contracts import registry_of
from trellis.contracts.goals import registry
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.runtime.settings import ServiceSettings
from trellis.core.store.repository import Repository
from trellis.goals.api import router
from trellis.goals.application import GoalCommands
from trellis.goals.checkin_progress import CheckInProgress
from trellis.goals.domain.goal import Goal
from trellis.goals.new_hire_goals import NewHireGoals
from trellis.goals.realignment import Realignment
from trellis.goals.views.alignment_tree import AlignmentTree
from trellis.orgchart import MIGRATIONS as ORGCHART_MIGRATIONS
from trellis.orgchart import OrgChart, OrgDirectory


class GoalsSettings(ServiceSettings):
    """Environment prefix ``TRELLIS_GOALS_`` (e.g. ``TRELLIS_GOALS_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_GOALS_", extra="ignore")

    service: str = "goals"
    http_port: int = 8001


def _extras(runtime: Runtime) -> dict[str, Any]:
    goals = Repository(runtime.store, Goal)
    return {"goals": goals, "commands": GoalCommands(runtime.sessions, goals, OrgDirectory())}


def _projections(runtime: Runtime) -> list[Any]:
    goals = runtime.extras["goals"]
    return [
        AlignmentTree(),
        Realignment(goals),
        OrgChart("goals"),
        NewHireGoals(goals),
        CheckInProgress(goals),
    ]


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
    projections=_projections,
    routers=lambda: [router],
    extras=_extras,
)
