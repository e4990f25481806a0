"""Trellis as it runs at scale, on loopback: a three-node JetStream cluster of the packaged
nats-server with the deployment's accounts (``deploy/nats/accounts.conf``: a NATS account
and user per service), PostgreSQL (a schema per service), and every service as separate
OS processes (``python -m trellis.<service>``), several instances each, with the settings
a deployment would use (streams replicated three times, partitioned by aggregate).

Used by the fault test (``test_scale_out.py``); the processes' logs are kept under the
test's folder and their last lines are shown when something fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from trellis.contracts import SERVICES
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import EmbeddedCluster, free_port
from trellis.testing import Database

TENANT = "acme"
ACCOUNTS = Path(__file__).parent.parent / "deploy" / "nats" / "accounts.conf"
NATS_USERS = (*SERVICES, "ops", "sys")
IMPORT_PREFIX = "JS.{service}.API"  # where each account imports the others' JetStream API
SUBJECT_ROOT = "trellis"  # the accounts' permissions are written for it
# Real secrets, as in production: a service outside the embedded run refuses the development ones.
JWT_SECRET = secrets.token_hex(32)
ANONYMITY_KEY = secrets.token_hex(32)
WEBHOOK_SECRET_KEYS = secrets.token_hex(32)


def auth(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(
        secret=JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles or ("employee",))
    )
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth("ceo", "admin", "hr", "manager", "employee")


@dataclass
class Instance:
    """One OS process running one service."""

    service: str
    index: int
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"trellis.{self.service}"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no graceful anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class ScaledSystem:
    cluster: EmbeddedCluster
    databases: dict[str, Database]
    passwords: dict[str, str]  # NATS user → password (the cluster's processes have them too)
    folder: Path
    subject_root: str = SUBJECT_ROOT
    instances: dict[str, list[Instance]] = field(default_factory=dict)
    _turn: Iterator[int] = field(default_factory=itertools.count)

    def environment(self, service: str, port: int, **extra: str) -> dict[str, str]:
        db = self.databases[service]
        prefix = f"TRELLIS_{service.upper()}_"
        settings = {
            "DATABASE_URL": db.url,
            "DATABASE_SCHEMA": db.schema or "",
            "NATS_URL": self.nats_url(service),
            "NATS_IMPORT_PREFIX": IMPORT_PREFIX,
            "SUBJECT_ROOT": self.subject_root,
            "DATA_DIR": str(self.folder / service),
            "HTTP_PORT": str(port),
            "STREAM_REPLICAS": "3",
            "PARTITIONS": "4",
            "LEASE_TTL": "3",
            "CONSUMER_ACK_WAIT": "5",
            "SHUTDOWN_GRACE": "5",
            "LOG_JSON": "true",
            "LOG_LEVEL": "INFO",
            "CONSUMER_BATCH_SIZE": "200",
            "JWT_SECRET": JWT_SECRET,
            "ANONYMITY_KEY": ANONYMITY_KEY,  # read by the feedback service only
            "WEBHOOK_SECRET_KEYS": WEBHOOK_SECRET_KEYS,  # by notifications only
            **extra,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
        env.update({prefix + k: v for k, v in settings.items()})
        return env

    def provision(self) -> None:
        """The operators' bootstrap step: every stream, as the ``ops`` user with the services'
        stream settings (their users may not create or change a stream)."""
        env: dict[str, str] = {}
        for service in SERVICES:
            env.update(self.environment(service, 0))
        command = [sys.executable, "-m", "trellis.cli", "nats", "provision"]
        command += ["--nats-url", self.nats_url("ops"), "--nats-import-prefix", IMPORT_PREFIX]
        command += ["--subject-root", self.subject_root, "--operator", "scale-test"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (done.stdout, done.stderr)

    def nats_url(self, user: str) -> str:
        """Every node of the cluster, as ``user`` (a service, or ``ops``)."""
        login = f"nats://{user}:{self.passwords[user]}@"
        return ",".join(node.url.replace("nats://", login) for node in self.cluster.nodes)

    def add(self, service: str, count: int, **extra: str) -> None:
        for index in range(count):
            port = free_port()
            instance = Instance(
                service,
                index,
                self.environment(service, port, **extra),
                port,
                self.folder / f"{service}-{index}.log",
            )
            self.instances.setdefault(service, []).append(instance)

    def all(self) -> list[Instance]:
        return [i for group in self.instances.values() for i in group]

    async def wait_ready(self, instances: list[Instance] | None = None, timeout: float = 90.0) -> None:
        """Every instance answers /ready with its database and NATS both reachable."""
        pending = list(instances or self.all())
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while pending:
                for instance in list(pending):
                    if not instance.alive:
                        raise AssertionError(f"{instance.name} exited:\n{instance.tail()}")
                    with contextlib.suppress(httpx.HTTPError):
                        resp = await client.get(instance.url + "/ready")
                        if resp.status_code == 200 and resp.json()["checks"].get("nats") == "ok":
                            pending.remove(instance)
                if time.monotonic() > deadline:
                    tails = "\n".join(f"--- {i.name}\n{i.tail()}" for i in pending)
                    raise AssertionError(f"not ready after {timeout} s:\n{tails}")
                await asyncio.sleep(0.3)

    async def call(
        self,
        client: httpx.AsyncClient,
        service: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] = ADMIN,
    ) -> Any:
        """As a load balancer would: the next live instance; on a connection error, the others."""
        group = self.instances[service]
        start = next(self._turn)
        last: Exception | None = None
        for attempt in range(len(group) * 3):
            instance = group[(start + attempt) % len(group)]
            try:
                resp = await client.request(method, instance.url + path, json=body, headers=headers)
            except httpx.TransportError as exc:  # killed, or not listening yet: try another
                last = exc
                await asyncio.sleep(0.05 * attempt)
                continue
            if resp.status_code >= 500 or resp.status_code == 503:
                last = AssertionError(f"{instance.name} {method} {path}: {resp.status_code} {resp.text}")
                await asyncio.sleep(0.1)
                continue
            assert resp.status_code < 400, (instance.name, method, path, resp.status_code, resp.text)
            return resp.json()
        raise AssertionError(f"no instance of {service} took {method} {path}: {last}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to every instance at once (each shuts down gracefully), then wait."""
        for instance in self.all():
            if instance.alive and instance.process is not None:
                instance.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for instance in self.all():
            instance.stop(timeout=max(0.1, deadline - time.monotonic()))


def every_service() -> tuple[str, ...]:
    return tuple(SERVICES)
