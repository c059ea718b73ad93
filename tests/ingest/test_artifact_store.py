"""Artifacts on an fsspec URL (``NUFAIR_ARTIFACTS_URL``): a real scan through the app puts
its FITS skymaps, MOCs and plot in the configured store (a ``file://`` folder; S3 over HTTP
on loopback, moto's server with s3fs), the rows carry the full URLs, and the landing pages
serve the same bytes. A store that refuses the files leaves no revision behind."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import astropy.units as u
import fsspec
import fsspec.config
import httpx
import pytest
from fastapi.testclient import TestClient
from fsspec.implementations.memory import MemoryFileSystem
from mocpy import MOC
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.schema.events import artifacts, events, region_tiles, revisions
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for

#: Roles of the files a finished scan stores.
ROLES = {"skymap-fits", "skymap-multiorder", "moc50", "moc90", "skymap-png"}

BUCKET = "nufair-test"


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real S3 HTTP API on loopback (moto's server), fsspec configured to reach it the way
    an operator would (``FSSPEC_S3_*``), and a boto3 client to look at it independently."""
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its buckets in this process, across servers: start from an empty S3.
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        yield client
    finally:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def _event_pk(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        pk: int = conn.execute(select(events.c.id).where(events.c.name == name)).scalar_one()
    return pk


def _artifact_rows(engine: Engine, name: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(artifacts, revisions.c.number)
            .join(revisions, revisions.c.id == artifacts.c.revision_pk)
            .join(events, events.c.id == artifacts.c.event_pk)
            .where(events.c.name == name).order_by(artifacts.c.role)).mappings()]


def _scan_through_app(client: TestClient, headers: dict[str, str], event_id: int,
                      ) -> tuple[str, dict[str, Any]]:
    """POST a raw event; wait for its realtime scan to end (done or failed)."""
    body = raw_body(event_id=event_id)
    r = client.post("/api/v1/events/raw", json=body, headers=headers)
    assert r.status_code == 201, r.text
    (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"],
                                                   "event_id": event_id}).json()
    ended = wait_for(lambda: (s := client.get(f"/api/v1/scans/{scan['id']}").json())
                     ["state"] in ("done", "failed") and s, timeout_s=300, what="scan end")
    return r.json()["name"], ended


def _check_served(client: TestClient, name: str, rows: list[dict[str, Any]],
                  stored: dict[str, bytes], rev: dict[str, Any]) -> None:
    """Each file, fetched from the landing route, is the stored object, byte for byte."""
    for row in rows:
        r = client.get(f"/records/{name}/files/{row['filename']}")
        assert r.status_code == 200, (row["filename"], r.text)
        sha = hashlib.sha256(r.content).hexdigest()
        assert sha == row["sha256"] == hashlib.sha256(stored[row["storage_url"]]).hexdigest()
        assert len(r.content) == row["size_bytes"]
        assert r.headers["content-digest"] == \
            f"sha-256=:{base64.b64encode(bytes.fromhex(sha)).decode()}:"
        assert r.headers["content-type"] == row["media_type"]
        if row["role"] == "moc90":  # and it is the real thing: the region holds the best fit
            moc = MOC.from_fits(io.BytesIO(r.content))
            assert moc.contains_lonlat(rev["ra"] * u.deg, rev["dec"] * u.deg)[0]


def _update_revision(client: TestClient, name: str) -> dict[str, Any]:
    revs = client.get(f"/api/v1/events/{name}").json()["revisions"]
    (rev,) = [r for r in revs if r["number"] == 1]
    assert rev["kind"] == "update"
    return dict(rev)


