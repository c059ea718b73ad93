"""DCAT 3 and PROV-O descriptions of the catalog and its records (rdflib).

rdflib's built-in ``DCAT`` namespace is closed over the DCAT 2 terms (no ``DatasetSeries``,
``hasVersion``, ``previousVersion``): the DCAT 3 terms are spelled out under the same IRI.
"""

from __future__ import annotations

from collections.abc import Iterable

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, PROV, RDF, RDFS, SKOS, XSD

from catalog.fair import describe
from catalog.fair.config import LICENSE_URL, FairConfig
from catalog.fair.records import AlertRecord, Version

#: DCAT 3 (https://www.w3.org/TR/vocab-dcat-3/), declared explicitly.
DCAT3 = Namespace("http://www.w3.org/ns/dcat#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
ADMS_STATUS = Namespace("http://purl.org/adms/status/")
IANA_MEDIA = "https://www.iana.org/assignments/media-types/"
EU_FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")

#: Media types of the metadata exports offered as distributions of every record.
EXPORTS = (("datacite-xml", "application/vnd.datacite.datacite+xml"),
           ("json-ld", "application/ld+json"),
           ("dcat-ttl", "text/turtle"))


def new_graph() -> Graph:
    """An empty rdflib graph with the prefixes our documents use (dcat, dct, prov, ...)."""
    g = Graph()
    for prefix, ns in (("dcat", DCAT3), ("dct", DCTERMS), ("prov", PROV), ("foaf", FOAF),
                       ("spdx", SPDX), ("adms", ADMS), ("skos", SKOS)):
        g.bind(prefix, ns)
    return g


def _dt(t: object) -> Literal:
    return Literal(describe.iso(t), datatype=XSD.dateTime)  # type: ignore[arg-type]


def _agent(g: Graph, name: str, iri: str | None) -> BNode | URIRef:
    node: BNode | URIRef = URIRef(iri) if iri else BNode()
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(name)))
    return node


def _catalog_nodes(g: Graph, cfg: FairConfig) -> tuple[URIRef, URIRef]:
    cat, series = URIRef(cfg.catalog_url), URIRef(cfg.series_url)
    publisher = _agent(g, cfg.publisher, cfg.publisher_ror)
    g.add((cat, RDF.type, DCAT3.Catalog))
    g.add((cat, DCTERMS.title, Literal(cfg.catalog_title, lang="en")))
    g.add((cat, DCTERMS.description, Literal(
        "Every high-energy neutrino alert of the archive, each revision a versioned, "
        "citable dataset.", lang="en")))
    g.add((cat, DCTERMS.publisher, publisher))
    _document(g, cat, FOAF.homepage, cfg.base + "/")
    g.add((series, RDF.type, DCAT3.DatasetSeries))
    g.add((series, RDF.type, DCAT3.Dataset))  # DatasetSeries ⊑ Dataset, stated for validators
    g.add((series, DCTERMS.title, Literal("Neutrino alerts", lang="en")))
    g.add((series, DCTERMS.description, Literal(
        "The series of neutrino alerts; each alert is a dataset with one version per "
        "revision.", lang="en")))
    g.add((cat, DCAT3.dataset, series))
    return cat, series


def _document(g: Graph, subject: URIRef, prop: URIRef, url: str) -> None:
    doc = URIRef(url)
    g.add((doc, RDF.type, FOAF.Document))
    g.add((subject, prop, doc))


def _license(g: Graph) -> URIRef:
    lic = URIRef(LICENSE_URL)
    g.add((lic, RDF.type, DCTERMS.LicenseDocument))
    return lic


def _status(g: Graph, node: URIRef, name: str) -> None:
    status = ADMS_STATUS[name]
    g.add((status, RDF.type, SKOS.Concept))
    g.add((status, SKOS.prefLabel, Literal(name, lang="en")))
    g.add((node, ADMS.status, status))


