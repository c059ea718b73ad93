"""An I3Live message through POST /api/v1/events/raw: decoded, selected, stored, announced."""

from __future__ import annotations

import base64
import copy
import json
import zlib
from importlib import resources

import numpy as np
from fastapi.testclient import TestClient

from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.scan_helpers import fast_settings, wait_for

MESSAGE = resources.files("tests.data.reco").joinpath(
    "i3live/run00138632.evt000031747601_realtimeEventData.json").read_bytes()


def test_post_i3live_message_gives_an_alert(client: TestClient,
                                            admin_headers: dict[str, str]) -> None:
    summary = json.loads(MESSAGE)["value"]["data"]
    r = client.post("/api/v1/events/raw", content=MESSAGE,
                    headers={**admin_headers, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["created"] and out["revision"] == 0
    assert out["stream"] in ("gold", "bronze") and out["name"] == "IceCube-231202A"
    assert out["notices_queued"] > 0
    detail = client.get(f"/api/v1/events/{out['name']}").json()
    assert (detail["run_id"], detail["event_id"]) == (summary["run_id"], summary["event_id"])
    # The first guess lies near IceCube's published position (RA 139.04°, Dec +0.37°).
    sel = out["selection"]
    ra, dec = np.radians(139.04), np.radians(0.37)
    cos = (np.sin(np.radians(sel["dec_deg"])) * np.sin(dec) + np.cos(np.radians(sel["dec_deg"]))
           * np.cos(dec) * np.cos(np.radians(sel["ra_deg"]) - ra))
    assert np.degrees(np.arccos(min(1.0, cos))) < 5.0

    again = client.post("/api/v1/events/raw", content=MESSAGE, headers={
        **admin_headers, "Content-Type": "application/vnd.icecube.i3live+json"})
    assert again.status_code == 200 and again.json()["raw_event_id"] == out["raw_event_id"]


def test_broken_i3live_message_is_refused_and_nothing_stored(
        client: TestClient, admin_headers: dict[str, str]) -> None:
    message = json.loads(MESSAGE)
    broken = copy.deepcopy(message)
    frames = broken["value"]["data"]["frames"]
    raw = zlib.decompress(base64.b64decode(frames[3][1]))
    frames[3][1] = base64.b64encode(zlib.compress(raw[:1500])).decode()
    r = client.post("/api/v1/events/raw", json={"format": "i3live", "message": broken},
                    headers=admin_headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_i3live_message"
    assert error["details"]["frame"].startswith("frame 3 (Q)")
    assert isinstance(error["details"]["offset"], int)
    assert client.get("/api/v1/events").json()["items"] == []


def test_i3live_message_to_update_notice(settings: Settings,
                                         admin_headers: dict[str, str]) -> None:
    """IceCube-231202A posted as its I3Live message: the initial notice, the realtime scan,
    then the update notice, whose position lies near IceCube's published one."""
    cfg = fast_settings(settings, scan_nsides="8:0,64:8,256:8")  # 0.23° pixels at the end
    stem = "IceCube_138632_031747601"
    gcn_dir = cfg.data_dir / "notices" / "gcn-json"
    with TestClient(create_app(cfg)) as client:
        r = client.post("/api/v1/events/raw", content=MESSAGE,
                        headers={**admin_headers, "Content-Type": "application/json"})
        assert r.status_code == 201, r.text
        initial = wait_for(lambda: (gcn_dir / f"{stem}_0.json").exists(), what="initial")
        update = wait_for(lambda: (gcn_dir / f"{stem}_1.json").exists(), timeout_s=600,
                          every_s=0.5, what="update notice")
        assert initial and update
    notice = json.loads((gcn_dir / f"{stem}_1.json").read_text())
    assert notice["alert_type"] == "update"
    ra, dec = np.radians(139.04), np.radians(0.37)
    cos = (np.sin(np.radians(notice["dec"])) * np.sin(dec) + np.cos(np.radians(notice["dec"]))
           * np.cos(dec) * np.cos(np.radians(notice["ra"]) - ra))
    assert np.degrees(np.arccos(min(1.0, cos))) < 1.0
