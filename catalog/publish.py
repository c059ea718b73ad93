"""Publication rules: alert names, what the notices say and who gets them, retraction.

No SQL here: :class:`Publisher` decides, the stores of one
:func:`catalog.storage.unit.catalog_tx` store. A flow calls its steps in order inside its
own transaction (``ingest.pipeline``, ``ingest.scanning.update``)::

    stored = publisher.store_revisions(tx, records)   # named, imported
    publisher.mint_dois(tx, stored)                   # when PIDs are configured
    stored = publisher.queue_notices(tx, stored)      # IVORN, rendered notices

:meth:`Publisher.publish` and :meth:`Publisher.retract` are the whole flow for records
that need nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, cast

from sqlalchemy.engine import Engine

from catalog.errors import Conflict
from catalog.fair.config import file_url
from catalog.notices.model import (
    STREAM_CODES,
    Citation,
    Format,
    NoticeAuthor,
    NoticeInput,
    make_ivorn,
    region_systematics,
    render,
)
from catalog.notices.parsed import NoticeRecord, RevisionKind, Source, Stream
from catalog.schema.events import EventBase, Revision
from catalog.schema.outbox import NoticeBase
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.fair import PidMinting
from catalog.storage.outbox import NoticeFacts
from catalog.storage.revisions import StoredRevision
from catalog.storage.unit import CatalogTransaction, catalog_tx, retry_name_race
from catalog.subscriptions.matching import SubscriptionStore
from catalog.subscriptions.probability import ProbabilityMap

#: Streams whose revisions are published; other events are archived silently.
ALERT_STREAMS = frozenset(STREAM_CODES)

#: Observatories whose events are simulated unless the wiring says otherwise
#: (``reco.simulate`` writes ``nufair-sim``).
SIMULATED_OBSERVATORIES: tuple[str, ...] = ("nufair-sim",)

#: A stored revision's kind (the ``kind`` column's CHECK constraint allows these alone).
RevisionKindName = Literal["initial", "update", "retraction"]

#: Letters of the day's alerts, in order: ``IceCube-YYMMDD`` + the first one not taken.
NAME_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class Route:
    """A sink and the notice formats it receives."""

    sink: str
    formats: tuple[Format, ...]


@dataclass(frozen=True, slots=True)
class PublishConfig:
    """How revisions are announced.

    Attributes
    ----------
    ivorn_base
        Authority and path of our IVORNs, e.g. ``ivo://nufair.example/IceCube``.
    routes
        Which sinks receive which formats.
    public_base_url
        Public address of the app. With it, ``healpix_url`` gives the skymap's URL under
        its version's landing page (:func:`catalog.fair.config.file_url`); without it, or
        while that version has no DOI, notices carry no skymap URL.
    test_observatories
        Observatories whose events are test or simulation traffic: their notices are
        marked as tests in every format.
    author
        Who signs the notices; ``None``: ``ivorn_base`` with the default contact.
    """

    ivorn_base: str
    routes: tuple[Route, ...]
    public_base_url: str | None = None
    test_observatories: tuple[str, ...] = SIMULATED_OBSERVATORIES
    author: NoticeAuthor | None = None

    @property
    def notice_author(self) -> NoticeAuthor:
        """The author of every notice: the configured one, else ``ivorn_base``'s."""
        return self.author or NoticeAuthor(ivorn=self.ivorn_base)

    def is_test(self, observatory: str) -> bool:
        """Whether events of ``observatory`` are test or simulation traffic."""
        return observatory in self.test_observatories


def name_prefix(event_time: datetime) -> str:
    """The day part of an alert name, ``IceCube-YYMMDD`` (UTC)."""
    return f"IceCube-{event_time.astimezone(UTC):%y%m%d}"


def next_alert_name(prefix: str, taken: set[str]) -> str | None:
    """``prefix`` + the day's first free letter; None after 26 alerts in a day (left
    unnamed rather than invent a scheme)."""
    for letter in NAME_LETTERS:
        if prefix + letter not in taken:
            return prefix + letter
    return None


