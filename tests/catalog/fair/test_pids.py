"""The DataCite provider through the ``datacite`` package's REST client, against a stand-in
that enforces the documented request shapes and state machine."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from datacite import DataCiteRESTClient
from datacite.errors import DataCiteError

from catalog.fair.config import FairConfig
from catalog.fair.pids import DataCiteProvider, LocalProvider, sync_dois
from catalog.fair.records import RecordService
from catalog.notices.parsed import RevisionKind
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from tests.catalog.fair.conftest import seed_records
from tests.catalog.fair.datacite_standin import StandIn, make_standin
from tests.catalog.records_factory import record
from tests.serving import free_socket, serving


def test_datacite_lifecycle_publish_then_hide_on_retraction(
        storage: CatalogStorage, fair: FairStorage) -> None:
    cfg = FairConfig(base_url="http://testserver", provider="datacite", doi_prefix="10.80001")
    storage.import_records(seed_records())
    fair.mint_missing(cfg.doi_prefix, cfg.provider)
    records = RecordService(storage, fair)
    standin = StandIn(user="ACME.NUFAIR", password="s3cret", prefix="10.80001")
    with serving(make_standin(standin), free_socket()) as url:
        client = DataCiteRESTClient("ACME.NUFAIR", "s3cret", "10.80001", url=url + "/")
        provider = DataCiteProvider(client)
        standin.fail_next = 1  # the first call fails: that DOI waits for the next pass
        first = sync_dois(records, fair, provider, cfg)
        assert (first.sent, first.failed) == (6, 1)
        second = sync_dois(records, fair, provider, cfg)
        assert (second.sent, second.failed) == (1, 0)
        assert sync_dois(records, fair, provider, cfg).sent == 0  # nothing changed since
        a = records.load("IceCube-200615A")
        assert standin.dois[a.concept.doi]["state"] == "findable"
        assert standin.dois[a.concept.doi]["attributes"]["url"].endswith(a.concept.suffix)
        b = records.load("IceCube-210302A")  # retracted before its first registration
        assert {standin.dois[d.doi]["state"] for d in (b.concept, b.versions[0].doi)} == {
            "registered"}
        # A retraction of A arrives: its three DOIs are re-sent and hidden.
        storage.import_records([dataclasses.replace(
            record(rev=2, ra=None, dec=None, r90=None,  # type: ignore[arg-type]
                   kind=RevisionKind.RETRACTION,
                   issued=datetime(2020, 6, 16, tzinfo=UTC)),
            retraction_reason="coincident noise")])
        assert fair.mint_missing(cfg.doi_prefix, cfg.provider).withdrawn == 3
        third = sync_dois(records, fair, provider, cfg)
        assert (third.sent, third.failed) == (3, 0)
    a = records.load("IceCube-200615A")
    dois = [a.concept.doi, *(v.doi.doi for v in a.versions)]
    assert {standin.dois[d]["state"] for d in dois} == {"registered"}
    assert {r.state for r in fair.dois_of_event(a.event.id)} == {"registered"}
    assert {k for k, _ in standin.requests} == {"POST", "PUT"}


def test_standin_refuses_bad_requests() -> None:
    """The stand-in has teeth: wrong credentials, wrong prefix, hiding a draft."""
    standin = StandIn(user="U", password="p", prefix="10.80001")
    with serving(make_standin(standin), free_socket()) as url:
        bad = DataCiteRESTClient("U", "wrong", "10.80001", url=url + "/")
        with pytest.raises(DataCiteError):
            bad.draft_doi(doi="10.80001/abc")
        other = DataCiteRESTClient("U", "p", "10.99999", url=url + "/")
        with pytest.raises(DataCiteError):  # not this account's prefix
            other.draft_doi(doi="10.99999/abc")
        good = DataCiteRESTClient("U", "p", "10.80001", url=url + "/")
        good.draft_doi(doi="10.80001/abc")
        with pytest.raises(DataCiteError):
            good.hide_doi("10.80001/abc")
        with pytest.raises(DataCiteError):  # no metadata: cannot be published
            good.show_doi("10.80001/abc")


def test_local_provider_makes_everything_findable() -> None:
    assert LocalProvider().register(None, {}, "") == "findable"  # type: ignore[arg-type]
