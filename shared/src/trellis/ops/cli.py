"""The operators' commands on the ``trellis`` app: status, events, projections, dlq, outbox, replay.

Each command here only reads its options and prints; the work is in the module of its
group (``status.py``, ``events.py``, ``projections.py``, ``dlq.py``, ``outbox.py``,
``replay.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from typing import Annotated

import typer

from trellis.ops import dlq, events, outbox, projections, replay, status, streams
from trellis.ops.options import (
    AsJson,
    Operator,
    Yes,
    err,
    out,
    print_json,
    run,
    show,
    targeted,
)
from trellis.ops.target import OpsError, Target, operator_name

events_app = typer.Typer(help="Follow, inspect and search events.", no_args_is_help=True)
projections_app = typer.Typer(help="Rebuild read views without downtime, or reset one.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: list, show, redrive after a fix, drop.", no_args_is_help=True)
outbox_app = typer.Typer(
    help="Outboxes: publish by hand (repair); dead rows: list, retry after a fix, drop.", no_args_is_help=True
)
replay_app = typer.Typer(help="Replay events to a webhook subscriber.", no_args_is_help=True)
nats_app = typer.Typer(help="NATS: provision the services' streams (operators only).", no_args_is_help=True)


def _time(value: str | None, flag: str) -> dt.datetime | None:
    try:
        return events.parse_time(value)
    except OpsError as exc:
        raise typer.BadParameter(str(exc), param_hint=flag) from None


def register(app: typer.Typer) -> None:
    """Add the operators' commands to the ``trellis`` app."""
    app.command("status")(status_command)
    app.add_typer(events_app, name="events")
    app.add_typer(projections_app, name="projections")
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(replay_app, name="replay")
    app.add_typer(nats_app, name="nats")


@targeted
def status_command(
    where: Target,
    as_json: AsJson = False,
) -> None:
    """Streams, consumers' lag and pending acks, outboxes, projections against the head, dead letters."""
    found = run(status.collect(where))
    show(found, as_json, status.render)


# --- events ---------------------------------------------------------------------------------


@events_app.command("tail")
@targeted
def events_tail(
    where: Target,
    aggregate_type: Annotated[str | None, typer.Option(help="e.g. goal")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="e.g. GoalRetired")] = None,
    tenant: Annotated[str | None, typer.Option(help="tenant id")] = None,
    since: Annotated[str | None, typer.Option(help="start at a time: ISO, or 10m, 2h, 3d back")] = None,
    from_start: Annotated[bool, typer.Option("--all", help="from the start of the streams")] = False,
    limit: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="stop after this many quiet seconds")] = None,
    as_json: AsJson = False,
) -> None:
    """Follow events live (Ctrl-C stops), filtered by service, aggregate type, event type, tenant."""

    def emit(name: str, envelope: object, msg: object) -> None:
        if as_json:
            sys.stdout.write(events.tail_json(name, envelope, msg) + "\n")  # type: ignore[arg-type]
            sys.stdout.flush()
        else:
            out.print(events.tail_line(name, envelope, msg), soft_wrap=True)  # type: ignore[arg-type]

    async def follow() -> int:
        return await events.tail(
            where,
            emit,
            aggregate_type=aggregate_type,
            event_type=event_type,
            tenant=tenant,
            since=_time(since, "--since"),
            from_start=from_start,
            limit=limit,
            idle_timeout=idle_timeout,
        )

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        run(follow())


@events_app.command("history")
@targeted
def events_history(
    where: Target,
    aggregate_id: Annotated[str, typer.Argument(help="the aggregate's id (a goal id, say)")],
    at_version: Annotated[int | None, typer.Option(help="rebuild its state at this version")] = None,
    reveal_private: Annotated[bool, typer.Option(help="show the payloads of private events")] = False,
    as_json: AsJson = False,
) -> None:
    """An aggregate's history from its event store (who, what, when, version) and its state."""
    found = run(events.history(where, aggregate_id, at_version=at_version, reveal_private=reveal_private))
    show(found, as_json, events.render_history)


