"""The catalog's import path on an open transaction: events, numbered revisions, tiles.

:class:`RevisionStore` is bound to the connection of one
:func:`catalog.storage.unit.catalog_tx`. It stores notice records as revisions (matched to
events on (observatory, run_id, event_id); re-importing a record is a no-op), reads back
what it stored, and records the products of a scan (exact region tiles, artifact files).
It holds no rules of publication: naming, notices and DOIs are steps of the flows that
call it (:mod:`catalog.publish`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

from catalog.errors import InvalidInput
from catalog.models import ImportSummary
from catalog.notices.parsed import NoticeRecord
from catalog.schema.events import (
    ArtifactFile,
    EventCurrentRead,
    artifacts,
    events,
    region_tiles,
    revisions,
)
from catalog.schema.pids import dois
from catalog.storage import bulk, histories, identities
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.histories import RevState, notice_conflicts, record_values
from catalog.storage.lookup import resolve_event
from catalog.storage.revision_rows import (
    EventKey,
    event_rows,
    revision_rows,
    utc_mjd,
)


def _check_record(rec: NoticeRecord) -> None:
    if rec.ra is not None and not (-360.0 <= rec.ra <= 720.0):
        raise InvalidInput(f"{rec.source_key}: RA {rec.ra} out of range")
    if rec.dec is not None and not (-90.0 <= rec.dec <= 90.0):
        raise InvalidInput(f"{rec.source_key}: Dec {rec.dec} out of range")
    if rec.event_time.tzinfo is None:
        raise InvalidInput(f"{rec.source_key}: event time has no time zone")


@dataclass(frozen=True, slots=True)
class Imported:
    """What :meth:`RevisionStore.import_records` did: its summary and the events touched."""

    summary: ImportSummary
    event_pks: list[int]


@dataclass(frozen=True, slots=True)
class StoredRevision:
    """A stored revision of a flow, and the notices queued for it (0 until queued)."""

    event_pk: int
    revision_pk: int
    number: int
    kind: str
    name: str | None
    stream: str
    notices: int = 0


class RevisionStore:
    """Writes and reads of events and revisions on one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------------ import

    def import_records(self, records: Sequence[NoticeRecord]) -> Imported:
        """Store ``records``: each new notice becomes a revision of its event, numbered in
        the event's history order; a notice already stored from another source adds that
        source (and any disagreement) to it (:mod:`catalog.storage.histories`)."""
        for rec in records:
            _check_record(rec)
        # 0. One event number per real event (a source's misprinted number is moved).
        records = identities.reconcile(records, self._stored_claims(records))
        # 1. Upsert the events. DO UPDATE (not DO NOTHING) locks each event row until
        #    commit, which serialises concurrent imports of the same event's revisions.
        pk_of, created = self._upsert_events(records)
        # 2. New notices, and further sources of notices already stored (or earlier here).
        fresh, more = self._fresh_records(records)
        pks = sorted({pk_of[(r.observatory, r.run_id, r.event_id)] for r in records})
        if not fresh:
            merged = self._merge_sources(more)
            if merged:
                self._refresh_events(pks)
            return Imported(ImportSummary(records=len(records), events_created=created,
                                          revisions_created=0,
                                          unchanged=len(records) - merged),
                            pks if merged else [])
        # 3. Number every revision of the touched events in history order, and insert.
        numbers = self._renumber(pks, fresh, pk_of)
        rows, tiles_of = revision_rows(fresh, pk_of, numbers)
        rev_pk = bulk.copy_revisions(self.conn, rows)
        self._finish_renumber()
        for state in self._new_states:
            state.pk = rev_pk[state.key]
        merged = self._merge_sources(more)
        # 4. Region tiles through COPY: the bulk of the rows, and the fastest path in.
        self._copy_tiles((rev_pk[key], level, ranges)
                         for key, tiles in tiles_of.items() for level, ranges in tiles)
        # Counterpart candidates of every new revision with a region (one statement per
        # catalogue for the whole batch).
        CounterpartStore(self.conn).compute_for(list(rev_pk.values()))
        # 5. Point each touched event at its current revision, time and status (from the
        #    histories just ordered, unless merged sources changed their dates).
        self._refresh_events(pks, None if merged else self._histories)
        return Imported(ImportSummary(records=len(records), events_created=created,
                                      revisions_created=len(rows),
                                      unchanged=len(records) - len(rows) - merged), pks)

    def _stored_claims(self, records: Sequence[NoticeRecord]
                       ) -> dict[tuple[str, int], list[identities.Claim]]:
        """The identity claims of the stored revisions of the records' runs."""
        runs = {(rec.observatory, rec.run_id) for rec in records}
        r, e = revisions.c, events.c
        out: dict[tuple[str, int], list[identities.Claim]] = {}
        for row in self.conn.execute(
                select(e.observatory, e.run_id, e.event_id, r.event_time, r.time_precision_s,
                       r.ra, r.dec, r.r90_deg)
                .join(events, e.id == r.event_pk)
                .where(bulk.any_of(e.run_id, {run for _, run in runs}),
                       r.event_time.is_not(None))):
            if (row.observatory, row.run_id) not in runs:
                continue
            out.setdefault((row.observatory, row.run_id), []).append(identities.Claim(
                row.event_id, row.event_time, row.time_precision_s, row.ra, row.dec,
                row.r90_deg, stored=True))
        return out

    def _upsert_events(self, records: Sequence[NoticeRecord]
                       ) -> tuple[dict[EventKey, int], int]:
        """Insert new events and map keys to pks; returns (pk of each key, events created)."""
        pk_of: dict[EventKey, int] = {}
        created = 0
        for row in bulk.upsert_events(self.conn, event_rows(records)):
            pk_of[(row.observatory, row.run_id, row.event_id)] = row.id
            created += int(row.inserted)
        return pk_of, created

    def _fresh_records(self, records: Sequence[NoticeRecord]
                       ) -> tuple[list[NoticeRecord], list[NoticeRecord]]:
        """The records of notices not stored yet (each notice once, in input order), and the
        other records: further sources of notices stored before or earlier in ``records``."""
        keys = list({rec.source_key for rec in records})
        existing = set(self.conn.execute(
            select(revisions.c.source_key).where(bulk.any_of(revisions.c.source_key, keys))
        ).scalars())
        fresh: list[NoticeRecord] = []
        more: list[NoticeRecord] = []
        seen: set[str] = set()
        for rec in records:
            if rec.source_key in existing or rec.source_key in seen:
                more.append(rec)
                continue
            seen.add(rec.source_key)
            fresh.append(rec)
        return fresh, more

    def _merge_sources(self, more: Sequence[NoticeRecord]) -> int:
        """Add each record's source (its values, and any disagreement) to the stored
        revision of the same notice; how many revisions changed."""
        if not more:
            return 0
        stored = {r.source_key: r for r in self.conn.execute(
            select(revisions.c.id, revisions.c.source_key, revisions.c.provenance)
            .where(bulk.any_of(revisions.c.source_key, {rec.source_key for rec in more})))}
        changes: dict[int, dict[str, Any]] = {}
        provenance = {key: dict(row.provenance or {}) for key, row in stored.items()}
        for rec in more:
            prov = provenance[rec.source_key]
            by_source = dict(prov.get("values") or {})
            values = record_values(rec)
            if by_source.get(rec.source.value) == values:
                continue
            by_source[rec.source.value] = values
            prov["values"] = by_source
            prov["sources"] = sorted({*prov.get("sources", [prov.get("source")]),
                                      rec.source.value} - {None})
            extras = dict(prov.get("extra_by_source") or {})
            extras[rec.source.value] = rec.extra
            prov["extra_by_source"] = extras
            pk = stored[rec.source_key].id
            changes[pk] = {"pk": pk, "prov": prov, "conflicts": notice_conflicts(by_source),
                           "ivorn": rec.ivorn, "issued": rec.issued_at}
        if changes:
            self.conn.execute(
                update(revisions).where(revisions.c.id == bindparam("pk")).values(
                    provenance=bindparam("prov", type_=revisions.c.provenance.type),
                    conflicts=bindparam("conflicts", type_=revisions.c.conflicts.type),
                    ivorn=func.coalesce(revisions.c.ivorn, bindparam("ivorn")),
                    issued_at=func.coalesce(
                        revisions.c.issued_at,
                        bindparam("issued", type_=revisions.c.issued_at.type))),
                list(changes.values()))
        return len(changes)

    def _states(self, pks: Sequence[int]) -> dict[int, list[RevState]]:
        """What the history rules need of every stored revision of the events ``pks``."""
        out: dict[int, list[RevState]] = {pk: [] for pk in pks}
        r = revisions.c
        has_doi = exists().where(dois.c.revision_pk == r.id)
        for row in self.conn.execute(
            select(r.id, r.event_pk, r.number, r.kind, r.source, r.source_rev, r.source_key,
                   r.issued_at, r.event_time, r.time_precision_s, r.provenance, r.created_at,
                   r.retraction_reason, has_doi.label("pinned"))
            .where(bulk.any_of(r.event_pk, pks))
        ):
            out[row.event_pk].append(RevState(
                key=row.source_key, kind=row.kind, source=row.source,
                source_rev=row.source_rev, issued_at=row.issued_at, event_time=row.event_time,
                time_precision_s=row.time_precision_s, provenance=row.provenance or {},
                created_at=row.created_at, retraction_reason=row.retraction_reason,
                pk=row.id, number=row.number, pinned=row.pinned))
        return out

    def _renumber(self, pks: Sequence[int], fresh: Sequence[NoticeRecord],
                  pk_of: dict[EventKey, int]) -> dict[str, int]:
        """The number of each new revision in its event's history order
        (:func:`catalog.storage.histories.numbering`: none moves once a DOI names one).
        Stored revisions whose place changes are moved aside (negative numbers) until
        :meth:`_finish_renumber` gives them theirs, after the insert."""
        states = self._states(pks)
        now = datetime.now(UTC)
        for rec in fresh:
            states[pk_of[(rec.observatory, rec.run_id, rec.event_id)]].append(RevState(
                key=rec.source_key, kind=rec.kind.value, source=rec.source.value,
                source_rev=rec.source_rev, issued_at=rec.issued_at, event_time=rec.event_time,
                time_precision_s=rec.time_precision_s, provenance=rec.extra, created_at=now,
                retraction_reason=rec.retraction_reason))
        self._histories = states
        self._new_states = [s for h in states.values() for s in h if s.pk is None]
        numbers: dict[str, int] = {}
        self._moves = []
        for history in states.values():
            for state, number in histories.numbering(histories.order(history)):
                if state.pk is None:
                    numbers[state.key] = number
                elif state.number != number:
                    self._moves.append({"pk": state.pk, "n": number})
        if self._moves:
            self.conn.execute(update(revisions).where(
                revisions.c.id.in_([m["pk"] for m in self._moves]))
                .values(number=-1 - revisions.c.number))
        return numbers

    def _finish_renumber(self) -> None:
        """Give the revisions :meth:`_renumber` moved aside their new numbers."""
        if self._moves:
            self.conn.execute(update(revisions).where(revisions.c.id == bindparam("pk"))
                              .values(number=bindparam("n")), self._moves)
        self._moves = []

    def _copy_tiles(self, tiles: Iterable[tuple[int, int, np.ndarray]]) -> None:
        """COPY (revision pk, level, order-29 ranges) tiles into ``region_tiles``."""
        bulk.copy_tiles(self.conn, tiles)

    def _refresh_events(self, pks: Sequence[int],
                        known: dict[int, list[RevState]] | None = None) -> None:
        """Point each event at its current revision; set its time (with source, precision
        and conflicts) and its status from its whole history (``known``: the histories,
        already read)."""
        rows = []
        for pk, history in (known if known is not None else self._states(pks)).items():
            if not history:
                continue
            ordered = histories.order(history)
            now = histories.current(ordered)
            timed, conflicts = histories.event_time(ordered)
            conflicts += histories.identity_conflicts(ordered)
            status, reason, source = histories.status(ordered, now)
            assert timed.event_time is not None
            rows.append({"pk": pk, "cur": now.pk, "t": timed.event_time,
                         "mjd": utc_mjd(timed.event_time), "tsrc": timed.key,
                         "tprec": timed.time_precision_s, "conflicts": conflicts,
                         "status": status, "reason": reason, "ssrc": source})
        if rows:
            bulk.update_events(self.conn, rows)

    # ------------------------------------------------------------------ reads

    def stored(self, source_keys: Sequence[str]) -> list[StoredRevision]:
        """The revisions of ``source_keys`` as stored, by event and number."""
        rows = self.conn.execute(
            select(revisions.c.id, revisions.c.event_pk, revisions.c.number, revisions.c.kind,
                   revisions.c.stream, events.c.name)
            .join(events, events.c.id == revisions.c.event_pk)
            .where(revisions.c.source_key.in_(list(source_keys)))
            .order_by(revisions.c.event_pk, revisions.c.number)).all()
        return [StoredRevision(event_pk=r.event_pk, revision_pk=r.id, number=r.number,
                               kind=r.kind, name=r.name, stream=r.stream) for r in rows]

    def event_exists(self, observatory: str, run_id: int, event_id: int) -> bool:
        """Whether the event of this identity is stored."""
        return self.conn.execute(
            select(events.c.id).where(events.c.observatory == observatory,
                                      events.c.run_id == run_id,
                                      events.c.event_id == event_id)).first() is not None

    def names_like(self, prefix: str) -> set[str]:
        """Event names made of ``prefix`` and one more character."""
        return set(self.conn.execute(
            select(events.c.name).where(events.c.name.like(prefix + "_"))).scalars())

    def locked_event(self, key: str) -> EventCurrentRead:
        """The event of ``key`` (``NotFound`` if none), its row locked until commit."""
        ev = resolve_event(self.conn, key)
        self.conn.execute(select(events.c.id).where(events.c.id == ev.id)
                          .with_for_update())
        return ev

    # ------------------------------------------------------------------ scan products

    def replace_region_tiles(self, revision_pk: int,
                             levels: dict[int, tuple[np.ndarray, float, float]]) -> None:
        """Replace the revision's region tiles by a scan's own regions.

        ``levels`` maps 50/90 to (order-29 ranges ``[lo, hi)`` as an (n, 2) array, area in
        deg², circularised radius in deg). The import tiled the bounding boxes; the scan
        knows the exact pixels, so the tiles (and area, radius) follow them instead. The
        shape stays ``box``: the box bounds the pixels, so the exact test of
        :meth:`CatalogStorage.regions_containing` (tiles, then box) still answers the region.
        """
        for level, (ranges, area, radius) in levels.items():
            self.conn.execute(delete(region_tiles).where(
                region_tiles.c.revision_pk == revision_pk, region_tiles.c.level == level))
            self._copy_tiles([(revision_pk, level, ranges)])
            self.conn.execute(update(revisions).where(revisions.c.id == revision_pk).values(
                {f"area{level}_deg2": area, f"r{level}_deg": radius}))
        # The candidates follow the scan's own region.
        CounterpartStore(self.conn).compute_for([revision_pk])

    def add_artifacts(self, event_pk: int, revision_pk: int,
                      files: Sequence[ArtifactFile]) -> list[int]:
        """Record stored files as artifacts of a revision; their ids."""
        if not files:
            return []
        rows = [{"event_pk": event_pk, "revision_pk": revision_pk, "role": f.role,
                 "filename": f.filename, "media_type": f.media_type,
                 "size_bytes": f.size_bytes, "sha256": f.sha256, "md5": f.md5,
                 "storage_url": f.storage_url} for f in files]
        return list(self.conn.execute(insert(artifacts).values(rows)
                                      .returning(artifacts.c.id)).scalars())
