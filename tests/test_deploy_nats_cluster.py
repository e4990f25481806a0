"""deploy/nats/cluster/ on three packaged nats-servers: the node files form a JetStream
cluster, the operators' user provisions a service's stream replicated three times, and the
service's user publishes on it but may not make a stream.

The files use container addresses (peers nats-1..3 on 6222, clients on 4222, monitoring
on 8222, the store in /data); each node gets a copy of deploy/nats/ in which only those are
rewritten to free loopback ports and a temporary directory, and is started with nothing
but ``nats-server -c <node file>``. Server names, cluster name, accounts and permissions
are the files' own.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import nats.js.errors
import pytest
from nats.js.api import StreamConfig

from trellis.core.messaging.jetstream import connect
from trellis.core.runtime.embedded import free_port, nats_server_binary, port_open
from trellis.testing import eventually

NATS_DIR = Path(__file__).parent.parent / "deploy" / "nats"
NODES = ("nats-1", "nats-2", "nats-3")
USERS = ("goals", "onboarding", "feedback", "notifications", "ops", "sys")


@dataclass
class Node:
    name: str
    conf: Path
    port: int
    process: subprocess.Popen[bytes] | None = None


def render_node(tmp: Path, name: str, ports: dict[str, int], cluster_ports: dict[str, int]) -> Node:
    """A copy of deploy/nats/ for one node, with loopback ports and a temporary store."""
    copy = tmp / name / "nats"
    shutil.copytree(NATS_DIR, copy)
    common = copy / "cluster" / "cluster.conf"
    text = common.read_text()
    replacements = {f"nats-route://{n}:6222": f"nats-route://127.0.0.1:{p}" for n, p in cluster_ports.items()}
    replacements["listen: 0.0.0.0:6222"] = f"listen: 127.0.0.1:{cluster_ports[name]}"
    replacements["port: 4222"] = f"host: 127.0.0.1\nport: {ports[name]}"
    replacements["http_port: 8222"] = f"http: 127.0.0.1:{free_port()}"
    replacements["store_dir: /data"] = f'store_dir: "{tmp / name / "store"}"'
    for old, new in replacements.items():
        assert old in text, f"cluster.conf no longer has {old!r}: update this test's rendering"
        text = text.replace(old, new)
    common.write_text(text)
    return Node(name, copy / "cluster" / f"{name}.conf", ports[name])


def start(node: Node, log: Path) -> None:
    with open(log, "ab") as out:
        node.process = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(node.conf)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 15
    while not port_open(node.port):
        assert node.process.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"{node.name} did not listen"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Node], dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("nats-cluster")
    passwords = {user: uuid.uuid4().hex for user in USERS}
    mp = pytest.MonkeyPatch()
    for user, password in passwords.items():
        mp.setenv(f"{user.upper()}_NATS_PASSWORD", password)
    ports = {name: free_port() for name in NODES}
    cluster_ports = {name: free_port() for name in NODES}
    nodes = [render_node(tmp, name, ports, cluster_ports) for name in NODES]
    try:
        for node in nodes:
            start(node, tmp / f"{node.name}.log")
        yield nodes, passwords
    finally:
        for node in nodes:
            if node.process is not None:
                node.process.terminate()
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(5)
        mp.undo()


def urls(nodes: list[Node], user: str, password: str) -> str:
    return ",".join(f"nats://{user}:{password}@127.0.0.1:{node.port}" for node in nodes)


async def test_the_operators_provision_a_stream_replicated_on_three_nodes_for_a_service(
    cluster: tuple[list[Node], dict[str, str]],
) -> None:
    nodes, passwords = cluster
    nc = await connect(urls(nodes, "goals", passwords["goals"]), name="goals")
    ops = await connect(urls(nodes, "ops", passwords["ops"]), name="ops", inbox_prefix="_INBOX_ops")
    js = nc.jetstream(timeout=1)
    config = StreamConfig(name="TRELLIS_GOALS", subjects=["trellis.goals.>"], num_replicas=3)

    async def created() -> bool:  # the cluster elects its meta leader first
        try:
            await ops.jetstream(prefix="JS.goals.API", timeout=1).add_stream(config)
        except (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError):
            return False
        return True

    try:
        await eventually(created, timeout=20, interval=0.25)
        ack = await js.publish("trellis.goals.goal.GoalCreated.acme.g-1", b"{}", timeout=5)
        assert ack.stream == "TRELLIS_GOALS"

        async def replicated() -> object:
            info = await js.stream_info("TRELLIS_GOALS")
            peers = info.cluster.replicas or [] if info.cluster else []
            current = [p for p in peers if p.current]
            return info.cluster and info.cluster.leader and len(current) == 2 and info

        info = await eventually(replicated, timeout=10, interval=0.2)
        assert info.config.num_replicas == 3
        assert info.state.messages == 1
        names = {info.cluster.leader, *(p.name for p in info.cluster.replicas)}
        assert names == set(NODES)  # server_name comes from each node's file

        # The accounts' permissions hold on the cluster too: goals may not make a stream.
        with pytest.raises(Exception):  # noqa: B017 - refused by the server
            await js.add_stream(
                StreamConfig(name="TRELLIS_ONBOARDING", subjects=["trellis.onboarding.>"], num_replicas=3)
            )
    finally:
        await nc.close()
        await ops.close()
