"""Security issue #12: every writer of files (folder sink, artifact stores, skymap writer,
notice file names) called directly with hostile names and planted links stays in its root.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import cast

import pytest

from catalog.notices.model import NoticeInput, file_stem
from catalog.schema.outbox import NoticeRead
from ingest.safepath import UnsafePath
from ingest.scanning.artifacts import ArtifactStoreError, FsspecStore, LocalStore
from ingest.scanning.skymaps import WrittenFile, digests, write_products
from ingest.sinks.folder import FolderSink
from reco.result import ScanResult
from tests.ingest.confinement import MARK, escaped_files, files_under

# ------------------------------------------------------------ writers, called directly

@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A folder next to the writer's root that must stay empty."""
    folder = tmp_path / "outside"
    folder.mkdir()
    yield folder
    assert files_under(folder) == []


def _notice(fmt: str, filename: str) -> NoticeRead:
    now = datetime.now(UTC)
    return NoticeRead(id=1, revision_pk=1, sink="folder", format=fmt, idempotency_key="k",
                      media_type="application/json", filename=filename, payload=b"{}",
                      status="pending", attempt_count=0, next_attempt_at=now,
                      delivered_at=None, created_at=now)


@pytest.mark.parametrize(("fmt", "filename"), [
    ("gcn-json", f"../../outside/{MARK}.json"),
    ("gcn-json", f"{MARK}/../../../outside/x.json"),
    ("../outside", f"{MARK}.json"),
    ("gcn-json", "/ABSOLUTE"),
    ("gcn-json", ".."),
    ("gcn-json", "a\x00b"),
])
def test_folder_sink_refuses_names_that_leave_its_root(fmt: str, filename: str,
                                                      tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "notices"
    with pytest.raises(UnsafePath):
        FolderSink(root).deliver(_notice(fmt, filename))
    assert files_under(tmp_path) == [] and not Path("/ABSOLUTE").exists()


def test_folder_sink_refuses_a_linked_folder(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "notices"
    root.mkdir()
    (root / "gcn-json").symlink_to(outside)
    with pytest.raises(UnsafePath):
        FolderSink(root).deliver(_notice("gcn-json", "x.json"))
    ok = FolderSink(root).deliver(_notice("voevent", "IceCube_1_000000002_0.xml"))
    assert Path(ok.detail) == (root / "voevent" / "IceCube_1_000000002_0.xml").resolve()


def _written(folder: Path, name: str) -> WrittenFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name not in ("..", "."):
        path.write_bytes(b"SIMPLE")
    size, sha, md5 = (6, "x", "y") if name in ("..", ".") else digests(path)
    return WrittenFile("skymap-fits", path, "application/fits", size, sha, md5)


@pytest.mark.parametrize(("rel", "name"), [
    (f"../outside/{MARK}", "a.fits"),
    ("../../..", f"{MARK}.fits"),
    ("/tmp", f"{MARK}.fits"),
    ("1/0", ".."),
])
def test_local_store_refuses_paths_that_leave_its_root(rel: str, name: str, tmp_path: Path,
                                                       outside: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    scratch = store.scratch()
    files = [_written(scratch, name)]
    try:
        with pytest.raises(ArtifactStoreError, match="refused"):
            store.place(PurePosixPath(rel), files)
    finally:
        shutil.rmtree(scratch)
    assert files_under(tmp_path / "artifacts") == [] and escaped_files(tmp_path) == []
    assert not Path(f"/tmp/{MARK}.fits").exists()


def test_local_store_refuses_a_linked_folder(tmp_path: Path, outside: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    scratch = store.scratch()
    (tmp_path / "artifacts" / "7").symlink_to(outside)
    with pytest.raises(ArtifactStoreError):
        store.place(PurePosixPath("7/0"), [_written(scratch, "a.fits")])
    assert store.place(PurePosixPath("8/0"), [_written(scratch, "b.fits")]) == ["8/0/b.fits"]


@pytest.mark.parametrize("rel", [f"../outside/{MARK}", "../..", "/x", "1/a\x00b"])
def test_fsspec_store_refuses_paths_that_leave_its_root(rel: str, tmp_path: Path,
                                                        outside: Path) -> None:
    root = tmp_path / "bucket"
    root.mkdir()
    store = FsspecStore(f"file://{root}")
    scratch = store.scratch()
    try:
        with pytest.raises(ArtifactStoreError, match="refused"):
            store.place(PurePosixPath(rel), [_written(scratch, f"{MARK}.fits")])
    finally:
        shutil.rmtree(scratch)
    assert files_under(root) == [] and escaped_files(tmp_path) == []


@pytest.mark.parametrize("stem", [f"../outside/{MARK}", "..", "", f"/tmp/{MARK}"])
def test_skymap_writer_refuses_stems_that_leave_its_folder(stem: str, tmp_path: Path,
                                                           outside: Path) -> None:
    folder = tmp_path / "scratch"
    with pytest.raises(UnsafePath):
        write_products(cast(ScanResult, None), {}, folder, stem)  # refused before any use
    assert not folder.exists() and escaped_files(tmp_path) == []


def test_skymap_writer_refuses_a_linked_file(tmp_path: Path, outside: Path) -> None:
    folder = tmp_path / "scratch"
    folder.mkdir()
    (folder / "x_skymap.fits.gz").symlink_to(outside / "planted.fits.gz")
    with pytest.raises(UnsafePath):
        write_products(cast(ScanResult, None), {}, folder, "x")
    assert not (outside / "planted.fits.gz").exists()


@pytest.mark.parametrize("observatory", ["../../x", "/abs", "..", "a/b", "", "é"])
def test_file_stem_refuses_unsafe_observatory(observatory: str) -> None:
    n = NoticeInput(observatory=observatory, run_id=1, event_id=2, name=None, stream="gold",
                    event_time=datetime.now(UTC), revision=0, kind="initial",
                    issued_at=datetime.now(UTC), ra=None, dec=None, r50_deg=None,
                    r90_deg=None, energy_tev=None, signalness=None, far_per_year=None,
                    ivorn="ivo://x")
    with pytest.raises(ValueError, match="safe"):
        file_stem(n)
