"""DataCite Metadata Schema 4.6 crosswalk of a record (DataCite JSON and XML).

The JSON is the DataCite REST API's attribute shape; the ``datacite`` package (which writes
kernel-4.5) turns it into XML, and we point the result at kernel-4.6, whose vocabulary is a
superset of what we use. Tests validate every XML against the official kernel-4.6 XSD.
"""

from __future__ import annotations

from typing import Any

from datacite import schema45
from lxml import etree

from catalog.fair import describe
from catalog.fair.config import (
    ACCESS_RIGHT_LABEL,
    ACCESS_RIGHT_URI,
    LICENSE_SPDX,
    LICENSE_URL,
    Creator,
    FairConfig,
)
from catalog.fair.records import AlertRecord
from catalog.storage.fair_harvest import DeletedItem

KERNEL_NS = "http://datacite.org/schema/kernel-4"
SCHEMA_LOCATION = f"{KERNEL_NS} http://schema.datacite.org/meta/kernel-4.6/metadata.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
RESOURCE_TYPE = "Neutrino alert"


def _rel(identifier: str, relation: str, kind: str = "DOI",
         general: str | None = None) -> dict[str, str]:
    out = {"relatedIdentifier": identifier, "relationType": relation,
           "relatedIdentifierType": kind}
    if general:
        out["resourceTypeGeneral"] = general
    return out


def creator(who: Creator) -> dict[str, Any]:
    """The DataCite creator of a record: an organisation, with its ROR affiliation if any."""
    out: dict[str, Any] = {"name": who.name, "nameType": "Organizational"}
    if who.affiliation:
        affiliation = {"name": who.affiliation}
        if who.affiliation_ror:
            affiliation.update(affiliationIdentifier=who.affiliation_ror,
                               affiliationIdentifierScheme="ROR", schemeUri="https://ror.org/")
        out["affiliation"] = [affiliation]
    return out


def related_identifiers(rec: AlertRecord, cfg: FairConfig) -> list[dict[str, str]]:
    """Version, catalog, provenance and obsolescence links of a record."""
    out: list[dict[str, str]] = []
    if rec.is_concept:
        out += [_rel(v.doi.doi, "HasVersion", general="Dataset") for v in rec.versions]
    else:
        out.append(_rel(rec.concept.doi, "IsVersionOf", general="Dataset"))
        if rec.previous:
            out.append(_rel(rec.previous.doi.doi, "IsNewVersionOf", general="Dataset"))
        if rec.next:
            out.append(_rel(rec.next.doi.doi, "IsPreviousVersionOf", general="Dataset"))
        if rec.superseded_by:
            out.append(_rel(rec.superseded_by.doi.doi, "IsObsoletedBy", general="Dataset"))
    out.append(_rel(cfg.catalog_url, "IsPartOf", "URL", "Collection"))
    # The notice's IVORN (an ivo:// URI, none of DataCite's identifier types) is given as an
    # alternate identifier only, never typed as a URL.
    out.append(_rel(cfg.software_url, "IsCompiledBy", "URL", "Software"))
    if rec.retraction is not None and rec.replaced_by:
        out.append(_rel(cfg.record_url(rec.replaced_by), "IsObsoletedBy", "URL", "Dataset"))
    return out


