"""``nufair subscriptions``: region subscriptions from the command line (an operator's view:
every owner's subscriptions unless ``--owner`` narrows it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nufair.settings import Settings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from catalog.subscriptions.storage import SubscriptionStorage


@contextmanager
def _storage() -> Iterator[SubscriptionStorage]:
    from catalog.subscriptions.storage import SubscriptionStorage
    from nufair.app import make_engine
    from nufair.cli import database

    with database(Settings()) as (url, _server):
        engine = make_engine(url)
        try:
            yield SubscriptionStorage(engine)
        finally:
            engine.dispose()


def _echo(model: BaseModel) -> None:
    click.echo(model.model_dump_json(indent=1))


@click.group("subscriptions")
def subscriptions_command() -> None:
    """Region subscriptions: create, list, pause, resume, delete, test."""


Cones = tuple[tuple[float, float, float], ...]


def _footprint(cones: Cones, moc: Path | None) -> dict[str, object]:
    if (moc is None) == (not cones):
        raise click.UsageError("give --moc FILE or one or more --cone RA DEC RADIUS")
    if moc is not None:
        data = moc.read_bytes()
        if data.startswith(b"SIMPLE"):
            return {"moc_fits_base64": base64.b64encode(data).decode()}
        return {"moc": data.decode("utf-8")}
    fields = [{"ra": ra, "dec": dec, "radius": r} for ra, dec, r in cones]
    return {"cone": fields[0]} if len(fields) == 1 else {"fields": fields}


@subscriptions_command.command("create")
@click.option("--name", required=True)
@click.option("--cone", "cones", type=(float, float, float), multiple=True,
              metavar="RA DEC RADIUS", help="A field (degrees); repeat for a list of fields.")
@click.option("--moc", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A MOC file: ASCII, JSON or FITS.")
@click.option("--stream", "streams", type=click.Choice(["gold", "bronze", "cascade"]),
              multiple=True, help="Streams to receive (default: all three).")
@click.option("--min-signalness", type=float, default=None)
@click.option("--format", "fmt", type=click.Choice(["gcn-json", "voevent", "circular"]),
              default="gcn-json", show_default=True)
@click.option("--webhook", help="Webhook URL (signed; the secret is printed once).")
@click.option("--sink", help="A sink configured on this server (folder, webhook, vtp, gcn-kafka).")
@click.option("--owner", default="cli", show_default=True)
def create(name: str, cones: Cones, moc: Path | None,
           streams: tuple[str, ...], min_signalness: float | None, fmt: str,
           webhook: str | None, sink: str | None, owner: str) -> None:
    """Register a subscription; prints it (with a webhook's secret, shown only now)."""
    from catalog.subscriptions.models import SubscriptionCreate
    from catalog.subscriptions.service import register

    body: dict[str, object] = {
        "name": name, "footprint": _footprint(cones, moc), "min_signalness": min_signalness,
        "format": fmt, "sink": {"webhook_url": webhook, "configured": sink}}
    if streams:
        body["streams"] = list(streams)
    spec = SubscriptionCreate.model_validate(body)
    with _storage() as storage:
        _echo(register(storage, spec, owner))


@subscriptions_command.command("list")
@click.option("--owner", default=None, help="Only this owner's (default: everyone's).")
def list_(owner: str | None) -> None:
    """List live subscriptions as JSON lines."""
    with _storage() as storage:
        for sub in storage.list(owner):
            click.echo(json.dumps(sub.model_dump(mode="json")))


def _state(pk: int, state: str) -> None:
    with _storage() as storage:
        _echo(storage.set_state(pk, None, state))


@subscriptions_command.command("pause")
@click.argument("pk", type=int)
def pause(pk: int) -> None:
    """Stop matching new revisions for subscription PK."""
    _state(pk, "paused")


@subscriptions_command.command("resume")
@click.argument("pk", type=int)
def resume(pk: int) -> None:
    """Match new revisions again for subscription PK."""
    _state(pk, "active")


@subscriptions_command.command("delete")
@click.argument("pk", type=int)
def delete(pk: int) -> None:
    """Delete subscription PK."""
    with _storage() as storage:
        storage.delete(pk, None)
    click.echo(f"subscription {pk} deleted")


@subscriptions_command.command("test")
@click.argument("pk", type=int)
def test(pk: int) -> None:
    """Queue a test notice for subscription PK (the server's dispatcher delivers it)."""
    with _storage() as storage:
        _echo(storage.test_fire(pk, None))