def shown_revision(facts: NoticeFacts) -> Revision:
    """The revision whose position a notice gives: its own, except for a retraction, which
    repeats the last position it withdraws."""
    rev = facts.revision
    if rev.kind == RevisionKind.RETRACTION.value:
        positioned = [r for r in facts.earlier if r.ra is not None]
        if positioned:
            return positioned[-1]
    return rev


def citations(facts: NoticeFacts) -> tuple[Citation, ...]:
    """A retraction cites every earlier notice; any other revision supersedes the last."""
    earlier = facts.earlier
    if facts.revision.kind == RevisionKind.RETRACTION.value:
        return tuple(Citation(r.ivorn, "retraction") for r in earlier if r.ivorn)
    if earlier and earlier[-1].ivorn:
        return (Citation(earlier[-1].ivorn, "supersedes"),)
    return ()


def skymap_url(facts: NoticeFacts, shown: Revision, public_base_url: str | None) -> str | None:
    """The public URL of the shown revision's FITS skymap: under its version's landing page,
    so only with a public address and once that version has a DOI."""
    found = facts.skymaps.get(shown.number)
    if not public_base_url or found is None or found[0] is None:
        return None
    return file_url(public_base_url, found[0], found[1])


def notice_input(facts: NoticeFacts, ivorn: str, config: PublishConfig) -> NoticeInput:
    """What the notices of a stored revision say (marked as a test for a test observatory)."""
    rev, ev = facts.revision, facts.event
    shown = shown_revision(facts)
    return NoticeInput(
        observatory=ev.observatory, run_id=ev.run_id, event_id=ev.event_id,
        name=ev.name, stream=rev.stream, event_time=rev.event_time or ev.event_time,
        revision=rev.number, kind=cast(RevisionKindName, rev.kind),  # CHECK: one of KINDS
        issued_at=rev.issued_at or rev.created_at,
        ra=shown.ra, dec=shown.dec, r50_deg=shown.r50_deg,
        r90_deg=shown.r90_deg, energy_tev=shown.energy_tev,
        signalness=shown.signalness, far_per_year=shown.far_per_year,
        ivorn=ivorn, citations=citations(facts),
        retraction_reason=rev.retraction_reason,
        skymap_url=skymap_url(facts, shown, config.public_base_url),
        test=config.is_test(ev.observatory), author=config.notice_author,
        systematics=region_systematics(shown.provenance or {}))


def rendered_notices(n: NoticeInput, revision_pk: int,
                     routes: Sequence[Route]) -> list[NoticeBase]:
    """The notice of every route and format (each format rendered once)."""
    out = []
    rendered = {}
    for route in routes:
        for fmt in route.formats:
            if fmt not in rendered:
                rendered[fmt] = render(fmt, n)
            r = rendered[fmt]
            out.append(NoticeBase(
                revision_pk=revision_pk, sink=route.sink, format=fmt,
                idempotency_key=(f"nufair:{n.observatory}:{n.run_id}:{n.event_id}:"
                                 f"r{n.revision}:{route.sink}:{fmt}"),
                media_type=r.media_type, filename=r.filename, payload=r.payload))
    return out


def retraction_record(ev: EventBase, reason: str) -> NoticeRecord:
    """The retraction revision of a stored event (an operator's, one per event)."""
    return NoticeRecord(
        observatory=ev.observatory, run_id=ev.run_id, event_id=ev.event_id,
        name=ev.name, stream=Stream(ev.stream), event_time=ev.event_time,
        kind=RevisionKind.RETRACTION, source=Source.OPERATOR, source_rev=None,
        source_key=f"operator:retraction:{ev.observatory}:{ev.run_id}:{ev.event_id}",
        issued_at=datetime.now(UTC), retraction_reason=reason)


