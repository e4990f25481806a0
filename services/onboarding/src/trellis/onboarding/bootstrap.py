"""Wires the onboarding service: settings, events, migrations, projections, deadlines, API."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from trellis.contracts import registry_of
from trellis.contracts.onboarding import registry
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.runtime.settings import ServiceSettings
from trellis.onboarding.api import routers
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.catalogue import CatalogueCommands
from trellis.onboarding.application.enrolments import EnrolmentCommands
from trellis.onboarding.application.mentorships import MentorshipCommands
from trellis.onboarding.application.missed_milestones import (
    MILESTONE_DUE,
    MILESTONE_DUE_SOON,
    MilestonesDueSoon,
    MissedMilestones,
)
from trellis.onboarding.application.org import OrgCommands
from trellis.onboarding.application.plans import PlanCommands
from trellis.onboarding.application.trainings_due import TRAINING_DUE_SOON, TrainingsDueSoon
from trellis.onboarding.application.wiring import OnboardingApplication
from trellis.onboarding.views.development import DevelopmentRecords
from trellis.onboarding.views.plans import OnboardingPlans
from trellis.orgchart import MIGRATIONS as ORGCHART_MIGRATIONS
from trellis.orgchart import OrgChart


class OnboardingSettings(ServiceSettings):
    """Environment prefix ``TRELLIS_ONBOARDING_`` (e.g. ``TRELLIS_ONBOARDING_DATABASE_URL``)."""

    model_config = SettingsConfigDict(env_prefix="TRELLIS_ONBOARDING_", extra="ignore")

    service: str = "onboarding"
    http_port: int = 8002


def build(runtime: Runtime) -> OnboardingApplication:
    aggregates = Aggregates(runtime.store)
    enrolments = EnrolmentCommands(runtime.sessions, aggregates, runtime.clock)
    plans = PlanCommands(runtime.sessions, aggregates, runtime.clock, enrolments)
    return OnboardingApplication(
        aggregates=aggregates,
        plans=plans,
        org=OrgCommands(runtime.sessions, aggregates, plans),
        catalogue=CatalogueCommands(runtime.sessions, aggregates),
        enrolments=enrolments,
        mentorships=MentorshipCommands(runtime.sessions, aggregates, runtime.clock),
        consumers=[OrgChart("onboarding"), OnboardingPlans(), DevelopmentRecords()],
        deadlines={
            MILESTONE_DUE: MissedMilestones(aggregates),
            MILESTONE_DUE_SOON: MilestonesDueSoon(aggregates),
            TRAINING_DUE_SOON: TrainingsDueSoon(aggregates),
        },
    )


SERVICE = ServiceDefinition(
    contracts=registry_of,
    name="onboarding",
    title="Trellis onboarding",
    description=(
        "Employees and the org structure (the source of truth every other service learns "
        "the org from), onboarding templates and plans with milestones, missed milestones "
        "detected exactly once, and people's development: the training catalogue, "
        "enrolments and mentorships."
    ),
    settings=OnboardingSettings,
    registry=registry,
    migrations=(Path(__file__).parent / "migrations" / "versions", ORGCHART_MIGRATIONS),
    build=build,
    routers=routers,
)