def _distribution(g: Graph, ds: URIRef, url: str, media: str, title: str,
                  lic: URIRef, sha256: str | None = None, size: int | None = None) -> None:
    dist = URIRef(url)
    g.add((ds, DCAT3.distribution, dist))
    g.add((dist, RDF.type, DCAT3.Distribution))
    g.add((dist, DCTERMS.title, Literal(title)))
    g.add((dist, DCAT3.accessURL, dist))
    g.add((dist, DCAT3.downloadURL, dist))
    mt = URIRef(IANA_MEDIA + media)
    g.add((mt, RDF.type, DCTERMS.MediaType))
    g.add((dist, DCAT3.mediaType, mt))
    g.add((dist, DCTERMS.license, lic))
    if size is not None:
        g.add((dist, DCAT3.byteSize, Literal(size, datatype=XSD.nonNegativeInteger)))
    if sha256 is not None:
        ck = BNode()
        g.add((dist, SPDX.checksum, ck))
        g.add((ck, RDF.type, SPDX.Checksum))
        g.add((ck, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        # DCAT-AP ranges spdx:algorithm over spdx:ChecksumAlgorithm: the individual says so.
        g.add((SPDX.checksumAlgorithm_sha256, RDF.type, SPDX.ChecksumAlgorithm))
        g.add((ck, SPDX.checksumValue, Literal(sha256, datatype=XSD.hexBinary)))


def _version_dataset(g: Graph, rec: AlertRecord, v: Version, cfg: FairConfig,
                     series: URIRef, lic: URIRef) -> URIRef:
    rev = v.revision
    ds = URIRef(cfg.doi_url(v.doi.doi))
    g.add((ds, RDF.type, DCAT3.Dataset))
    g.add((ds, RDF.type, PROV.Entity))
    g.add((ds, DCTERMS.identifier, Literal(v.doi.doi)))
    g.add((ds, DCTERMS.title, Literal(f"{rec.name} version {rev.number}", lang="en")))
    g.add((ds, DCTERMS.description, Literal(describe.description(rec, cfg), lang="en")))
    g.add((ds, DCTERMS.issued, _dt(describe.issued(rec, rev))))
    g.add((ds, DCTERMS.modified, _dt(v.doi.updated_at)))
    g.add((ds, DCAT3.version, Literal(str(rev.number))))
    _document(g, ds, DCAT3.landingPage, cfg.record_url(v.doi.suffix))
    g.add((ds, DCAT3.inSeries, series))
    g.add((ds, DCTERMS.isVersionOf, URIRef(cfg.doi_url(rec.concept.doi))))
    g.add((ds, DCTERMS.license, lic))
    g.add((ds, DCTERMS.creator, _agent(g, describe.creator(rec, cfg).name, None)))
    for label, number in describe.UAT_SUBJECTS:
        g.add((ds, DCAT3.keyword, Literal(label, lang="en")))
        theme = URIRef(describe.uat_uri(number))
        g.add((theme, RDF.type, SKOS.Concept))
        g.add((theme, SKOS.prefLabel, Literal(label, lang="en")))
        g.add((ds, DCAT3.theme, theme))
    for fmt, media in EXPORTS:
        _distribution(g, ds, cfg.export_url(v.doi.suffix, fmt), media, f"{fmt} metadata", lic)
    for f in rec.files:
        if f.revision_number in (None, rev.number):
            _distribution(g, ds, rec.file_url(cfg, f), f.media_type,
                          f.filename, lic, sha256=f.sha256, size=f.size_bytes)
    # PROV-O: derived from the notice, generated by an import or a reconstruction.
    activity = URIRef(cfg.record_url(v.doi.suffix) + "#generation")
    software = URIRef(cfg.software_url)
    g.add((software, RDF.type, PROV.SoftwareAgent))
    g.add((software, RDFS.label, Literal(cfg.software_name)))
    g.add((activity, RDF.type, PROV.Activity))
    g.add((activity, RDFS.label, Literal(
        "reconstruction" if rev.source == "reco" else f"import from {rev.source}")))
    g.add((activity, PROV.endedAtTime, _dt(rev.created_at)))
    g.add((activity, PROV.wasAssociatedWith, software))
    pipeline = rev.provenance.get("pipeline_version")
    if pipeline:
        g.add((activity, PROV.used, Literal(f"pipeline version {pipeline}")))
    g.add((ds, PROV.wasGeneratedBy, activity))
    g.add((ds, PROV.generatedAtTime, _dt(rev.created_at)))
    if rev.ivorn:
        g.add((ds, PROV.wasDerivedFrom, URIRef(rev.ivorn)))
    if rec.retraction is not None:
        inval = URIRef(cfg.record_url(v.doi.suffix) + "#retraction")
        g.add((inval, RDF.type, PROV.Activity))
        g.add((inval, RDFS.label, Literal(
            f"retraction: {rec.retraction.retraction_reason or 'no reason given'}")))
        g.add((inval, PROV.atTime, _dt(describe.withdrawn_at(rec))))
        g.add((ds, PROV.wasInvalidatedBy, inval))
        g.add((ds, PROV.invalidatedAtTime, _dt(describe.withdrawn_at(rec))))
        _status(g, ds, "Withdrawn")
    elif rec.latest is not None and rec.latest.doi.id != v.doi.id:
        _status(g, ds, "Deprecated")
    else:
        _status(g, ds, "Completed")
    return ds


def add_record(g: Graph, rec: AlertRecord, cfg: FairConfig, series: URIRef,
               catalog: URIRef | None = None) -> URIRef:
    """Add an alert (its concept dataset and one dataset per version) to ``g``."""
    lic = _license(g)
    concept = URIRef(cfg.doi_url(rec.concept.doi))
    g.add((concept, RDF.type, DCAT3.Dataset))
    g.add((concept, DCTERMS.identifier, Literal(rec.concept.doi)))
    g.add((concept, DCTERMS.title, Literal(f"{rec.name} (all versions)", lang="en")))
    g.add((concept, DCTERMS.description, Literal(describe.description(rec, cfg), lang="en")))
    _document(g, concept, DCAT3.landingPage, cfg.record_url(rec.concept.suffix))
    g.add((concept, DCAT3.inSeries, series))
    g.add((concept, DCTERMS.license, lic))
    g.add((concept, DCTERMS.temporal, _period(g, rec)))
    if catalog is not None:
        g.add((catalog, DCAT3.dataset, concept))
    previous: URIRef | None = None
    for v in rec.versions:
        ds = _version_dataset(g, rec, v, cfg, series, lic)
        g.add((concept, DCAT3.hasVersion, ds))
        if previous is not None:
            g.add((ds, DCAT3.previousVersion, previous))
            g.add((ds, DCTERMS.replaces, previous))
            g.add((ds, PROV.wasRevisionOf, previous))
        previous = ds
    if previous is not None:
        g.add((concept, DCAT3.hasCurrentVersion, previous))
    if rec.withdrawn:
        _status(g, concept, "Withdrawn")
    return concept


def _period(g: Graph, rec: AlertRecord) -> BNode:
    node = BNode()
    g.add((node, RDF.type, DCTERMS.PeriodOfTime))
    g.add((node, DCAT3.startDate, _dt(rec.event.event_time)))
    g.add((node, DCAT3.endDate, _dt(rec.event.event_time)))
    return node


def record_graph(rec: AlertRecord, cfg: FairConfig) -> Graph:
    """One record as DCAT: the record, its versions and the catalog and series it belongs to."""
    g = new_graph()
    _, series = _catalog_nodes(g, cfg)
    add_record(g, rec, cfg, series)
    return g


def catalog_graph(records: Iterable[AlertRecord], cfg: FairConfig) -> Graph:
    """The whole catalog: the catalog, the series and every alert with its versions."""
    g = new_graph()
    cat, series = _catalog_nodes(g, cfg)
    for rec in records:
        add_record(g, rec, cfg, series, catalog=cat)
    return g


#: Hydra, whose PagedCollection terms describe the catalogue pages (:mod:`dcat_page`).
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")


#: RDF serialisations offered: media type → rdflib format.
RDF_FORMATS = {"text/turtle": "turtle", "application/ld+json": "json-ld",
               "application/rdf+xml": "xml"}
