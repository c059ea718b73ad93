"""The catalogue page's read (cursor and offset, events without a concept DOI) and its
writers (Turtle, JSON-LD and RDF/XML from the page's nodes, against rdflib's own graph)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

from rdflib import Graph
from rdflib.compare import isomorphic

from catalog.fair.config import FairConfig
from catalog.fair.dcat_page import PageLinks, page_nodes, rdflib_term, to_jsonld, to_turtle, triples
from catalog.fair.dcat_rdfxml import to_rdfxml
from catalog.fair.dcat_terms import Lit, Nodes
from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from catalog.storage.fair_pages import catalog_page
from tests.catalog.records_factory import record

#: The seeded alerts, newest event first (2021-03-02, 2020-06-15, 2019-01-08).
NEWEST_FIRST = ["IceCube-210302A", "IceCube-200615A", "IceCube-190108A"]


def test_cursor_walk_reads_the_offset_pages(storage: CatalogStorage,
                                           seeded: RecordService) -> None:
    """Pages of one alert read by cursor (each after the previous page's alert) are the
    pages read by number, newest first; each knows whether an alert follows it."""
    engine = storage.engine
    by_number = [catalog_page(engine, n, 1) for n in (1, 2, 3)]
    assert [r.alerts[0].name for r in by_number] == NEWEST_FIRST
    assert [r.more for r in by_number] == [True, True, False]
    assert {r.total for r in by_number} == {3}
    walked = [catalog_page(engine, 1, 1)]
    while walked[-1].more:
        walked.append(catalog_page(engine, len(walked) + 1, 1, after=walked[-1].alerts[0].key))
    assert walked == by_number
    two = catalog_page(engine, 1, 2)
    assert [a.name for a in two.alerts] == NEWEST_FIRST[:2] and two.more
    assert catalog_page(engine, 2, 2, after=two.alerts[-1].key).alerts == by_number[2].alerts
    assert catalog_page(engine, 4, 1).alerts == []
    assert catalog_page(engine, 2, 1, after=10**12).alerts == []  # a cursor naming no alert


def test_events_without_a_concept_doi_are_not_alerts_of_the_catalogue(
        storage: CatalogStorage, seeded: RecordService) -> None:
    """An event stored but not yet minted (a bulk import before ``mint_missing``) is on no
    page and not counted, read by number (the probed walk) or by cursor; its time is the
    newest, so an offset over every event would show it first."""
    t = datetime(2024, 1, 1, tzinfo=UTC)
    storage.import_records([record(run=140000, event=1, rev=0, name="IceCube-240101A",
                                   time=t, issued=t)])
    engine = storage.engine
    pages = [catalog_page(engine, n, 1) for n in (1, 2, 3)]
    assert [p.alerts[0].name for p in pages] == NEWEST_FIRST
    assert [p.total for p in pages] == [3, 3, 3] and not pages[-1].more
    assert catalog_page(engine, 2, 1, after=pages[0].alerts[0].key) == pages[1]
    whole = catalog_page(engine, 1, 10)
    assert [a.name for a in whole.alerts] == NEWEST_FIRST and not whole.more


def test_page_times_are_written_as_the_records_write_them(storage: CatalogStorage,
                                                         seeded: RecordService) -> None:
    """The read's times are ISO 8601 UTC to the second (PostgreSQL's formatting), the
    versions oldest first with their issue times, the retracted alert's withdrawal set."""
    alerts = {a.name: a for a in catalog_page(storage.engine, 1, 10).alerts}
    a = alerts["IceCube-200615A"]
    assert [v.number for v in a.versions] == [0, 1]
    assert [v.issued for v in a.versions] == ["2020-06-15T15:00:00Z", "2020-06-15T18:00:00Z"]
    assert alerts["IceCube-190108A"].event_time == "2019-01-08T01:02:03Z"
    assert a.withdrawn_at is None
    assert alerts["IceCube-210302A"].withdrawn_at == "2021-03-02T12:00:00Z"


def _rdflib_graph(nodes: Nodes) -> Graph:
    g = Graph()
    for s, p, o in triples(nodes):
        g.add((rdflib_term(s), rdflib_term(p), rdflib_term(o)))
    return g


def _jsonld(text: str) -> Graph:
    with warnings.catch_warnings():  # rdflib's own use of its deprecated ConjunctiveGraph
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=text, format="json-ld")


def _parsed(nodes: Nodes, *, xml: bool = True) -> dict[str, Graph]:
    out = {"turtle": Graph().parse(data=to_turtle(nodes), format="turtle"),
           "json-ld": _jsonld(to_jsonld(nodes))}
    if xml:
        out["rdf/xml"] = Graph().parse(data=to_rdfxml(nodes), format="xml")
    return out


def test_page_writers_give_rdflibs_graph(storage: CatalogStorage, seeded: RecordService,
                                         fair_cfg: FairConfig) -> None:
    """A page's Turtle, JSON-LD and RDF/XML, parsed by rdflib, are the graph rdflib builds
    from the page's triples (no triple lost, none invented)."""
    read = catalog_page(storage.engine, 1, 2)
    url = fair_cfg.catalog_url + "?page={page}&limit=2"
    links = PageLinks(page=1, size=2, total=read.total, url=url.format(page=1),
                      first=url.format(page=1), last=url.format(page=2), prev=None,
                      next=url.format(page=2) + f"&after={read.alerts[-1].key}")
    nodes = page_nodes(read.alerts, fair_cfg, links)
    expected = _rdflib_graph(nodes)
    assert len(expected) == sum(len(pairs) for pairs in nodes.values())  # no duplicate
    for syntax, g in _parsed(nodes).items():
        assert isomorphic(g, expected), syntax


def test_turtle_and_jsonld_keep_every_literal() -> None:
    """Quotes, backslashes, line breaks, tabs, a control character, non-ASCII text, an empty
    literal, language tags and datatypes, blank nodes and IRIs outside the prefixes (or in
    a prefix's namespace but no valid local name) survive Turtle and JSON-LD."""
    odd = 'say "hi" \\ back\\slash\r\nnew\tline \x01 ünïcode ✓ ]]> <b>'
    nodes: Nodes = {
        "http://x.example/a": [("http://purl.org/dc/terms/title", Lit(odd, "en")),
                               ("http://purl.org/dc/terms/title", Lit("")),
                               ("http://purl.org/dc/terms/has-part.v2", "_:n1")],
        "_:n1": [("http://other.example/v#p", Lit("12", datatype="http://www.w3.org/2001/"
                                                                 "XMLSchema#integer")),
                 ("http://purl.org/dc/terms/description", Lit(odd)),
                 ("http://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                  "http://www.w3.org/ns/dcat#Dataset")],
    }
    expected = _rdflib_graph(nodes)
    for syntax, g in _parsed(nodes, xml=False).items():  # XML 1.0 has no U+0001
        assert isomorphic(g, expected), syntax
