"""The terms of a DCAT catalogue page as plain Python values, shared by its writers
(:mod:`catalog.fair.dcat_page` for Turtle and JSON-LD, :mod:`catalog.fair.dcat_rdfxml`)."""

from __future__ import annotations

from typing import NamedTuple

from rdflib.namespace import DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from catalog.fair.dcat import ADMS, DCAT3, HYDRA


class Lit(NamedTuple):
    """A literal: its lexical form, and its language tag or datatype IRI."""

    value: str
    lang: str | None = None
    datatype: str | None = None


#: An IRI or blank node (``_:name``) as a string, or a literal.
Term = str | Lit
#: (subject, predicate, object); subjects and predicates are IRIs or ``_:`` blank nodes.
Triple = tuple[str, str, Term]
#: A graph as its subjects (in order of first appearance), each with its (predicate, object)
#: pairs: the form the page's writers take.
Nodes = dict[str, list[tuple[str, Term]]]

#: Prefixes of the pages (Turtle ``@prefix``, RDF/XML ``xmlns``).
PREFIXES = tuple((prefix, str(ns)) for prefix, ns in (
    ("dcat", DCAT3), ("dct", DCTERMS), ("foaf", FOAF), ("rdf", RDF), ("rdfs", RDFS),
    ("skos", SKOS), ("adms", ADMS), ("hydra", HYDRA), ("xsd", XSD)))
