"""The VOResource records of the VO services, for registries.

One ``vs:CatalogService`` (VODataService 1.2, VOResource 1.1) describes TAP (its
capability is the TAPRegExt one of ``/tap/capabilities``), the cone search (SimpleDALRegExt
``cs:ConeSearch``), DataLink and their VOSI endpoints, with the published tables. It is
served at ``/vo/resource``. The OAI-PMH interface is a publishing registry (Registry
Interfaces 1.0): beside the services' record it offers its own, a ``vg:Registry`` whose
``vg:Harvest`` capability is that interface and which manages the authority, and the
``vg:Authority`` record of the authority; all three harvested as ``metadataPrefix=ivo_vor``
in set ``ivo_managed`` (:class:`catalog.fair.oai.ServiceRecord`, handed to the OAI handler
by :func:`oai_records`). Who publishes them (title, publisher, creator, contact, the
authority of their identifiers) is the configuration's :class:`vo.curation.Curation`,
from the settings ``NUFAIR_VO_*``.
"""

from __future__ import annotations

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


#: The subjects and description of the services' record.
SUBJECTS = ("Neutrino astronomy", "Transient sources", "High energy astrophysics")
DESCRIPTION = (
    "Realtime high-energy neutrino alerts of IceCube (Gold, Bronze, Cascade, HESE, EHE) "
    "and the IceCat-1 catalogue: every revision of every alert, its 50 % and 90 % "
    "regions (exact region predicates in ADQL, MOCs, DALI polygons), ObsCore 1.1 rows "
    "for its MOCs and skymaps, and counterpart candidates from registered catalogues.")

#: The Harvest capability's maxRecords: ivo_vor lists are never split into pages (a
#: handful of records), which Registry Interfaces writes as 0 (no limit, no tokens).
MAX_RECORDS = 0


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _common(cfg: VoConfig) -> dict[str, object]:
    """What every record's template reads: curation, base URL, dates."""
    return {"c": cfg.curation, "base": cfg.base_url.rstrip("/"), "created": _stamp(CREATED),
            "updated": _stamp(UPDATED)}


def resource_element(cfg: VoConfig) -> etree._Element:
    """The ``ri:Resource`` element of the services' record."""
    vosi_caps = [("ivo://ivoa.net/std/VOSI#capabilities", "/tap/capabilities"),
                 ("ivo://ivoa.net/std/VOSI#availability", "/tap/availability"),
                 ("ivo://ivoa.net/std/VOSI#tables-1.1", "/tap/tables")]
    text = render("voresource.xml", **_common(cfg), cfg=cfg, vosi=vosi_caps, schemas=SCHEMAS,
                  short_name=cfg.curation.authority_id[:16], subjects=SUBJECTS,
                  description=DESCRIPTION)
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


def registry_element(cfg: VoConfig) -> etree._Element:
    """The ``ri:Resource`` element of the publishing registry (``vg:Registry``)."""
    text = render("voregistry.xml", **_common(cfg), max_records=MAX_RECORDS,
                  short_name=f"{cfg.curation.authority_id[:7]} registry")
    return etree.fromstring(text.encode())


def authority_element(cfg: VoConfig) -> etree._Element:
    """The ``ri:Resource`` element of the managed authority (``vg:Authority``)."""
    return etree.fromstring(render("voauthority.xml", **_common(cfg)).encode())


def oai_records(cfg: VoConfig) -> tuple[ServiceRecord, ...]:
    """The records the OAI-PMH handler offers as ``ivo_vor`` (set ``ivo_managed``): the
    registry's own first, then its authority's, then the services'."""
    c = cfg.curation
    return (ServiceRecord(c.registry_id, UPDATED, lambda: registry_element(cfg)),
            ServiceRecord(c.authority, UPDATED, lambda: authority_element(cfg)),
            ServiceRecord(c.service_id, UPDATED, lambda: resource_element(cfg)))
