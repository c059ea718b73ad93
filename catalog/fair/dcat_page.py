"""One page of the DCAT catalogue, written in milliseconds from one database read.

A page describes its alerts as DCAT-AP datasets (the concept and one dataset per version,
with titles, descriptions, landing pages, versions and status) and points at each record's
own DCAT (``rdfs:seeAlso``) for its distributions, checksums and PROV-O. Paging is a
``hydra:PagedCollection`` (the DCAT-AP harvesting convention) and ``Link`` headers.

The page's graph is built straight from the read rows as :data:`Nodes` (each subject with
its predicate-object pairs, subjects in order of first appearance): terms are plain strings
(IRIs; ``_:`` blank nodes) and :class:`Lit` literals, times already ISO text from
PostgreSQL. Each syntax is written from the nodes here: rdflib's Graph, its terms and its
serialisers cost about a millisecond per alert (a 100-alert page took 0.1-1 s), the page
must answer in milliseconds. Turtle is a subject a block (``;`` between its pairs), literals
quoted as ``json.dumps`` would (a JSON string is a valid Turtle ``STRING_LITERAL_QUOTE``);
JSON-LD is flattened (a node object per subject, expanded IRIs); RDF/XML is an
``rdf:Description`` per subject (:mod:`catalog.fair.dcat_rdfxml`). A subject's pairs are
not deduplicated: none repeats by construction, and one that did would still be the same
graph in every syntax. Tests parse every form with rdflib, check them isomorphic and
validate them against DCAT-AP 3.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rdflib import BNode, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from catalog.fair import dcat_rdfxml, describe
from catalog.fair.config import LICENSE_URL, FairConfig
from catalog.fair.dcat import ADMS, ADMS_STATUS, DCAT3, HYDRA
from catalog.fair.dcat_terms import PREFIXES, Lit, Nodes, Term, Triple
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
_LICENSE = str(LICENSE_URL)
#: A key that ``urllib.parse.quote(key, safe="")`` leaves as it is.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]+\Z")


@dataclass(frozen=True, slots=True)
class PageLinks:
    """Where a catalogue page sits: its own URL, the first and last pages by number, the
    previous page by number and the next one (by cursor, when any alert follows)."""

    page: int
    size: int
    total: int
    url: str
    first: str
    last: str
    prev: str | None
    next: str | None

    @property
    def last_page(self) -> int:
        """The number of the last page (1 for an empty catalogue)."""
        return max(1, -(-self.total // self.size))


def _name(a: PageAlert) -> str:
    return a.name or f"{a.observatory} run {a.run_id} event {a.event_id}"


def _summary(a: PageAlert, v: PageVersion | None) -> str:
    """A one-paragraph description of an alert (or of one of its versions)."""
    named = f" {a.name}" if a.name else ""
    text = (f"{describe.stream_label(a.stream)} high-energy neutrino alert{named} from the "
            f"{a.observatory} run {a.run_id}, event {a.event_id}, detected at "
            f"{a.event_time}.")
    shown = v or (a.versions[-1] if a.versions else None)
    if shown is not None and shown.ra is not None and shown.dec is not None:
        text += f" Best-fit direction RA {shown.ra:.2f}°, Dec {shown.dec:+.2f}° (ICRS)."
    if v is not None:
        text += f" Version {v.number} ({v.kind})."
    else:
        text += f" All {len(a.versions)} version(s); the record shows the latest."
    if a.withdrawn_at is not None:
        text = f"WITHDRAWN on {a.withdrawn_at}: retracted. " + text
    return text


class _Builder:
    """Adds alerts to a page's :data:`Nodes`; the IRIs every alert shares made once."""

    def __init__(self, cfg: FairConfig, nodes: Nodes) -> None:
        self.nodes = nodes
        self.catalog, self.series = cfg.catalog_url, cfg.series_url
        self.doi_base = cfg.doi_url("")
        self.record_base = cfg.record_url("")
        self.cfg = cfg

    def _page(self, suffix: str) -> str:
        if _UNQUOTED.match(suffix):
            return self.record_base + suffix  # nothing to quote: the common case
        return self.cfg.record_url(suffix)

    def _dataset(self, s: str, suffix: str, doi: str, title: str,
                 description: str) -> list[tuple[str, Term]]:
        page = self._page(suffix)
        self.nodes[page] = [(_RDF.type, _FOAF.Document)]
        pairs: list[tuple[str, Term]] = [
            (_RDF.type, _DCAT.Dataset), (_DCAT.landingPage, page),
            (_DCAT.inSeries, self.series), (_DCT.license, _LICENSE),
            (_RDFS.seeAlso, page + "/export/dcat-ttl"),  # cfg.export_url, its record_url
            (_DCT.identifier, Lit(doi)), (_DCT.title, Lit(title, "en")),
            (_DCT.description, Lit(description, "en"))]
        self.nodes[s] = pairs
        return pairs

    def add(self, a: PageAlert) -> None:
        """The DCAT of one alert: its concept dataset and one dataset per version."""
        concept = self.doi_base + a.doi
        name = _name(a)
        self.nodes[self.catalog].append((_DCAT.dataset, concept))
        c = self._dataset(concept, a.suffix, a.doi, f"{name} (all versions)", _summary(a, None))
        c.append((_DCT.modified, Lit(a.updated, datatype=_DATETIME)))
        if a.withdrawn_at is not None:
            c.append((_ADMS.status, _STATUS.Withdrawn))
        previous: str | None = None
        last = a.versions[-1] if a.versions else None
        for v in a.versions:
            ds = self.doi_base + v.doi
            c.append((_DCAT.hasVersion, ds))
            d = self._dataset(ds, v.suffix, v.doi, f"{name} version {v.number}",
                              _summary(a, v))
            d += [(_DCT.issued, Lit(v.issued, datatype=_DATETIME)),
                  (_DCT.modified, Lit(v.updated, datatype=_DATETIME)),
                  (_DCAT.version, Lit(str(v.number))), (_DCT.isVersionOf, concept)]
            if previous is not None:
                d.append((_DCAT.previousVersion, previous))
            status = ("Withdrawn" if a.withdrawn_at is not None else
                      "Deprecated" if v is not last else "Completed")
            d.append((_ADMS.status, getattr(_STATUS, status)))
            previous = ds
        if previous is not None:
            c.append((_DCAT.hasCurrentVersion, previous))


