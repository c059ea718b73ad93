"""Issue 16 item 10: ``Range`` requests on the files of a record, from every artifact
backend — the local folder, a ``file://`` store and S3 (moto's server over real HTTP,
with s3fs) — answer 206 with exactly the asked bytes and ``Content-Range``; a range past
the end is 416; several ranges or an ``If-Range`` get the whole file (RFC 9110 allows it).

One real scan makes the files; they are then copied into each store (boto3 for S3, on its
own) and the artifact rows pointed at the copies. Expected bytes are slices of the files as
read from the store directly, not through the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from catalog.schema.events import artifacts
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.scan_helpers import fast_settings
from tests.ingest.test_artifact_store import BUCKET, _artifact_rows, _scan_through_app, moto_s3

__all__ = ["moto_s3"]  # the fixture, used by name


def _check_ranges(client: TestClient, url: str, data: bytes, *, remote: bool) -> None:
    size = len(data)
    cases: list[tuple[str, int, int]] = [
        ("bytes=0-99", 0, 99), (f"bytes={size - 100}-", size - 100, size - 1),
        ("bytes=-50", size - 50, size - 1), (f"bytes=10-{size + 1000}", 10, size - 1),
        ("bytes=5-5", 5, 5)]
    for header, first, last in cases:
        r = client.get(url, headers={"Range": header})
        assert r.status_code == 206, (url, header, r.status_code)
        assert r.content == data[first:last + 1], (url, header)
        assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert int(r.headers["content-length"]) == last - first + 1
        assert r.headers["accept-ranges"] == "bytes"
        assert "content-digest" not in r.headers and "repr-digest" in r.headers
    past = client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    whole = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"some-etag"'})
    assert whole.status_code in (200, 206)
    if remote:  # ours: no validator to compare, so the whole file
        assert whole.status_code == 200 and whole.content == data
        several = client.get(url, headers={"Range": "bytes=0-1,5-6"})
        assert several.status_code == 200 and several.content == data
    plain = client.get(url)
    assert plain.status_code == 200 and plain.content == data


def _repoint(engine: Engine, row: dict[str, Any], storage_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(artifacts.update().where(artifacts.c.id == row["id"])
                     .values(storage_url=storage_url))


def test_ranges_from_the_local_folder_a_file_store_and_s3(
        settings: Settings, engine: Engine, admin_headers: dict[str, str], tmp_path: Path,
        moto_s3: Any) -> None:
    cfg = fast_settings(settings, dispatcher_enabled=False,
                        artifacts_url=f"file://{tmp_path / 'store'}/")
    moto_s3.create_bucket(Bucket=BUCKET)
    with TestClient(create_app(cfg)) as client:
        name, scan = _scan_through_app(client, admin_headers, event_id=91)
        assert scan["state"] == "done", scan["error"]
        rows = [r for r in _artifact_rows(engine, name)
                if r["role"] in ("skymap-fits", "moc90")]
        assert len(rows) == 2
        for row in rows:
            url = f"/records/{name}/files/{row['filename']}"
            data = Path(row["storage_url"].removeprefix("file://")).read_bytes()
            assert len(data) > 200
            _check_ranges(client, url, data, remote=False)  # file:// store (served locally)

            local = cfg.data_dir / "artifacts" / "copy" / row["filename"]
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            _repoint(engine, row, f"copy/{row['filename']}")  # the local folder
            _check_ranges(client, url, data, remote=False)

            key = f"ranges/{row['filename']}"
            moto_s3.put_object(Bucket=BUCKET, Key=key, Body=data)
            _repoint(engine, row, f"s3://{BUCKET}/{key}")
            in_s3: bytes = moto_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            assert in_s3 == data
            _check_ranges(client, url, in_s3, remote=True)
