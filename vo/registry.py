"""The VOResource record of the VO services, for registries.

One ``vs:CatalogService`` (VODataService 1.2, VOResource 1.1) describes TAP (its
capability is the TAPRegExt one of ``/tap/capabilities``), the cone search (SimpleDALRegExt
``cs:ConeSearch``), DataLink and their VOSI endpoints, with the published tables. It is
served at ``/vo/resource`` and harvested by OAI-PMH as ``metadataPrefix=ivo_vor``
(:class:`catalog.fair.oai.ServiceRecord`, handed to the OAI handler by
:func:`oai_records`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from catalog.fair.oai import ServiceRecord
from vo import vosi
from vo.config import VoConfig
from vo.tables import SCHEMAS
from vo.xmltemplates import render

VOSI_NS = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"

#: When the record was first published, and when its content last changed: the OAI
#: datestamp of the record (move ``UPDATED`` with any change of the template or of what
#: it describes, so that incremental harvesters fetch it again).
CREATED = datetime(2026, 11, 24, tzinfo=UTC)
UPDATED = datetime(2026, 12, 3, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """What the record says of the service besides its capabilities."""

    identifier: str = "ivo://nufair/tap"
    title: str = "nufair: high-energy neutrino alerts (TAP, cone search, DataLink)"
    short_name: str = "nufair"
    publisher: str = "nufair neutrino alert archive"
    creator: str = "IceCube Collaboration"
    contact: str = "nufair operators"
    email: str | None = None
    subjects: tuple[str, ...] = ("Neutrino astronomy", "Transient sources",
                                 "High energy astrophysics")
    description: str = (
        "Realtime high-energy neutrino alerts of IceCube (Gold, Bronze, Cascade, HESE, EHE) "
        "and the IceCat-1 catalogue: every revision of every alert, its 50 % and 90 % "
        "regions (exact region predicates in ADQL, MOCs, DALI polygons), ObsCore 1.1 rows "
        "for its MOCs and skymaps, and counterpart candidates from registered catalogues.")


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_element(cfg: VoConfig, facts: ResourceFacts | None = None) -> etree._Element:
    """The ``ri:Resource`` element of the record."""
    facts = facts or ResourceFacts()
    base = cfg.base_url.rstrip("/")
    vosi_caps = [("ivo://ivoa.net/std/VOSI#capabilities", "/tap/capabilities"),
                 ("ivo://ivoa.net/std/VOSI#availability", "/tap/availability"),
                 ("ivo://ivoa.net/std/VOSI#tables-1.1", "/tap/tables")]
    text = render("voresource.xml", r=facts, cfg=cfg, base=base, vosi=vosi_caps,
                  schemas=SCHEMAS, created=_stamp(CREATED), updated=_stamp(UPDATED))
    root = etree.fromstring(text.encode())
    caps = etree.fromstring(vosi.capabilities(cfg).encode())
    tap = next(c for c in caps.iter("capability")
               if c.get("standardID") == "ivo://ivoa.net/std/TAP")
    placeholder = next(c for c in root.iter(etree.Comment) if c.text == "TAP")
    placeholder.getparent().replace(placeholder, tap)
    return root


def resource_document(cfg: VoConfig) -> bytes:
    """The record as a document (``/vo/resource``)."""
    document: bytes = etree.tostring(resource_element(cfg), xml_declaration=True,
                                     encoding="UTF-8")
    return document


def oai_records(cfg: VoConfig) -> tuple[ServiceRecord, ...]:
    """The records the OAI-PMH handler offers as ``ivo_vor`` (set ``ivo_managed``)."""
    facts = ResourceFacts()
    return (ServiceRecord(facts.identifier, UPDATED, lambda: resource_element(cfg, facts)),)