def to_json(rec: AlertRecord, cfg: FairConfig) -> dict[str, Any]:
    """DataCite JSON (REST API attributes) of a record."""
    e, rev = rec.event, rec.revision
    prefix, _, suffix = rec.focus.doi.partition("/")
    dates = [{"date": describe.iso(e.event_time), "dateType": "Collected"},
             {"date": describe.iso(describe.published(rec)), "dateType": "Issued"},
             {"date": describe.iso(rec.focus.updated_at), "dateType": "Updated"}]
    if rec.retraction is not None:
        dates.append({"date": describe.iso(describe.withdrawn_at(rec)), "dateType": "Withdrawn",
                      "dateInformation": rec.retraction.retraction_reason or "retracted"})
    alt = [{"alternateIdentifier": f"{e.run_id}:{e.event_id}",
            "alternateIdentifierType": f"{e.observatory} run:event"}]
    if e.name:
        alt.insert(0, {"alternateIdentifier": e.name,
                       "alternateIdentifierType": f"{e.observatory} alert name"})
    if rev.ivorn:
        alt.append({"alternateIdentifier": rev.ivorn, "alternateIdentifierType": "IVORN"})
    publisher: dict[str, str] = {"name": cfg.publisher}
    if cfg.publisher_ror:
        publisher.update(publisherIdentifier=cfg.publisher_ror,
                         publisherIdentifierScheme="ROR", schemeUri="https://ror.org/")
    data: dict[str, Any] = {
        "doi": rec.focus.doi, "prefix": prefix, "suffix": suffix,
        "url": cfg.record_url(rec.key),
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": RESOURCE_TYPE},
        "creators": [creator(describe.creator(rec, cfg))],
        "titles": [{"title": describe.title(rec), "lang": "en"}],
        "publisher": publisher,
        "publicationYear": str(describe.published(rec).year),
        "subjects": [{"subject": label, "subjectScheme": "Unified Astronomy Thesaurus",
                      "schemeUri": "http://astrothesaurus.org/",
                      "valueUri": describe.uat_uri(number), "lang": "en"}
                     for label, number in describe.UAT_SUBJECTS],
        "dates": dates,
        "language": "en",
        "alternateIdentifiers": alt,
        "relatedIdentifiers": related_identifiers(rec, cfg),
        "sizes": [f"{f.size_bytes} bytes" for f in rec.files],
        "formats": sorted({f.media_type for f in rec.files}) or ["application/json"],
        "rightsList": [
            {"rights": "Creative Commons Attribution 4.0 International", "rightsUri": LICENSE_URL,
             "rightsIdentifier": LICENSE_SPDX.lower(), "rightsIdentifierScheme": "SPDX",
             "schemeUri": "https://spdx.org/licenses/", "lang": "en"},
            {"rights": ACCESS_RIGHT_LABEL, "rightsUri": ACCESS_RIGHT_URI, "lang": "en"},
        ],
        "descriptions": [{"description": describe.description(rec, cfg),
                          "descriptionType": "Abstract", "lang": "en"}],
        "schemaVersion": "http://datacite.org/schema/kernel-4",
    }
    version = describe.version_label(rec)
    if version is not None and not rec.is_concept:
        data["version"] = version
    return data


def served_json(rec: AlertRecord, cfg: FairConfig) -> dict[str, Any]:
    """DataCite JSON as DataCite's content negotiation serves it: the attributes with the
    DOI URL as ``id``, the registration ``agency`` and the DOI's ``state``."""
    data = to_json(rec, cfg)
    return {"id": cfg.doi_url(rec.focus.doi), **data, "agency": "datacite",
            "state": rec.focus.state,
            "providerId": cfg.datacentre_symbol.split(".")[0].lower(),
            "clientId": cfg.datacentre_symbol.lower()}


def to_xml(rec: AlertRecord, cfg: FairConfig) -> bytes:
    """DataCite kernel-4.6 XML of a record."""
    document: bytes = etree.tostring(to_element(rec, cfg), xml_declaration=True,
                                     encoding="UTF-8", pretty_print=True)
    return document


def to_element(rec: AlertRecord, cfg: FairConfig) -> etree._Element:
    """The ``<resource>`` element (used bare, and inside the OAI-PMH envelopes)."""
    data = to_json(rec, cfg)
    root = schema45.dump_etree(data)
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    # The package builds children without a namespace and relies on the root's default
    # namespace at serialisation; a round trip gives every element its kernel-4 name.
    return etree.fromstring(etree.tostring(root))


def alias_json(rec: AlertRecord, alias: DeletedItem, cfg: FairConfig) -> dict[str, Any]:
    """DataCite JSON of an aliased DOI (its record was merged into ``rec``'s, whose focus is
    the DOI the alias resolves to).

    The alias keeps its own DOI and now describes the kept record: the same titles, dates
    and subjects, its URL the kept landing page, related to the kept DOI by
    ``IsIdenticalTo`` (the same alert, named twice), its abstract saying so first.
    """
    data = to_json(rec, cfg)
    prefix, _, suffix = alias.doi.partition("/")
    kept = rec.focus.doi
    note = (f"MERGED: this DOI names the same alert as {kept}, whose record it resolves to"
            f"{f' ({alias.reason})' if alias.reason else ''}.")
    data.update(
        doi=alias.doi, prefix=prefix, suffix=suffix, url=cfg.record_url(rec.key),
        dates=[d for d in data["dates"] if d["dateType"] != "Updated"]
        + [{"date": describe.iso(alias.updated_at), "dateType": "Updated"}],
        relatedIdentifiers=[_rel(kept, "IsIdenticalTo", general="Dataset"),
                            _rel(cfg.catalog_url, "IsPartOf", "URL", "Collection")],
        descriptions=[{**d, "description": f"{note} {d['description']}"}
                      for d in data["descriptions"]])
    return data


def alias_xml(rec: AlertRecord, alias: DeletedItem, cfg: FairConfig) -> bytes:
    """DataCite kernel-4.6 XML of an aliased DOI (:func:`alias_json`)."""
    root = schema45.dump_etree(alias_json(rec, alias, cfg))
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                     pretty_print=True)
    return document
