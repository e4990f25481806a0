"""The goals service's HTTP API: thin translation of requests into commands and queries."""

from __future__ import annotations

from fastapi import APIRouter

from trellis.goals.api.goals import router


def routers() -> list[APIRouter]:
    return [router]
