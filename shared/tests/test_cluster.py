"""The outbox relay against a three-node JetStream cluster whose stream leader is killed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.runtime.embedded import EmbeddedCluster
from trellis.testing import eventually

from .conftest import SERVICE, Core
from .test_outbox_relay import unpublished


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


async def _replicated_stream(js: Any, core: Core) -> str:
    name = core.subjects.stream(SERVICE)
    spec = StreamSpec(name=name, subjects=[core.subjects.all_of(SERVICE)], replicas=3)
    for _ in range(100):  # the cluster elects its meta leader first
        try:
            await ensure_stream(js, spec)
            return name
        except Exception:
            await asyncio.sleep(0.2)
    raise AssertionError("the cluster never accepted the stream")


async def test_killing_the_stream_leader_mid_traffic_loses_and_reorders_nothing(
    core: Core, cluster: EmbeddedCluster
) -> None:
    nc = await connect(cluster.url, name="cluster-test")
    js = nc.jetstream()
    stream = await _replicated_stream(js, core)
    relay = OutboxRelay(
        sessions=core.sessions, stream=stream, jetstream=lambda: js, ack_timeout=1.0, max_backoff=0.5
    )
    core.store.on_commit(relay.wake)
    relaying = asyncio.create_task(relay.run())
    stored: list[Any] = []
    try:
        for i in range(60):
            stored += await core.append(f"c-{i % 5}", i)
            await asyncio.sleep(0.01)
        leader = (await js.stream_info(stream)).cluster.leader
        killed = next(n for n in cluster.nodes if n.server_name == leader)
        killed.kill()  # SIGKILL the stream's leader while commands keep coming
        for i in range(60, 160):
            stored += await core.append(f"c-{i % 5}", i)
            await asyncio.sleep(0.01)
        killed.start()
        await eventually(lambda: _none_left(core), timeout=60)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
    await eventually(lambda: _healed(js, stream), timeout=60)  # the restarted node caught up
    envelopes = [json.loads(m.data) for m in await _read(js, stream, len(stored))]
    await nc.close()
    assert [e["event_id"] for e in envelopes] == [str(e.event_id) for e in stored]  # all, once, in order


async def _read(js: Any, stream: str, expected: int) -> list[Any]:
    """The stream's messages, read until ``expected`` arrived or nothing more comes for 10 s."""
    for _ in range(20):
        try:
            sub = await js.pull_subscribe(">", stream=stream)
            break
        except Exception:  # the cluster may still be settling its consumers
            await asyncio.sleep(0.5)
    out: list[Any] = []
    idle = 0
    while len(out) < expected and idle < 20:
        try:
            out.extend(await sub.fetch(500, timeout=0.5))
            idle = 0
        except Exception:
            idle += 1
    await sub.unsubscribe()
    return out


async def _healed(js: Any, stream: str) -> bool:
    try:
        info = await js.stream_info(stream)
    except Exception:
        return False
    return info.cluster.leader is not None and all(r.current for r in info.cluster.replicas or [])


async def _none_left(core: Core) -> bool:
    return await unpublished(core) == 0