def test_file_url_store_holds_the_files_and_serves_them(
        settings: Settings, engine: Engine, admin_headers: dict[str, str],
        tmp_path: Path) -> None:
    store = tmp_path / "elsewhere" / "store"  # outside data_dir/artifacts
    url = f"file://{store}/"
    cfg = fast_settings(settings, dispatcher_enabled=False, artifacts_url=url)
    with TestClient(create_app(cfg)) as client:
        name, scan = _scan_through_app(client, admin_headers, event_id=81)
        assert scan["state"] == "done", scan["error"]
        rows = _artifact_rows(engine, name)
        pk = _event_pk(engine, name)
        assert {r["role"] for r in rows} == ROLES and {r["number"] for r in rows} == {1}
        for row in rows:
            assert row["storage_url"] == f"file://{store}/{pk}/1/{row['filename']}"
        # Exactly these files are in the store (no temporary leftovers), none locally.
        on_disk = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}
        assert on_disk == {f"{pk}/1/{r['filename']}" for r in rows}
        local = cfg.data_dir / "artifacts"
        assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))
        stored = {r["storage_url"]: (store / str(pk) / "1" / r["filename"]).read_bytes()
                  for r in rows}
        _check_served(client, name, rows, stored, _update_revision(client, name))
        # The path-trick protections still hold: a file:// URL outside both roots is refused.
        secret = tmp_path / "secret.txt"
        secret.write_text("not for you")
        with engine.begin() as conn:
            conn.execute(artifacts.update().where(artifacts.c.role == "moc50")
                         .values(storage_url=secret.as_uri()))
        moc50 = next(r["filename"] for r in rows if r["role"] == "moc50")
        r = client.get(f"/records/{name}/files/{moc50}")
        assert r.status_code == 404 and "not for you" not in r.text