def _catalog(cfg: FairConfig, nodes: Nodes) -> None:
    cat, series, home = cfg.catalog_url, cfg.series_url, cfg.base + "/"
    publisher = cfg.publisher_ror or "_:publisher"
    nodes[cat] = [(_RDF.type, _DCAT.Catalog), (_DCT.title, Lit(cfg.catalog_title, "en")),
                  (_DCT.description, Lit("Every high-energy neutrino alert of the archive, "
                                         "each revision a versioned, citable dataset.", "en")),
                  (_DCT.publisher, publisher), (_FOAF.homepage, home),
                  (_DCAT.dataset, series)]
    nodes[publisher] = [(_RDF.type, _FOAF.Agent), (_FOAF.name, Lit(cfg.publisher))]
    nodes[home] = [(_RDF.type, _FOAF.Document)]
    nodes[series] = [  # DatasetSeries ⊑ Dataset, stated
        (_RDF.type, _DCAT.DatasetSeries), (_RDF.type, _DCAT.Dataset),
        (_DCT.title, Lit("Neutrino alerts", "en")),
        (_DCT.description, Lit("The series of neutrino alerts; each alert is a dataset "
                               "with one version per revision.", "en"))]
    nodes[_LICENSE] = [(_RDF.type, _DCT.LicenseDocument)]
    for name in ("Withdrawn", "Deprecated", "Completed"):
        nodes[getattr(_STATUS, name)] = [(_RDF.type, _SKOS.Concept),
                                         (_SKOS.prefLabel, Lit(name, "en"))]


def _paging(links: PageLinks, nodes: Nodes) -> None:
    nni = _NNI
    pairs: list[tuple[str, Term]] = [
        (_RDF.type, _HYDRA.PagedCollection),
        (_HYDRA.totalItems, Lit(str(links.total), datatype=nni)),
        (_HYDRA.itemsPerPage, Lit(str(links.size), datatype=nni)),
        (_HYDRA.firstPage, Lit(links.first)), (_HYDRA.lastPage, Lit(links.last))]
    if links.prev is not None:
        pairs.append((_HYDRA.previousPage, Lit(links.prev)))
    if links.next is not None:
        pairs.append((_HYDRA.nextPage, Lit(links.next)))
    nodes[links.url] = pairs


