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
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, RowMapping

from catalog import sky
from catalog.errors import InvalidInput
from catalog.models import ImportSummary
from catalog.notices.parsed import NoticeRecord, RevisionKind, Source
from catalog.schema.events import ArtifactFile, artifacts, events, region_tiles, revisions
from catalog.storage.lookup import resolve_event

#: MJD of the Unix epoch. MJD(UTC) counts 86400-s days and ignores leap seconds, exactly
#: like POSIX time, so the conversion is a plain affine map.
MJD_UNIX_EPOCH = 40587.0

#: An event's identity: (observatory, run_id, event_id).
_EventKey = tuple[str, int, int]


def utc_mjd(t: datetime) -> float:
    """MJD (UTC) of an aware datetime."""
    return t.timestamp() / 86400.0 + MJD_UNIX_EPOCH


def _region_columns(rec: NoticeRecord) -> dict[str, Any]:
    """Revision columns describing the 50 % / 90 % regions, and their covering tiles."""
    out: dict[str, Any] = {"_tiles": []}
    orders = []
    for level in (50, 90):
        region = rec.region(level / 100)
        if region is None or rec.ra is None or rec.dec is None:
            continue
        geom = sky.region_geometry(rec.ra, rec.dec, region)
        if region.is_circle:
            r = region.radius_deg
            out.update({f"ra_err_plus_{level}": r, f"ra_err_minus_{level}": r,
                        f"dec_err_plus_{level}": r, f"dec_err_minus_{level}": r})
        else:
            out.update({f"ra_err_plus_{level}": region.ra_plus,
                        f"ra_err_minus_{level}": region.ra_minus,
                        f"dec_err_plus_{level}": region.dec_plus,
                        f"dec_err_minus_{level}": region.dec_minus})
        out[f"r{level}_deg"] = geom.radius_deg
        out[f"area{level}_deg2"] = geom.area_deg2
        out[f"region{level}_shape"] = geom.shape
        out["_tiles"].append((level, geom.ranges))
        orders.append(geom.order)
    out["region_order"] = max(orders) if orders else None
    return out


def _event_rows(records: Sequence[NoticeRecord]) -> list[dict[str, Any]]:
    """One ``events`` row per event key, from its first record and its first alert name."""
    first: dict[_EventKey, NoticeRecord] = {}
    names: dict[_EventKey, str] = {}
    for rec in records:
        key = (rec.observatory, rec.run_id, rec.event_id)
        first.setdefault(key, rec)
        if rec.name and key not in names:
            names[key] = rec.name
    return [{"observatory": key[0], "run_id": key[1], "event_id": key[2],
             "name": names.get(key), "stream": rec.stream.value,
             "event_time": rec.event_time, "event_mjd": utc_mjd(rec.event_time)}
            for key, rec in first.items()]


