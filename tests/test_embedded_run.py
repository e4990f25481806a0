"""The README's run command: `trellis up` starts nats-server, SQLite and the services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import free_port
from trellis.core.runtime.settings import DEV_JWT_SECRET

SERVICES = ("goals", "onboarding", "feedback", "notifications")


@pytest.fixture
def running_system(tmp_path: Path):
    nats_port = free_port()
    ports = {service: free_port() for service in SERVICES}  # never the defaults: tests run side by side
    env = dict(os.environ)
    for service, port in ports.items():
        env[f"TRELLIS_{service.upper()}_HTTP_PORT"] = str(port)
        env[f"TRELLIS_{service.upper()}_LOG_JSON"] = "true"
    goals_port = ports["goals"]
    log = open(tmp_path / "up.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trellis.cli",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--nats-port",
            str(nats_port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{goals_port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the embedded system did not become ready: " + (tmp_path / "up.log").read_text())
        yield base, tmp_path
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.slow
def test_trellis_up_serves_the_goals_api_with_its_docs(running_system) -> None:
    base, tmp_path = running_system
    headers = {
        "Authorization": "Bearer "
        + mint_token(secret=DEV_JWT_SECRET, tenant="demo", employee="admin-1", roles=["admin"])
    }
    assert httpx.get(f"{base}/docs").status_code == 200
    assert "/v1/goals" in httpx.get(f"{base}/openapi.json").json()["paths"]
    resp = httpx.post(
        f"{base}/v1/goals", json={"level": "company", "title": "Grow", "period": "2026"}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    goal_id = resp.json()["goal_id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/v1/goals/{goal_id}", headers=headers).status_code == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the goal never reached the read view")
    assert (tmp_path / "data" / "goals.db").exists()
    assert (tmp_path / "data" / "nats").is_dir()
    deadline = time.monotonic() + 15  # `trellis up` prints once its own readiness poll sees it
    while "Trellis is running" not in (output := (tmp_path / "up.log").read_text()):
        assert time.monotonic() < deadline, output
        time.sleep(0.1)
    assert "/docs" in output
