"""End to end through the real app: raw event → initial notice → scan progress → update
notice, with the update's positions, regions and artifacts checked against what is stored."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import time
from pathlib import Path, PurePosixPath
from typing import Any

import astropy.units as u
import healpy as hp
import numpy as np
import pytest
import voeventparse as vp
from astropy.io import fits
from fastapi.testclient import TestClient
from lxml import etree
from mocpy import MOC
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

import nufair.ingest
from catalog.schema.events import events, region_tiles, revisions
from catalog.schema.pids import dois
from ingest.scanning.artifacts import ArtifactStore, make_store
from ingest.scanning.skymaps import WrittenFile
from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings, wait_for
from tests.ingest.test_notice_formats import _xsd, official_gcn_validator


def _voevent_position(payload: bytes) -> tuple[float, float, float]:
    _xsd().assertValid(etree.fromstring(payload))
    v = vp.loads(payload)
    assert vp.valid_as_v2_0(v)
    pos = vp.get_event_position(v)
    return pos.ra, pos.dec, pos.err


def test_raw_event_to_update_notice(settings: Settings, admin_headers: dict[str, str]) -> None:
    cfg = fast_settings(settings)
    body = raw_body()
    stem = f"{body['observatory']}_{body['run_id']}_{body['event_id']:09d}"
    gcn_dir = cfg.data_dir / "notices" / "gcn-json"
    voe_dir = cfg.data_dir / "notices" / "voevent"
    seen: dict[str, float] = {}
    with TestClient(create_app(cfg)) as client:
        r = client.post("/api/v1/events/raw", json=body, headers=admin_headers)
        assert r.status_code == 201, r.text
        name = r.json()["name"]
        (scan,) = client.get("/api/v1/scans", params={"run_id": body["run_id"]}).json()
        assert scan["priority"] == "realtime" and scan["publish"] == "update"
        progress_seen: list[dict[str, object]] = []
        deadline = time.monotonic() + 180
        while "update" not in seen and time.monotonic() < deadline:
            now = time.monotonic()
            if "initial" not in seen and (gcn_dir / f"{stem}_0.json").exists():
                seen["initial"] = now
            p = client.get(f"/api/v1/scans/{scan['id']}/progress").json()
            assert p["state"] not in ("failed", "aborted"), client.get(
                f"/api/v1/scans/{scan['id']}").json()["error"]
            if p["state"] == "running" and p["pixels_done"] > 0 and "progress" not in seen:
                seen["progress"] = now
                progress_seen.append(p)
            if (gcn_dir / f"{stem}_1.json").exists() and (voe_dir / f"{stem}_1.xml").exists():
                seen["update"] = now
            time.sleep(0.03)
        assert list(seen) == ["initial", "progress", "update"], seen
        p = progress_seen[0]
        assert 0 < p["fraction"] < 1 and p["rate_per_s"] > 0  # type: ignore[operator]
        assert p["eta_s"] is not None and p["best_so_far"] is not None

        done = wait_for(lambda: (s := client.get(f"/api/v1/scans/{scan['id']}").json())
                        ["state"] == "done" and s, what="scan done")
        assert done["revision"] == 1 and done["claims"] == 1
        event = client.get(f"/api/v1/events/{name}").json()
        revs = {rv["number"]: rv for rv in event["revisions"]}
        assert revs[1]["kind"] == "update"

        validator = official_gcn_validator()
        for number in (0, 1):
            gcn = json.loads((gcn_dir / f"{stem}_{number}.json").read_bytes())
            validator.validate(gcn)
            assert (gcn["ra"], gcn["dec"]) == (round(revs[number]["ra"], 4),
                                               round(revs[number]["dec"], 4))
            assert gcn["alert_type"] == ("initial", "update")[number]
            # The first-guess circle is statistical; the scan's calibrated regions include
            # the systematics of reco/data/calibration.json and say so.
            assert gcn["systematic_included"] is (number == 1)
            ra, dec, _ = _voevent_position((voe_dir / f"{stem}_{number}.xml").read_bytes())
            assert (ra, dec) == pytest.approx((revs[number]["ra"], revs[number]["dec"]),
                                              abs=1e-4)

        # The final snapshot is the scan's best fit, and the update revision says so.
        result = client.get(f"/api/v1/scans/{scan['id']}/result").json()
        kinds = [s["kind"] for s in result["snapshots"]]
        assert kinds[-1] == "final" and kinds.count("final") == 1 and "partial" in kinds
        assert [s["seq"] for s in result["snapshots"]] == list(range(1, len(kinds) + 1))
        best = result["final"]["best_fit"]
        assert (revs[1]["ra"], revs[1]["dec"]) == pytest.approx(
            (best["ra_deg"] % 360, best["dec_deg"]), abs=1e-9)

        # The skymap the update notice links to is served, intact, and peaks at the best fit.
        gcn1 = json.loads((gcn_dir / f"{stem}_1.json").read_bytes())
        url = gcn1["healpix_url"]
        art = client.get(url.split("127.0.0.1:8000", 1)[1])
        assert art.status_code == 200
        path = next((cfg.data_dir / "artifacts").glob("*/1/*_skymap.fits.gz"))
        # It is the file's one URL: under the landing page of the update's version DOI.
        assert url == f"http://127.0.0.1:8000/records/{_version_suffix(cfg, 1)}/files/{path.name}"
        assert hashlib.sha256(art.content).hexdigest() == hashlib.sha256(
            path.read_bytes()).hexdigest()
        assert art.headers["content-type"] == "application/gzip"
        with fits.open(io.BytesIO(gzip.decompress(art.content))) as hdul:
            hdr, values = hdul[1].header, np.asarray(hdul[1].data["2DLLH"], dtype=float)
            prob = np.asarray(hdul[1].data["PROB"], dtype=float)
        assert prob.sum() == pytest.approx(1.0) and int(np.argmax(prob)) == int(
            np.nanargmin(values))
        assert hdr["ORDERING"] == "RING" and hdr["NSIDE"] == 8
        assert (hdr["RUNID"], hdr["EVENTID"]) == (body["run_id"], body["event_id"])
        peak = int(np.nanargmin(values))
        theta, phi = hp.pix2ang(8, peak)
        assert (np.degrees(phi), 90 - np.degrees(theta)) == pytest.approx(
            (revs[1]["ra"], revs[1]["dec"]), abs=1e-6)

        # The landing page shows reco's sky plot, served as a PNG file of the record.
        page = client.get(f"/records/{name}").text
        png_url = page.split('<figure id="scanplot"><img src="', 1)[1].split('"', 1)[0]
        png = client.get(png_url.split("127.0.0.1:8000", 1)[-1])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    engine = create_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        _check_mocs_and_tiles(engine, cfg.data_dir / "artifacts", revs[1])
    finally:
        engine.dispose()


def _version_suffix(settings: Settings, number: int) -> str:
    """The DOI suffix of revision ``number`` (the only event of the test)."""
    engine = create_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        with engine.connect() as conn:
            suffix: str = conn.execute(select(dois.c.suffix).join(
                revisions, revisions.c.id == dois.c.revision_pk).where(
                revisions.c.number == number)).scalar_one()
            return suffix
    finally:
        engine.dispose()


def _check_mocs_and_tiles(engine: Engine, root: Path, rev: dict[str, Any]) -> None:
    """The MOC files hold the best fit; the stored region tiles are exactly the MOCs."""
    for level in (50, 90):
        moc = MOC.from_fits(str(next(root.glob(f"*/1/*_moc{level}.fits"))))
        assert moc.contains_lonlat(rev["ra"] * u.deg, rev["dec"] * u.deg)[0]
        with engine.connect() as conn:
            ranges = conn.execute(
                select(region_tiles.c.hpx).join(revisions,
                                                revisions.c.id == region_tiles.c.revision_pk)
                .where(revisions.c.number == 1, region_tiles.c.level == level)
                .order_by(region_tiles.c.hpx)).scalars().all()
        stored = MOC.from_depth29_ranges(29, np.array([[r.lower, r.upper] for r in ranges],
                                                      dtype=np.uint64))
        assert np.array_equal(stored.to_depth29_ranges, moc.to_depth29_ranges)
        area = moc.sky_fraction * 4 * np.pi * (180 / np.pi) ** 2
        assert rev[f"error{level}"]["area_deg2"] == pytest.approx(area, rel=1e-9)


def test_failed_upload_stores_no_update_and_fails_the_scan(
        settings: Settings, admin_headers: dict[str, str], tmp_path: Path) -> None:
    """The files are placed before the update's transaction: an upload that fails leaves the
    event at revision 0 with no update notice, and the scan fails with the store's error."""
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file where the artifact folder should be")
    cfg = fast_settings(settings, artifacts_url=f"file://{blocker}/artifacts")
    body = raw_body(event_id=77)
    with TestClient(create_app(cfg)) as client:
        r = client.post("/api/v1/events/raw", json=body, headers=admin_headers)
        assert r.status_code == 201, r.text
        (scan,) = client.get("/api/v1/scans", params={"event_id": 77}).json()
        failed = wait_for(lambda: (s := client.get(f"/api/v1/scans/{scan['id']}").json())
                          ["state"] == "failed" and s, timeout_s=180, what="scan failed")
        assert "ArtifactStoreError" in failed["error"] and failed["revision"] is None
        event = client.get(f"/api/v1/events/{r.json()['name']}").json()
        assert [v["number"] for v in event["revisions"]] == [0]
        notices = client.get(f"/api/v1/events/{r.json()['name']}/notices").json()
        assert notices and len({n["revision_pk"] for n in notices}) == 1  # revision 0's