def page_nodes(alerts: Iterable[PageAlert], cfg: FairConfig, links: PageLinks) -> Nodes:
    """The graph of a catalogue page, subject by subject, in a stable order."""
    nodes: Nodes = {}
    _catalog(cfg, nodes)
    builder = _Builder(cfg, nodes)
    for a in alerts:
        builder.add(a)
    _paging(links, nodes)
    return nodes


def triples(nodes: Nodes) -> Iterator[Triple]:
    """The nodes' triples, one by one."""
    for s, pairs in nodes.items():
        for p, o in pairs:
            yield s, p, o


# ---------------------------------------------------------------- Turtle and JSON-LD

#: Any IRI in a namespace of :data:`PREFIXES` (the rest of the IRI is checked apart).
_IN_VOCABULARY = re.compile("|".join(re.escape(ns) for _, ns in PREFIXES))
_LOCAL = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: What a literal needs escaped in Turtle (as ``json.dumps`` escapes it).
_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_PREFIXED: dict[str, str] = {str(RDF.type): "a"}


def _iri(term: str) -> str:
    """A vocabulary IRI as ``prefix:local`` where it is one, else ``<IRI>``."""
    found = _PREFIXED.get(term)
    if found is not None:
        return found
    if _IN_VOCABULARY.match(term) is None:
        return f"<{term}>"
    written = f"<{term}>"
    for prefix, ns in PREFIXES:
        if term.startswith(ns) and _LOCAL.match(term, len(ns)):
            written = f"{prefix}:{term[len(ns):]}"
            break
    if len(_PREFIXED) < 4096:
        _PREFIXED[term] = written
    return written


def _literal(o: Lit) -> str:
    value = o.value
    text = (json.dumps(value, ensure_ascii=False) if _ESCAPE.search(value) else
            f'"{value}"')
    if o.lang:
        return f"{text}@{o.lang}"
    return f"{text}^^{_iri(o.datatype)}" if o.datatype else text


def _object(o: Term) -> str:
    if isinstance(o, Lit):
        return _literal(o)
    return o if o.startswith("_:") else _iri(o)


_TURTLE_HEAD = "".join(f"@prefix {prefix}: <{ns}> .\n" for prefix, ns in PREFIXES) + "\n"


def to_turtle(nodes: Nodes) -> str:
    """Turtle of the nodes: the prefixes, then a block per subject."""
    parts = [_TURTLE_HEAD]
    for s, pairs in nodes.items():
        subject = s if s.startswith("_:") else _iri(s)
        body = " ;\n    ".join([f"{_iri(p)} {_object(o)}" for p, o in pairs])
        parts.append(f"{subject} {body} .\n")
    return "".join(parts)


def _jsonld_value(o: Term) -> Any:
    if not isinstance(o, Lit):
        return {"@id": o}
    if o.lang:
        return {"@value": o.value, "@language": o.lang}
    if o.datatype:
        return {"@value": o.value, "@type": o.datatype}
    return o.value


_RDF_TYPE = str(RDF.type)


def to_jsonld(nodes: Nodes) -> str:
    """Flattened JSON-LD (expanded IRIs, one node object per subject) of the nodes."""
    graph = []
    for s, pairs in nodes.items():
        node: dict[str, Any] = {"@id": s}
        for p, o in pairs:
            if p == _RDF_TYPE:
                node.setdefault("@type", []).append(o)
            else:
                node.setdefault(p, []).append(_jsonld_value(o))
        graph.append(node)
    return json.dumps({"@graph": graph}, ensure_ascii=False)


def rdflib_term(t: Term) -> URIRef | BNode | Literal:
    """The rdflib term of a page's term."""
    if isinstance(t, Lit):
        return Literal(t.value, lang=t.lang,
                       datatype=URIRef(t.datatype) if t.datatype else None)
    return BNode(t[2:]) if t.startswith("_:") else URIRef(t)


#: Serialisations of a page by media type (the JSON-LD also answers ``application/json``,
#: typed ``application/ld+json``: :mod:`catalog.fair.browse`).
WRITERS = {"text/turtle": to_turtle, "application/ld+json": to_jsonld,
           "application/rdf+xml": dcat_rdfxml.to_rdfxml}