def _point_indices(fresh: Sequence[NoticeRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Which records have a position, and the HEALPix (order 29) pixel of each (-1 if none)."""
    ras = np.array([r.ra if r.ra is not None else np.nan for r in fresh])
    decs = np.array([r.dec if r.dec is not None else np.nan for r in fresh])
    has_pos = ~(np.isnan(ras) | np.isnan(decs))
    hpx = np.full(len(fresh), -1, dtype=np.int64)
    if has_pos.any():
        hpx[has_pos] = sky.point_index(ras[has_pos], decs[has_pos])
    return has_pos, hpx


def _revision_rows(
    fresh: Sequence[NoticeRecord], pk_of: dict[_EventKey, int], next_number: dict[int, int]
) -> tuple[list[dict[str, Any]], dict[str, list[tuple[int, np.ndarray]]]]:
    """The ``revisions`` rows of ``fresh``, numbered on from ``next_number`` (which advances),
    and the region tiles of each by source key."""
    has_pos, hpx = _point_indices(fresh)
    rows = []
    tiles_of: dict[str, list[tuple[int, np.ndarray]]] = {}
    for i, rec in enumerate(fresh):
        pk = pk_of[(rec.observatory, rec.run_id, rec.event_id)]
        number = next_number[pk]
        next_number[pk] += 1
        cols = _region_columns(rec)
        tiles_of[rec.source_key] = cols.pop("_tiles")
        rows.append(_revision_row(rec, pk, number, int(hpx[i]) if has_pos[i] else None, cols))
    return rows, tiles_of


def _revision_row(rec: NoticeRecord, event_pk: int, number: int, hpx29: int | None,
                  region_cols: dict[str, Any]) -> dict[str, Any]:
    """The ``revisions`` row of one record; region columns stay null unless given."""
    return {
        "event_pk": event_pk, "number": number, "kind": rec.kind.value,
        "source": rec.source.value, "source_rev": rec.source_rev,
        "source_key": rec.source_key, "stream": rec.stream.value,
        "issued_at": rec.issued_at,
        "ra": None if rec.ra is None else rec.ra % 360.0, "dec": rec.dec,
        "hpx29": hpx29,
        "energy_tev": rec.energy_tev, "signalness": rec.signalness,
        "far_per_year": rec.far_per_year, "ivorn": rec.ivorn,
        "retraction_reason": rec.retraction_reason,
        "provenance": {"source": rec.source.value, **rec.extra},
        **{c: None for c in _REGION_COLS}, **region_cols,
    }


def _revision_order_key(rec: NoticeRecord) -> tuple[bool, float, int]:
    """Order of new revisions within a batch: notices by issue time (event time when the
    source gives none), then their GCN Rev; catalog compilations with no issue date (IceCat-1
    re-reconstructed every alert years later) after every notice."""
    compiled_later = rec.source == Source.ICECAT1 and rec.issued_at is None
    when = (rec.issued_at or rec.event_time).timestamp()
    return compiled_later, when, rec.source_rev if rec.source_rev is not None else -1


_REGION_COLS = (
    *(f"{a}_{lvl}" for lvl in (50, 90)
      for a in ("ra_err_plus", "ra_err_minus", "dec_err_plus", "dec_err_minus")),
    "r50_deg", "r90_deg", "area50_deg2", "area90_deg2", "region50_shape", "region90_shape",
    "region_order",
)



def literal_column_xmax() -> Any:
    """``xmax`` of the upserted row: 0 when the row was inserted, not updated (PostgreSQL)."""
    return literal_column("xmax::text::bigint")


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
        """Store ``records``: each new record becomes the next revision of its event."""
        conn = self.conn
        # 1. Upsert the events. DO UPDATE (not DO NOTHING) locks each event row until
        #    commit, which serialises concurrent imports of the same event's revisions.
        pk_of, created = self._upsert_events(records)
        # 2. Drop records already stored (idempotent re-import) and in-batch duplicates.
        fresh = self._fresh_records(records)
        if not fresh:
            return Imported(ImportSummary(records=len(records), events_created=created,
                                          revisions_created=0, unchanged=len(records)), [])
        # 3. Number the new revisions after what each event already has, and insert them.
        pks = sorted({pk_of[(r.observatory, r.run_id, r.event_id)] for r in fresh})
        next_number = self._next_numbers(pks)
        fresh.sort(key=_revision_order_key)
        for rec in fresh:
            _check_record(rec)
        rows, tiles_of = _revision_rows(fresh, pk_of, next_number)
        rev_pk = {row.source_key: row.id for row in conn.execute(
            insert(revisions).returning(revisions.c.id, revisions.c.source_key), rows)}
        # 4. Region tiles through COPY: the bulk of the rows, and the fastest path in.
        self._copy_tiles((rev_pk[key], level, ranges)
                         for key, tiles in tiles_of.items() for level, ranges in tiles)
        # 5. Point each touched event at the revision that now describes it.
        self._refresh_current(pks)
        return Imported(ImportSummary(records=len(records), events_created=created,
                                      revisions_created=len(rows),
                                      unchanged=len(records) - len(rows)), pks)

    def _upsert_events(self, records: Sequence[NoticeRecord]
                       ) -> tuple[dict[_EventKey, int], int]:
        """Insert new events and map keys to pks; returns (pk of each key, events created)."""
        # executemany of one compiled statement: SQLAlchemy batches it as multi-row
        # INSERT ... RETURNING ("insertmanyvalues") without recompiling per batch.
        ins = insert(events)
        upsert = ins.on_conflict_do_update(
            constraint="uq_events_identity",
            set_={"name": func.coalesce(events.c.name, ins.excluded.name),
                  "updated_at": func.now()},
        ).returning(events.c.id, events.c.observatory, events.c.run_id, events.c.event_id,
                    (literal_column_xmax() == 0).label("inserted"))
        pk_of: dict[_EventKey, int] = {}
        created = 0
        for row in self.conn.execute(upsert, _event_rows(records)):
            pk_of[(row.observatory, row.run_id, row.event_id)] = row.id
            created += int(row.inserted)
        return pk_of, created

    def _fresh_records(self, records: Sequence[NoticeRecord]) -> list[NoticeRecord]:
        """The records not stored yet, each source key once, in input order."""
        keys = list({rec.source_key for rec in records})
        existing = set(self.conn.execute(
            select(revisions.c.source_key).where(revisions.c.source_key.in_(keys))
        ).scalars())
        fresh: list[NoticeRecord] = []
        seen: set[str] = set()
        for rec in records:
            if rec.source_key in existing or rec.source_key in seen:
                continue
            seen.add(rec.source_key)
            fresh.append(rec)
        return fresh

    def _next_numbers(self, pks: list[int]) -> dict[int, int]:
        """The number the next revision of each event gets (0 for an event without any)."""
        next_number = dict.fromkeys(pks, 0)
        for pk, top in self.conn.execute(
            select(revisions.c.event_pk, func.max(revisions.c.number))
            .where(revisions.c.event_pk.in_(pks)).group_by(revisions.c.event_pk)
        ):
            next_number[pk] = top + 1
        return next_number

    def _copy_tiles(self, tiles: Iterable[tuple[int, int, np.ndarray]]) -> None:
        """COPY (revision pk, level, order-29 ranges) tiles into ``region_tiles``, in one
        COPY for the whole batch."""
        raw = self.conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(
            "COPY region_tiles (revision_pk, level, hpx) FROM STDIN"
        ) as copy:
            for revision_pk, level, ranges in tiles:
                for lo, hi in ranges:
                    copy.write_row((revision_pk, level, f"[{int(lo)},{int(hi)})"))

    def _refresh_current(self, pks: Iterable[int]) -> None:
        """Point each event at its current revision."""
        latest = (
            select(revisions.c.id)
            .where(revisions.c.event_pk == events.c.id)
            # A retraction stays current whatever arrives after it; otherwise the newest.
            .order_by((revisions.c.kind == RevisionKind.RETRACTION.value).desc(),
                      revisions.c.number.desc())
            .limit(1)
            .scalar_subquery()
        )
        self.conn.execute(update(events).where(events.c.id.in_(list(pks)))
                          .values(current_revision_pk=latest, updated_at=func.now()))

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

    def locked_event(self, key: str) -> RowMapping:
        """The event row of ``key`` (``NotFound`` if none), its row locked until commit."""
        ev = resolve_event(self.conn, key)
        self.conn.execute(select(events.c.id).where(events.c.id == ev["id"])
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
