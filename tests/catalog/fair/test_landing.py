"""Landing pages: one URL for people (HTML) and machines (JSON-LD, DataCite, DCAT, citations),
with signposting parsed by the ``signposting`` package and JSON-LD extracted by extruct."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import extruct
import httpx
import pytest
import signposting
import xmlschema
from fastapi.testclient import TestClient
from lxml import etree, html

from catalog.fair.config import FairConfig
from catalog.fair.records import RecordService
from catalog.fair.signposts import EXPORT_TYPES
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from nufair.settings import Settings
from tests.catalog.fair.conftest import BASE, add_artifact
from tests.catalog.records_factory import record


def _digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def test_page_shows_citation_parameters_versions_and_files(
        client: TestClient, seeded: RecordService, storage: CatalogStorage,
        settings: Settings) -> None:
    """The landing page shows the citation, the latest parameters, the sky plot, the versions
    and the files with their checksums; an older version says it is superseded."""
    add_artifact(storage.engine, settings.data_dir / "artifacts", "IceCube-200615A", 1,
                 "skymap.fits", b"SIMPLE" + bytes(100), "application/fits", "skymap-fits")
    r = client.get("/records/IceCube-200615A")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Accept" in _vary(r.headers)
    doc = html.fromstring(r.text)
    a = seeded.load("IceCube-200615A")
    cite = doc.get_element_by_id("citation").text_content()
    assert "IceCube Collaboration (2020)" in cite and f"/doi/{a.concept.doi}" in cite
    text = doc.text_content()
    assert "RA 142.950°, Dec +3.660°" in text  # the latest version's position
    assert "RA +1.30 / −1.10°, Dec +1.00 / −0.90°" in text  # its 90 % rectangle
    assert "183 TeV" in text and "0.500" in text and "0.9 yr⁻¹" in text
    svg = doc.get_element_by_id("skyplot").find(".//{*}svg")
    assert svg is not None and svg.find(".//{*}polygon[@class='region90']") is not None
    versions = doc.get_element_by_id("versions").findall("a")
    assert [v.text_content().split()[0] for v in versions[:2]] == ["v0", "v1"]
    files = doc.get_element_by_id("files").text_content()
    content = b"SIMPLE" + bytes(100)
    assert hashlib.sha256(content).hexdigest() in files
    assert hashlib.md5(content).hexdigest() in files and "application/fits" in files
    assert doc.get_element_by_id("tombstone", None) is None
    old = client.get(f"/records/{a.versions[0].doi.suffix}")
    assert "Superseded" in html.fromstring(old.text).get_element_by_id("superseded").text_content()


def test_retracted_record_is_a_tombstone(client: TestClient, seeded: RecordService) -> None:
    """Every record of a retracted alert is a tombstone with date and reason, still citable."""
    b = seeded.load("IceCube-210302A")
    for key in (b.key, b.versions[0].doi.suffix):
        doc = html.fromstring(client.get(f"/records/{key}").text)
        banner = doc.get_element_by_id("tombstone").text_content()
        assert "Retracted" in banner and "2021-03-02T12:00:00Z" in banner
        assert "detector calibration artefact" in banner
        assert doc.get_element_by_id("citation") is not None  # citation kept
    ld = client.get(f"/records/{b.key}", headers={"Accept": "application/ld+json"}).json()
    assert ld["creativeWorkStatus"] == "Retracted"


def test_content_negotiation(client: TestClient, seeded: RecordService) -> None:
    """One URL for people and machines: HTML, JSON-LD, DataCite XML or Turtle by ``Accept``,
    ``Vary: Accept``, 406 for a type we do not offer."""
    a = seeded.load("IceCube-200615A")
    url = f"/records/{a.key}"
    ld = client.get(url, headers={"Accept": "application/ld+json"})
    assert ld.headers["content-type"] == "application/ld+json"
    assert ld.json()["@id"].endswith(a.concept.doi) and "Accept" in _vary(ld.headers)
    xml = client.get(url, headers={"Accept": "application/vnd.datacite.datacite+xml"})
    assert etree.fromstring(xml.content).tag.endswith("resource")
    ttl = client.get(url, headers={"Accept": "text/turtle;q=0.9, text/html;q=0.1"})
    assert ttl.headers["content-type"].startswith("text/turtle")
    browser = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    refused = client.get(url, headers={"Accept": "image/png"})
    assert refused.status_code == 406 and refused.json()["error"]["code"] == "not_acceptable"
    assert client.get("/records/nope-nope").status_code == 404


@pytest.mark.parametrize("fmt", sorted(EXPORT_TYPES))
def test_exports_have_stable_urls_and_digests(client: TestClient, seeded: RecordService,
                                              datacite_xsd: xmlschema.XMLSchema,
                                              fmt: str) -> None:
    """Each export at its own URL with its media type, a ``Content-Digest`` and a link back to
    the record, and its content naming the DOI."""
    a = seeded.load("IceCube-200615A")
    r = client.get(f"/records/{a.versions[1].doi.suffix}/export/{fmt}")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == EXPORT_TYPES[fmt][0].split(";")[0]
    assert r.headers["content-digest"] == _digest(r.content)
    assert 'rel="describes"' in r.headers["link"]
    doi = a.versions[1].doi.doi
    if fmt == "datacite-xml":
        datacite_xsd.validate(r.content)
    elif fmt in ("datacite-json", "csl-json", "json-ld", "dcat-jsonld"):
        assert doi in json.dumps(r.json())
    elif fmt == "bibtex":
        assert r.text.startswith("@misc{") and f"doi = {{{doi}}}" in r.text
        assert "version = {1}" in r.text
    elif fmt == "ris":
        assert r.text.startswith("TY  - DATA\r\n") and f"DO  - {doi}\r\n" in r.text
    else:
        assert doi in r.text
    assert client.get(f"/records/{a.key}/export/pdf").status_code == 404


def test_jsonld_in_html_equals_negotiated_jsonld(client: TestClient,
                                                 seeded: RecordService) -> None:
    """A crawler (extruct) finds the same Dataset in the page as content negotiation gives."""
    a = seeded.load("IceCube-200615A")
    url = f"/records/{a.versions[0].doi.suffix}"
    page = client.get(url).text
    found = extruct.extract(page, base_url=f"http://testserver{url}", syntaxes=["json-ld"])
    [embedded] = found["json-ld"]
    negotiated = client.get(url, headers={"Accept": "application/ld+json"}).json()
    assert embedded == negotiated
    assert embedded["@type"] == "Dataset" and embedded["version"] == "0"
    assert embedded["creativeWorkStatus"] == "Superseded"
    units = {v["name"]: v["unitCode"] for v in embedded["variableMeasured"]}
    assert units["ra"] == "deg" and units["energy_tev"] == "TeV"


def test_signposting_parsed_by_the_signposting_package(live_url: str) -> None:
    """FAIR Signposting levels 1 and 2 as a third-party client reads them, on the page and on
    its file."""
    page = f"{live_url}/records/IceCube-200615A"
    sp = signposting.find_signposting_http(page)
    ld = httpx.get(page, headers={"Accept": "application/ld+json"}, timeout=30).json()
    doi_url = ld["@id"]
    latest_doi_url = ld["hasPart"][-1]  # the file belongs to the latest version
    assert str(sp.citeAs.target) == doi_url
    assert {str(t.target) for t in sp.types} == {"https://schema.org/Dataset",
                                                 "https://schema.org/AboutPage"}
    assert str(sp.license.target).startswith("https://creativecommons.org/licenses/by/4.0")
    assert {str(d.type) for d in sp.describedBy} >= {"application/ld+json",
                                                    "application/vnd.datacite.datacite+xml"}
    assert [str(i.type) for i in sp.items] == ["application/fits"]
    assert sp.authors
    [item_link] = sp.items
    item = str(item_link.target)
    [linkset_link] = sp.linksets
    canonical = str(linkset_link.target).removesuffix("/linkset")  # the record's own URL
    linkset = signposting.find_signposting_linkset(str(linkset_link.target)).for_context(
        canonical)
    assert str(linkset.citeAs.target) == doi_url
    assert {str(i.target) for i in linkset.items} == {item}
    # Level 1 on the file too, and its digest matches its bytes.
    r = httpx.get(item, timeout=30)
    assert r.headers["content-digest"] == _digest(r.content)
    file_sp = signposting.find_signposting_http(item)
    # One URL per file: the item link is the version's URL, and the file cites its version.
    assert str(file_sp.citeAs.target) == latest_doi_url and file_sp.collection is not None
    version_page = str(file_sp.collection.target)
    assert item.startswith(version_page + "/files/")
    assert version_page.endswith(latest_doi_url.rsplit("/", 1)[1])
    # The concept's URL of that file sends the reader to the version's, serving nothing.
    moved = httpx.get(f"{page}/files/skymap.fits", timeout=30)
    assert (moved.status_code, moved.headers["location"]) == (307, item)


def test_downloads_refuse_path_tricks(client: TestClient, seeded: RecordService,
                                      storage: CatalogStorage, settings: Settings,
                                      tmp_path: Path) -> None:
    """A file row pointing outside the artifact store, or a ``..`` in the name, serves nothing."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not for you")
    with storage.engine.begin() as conn:
        from sqlalchemy import update

        from catalog.schema.events import artifacts
        add_artifact(storage.engine, settings.data_dir / "artifacts", "IceCube-200615A", None,
                     "notes.txt", b"ok", "text/plain", "notes")
        conn.execute(update(artifacts).values(storage_url=secret.as_uri()))
    a = seeded.load("IceCube-200615A")
    r = client.get(f"/records/{a.key}/files/notes.txt")
    assert r.status_code == 404 and "not for you" not in r.text
    assert client.get(f"/records/{a.key}/files/..%2Fsecret.txt").status_code == 404


