"""RDF/XML of a DCAT catalogue page, written straight from its nodes.

rdflib cannot write a page in the time a page has (≤ 50 ms at 10 000 alerts): for a page of
100 alerts (4 300 triples) building its ``Graph`` took 370 ms and ``serialize(format="xml")``
another 300 ms, against 25 ms for the page's whole Turtle (``/tmp`` timing of 2026-12-03,
load 1.0; bench/RESULTS.md has the figures through the app). So the page is written here the
way rdflib's plain ``xml`` serialiser writes any graph: one ``rdf:Description`` per subject
(the page's :data:`~catalog.fair.dcat_terms.Nodes`, in order of first appearance), one
property element per triple, IRIs as ``rdf:resource``, blank nodes as ``rdf:nodeID``,
literals as text with ``xml:lang`` or ``rdf:datatype``. Tests parse it back with rdflib and
find the Turtle's graph.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from catalog.fair.dcat_terms import PREFIXES, Lit, Nodes, Term, Triple

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#: An XML name's local part as our vocabularies spell them (an NCName, ASCII subset).
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: Escapes of text: markup, and a carriage return (it would be read back as a line feed).
_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
#: Escapes of a double-quoted attribute: also the quote, and the white space that attribute
#: value normalisation would turn into spaces.
_ATTR = {**_TEXT, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTR_SPECIAL = re.compile('[&<>\r"\n\t]')


def _text(value: str) -> str:
    if _TEXT_SPECIAL.search(value) is None:  # nearly every literal: no copy
        return value
    return _TEXT_SPECIAL.sub(lambda m: _TEXT[m.group()], value)


def _attr(value: str) -> str:
    """``value`` as a double-quoted attribute value."""
    if _ATTR_SPECIAL.search(value) is None:
        return f'"{value}"'
    return '"' + _ATTR_SPECIAL.sub(lambda m: _ATTR[m.group()], value) + '"'


@lru_cache(maxsize=4096)
def _qname(predicate: str) -> tuple[str, str | None]:
    """The element name of ``predicate`` and, for an IRI outside :data:`PREFIXES`, the
    namespace to declare on the element (``ns0``)."""
    for prefix, ns in PREFIXES:
        local = predicate[len(ns):]
        if predicate.startswith(ns) and _NCNAME.match(local):
            return f"{prefix}:{local}", None
    cut = max(predicate.rfind("#"), predicate.rfind("/")) + 1
    while cut < len(predicate) and not _NCNAME.match(predicate[cut:]):
        cut += 1  # the shortest tail that is an NCName (a predicate ending in one)
    if cut >= len(predicate):
        raise ValueError(f"no RDF/XML element name for the predicate <{predicate}>")
    return f"ns0:{predicate[cut:]}", predicate[:cut]


def _subject(s: str) -> str:
    if s.startswith("_:"):
        return f"rdf:nodeID={_attr(s[2:])}"
    return f"rdf:about={_attr(s)}"


def _property(p: str, o: Term) -> str:
    name, ns = _qname(p)
    decl = f" xmlns:ns0={_attr(ns)}" if ns else ""
    if isinstance(o, Lit):
        attr = (f" xml:lang={_attr(o.lang)}" if o.lang else
                f" rdf:datatype={_attr(o.datatype)}" if o.datatype else "")
        return f"    <{name}{decl}{attr}>{_text(o.value)}</{name}>\n"
    if o.startswith("_:"):
        return f"    <{name}{decl} rdf:nodeID={_attr(o[2:])}/>\n"
    return f"    <{name}{decl} rdf:resource={_attr(o)}/>\n"


def group(triples: Iterable[Triple]) -> Nodes:
    """The triples as :data:`Nodes` (by subject, first seen first)."""
    nodes: Nodes = {}
    for s, p, o in triples:
        nodes.setdefault(s, []).append((p, o))
    return nodes


def to_rdfxml(nodes: Nodes) -> str:
    """RDF/XML of the nodes: one ``rdf:Description`` per subject."""
    ns = "".join(f"\n   xmlns:{prefix}={_attr(iri)}" for prefix, iri in PREFIXES
                 if iri != _RDF)
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="{_RDF}"{ns}>\n']
    for s, pairs in nodes.items():
        parts.append(f"  <rdf:Description {_subject(s)}>\n")
        parts.extend([_property(p, o) for p, o in pairs])
        parts.append("  </rdf:Description>\n")
    parts.append("</rdf:RDF>\n")
    return "".join(parts)
