"""The onboarding service's parts, as its routers and deadline handlers use them."""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.runtime.service import Application
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.org import OrgCommands
from trellis.onboarding.application.plans import PlanCommands


@dataclass
class OnboardingApplication(Application):
    aggregates: Aggregates
    plans: PlanCommands
    org: OrgCommands
