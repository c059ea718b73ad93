"""POST /api/v1/events/raw and POST /api/v1/events/{name}/retract through the real app."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from nufair.settings import Settings
from reco.firstguess import error_radii, first_guess
from tests.ingest.events import detector, raw_body, simulated


def _wait_for(path: Path, timeout_s: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_bytes()
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def test_alert_is_stored_published_and_deduplicated(client: TestClient, settings: Settings,
                                                    admin_headers: dict[str, str]) -> None:
    body = raw_body()
    r = client.post("/api/v1/events/raw", json=body, headers=admin_headers)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] and out["stream"] == "gold" and out["revision"] == 0
    assert out["name"] == "IceCube-250304A" and out["notices_queued"] == 3
    truth = simulated().truth
    assert abs(out["selection"]["dec_deg"] - np.degrees(truth.dec)) < 2.0

    stem = f"{body['observatory']}_{body['run_id']}_{body['event_id']:09d}_0"
    gcn = json.loads(_wait_for(settings.data_dir / "notices" / "gcn-json" / f"{stem}.json"))
    rev = client.get(f"/api/v1/events/{out['name']}/revisions/0").json()
    assert (gcn["ra"], gcn["dec"]) == (round(rev["ra"], 4), round(rev["dec"], 4))
    assert gcn["alert_type"] == "initial" and gcn["id"] == [f"{body['run_id']}_42"]
    # The initial circle is the first guess's calibrated paraboloid circle, not a constant.
    fg = first_guess(simulated().event, detector())
    r50, r90 = error_radii(fg.sigma_deg)
    assert np.isfinite(fg.sigma_deg) and r50 < r90
    assert gcn["ra_dec_error"] == round(r90, 4)
    assert out["selection"]["r90_deg"] == r90 and out["selection"]["r50_deg"] == r50
    assert (settings.data_dir / "notices" / "voevent" / f"{stem}.xml").exists() or _wait_for(
        settings.data_dir / "notices" / "voevent" / f"{stem}.xml")

    again = client.post("/api/v1/events/raw", json=body, headers=admin_headers)
    assert again.status_code == 200 and not again.json()["created"]
    assert again.json()["raw_event_id"] == out["raw_event_id"]
    detail = client.get(f"/api/v1/events/{out['name']}").json()
    assert detail["revision_count"] == 1

    notices = client.get(f"/api/v1/events/{out['name']}/notices").json()
    assert sorted(n["format"] for n in notices) == ["circular", "gcn-json", "voevent"]


def test_non_alert_is_archived_not_published(client: TestClient, settings: Settings,
                                             admin_headers: dict[str, str]) -> None:
    r = client.post("/api/v1/events/raw", json=raw_body(energy_tev=30.0, event_id=43),
                    headers=admin_headers)
    assert r.status_code == 201, r.text
    assert r.json()["stream"] == "none" and r.json()["notices_queued"] == 0
    assert r.json()["name"] is None
    listed = client.get("/api/v1/events", params={"stream": "none"}).json()["items"]
    assert [e["event_id"] for e in listed] == [43]


def test_bad_input_is_refused_with_a_code(client: TestClient,
                                          admin_headers: dict[str, str]) -> None:
    body = raw_body()
    cases = [
        ({k: v for k, v in body.items() if k != "pulses"}, "invalid_input"),
        ({**body, "time": "2025-03-04T05:06:07"}, "invalid_input"),  # no time zone
        ({**body, "pulses": {**body["pulses"], "charge": [1.0]}}, "invalid_input"),
        ({**body, "run_id": -1}, "invalid_input"),
    ]
    for bad, code in cases:
        r = client.post("/api/v1/events/raw", json=bad, headers=admin_headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    r = client.post("/api/v1/events/raw", content=b"{not json", headers={
        **admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/api/v1/events/raw", content=b"x" * (2 * 1024 * 1024), headers={
        **admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert client.post("/api/v1/events/raw", json=body).status_code == 401
    assert client.get("/api/v1/events").json()["items"] == []  # nothing half-stored


def test_retraction_endpoint(client: TestClient, settings: Settings,
                             admin_headers: dict[str, str]) -> None:
    name = client.post("/api/v1/events/raw", json=raw_body(),
                       headers=admin_headers).json()["name"]
    url = f"/api/v1/events/{name}/retract"
    assert client.post(url, json={"reason": "noise burst"}).status_code == 401
    assert client.post(url, json={"reason": ""}, headers=admin_headers).status_code == 422
    r = client.post(url, json={"reason": "noise burst"}, headers=admin_headers)
    assert r.status_code == 201, r.text
    assert r.json() == {"name": name, "revision": 1, "kind": "retraction",
                        "notices_queued": 3}
    assert client.post(url, json={"reason": "noise burst"},
                       headers=admin_headers).status_code == 409
    assert client.post("/api/v1/events/IceCube-000101Z/retract", json={"reason": "x y z"},
                       headers=admin_headers).status_code == 404
    detail = client.get(f"/api/v1/events/{name}").json()
    assert detail["retracted"] and [v["kind"] for v in detail["revisions"]] == [
        "initial", "retraction"]
    body = raw_body()
    stem = f"{body['observatory']}_{body['run_id']}_{body['event_id']:09d}_1"
    voe = _wait_for(settings.data_dir / "notices" / "voevent" / f"{stem}.xml").decode()
    assert '<Param name="Retraction" value="true"/>' in voe and 'cite="retraction"' in voe
