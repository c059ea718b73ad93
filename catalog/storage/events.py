"""Catalog storage: every SQL statement of the catalog, and its transactions.

``CatalogStorage`` takes an engine and returns wire models (``catalog.models``). A batch of
notice records is stored in one transaction: either all of it lands or none of it does.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg.errors import QueryCanceled
from sqlalchemy import (
    Select,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, insert
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from catalog import sky
from catalog.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from catalog.models import (
    ErrorBox,
    EventDetail,
    EventPage,
    EventSummary,
    ImportSummary,
    RegionHit,
    RevisionPublic,
)
from catalog.notices.parsed import NoticeRecord, RevisionKind, Source
from catalog.schema.events import events, region_tiles, revisions

#: MJD of the Unix epoch. MJD(UTC) counts 86400-s days and ignores leap seconds, exactly
#: like POSIX time, so the conversion is a plain affine map.
MJD_UNIX_EPOCH = 40587.0

#: Largest PostgreSQL bigint.
BIGINT_MAX = 2**63 - 1

#: Back-off (seconds) between attempts of an idempotent write whose connection was lost;
#: about 30 s in all, long enough for a PostgreSQL restart or fail-over.
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)

#: An event's identity: (observatory, run_id, event_id).
_EventKey = tuple[str, int, int]

_RUN_EVENT = re.compile(r"^(\d+)[_:](\d+)$")
_ICECAT_NAME = re.compile(r"^IC(\d{6}[A-Z])$")


def utc_mjd(t: datetime) -> float:
    """MJD (UTC) of an aware datetime."""
    return t.timestamp() / 86400.0 + MJD_UNIX_EPOCH


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters and page of ``GET /events``. Cone: (ra, dec, radius) in degrees."""

    stream: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    name: str | None = None
    run_id: int | None = None
    event_id: int | None = None
    cone: tuple[float, float, float] | None = None
    limit: int = 100
    cursor: str | None = None


def encode_cursor(event_time: datetime, pk: int) -> str:
    raw = f"{event_time.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, pk = raw.split("|")
        t = datetime.fromisoformat(when)
        if t.tzinfo is None:
            raise ValueError("naive")
        return t, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this service issued",
                           details={"parameter": "cursor"}) from exc


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


