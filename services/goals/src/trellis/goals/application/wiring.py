"""The goals service's parts, as its routers use them."""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.runtime.service import Application
from trellis.core.store.repository import Repository
from trellis.goals.application.cascade import Cascades
from trellis.goals.application.commands import GoalCommands
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.pace import Thresholds


@dataclass
class GoalsApplication(Application):
    goals: Repository[Goal]
    commands: GoalCommands
    cascades: Cascades
    pace_thresholds: Thresholds
