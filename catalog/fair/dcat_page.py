"""One page of the DCAT catalogue, written in milliseconds from one database read.

A page describes its alerts as DCAT-AP datasets (the concept and one dataset per version,
with titles, descriptions, landing pages, versions and status) and points at each record's
own DCAT (``rdfs:seeAlso``) for its distributions, checksums and PROV-O. Paging is a
``hydra:PagedCollection`` (the DCAT-AP harvesting convention) and ``Link`` headers.

The triples are rdflib terms; what is hand-written is only their output. rdflib's Graph and
its Turtle and JSON-LD serialisers cost about a millisecond per alert (a 100-alert page took
0.1-1 s); here Turtle is the terms' own N-Triples forms (``Node.n3()``, whose escaping is
rdflib's; N-Triples is a subset of Turtle), and JSON-LD the triples grouped by subject in
flattened JSON-LD. RDF/XML, asked for rarely, goes through rdflib's serialiser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from rdflib.term import Node

from catalog.fair import describe
from catalog.fair.config import LICENSE_URL, FairConfig
from catalog.fair.dcat import ADMS, ADMS_STATUS, DCAT3, HYDRA
from catalog.storage.fair_pages import PageAlert, PageVersion

Triple = tuple[URIRef | BNode, URIRef, Node]


def _dt(t: datetime) -> Literal:
    return Literal(describe.iso(t), datatype=XSD.dateTime)


def _en(text: str) -> Literal:
    return Literal(text, lang="en")


def _name(a: PageAlert) -> str:
    return a.name or f"{a.observatory} run {a.run_id} event {a.event_id}"


def _summary(a: PageAlert, v: PageVersion | None) -> str:
    """A one-paragraph description of an alert (or of one of its versions)."""
    named = f" {a.name}" if a.name else ""
    text = (f"{describe.stream_label(a.stream)} high-energy neutrino alert{named} from the "
            f"{a.observatory} run {a.run_id}, event {a.event_id}, detected at "
            f"{describe.iso(a.event_time)}.")
    shown = v or (a.versions[-1] if a.versions else None)
    if shown is not None and shown.ra is not None and shown.dec is not None:
        text += f" Best-fit direction RA {shown.ra:.2f}°, Dec {shown.dec:+.2f}° (ICRS)."
    if v is not None:
        text += f" Version {v.number} ({v.kind})."
    else:
        text += f" All {len(a.versions)} version(s); the record shows the latest."
    if a.withdrawn_at is not None:
        text = f"WITHDRAWN on {describe.iso(a.withdrawn_at)}: retracted. " + text
    return text


def _common(s: URIRef, cfg: FairConfig, series: URIRef, suffix: str) -> Iterator[Triple]:
    page = URIRef(cfg.record_url(suffix))
    yield s, RDF.type, DCAT3.Dataset
    yield s, DCAT3.landingPage, page
    yield page, RDF.type, FOAF.Document
    yield s, DCAT3.inSeries, series
    yield s, DCTERMS.license, URIRef(LICENSE_URL)
    yield s, RDFS.seeAlso, URIRef(cfg.export_url(suffix, "dcat-ttl"))


def _status(s: URIRef, name: str) -> Iterator[Triple]:
    yield s, ADMS.status, ADMS_STATUS[name]


def alert_triples(a: PageAlert, cfg: FairConfig, catalog: URIRef,
                  series: URIRef) -> Iterator[Triple]:
    """The DCAT of one alert: its concept dataset and one dataset per version."""
    concept = URIRef(cfg.doi_url(a.doi))
    yield catalog, DCAT3.dataset, concept
    yield from _common(concept, cfg, series, a.suffix)
    yield concept, DCTERMS.identifier, Literal(a.doi)
    yield concept, DCTERMS.title, _en(f"{_name(a)} (all versions)")
    yield concept, DCTERMS.description, _en(_summary(a, None))
    yield concept, DCTERMS.modified, _dt(a.updated)
    if a.withdrawn_at is not None:
        yield from _status(concept, "Withdrawn")
    previous: URIRef | None = None
    for v in a.versions:
        ds = URIRef(cfg.doi_url(v.doi))
        yield concept, DCAT3.hasVersion, ds
        yield from _common(ds, cfg, series, v.suffix)
        yield ds, DCTERMS.identifier, Literal(v.doi)
        yield ds, DCTERMS.title, _en(f"{_name(a)} version {v.number}")
        yield ds, DCTERMS.description, _en(_summary(a, v))
        yield ds, DCTERMS.issued, _dt(v.issued)
        yield ds, DCTERMS.modified, _dt(v.updated)
        yield ds, DCAT3.version, Literal(str(v.number))
        yield ds, DCTERMS.isVersionOf, concept
        if previous is not None:
            yield ds, DCAT3.previousVersion, previous
        if a.withdrawn_at is not None:
            yield from _status(ds, "Withdrawn")
        elif v is not a.versions[-1]:
            yield from _status(ds, "Deprecated")
        else:
            yield from _status(ds, "Completed")
        previous = ds
    if previous is not None:
        yield concept, DCAT3.hasCurrentVersion, previous


def _catalog_triples(cfg: FairConfig) -> Iterator[Triple]:
    cat, series = URIRef(cfg.catalog_url), URIRef(cfg.series_url)
    publisher: URIRef | BNode = URIRef(cfg.publisher_ror) if cfg.publisher_ror else BNode()
    yield cat, RDF.type, DCAT3.Catalog
    yield cat, DCTERMS.title, _en(cfg.catalog_title)
    yield cat, DCTERMS.description, _en("Every high-energy neutrino alert of the archive, "
                                        "each revision a versioned, citable dataset.")
    yield cat, DCTERMS.publisher, publisher
    yield publisher, RDF.type, FOAF.Agent
    yield publisher, FOAF.name, Literal(cfg.publisher)
    yield cat, FOAF.homepage, URIRef(cfg.base + "/")
    yield URIRef(cfg.base + "/"), RDF.type, FOAF.Document
    yield cat, DCAT3.dataset, series
    for t in (DCAT3.DatasetSeries, DCAT3.Dataset):  # DatasetSeries ⊑ Dataset, stated
        yield series, RDF.type, t
    yield series, DCTERMS.title, _en("Neutrino alerts")
    yield series, DCTERMS.description, _en("The series of neutrino alerts; each alert is a "
                                           "dataset with one version per revision.")
    yield URIRef(LICENSE_URL), RDF.type, DCTERMS.LicenseDocument
    for name in ("Withdrawn", "Deprecated", "Completed"):
        yield ADMS_STATUS[name], RDF.type, SKOS.Concept
        yield ADMS_STATUS[name], SKOS.prefLabel, _en(name)


def _paging(cfg: FairConfig, page: int, size: int, total: int,
            page_url: str) -> Iterator[Triple]:
    last = max(1, -(-total // size))
    node = URIRef(page_url.format(page=page))
    yield node, RDF.type, HYDRA.PagedCollection
    yield node, HYDRA.totalItems, Literal(total, datatype=XSD.nonNegativeInteger)
    yield node, HYDRA.itemsPerPage, Literal(size, datatype=XSD.nonNegativeInteger)
    yield node, HYDRA.firstPage, Literal(page_url.format(page=1))
    yield node, HYDRA.lastPage, Literal(page_url.format(page=last))
    if page > 1:
        yield node, HYDRA.previousPage, Literal(page_url.format(page=min(page, last + 1) - 1))
    if page < last:
        yield node, HYDRA.nextPage, Literal(page_url.format(page=page + 1))


def page_triples(alerts: Iterable[PageAlert], cfg: FairConfig, *, page: int, size: int,
                 total: int, page_url: str) -> list[Triple]:
    """Every triple of a catalogue page, without duplicates, in a stable order."""
    cat, series = URIRef(cfg.catalog_url), URIRef(cfg.series_url)
    out = list(_catalog_triples(cfg))
    for a in alerts:
        out.extend(alert_triples(a, cfg, cat, series))
    out.extend(_paging(cfg, page, size, total, page_url))
    return list(dict.fromkeys(out))


#: Prefixes of the Turtle pages.
PREFIXES = tuple((prefix, str(ns)) for prefix, ns in (
    ("dcat", DCAT3), ("dct", DCTERMS), ("foaf", FOAF), ("rdf", RDF), ("rdfs", RDFS),
    ("skos", SKOS), ("adms", ADMS), ("hydra", HYDRA), ("xsd", XSD)))
_LOCAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@lru_cache(maxsize=4096)
def _iri(term: URIRef) -> str:
    """A vocabulary IRI as ``prefix:local`` where it is one, else ``<IRI>``."""
    for prefix, ns in PREFIXES:
        if term.startswith(ns) and _LOCAL.match(term[len(ns):]):
            return f"{prefix}:{term[len(ns):]}"
    return term.n3()


def _term(node: Node) -> str:
    return _iri(node) if isinstance(node, URIRef) else node.n3()


def to_turtle(triples: Iterable[Triple]) -> str:
    """Turtle of the triples: the prefixes, then one triple a line."""
    head = "".join(f"@prefix {prefix}: <{ns}> .\n" for prefix, ns in PREFIXES)
    return head + "\n" + "".join(f"{_term(s)} {_iri(p)} {_term(o)} .\n"
                                  for s, p, o in triples)


def _jsonld_value(o: Node) -> Any:
    if isinstance(o, URIRef):
        return {"@id": str(o)}
    if isinstance(o, BNode):
        return {"@id": o.n3()}
    assert isinstance(o, Literal)
    if o.language:
        return {"@value": str(o), "@language": o.language}
    if o.datatype is not None:
        return {"@value": str(o), "@type": str(o.datatype)}
    return str(o)


def to_jsonld(triples: Iterable[Triple]) -> str:
    """Flattened JSON-LD (expanded IRIs, one node object per subject) of the triples."""
    nodes: dict[str, dict[str, Any]] = {}
    for s, p, o in triples:
        sid = s.n3() if isinstance(s, BNode) else str(s)
        node = nodes.setdefault(sid, {"@id": sid})
        if p == RDF.type:
            node.setdefault("@type", []).append(str(o))
        else:
            node.setdefault(str(p), []).append(_jsonld_value(o))
    return json.dumps({"@graph": list(nodes.values())}, ensure_ascii=False)


def to_rdfxml(triples: Iterable[Triple]) -> str:
    """RDF/XML of the triples (rdflib's serialiser)."""
    g = Graph()
    for prefix, ns in (("dcat", DCAT3), ("dct", DCTERMS), ("foaf", FOAF), ("hydra", HYDRA)):
        g.bind(prefix, ns)
    for t in triples:
        g.add(t)
    return str(g.serialize(format="xml"))


#: Serialisations of a page by media type.
WRITERS = {"text/turtle": to_turtle, "application/ld+json": to_jsonld,
           "application/rdf+xml": to_rdfxml, "application/json": to_jsonld}
