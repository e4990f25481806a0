"""A webhook receiver for tests and local trials: a minimal HTTP/1.1 server on loopback.

It records every request and answers what its ``respond`` function says, so a test can
make an endpoint that is down, slow, failing or gone, and then check what arrived.
Deliberately not a web framework: it shows exactly the bytes and headers that were sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Received:
    """One HTTP request the receiver got, and the status it answered."""

    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """A minimal HTTP/1.1 server (asyncio streams): records every request, answers what
    ``respond`` says (200 by default). ``stop`` then ``start`` keeps the port: down, then back."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.respond: Callable[[Received], Any] = lambda _r: 200
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            handlers = list(self._handlers)  # connections kept alive, waiting for a next request
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(headers, body, time.monotonic())
                answer = self.respond(request)
                if asyncio.iscoroutine(answer):
                    answer = await answer
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                request.status = status
                self.requests.append(request)
                payload = b'{"ok":true}' if status < 300 else b'{"error":"nope"}'
                lines = [
                    f"HTTP/1.1 {status} X",
                    f"Content-Length: {len(payload)}",
                    "Content-Type: application/json",
                ]
                head = "".join(f"{line}\r\n" for line in [*lines, *(f"{k}: {v}" for k, v in extra.items())])
                writer.write(head.encode() + b"\r\n" + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # stop() ends idle keep-alive connections; ending quietly spares Python 3.11's
            # stream server from logging the cancelled handler as an error
            return
        finally:
            self._writers.discard(writer)
            writer.close()
