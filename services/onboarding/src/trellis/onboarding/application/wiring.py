"""The onboarding service's parts, as its routers and deadline handlers use them."""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.runtime.service import Application
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.catalogue import CatalogueCommands
from trellis.onboarding.application.enrolments import EnrolmentCommands
from trellis.onboarding.application.mentorships import MentorshipCommands
from trellis.onboarding.application.org import OrgCommands
from trellis.onboarding.application.plans import PlanCommands


@dataclass
class OnboardingApplication(Application):
    aggregates: Aggregates
    plans: PlanCommands
    org: OrgCommands
    catalogue: CatalogueCommands
    enrolments: EnrolmentCommands
    mentorships: MentorshipCommands
