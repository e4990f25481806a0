"""The goals service's parts, as its routers use them."""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.runtime.service import Application
from trellis.core.store.repository import Repository
from trellis.goals.application.cascade import Cascades
from trellis.goals.application.commands import GoalCommands
from trellis.goals.application.pace_policies import PacePolicies
from trellis.goals.domain.goal import Goal
from trellis.goals.timekeeping.application.wiring import Timekeeping


@dataclass
class GoalsApplication(Application):
    goals: Repository[Goal]
    commands: GoalCommands
    cascades: Cascades
    pace_policies: PacePolicies  # the thresholds of status by pace in force, per tenant
    timekeeping: Timekeeping  # private time tracking, hosted here (``trellis.goals.timekeeping``)
