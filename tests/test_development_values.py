"""Development secrets, the development anonymity key and the test clock run only in the
embedded run (`trellis up` on SQLite): a service started anywhere else refuses them, naming
the setting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from trellis.core.runtime.embedded import free_port
from trellis.core.runtime.settings import DevelopmentValueRefused, ServiceSettings
from trellis.feedback.bootstrap import FeedbackSettings
from trellis.goals.bootstrap import GoalsSettings
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.webhooks.secret_box import DEV_WEBHOOK_SECRET_KEY

POSTGRES = "postgresql+asyncpg://goals@db.internal:5432/goals"
SECRET = "0f3c8e5d7a9b1c2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e"


def sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


def test_postgresql_with_the_development_jwt_secret_is_refused_naming_the_setting() -> None:
    with pytest.raises(DevelopmentValueRefused, match="TRELLIS_GOALS_JWT_SECRET"):
        GoalsSettings(database_url=POSTGRES).refuse_development_values()


def test_the_development_anonymity_key_is_refused_naming_the_setting() -> None:
    settings = FeedbackSettings(database_url=POSTGRES, jwt_secret=SECRET)
    with pytest.raises(DevelopmentValueRefused) as refused:
        settings.refuse_development_values()
    assert "TRELLIS_FEEDBACK_ANONYMITY_KEY" in str(refused.value)
    assert "JWT_SECRET" not in str(refused.value)


def test_the_development_webhook_secret_key_is_refused_even_beside_a_real_one() -> None:
    for keys in (DEV_WEBHOOK_SECRET_KEY, f"{SECRET},{DEV_WEBHOOK_SECRET_KEY}"):
        settings = NotificationsSettings(database_url=POSTGRES, jwt_secret=SECRET, webhook_secret_keys=keys)
        with pytest.raises(DevelopmentValueRefused, match="TRELLIS_NOTIFICATIONS_WEBHOOK_SECRET_KEYS"):
            settings.refuse_development_values()
    NotificationsSettings(
        database_url=POSTGRES, jwt_secret=SECRET, webhook_secret_keys=SECRET
    ).refuse_development_values()


def test_the_test_clock_is_refused_outside_the_embedded_run() -> None:
    with pytest.raises(DevelopmentValueRefused, match="TRELLIS_GOALS_TEST_CLOCK"):
        GoalsSettings(database_url=POSTGRES, jwt_secret=SECRET, test_clock=True).refuse_development_values()


def test_the_embedded_run_is_the_flag_and_sqlite_together(tmp_path: Path) -> None:
    GoalsSettings(database_url=sqlite(tmp_path), embedded=True, test_clock=True).refuse_development_values()
    FeedbackSettings(database_url=sqlite(tmp_path), embedded=True).refuse_development_values()
    with pytest.raises(DevelopmentValueRefused):  # SQLite alone is no developer's machine
        GoalsSettings(database_url=sqlite(tmp_path)).refuse_development_values()
    with pytest.raises(DevelopmentValueRefused):  # the flag copied into a deployment
        GoalsSettings(database_url=POSTGRES, embedded=True).refuse_development_values()


def test_real_secrets_or_a_public_key_are_accepted() -> None:
    GoalsSettings(database_url=POSTGRES, jwt_secret=SECRET).refuse_development_values()
    FeedbackSettings(
        database_url=POSTGRES, jwt_secret=SECRET, anonymity_key=SECRET
    ).refuse_development_values()
    # verifying RS256 tokens: the HS256 secret is never used
    ServiceSettings(
        database_url=POSTGRES, jwt_public_key="-----BEGIN PUBLIC KEY-----"
    ).refuse_development_values()


def _serve(service: str, tmp_path: Path, **settings: str) -> subprocess.Popen[str]:
    prefix = f"TRELLIS_{service.upper()}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update({prefix + k: v for k, v in settings.items()})
    env[prefix + "DATA_DIR"] = str(tmp_path / service)
    return subprocess.Popen(
        [sys.executable, "-m", f"trellis.{service}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(
    ("service", "settings", "named"),
    [
        ("goals", {}, "TRELLIS_GOALS_JWT_SECRET"),
        ("feedback", {"JWT_SECRET": SECRET}, "TRELLIS_FEEDBACK_ANONYMITY_KEY"),
        ("onboarding", {"JWT_SECRET": SECRET, "TEST_CLOCK": "true"}, "TRELLIS_ONBOARDING_TEST_CLOCK"),
        ("notifications", {"JWT_SECRET": SECRET}, "TRELLIS_NOTIFICATIONS_WEBHOOK_SECRET_KEYS"),
    ],
)
def test_a_service_process_on_postgresql_refuses_to_start_with_a_development_value(
    tmp_path: Path, service: str, settings: dict[str, str], named: str
) -> None:
    proc = _serve(service, tmp_path, DATABASE_URL=POSTGRES.replace("goals", service), **settings)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    assert named in output and "refuses to start" in output


def test_a_service_process_with_real_secrets_starts(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(
        "goals",
        tmp_path,
        DATABASE_URL=sqlite(tmp_path),  # not embedded: no `trellis up` flag
        JWT_SECRET=SECRET,
        HTTP_PORT=str(port),
        NATS_URL=f"nats://127.0.0.1:{free_port()}",  # down: the API answers regardless
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the service did not answer /health")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
