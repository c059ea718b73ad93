"""``nufair consume``: raw events from the AMQP queue through the realtime pipeline."""

from __future__ import annotations

import signal
import time
from types import FrameType

import click

from nufair.settings import Settings


@click.command("consume")
@click.option("--max-messages", type=int, default=None,
              help="Stop after this many messages (default: run until interrupted).")
@click.option("--idle-exit", type=float, default=None,
              help="Stop after this many seconds without a message.")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Run the notice dispatcher in this process too.")
def consume_command(max_messages: int | None, idle_exit: float | None, deliver: bool) -> None:
    """Consume raw events from NUFAIR_AMQP_QUEUE (bad ones go to the dead-letter queue)."""
    from catalog.storage.events import CatalogStorage
    from ingest.consumer import Handled
    from nufair.app import make_engine
    from nufair.cli import database
    from nufair.ingest import make_consumer, make_context

    settings = Settings()
    with database(settings) as (url, _server):
        engine = make_engine(url)
        ctx = make_context(CatalogStorage(engine), settings)
        consumer = make_consumer(ctx, settings)

        def stop(_signum: int, _frame: FrameType | None) -> None:
            consumer.stop()

        previous = signal.signal(signal.SIGTERM, stop)
        if deliver:
            ctx.dispatcher.start()

        def report(h: Handled) -> None:
            click.echo(f"{h.outcome}: {h.detail}")

        click.echo(f"consuming {consumer.config.queue} "
                   f"(dead letters: {consumer.config.dead_letters})")
        try:
            count = consumer.run(max_messages=max_messages, idle_timeout_s=idle_exit,
                                 on_handled=report)
        except KeyboardInterrupt:
            count = -1
        try:
            if deliver:  # give the dispatcher a moment to send what this run queued
                deadline = time.monotonic() + 10.0
                while ctx.outbox.pending_count() and time.monotonic() < deadline:
                    ctx.dispatcher.wake()
                    time.sleep(0.05)
                click.echo(f"{ctx.outbox.pending_count()} notice(s) pending")
        finally:
            signal.signal(signal.SIGTERM, previous)
            ctx.dispatcher.stop()
            engine.dispose()
    if count >= 0:
        click.echo(f"{count} message(s) handled")
