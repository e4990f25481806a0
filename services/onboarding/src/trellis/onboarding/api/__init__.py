"""The onboarding service's HTTP API: thin translation of requests into commands and queries."""

from __future__ import annotations

from fastapi import APIRouter

from trellis.onboarding.api.mentorships import router as mentorships_router
from trellis.onboarding.api.onboarding import router as onboarding_router
from trellis.onboarding.api.org import router as org_router
from trellis.onboarding.api.trainings import router as trainings_router


def routers() -> list[APIRouter]:
    return [org_router, onboarding_router, trainings_router, mentorships_router]
