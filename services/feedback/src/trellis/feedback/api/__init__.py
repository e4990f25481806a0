"""The feedback service's HTTP API: thin routers translating requests into commands and queries."""

from __future__ import annotations

from fastapi import APIRouter

from trellis.feedback.api import agendas, checkins, feedback, kpis, recognition, reviews


def routers() -> list[APIRouter]:
    return [checkins.router, agendas.router, feedback.router, recognition.router, reviews.router, kpis.router]
