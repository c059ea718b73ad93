"""``nufair scan import FILE --event KEY``: skymap_scanner's result stored as a scan.

``nufair scan`` stays what it was (``nufair scan EVENT_FILE --out DIR``: a local scan); the
group below only adds the ``import`` subcommand in front of it: a first argument that is not
a subcommand's name goes to the scan command unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from nufair.commands.reco import scan as scan_command
from nufair.settings import Settings


class _ScanGroup(click.Group):
    """``scan import ...`` runs the import; any other arguments run the scan command."""

    def resolve_command(self, ctx: click.Context, args: list[str],
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        """The subcommand named by ``args[0]``, else the scan command with all ``args``."""
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return "scan", scan_command, args


@click.group("scan", cls=_ScanGroup, context_settings={"ignore_unknown_options": True},
             help=f"{scan_command.help}\n\nOr: nufair scan import FILE --event KEY (see "
             "'nufair scan import --help'). 'nufair scan EVENT_FILE --help' shows the scan's "
             "options.")
def scan_group() -> None:
    """Scan an event, or import skymap_scanner's result (see ``help``)."""


@scan_group.command("import")
@click.argument("result_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "event_key", required=True,
              help="The stored event: name (IceCube-231202A), run_event or id.")
@click.option("--publish", type=click.Choice(["update", "none"]), default="none",
              show_default=True,
              help="update: an update revision with FITS skymaps, MOCs and notices.")
@click.option("--label", "labels", multiple=True, help="Labels of the scan (repeatable).")
def import_command(result_file: Path, event_key: str, publish: str,
                   labels: tuple[str, ...]) -> None:
    """Store skymap_scanner / SkyDriver's result JSON RESULT_FILE as a finished scan of
    EVENT (as POST /api/v1/scans/import does)."""
    from catalog.errors import NufairError
    from catalog.storage.events import CatalogStorage
    from nufair.app import make_engine
    from nufair.cli import database
    from nufair.ingest import make_context

    try:  # their files may hold bare NaN: Python's json reads it
        data: Any = json.loads(result_file.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{result_file}: not JSON: {exc}") from None
    settings = Settings()
    with database(settings) as (url, _server):
        engine = make_engine(url)
        try:
            ctx = make_context(CatalogStorage(engine), settings)
            from ingest.scan_import import import_scan

            try:
                row = import_scan(ctx.scans, ctx.runner.publisher, event=event_key, data=data,
                                  publish=publish, labels=labels)
            except NufairError as exc:
                click.echo(f"refused {result_file}: [{exc.code}] {exc}", err=True)
                sys.exit(1)
            finally:
                ctx.dispatcher.stop()
        finally:
            engine.dispose()
    rev = f", update revision {row.revision_number}" if row.revision_number is not None else ""
    click.echo(f"scan {row.id} of {row.event_name or event_key} stored (skymap_scanner, "
               f"run {row.run_id} event {row.event_id}){rev}")
