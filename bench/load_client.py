"""A minimal keep-alive HTTP/1.1 load client for the benches (JSON in and out).

httpx, as a load generator on this 2-core machine, spent most of a core on ~100
requests/s (its pool under a queue of waiting requests) and starved the servers it
measured. This writes each request in one piece on one of a fixed set of connections and
reads its ``Content-Length`` body, nothing more: uvicorn sends one for every answer the
benches read. Set-up calls still use httpx.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Connections:
    """``size`` keep-alive connections to ``url`` (``http://host:port``), each used by one
    request at a time."""

    def __init__(self, url: str, size: int) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.size = size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        payload = json.dumps(body).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{head}\r\n"
        ).encode() + payload
        return await self.send(request)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        return await self.send(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}\r\n".encode())

    async def send(self, request: bytes) -> tuple[int, Any]:
        """Write ``request`` on an idle connection; its status and JSON body."""
        reader, writer = await self.idle.get()
        try:
            writer.write(request)
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            length = next(
                int(v) for k, _, v in (x.partition(": ") for x in lines[1:]) if k.lower() == "content-length"
            )
            answer = json.loads(await reader.readexactly(length)) if length else None
        except BaseException:  # half a request or answer on it: never reuse the connection
            writer.close()
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
            raise
        self.idle.put_nowait((reader, writer))
        return status, answer

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()
