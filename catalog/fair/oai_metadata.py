"""The metadata formats an OAI-PMH harvester may ask for, and the record in each of them.

``datacite`` is the DataCite kernel resource itself, ``oai_datacite`` the same resource in
DataCite's OAI envelope, and ``oai_dc`` simple Dublin Core by DataCite's crosswalk. The
protocol (verbs, errors, tokens) is :mod:`catalog.fair.oai`'s.
"""

from __future__ import annotations

from lxml import etree

from catalog.fair import datacite, describe
from catalog.fair.config import ACCESS_RIGHT_URI, LICENSE_URL, FairConfig
from catalog.fair.records import AlertRecord

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DATACITE_NS = "http://schema.datacite.org/oai/oai-1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

#: metadataPrefix → (schema, namespace).
FORMATS = {
    "oai_dc": ("http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC_NS),
    "oai_datacite": ("http://schema.datacite.org/oai/oai-1.1/oai.xsd", OAI_DATACITE_NS),
    "datacite": ("http://schema.datacite.org/meta/kernel-4.6/metadata.xsd",
                 datacite.KERNEL_NS),
}


def _add(parent: etree._Element, ns: str, tag: str, text: str | None = None) -> None:
    etree.SubElement(parent, f"{{{ns}}}{tag}").text = text


def render_metadata(rec: AlertRecord, cfg: FairConfig, prefix: str) -> etree._Element:
    """The ``<metadata>`` content of a record in one of the offered formats."""
    resource = datacite.to_element(rec, cfg)
    if prefix == "datacite":
        return resource
    if prefix == "oai_datacite":
        env = etree.Element(f"{{{OAI_DATACITE_NS}}}oai_datacite",
                            nsmap={None: OAI_DATACITE_NS, "xsi": XSI})
        env.set(f"{{{XSI}}}schemaLocation", f"{OAI_DATACITE_NS} {FORMATS['oai_datacite'][0]}")
        _add(env, OAI_DATACITE_NS, "schemaVersion", "4.6")
        _add(env, OAI_DATACITE_NS, "datacentreSymbol", cfg.datacentre_symbol)
        etree.SubElement(env, f"{{{OAI_DATACITE_NS}}}payload").append(resource)
        return env
    return oai_dc(rec, cfg)


def oai_dc(rec: AlertRecord, cfg: FairConfig) -> etree._Element:
    """Simple Dublin Core, the crosswalk DataCite recommends for ``oai_dc``."""
    dc = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS,
                                                     "xsi": XSI})
    dc.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC_NS} {FORMATS['oai_dc'][0]}")
    data = datacite.to_json(rec, cfg)

    def add(tag: str, text: str) -> None:
        _add(dc, DC_NS, tag, text)

    add("title", describe.title(rec))
    add("creator", describe.creator(rec, cfg).name)
    for s in data["subjects"]:
        add("subject", s["subject"])
    add("description", describe.description(rec, cfg))
    add("publisher", cfg.publisher)
    add("date", data["publicationYear"])
    add("type", "Dataset")
    add("type", "info:eu-repo/semantics/other")
    for f in data["formats"]:
        add("format", f)
    add("identifier", cfg.doi_url(rec.focus.doi))
    add("identifier", f"doi:{rec.focus.doi}")
    for r in data["relatedIdentifiers"]:
        rid = r["relatedIdentifier"]
        add("relation", f"doi:{rid}" if r["relatedIdentifierType"] == "DOI" else rid)
    add("rights", LICENSE_URL)
    add("rights", ACCESS_RIGHT_URI)
    add("language", "en")
    add("coverage", describe.iso(rec.event.event_time))
    return dc
