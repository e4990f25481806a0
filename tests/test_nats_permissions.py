"""deploy/nats/accounts.conf on a real nats-server: each service's user can do its own work
and nothing on another service's subjects."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from trellis.core.auth import mint_token
from trellis.core.embedded import EmbeddedNats
from trellis.core.messaging import connect
from trellis.core.service import create_app
from trellis.core.settings import DEV_JWT_SECRET
from trellis.core.testing import eventually
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings

ACCOUNTS = Path(__file__).parent.parent / "deploy" / "nats" / "accounts.conf"
USERS = ("goals", "onboarding", "feedback", "notifications", "ops", "sys")


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedNats, dict[str, str]]]:
    passwords = {user: uuid.uuid4().hex for user in USERS}
    mp = pytest.MonkeyPatch()
    for user, password in passwords.items():
        mp.setenv(f"{user.upper()}_NATS_PASSWORD", password)
    server = EmbeddedNats(tmp_path_factory.mktemp("secured-nats"), config_file=ACCOUNTS)
    try:
        server.start()
        yield server, passwords
    finally:
        server.stop()
        mp.undo()


def url_for(server: EmbeddedNats, passwords: dict[str, str], user: str) -> str:
    return f"nats://{user}:{passwords[user]}@127.0.0.1:{server.port}"


async def test_a_service_on_its_own_user_relays_and_consumes(
    secured_nats: tuple[EmbeddedNats, dict[str, str]], tmp_path: Path
) -> None:
    server, passwords = secured_nats
    settings = GoalsSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'goals.db'}",
        nats_url=url_for(server, passwords, "goals"),
        data_dir=tmp_path,
    )
    app = create_app(GOALS, settings)
    runtime = app.state.runtime
    await runtime.start()
    try:
        await runtime.wait_ready()
        token = mint_token(secret=DEV_JWT_SECRET, tenant="acme", employee="ceo", roles=["admin"])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://goals"
        ) as client:
            resp = await client.post(
                "/v1/goals",
                json={"level": "company", "title": "Grow", "period": "2026"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert resp.status_code == 201, resp.text
            goal_id = resp.json()["goal_id"]

            async def in_tree() -> bool:  # relayed (publish + fence), consumed, acked, applied
                body = (
                    await client.get("/v1/alignment-tree", headers={"Authorization": f"Bearer {token}"})
                ).json()
                return any(node["id"] == goal_id for node in body["roots"])

            await eventually(in_tree)
        assert await runtime.relay.pending() == 0
    finally:
        await runtime.stop()


async def test_a_service_user_cannot_touch_another_services_subjects(
    secured_nats: tuple[EmbeddedNats, dict[str, str]],
) -> None:
    server, passwords = secured_nats
    errors: list[str] = []
    onboarding = await connect(url_for(server, passwords, "onboarding"), name="onboarding")
    ojs = onboarding.jetstream()
    await ojs.add_stream(name="TRELLIS_ONBOARDING", subjects=["trellis.onboarding.>"])
    notifications = await connect(url_for(server, passwords, "notifications"), name="notifications")
    await notifications.jetstream().add_stream(
        name="TRELLIS_NOTIFICATIONS", subjects=["trellis.notifications.>"]
    )

    async def record(exc: Exception) -> None:
        errors.append(str(exc))

    goals = await nats.connect(url_for(server, passwords, "goals"), error_cb=record)
    gjs = goals.jetstream()
    try:
        with pytest.raises(Exception):  # noqa: B017 - refused: no ack ever comes
            await gjs.publish("trellis.onboarding.employee.EmployeeHired.acme.e-1", b"{}", timeout=1)
        await eventually(lambda: _true(any("permissions violation" in e.lower() for e in errors)))
        assert (await ojs.stream_info("TRELLIS_ONBOARDING")).state.messages == 0
        for forbidden in (
            lambda: gjs.delete_stream("TRELLIS_ONBOARDING"),
            lambda: gjs.add_stream(name="TRELLIS_EVIL", subjects=["trellis.evil.>"]),
            lambda: _consumer(gjs, "TRELLIS_NOTIFICATIONS"),  # goals does not consume notifications
        ):
            with pytest.raises(Exception):  # noqa: B017
                await forbidden()
        await _consumer(gjs, "TRELLIS_ONBOARDING")  # but may follow onboarding (its org chart)
    finally:
        await goals.close()
        await onboarding.close()
        await notifications.close()


async def _consumer(js: Any, stream: str) -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig

    return await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=f"goals-test-{dt.datetime.now().microsecond}", ack_policy=AckPolicy.EXPLICIT
        ),
        timeout=1,
    )


async def _true(value: bool) -> bool:
    return value