class _ProbingStore:
    """An artifact store that checks, as each upload starts, that nobody holds the row lock
    of the event the files belong to (``FOR UPDATE NOWAIT`` fails at once if anyone does)."""

    def __init__(self, inner: ArtifactStore, engine: Engine) -> None:
        self.inner = inner
        self.engine = engine
        self.placed: list[PurePosixPath] = []

    def scratch(self) -> Path:
        return self.inner.scratch()

    def place(self, rel: PurePosixPath, files: list[WrittenFile]) -> list[str]:
        with self.engine.begin() as conn:
            conn.execute(select(events.c.id).where(events.c.id == int(rel.parts[0]))
                         .with_for_update(nowait=True))
        self.placed.append(rel)
        return self.inner.place(rel, files)


def test_files_are_placed_while_no_row_lock_is_held(
        settings: Settings, admin_headers: dict[str, str], engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No upload runs inside the update's transaction: the event's row is free meanwhile."""
    stores: list[_ProbingStore] = []

    def probing(root: Path, url: str | None) -> ArtifactStore:
        stores.append(_ProbingStore(make_store(root, url), engine))
        return stores[-1]

    monkeypatch.setattr(nufair.ingest, "make_store", probing)
    with TestClient(create_app(fast_settings(settings))) as client:
        r = client.post("/api/v1/events/raw", json=raw_body(event_id=78), headers=admin_headers)
        assert r.status_code == 201, r.text
        (scan,) = client.get("/api/v1/scans", params={"event_id": 78}).json()
        done = wait_for(lambda: (s := client.get(f"/api/v1/scans/{scan['id']}").json())
                        ["state"] in ("done", "failed") and s, timeout_s=180, what="scan end")
        assert done["state"] == "done", done["error"]
        assert done["revision"] == 1
    (store,) = stores
    assert [p.parts[1] for p in store.placed] == ["1"]
