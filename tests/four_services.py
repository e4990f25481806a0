"""The four services running in process on one nats-server, each on its own SQLite file,
for the cross-service tests of the HTTP edge (strict requests, security probes)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from trellis.contracts import SERVICES
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, ServiceDefinition, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.feedback.bootstrap import SERVICE as FEEDBACK
from trellis.feedback.bootstrap import FeedbackSettings
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.notifications.settings import NotificationsSettings
from trellis.onboarding.bootstrap import SERVICE as ONBOARDING
from trellis.onboarding.bootstrap import OnboardingSettings


def auth(employee: str, *roles: str, tenant: str = "acme") -> dict[str, str]:
    token = mint_token(secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth("ceo", "admin", "hr", "manager")
DEFINITIONS: dict[str, tuple[ServiceDefinition, Any]] = {
    "goals": (GOALS, GoalsSettings),
    "onboarding": (ONBOARDING, OnboardingSettings),
    "feedback": (FEEDBACK, FeedbackSettings),
    "notifications": (NOTIFICATIONS, NotificationsSettings),
}


def client_of(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client of a running service's app (in process)."""
    name = app.state.runtime.definition.name
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")


@contextlib.asynccontextmanager
async def four_services(
    nats_url: str, subject_root: str, data_dir: Path
) -> AsyncIterator[dict[str, FastAPI]]:
    """The four services' apps, each started on its own SQLite database (runtime:
    ``app.state.runtime``)."""
    nc = await connect(nats_url, name="strict-requests-test")
    subjects = Subjects(subject_root)
    for source in SERVICES:
        await ensure_stream(nc.jetstream(), StreamSpec(subjects.stream(source), [subjects.all_of(source)]))
    apps: dict[str, FastAPI] = {}
    runtimes: list[Runtime] = []
    try:
        for name, (definition, settings_type) in DEFINITIONS.items():
            settings = settings_type(
                database_url=f"sqlite+aiosqlite:///{data_dir / (name + '.db')}",
                nats_url=nats_url,
                subject_root=subject_root,
                data_dir=data_dir / name,
                **({"webhook_allow_private_urls": True} if name == "notifications" else {}),
            )
            app = create_app(definition, settings)
            runtime: Runtime = app.state.runtime
            await runtime.start()
            runtimes.append(runtime)
            apps[name] = app
        for runtime in runtimes:
            await runtime.wait_ready()
        yield apps
    finally:
        for runtime in runtimes:
            await runtime.stop()
        await nc.close()
