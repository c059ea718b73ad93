"""``nufair counterparts``: (re)load the registered catalogues and recompute candidates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from nufair.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: Revisions recomputed per transaction by ``refresh`` (one statement per catalogue each).
REFRESH_BATCH = 500


@click.group()
def counterparts() -> None:
    """Counterpart candidates (known sources inside alert regions)."""


@counterparts.command()
def refresh() -> None:
    """Recompute the candidates of every revision that has a region (a backfill)."""
    from nufair.app import make_engine
    from nufair.cli import database

    with database(Settings()) as (url, _server):
        engine = make_engine(url)
        try:
            click.echo(refresh_all(engine))
        finally:
            engine.dispose()


def refresh_all(engine: Engine) -> str:
    """Recompute every revision with a region, in batches; a one-line report."""
    from catalog.storage.counterparts import CounterpartStore

    with engine.begin() as conn:
        ids = CounterpartStore(conn).revisions_with_regions()
    rows = 0
    for start in range(0, len(ids), REFRESH_BATCH):
        with engine.begin() as conn:
            done = CounterpartStore(conn).compute_for(ids[start:start + REFRESH_BATCH])
            rows += sum(done.rows.values())
    return f"{len(ids)} revision(s) recomputed, {rows} candidate row(s)"


@counterparts.command()
@click.option("--refresh/--no-refresh", "then_refresh", default=True, show_default=True,
              help="Recompute every revision's candidates afterwards.")
def load(then_refresh: bool) -> None:
    """(Re)load every registered catalogue from its bundled file."""
    from catalog.counterparts.loader import install
    from catalog.counterparts.registry import catalogues
    from nufair.app import make_engine
    from nufair.cli import database

    with database(Settings()) as (url, _server):
        engine = make_engine(url)
        try:
            for cat in catalogues():
                with engine.begin() as conn:
                    n = install(conn, cat)
                click.echo(f"{cat.qualified}: {n} source(s) from {cat.file}")
            if then_refresh:
                click.echo(refresh_all(engine))
        finally:
            engine.dispose()
