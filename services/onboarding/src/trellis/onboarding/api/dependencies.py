"""What the onboarding routers share: dependencies, the command answer, the audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import Field

from trellis.core.runtime.api_kit import CommandAnswer, application_in, application_of
from trellis.core.runtime.service import Runtime
from trellis.core.store.accepted import Accepted
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.catalogue import CatalogueCommands
from trellis.onboarding.application.enrolments import EnrolmentCommands
from trellis.onboarding.application.mentorships import MentorshipCommands
from trellis.onboarding.application.org import OrgCommands
from trellis.onboarding.application.plans import PlanCommands
from trellis.onboarding.application.wiring import OnboardingApplication
from trellis.onboarding.domain.calendar import today


class OnboardingAnswer(CommandAnswer):
    """What a command did (``id``: the employee, team, template, plan, training, enrolment or
    mentorship changed)."""

    plan_id: str | None = Field(
        default=None,
        description="the plan started with a hire, or whose milestone a completed enrolment completed",
    )


def answer(result: Accepted) -> OnboardingAnswer:
    return OnboardingAnswer.of(result, plan_id=result.related.get("plan_id"))


Onboarding = Annotated[OnboardingApplication, Depends(application_of(OnboardingApplication))]


async def _org(onboarding: Onboarding) -> OrgCommands:
    return onboarding.org


async def _plans(onboarding: Onboarding) -> PlanCommands:
    return onboarding.plans


async def _catalogue(onboarding: Onboarding) -> CatalogueCommands:
    return onboarding.catalogue


async def _enrolments(onboarding: Onboarding) -> EnrolmentCommands:
    return onboarding.enrolments


async def _mentorships(onboarding: Onboarding) -> MentorshipCommands:
    return onboarding.mentorships


Org = Annotated[OrgCommands, Depends(_org)]
Plans = Annotated[PlanCommands, Depends(_plans)]
Catalogue = Annotated[CatalogueCommands, Depends(_catalogue)]
Enrolments = Annotated[EnrolmentCommands, Depends(_enrolments)]
Mentorships = Annotated[MentorshipCommands, Depends(_mentorships)]


def aggregates(runtime: Runtime) -> Aggregates:
    return application_in(runtime, OnboardingApplication).aggregates


def today_of(runtime: Runtime) -> Any:
    return today(runtime.clock.now())