class Publisher:
    """Store revisions and announce them (see the module docstring)."""

    def __init__(self, engine: Engine, config: PublishConfig,
                 pids: PidMinting | None = None) -> None:
        self.engine = engine
        self.config = config
        #: The DOIs minted with each revision; None when no PIDs are configured.
        self.pids = pids

    # ------------------------------------------------------------ steps of a flow

    def store_revisions(self, tx: CatalogTransaction, records: Sequence[NoticeRecord],
                        ) -> list[StoredRevision]:
        """Name new alert events and store ``records`` as revisions (no notices yet)."""
        named = [self._named(tx, rec) for rec in records]
        tx.revisions.import_records(named)
        return tx.revisions.stored([rec.source_key for rec in named])

    def mint_dois(self, tx: CatalogTransaction, stored: Sequence[StoredRevision]) -> None:
        """Mint the DOIs of the stored revisions' events, when PIDs are configured."""
        if self.pids is not None and stored:
            tx.dois.mint(self.pids, sorted({s.event_pk for s in stored}))

    def queue_notices(self, tx: CatalogTransaction, stored: Sequence[StoredRevision],
                      probability: ProbabilityMap | None = None) -> list[StoredRevision]:
        """Give each published revision its IVORN and queue its notices for every route
        and every region subscription it matches (``probability``: the map of a single
        revision, for the subscribers' probability share); ``stored`` with the count of
        notices queued."""
        out = []
        for rev in stored:
            queued = 0
            if rev.stream in ALERT_STREAMS:
                facts = tx.outbox.notice_facts(rev.revision_pk)
                ivorn = facts.revision.ivorn
                if ivorn is None:
                    ivorn = self._ivorn(facts)
                    tx.outbox.set_ivorn(rev.revision_pk, ivorn)
                n = replace(notice_input(facts, ivorn, self.config), counterparts=tuple(
                    CounterpartStore(tx.conn).for_revision(rev.revision_pk, 90)))
                queued = tx.outbox.insert(rendered_notices(n, rev.revision_pk,
                                                           self.config.routes))
                queued += SubscriptionStore(tx.conn).queue_matches(rev.revision_pk, n,
                                                                   probability)
            out.append(replace(rev, notices=queued))
        return out

    # ------------------------------------------------------------ whole flows

    def publish(self, records: Sequence[NoticeRecord]) -> list[StoredRevision]:
        """Store ``records`` and queue their notices in one transaction (a collision of two
        new alert names is retried)."""
        return retry_name_race(lambda: self._publish_once(records))

    def _publish_once(self, records: Sequence[NoticeRecord]) -> list[StoredRevision]:
        with catalog_tx(self.engine) as tx:
            stored = self.store_revisions(tx, records)
            self.mint_dois(tx, stored)
            return self.queue_notices(tx, stored)

    def retract(self, key: str, reason: str) -> StoredRevision:
        """Add a retraction revision to event ``key`` and queue its notices.

        Raises ``NotFound`` for an unknown event and ``Conflict`` when it is already
        retracted. Earlier revisions stay as they are.
        """
        with catalog_tx(self.engine) as tx:
            ev = tx.revisions.locked_event(key)
            if ev.current is not None and ev.current.kind == RevisionKind.RETRACTION.value:
                raise Conflict(f"event {key!r} is already retracted", details={"event": key})
            record = retraction_record(ev, reason)
            stored = self.store_revisions(tx, [record])
            self.mint_dois(tx, stored)
            (done,) = self.queue_notices(tx, stored)
        return done

    # ------------------------------------------------------------ rules

    def _named(self, tx: CatalogTransaction, rec: NoticeRecord) -> NoticeRecord:
        """Give a new alert event its name: ``IceCube-YYMMDD`` + the day's next letter."""
        if rec.name is not None or rec.stream.value not in ALERT_STREAMS:
            return rec
        if tx.revisions.event_exists(rec.observatory, rec.run_id, rec.event_id):
            return rec  # the event exists; its name (if any) stays
        prefix = name_prefix(rec.event_time)
        name = next_alert_name(prefix, tx.revisions.names_like(prefix))
        return rec if name is None else replace(rec, name=name)

    def _ivorn(self, facts: NoticeFacts) -> str:
        ev, rev = facts.event, facts.revision
        return make_ivorn(self.config.ivorn_base, rev.stream, ev.event_time,
                          ev.run_id, ev.event_id, rev.number)
