"""``nufair ingest FILE...``: run raw events through the realtime pipeline from files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nufair.settings import Settings

if TYPE_CHECKING:
    from ingest.handlers.context import IngestContext


@click.command("ingest")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--deliver-timeout", type=float, default=30.0, show_default=True,
              help="Seconds to spend delivering the queued notices before exiting "
                   "(0: leave them to the server's dispatcher).")
def ingest_command(files: tuple[Path, ...], no_progress: bool, deliver_timeout: float) -> None:
    """Post raw-event JSON FILES (or I3Live messages) to the pipeline (selection, initial
    revision, notices)."""
    from tqdm import tqdm

    from catalog.errors import NufairError
    from catalog.storage.events import CatalogStorage
    from ingest.rawevent import clip, loads_strict, normalize_raw_body
    from nufair.app import make_engine
    from nufair.cli import database
    from nufair.ingest import make_context

    settings = Settings()
    refused = 0
    with database(settings) as (url, _server):
        engine = make_engine(url)
        try:
            # Scans of new alerts are queued; a server's runner (or `nufair serve`) runs them.
            ctx = make_context(CatalogStorage(engine), settings)
            for path in tqdm(files, unit="event", disable=no_progress, desc="ingest"):
                try:
                    # as HTTP and AMQP decode; an I3Live message is decoded to a raw event
                    body = normalize_raw_body(loads_strict(path.read_bytes()))
                    out = ctx.pipeline.accept(body)
                except (NufairError, ValueError) as exc:
                    refused += 1
                    code = getattr(exc, "code", "invalid_input")
                    tqdm.write(f"refused {path}: [{code}] {clip(str(exc))}", file=sys.stderr)
                    continue
                raw = out.raw
                what = "new" if out.created else "already stored"
                tqdm.write(f"{path}: {what}: run {raw.run_id} event {raw.event_id} → "
                           f"{raw.name or '(no name)'} stream {raw.stream}")
            deliver_then_stop(ctx, deliver_timeout)
        finally:
            engine.dispose()
    if refused:
        sys.exit(1)


def deliver_then_stop(ctx: IngestContext, deliver_timeout: float) -> None:
    """Deliver what is due for up to ``deliver_timeout`` seconds (none when 0), say how it
    went, and stop the dispatcher."""
    if deliver_timeout > 0:
        sent = ctx.dispatcher.drain(deliver_timeout)
        click.echo(f"{sum(o.ok for o in sent)} notice(s) delivered, "
                   f"{ctx.outbox.pending_count()} pending")
    ctx.dispatcher.stop()