@events_app.command("find")
@targeted
def events_find(
    where: Target,
    tenant: Annotated[str | None, typer.Option(help="tenant id")] = None,
    event_type: Annotated[list[str] | None, typer.Option("--type", help="event type (repeat)")] = None,
    actor: Annotated[str | None, typer.Option(help="who caused it")] = None,
    aggregate_type: Annotated[str | None, typer.Option(help="e.g. goal")] = None,
    since: Annotated[str | None, typer.Option(help="from: ISO time or date, or 10m, 2h, 3d back")] = None,
    until: Annotated[str | None, typer.Option(help="until (excluded): same forms")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
    newest_first: Annotated[bool, typer.Option(help="the newest events first")] = False,
    reveal_private: Annotated[bool, typer.Option(help="show the payloads of private events")] = False,
    as_json: AsJson = False,
) -> None:
    """Search the event stores by tenant, type, actor, aggregate type and time range."""
    found = run(
        events.find(
            where,
            tenant=tenant,
            event_types=event_type,
            actor=actor,
            aggregate_type=aggregate_type,
            since=_time(since, "--since"),
            until=_time(until, "--until"),
            limit=limit,
            newest_first=newest_first,
            reveal_private=reveal_private,
        )
    )
    show(found, as_json, events.render_found)


# --- projections ----------------------------------------------------------------------------


@projections_app.command("rebuild")
@targeted
def projections_rebuild(
    where: Target,
    name: Annotated[
        str, typer.Argument(help="the projection (its consumer name), e.g. goals-alignment-tree")
    ],
    from_scratch: Annotated[bool, typer.Option(help="discard a rebuild in progress and start over")] = False,
    dry_run: Annotated[bool, typer.Option(help="build and compare with the live view; swap nothing")] = False,
    discard: Annotated[bool, typer.Option(help="only drop a rebuild in progress (its shadow copy)")] = False,
    batch_size: Annotated[
        int, typer.Option(help="events read and applied at once (memory: ~3 KB each, twice read ahead)")
    ] = 50_000,
    commit_every: Annotated[
        int, typer.Option(help="events per transaction (what an interrupted rebuild goes through again)")
    ] = 1_000_000,
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Rebuild a read view without downtime: shadow copy, catch up, atomic swap; resumable."""
    with projections.RebuildProgress(err, name) as bar:
        found = run(
            projections.rebuild(
                where,
                name,
                operator=operator_name(operator),
                from_scratch=from_scratch,
                dry_run=dry_run,
                discard=discard,
                batch_size=batch_size,
                commit_every=commit_every,
                progress=None if discard else bar,
            )
        )
    show(found, as_json, projections.render_rebuild)


@projections_app.command("reset")
@targeted
def projections_reset(
    where: Target,
    name: Annotated[str, typer.Argument(help="the projection (its consumer name)")],
    yes: Yes = False,
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Empty a view and re-read its whole stream (repair with downtime; consumers stopped)."""
    found = run(projections.reset(where, name, operator=operator_name(operator), yes=yes, console=err))
    if as_json:
        print_json(found)
    else:
        out.print(f"{name} reset: its consumer re-reads the stream when the service's consumers start")


# --- dead letters ---------------------------------------------------------------------------


@dlq_app.command("list")
@targeted
def dlq_list(
    where: Target,
    consumer: Annotated[str | None, typer.Option(help="only this consumer's")] = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="resolved ones too")] = False,
    as_json: AsJson = False,
) -> None:
    """Dead letters per consumer, with their reasons."""
    found = run(dlq.list_letters(where, consumer=consumer, include_resolved=include_resolved))
    show(found, as_json, dlq.render_list)


@dlq_app.command("show")
@targeted
def dlq_show(
    where: Target,
    letter_id: Annotated[int, typer.Argument(help="the dead letter's id")],
    as_json: AsJson = False,
) -> None:
    """One dead letter: its reason, headers and message."""
    found = run(dlq.show(where, letter_id))
    show(found, as_json, dlq.render_show)


