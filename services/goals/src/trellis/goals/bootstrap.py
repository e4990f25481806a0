"""Wires the goals service: settings, events, migrations, projections, API."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from trellis.contracts import registry_of
from trellis.contracts.goals import registry
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.runtime.settings import ServiceSettings
from trellis.core.store.repository import Repository
from trellis.goals.api import routers
from trellis.goals.application.cascade import Cascades
from trellis.goals.application.commands import GoalCommands
from trellis.goals.application.pace_policies import PacePolicies
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.goal_pace import GoalPace
from trellis.goals.domain.pace import Thresholds
from trellis.goals.domain.pace_policy import PacePolicy
from trellis.goals.reactions.checkin_progress import CheckInProgress
from trellis.goals.reactions.new_hire_goals import NewHireGoals
from trellis.goals.reactions.pace_watch import PaceWatch
from trellis.goals.reactions.realignment import Realignment
from trellis.goals.timekeeping.application.wiring import Timekeeping
from trellis.goals.views.alignment_tree import AlignmentTree
from trellis.orgchart import MIGRATIONS as ORGCHART_MIGRATIONS
from trellis.orgchart import OrgChart, OrgDirectory


class GoalsSettings(ServiceSettings):
    """Environment prefix ``TRELLIS_GOALS_`` (e.g. ``TRELLIS_GOALS_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_GOALS_", extra="ignore")

    service: str = "goals"
    http_port: int = 8001
    # Pace (domain/pace.py): on track while progress >= AT_RISK_BELOW x expected, at risk
    # while >= OFF_TRACK_BELOW x expected, off track below.
    pace_at_risk_below: float = Field(default=0.8, gt=0, le=1)
    pace_off_track_below: float = Field(default=0.5, gt=0, le=1)
    pace_grace: float = Field(default=0.1, ge=0, lt=1)  # nothing judged before this share elapsed
    # GoalPaceChanged events (reactions/pace_watch.py) and the manager's notification.
    pace_events: bool = True
    # GoalDueSoon: a goal still behind this many days before its due date (its owner is told).
    nudge_days_before_due: int = Field(default=7, ge=1, le=90)


def build(runtime: Runtime) -> GoalsApplication:
    goals = Repository(runtime.store, Goal)
    policies = PacePolicies(
        runtime.sessions, Repository(runtime.store, PacePolicy), _thresholds(runtime.settings)
    )
    pace = (
        PaceWatch(
            goals,
            Repository(runtime.store, GoalPace),
            runtime.clock,
            policies,
            _nudge_days(runtime.settings),
        )
        if _pace_events(runtime.settings)
        else None
    )
    return GoalsApplication(
        goals=goals,
        commands=GoalCommands(runtime.sessions, goals, OrgDirectory()),
        cascades=Cascades(runtime.sessions, goals, OrgDirectory()),
        pace_policies=policies,
        timekeeping=Timekeeping.on(runtime, goals),
        consumers=[
            AlignmentTree(),
            Realignment(goals),
            OrgChart("goals"),
            NewHireGoals(goals),
            CheckInProgress(goals),
            *([pace] if pace else []),
        ],
        deadlines=pace.handlers() if pace else {},
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


def _thresholds(settings: object) -> Thresholds:
    if not isinstance(settings, GoalsSettings):
        return Thresholds()
    try:
        return Thresholds(settings.pace_at_risk_below, settings.pace_off_track_below, settings.pace_grace)
    except ValueError as exc:
        raise ValueError(f"TRELLIS_GOALS_PACE_*: {exc}") from None


def _pace_events(settings: object) -> bool:
    return isinstance(settings, GoalsSettings) and settings.pace_events


def _nudge_days(settings: object) -> int:
    return settings.nudge_days_before_due if isinstance(settings, GoalsSettings) else 7
