"""Aliased DOIs (issue 14): a DOI whose record migration 0017 merged into another's is a
deleted record for OAI-PMH harvesters, and DataCite is told what it now resolves to.

The database is the one of ``test_histories_migration_identity``: IceCube-201221A stored as
two alerts at revision 0016 (the importer without the identity rule), their DOIs minted,
then upgraded, which makes the merged alert's concept DOI and its Rev 1's version DOI
aliases. Expectations come from this test's own SQL over ``doi_aliases`` and ``dois``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import xmlschema
from datacite import DataCiteRESTClient, schema45
from lxml import etree
from pydantic import SecretStr
from sickle import Sickle
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.fair import datacite
from catalog.fair.config import FairConfig
from catalog.fair.pids import DataCiteProvider, sync_dois
from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from nufair.app import create_app
from nufair.migrate import upgrade
from nufair.settings import Settings
from tests.catalog.fair.datacite_standin import StandIn, make_standin
from tests.catalog.fair.test_oai import oai_xsd
from tests.catalog.test_histories_migration_identity import _store_twin, old_engine
from tests.serving import free_socket, serving

__all__ = ["oai_xsd", "old_engine"]  # fixtures shared with their modules

OAI = "{http://www.openarchives.org/OAI/2.0/}"
PREFIX = "10.80001"


def _merged(engine: Engine) -> dict[str, tuple[str, str, str]]:
    """Alias suffix -> (alias DOI, target DOI, target suffix), read straight from SQL."""
    with engine.connect() as conn:
        return {r.suffix: (r.doi, r.target, r.target_suffix) for r in conn.execute(text(
            "SELECT a.suffix, a.doi, d.doi AS target, d.suffix AS target_suffix "
            "FROM doi_aliases a JOIN dois d ON d.id = a.target_pk"))}


@pytest.fixture
def merged_url(old_engine: Engine, empty_db_url: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The database with both old alerts' DOIs minted (and registered with DataCite's
    stand-in as findable), upgraded to head: two aliases."""
    _store_twin(old_engine, monkeypatch)
    FairStorage(old_engine).mint_missing(PREFIX, "datacite")
    with old_engine.begin() as conn:
        conn.execute(text("UPDATE dois SET state = 'findable', registered_at = now()"))
    upgrade(empty_db_url)
    assert len(_merged(old_engine)) == 2  # the concept DOI and Rev 1's version DOI
    yield empty_db_url


def _pages(base: str, xsd: xmlschema.XMLSchema, **params: str) -> list[etree._Element]:
    """Every page of a list request, each validated against OAI-PMH.xsd."""
    out = []
    while True:
        r = httpx.get(f"{base}/oai", params=params, timeout=30)
        xsd.validate(r.content)
        out.append(etree.fromstring(r.content))
        token = out[-1].findtext(f".//{OAI}resumptionToken")
        if not token:
            return out
        params = {"verb": params["verb"], "resumptionToken": token}


