"""``nufair backup`` / ``nufair restore``: the database and the artifact files, together.

A backup is a folder: ``nufair.dump`` (``pg_dump -Fc`` of the catalog database, the embedded
one or ``NUFAIR_DATABASE_URL``), ``artifacts/`` (a copy of the artifact store: the local
folder, or whatever ``NUFAIR_ARTIFACTS_URL`` names, fetched through fsspec) and
``manifest.json`` (when, which schema revision, every file with its size and SHA-256).
The database is dumped first, then the files: a file newer than the dump is harmless, a row
without its file is not (docs/deploy.md, section 6).

``restore`` checks the files against the manifest, refuses a database that already holds a
catalog (unless ``--clean``, which drops what the dump recreates), runs ``pg_restore``,
(after setting up the TAP role, which lives in the cluster rather than the dump), puts
the files back where the settings say artifacts live, and migrates to head (a backup
of an older version is brought up to date). The PostgreSQL client programs are pgserver's
(the embedded server's own, PostgreSQL 16: they read and write any server up to 16);
``--pg-bin`` names others for a newer external server.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from nufair.settings import Settings

DUMP = "nufair.dump"
FILES = "artifacts"
MANIFEST = "manifest.json"


class BackupError(click.ClickException):
    """A backup or restore that cannot go on (shown as one line, exit 1)."""


def client_bin(override: Path | None) -> Path:
    """The folder of pg_dump / pg_restore: ``override``, else pgserver's."""
    if override is not None:
        return override
    # Found, not imported: importing pgserver sets up its runtime folders (and warns).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise BackupError("pgserver is not installed: name pg_dump's folder with --pg-bin")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def libpq_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options and environment of a client program for SQLAlchemy ``url``
    (the password goes through ``PGPASSWORD``, not the command line)."""
    from sqlalchemy.engine import make_url  # here: the rest of the CLI starts without it

    u = make_url(url)
    host = u.host or str(u.query.get("host", "")) or None
    args = [f"--dbname={u.database}"]
    if host:
        args.append(f"--host={host}")
    if u.port:
        args.append(f"--port={u.port}")
    if u.username:
        args.append(f"--username={u.username}")
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return args, env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _artifact_source(settings: Settings) -> tuple[Any, str]:
    """(fsspec file system, root path in it) of the artifact store."""
    import fsspec

    if settings.artifacts_url:
        fs, root = fsspec.core.url_to_fs(settings.artifacts_url)
        return fs, str(root).rstrip("/")
    return fsspec.filesystem("file"), str((settings.data_dir / "artifacts").resolve())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _listing(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _schema_revision(url: str) -> str | None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _copy_files_out(settings: Settings, target: Path) -> None:
    fs, root = _artifact_source(settings)
    target.mkdir()
    if not fs.exists(root):
        return
    for path in fs.find(root):
        rel = path[len(root):].lstrip("/")
        if rel.startswith(".scan-") or "/.scan-" in rel:
            continue  # a scan's private scratch folder, not a stored file
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(dest))


def _copy_files_back(settings: Settings, source: Path) -> int:
    fs, root = _artifact_source(settings)
    count = 0
    for p in sorted(source.rglob("*")):
        if p.is_file():
            dest = f"{root}/{p.relative_to(source).as_posix()}"
            fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(p), dest)
            count += 1
    return count


@click.command("backup")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--pg-bin", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Folder of pg_dump (default: the embedded server's).")
def backup_command(folder: Path, pg_bin: Path | None) -> None:
    """Dump the database, then copy the artifact files, into a new FOLDER."""
    from nufair.cli import database

    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: a backup goes into a new folder")
    settings = Settings()
    folder.mkdir(parents=True, exist_ok=True)
    with database(settings, migrate=False) as (url, _server):
        args, env = libpq_args(url)
        _run([str(client_bin(pg_bin) / "pg_dump"), "--format=custom", "--no-owner",
              f"--file={folder / DUMP}", *args], env)
        revision = _schema_revision(url)
    _copy_files_out(settings, folder / FILES)
    files = _listing(folder / FILES)
    manifest = {"created_at": datetime.now(UTC).isoformat(), "schema_revision": revision,
                "dump": {"size": (folder / DUMP).stat().st_size,
                         "sha256": _sha256(folder / DUMP)},
                "artifacts": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    click.echo(f"backup in {folder}: database (schema {revision}), {len(files)} file(s)")


def _check(folder: Path) -> dict[str, Any]:
    """The manifest, once the dump and every file match it."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} is not a nufair backup ({MANIFEST}: {exc})") from exc
    if _sha256(folder / DUMP) != manifest["dump"]["sha256"]:
        raise BackupError(f"{folder / DUMP} does not match the manifest (damaged?)")
    if _listing(folder / FILES) != manifest["artifacts"]:
        raise BackupError(f"{folder / FILES} does not match the manifest (damaged?)")
    return manifest


#: Roles live in the cluster, not in a dump: the TAP role the dump grants to is set up as
#: migration 0002 sets it up (created NOLOGIN if missing, granted to us) before pg_restore.
_TAP_ROLE = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap') THEN
    CREATE ROLE nufair_tap NOLOGIN;
  END IF;
  IF NOT pg_has_role(current_user, 'nufair_tap', 'MEMBER') THEN
    EXECUTE format('GRANT nufair_tap TO %I', current_user);
  END IF;
EXCEPTION
  WHEN insufficient_privilege OR duplicate_object OR unique_violation THEN NULL;
END $$;
"""


def _tap_role_ready(url: str) -> bool:
    """Set up the TAP role; whether it exists (if not, the dump's grants are skipped)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(_TAP_ROLE))
            return bool(conn.execute(text(
                "SELECT 1 FROM pg_roles WHERE rolname = 'nufair_tap'")).scalar())
    finally:
        engine.dispose()


def _holds_catalog(url: str) -> bool:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).get_table_names())
    finally:
        engine.dispose()


@click.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--clean", is_flag=True,
              help="Restore over a database that already holds a catalog (its tables are "
                   "dropped and recreated from the backup).")
@click.option("--pg-bin", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="Folder of pg_restore (default: the embedded server's).")
def restore_command(folder: Path, clean: bool, pg_bin: Path | None) -> None:
    """Restore the database and the artifact files of the backup in FOLDER."""
    from nufair.cli import database
    from nufair.migrate import upgrade

    manifest = _check(folder)
    settings = Settings()
    with database(settings, migrate=False) as (url, _server):
        if _holds_catalog(url) and not clean:
            raise BackupError("the database already holds a catalog; restore into an empty "
                              "one, or pass --clean to replace it")
        args, env = libpq_args(url)
        extra = ["--clean", "--if-exists"] if clean else []
        if not _tap_role_ready(url):
            extra.append("--no-privileges")
        _run([str(client_bin(pg_bin) / "pg_restore"), "--no-owner", "--exit-on-error",
              "--single-transaction", *extra, *args, str(folder / DUMP)], env)
        copied = _copy_files_back(settings, folder / FILES)
        upgrade(url)
    click.echo(f"restored from {folder}: database (schema {manifest['schema_revision']}, "
               f"now at head), {copied} file(s)")