@dlq_app.command("redrive")
@targeted
def dlq_redrive(
    where: Target,
    ids: Annotated[
        list[int] | None, typer.Argument(help="dead letter ids (each with its aggregate's chain)")
    ] = None,
    consumer: Annotated[
        str | None, typer.Option(help="with --all: every dead letter of this consumer")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="every dead letter of --consumer")] = False,
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Apply dead letters through their projection, in order per aggregate, after a fix."""
    found = run(
        dlq.redrive(
            where, operator=operator_name(operator), ids=ids or [], consumer=consumer, everything=everything
        )
    )
    show(found, as_json, dlq.render_report)
    if found["failed"]:
        raise typer.Exit(1)


@dlq_app.command("drop")
@targeted
def dlq_drop(
    where: Target,
    ids: Annotated[list[int] | None, typer.Argument(help="dead letter ids")] = None,
    reason: Annotated[str, typer.Option(help="why (recorded with them)")] = "",
    consumer: Annotated[
        str | None, typer.Option(help="with --all: every dead letter of this consumer")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="every dead letter of --consumer")] = False,
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Resolve dead letters without applying them, recording why."""
    found = run(
        dlq.drop(
            where,
            operator=operator_name(operator),
            reason=reason,
            ids=ids or [],
            consumer=consumer,
            everything=everything,
        )
    )
    show(found, as_json, dlq.render_report)


# --- outbox, replay -------------------------------------------------------------------------


@outbox_app.command("relay")
@targeted
def outbox_relay(
    where: Target,
    yes: Yes = False,
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Publish the outboxes' unpublished events now (fenced, in order, de-duplicated)."""
    found = run(outbox.relay(where, operator=operator_name(operator), yes=yes, console=err))
    if as_json:
        print_json(found)


@outbox_app.command("dead")
@targeted
def outbox_dead(where: Target, as_json: AsJson = False) -> None:
    """Outbox rows NATS will never accept as they are, with their reasons and the rows behind them."""
    found = run(outbox.dead(where))
    show(found, as_json, outbox.render_dead)


@outbox_app.command("retry")
@targeted
def outbox_retry(
    where: Target,
    event_ids: Annotated[list[str], typer.Argument(help="the dead rows' event ids")],
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Put dead outbox rows back in line after a fix (the rows behind them follow, in order)."""
    found = run(outbox.resolve_dead(where, operator=operator_name(operator), event_ids=event_ids, retry=True))
    show(found, as_json, outbox.render_resolved)
    if found["not_found"]:
        raise typer.Exit(1)


@outbox_app.command("drop")
@targeted
def outbox_drop(
    where: Target,
    event_ids: Annotated[list[str], typer.Argument(help="the dead rows' event ids")],
    reason: Annotated[str, typer.Option(help="why (recorded in the audit)")] = "",
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Give dead outbox rows up (their events are never published); the rows behind them go on."""
    found = run(
        outbox.resolve_dead(
            where, operator=operator_name(operator), event_ids=event_ids, retry=False, reason=reason
        )
    )
    show(found, as_json, outbox.render_resolved)
    if found["not_found"]:
        raise typer.Exit(1)


@nats_app.command("provision")
@targeted
def nats_provision(where: Target, operator: Operator = None, as_json: AsJson = False) -> None:
    """Create or update the services' streams (a bootstrap step: services may not)."""
    found = run(streams.provision(where, operator=operator_name(operator), console=err))
    if as_json:
        print_json(found)


@replay_app.command("webhooks")
@targeted
def replay_webhooks(
    where: Target,
    subscription: Annotated[str, typer.Option(help="the webhook subscription's id")],
    since: Annotated[str, typer.Option(help="from: ISO time or date, or 10m, 2h, 3d back")],
    until: Annotated[str | None, typer.Option(help="until (default: now)")] = None,
    yes: Yes = False,
    operator: Operator = None,
    as_json: AsJson = False,
) -> None:
    """Re-deliver a time range of events to one subscriber (signed, retried, marked as replays)."""
    start = _time(since, "--since")
    if start is None:
        raise typer.BadParameter("a time is needed", param_hint="--since")
    found = run(
        replay.webhooks(
            where,
            subscription_id=subscription,
            since=start,
            until=_time(until, "--until"),
            operator=operator_name(operator),
            yes=yes,
            console=err,
        )
    )
    if as_json:
        print_json(found)