def test_aliases_are_deleted_records(merged_url: str, old_engine: Engine, tmp_path: Path,
                                     oai_xsd: xmlschema.XMLSchema) -> None:
    merged = _merged(old_engine)
    with old_engine.connect() as conn:
        live = set(conn.execute(text("SELECT suffix FROM dois")).scalars())
        streams: dict[str, str] = dict(conn.execute(text(
            "SELECT a.suffix, e.stream FROM doi_aliases a JOIN dois d ON d.id = a.target_pk "
            "JOIN events e ON e.id = d.event_pk")).all())
    sock = free_socket()
    host, port = sock.getsockname()
    settings = Settings(database_url=SecretStr(merged_url), data_dir=tmp_path,
                        environment="development", public_base_url=f"http://{host}:{port}",
                        oai_page_size=3)
    with serving(create_app(settings), sock) as base:
        ident = _pages(base, oai_xsd, verb="Identify")[0]
        assert ident.findtext(f".//{OAI}deletedRecord") == "persistent"
        # Every page validates; the aliases come as deleted headers, everything else not.
        headers = [h for page in _pages(base, oai_xsd, verb="ListIdentifiers",
                                        metadataPrefix="oai_dc")
                   for h in page.iter(f"{OAI}header")]
        deleted = {h.findtext(f"{OAI}identifier") for h in headers
                   if h.get("status") == "deleted"}
        assert deleted == {f"oai:{host}:{s}" for s in merged}
        assert {h.findtext(f"{OAI}identifier") for h in headers} == {
            f"oai:{host}:{s}" for s in live | set(merged)}
        records = [r for page in _pages(base, oai_xsd, verb="ListRecords",
                                        metadataPrefix="oai_datacite")
                   for r in page.iter(f"{OAI}record")]
        assert len(records) == len(live) + len(merged)
        for r in records:  # a deleted record has no metadata, every other one has
            gone = r.find(f"{OAI}header").get("status") == "deleted"
            assert (r.find(f"{OAI}metadata") is None) == gone
        for suffix in merged:
            one = _pages(base, oai_xsd, verb="GetRecord", identifier=f"oai:{host}:{suffix}",
                         metadataPrefix="datacite")[0]
            assert one.find(f".//{OAI}header").get("status") == "deleted"
            assert one.find(f".//{OAI}metadata") is None
        # A harvester: sickle sees them as deleted, skips them when asked, finds them by set.
        sickle = Sickle(f"{base}/oai", max_retries=0)
        seen = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False))
        assert {h.identifier for h in seen if h.deleted} == deleted
        assert not {r.header.identifier for r in sickle.ListRecords(metadataPrefix="oai_dc",
                                                                     ignore_deleted=True)
                    } & deleted
        [stream] = set(streams.values())
        in_set = list(sickle.ListRecords(metadataPrefix="oai_dc", set=f"stream:{stream}",
                                         ignore_deleted=False))
        assert {r.header.identifier for r in in_set if r.deleted} == deleted
        # Harvesting from the merge on still lists them (their datestamp is the merge's).
        stamps = sorted(h.datestamp for h in seen if h.deleted)
        later = sickle.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False,
                                       **{"from": stamps[0]})
        assert deleted <= {h.identifier for h in later}


def test_datacite_hears_what_an_alias_resolves_to(merged_url: str, old_engine: Engine,
                                                  datacite_xsd: xmlschema.XMLSchema) -> None:
    merged = _merged(old_engine)
    cfg = FairConfig(base_url="http://testserver", provider="datacite", doi_prefix=PREFIX)
    with old_engine.connect() as conn:
        every = [*conn.execute(text("SELECT doi FROM dois")).scalars(),
                 *(doi for doi, _, _ in merged.values())]
    standin = StandIn(user="ACME.NUFAIR", password="s3cret", prefix=PREFIX)
    # DataCite holds every DOI as registered before the merge.
    standin.dois = {doi: {"state": "findable", "attributes": {"doi": doi}} for doi in every}
    storage = CatalogStorage(old_engine)
    fair = FairStorage(old_engine)
    records = RecordService(storage, fair)
    with serving(make_standin(standin), free_socket()) as url:
        provider = DataCiteProvider(DataCiteRESTClient("ACME.NUFAIR", "s3cret", PREFIX,
                                                       url=url + "/"))
        sync_dois(records, fair, provider, cfg)
        assert sync_dois(records, fair, provider, cfg).sent == 0  # each alias sent once
    assert {doi for doi, _, _ in merged.values()} <= {d for k, d in standin.requests
                                                      if k == "PUT"}
    for alias, target, target_suffix in merged.values():
        held = standin.dois[alias]
        assert held["state"] == "findable"
        attrs = held["attributes"]
        assert attrs["url"] == cfg.record_url(target_suffix)
        assert {(r["relatedIdentifier"], r["relationType"])
                for r in attrs["relatedIdentifiers"]} >= {(target, "IsIdenticalTo")}
        assert attrs["descriptions"][0]["description"].startswith("MERGED: ")
        assert target in attrs["descriptions"][0]["description"]
        # What DataCite holds validates as kernel-4.6 XML, as does nufair's own rendering.
        doc = {**attrs, "doi": alias, "schemaVersion": "http://datacite.org/schema/kernel-4"}
        assert schema45.validate(doc)
        datacite_xsd.validate(etree.tostring(schema45.dump_etree(doc)))
    for suffix in merged:
        item = fair.deleted_item(suffix.upper())
        assert item is not None and item.suffix == suffix
        kept = records.for_event(item.target.event_pk, focus=item.target)
        datacite_xsd.validate(datacite.alias_xml(kept, item, cfg))
    with old_engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM doi_aliases WHERE registered_at < updated_at")).scalar() == 0
