"""The ``nufair`` command line."""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from nufair.commands.adql import adql
from nufair.commands.backup import backup_command, restore_command
from nufair.commands.consume import consume_command
from nufair.commands.counterparts import counterparts
from nufair.commands.ingest import ingest_command
from nufair.commands.notices import notices_command
from nufair.commands.reco import simulate
from nufair.commands.scan_import import scan_group
from nufair.commands.subscriptions import subscriptions_command
from nufair.settings import Settings, hash_token, load_settings


@contextmanager
def database(settings: Settings, *, migrate: bool = True,
             supervise: bool = False) -> Iterator[tuple[str, Any]]:
    """Resolve (and for the embedded server, start) the database; migrate it to head.

    With ``supervise``, an embedded server is restarted whenever it dies, for as long as
    the block runs (``nufair.pgsupervisor``; the app finds it with ``active()``).
    """
    from nufair.app import resolve_database_url
    from nufair.database import supervised
    from nufair.migrate import upgrade

    url, server = resolve_database_url(settings)
    if migrate:
        upgrade(url)
    with supervised(server if supervise else None):
        yield url, server


@click.group()
@click.version_option(package_name="nufair")
def main() -> None:
    """nufair: archive and realtime pipeline for high-energy neutrino alerts."""
    from nufair import logs

    settings = load_settings()  # one clear line per bad NUFAIR_* variable, exit 2
    logs.configure(settings.log_format, settings.log_level)


@main.command()
def migrate() -> None:
    """Bring the database schema to the latest Alembic revision."""
    with database(Settings()) as (url, _):
        click.echo(f"database at head ({url.split('@')[-1]})")


def _import_paths(url: str, paths: list[Path], progress: bool = True,
                  strict: bool = False, report_file: Path | None = None) -> tuple[int, int]:
    """Import every file under ``paths``; a table's bad rows are left out and listed (with
    ``strict``, such a table is refused whole). Returns (ok, refused). With
    ``report_file``, writes the reconciliation report there (JSON)."""
    import json

    from tqdm import tqdm

    from catalog.importers import iter_paths
    from catalog.service import import_files
    from catalog.storage.events import CatalogStorage
    from nufair.app import make_engine

    files = list(iter_paths(paths))
    engine = make_engine(url)
    try:
        with tqdm(total=len(files), unit="file", disable=not progress, desc="import") as bar:
            storage = CatalogStorage(engine)
            report = import_files(storage, files, progress=bar.update, strict=strict)
        if report_file is not None:
            alerts = [a.model_dump(mode="json") for a in report.alerts(storage)]
            report_file.write_text(json.dumps({
                "alerts": alerts, "left_out": [r.model_dump() for r in report.left_out],
                "refused": [{"file": str(p), "code": c, "reason": r}
                            for p, c, r in report.refused],
                "names_assigned": report.names_assigned}, indent=1))
    finally:
        engine.dispose()
    for path, code, reason in report.refused:
        click.echo(f"refused {path}: [{code}] {reason}", err=True)
    for row in report.left_out:
        where = f" {row.file} line {row.line}" if row.line is not None else ""
        click.echo(f"left out{where}: {row.reason}", err=True)
    click.echo(f"{report.files_ok} file(s) imported, {len(report.refused)} refused: "
               f"{report.records} record(s), {report.revisions_created} new revision(s), "
               f"{report.events_created} new event(s)")
    return report.files_ok, len(report.refused)


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--strict", is_flag=True,
              help="Refuse a table with any bad row whole (default: store the good rows).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write per alert the sources that contributed and every conflict (JSON).")
def import_(paths: tuple[Path, ...], no_progress: bool, strict: bool,
            report_file: Path | None) -> None:
    """Import notice files or folders (VOEvent XML, GCN JSON, IceCat-1 CSV, AMON tables,
    GCN circulars index)."""
    with database(Settings()) as (url, _):
        _, failed = _import_paths(url, list(paths), progress=not no_progress, strict=strict,
                                  report_file=report_file)
    if failed:
        sys.exit(1)


