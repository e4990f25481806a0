"""``trellis nats provision``: create or update the services' streams, as the operators.

With an account per service (``deploy/nats/accounts.conf``) no service may create or change
a stream (a service that could update its own stream could also set ``max_msgs=1``, a
purge in all but name): the operators' account provisions them, as a bootstrap step before
the services start and again after a change of their stream settings (partitions,
replicas). A service waits for its stream until it is there. In the embedded run, with one
account for everything, each service makes its own stream as before.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from trellis.core.messaging.jetstream import ensure_stream, stream_partitions
from trellis.core.runtime.service import Runtime
from trellis.ops import audit
from trellis.ops.target import Target


async def provision(target: Target, *, operator: str, console: Console) -> dict[str, Any]:
    """Create or update every chosen service's stream; what each stream is now."""
    provisioned: dict[str, Any] = {}
    async with target.nats() as nc:
        streams = target.streams(nc)
        for definition in target.chosen():
            runtime = Runtime(definition, target.settings_for(definition))
            try:
                spec = runtime.stream
            finally:
                await runtime.engine.dispose()
            js = streams.of(definition.name)
            await ensure_stream(js, spec)
            info = await js.stream_info(spec.name)
            provisioned[definition.name] = {
                "stream": spec.name,
                "subjects": list(info.config.subjects or []),
                "replicas": info.config.num_replicas,
                "partitions": await stream_partitions(js, spec.name),
                "messages": info.state.messages,
            }
            console.print(
                f"{definition.name}: {spec.name} ready ({provisioned[definition.name]['partitions']} "
                f"partitions, {info.config.num_replicas} replicas, {info.state.messages:,} messages)"
            )
        await audit.record(
            nc,
            target.subjects(),
            operator=operator,
            command="nats-provision",
            arguments={"services": list(provisioned)},
            outcome="done",
            details=provisioned,
        )
    return {"provisioned": provisioned}
