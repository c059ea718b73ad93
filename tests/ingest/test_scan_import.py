"""skymap_scanner's result for IceCube-231202A imported as a finished scan of the event
(POST /api/v1/scans/import): final snapshot, update revision with FITS skymaps and MOCs,
provenance; bad input refused with a code and nothing stored.

The event is a simulated raw event carrying 231202A's run and event numbers (decoding the
I3Live message and its first guess take minutes on a loaded machine; the import only needs
the numbers to agree)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import healpy as hp
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import fast_settings
from tests.ingest.test_artifact_store import _artifact_rows

THEIRS = resources.files("tests.data.reco").joinpath(
    "i3live/run00138632.evt000031747601.millipede_wilks.nside1.json")


def theirs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(THEIRS.read_text("utf-8"))
    return data


@pytest.fixture
def app(settings: Settings, admin_headers: dict[str, str]) -> Iterator[tuple[TestClient, str]]:
    """An app whose runner and dispatcher are off, and the name of the alert of run 138632
    event 31747601 posted to it."""
    with TestClient(create_app(fast_settings(settings, scan_runner_enabled=False,
                                             dispatcher_enabled=False))) as c:
        r = c.post("/api/v1/events/raw", json=raw_body(run_id=138632, event_id=31747601),
                   headers=admin_headers)
        assert r.status_code == 201, r.text
        assert r.json()["name"]
        yield c, str(r.json()["name"])


def _scans(client: TestClient) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = client.get("/api/v1/scans").json()
    return out


def test_import_stores_a_finished_scan_and_update_revision(
        app: tuple[TestClient, str], admin_headers: dict[str, str], engine: Engine) -> None:
    idle, name = app
    data = theirs()
    before = _scans(idle)
    r = idle.post("/api/v1/scans/import", headers=admin_headers,
                  json={"event": name, "result": data, "labels": ["check"],
                        "publish": "update"})
    assert r.status_code == 201, r.text
    scan = r.json()
    assert scan["state"] == "done" and scan["revision"] == 1
    assert scan["labels"] == ["skymap_scanner", "check"]
    assert scan["config"]["source"] == "skymap_scanner"
    assert scan["config"]["metadata"]["nside-1"]["run_id"] == 138632
    assert len(_scans(idle)) == len(before) + 1

    # The final snapshot holds their best pixel (lowest llh), computed here from the file.
    rows = data["nside-1"]["data"]
    best = rows[int(np.argmin([row[1] for row in rows]))]
    theta, phi = hp.pix2ang(1, best[0])
    result = idle.get(f"/api/v1/scans/{scan['id']}/result").json()
    (snap,) = result["snapshots"]
    assert snap["kind"] == "final" and snap["pixels_done"] == 12
    assert snap["best"]["ra_deg"] == pytest.approx(np.degrees(phi))
    assert snap["best"]["dec_deg"] == pytest.approx(90.0 - np.degrees(theta))
    assert snap["best"]["llh"] == pytest.approx(best[1])
    assert result["final"]["config"]["source"] == "skymap_scanner"

    # The update revision: position from their best pixel, files as for our own scans.
    detail = idle.get(f"/api/v1/events/{name}").json()
    rev = next(rv for rv in detail["revisions"] if rv["number"] == 1)
    assert rev["ra"] == pytest.approx(np.degrees(phi) % 360.0)
    rows = _artifact_rows(engine, name)
    assert {r["role"] for r in rows if r["number"] == 1} >= {
        "skymap-fits", "skymap-multiorder", "moc50", "moc90"}


def test_bad_results_are_refused_and_nothing_stored(
        app: tuple[TestClient, str], admin_headers: dict[str, str]) -> None:
    idle, name = app
    before = _scans(idle)
    bad_columns = copy.deepcopy(theirs())
    bad_columns["nside-1"]["columns"] = ["index", "llh"]
    bad_pixel = copy.deepcopy(theirs())
    bad_pixel["nside-1"]["data"][0][0] = 12  # nside 1 has pixels 0..11
    other = copy.deepcopy(theirs())
    other["nside-1"]["metadata"]["event_id"] = 1
    cases = [({"nside-x": {}}, 422, "invalid_scan_result"),
             (bad_columns, 422, "invalid_scan_result"),
             (bad_pixel, 422, "invalid_scan_result"),
             ({}, 422, "invalid_scan_result"),
             ({"nside-1048576": theirs()["nside-1"]}, 422, "invalid_scan_result"),
             ({"nside-1": {"columns": [], "data": 3}}, 422, "invalid_scan_result"),
             ({"nside-1": []}, 422, "invalid_scan_result"),
             (other, 422, "scan_result_mismatch")]
    for body, status, code in cases:
        r = idle.post("/api/v1/scans/import", headers=admin_headers,
                      json={"event": name, "result": body})
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
    r = idle.post("/api/v1/scans/import", headers=admin_headers,
                  json={"event": "IceCube-991231Z", "result": theirs()})
    assert r.status_code == 404, r.text
    assert _scans(idle) == before
    detail = idle.get(f"/api/v1/events/{name}").json()
    assert [rv["number"] for rv in detail["revisions"]] == [0]


def test_import_needs_the_ingest_scope(app: tuple[TestClient, str]) -> None:
    idle, name = app
    r = idle.post("/api/v1/scans/import",
                  json={"event": name, "result": theirs()})
    assert r.status_code == 401, r.text
