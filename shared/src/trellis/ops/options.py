"""The options every operators' command takes, and how they become a ``Target``.

Defaults come from each service's settings (its ``TRELLIS_<NAME>_...`` environment, then
the embedded run's defaults), so against ``./dev up`` no option is needed; in
production pass the NATS URL and credentials, and each service's database URL (or set
the services' own environment variables, as their deployment does).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer
from rich.console import Console

from trellis.ops.target import OpsError, Target

T = TypeVar("T")

Services = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="only this service (repeat for several)")
]
DataDir = Annotated[
    Path | None, typer.Option(help="the embedded run's data folder (default: each service's, ./data)")
]
NatsUrl = Annotated[str | None, typer.Option(help="NATS URL (default: the services' setting)")]
NatsCreds = Annotated[str | None, typer.Option("--nats-creds", help="NATS .creds file")]
NatsImportPrefix = Annotated[
    str | None,
    typer.Option(
        help="with a NATS account per service: where the tool's account imports each service's "
        "JetStream API, e.g. 'JS.{service}.API' (default: the services' setting)"
    ),
]
SubjectRoot = Annotated[str | None, typer.Option(help="first token of every subject (default: trellis)")]
DatabaseUrls = Annotated[
    list[str] | None,
    typer.Option("--database-url", help="SERVICE=URL, e.g. goals=postgresql+asyncpg://... (repeat)"),
]
DatabaseSchemas = Annotated[
    list[str] | None, typer.Option("--database-schema", help="SERVICE=SCHEMA on PostgreSQL (repeat)")
]
Operator = Annotated[str | None, typer.Option(help="who is acting, for the audit trail (default: OS user)")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]
Yes = Annotated[bool, typer.Option("--yes", help="really do it (without it, only say what would be done)")]

out = Console()  # data: tables, JSON
err = Console(stderr=True)  # progress, notes, refusals


# The options every command takes: which services, and where their data and NATS are.
_WHERE: dict[str, Any] = {
    "service": Services,
    "data_dir": DataDir,
    "nats_url": NatsUrl,
    "nats_creds": NatsCreds,
    "nats_import_prefix": NatsImportPrefix,
    "subject_root": SubjectRoot,
    "database_url": DatabaseUrls,
    "database_schema": DatabaseSchemas,
}


def targeted(command: Callable[..., T]) -> Callable[..., T]:
    """A command that takes the options every command takes as one argument, ``where``
    (a ``Target``): typer sees them after the command's own, the command sees the target."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "where"]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in _WHERE.items()
    ]

    @functools.wraps(command)
    def with_target(*args: Any, **kwargs: Any) -> T:
        options = {name: kwargs.pop(name, None) for name in _WHERE}
        return command(*args, where=target(**options), **kwargs)

    with_target.__signature__ = inspect.Signature([*own, *shared])  # type: ignore[attr-defined]
    with_target.__annotations__ = {p.name: p.annotation for p in [*own, *shared]}
    return with_target


def target(
    *,
    service: list[str] | None,
    data_dir: Path | None,
    nats_url: str | None,
    nats_creds: str | None,
    nats_import_prefix: str | None,
    subject_root: str | None,
    database_url: list[str] | None,
    database_schema: list[str] | None,
) -> Target:
    return Target(
        services=list(service or []),
        data_dir=data_dir,
        nats_url=nats_url,
        nats_credentials=nats_creds,
        nats_import_prefix=nats_import_prefix,
        subject_root=subject_root,
        database_urls=_pairs(database_url, "--database-url"),
        database_schemas=_pairs(database_schema, "--database-schema"),
    )


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or []:
        service, sep, rest = value.partition("=")
        if not sep or not service or not rest:
            raise typer.BadParameter(f"{flag} takes SERVICE=VALUE, not {value!r}")
        pairs[service] = rest
    return pairs


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (a test runner swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging() -> None:
    """Log lines (the audit lines among them) to stderr, JSON when it is not a terminal; left
    alone when the process configured logging already."""
    if structlog.is_configured():
        return
    as_json = not sys.stderr.isatty()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; an ``OpsError`` ends the command with its message (exit 1)."""
    configure_logging()
    try:
        return asyncio.run(coro)
    except OpsError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")
    sys.stdout.flush()


def show(found: T, as_json: bool, render: Callable[[T, Console], None]) -> None:
    """A command's findings: one JSON document on stdout (``--json``), else rendered for people."""
    if as_json:
        print_json(found)
    else:
        render(found, out)
