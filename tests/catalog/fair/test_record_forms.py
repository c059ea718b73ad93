"""Every machine-readable form of four kinds of record: one without files, one with files, a
superseded version and a retracted alert. Each is checked against the outside standard it
claims (science-on-schema, DCAT-AP 3.0.1, DataCite kernel-4.6 and JSON), and every media
type of the landing page's content negotiation answers, is typed and parses."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

import pyshacl
import pytest
import xmlschema
from datacite import schema45
from fastapi.testclient import TestClient
from lxml import etree, html
from rdflib import Graph, URIRef
from rdflib.namespace import RDF

from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from nufair.settings import Settings
from tests.catalog.fair.conftest import SCHEMAS, add_artifact, load_dcat_shapes

SOSO = SCHEMAS / "shacl" / "science-on-schema"
SDO = "http://schema.org/"
#: Offline, the schema.org context is its @vocab (see test_rdf); PROV keeps its prefix.
OFFLINE_CONTEXT = {"@vocab": SDO, "prov": "http://www.w3.org/ns/prov#"}
FITS = b"SIMPLE  =                    T" + bytes(2850)
#: What DataCite's content negotiation adds to the REST attributes.
SERVED_ONLY = {"id", "agency", "state", "providerId", "clientId"}


@dataclass(frozen=True)
class Kinds:
    """The landing-page keys of the four kinds of record."""

    no_files: str
    with_files: str
    superseded: str
    retracted: str

    def all(self) -> list[tuple[str, str]]:
        """(kind, key) of each."""
        return list(vars(self).items())


@pytest.fixture
def kinds(seeded: RecordService, storage: CatalogStorage, settings: Settings) -> Kinds:
    """C (no files), A's latest version (a FITS file), A's first version (superseded) and B
    (retracted)."""
    add_artifact(storage.engine, settings.data_dir / "artifacts", "IceCube-200615A", 1,
                 "skymap.fits", FITS, "application/fits", "skymap-fits")
    a = seeded.load("IceCube-200615A")
    return Kinds(no_files="IceCube-190108A", with_files=a.versions[1].doi.suffix,
                 superseded=a.versions[0].doi.suffix, retracted="IceCube-210302A")


def _get(client: TestClient, key: str, accept: str) -> tuple[bytes, str]:
    r = client.get(f"/records/{key}", headers={"Accept": accept})
    assert r.status_code == 200, (key, accept, r.text[:300])
    return r.content, r.headers["content-type"]


def _jsonld(text: str | bytes) -> Graph:
    with warnings.catch_warnings():  # rdflib's own use of its deprecated ConjunctiveGraph
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=text, format="json-ld")


@pytest.mark.parametrize("shapes", ["googleRequired.ttl", "googleRecommended.ttl"])
def test_jsonld_of_each_kind(client: TestClient, kinds: Kinds, shapes: str) -> None:
    """The JSON-LD passes science-on-schema (required and recommended), says its access
    conditions, sizes and checksums every distribution and carries PROV-O."""
    shape_graph = Graph().parse(SOSO / shapes)
    for kind, key in kinds.all():
        body, _ = _get(client, key, "application/ld+json")
        doc = json.loads(body)
        assert doc["conditionsOfAccess"].startswith("Open access")
        for dist in doc["distribution"]:
            assert dist["contentSize"].endswith(" B") and len(dist["sha256"]) == 64, kind
        # The sizes are the metadata exports' real sizes.
        xml_dist = next(d for d in doc["distribution"] if d["name"] == "datacite-xml metadata")
        real = client.get(xml_dist["contentUrl"].removeprefix("http://testserver")).content
        assert xml_dist["contentSize"] == f"{len(real)} B"
        assert doc["prov:wasGeneratedBy"]["prov:wasAssociatedWith"]["@id"]
        g = _jsonld(json.dumps(dict(doc, **{"@context": OFFLINE_CONTEXT})))
        assert (URIRef(doc["@id"]), RDF.type, URIRef(SDO + "Dataset")) in g
        ok, _, report = pyshacl.validate(g, shacl_graph=shape_graph, inference="none",
                                         allow_warnings=True)
        assert ok, (kind, report)
    ld = json.loads(_get(client, kinds.with_files, "application/ld+json")[0])
    files = [d for d in ld["distribution"] if d["name"] == "skymap.fits"]
    assert files and files[0]["contentSize"] == f"{len(FITS)} B"
    retracted = json.loads(_get(client, kinds.retracted, "application/ld+json")[0])
    assert retracted["prov:invalidatedAtTime"] == "2021-03-02T12:00:00Z"


def test_dcat_ap_of_each_kind(client: TestClient, kinds: Kinds) -> None:
    """The DCAT (Turtle and RDF/XML, the same triples) of every kind of record conforms to
    DCAT-AP 3.0.1, files with their SPDX checksums included."""
    shapes = load_dcat_shapes()
    for kind, key in kinds.all():
        body, ctype = _get(client, key, "text/turtle")
        assert ctype.startswith("text/turtle")
        g = Graph().parse(data=body, format="turtle")
        ok, _, report = pyshacl.validate(g, shacl_graph=shapes, inference="none",
                                         allow_warnings=True)
        assert ok, (kind, report)
        xml_body, ctype = _get(client, key, "application/rdf+xml")
        assert ctype.startswith("application/rdf+xml")
        assert len(Graph().parse(data=xml_body, format="xml")) == len(g)


def test_datacite_of_each_kind(client: TestClient, kinds: Kinds,
                               datacite_xsd: xmlschema.XMLSchema) -> None:
    """DataCite XML (asked as its own type or as ``application/xml``) validates against
    kernel-4.6; DataCite JSON is what DataCite serves: the attributes (valid against the
    DataCite JSON schema) with ``id``, ``agency`` and ``state``."""
    for kind, key in kinds.all():
        for accept in ("application/vnd.datacite.datacite+xml", "application/xml"):
            body, ctype = _get(client, key, accept)
            assert ctype.startswith(accept)
            datacite_xsd.validate(body)
        body, ctype = _get(client, key, "application/vnd.datacite.datacite+json")
        assert ctype.startswith("application/vnd.datacite.datacite+json")
        doc = json.loads(body)
        assert doc["agency"] == "datacite" and doc["id"].endswith(doc["doi"]), kind
        assert schema45.validate({k: v for k, v in doc.items() if k not in SERVED_ONLY})
    xml = etree.fromstring(_get(client, kinds.retracted, "application/xml")[0])
    ns = {"d": "http://datacite.org/schema/kernel-4"}
    assert xml.find(".//d:date[@dateType='Withdrawn']", ns) is not None


#: Every type the landing page negotiates, with a parse of its body.
def _parsers() -> dict[str, object]:
    return {
        "text/html": lambda b: html.fromstring(b).findtext(".//h1"),
        "application/ld+json": lambda b: json.loads(b)["@id"],
        "application/vnd.datacite.datacite+xml": lambda b: etree.fromstring(b).tag,
        "application/xml": lambda b: etree.fromstring(b).tag,
        "application/vnd.datacite.datacite+json": lambda b: json.loads(b)["doi"],
        "text/turtle": lambda b: len(Graph().parse(data=b, format="turtle")),
        "application/rdf+xml": lambda b: len(Graph().parse(data=b, format="xml")),
        "application/x-bibtex": lambda b: b.decode().startswith("@misc{") or None,
        "application/vnd.citationstyles.csl+json": lambda b: json.loads(b)["DOI"],
        "application/x-research-info-systems": lambda b: b.startswith(b"TY  - DATA") or None,
        "application/linkset+json": lambda b: json.loads(b)["linkset"],
        "text/x-bibliography": lambda b: b.decode().strip() or None,
    }


def test_every_negotiated_type_of_each_kind(client: TestClient, kinds: Kinds) -> None:
    """Every offered type answers 200 with its own Content-Type and a body that parses."""
    for kind, key in kinds.all():
        for accept, parse in _parsers().items():
            body, ctype = _get(client, key, accept)
            assert ctype.split(";")[0] == accept, (kind, accept, ctype)
            assert parse(body), (kind, accept)  # type: ignore[operator]
        # An XHTML client gets the HTML page (the page is HTML, not XHTML).
        assert _get(client, key, "application/xhtml+xml")[1].startswith("text/html")


def test_formatted_citation_styles(client: TestClient, kinds: Kinds) -> None:
    """``text/x-bibliography`` is APA by default; ``style`` chooses another (in the Accept
    header or on the export URL); a retracted record says so; an unknown style is refused."""
    apa = _get(client, kinds.superseded, "text/x-bibliography")[0].decode()
    assert "(Version 0) [Data set]. nufair neutrino alert archive. http" in apa
    assert apa.startswith("IceCube Collaboration. (2020). IceCube-200615A")
    ieee = _get(client, kinds.superseded, "text/x-bibliography; style=ieee")[0].decode()
    assert ieee.startswith("IceCube Collaboration, “IceCube-200615A") and "doi: 10.5072/" in ieee
    r = client.get(f"/records/{kinds.superseded}/export/bibliography",
                   params={"style": "chicago-author-date"})
    assert r.status_code == 200 and r.text.startswith("IceCube Collaboration. 2020. “")
    retracted = _get(client, kinds.retracted, "text/x-bibliography")[0].decode()
    assert retracted.rstrip().endswith("[Retracted]")
    bad = client.get(f"/records/{kinds.no_files}/export/bibliography", params={"style": "x"})
    assert bad.status_code == 422
