"""What a plain JSON client gets (``Accept: application/json``, offered by the landing pages
and the catalogue but asked for by no other test): JSON-LD for every kind of record and for
a catalogue page; and the browser's HTML error pages for the FAIR paths the other tests
leave out (an unknown export or notice, the linkset or sky plot of an unknown record)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from lxml import html

from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from nufair.settings import Settings
from tests.catalog.fair.conftest import add_artifact
from tests.catalog.fair.test_catalog_pages import BROWSER


def test_json_clients_get_jsonld_of_every_kind(client: TestClient, seeded: RecordService,
                                               storage: CatalogStorage,
                                               settings: Settings) -> None:
    """A record without files, one with files, a superseded version, a retracted record and
    a catalogue page answer ``application/json`` with the JSON-LD they serve as
    ``application/ld+json``: the same document, typed as what it is (``application/ld+json``
    is JSON by its ``+json`` suffix, RFC 6839), the same way on every path."""
    add_artifact(storage.engine, settings.data_dir / "artifacts", "IceCube-200615A", 1,
                 "skymap.fits", b"SIMPLE  =                    T" + bytes(2850),
                 "application/fits", "skymap-fits")
    a = seeded.load("IceCube-200615A")
    paths = ["/records/IceCube-190108A", f"/records/{a.versions[1].doi.suffix}",
             f"/records/{a.versions[0].doi.suffix}", "/records/IceCube-210302A",
             "/catalog?limit=2"]
    for path in paths:
        r = client.get(path, headers={"Accept": "application/json"})
        assert r.status_code == 200, path
        assert r.headers["content-type"].split(";")[0] == "application/ld+json", path
        assert "Accept" in r.headers["vary"], path
        ld = client.get(path, headers={"Accept": "application/ld+json"})
        assert json.loads(r.text) == json.loads(ld.text), path


def test_browsers_get_html_for_the_other_unknowns(client: TestClient,
                                                  seeded: RecordService) -> None:
    """An unknown export format, notice, or the linkset or sky plot of an unknown record, is
    an HTML page for a browser and JSON for an API client (the record, DOI and file cases:
    test_catalog_pages). (A path no route matches is JSON for everyone: the app's 404.)"""
    a = seeded.load("IceCube-200615A")
    for path in (f"/records/{a.key}/export/no-such-format",
                 f"/records/{a.key}/notices/999999",
                 "/records/nope-nope/linkset", "/records/nope-nope/skyplot.svg"):
        r = client.get(path, headers={"Accept": BROWSER})
        assert r.status_code in (404, 422), path
        if r.status_code == 404:
            assert r.headers["content-type"].startswith("text/html"), path
            assert html.fromstring(r.text).get_element_by_id("error-message").text_content()
        j = client.get(path, headers={"Accept": "application/json"})
        assert j.status_code == r.status_code and "error" in j.json(), path
