"""Persistent-identifier providers and the service that keeps them in step with the catalog.

Minting (choosing a DOI and storing it) happens in the database, in the transaction that
stores the revision (``DoiStore.mint``, an explicit step of each flow), so a revision never
exists without its DOI. Registration with an outside provider happens after commit, in
:func:`sync_dois`, because a remote call must never hold a database transaction open; a DOI
whose metadata changed since its last registration (``registered_at < updated_at``) is
re-sent, so a failed call is retried on the next pass. So is an aliased DOI (its record
merged into another's, ``doi_aliases``) that the provider held before the merge: its
metadata is re-sent once, pointing at the record it resolves to.

Providers: ``local`` (the service is its own resolver: ``/doi/<prefix>/<suffix>``, every DOI
findable at once) and ``datacite`` (the DataCite REST API: draft → findable, hidden
("registered") once withdrawn).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Protocol

from catalog.fair import datacite
from catalog.fair.config import FairConfig
from catalog.fair.records import AlertRecord, RecordService
from catalog.storage.fair import FairStorage
from catalog.storage.fair_harvest import DeletedItem

logger = logging.getLogger(__name__)


class PidProvider(Protocol):
    """Registers DOIs somewhere; returns the DataCite state the DOI is now in."""

    name: str

    def register(self, rec: AlertRecord, metadata: dict[str, Any], url: str) -> str:
        """Register or update the DOI of ``rec`` with its DataCite ``metadata`` and landing
        ``url``; returns the DOI's DataCite state (``findable`` or ``registered``)."""


class LocalProvider:
    """DOIs resolved by this service itself: nothing to call, every DOI is findable.

    A withdrawn record stays findable: its landing page is the tombstone.
    """

    name = "local"

    def register(self, rec: AlertRecord, metadata: dict[str, Any], url: str) -> str:
        """Nothing to call: a local DOI is findable once it exists (a withdrawn one too)."""
        return "findable"


class DataCiteProvider:
    """The DataCite REST API through the ``datacite`` package's client.

    A new DOI is created as a draft with its metadata, then published (``event=publish``,
    findable). After a retraction the DOI is hidden (``event=hide``: state registered), so it
    still resolves to the tombstone but leaves DataCite search.
    """

    name = "datacite"

    def __init__(self, client: Any) -> None:
        self.client = client  # datacite.DataCiteRESTClient

    def register(self, rec: AlertRecord, metadata: dict[str, Any], url: str) -> str:
        """Draft the DOI if DataCite does not hold it yet, then publish it; a retracted record's
        DOI is hidden instead (state ``registered``), so it still resolves to the tombstone."""
        doi = rec.focus.doi
        attributes = {k: v for k, v in metadata.items() if k not in ("doi", "prefix", "suffix")}
        if rec.focus.registered_at is None:
            self.client.draft_doi(metadata=dict(attributes), doi=doi)
        if rec.withdrawn:
            if rec.focus.registered_at is not None and rec.focus.state == "findable":
                self.client.update_doi(doi, metadata=dict(attributes), url=url)
                self.client.hide_doi(doi)
            else:  # never published: register it hidden straight away
                self.client.update_doi(doi, metadata=dict(attributes, event="register"),
                                       url=url)
            return "registered"
        self.client.update_doi(doi, metadata=dict(attributes, event="publish"), url=url)
        return "findable"


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """Outcome of one synchronisation pass."""

    sent: int
    failed: int


def sync_dois(records: RecordService, fair: FairStorage, provider: PidProvider,
              cfg: FairConfig, limit: int = 500) -> SyncSummary:
    """Send every DOI whose metadata changed to ``provider``; failures are retried later."""
    sent = failed = 0
    for row in fair.dois_needing_sync(provider.name, limit=limit):
        rec = records.for_event(row.event_pk, focus=row)
        try:
            state = provider.register(rec, datacite.to_json(rec, cfg), cfg.record_url(row.suffix))
        except Exception:  # any provider failure leaves the DOI for the next pass
            logger.warning("registering %s with %s failed", row.doi, provider.name,
                           exc_info=True)
            failed += 1
            continue
        fair.mark_registered([row.id], state)
        sent += 1
    for alias in fair.aliases_needing_sync(provider.name, limit=limit):
        ok = _send_alias(records, fair, provider, cfg, alias)
        sent, failed = sent + ok, failed + (not ok)
    return SyncSummary(sent=sent, failed=failed)


def _send_alias(records: RecordService, fair: FairStorage, provider: PidProvider,
                cfg: FairConfig, alias: DeletedItem) -> bool:
    """Tell ``provider`` that an aliased DOI now describes the record it resolves to
    (:func:`catalog.fair.datacite.alias_json`); whether it took it."""
    kept = records.for_event(alias.target.event_pk, focus=alias.target)
    metadata = datacite.alias_json(kept, alias, cfg)
    try:
        state = provider.register(replace(kept, focus=alias.as_doi()), metadata,
                                  cfg.record_url(kept.key))
    except Exception:  # any provider failure leaves the alias for the next pass
        logger.warning("updating %s with %s failed", alias.doi, provider.name, exc_info=True)
        return False
    fair.mark_alias_registered(alias.alias_pk, state)
    return True
