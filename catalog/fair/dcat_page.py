"""One page of the DCAT catalogue, written in milliseconds from one database read.

A page describes its alerts as DCAT-AP datasets (the concept and one dataset per version,
with titles, descriptions, landing pages, versions and status) and points at each record's
own DCAT (``rdfs:seeAlso``) for its distributions, checksums and PROV-O. Paging is a
``hydra:PagedCollection`` (the DCAT-AP harvesting convention) and ``Link`` headers.

Terms are plain strings (IRIs; ``_:`` blank nodes) and :class:`Lit` literals, and the
output is written here: rdflib's Graph, its terms and its serialisers cost about a
millisecond per alert (a 100-alert page took 0.1-1 s), the page must answer in
milliseconds. Turtle is one triple a line, literals escaped by ``json.dumps`` (a JSON string
is a valid Turtle ``STRING_LITERAL_QUOTE``); JSON-LD is the triples grouped by subject
(flattened JSON-LD); RDF/XML is one ``rdf:Description`` a subject
(:mod:`catalog.fair.dcat_rdfxml`). Tests parse every form with rdflib and check them
isomorphic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any

from rdflib import BNode, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from catalog.fair import dcat_rdfxml, describe
from catalog.fair.config import LICENSE_URL, FairConfig
from catalog.fair.dcat import ADMS, ADMS_STATUS, DCAT3, HYDRA
from catalog.fair.dcat_terms import PREFIXES, Lit, Term, Triple
from catalog.storage.fair_pages import PageAlert, PageVersion

_DATETIME, _NNI = str(XSD.dateTime), str(XSD.nonNegativeInteger)


class _Terms:
    """The IRIs of a vocabulary as plain strings, each made once (``_DCAT.Dataset``):
    rdflib's namespaces make a new term on every attribute access."""

    def __init__(self, ns: object) -> None:
        self._ns = str(ns)

    def __getattr__(self, name: str) -> str:
        value = self._ns + name
        setattr(self, name, value)
        return value


_DCAT, _DCT, _FOAF, _RDF, _RDFS, _SKOS, _ADMS, _HYDRA, _STATUS = (
    _Terms(ns) for ns in (DCAT3, DCTERMS, FOAF, RDF, RDFS, SKOS, ADMS, HYDRA, ADMS_STATUS))


def _dt(t: datetime) -> Lit:
    return Lit(describe.iso(t), datatype=_DATETIME)


def _en(text: str) -> Lit:
    return Lit(text, lang="en")


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


def _common(s: str, cfg: FairConfig, series: str, suffix: str) -> Iterator[Triple]:
    page = cfg.record_url(suffix)
    yield s, _RDF.type, _DCAT.Dataset
    yield s, _DCAT.landingPage, page
    yield page, _RDF.type, _FOAF.Document
    yield s, _DCAT.inSeries, series
    yield s, _DCT.license, str(LICENSE_URL)
    yield s, _RDFS.seeAlso, page + "/export/dcat-ttl"  # cfg.export_url, its record_url reused


def _status(s: str, name: str) -> Iterator[Triple]:
    yield s, _ADMS.status, getattr(_STATUS, name)


def alert_triples(a: PageAlert, cfg: FairConfig, catalog: str,
                  series: str) -> Iterator[Triple]:
    """The DCAT of one alert: its concept dataset and one dataset per version."""
    concept = str(cfg.doi_url(a.doi))
    yield catalog, _DCAT.dataset, concept
    yield from _common(concept, cfg, series, a.suffix)
    yield concept, _DCT.identifier, Lit(a.doi)
    yield concept, _DCT.title, _en(f"{_name(a)} (all versions)")
    yield concept, _DCT.description, _en(_summary(a, None))
    yield concept, _DCT.modified, _dt(a.updated)
    if a.withdrawn_at is not None:
        yield from _status(concept, "Withdrawn")
    previous: str | None = None
    for v in a.versions:
        ds = str(cfg.doi_url(v.doi))
        yield concept, _DCAT.hasVersion, ds
        yield from _common(ds, cfg, series, v.suffix)
        yield ds, _DCT.identifier, Lit(v.doi)
        yield ds, _DCT.title, _en(f"{_name(a)} version {v.number}")
        yield ds, _DCT.description, _en(_summary(a, v))
        yield ds, _DCT.issued, _dt(v.issued)
        yield ds, _DCT.modified, _dt(v.updated)
        yield ds, _DCAT.version, Lit(str(v.number))
        yield ds, _DCT.isVersionOf, concept
        if previous is not None:
            yield ds, _DCAT.previousVersion, previous
        if a.withdrawn_at is not None:
            yield from _status(ds, "Withdrawn")
        elif v is not a.versions[-1]:
            yield from _status(ds, "Deprecated")
        else:
            yield from _status(ds, "Completed")
        previous = ds
    if previous is not None:
        yield concept, _DCAT.hasCurrentVersion, previous


