"""The ``trellis`` command: run the embedded system, serve or migrate one service, mint dev tokens, and
the operators' tools (``status``, ``events``, ``projections``, ``dlq``, ``outbox``,
``replay``: see ``trellis.ops``).

Services are found through the ``trellis.services`` entry-point group, so each
service package that is installed takes part in ``trellis up`` (and in the operators'
tools) with no change here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trellis.core.runtime.auth import ROLES, mint_token
from trellis.core.runtime.embedded import EmbeddedNats, port_open
from trellis.core.runtime.settings import DEV_JWT_SECRET, EMBEDDED_NATS_URL, DevelopmentValueRefused
from trellis.ops.cli import register as register_ops_commands

app = typer.Typer(help="Trellis: run, serve and develop; operate a running system.", no_args_is_help=True)
console = Console(stderr=True)
register_ops_commands(app)


def service_definitions() -> dict:
    found = {}
    for ep in entry_points(group="trellis.services"):
        found[ep.name] = ep
    return dict(sorted(found.items()))


@app.command()
def serve(service: Annotated[str, typer.Argument(help="goals, feedback, onboarding, ...")]) -> None:
    """Run one service (HTTP API, outbox relay and consumers) with settings from the environment."""
    import uvicorn

    from trellis.core.runtime.logging import configure_logging
    from trellis.core.runtime.service import create_app, tune_gc

    eps = service_definitions()
    if service not in eps:
        raise typer.BadParameter(f"unknown service {service!r}; installed: {', '.join(eps)}")
    definition = eps[service].load()
    settings = definition.settings()
    try:
        settings.refuse_development_values()
    except DevelopmentValueRefused as exc:
        console.print(str(exc), style="red", markup=False)
        raise SystemExit(2) from None  # also from ``python -m trellis.<service>``, outside typer
    configure_logging(service, json=settings.log_json, level=settings.log_level)
    tune_gc()
    uvicorn.run(
        create_app(definition, settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


@app.command()
def migrate(service: Annotated[str, typer.Argument(help="goals, feedback, onboarding, ...")]) -> None:
    """Bring one service's database to the newest schema, then exit.

    A deployment runs it once before rolling out new replicas (the compose ``migrate-*``
    services, the Kubernetes Job); ``serve`` migrates on start too, which is then a no-op.
    """
    import asyncio

    from trellis.core.store.database import create_engine
    from trellis.core.store.migrate import migrate as upgrade

    eps = service_definitions()
    if service not in eps:
        raise typer.BadParameter(f"unknown service {service!r}; installed: {', '.join(eps)}")
    definition = eps[service].load()
    settings = definition.settings()

    async def run() -> None:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            await upgrade(engine, *definition.migrations, schema=settings.database_schema)
        finally:
            await engine.dispose()

    asyncio.run(run())
    console.print(f"{service}: database migrated")


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="where NATS and the SQLite files live")] = Path("data"),
    nats_port: Annotated[int, typer.Option(help="port of the embedded nats-server")] = 14222,
) -> None:
    """Start the whole system embedded: nats-server with JetStream, SQLite, every service."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if port_open(nats_port):
        console.print(f"[red]port {nats_port} is taken[/]: pass --nats-port, or stop what holds it")
        raise typer.Exit(1)
    nats = EmbeddedNats(data_dir / "nats", nats_port, log_file=data_dir / "nats-server.log")
    nats.start()
    console.print(f"nats-server with JetStream at [bold]{nats.url}[/] (data in {data_dir / 'nats'})")
    children: list[tuple[str, subprocess.Popen[bytes], str]] = []
    try:
        for name, ep in service_definitions().items():
            definition = ep.load()
            prefix = definition.settings.model_config.get("env_prefix", "TRELLIS_")
            env = dict(os.environ)
            env.setdefault(f"{prefix}DATA_DIR", str(data_dir))
            env.setdefault(f"{prefix}NATS_URL", nats.url)
            env[f"{prefix}EMBEDDED"] = "true"  # development values (the dev secret) may run here
            settings = definition.settings(data_dir=data_dir, nats_url=nats.url)
            url = f"http://{settings.http_host}:{settings.http_port}"
            proc = subprocess.Popen([sys.executable, "-m", "trellis.cli", "serve", name], env=env)
            children.append((name, proc, url))
        _wait_until_up(children)
        _print_summary(children)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(proc.poll() is None for _, proc, _ in children):
            time.sleep(0.5)
        console.print("[red]a service exited[/]; stopping the rest")
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short and orphan nats-server.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _, proc, _ in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for _, proc, _ in children:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        nats.stop()


def _wait_until_up(children: list[tuple[str, subprocess.Popen[bytes], str]]) -> None:
    deadline = time.monotonic() + 60
    pending = {name: url for name, _, url in children}
    while pending and time.monotonic() < deadline:
        for name, url in list(pending.items()):
            try:
                with urllib.request.urlopen(f"{url}/ready", timeout=1) as resp:
                    if resp.status == 200:
                        pending.pop(name)
            except OSError:
                pass
        if any(proc.poll() is not None for _, proc, _ in children):
            raise RuntimeError("a service failed to start; see its log above")
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not ready after 60s: {', '.join(pending)}")


def _print_summary(children: list[tuple[str, subprocess.Popen[bytes], str]]) -> None:
    table = Table(title="Trellis is running (Ctrl-C stops everything)")
    table.add_column("service")
    table.add_column("API")
    table.add_column("docs (OpenAPI)")
    for name, _, url in children:
        table.add_row(name, url, f"{url}/docs")
    Console().print(table)
    token = mint_token(secret=DEV_JWT_SECRET, tenant="demo", employee="admin-1", roles=["admin", "employee"])
    Console().print("A development token (tenant demo, admin):")
    Console().print(token, soft_wrap=True)
    Console().print("Mint others with: uv run trellis token --tenant demo --employee e-1 --role employee")
    sys.stdout.flush()  # a pipe or file would otherwise hold the summary back


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="organisation id")] = "demo",
    employee: Annotated[str, typer.Option(help="the actor's employee id")] = "admin-1",
    role: Annotated[list[str], typer.Option(help="repeat for several roles")] = ["employee"],  # noqa: B006
    hours: Annotated[float, typer.Option(help="validity")] = 12.0,
    secret: Annotated[str, typer.Option(envvar="TRELLIS_JWT_SECRET")] = DEV_JWT_SECRET,
    as_json: Annotated[bool, typer.Option("--json", help="print claims and token as JSON")] = False,
) -> None:
    """Mint a development token (HS256 with the dev secret unless --secret is given)."""
    import datetime as dt

    unknown = set(role) - ROLES
    if unknown:
        raise typer.BadParameter(f"unknown roles {sorted(unknown)}; use {sorted(ROLES)}")
    value = mint_token(
        secret=secret,
        tenant=tenant,
        employee=employee,
        roles=role,
        ttl=dt.timedelta(hours=hours),
    )
    if as_json:
        print(json.dumps({"token": value, "tenant": tenant, "employee": employee, "roles": role}))
    else:
        print(value)


@app.command("nats-url", hidden=True)
def nats_url() -> None:
    print(EMBEDDED_NATS_URL)


if __name__ == "__main__":
    app()