def test_local_doi_resolver_redirects(client: TestClient, seeded: RecordService) -> None:
    """With local DOIs, ``/doi/<doi>`` redirects to the landing page; an unknown DOI is a 404."""
    a = seeded.load("IceCube-200615A")
    r = client.get(f"/doi/{a.concept.doi}", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].endswith(f"/records/{a.key}")
    assert client.get("/doi/10.5072/zzzzz-zzzzz", follow_redirects=False).status_code == 404


def test_former_artifact_url_redirects_to_the_file_under_its_landing_page(
        client: TestClient, seeded: RecordService, storage: CatalogStorage,
        settings: Settings) -> None:
    """The old ``/api/v1/artifacts/<id>`` URLs keep working: a permanent redirect to the file's
    one public URL, which serves the bytes with their digest."""
    content = b"SIMPLE" + bytes(64)
    add_artifact(storage.engine, settings.data_dir / "artifacts", "IceCube-200615A", 1,
                 "skymap.fits", content, "application/fits", "skymap-fits")
    with storage.engine.connect() as conn:
        from sqlalchemy import select

        from catalog.schema.events import artifacts
        art_id = conn.execute(select(artifacts.c.id)).scalar_one()
    version = next(v for v in seeded.load("IceCube-200615A").versions
                   if v.revision.number == 1)
    canonical = (f"{settings.public_base_url.rstrip('/')}/records/{version.doi.suffix}"
                 "/files/skymap.fits")
    for method in ("GET", "HEAD"):
        r = client.request(method, f"/api/v1/artifacts/{art_id}", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (308, canonical)
    served = client.get(f"/records/{version.doi.suffix}/files/skymap.fits")
    assert served.status_code == 200 and served.content == content
    assert served.headers["content-digest"] == _digest(content)
    assert client.get(f"/api/v1/artifacts/{art_id + 1}").status_code == 404


def _vary(headers: Mapping[str, str]) -> list[str]:
    """The ``Vary`` header's fields (CORS adds ``Origin`` to the page's ``Accept``)."""
    return [f.strip() for f in headers.get("vary", "").split(",")]


def _simulated(storage: CatalogStorage, fair: FairStorage, cfg: FairConfig) -> str:
    """Store a simulated alert (observatory ``nufair-sim``) with its DOIs; its name."""
    t = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    rec = dataclasses.replace(record(run=140001, event=42, name="IceCube-250304A", time=t,
                                     issued=t, energy_tev=300.0), observatory="nufair-sim")
    storage.import_records([rec])
    fair.mint_missing(cfg.doi_prefix, cfg.provider)
    return "IceCube-250304A"


def test_simulated_record_has_a_banner_and_no_collaboration_credit(
        client: TestClient, seeded: RecordService, storage: CatalogStorage,
        fair: FairStorage, fair_cfg: FairConfig) -> None:
    """A simulated event's page opens with a "simulated" banner, credits the simulator, and
    its JSON-LD (in the page and negotiated) says so first; a real event's page has none."""
    name = _simulated(storage, fair, fair_cfg)
    doc = html.fromstring(client.get(f"/records/{name}").text)
    banner = doc.get_element_by_id("simulated")
    assert banner.get("role") == "alert"
    assert "Simulated — not a real observation" in banner.text_content()
    cite = doc.get_element_by_id("citation").text_content()
    assert cite.startswith(f"{fair_cfg.simulation_creator} (2025)")
    assert fair_cfg.creator not in cite  # the collaboration is not credited
    author = doc.find(".//meta[@name='citation_author']")
    assert author is not None and author.get("content") == fair_cfg.simulation_creator
    [ld] = extruct.extract(client.get(f"/records/{name}").text, base_url=BASE,
                           syntaxes=["json-ld"])["json-ld"]
    assert ld["description"].startswith("SIMULATED — NOT A REAL OBSERVATION.")
    assert ld["creator"] == {"@type": "Organization", "name": fair_cfg.simulation_creator}
    bib = client.get(f"/records/{name}/export/bibtex").text
    assert fair_cfg.creator not in bib
    real = html.fromstring(client.get("/records/IceCube-200615A").text)
    assert real.get_element_by_id("simulated", None) is None
    assert "SIMULATED" not in client.get("/records/IceCube-200615A",
                                         headers={"Accept": "application/ld+json"}).text


def test_signposting_of_every_kind_of_record(live_url: str) -> None:
    """Levels 1 and 2, read by the ``signposting`` client, for a record without files, one
    with files, a superseded version and a retracted record: each cites its own DOI, is
    described by DataCite and JSON-LD, and lists exactly its files, at their version's URL."""
    concept = httpx.get(f"{live_url}/records/IceCube-200615A",
                        headers={"Accept": "application/ld+json"}, timeout=30).json()
    v0, v1 = (url.rsplit("/", 1)[1] for url in concept["hasPart"])
    kinds = {"no files": ("IceCube-190108A", 0), "with files": (v1, 1),
             "superseded": (v0, 0), "retracted": ("IceCube-210302A", 0)}
    for kind, (key, n_items) in kinds.items():
        page = f"{live_url}/records/{key}"
        ld = httpx.get(page, headers={"Accept": "application/ld+json"}, timeout=30).json()
        sp = signposting.find_signposting_http(page)
        assert str(sp.citeAs.target) == ld["@id"], kind
        assert {"application/ld+json", "application/vnd.datacite.datacite+xml"} <= {
            str(d.type) for d in sp.describedBy}, kind
        assert sp.license is not None and sp.authors, kind
        assert len(sp.items) == n_items, kind
        for item in sp.items:
            assert str(item.target).startswith(f"{page}/files/"), kind
        [ls_link] = sp.linksets
        linkset = signposting.find_signposting_linkset(str(ls_link.target)).for_context(
            str(ls_link.target).removesuffix("/linkset"))
        assert str(linkset.citeAs.target) == ld["@id"], kind
        assert {str(i.target) for i in linkset.items} == {str(i.target) for i in sp.items}