def _catalog_triples(cfg: FairConfig) -> Iterator[Triple]:
    cat, series = str(cfg.catalog_url), str(cfg.series_url)
    publisher = cfg.publisher_ror or "_:publisher"
    yield cat, _RDF.type, _DCAT.Catalog
    yield cat, _DCT.title, _en(cfg.catalog_title)
    yield cat, _DCT.description, _en("Every high-energy neutrino alert of the archive, "
                                        "each revision a versioned, citable dataset.")
    yield cat, _DCT.publisher, publisher
    yield publisher, _RDF.type, _FOAF.Agent
    yield publisher, _FOAF.name, Lit(cfg.publisher)
    yield cat, _FOAF.homepage, str(cfg.base + "/")
    yield str(cfg.base + "/"), _RDF.type, _FOAF.Document
    yield cat, _DCAT.dataset, series
    for t in (_DCAT.DatasetSeries, _DCAT.Dataset):  # DatasetSeries ⊑ Dataset, stated
        yield series, _RDF.type, t
    yield series, _DCT.title, _en("Neutrino alerts")
    yield series, _DCT.description, _en("The series of neutrino alerts; each alert is a "
                                           "dataset with one version per revision.")
    yield str(LICENSE_URL), _RDF.type, _DCT.LicenseDocument
    for name in ("Withdrawn", "Deprecated", "Completed"):
        yield getattr(_STATUS, name), _RDF.type, _SKOS.Concept
        yield getattr(_STATUS, name), _SKOS.prefLabel, _en(name)


def _paging(cfg: FairConfig, page: int, size: int, total: int,
            page_url: str) -> Iterator[Triple]:
    last = max(1, -(-total // size))
    node = str(page_url.format(page=page))
    yield node, _RDF.type, _HYDRA.PagedCollection
    yield node, _HYDRA.totalItems, Lit(str(total), datatype=_NNI)
    yield node, _HYDRA.itemsPerPage, Lit(str(size), datatype=_NNI)
    yield node, _HYDRA.firstPage, Lit(page_url.format(page=1))
    yield node, _HYDRA.lastPage, Lit(page_url.format(page=last))
    if page > 1:
        yield node, _HYDRA.previousPage, Lit(page_url.format(page=min(page, last + 1) - 1))
    if page < last:
        yield node, _HYDRA.nextPage, Lit(page_url.format(page=page + 1))


def page_triples(alerts: Iterable[PageAlert], cfg: FairConfig, *, page: int, size: int,
                 total: int, page_url: str) -> list[Triple]:
    """Every triple of a catalogue page, without duplicates, in a stable order."""
    cat, series = str(cfg.catalog_url), str(cfg.series_url)
    out = list(_catalog_triples(cfg))
    for a in alerts:
        out.extend(alert_triples(a, cfg, cat, series))
    out.extend(_paging(cfg, page, size, total, page_url))
    return list(dict.fromkeys(out))


_LOCAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@lru_cache(maxsize=4096)
def _iri(term: str) -> str:
    """A vocabulary IRI as ``prefix:local`` where it is one, else ``<IRI>``."""
    for prefix, ns in PREFIXES:
        if term.startswith(ns) and _LOCAL.match(term[len(ns):]):
            return f"{prefix}:{term[len(ns):]}"
    return f"<{term}>"


def _term(t: Term) -> str:
    if isinstance(t, Lit):
        text = json.dumps(t.value, ensure_ascii=False)
        if t.lang:
            return f"{text}@{t.lang}"
        return f"{text}^^{_iri(t.datatype)}" if t.datatype else text
    return t if t.startswith("_:") else _iri(t)


def to_turtle(triples: Iterable[Triple]) -> str:
    """Turtle of the triples: the prefixes, then one triple a line."""
    head = "".join(f"@prefix {prefix}: <{ns}> .\n" for prefix, ns in PREFIXES)
    return head + "\n" + "".join(f"{_term(s)} {_iri(p)} {_term(o)} .\n"
                                  for s, p, o in triples)


def _jsonld_value(o: Term) -> Any:
    if not isinstance(o, Lit):
        return {"@id": o}
    if o.lang:
        return {"@value": o.value, "@language": o.lang}
    if o.datatype:
        return {"@value": o.value, "@type": o.datatype}
    return o.value


def to_jsonld(triples: Iterable[Triple]) -> str:
    """Flattened JSON-LD (expanded IRIs, one node object per subject) of the triples."""
    nodes: dict[str, dict[str, Any]] = {}
    rdf_type = str(RDF.type)
    for s, p, o in triples:
        node = nodes.setdefault(s, {"@id": s})
        if p == rdf_type:
            node.setdefault("@type", []).append(str(o))
        else:
            node.setdefault(str(p), []).append(_jsonld_value(o))
    return json.dumps({"@graph": list(nodes.values())}, ensure_ascii=False)


def rdflib_term(t: Term) -> URIRef | BNode | Literal:
    """The rdflib term of a page's term."""
    if isinstance(t, Lit):
        return Literal(t.value, lang=t.lang,
                       datatype=URIRef(t.datatype) if t.datatype else None)
    return BNode(t[2:]) if t.startswith("_:") else URIRef(t)


#: Serialisations of a page by media type.
WRITERS = {"text/turtle": to_turtle, "application/ld+json": to_jsonld,
           "application/rdf+xml": dcat_rdfxml.to_rdfxml, "application/json": to_jsonld}