class CatalogStorage:
    """All reads and writes of the catalog tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Called with (connection, touched event pks) inside every import transaction.
        self.import_hooks: list[Callable[[Connection, list[int]], object]] = []

    def add_import_hook(self, hook: Callable[[Connection, list[int]], object]) -> None:
        """Run ``hook`` in each import's transaction (e.g. to mint DOIs with the revisions)."""
        self.import_hooks.append(hook)

    # ------------------------------------------------------------------ writes

    def import_records(self, records: Sequence[NoticeRecord]) -> ImportSummary:
        """Store ``records`` in one transaction; re-importing a record is a no-op.

        Records are matched to events on (observatory, run_id, event_id); each new record
        becomes the next revision of its event. Raises ``Conflict`` (and stores nothing)
        when an alert name is already taken by another event.
        """
        if not records:
            return ImportSummary(records=0, events_created=0, revisions_created=0, unchanged=0)
        for delay in (*RETRY_DELAYS, None):
            try:
                with self.engine.begin() as conn:
                    return self._import(conn, records)
            except IntegrityError as exc:
                if "uq_events_name" in str(exc.orig):
                    raise Conflict("an alert name in this input belongs to another event "
                                   "(same name, different run/event)") from exc
                raise
            except DBAPIError as exc:
                # A lost or refused connection (server restart, fail-over): the import is
                # idempotent (revisions are keyed on source_key), so running it again is safe
                # whether or not the lost transaction committed.
                if not _connection_lost(exc):
                    raise
                if delay is None:
                    raise ServiceUnavailable("the database did not come back") from exc
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _import(self, conn: Connection, records: Sequence[NoticeRecord]) -> ImportSummary:
        """Store ``records`` in the transaction of ``conn`` (the body of ``import_records``)."""
        # 1. Upsert the events. DO UPDATE (not DO NOTHING) locks each event row until
        #    commit, which serialises concurrent imports of the same event's revisions.
        pk_of, created = self._upsert_events(conn, records)
        # 2. Drop records already stored (idempotent re-import) and in-batch duplicates.
        fresh = self._fresh_records(conn, records)
        if not fresh:
            return ImportSummary(records=len(records), events_created=created,
                                 revisions_created=0, unchanged=len(records))

        # 3. Number the new revisions after what each event already has, and insert them.
        pks = sorted({pk_of[(r.observatory, r.run_id, r.event_id)] for r in fresh})
        next_number = self._next_numbers(conn, pks)
        fresh.sort(key=_revision_order_key)
        for rec in fresh:
            _check_record(rec)
        rows, tiles_of = _revision_rows(fresh, pk_of, next_number)
        rev_pk = {row.source_key: row.id for row in conn.execute(
            insert(revisions).returning(revisions.c.id, revisions.c.source_key), rows)}

        # 4. Region tiles through COPY: the bulk of the rows, and the fastest path in.
        self._copy_tiles(conn, tiles_of, rev_pk)

        # 5. Point each touched event at the revision that now describes it.
        self._refresh_current(conn, pks)
        for hook in self.import_hooks:
            hook(conn, pks)
        return ImportSummary(records=len(records), events_created=created,
                             revisions_created=len(rows), unchanged=len(records) - len(rows))

    @staticmethod
    def _upsert_events(conn: Connection,
                       records: Sequence[NoticeRecord]) -> tuple[dict[_EventKey, int], int]:
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
        for row in conn.execute(upsert, _event_rows(records)):
            pk_of[(row.observatory, row.run_id, row.event_id)] = row.id
            created += int(row.inserted)
        return pk_of, created

    @staticmethod
    def _fresh_records(conn: Connection,
                       records: Sequence[NoticeRecord]) -> list[NoticeRecord]:
        """The records not stored yet, each source key once, in input order."""
        keys = list({rec.source_key for rec in records})
        existing = set(conn.execute(
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

    @staticmethod
    def _next_numbers(conn: Connection, pks: list[int]) -> dict[int, int]:
        """The number the next revision of each event gets (0 for an event without any)."""
        next_number = dict.fromkeys(pks, 0)
        for pk, top in conn.execute(
            select(revisions.c.event_pk, func.max(revisions.c.number))
            .where(revisions.c.event_pk.in_(pks)).group_by(revisions.c.event_pk)
        ):
            next_number[pk] = top + 1
        return next_number

    @staticmethod
    def _copy_tiles(conn: Connection, tiles_of: dict[str, list[tuple[int, np.ndarray]]],
                    rev_pk: dict[str, int]) -> None:
        """COPY the region tiles of each new revision (by source key) into ``region_tiles``."""
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(
            "COPY region_tiles (revision_pk, level, hpx) FROM STDIN"
        ) as copy:
            for source_key, tiles in tiles_of.items():
                rpk = rev_pk[source_key]
                for level, ranges in tiles:
                    for lo, hi in ranges:
                        copy.write_row((rpk, level, f"[{int(lo)},{int(hi)})"))

    @staticmethod
    def _refresh_current(conn: Connection, pks: Iterable[int]) -> None:
        latest = (
            select(revisions.c.id)
            .where(revisions.c.event_pk == events.c.id)
            # A retraction stays current whatever arrives after it; otherwise the newest.
            .order_by((revisions.c.kind == RevisionKind.RETRACTION.value).desc(),
                      revisions.c.number.desc())
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(update(events).where(events.c.id.in_(list(pks)))
                     .values(current_revision_pk=latest, updated_at=func.now()))

    # ------------------------------------------------------------------- reads

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar_one())

    def list_events(self, q: EventQuery) -> EventPage:
        """Events, newest first, with keyset pagination on (event_time, id)."""
        limit = max(1, min(q.limit, 1000))
        cur = revisions.alias("cur")
        stmt = _event_select(cur)
        if q.stream:
            stmt = stmt.where(events.c.stream == q.stream)
        if q.since:
            stmt = stmt.where(events.c.event_time >= q.since)
        if q.until:
            stmt = stmt.where(events.c.event_time < q.until)
        if q.name:
            stmt = stmt.where(events.c.name.ilike(f"%{_escape_like(q.name)}%", escape="\\"))
        if q.run_id is not None:
            stmt = stmt.where(events.c.run_id == q.run_id)
        if q.event_id is not None:
            stmt = stmt.where(events.c.event_id == q.event_id)
        if q.cone is not None:
            ra, dec, radius = q.cone
            stmt = stmt.where(cur.c.id.in_(_revisions_in_cone(ra, dec, radius)))
        if q.cursor:
            t, pk = decode_cursor(q.cursor)
            stmt = stmt.where(
                tuple_(events.c.event_time, events.c.id) < tuple_(literal(t), literal(pk)))
        stmt = stmt.order_by(events.c.event_time.desc(), events.c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [_summary(r) for r in rows]
        nxt = encode_cursor(rows[-1]["event_time"], rows[-1]["id"]) if more else None
        return EventPage(items=items, next_cursor=nxt)

    def resolve_event(self, conn: Connection, key: str) -> RowMapping:
        """The event row for ``key``: a name (IceCube-200615A or IC200615A), run_event, or id."""
        cur = revisions.alias("cur")
        stmt = _event_select(cur)
        m = _RUN_EVENT.match(key)
        if any(int(n) > BIGINT_MAX for n in re.findall(r"\d+", key) if n.isdigit()):
            raise NotFound(f"no event {key!r}", details={"event": key})  # no bigint is that big
        if m:
            stmt = stmt.where(events.c.run_id == int(m.group(1)),
                              events.c.event_id == int(m.group(2)))
        elif key.isdigit():
            stmt = stmt.where(events.c.id == int(key))
        else:
            ic = _ICECAT_NAME.match(key)
            name = f"IceCube-{ic.group(1)}" if ic else key
            stmt = stmt.where(func.lower(events.c.name) == name.lower())
        row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound(f"no event {key!r}", details={"event": key})
        return row

    def get_event(self, key: str) -> EventDetail:
        with self.engine.connect() as conn:
            row = self.resolve_event(conn, key)
            revs = conn.execute(
                select(revisions).where(revisions.c.event_pk == row["id"])
                .order_by(revisions.c.number)
            ).mappings().all()
        summary = _summary(row)
        return EventDetail(**summary.model_dump(),
                           revisions=[_revision(r, row["current_revision_pk"]) for r in revs])

    def get_revision(self, key: str, number: int) -> RevisionPublic:
        with self.engine.connect() as conn:
            row = self.resolve_event(conn, key)
            rev = conn.execute(
                select(revisions).where(revisions.c.event_pk == row["id"],
                                        revisions.c.number == number)
            ).mappings().first()
        if rev is None:
            raise NotFound(f"event {key!r} has no revision {number}",
                           details={"event": key, "revision": number})
        return _revision(rev, row["current_revision_pk"])

    def regions_containing(self, ra: float, dec: float, level: int = 90,
                           current_only: bool = True) -> list[RegionHit]:
        """Events whose ``level`` % region contains (ra, dec).

        The SP-GiST tile index finds candidates (tiles cover each region); the exact shape
        test (circle radius, or RA/Dec box) then refines them.
        """
        if level not in (50, 90):
            raise InvalidInput("level must be 50 or 90", details={"parameter": "level"})
        ipix = int(sky.point_index(ra, dec))
        plus, minus = revisions.c[f"ra_err_plus_{level}"], revisions.c[f"ra_err_minus_{level}"]
        dplus, dminus = revisions.c[f"dec_err_plus_{level}"], revisions.c[f"dec_err_minus_{level}"]
        stmt = (
            select(revisions, events.c.name, events.c.current_revision_pk)
            .join(events, events.c.id == revisions.c.event_pk)
            .where(revisions.c.id.in_(
                select(region_tiles.c.revision_pk).where(
                    region_tiles.c.hpx.contains(bindparam("ipix", type_=BIGINT)),
                    region_tiles.c.level == level)))
        )
        if current_only:
            stmt = stmt.where(events.c.current_revision_pk == revisions.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt, {"ipix": ipix}).mappings().all()
        hits = []
        for r in rows:
            sep = float(sky.angular_distance_deg(r["ra"], r["dec"], ra, dec))
            shape = r[f"region{level}_shape"]
            if shape == "circle":
                inside = sep <= r[f"r{level}_deg"]
            else:
                inside = _in_box(ra, dec, r["ra"], r["dec"], r[plus.key], r[minus.key],
                                 r[dplus.key], r[dminus.key])
            if inside:
                hits.append(RegionHit(name=r["name"], event_pk=r["event_pk"],
                                      revision=r["number"], level=level, ra=r["ra"],
                                      dec=r["dec"], separation_deg=sep))
        hits.sort(key=lambda h: h.separation_deg)
        return hits


_REGION_COLS = (
    *(f"{a}_{lvl}" for lvl in (50, 90)
      for a in ("ra_err_plus", "ra_err_minus", "dec_err_plus", "dec_err_minus")),
    "r50_deg", "r90_deg", "area50_deg2", "area90_deg2", "region50_shape", "region90_shape",
    "region_order",
)


def _connection_lost(exc: DBAPIError) -> bool:
    """True for errors of the connection itself, not of the statement (timeouts excluded)."""
    if exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError) and not isinstance(exc.orig, QueryCanceled)


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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_box(ra: float, dec: float, ra0: float, dec0: float, rp: float, rm: float,
            dp: float, dm: float) -> bool:
    if not (dec0 - dm <= dec <= dec0 + dp):
        return False
    if rp + rm >= 360.0:
        return True
    offset = (ra - ra0 + 180.0) % 360.0 - 180.0  # signed RA difference in (-180, 180]
    return -rm <= offset <= rp


def _revisions_in_cone(ra: float, dec: float, radius: float) -> Select[Any]:
    """Revision ids whose position is within ``radius`` deg of (ra, dec): tile pre-filter on
    the order-29 b-tree index, then the exact great-circle distance."""
    ranges = sky.cone_ranges(ra, dec, radius)
    bounds = func.unnest(
        bindparam("cone_lo", [int(x) for x in ranges[:, 0]], type_=ARRAY(BIGINT)),
        bindparam("cone_hi", [int(x) for x in ranges[:, 1]], type_=ARRAY(BIGINT)),
    ).table_valued("lo", "hi").render_derived(name="cone")
    r = revisions.alias("r_cone")
    return (
        select(r.c.id)
        .select_from(bounds)
        .join(r, and_(r.c.hpx29 >= bounds.c.lo, r.c.hpx29 < bounds.c.hi))
        .where(sql_distance_deg(r.c.ra, r.c.dec, ra, dec) <= radius)
    )


def sql_distance_deg(ra_col: Any, dec_col: Any, ra: float, dec: float) -> Any:
    """Great-circle distance in degrees as a SQL expression (haversine)."""
    half = float(np.pi / 360)  # degrees → radians, halved for the haversine
    sin_ddec = func.sin((dec_col - dec) * half)
    sin_dra = func.sin((ra_col - ra) * half)
    cos_dec = float(np.cos(np.radians(dec)))
    hav = sin_ddec * sin_ddec + func.cos(dec_col * (2 * half)) * cos_dec * sin_dra * sin_dra
    return func.degrees(2.0 * func.asin(func.sqrt(func.least(hav, 1.0))))


def _event_select(cur: Any) -> Select[Any]:
    count = (select(func.count()).where(revisions.c.event_pk == events.c.id)
             .scalar_subquery().label("revision_count"))
    return (
        select(events, count, *[c.label(f"cur_{c.key}") for c in cur.c])
        .select_from(events.outerjoin(cur, cur.c.id == events.c.current_revision_pk))
    )


def _box(r: RowMapping | dict[str, Any], level: int) -> ErrorBox:
    return ErrorBox(ra_plus=r[f"ra_err_plus_{level}"], ra_minus=r[f"ra_err_minus_{level}"],
                    dec_plus=r[f"dec_err_plus_{level}"], dec_minus=r[f"dec_err_minus_{level}"],
                    radius_deg=r[f"r{level}_deg"], area_deg2=r[f"area{level}_deg2"],
                    shape=r[f"region{level}_shape"])


def _revision(r: RowMapping | dict[str, Any], current_pk: int | None) -> RevisionPublic:
    return RevisionPublic(
        number=r["number"], kind=r["kind"], source=r["source"], source_rev=r["source_rev"],
        source_key=r["source_key"], stream=r["stream"], issued_at=r["issued_at"],
        created_at=r["created_at"], ra=r["ra"], dec=r["dec"], hpx29=r["hpx29"],
        error50=_box(r, 50), error90=_box(r, 90), region_order=r["region_order"],
        energy_tev=r["energy_tev"], signalness=r["signalness"],
        far_per_year=r["far_per_year"], ivorn=r["ivorn"],
        retraction_reason=r["retraction_reason"], is_current=r["id"] == current_pk,
        provenance=r["provenance"] or {},
    )


def _summary(row: RowMapping) -> EventSummary:
    current = None
    if row["cur_id"] is not None:
        cur = {k[4:]: v for k, v in row.items() if k.startswith("cur_")}
        current = _revision(cur, row["current_revision_pk"])
    return EventSummary(
        id=row["id"], name=row["name"], observatory=row["observatory"], run_id=row["run_id"],
        event_id=row["event_id"], stream=row["stream"], event_time=row["event_time"],
        event_mjd=row["event_mjd"], revision_count=row["revision_count"],
        retracted=current is not None and current.kind == "retraction",
        current=current,
    )

