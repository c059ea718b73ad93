"""Issue 16 item 10: ``nufair backup`` / ``nufair restore`` round trips, for the embedded
database (real ``nufair`` processes, each starting the pgserver PostgreSQL in its own data
folder) and for an external one; a damaged backup and a non-empty target are refused.

The check is independent of the commands: every table of both databases is read back with
SQLAlchemy (all rows, as JSON, sorted) and compared, and the artifact files are compared
byte for byte with the originals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, create_engine, select

from nufair.cli import main

REPO = Path(__file__).parents[2]
SAMPLE = sorted((REPO / "catalog" / "sample").glob("*.xml"))

#: Run in a child process on an embedded server's data folder (argv 1): import the files
#: named after it first, if any (migrated, as ``nufair import`` does), then print every row.
_DUMP_TABLES = """
import json, sys
from pathlib import Path
from sqlalchemy import MetaData, create_engine, select
from nufair.cli import _import_paths
from nufair.database import start_embedded
from nufair.migrate import upgrade
url, server = start_embedded(Path(sys.argv[1]))
if sys.argv[2:]:
    upgrade(url)
    assert _import_paths(url, [Path(p) for p in sys.argv[2:]], progress=False)[1] == 0
engine = create_engine(url)
meta = MetaData()
meta.reflect(engine)
with engine.connect() as conn:
    out = {name: sorted(json.dumps(dict(r), default=str, sort_keys=True)
                        for r in conn.execute(select(table)).mappings())
           for name, table in meta.tables.items()}
engine.dispose()
print(json.dumps(out))
"""


def _tables(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    try:
        with engine.connect() as conn:
            return {name: sorted(json.dumps(dict(r), default=str, sort_keys=True)
                                 for r in conn.execute(select(table)).mappings())
                    for name, table in meta.tables.items()}
    finally:
        engine.dispose()


def _embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUFAIR_")}
    return {**env, "PYTHONPATH": str(REPO), "NUFAIR_DATA_DIR": str(data_dir)}


def _nufair(data_dir: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "nufair.cli", *args], cwd=REPO,
                          env=_embedded_env(data_dir), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _embedded_tables(data_dir: Path, *imports: Path) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", _DUMP_TABLES, str(data_dir),
                           *map(str, imports)], cwd=REPO,
                          env=_embedded_env(data_dir), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    tables: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    return tables


def _some_files(root: Path) -> dict[str, bytes]:
    """Artifact files as a scan leaves them (``<event>/<revision>/<name>``), binary."""
    files = {"1/1/IceCube_1_000000001_skymap.fits.gz": os.urandom(5000),
             "1/1/IceCube_1_000000001_moc90.fits": bytes(range(256)) * 7,
             "2/3/x.png": b"\x89PNG\r\n\x1a\n" + os.urandom(100)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def test_embedded_database_and_files_round_trip(tmp_path: Path) -> None:
    a, b, backup = tmp_path / "a", tmp_path / "b", tmp_path / "backup"
    before = _embedded_tables(a, *SAMPLE)
    files = _some_files(a / "artifacts")
    assert len(before["events"]) >= 4 and len(before["revisions"]) == len(SAMPLE)
    out = _nufair(a, "backup", str(backup))
    assert f"{len(files)} file(s)" in out
    restored = _nufair(b, "restore", str(backup))
    assert "now at head" in restored
    assert _embedded_tables(b) == before
    assert _files(b / "artifacts") == files
    assert not (b / "artifacts" / ".scan-x").exists()


def test_external_database_round_trip_and_refusals(
        db_url: str, empty_db_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = CliRunner().invoke
    source, target, backup = tmp_path / "src", tmp_path / "dst", tmp_path / "backup"
    monkeypatch.setenv("NUFAIR_DATABASE_URL", db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(source))
    assert run(main, ["import", "--no-progress", *map(str, SAMPLE)]).exit_code == 0
    files = _some_files(source / "artifacts")
    (source / "artifacts" / ".scan-tmp").mkdir()  # a scan's scratch folder: not kept
    (source / "artifacts" / ".scan-tmp" / "partial.fits").write_bytes(b"half")
    before = _tables(db_url)
    made = run(main, ["backup", str(backup)])
    assert made.exit_code == 0, made.output
    assert run(main, ["backup", str(backup)]).exit_code == 1  # never over an old backup

    monkeypatch.setenv("NUFAIR_DATABASE_URL", empty_db_url)
    monkeypatch.setenv("NUFAIR_DATA_DIR", str(target))
    done = run(main, ["restore", str(backup)])
    assert done.exit_code == 0, done.output
    assert _tables(empty_db_url) == before
    assert _files(target / "artifacts") == files
    again = run(main, ["restore", str(backup)])
    assert again.exit_code == 1 and "already holds a catalog" in again.output
    clean = run(main, ["restore", "--clean", str(backup)])
    assert clean.exit_code == 0, clean.output
    assert _tables(empty_db_url) == before

    name = next(iter(files))
    (backup / "artifacts" / name).write_bytes(b"damaged")
    broken = run(main, ["restore", "--clean", str(backup)])
    assert broken.exit_code == 1 and "does not match the manifest" in broken.output
