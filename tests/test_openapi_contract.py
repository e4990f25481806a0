"""Every service against its own OpenAPI document, with schemathesis.

The four services run for real (uvicorn on a port, their runtime on PostgreSQL and a
nats-server); schemathesis reads each one's ``/openapi.json`` and sends a few generated
requests per operation, valid and invalid, with the tokens of an admin, HR, a manager and
an employee. Any server error, status code the document does not list, response that
breaks its schema (the error body included) or schema-violating request that is accepted
fails the test. Bounded: a few examples per operation, fixed seeds, one time budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from trellis.contracts import SERVICES
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import ServiceDefinition, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET, ServiceSettings
from trellis.feedback.bootstrap import SERVICE as FEEDBACK
from trellis.feedback.bootstrap import FeedbackSettings
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.notifications.settings import NotificationsSettings
from trellis.onboarding.bootstrap import SERVICE as ONBOARDING
from trellis.onboarding.bootstrap import OnboardingSettings
from trellis.testing import postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]

TENANT = "acme"
DEFINITIONS: list[tuple[ServiceDefinition, type[ServiceSettings]]] = [
    (GOALS, GoalsSettings),
    (ONBOARDING, OnboardingSettings),
    (FEEDBACK, FeedbackSettings),
    (NOTIFICATIONS, NotificationsSettings),
]
EXAMPLES = {GenerationMode.POSITIVE: 5, GenerationMode.NEGATIVE: 3}
BUDGET = 100.0  # seconds for all four services; on an idle 2-core machine the examples take ~35
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def bearer(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(secret=DEV_JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


CALLERS = [
    bearer("ceo", "admin", "hr", "manager", "employee"),
    bearer("hana", "hr", "employee"),
    bearer("mia", "manager", "employee"),
    bearer("nora", "employee"),
]


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free port, its lifespan (the runtime) started."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        await app.state.runtime.wait_ready()
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Findings:
    failures: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    operations: int = 0  # operations given their examples
    unfinished: int = 0  # operations the time budget left out


def fuzz(base_url: str, mode: GenerationMode, deadline: float) -> Findings:
    """What breaks the contract at ``base_url`` with cases of ``mode``: one entry per failing case."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    session = requests.Session()
    found = Findings()

    def check(case: Any, who: dict[str, str]) -> None:
        response = case.call(base_url=base_url, session=session, headers=who, timeout=30)
        found.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=who)
        except (Exception, BaseExceptionGroup) as exc:  # a failure group: list every failing case
            problems = " | ".join(str(e).splitlines()[0] for e in getattr(exc, "exceptions", [exc]))
            found.failures.append(
                f"{case.operation.label} ({mode.value}): {response.status_code} "
                f"{response.text[:300]!r}: {problems}\n    {case.as_curl_command()}"
            )

    for result in schema.get_all_operations():
        if time.monotonic() > deadline:
            found.unfinished += 1
            continue
        _each_case(result.ok().as_strategy(generation_mode=mode), EXAMPLES[mode], check)
        found.operations += 1
    return found


def _each_case(strategy: Any, examples: int, check: Callable[[Any, dict[str, str]], None]) -> None:
    """``check`` on ``examples`` cases, each with one of the callers; no shrinking (the
    failures are listed, not raised)."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, who=st.sampled_from(CALLERS))
    def each(case: Any, who: dict[str, str]) -> None:
        check(case, who)

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no input at all)
        each()


@pytest.fixture
async def services(postgres_url: str | None, nats_url: str, subject_root: str, tmp_path: Path) -> Any:
    async with contextlib.AsyncExitStack() as stack:
        nc = await connect(nats_url, name="openapi-contract-test")
        stack.push_async_callback(nc.close)
        subjects = Subjects(subject_root)
        for source in SERVICES:  # every stream exists, as when every service runs
            await ensure_stream(
                nc.jetstream(), StreamSpec(subjects.stream(source), [subjects.all_of(source)])
            )
        urls: dict[str, str] = {}
        for definition, settings_class in DEFINITIONS:
            db = await stack.enter_async_context(postgres_database(postgres_url))
            app_settings = settings_class(
                database_url=db.url,
                database_schema=db.schema,
                nats_url=nats_url,
                subject_root=subject_root,
                data_dir=tmp_path / definition.name,
                run_workers=False,  # no webhook deliveries to generated URLs
            )
            urls[definition.name] = await stack.enter_async_context(
                serving(create_app(definition, app_settings))
            )
        yield urls


async def test_every_service_answers_as_its_openapi_document_says(services: dict[str, str]) -> None:
    """Valid cases for every operation of every service first, then invalid ones while the
    budget lasts (a loaded machine runs fewer of those, and says so)."""
    deadline = time.monotonic() + BUDGET
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for name, url in services.items():
            found = await asyncio.to_thread(fuzz, url, mode, deadline)
            failures += [f"[{name}] {line}" for line in found.failures]
            statuses += found.statuses
            if mode is GenerationMode.POSITIVE:
                assert found.unfinished == 0, f"{name}: the budget ran out before every valid case"
            elif found.unfinished:
                warnings.warn(f"{name}: {found.unfinished} operations had no invalid cases", stacklevel=1)
    assert statuses[201] > 0 and statuses[200] > 0, statuses  # the cases reached the services
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures[:40])
