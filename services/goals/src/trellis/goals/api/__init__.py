"""The goals service's HTTP API: thin translation of requests into commands and queries."""

from __future__ import annotations

from fastapi import APIRouter

from trellis.goals.api.goals import router
from trellis.goals.api.pace_policy import router as pace_policy_router
from trellis.goals.timekeeping.api import router as timekeeping_router


def routers() -> list[APIRouter]:
    return [router, pace_policy_router, timekeeping_router]
