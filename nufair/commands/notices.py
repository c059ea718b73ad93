"""``nufair notices list|retry|replay``: steer the outbox from the command line.

The same rules as ``/api/v1/notices`` (:class:`ingest.steering.OutboxSteering`), on the
configured database; queued notices are sent by a running server's dispatcher, or here
with ``--deliver-timeout``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import click

from nufair.settings import Settings

if TYPE_CHECKING:
    from ingest.steering import OutboxSteering


@contextmanager
def _steering(deliver_timeout: float = 0.0) -> Iterator[OutboxSteering]:
    """An :class:`OutboxSteering` on the configured database; with ``deliver_timeout``,
    the queued notices are delivered before the block's end."""
    from catalog.storage.events import CatalogStorage
    from ingest.steering import OutboxSteering
    from nufair.app import make_engine
    from nufair.cli import database
    from nufair.commands.ingest import deliver_then_stop
    from nufair.ingest import make_context

    settings = Settings()
    with database(settings) as (url, _server):
        engine = make_engine(url)
        try:
            ctx = make_context(CatalogStorage(engine), settings)
            yield OutboxSteering(engine, ctx.publisher)
            deliver_then_stop(ctx, deliver_timeout)
        finally:
            engine.dispose()


def _run(action: Callable[[OutboxSteering], None], deliver_timeout: float = 0.0) -> None:
    from catalog.errors import NufairError

    try:
        with _steering(deliver_timeout) as steering:
            action(steering)
    except NufairError as exc:
        click.echo(f"error: [{exc.code}] {exc}", err=True)
        sys.exit(1)


_DELIVER = click.option(
    "--deliver-timeout", type=float, default=0.0, show_default=True,
    help="Seconds to spend delivering what was queued (0: leave it to the server).")


@click.group("notices")
def notices_command() -> None:
    """The outbox: list notices, retry one, replay an alert or a sink's history."""


@notices_command.command("list")
@click.option("--alert", help="event name, run_event or id")
@click.option("--sink", help="a configured sink")
@click.option("--state", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--after", type=int, default=0, help="last id of the previous page")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_notices(alert: str | None, sink: str | None, state: str | None, after: int,
                 limit: int, as_json: bool) -> None:
    """List notices by id, with their state and the last attempt's word."""
    def action(s: OutboxSteering) -> None:
        for n in s.list(alert=alert, sink=sink, state=state, after_id=after, limit=limit):
            if as_json:
                click.echo(json.dumps(n.model_dump(), default=_iso))
                continue
            why = n.failed_reason or n.last_detail or ""
            click.echo(f"{n.id}\t{n.alert or n.event_pk} r{n.revision}\t{n.sink}\t{n.format}"
                       f"\t{n.state}\t{n.attempts} attempt(s)\t{why[:120]}")

    _run(action)


@notices_command.command("retry")
@click.argument("notice_ids", nargs=-1, type=int, required=True)
@_DELIVER
def retry(notice_ids: tuple[int, ...], deliver_timeout: float) -> None:
    """Make failed (or waiting) NOTICE_IDS due now."""
    def action(s: OutboxSteering) -> None:
        for pk in notice_ids:
            n = s.retry(pk)
            click.echo(f"notice {n.id} ({n.alert} r{n.revision} to {n.sink}) is due")

    _run(action, deliver_timeout)


@notices_command.command("replay")
@click.option("--alert", help="event name, run_event or id")
@click.option("--sink", help="a configured sink (unset: every sink)")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z",
                                              "%Y-%m-%dT%H:%M:%S"]),
              help="only revisions created since (UTC unless an offset is given)")
@_DELIVER
def replay(alert: str | None, sink: str | None, since: datetime | None,
           deliver_timeout: float) -> None:
    """Send an alert's revisions, or a sink's whole history, again, in order."""
    from datetime import UTC

    when = since if since is None or since.tzinfo else since.replace(tzinfo=UTC)

    def action(s: OutboxSteering) -> None:
        r = s.replay(alert=alert, sink=sink, since=when)
        click.echo(f"{r.revisions} revision(s) replayed: {len(r.notices)} notice(s) queued, "
                   f"{r.rendered} rendered for the first time")

    _run(action, deliver_timeout)


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