def _exit_on_sigterm() -> None:
    """Make SIGTERM end the process through ``SystemExit(0)`` instead of the signal's death.

    uvicorn shuts down gracefully on SIGTERM, puts this handler back and raises the signal
    again; leaving through ``SystemExit`` lets the ``with`` blocks and ``atexit`` run, so
    the database supervisor stops and pgserver stops the embedded PostgreSQL (killed by
    the signal, the process left it running). Main thread only (as ``signal`` requires).
    """
    def leave(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, leave)


def _serve(settings: Settings, url: str) -> None:
    import uvicorn
    from pydantic import SecretStr

    from nufair.app import create_app

    app = create_app(settings.model_copy(update={"database_url": SecretStr(url)}))
    click.echo(f"serving on http://{settings.host}:{settings.port}")
    # log_config=None: uvicorn's loggers go through nufair.logs like every other line.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)


@main.command()
def serve() -> None:
    """Serve the API (the database must be migrated)."""
    settings = Settings()
    _exit_on_sigterm()
    with database(settings, migrate=False, supervise=True) as (url, _server):
        _serve(settings, url)


def _catalog_empty(url: str) -> bool:
    """Whether the catalog holds no event yet."""
    from sqlalchemy import exists, select

    from catalog.schema.events import events
    from nufair.app import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return not conn.execute(select(exists().select_from(events))).scalar_one()
    finally:
        engine.dispose()


@main.command()
@click.option("--no-sample", is_flag=True, help="Do not load the bundled sample catalog.")
def run(no_sample: bool) -> None:
    """Start the database (embedded unless NUFAIR_DATABASE_URL), migrate, load the sample, serve."""
    from catalog.importers import sample_paths

    settings = Settings()
    _exit_on_sigterm()
    with database(settings, supervise=True) as (url, _server):
        if settings.load_sample and not no_sample:
            if _catalog_empty(url):  # once: the import is idempotent, but not free
                _import_paths(url, sample_paths(), progress=False)
            else:
                click.echo("sample not loaded: the catalog already holds events "
                           "(`nufair import` adds files)")
        _serve(settings, url)


@main.group()
def pids() -> None:
    """Persistent identifiers (DOIs)."""


@pids.command("sync")
def pids_sync() -> None:
    """Mint missing DOIs and register changed ones with the configured provider."""
    from catalog.storage.events import CatalogStorage
    from nufair.app import make_engine
    from nufair.fair import sync_pids

    settings = Settings()
    with database(settings) as (url, _):
        engine = make_engine(url)
        try:
            summary = sync_pids(CatalogStorage(engine), settings)
        finally:
            engine.dispose()
    click.echo(f"{summary.sent} DOI(s) registered with {settings.pid_provider}, "
               f"{summary.failed} failed (retried on the next pass)")
    if summary.failed:
        sys.exit(1)


@main.command("token-hash")
@click.argument("token")
def token_hash(token: str) -> None:
    """Print the SHA-256 digest to put in NUFAIR_TOKENS for TOKEN."""
    click.echo(hash_token(token))


main.add_command(adql)
main.add_command(ingest_command)
main.add_command(consume_command)
main.add_command(notices_command)
main.add_command(scan_group)
main.add_command(simulate)
main.add_command(counterparts)
main.add_command(subscriptions_command)
main.add_command(backup_command)
main.add_command(restore_command)



class _Leave:
    """How :func:`program` ends the process (set by a command through :func:`leave_quickly`)."""

    quickly = False


def leave_quickly() -> None:
    """Called by a command that has finished and closed everything it makes (``nufair
    scan``): when run as the program (:func:`program`), the process then ends without the
    interpreter's teardown."""
    _Leave.quickly = True


def program() -> None:
    """The ``nufair`` program (console script): :func:`main`, as click runs it, then the exit.

    After a command that called :func:`leave_quickly`, the exit handlers (``atexit``) run and
    the output is flushed, and ``os._exit`` ends the process without tearing the interpreter
    down: freeing every module of a scan (Numba, Dask, astropy, matplotlib) took 0.5 s on a
    quiet 2-core machine and 2 s on a loaded one, after the scan had written everything.
    ``CliRunner`` in the tests calls :func:`main` and never reaches this.
    """
    try:
        main()
    except SystemExit as exc:
        if not _Leave.quickly:
            raise
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    program()
