"""The publishing registry's own records (issue 15): a ``vg:Registry`` (Registry
Interfaces 1.0) whose ``vg:Harvest`` capability is the OAI-PMH interface and which manages
the authority, and the ``vg:Authority`` record, harvested as ``ivo_vor`` beside the
services' record, valid against the official schemas, their curation from the settings
``NUFAIR_VO_*``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xmlschema
from lxml import etree
from pydantic import SecretStr, ValidationError
from sickle import Sickle

from nufair.app import create_app, vo_config
from nufair.settings import Settings
from tests.serving import base_url, free_socket, serving
from tests.vo.vor_schema import registry_schema

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RI = "{http://www.ivoa.net/xml/RegistryInterface/v1.0}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

#: Curation unlike the defaults, so that each value is seen to come from the settings.
CURATION = {"vo_authority": "ivo://example.org.nu", "vo_title": "Test neutrino services",
            "vo_publisher": "Example Neutrino Archive", "vo_creator": "Example Collaboration",
            "vo_contact_name": "Example VO desk", "contact_email": "vo-desk@example.org"}


@pytest.fixture
def curated_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The real app, served with the curation of :data:`CURATION`."""
    sock = free_socket()
    url = base_url(sock)
    settings = Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                        environment="development", public_base_url=url,
                        **CURATION)  # type: ignore[arg-type]
    with serving(create_app(settings), sock) as served:
        yield served


def _get(url: str, schema: xmlschema.XMLSchema, **params: str) -> etree._Element:
    r = httpx.get(f"{url}/oai", params=params, timeout=30)
    assert r.status_code == 200
    schema.validate(r.content)
    root = etree.fromstring(r.content)
    assert root.find(f"{OAI}error") is None, r.text[:400]
    return root


def _curation_is_the_settings(resource: etree._Element) -> None:
    assert resource.findtext("curation/publisher") == CURATION["vo_publisher"]
    assert resource.findtext("curation/creator/name") == CURATION["vo_creator"]
    assert resource.findtext("curation/contact/name") == CURATION["vo_contact_name"]
    assert resource.findtext("curation/contact/email") == CURATION["contact_email"]


def test_registry_and_authority_records_are_harvested(curated_url: str) -> None:
    """ListRecords ivo_vor: the registry, its authority and the services, each valid; the
    registry's Harvest capability is this OAI-PMH interface, it manages the authority of
    every identifier; Identify carries the registry record; sickle harvests all three."""
    schema = registry_schema()
    authority = CURATION["vo_authority"]
    listed = _get(curated_url, schema, verb="ListRecords", metadataPrefix="ivo_vor",
                  set="ivo_managed")
    resources = {r.findtext("identifier"): r for r in listed.iter(f"{RI}Resource")}
    assert list(resources) == [f"{authority}/registry", authority, f"{authority}/tap"]
    registry = resources[f"{authority}/registry"]
    assert registry.get(XSI_TYPE) == "vg:Registry"
    assert registry.findtext("full") == "false"
    assert registry.findtext("managedAuthority") == "example.org.nu"
    harvest = registry.find("capability")
    assert harvest is not None and harvest.get(XSI_TYPE) == "vg:Harvest"
    assert harvest.get("standardID") == "ivo://ivoa.net/std/Registry"
    interface = harvest.find("interface")
    assert interface is not None and interface.get(XSI_TYPE) == "vg:OAIHTTP"
    assert interface.get("role") == "std"
    assert interface.findtext("accessURL") == f"{curated_url}/oai"
    assert resources[authority].get(XSI_TYPE) == "vg:Authority"
    assert resources[authority].findtext("managingOrg") == CURATION["vo_publisher"]
    assert resources[f"{authority}/tap"].findtext("title") == CURATION["vo_title"]
    for resource in resources.values():
        _curation_is_the_settings(resource)
    # every identifier published is under the managed authority
    for identifier in resources:
        assert identifier is not None and identifier.split("/")[2] == "example.org.nu"
    ident = _get(curated_url, schema, verb="Identify")
    described = ident.find(f"{OAI}Identify/{OAI}description/{RI}Resource")
    assert described is not None and described.findtext("identifier") == f"{authority}/registry"
    one = _get(curated_url, schema, verb="GetRecord", identifier=f"{authority}/registry",
               metadataPrefix="ivo_vor")
    assert one.find(f".//{RI}Resource").get(XSI_TYPE) == "vg:Registry"
    sickle = Sickle(f"{curated_url}/oai", max_retries=0)
    assert sickle.Identify().baseURL == f"{curated_url}/oai"
    harvested = list(sickle.ListRecords(metadataPrefix="ivo_vor", set="ivo_managed"))
    assert [h.header.identifier for h in harvested] == list(resources)
    assert all(h.header.setSpecs == ["ivo_managed"] for h in harvested)
    raw = etree.fromstring(harvested[0].raw.encode())
    assert raw.find(f".//{RI}Resource").get(XSI_TYPE) == "vg:Registry"
    page = httpx.get(f"{curated_url}/vo/resource", timeout=30)
    schema.validate(page.content)
    _curation_is_the_settings(etree.fromstring(page.content))


def test_curation_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """NUFAIR_VO_* reach the VO configuration; an authority that is no IVOA authority ID
    is refused when the settings load."""
    for key, value in CURATION.items():
        monkeypatch.setenv(f"NUFAIR_{key.upper()}", value)
    curation = vo_config(Settings()).curation
    assert (curation.authority, curation.title, curation.publisher, curation.creator,
            curation.contact_name, curation.contact_email) == (
        CURATION["vo_authority"], CURATION["vo_title"], CURATION["vo_publisher"],
        CURATION["vo_creator"], CURATION["vo_contact_name"], CURATION["contact_email"])
    assert curation.registry_id == "ivo://example.org.nu/registry"
    for bad in ("http://example.org", "ivo://x", "ivo://example.org/path"):
        monkeypatch.setenv("NUFAIR_VO_AUTHORITY", bad)
        with pytest.raises(ValidationError):
            Settings()
