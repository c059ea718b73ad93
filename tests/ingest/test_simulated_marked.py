"""Simulation traffic is marked as such end to end (issue 16, item 7).

A simulated raw event (observatory ``nufair-sim``, what ``reco.simulate`` writes) and the
same event from a real observatory go through the real app: the notices the folder sink
writes are checked against the official schemas and for their test flags, the VOEvent is
signed with ``NUFAIR_IVORN_BASE`` and carries the contact of ``NUFAIR_CONTACT_*``, and the
simulated event's landing page carries the banner and credits no collaboration.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import voeventparse as vp
from fastapi.testclient import TestClient
from lxml import etree, html

from nufair.app import create_app
from nufair.settings import Settings
from tests.ingest.events import raw_body
from tests.ingest.test_notice_formats import _params, _xsd, official_gcn_validator

IVORN_BASE = "ivo://nufair.test/simmark"


def _wait_for(path: Path, timeout_s: float = 15.0) -> bytes:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():  # the folder sink renames a complete file into place
            return path.read_bytes()
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def _post(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/events/raw", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["stream"] == "gold" and out["notices_queued"] == 3
    return out


def _notices(settings: Settings, body: dict[str, Any]) -> tuple[Any, dict[str, Any], str]:
    """The VOEvent (parsed, XSD-checked), GCN JSON (schema-checked) and circular of
    revision 0 of ``body``'s event, as the folder sink wrote them."""
    stem = f"{body['observatory']}_{body['run_id']}_{body['event_id']:09d}_0"
    folder = settings.data_dir / "notices"
    xml = _wait_for(folder / "voevent" / f"{stem}.xml")
    _xsd().assertValid(etree.fromstring(xml))
    gcn = json.loads(_wait_for(folder / "gcn-json" / f"{stem}.json"))
    assert list(official_gcn_validator().iter_errors(gcn)) == []
    circular = _wait_for(folder / "circular" / f"{stem}.txt").decode()
    return vp.loads(xml), gcn, circular


def test_simulated_event_goes_out_as_a_test_and_a_real_one_does_not(
        settings: Settings, admin_headers: dict[str, str]) -> None:
    cfg = settings.model_copy(update={"ivorn_base": IVORN_BASE, "contact_name": "Duty Desk",
                                      "contact_email": "desk@nufair.test"})
    sim = raw_body(event_id=42)
    assert sim["observatory"] == "nufair-sim"
    real = {**raw_body(event_id=42), "observatory": "IceCube", "event_id": 44}
    with TestClient(create_app(cfg)) as client:
        sim_out = _post(client, admin_headers, sim)
        _post(client, admin_headers, real)
        v, gcn, circular = _notices(cfg, sim)
        assert v.attrib["role"] == "test"
        params = _params(v)
        assert params["Test"]["value"] == "true" and params["InternalTest"]["value"] == "true"
        assert v.Who.AuthorIVORN == IVORN_BASE
        assert gcn["alert_tense"] == "test"
        assert circular.startswith("TITLE:   GCN CIRCULAR -- TEST\nSUBJECT: TEST: ")

        v, gcn, circular = _notices(cfg, real)
        assert v.attrib["role"] == "observation"
        params = _params(v)
        assert params["Test"]["value"] == "false" and params["InternalTest"]["value"] == "false"
        assert v.Who.AuthorIVORN == IVORN_BASE
        assert v.Who.Author.contactName == "Duty Desk"  # the contact comes from the settings
        assert v.Who.Author.contactEmail == "desk@nufair.test"
        assert gcn["alert_tense"] == "current"
        assert "TEST" not in circular

        page = client.get(f"/records/{sim_out['name']}")
        assert page.status_code == 200, page.text
        doc = html.fromstring(page.text)
        banner = doc.get_element_by_id("simulated").text_content()
        assert "Simulated — not a real observation" in banner and "nufair-sim" in banner
        assert "IceCube Collaboration" not in doc.get_element_by_id("citation").text_content()
