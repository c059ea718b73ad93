"""schema.org ``Dataset`` JSON-LD of a record (Google Dataset Search, science-on-schema.org)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from catalog.fair import describe
from catalog.fair.citation import citation_text
from catalog.fair.config import (
    ACCESS_CONDITIONS,
    LICENSE_URL,
    Creator,
    FairConfig,
)
from catalog.fair.records import AlertRecord

PROV_NS = "http://www.w3.org/ns/prov#"
#: schema.org, with PROV-O for the provenance schema.org has no terms for.
CONTEXT: list[Any] = ["https://schema.org/", {"prov": PROV_NS}]

#: What each measured variable is, with its unit (UCUM code and QUDT unit where one exists).
VARIABLES = (
    ("ra", "Right ascension (ICRS) of the best-fit direction", "deg", "DEG"),
    ("dec", "Declination (ICRS) of the best-fit direction", "deg", "DEG"),
    ("energy_tev", "Most probable neutrino energy", "TeV", "TeraEV"),
    ("signalness", "Probability that the event is of astrophysical origin", "1", "UNITLESS"),
    ("far_per_year", "False-alarm rate", "/a", "PER-YR"),
)


def _creator(who: Creator) -> dict[str, Any]:
    """The schema.org ``Organization`` credited, with its affiliation when it has one."""
    out: dict[str, Any] = {"@type": "Organization", "name": who.name}
    if who.affiliation:
        out["affiliation"] = {"@type": "Organization", "name": who.affiliation,
                              "identifier": who.affiliation_ror}
    return out


def to_jsonld(rec: AlertRecord, cfg: FairConfig,
              metadata_bodies: Sequence[tuple[str, str, bytes]] = ()) -> dict[str, Any]:
    """The record as a schema.org ``Dataset``; ``@id`` is the DOI URL.

    ``metadata_bodies`` are other metadata exports (format key, media type, bytes), listed
    as distributions with their size and SHA-256 (see :func:`landing.to_jsonld_full`).
    """
    e, rev = rec.event, rec.revision
    doi_url = cfg.doi_url(rec.focus.doi)
    variables = [{"@type": "PropertyValue", "name": name, "description": text,
                  "unitCode": ucum, "unitText": ucum,
                  "value": getattr(rev, name)}
                 for name, text, ucum, _qudt in VARIABLES if getattr(rev, name) is not None]
    files = [{"@type": "DataDownload", "name": f.filename,
              "contentUrl": rec.file_url(cfg, f), "encodingFormat": f.media_type,
              "contentSize": f"{f.size_bytes} B", "sha256": f.sha256}
             for f in rec.files]
    files += [{"@type": "DataDownload", "name": f"{fmt} metadata",
               "contentUrl": cfg.export_url(rec.key, fmt), "encodingFormat": media,
               "contentSize": f"{len(body)} B", "sha256": hashlib.sha256(body).hexdigest()}
              for fmt, media, body in metadata_bodies]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "Dataset",
        "@id": doi_url,
        "url": cfg.record_url(rec.key),
        "sameAs": cfg.record_url(rec.key),
        "identifier": {"@type": "PropertyValue", "propertyID": "https://registry.identifiers.org/registry/doi",
                       "value": f"doi:{rec.focus.doi}", "url": doi_url},
        "name": describe.title(rec),
        "citation": citation_text(rec, cfg),
        "description": describe.description(rec, cfg),
        "license": LICENSE_URL,
        "isAccessibleForFree": True,
        "conditionsOfAccess": ACCESS_CONDITIONS,
        "creator": _creator(describe.creator(rec, cfg)),
        "publisher": {"@type": "Organization", "name": cfg.publisher},
        "datePublished": describe.iso(describe.published(rec)),
        "dateModified": describe.iso(rec.focus.updated_at),
        "temporalCoverage": describe.iso(e.event_time),
        "keywords": [label for label, _ in describe.UAT_SUBJECTS] + ["neutrino alert",
                                                                     e.stream],
        "variableMeasured": variables,
        "distribution": files,
        "includedInDataCatalog": {"@type": "DataCatalog", "@id": cfg.catalog_url,
                                  "name": cfg.catalog_title, "url": cfg.catalog_url},
        "isBasedOn": [cfg.software_url] + ([rev.ivorn] if rev.ivorn else []),
        "alternateName": [x for x in (e.name, f"{e.run_id}:{e.event_id}") if x],
    }
    doc.update(_provenance(rec, cfg))
    version = describe.version_label(rec)
    if version is not None:  # the concept record shows (and so is at) its latest version
        doc["version"] = version
    if not rec.is_concept:
        doc["isPartOf"] = cfg.doi_url(rec.concept.doi)
    if rec.is_concept:
        doc["hasPart"] = [cfg.doi_url(v.doi.doi) for v in rec.versions]
    if rev.ra is not None and rev.dec is not None:
        doc["spatialCoverage"] = {
            "@type": "Place", "name": f"Sky position RA {rev.ra:.3f}, Dec {rev.dec:+.3f} deg "
                                      "(ICRS, celestial, not terrestrial)"}
    if rec.withdrawn:
        doc["creativeWorkStatus"] = "Retracted"
        doc["expires"] = describe.iso(describe.withdrawn_at(rec))
    elif rec.superseded_by is not None:
        doc["creativeWorkStatus"] = "Superseded"
    else:
        doc["creativeWorkStatus"] = "Published"
    return doc


def _provenance(rec: AlertRecord, cfg: FairConfig) -> dict[str, Any]:
    """PROV-O of the shown revision (as in the DCAT): derived from its notice, generated by
    an import or a reconstruction of the pipeline, invalidated by a retraction."""
    rev = rec.revision
    activity: dict[str, Any] = {
        "@id": cfg.record_url(rec.key) + "#generation", "@type": "prov:Activity",
        "name": "reconstruction" if rev.source == "reco" else f"import from {rev.source}",
        "prov:endedAtTime": describe.iso(rev.created_at),
        "prov:wasAssociatedWith": {"@id": cfg.software_url, "@type": "prov:SoftwareAgent",
                                   "name": cfg.software_name}}
    out: dict[str, Any] = {"prov:wasGeneratedBy": activity,
                           "prov:generatedAtTime": describe.iso(rev.created_at)}
    if rev.ivorn:
        out["prov:wasDerivedFrom"] = {"@id": rev.ivorn}
    if rec.previous is not None:
        out["prov:wasRevisionOf"] = {"@id": cfg.doi_url(rec.previous.doi.doi)}
    if rec.withdrawn:
        out["prov:invalidatedAtTime"] = describe.iso(describe.withdrawn_at(rec))
    return out
