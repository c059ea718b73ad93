"""The VOResource record of the services (issue 15): at ``/vo/resource`` and as OAI-PMH
``ivo_vor``, valid against the official RegistryInterface, VOResource, VODataService,
TAPRegExt and SimpleDALRegExt (ConeSearch) schemas, and read by pyvo's VOSI parsers."""

from __future__ import annotations

import io

import httpx
import pytest
import xmlschema
from lxml import etree
from pyvo.io.vosi import parse_capabilities
from sickle import Sickle

from catalog.notices.parsed import NoticeRecord
from tests.vo.vor_schema import registry_schema

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
IVOID = "ivo://nufair/tap"


@pytest.fixture(scope="module")
def vor_xsd() -> xmlschema.XMLSchema:
    """OAI-PMH and the registry schemas, all offline (:func:`registry_schema`)."""
    return registry_schema()


def _capabilities(resource: etree._Element) -> dict[str, etree._Element]:
    return {c.get("standardID", ""): c for c in resource.findall("capability")}


def test_record_is_a_valid_catalog_service(live_url: str, vor_xsd: xmlschema.XMLSchema,
                                           alerts: list[NoticeRecord]) -> None:
    """/vo/resource: a vs:CatalogService with TAP (TAPRegExt, ObsCore declared), SCS
    (cs:ConeSearch) and DataLink, valid against the schemas; pyvo reads its capabilities."""
    r = httpx.get(f"{live_url}/vo/resource", timeout=30)
    assert r.status_code == 200
    vor_xsd.validate(r.content)
    root = etree.fromstring(r.content)
    assert root.tag == f"{{{RI}}}Resource" and root.get(XSI_TYPE) == "vs:CatalogService"
    assert root.findtext("identifier") == IVOID
    caps = _capabilities(root)
    assert caps["ivo://ivoa.net/std/TAP"].get(XSI_TYPE) == "tr:TableAccess"
    assert caps["ivo://ivoa.net/std/ConeSearch"].get(XSI_TYPE) == "cs:ConeSearch"
    assert "ivo://ivoa.net/std/DataLink#links-1.1" in caps
    for cap in caps.values():
        for url in cap.iter("accessURL"):
            assert str(url.text).startswith(live_url)
    tables = {t.text for t in root.iter("name")}
    assert {"ivoa.obscore", "nufair.alerts", "nufair.revisions"} <= tables
    # pyvo's VOSI model (the one pyvo.registry builds on) reads the capabilities (but the
    # cone search's: pyvo has no model of SimpleDALRegExt, only validated above).
    doc = etree.Element("{http://www.ivoa.net/xml/VOSICapabilities/v1.0}capabilities",
                        nsmap={**root.nsmap,
                               "vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0"})
    doc.extend(c for c in caps.values() if c.get(XSI_TYPE) != "cs:ConeSearch")
    parsed = parse_capabilities(io.BytesIO(etree.tostring(doc)))
    tap = next(c for c in parsed if c.standardid == "ivo://ivoa.net/std/TAP")
    assert [dm.ivo_id for dm in tap.datamodels] == ["ivo://ivoa.net/std/ObsCore#core-1.1"]
    assert tap.get_adql() is not None


def test_oai_pmh_gives_the_record_as_ivo_vor(alerts: list[NoticeRecord], live_url: str,
                                             vor_xsd: xmlschema.XMLSchema) -> None:
    """ListMetadataFormats lists ivo_vor; GetRecord and ListRecords (set ivo_managed) give
    the record, valid in its OAI envelope; a DOI item in ivo_vor, or the record in another
    format, is cannotDisseminateFormat."""
    def get(**params: str) -> etree._Element:
        r = httpx.get(f"{live_url}/oai", params=params, timeout=30)
        assert r.status_code == 200
        root = etree.fromstring(r.content)
        if root.find(f"{OAI}error") is None and params.get("metadataPrefix") == "ivo_vor":
            vor_xsd.validate(r.content)
        return root

    formats = get(verb="ListMetadataFormats")
    assert "ivo_vor" in {e.text for e in formats.iter(f"{OAI}metadataPrefix")}
    own = get(verb="ListMetadataFormats", identifier=IVOID)
    assert [e.text for e in own.iter(f"{OAI}metadataPrefix")] == ["ivo_vor"]
    assert "ivo_managed" in {e.text for e in get(verb="ListSets").iter(f"{OAI}setSpec")}
    record = get(verb="GetRecord", identifier=IVOID, metadataPrefix="ivo_vor")
    assert record.find(f".//{{{RI}}}Resource") is not None
    assert record.findtext(f".//{OAI}header/{OAI}setSpec") == "ivo_managed"
    wrong = get(verb="GetRecord", identifier=IVOID, metadataPrefix="oai_dc")
    assert wrong.find(f"{OAI}error").get("code") == "cannotDisseminateFormat"
    doi_item = next(e.text for e in get(verb="ListIdentifiers", metadataPrefix="oai_dc")
                    .iter(f"{OAI}identifier"))
    assert doi_item is not None
    refused = get(verb="GetRecord", identifier=doi_item, metadataPrefix="ivo_vor")
    assert refused.find(f"{OAI}error").get("code") == "cannotDisseminateFormat"
    listed = get(verb="ListRecords", metadataPrefix="ivo_vor", set="ivo_managed")
    assert IVOID in [e.text for e in listed.iter(f"{OAI}identifier")]
    sickle = Sickle(f"{live_url}/oai", max_retries=0)
    harvested = list(sickle.ListRecords(metadataPrefix="ivo_vor", set="ivo_managed"))
    assert IVOID in [h.header.identifier for h in harvested]
