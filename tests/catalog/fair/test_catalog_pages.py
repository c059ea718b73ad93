"""The paged DCAT catalogue (RDF for harvesters, HTML for browsers) and the HTML error pages
browsers get on the FAIR paths while API clients keep the JSON error body."""

from __future__ import annotations

import warnings

import pyshacl
from fastapi.testclient import TestClient
from lxml import html
from rdflib import Graph
from rdflib.compare import isomorphic
from rdflib.term import Node

from catalog.fair.dcat import DCAT3, HYDRA
from catalog.fair.dcat_page import rdflib_term
from catalog.fair.dcat_rdfxml import group, to_rdfxml
from catalog.fair.dcat_terms import Lit, Triple
from catalog.fair.records import RecordService
from tests.catalog.fair.conftest import load_dcat_shapes

#: What a browser sends.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _jsonld(text: str) -> Graph:
    with warnings.catch_warnings():  # rdflib's own use of its deprecated ConjunctiveGraph
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=text, format="json-ld")


def test_every_catalogue_page_conforms_and_links_the_next(client: TestClient,
                                                          seeded: RecordService) -> None:
    """Pages of two alerts: each conforms to DCAT-AP 3.0.1 (as Turtle and as RDF/XML), says
    its place (hydra, ``Link``), and its Turtle, JSON-LD and RDF/XML are the same graph."""
    shapes = load_dcat_shapes()
    seen: set[Node] = set()
    url: str | None = "/catalog?page=1&limit=2"
    pages = 0
    while url:
        r = client.get(url, headers={"Accept": "text/turtle"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
        g = Graph().parse(data=r.text, format="turtle")
        ok, _, report = pyshacl.validate(g, shacl_graph=shapes, inference="none",
                                         allow_warnings=True)
        assert ok, report
        for media, parse in (("application/ld+json", _jsonld),
                             ("application/rdf+xml",
                              lambda t: Graph().parse(data=t, format="xml"))):
            other = client.get(url, headers={"Accept": media})
            assert other.headers["content-type"].startswith(media)
            assert isomorphic(parse(other.text), g), media
            if media == "application/rdf+xml":  # written apart from rdflib: validated too
                ok, _, report = pyshacl.validate(parse(other.text), shacl_graph=shapes,
                                                 inference="none", allow_warnings=True)
                assert ok, report
        concepts = set(g.subjects(DCAT3.hasVersion, None))
        assert not seen & concepts
        seen |= concepts
        links = r.headers["link"]
        nxt = [part.split(">")[0].strip(" <") for part in links.split(",")
               if 'rel="next"' in part]
        assert bool(nxt) == any(True for _ in g.objects(None, HYDRA.nextPage))
        assert not nxt or "&after=" in nxt[0]  # the next page read from this one's last
        url = "/catalog" + nxt[0].split("/catalog", 1)[1] if nxt else None
        pages += 1
    assert pages == 2 and len(seen) == 3  # three alerts over two pages, none twice


def test_catalogue_has_an_html_view_for_browsers(client: TestClient,
                                                 seeded: RecordService) -> None:
    """A browser gets the catalogue page as HTML (alerts, versions, paging, the RDF
    serialisations as links that work without an Accept header)."""
    r = client.get("/catalog?limit=2", headers={"Accept": BROWSER})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    doc = html.fromstring(r.text)
    rows = doc.get_element_by_id("catalog").findall(".//tr")[1:]
    assert [row.findall("td")[0].findtext("a") for row in rows] == ["IceCube-210302A",
                                                                   "IceCube-200615A"]
    nxt = doc.xpath("//nav[@id='paging']/a[@rel='next']/@href")
    assert nxt and "page=2" in nxt[0]
    for href in doc.xpath("//link[@rel='alternate']/@href"):
        alt = client.get("/catalog" + href.split("/catalog", 1)[1], headers={"Accept": BROWSER})
        assert alt.status_code == 200 and not alt.headers["content-type"].startswith("text/html")


def test_browsers_get_html_errors_and_api_clients_json(client: TestClient,
                                                       seeded: RecordService) -> None:
    """An unknown record, DOI or file is an HTML page for a browser (404, with a way on) and
    the JSON error body for anyone else."""
    a = seeded.load("IceCube-200615A")
    for path in ("/records/nope-nope", "/doi/10.5072/zzzzz-zzzzz",
                 f"/records/{a.key}/files/none.fits", "/catalog?page=99",
                 "/catalog?page=2&after=999999999999"):
        r = client.get(path, headers={"Accept": BROWSER})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        doc = html.fromstring(r.text)
        assert doc.findtext(".//h1") == "Not found"
        assert doc.get_element_by_id("error-message").text_content()
        for accept in (None, "application/json"):
            headers = {"Accept": accept} if accept else {}
            j = client.get(path, headers=headers)
            assert j.status_code == 404 and j.json()["error"]["code"] == "not_found", path
    bad = client.get("/catalog?page=0", headers={"Accept": BROWSER})
    assert bad.status_code == 422 and "page" in html.fromstring(bad.text).findtext(".//p")


def test_rdfxml_writer_keeps_every_term() -> None:
    """The page's RDF/XML writer, read back by rdflib, gives exactly the triples it was given:
    markup, quotes, line breaks and tabs in literals and IRIs, blank nodes, language tags,
    datatypes, an empty literal, and a predicate outside the page's prefixes."""
    xsd = "http://www.w3.org/2001/XMLSchema#"
    odd = 'a < b & c > "d" \'e\' ]]> \r\n\ttab ünïcode ✓'
    triples: list[Triple] = [
        ("http://x.example/a?x=1&y='2'", str(DCAT3.keyword), Lit(odd, lang="en")),
        ("http://x.example/a?x=1&y='2'", "http://purl.org/dc/terms/title", Lit("")),
        ("http://x.example/a?x=1&y='2'", "http://other.example/vocab#has-part.v2", "_:n1"),
        ("_:n1", "http://purl.org/dc/terms/extent", Lit("12", datatype=xsd + "integer")),
        ("_:n1", "http://other.example/vocab/7seeAlso", "http://x.example/q#frag"),
        ("_:n1", "http://purl.org/dc/terms/description", Lit(odd)),
    ]
    back = Graph().parse(data=to_rdfxml(group(triples)), format="xml")
    expected = Graph()
    for s, p, o in triples:
        expected.add((rdflib_term(s), rdflib_term(p), rdflib_term(o)))
    assert isomorphic(back, expected)
    assert len(back) == len(triples)