def test_s3_store_holds_the_files_and_serves_them(
        settings: Settings, engine: Engine, admin_headers: dict[str, str],
        moto_s3: Any) -> None:
    moto_s3.create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/nufair/artifacts"
    cfg = fast_settings(settings, dispatcher_enabled=False, artifacts_url=url)
    with TestClient(create_app(cfg)) as client:
        name, scan = _scan_through_app(client, admin_headers, event_id=82)
        assert scan["state"] == "done", scan["error"]
        rows = _artifact_rows(engine, name)
        pk = _event_pk(engine, name)
        assert {r["role"] for r in rows} == ROLES
        keys = {o["Key"] for o in moto_s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
        assert keys == {f"nufair/artifacts/{pk}/1/{r['filename']}" for r in rows}
        for row in rows:
            assert row["storage_url"] == f"{url}/{pk}/1/{row['filename']}"
        stored = {r["storage_url"]: moto_s3.get_object(
            Bucket=BUCKET, Key=r["storage_url"].removeprefix(f"s3://{BUCKET}/"))["Body"].read()
            for r in rows}
        local = cfg.data_dir / "artifacts"
        assert not local.exists() or not any(p.is_file() for p in local.rglob("*"))
        _check_served(client, name, rows, stored, _update_revision(client, name))
        # An object gone from the store is a clean 404, not a response cut short.
        gone = rows[0]
        moto_s3.delete_object(Bucket=BUCKET,
                              Key=gone["storage_url"].removeprefix(f"s3://{BUCKET}/"))
        assert client.get(f"/records/{name}/files/{gone['filename']}").status_code == 404


class FlakyStore(MemoryFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """An in-memory store that fills up: after ``budget`` files every write fails with
    ENOSPC; with ``short`` it silently keeps one byte less of each file."""

    protocol = "nufairflaky"
    budget: ClassVar[int] = 2
    short: ClassVar[bool] = False
    store: ClassVar[dict[str, Any]] = {}  # its own objects, apart from memory://'s
    pseudo_dirs: ClassVar[list[str]] = [""]

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str):
            path = path.removeprefix(f"{cls.protocol}://")
        return super()._strip_protocol(path)

    def put_file(self, lpath: str, rpath: str, *args: Any, **kwargs: Any) -> None:
        if FlakyStore.budget <= 0:
            raise OSError(errno.ENOSPC, "No space left on device", rpath)
        FlakyStore.budget -= 1
        data = Path(lpath).read_bytes()
        self.pipe_file(rpath, data[:-1] if FlakyStore.short else data)


@pytest.fixture
def flaky() -> Iterator[type[FlakyStore]]:
    fsspec.register_implementation(FlakyStore.protocol, FlakyStore, clobber=True)
    FlakyStore.store.clear()
    FlakyStore.budget, FlakyStore.short = 2, False
    yield FlakyStore
    FlakyStore.store.clear()
    FlakyStore.clear_instance_cache()


def _nothing_half_written(engine: Engine, name: str, scan: dict[str, Any]) -> None:
    assert scan["state"] == "failed" and scan["revision"] is None
    assert "ArtifactStoreError" in scan["error"]
    with engine.connect() as conn:
        pk = conn.execute(select(events.c.id).where(events.c.name == name)).scalar_one()
        numbers = conn.execute(select(revisions.c.number)
                               .where(revisions.c.event_pk == pk)).scalars().all()
        n_art = conn.execute(select(func.count()).select_from(artifacts)
                             .where(artifacts.c.event_pk == pk)).scalar_one()
        n_tiles = conn.execute(
            select(func.count()).select_from(region_tiles)
            .join(revisions, revisions.c.id == region_tiles.c.revision_pk)
            .where(revisions.c.event_pk == pk, revisions.c.number > 0)).scalar_one()
    assert numbers == [0] and n_art == 0 and n_tiles == 0


@pytest.mark.parametrize("fault", ["disk-full", "short-write"])
def test_store_failure_stores_no_revision_and_a_rescan_recovers(
        settings: Settings, engine: Engine, admin_headers: dict[str, str],
        flaky: type[FlakyStore], fault: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if fault == "short-write":  # room enough: only the size check can catch it
        flaky.budget, flaky.short = 100, True
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cfg = fast_settings(settings, dispatcher_enabled=False,
                        artifacts_url=f"{flaky.protocol}://archive")
    with TestClient(create_app(cfg)) as client:
        name, scan = _scan_through_app(client, admin_headers, event_id=83)
        _nothing_half_written(engine, name, scan)
        if fault == "disk-full":  # two files went up before the store filled: orphans
            assert "No space left on device" in scan["error"]
            assert len(flaky.store) == 2
        else:
            assert "bytes stored" in scan["error"]
        assert not list(scratch.glob("nufair-scan-*"))  # the temporary folder is gone
        # The store is fixed; a rescan (the failure path's retry) stores the revision and
        # overwrites the orphans (same names).
        flaky.budget, flaky.short = 100, False
        again = client.post(f"/api/v1/scans/{scan['id']}/rescan", json={},
                            headers=admin_headers).json()
        done = wait_for(lambda: (s := client.get(f"/api/v1/scans/{again['id']}").json())
                        ["state"] in ("done", "failed") and s, timeout_s=300, what="rescan")
        assert done["state"] == "done", done["error"]
        rows = _artifact_rows(engine, name)
        pk = _event_pk(engine, name)
        assert {r["role"] for r in rows} == ROLES
        assert set(flaky.store) == {f"/archive/{pk}/1/{r['filename']}" for r in rows}
        stored = {r["storage_url"]: flaky.store[
            r["storage_url"].removeprefix(f"{flaky.protocol}:/")].getvalue() for r in rows}
        _check_served(client, name, rows, stored, _update_revision(client, name))


@pytest.mark.parametrize("url", ["s3:/bucket", "bucket/prefix", "file://", "s3:///",
                                 "file://host/srv/a", "file:///srv/a%20b"])
def test_artifacts_url_is_checked(url: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="artifacts_url"):
        Settings(artifacts_url=url)


def test_artifacts_url_unset_or_normalised() -> None:
    assert Settings(artifacts_url="").artifacts_url is None
    s = Settings(artifacts_url="file:///srv/nufair-artifacts/")
    assert s.artifacts_url == "file:///srv/nufair-artifacts"
    assert s.artifacts_file_root() == Path("/srv/nufair-artifacts")
    assert Settings(artifacts_url="s3://bucket/prefix/").artifacts_file_root() is None
