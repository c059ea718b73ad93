"""Hostile and malformed input through the admin import endpoint: 4xx, and nothing stored."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from catalog.importers import sample_paths
from catalog.schema.events import events, region_tiles, revisions

VOEVENT = next(p for p in sample_paths() if p.name == "IceCube_134191_017593623_1.xml")

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0">&lol3;</voe:VOEvent>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0">&xxe;</voe:VOEvent>"""


def _fixture(name: str) -> bytes:
    return resources.files("tests.data.notices").joinpath(name).read_bytes()


def _gcn_json(**change: object) -> bytes:
    doc = {"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/icecube/"
                      "single_neutrino_alerts.schema.json",
           "mission": "IceCube", "instrument": "IC86", "messenger": "Neutrino",
           "pipeline": "Gold Track Alert", "record_number": 1, "event_name": ["IceCube-230416A"],
           "id": ["137840_57034692"], "alert_datetime": "2023-04-16T05:42:00.0Z",
           "alert_type": "initial", "alert_tense": "current", "alert_topology": "Track",
           "number_of_events": 1, "ra": 345.82, "dec": 9.01, "ra_dec_error": 0.5,
           "containment_probability": 0.9, "systematic_included": False,
           "trigger_time": "2023-04-16T05:22:26.150574Z", "nu_energy": 127.29,
           "p_astro": 0.34064, "far": 8.029e-8}
    doc.update(change)
    return json.dumps(doc).encode()


def _stored(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (events, revisions, region_tiles))


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b"<voe:VOEvent><What>", "application/xml", 422, "invalid_input"),
    (BOMB, "application/xml", 422, "invalid_input"),
    (XXE, "application/xml", 422, "invalid_input"),
    (VOEVENT.read_bytes().replace(b"142.9499", b"\xff\xfe142"), "application/xml", 422,
     "invalid_input"),
    (_gcn_json(ra="far away"), "application/json", 422, "invalid_input"),
    (_gcn_json(pipeline="Platinum Track Alert"), "application/json", 422, "invalid_input"),
    (_gcn_json(mission="KM3NeT"), "application/json", 422, "not_a_neutrino_alert"),
    (b"just some words\n", "text/plain", 415, "unsupported_format"),
    (_fixture("S191216ap_initial.xml"), "application/xml", 422, "not_a_neutrino_alert"),
    (_fixture("Antares_1438351269.xml"), "application/xml", 422, "not_a_neutrino_alert"),
    (_fixture("sample_astrotrack_alert_2021_edited.xml"), "application/xml", 422,
     "inconsistent_notice"),
    (b"", "application/xml", 422, "invalid_input"),
])
def test_bad_documents_are_refused_and_nothing_is_stored(
        client: TestClient, engine: Engine, admin_headers: dict[str, str], body: bytes,
        content_type: str, status: int, code: str) -> None:
    """Bad documents are refused and nothing is stored."""
    r = client.post("/api/v1/admin/import", content=body,
                    headers={**admin_headers, "Content-Type": content_type})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert _stored(engine) == (0, 0, 0)


def test_a_50_mb_body_is_refused_before_parsing(client: TestClient, engine: Engine,
                                                admin_headers: dict[str, str]) -> None:
    """A 50 MB body is refused before it is parsed."""
    r = client.post("/api/v1/admin/import", content=b"<" + b"a" * (50 * 1024 * 1024),
                    headers=admin_headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert _stored(engine) == (0, 0, 0)


def test_a_good_document_is_stored_once(client: TestClient, engine: Engine,
                                        admin_headers: dict[str, str]) -> None:
    """A good document is stored once."""
    for _ in range(2):
        r = client.post("/api/v1/admin/import", content=VOEVENT.read_bytes(),
                        headers={**admin_headers, "Content-Type": "application/xml"})
        assert r.status_code == 200, r.text
    assert r.json()["unchanged"] == 1
    assert _stored(engine)[:2] == (1, 1)
    ev = client.get("/api/v1/events/134191_17593623").json()
    assert (ev["current"]["ra"], ev["current"]["dec"]) == (142.9499, 3.66)
