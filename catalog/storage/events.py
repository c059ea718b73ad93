"""Catalog storage: the reads of the catalog, and its import transaction.

``CatalogStorage`` takes an engine and returns wire models (``catalog.models``). A batch of
notice records is stored in one transaction (:func:`catalog.storage.unit.catalog_tx`, the
import path itself is :mod:`catalog.storage.revisions`): either all of it lands or none of
it does. With PIDs configured, the DOIs of the touched events are minted in that same
transaction, as an explicit step of the import.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.errors import QueryCanceled
from sqlalchemy import Select, and_, bindparam, func, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from catalog import sky
from catalog.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from catalog.models import (
    AlertSources,
    ErrorBox,
    EventDetail,
    EventPage,
    EventSummary,
    ImportSummary,
    RegionHit,
    RevisionPublic,
)
from catalog.notices.parsed import NameClaim, NoticeRecord
from catalog.schema.events import (
    EventCurrentRead,
    RevisionRead,
    events,
    region_tiles,
    revisions,
)
from catalog.storage.fair import PidMinting
from catalog.storage.lookup import event_select, read_events, resolve_event
from catalog.storage.names import Naming, assign_names
from catalog.storage.unit import catalog_tx

#: Back-off (seconds) between attempts of an idempotent write whose connection was lost;
#: about 30 s in all, long enough for a PostgreSQL restart or fail-over.
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)

#: The tables an import writes (events, their revisions and region tiles, counterpart
#: candidates, DOIs): analysed at the end of a bulk import.
IMPORT_TABLES = ("events", "revisions", "region_tiles", "counterparts", "dois")


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
    #: The page before a cursor: the ``limit`` events just newer than it, still newest first;
    #: ``next_cursor`` then continues towards newer events (pass it as ``before`` again).
    before: str | None = None


def encode_cursor(event_time: datetime, pk: int) -> str:
    """The opaque page cursor after (event_time, pk)."""
    raw = f"{event_time.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(event_time, pk) of a cursor; ``InvalidInput`` for one this service did not issue."""
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


class CatalogStorage:
    """All reads of the catalog tables, and the import of notice records."""

    def __init__(self, engine: Engine, pids: PidMinting | None = None) -> None:
        self.engine = engine
        #: The DOIs an import mints with its revisions (None: no PIDs configured; they are
        #: minted later by ``FairStorage.mint_missing``).
        self.pids = pids

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
                return self._import_once(records)
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

    def _import_once(self, records: Sequence[NoticeRecord]) -> ImportSummary:
        """One transaction: the revisions, then (with PIDs configured) their DOIs."""
        with catalog_tx(self.engine) as tx:
            imported = tx.revisions.import_records(records)
            if self.pids is not None and imported.event_pks:
                tx.dois.mint(self.pids, imported.event_pks)
        return imported.summary

    def analyze_imported(self) -> None:
        """``ANALYZE`` the tables an import fills (:data:`IMPORT_TABLES`).

        Right after a bulk import the planner has no statistics for the new rows until
        autovacuum gets to them, and picks plans for empty tables: a catalogue page read then
        took 280–437 ms instead of ~30 ms (issue 14).
        """
        with self.engine.begin() as conn:
            conn.execute(text(f"ANALYZE {', '.join(IMPORT_TABLES)}"))

    def assign_names(self, claims: Sequence[NameClaim]) -> Naming:
        """Give the claimed alert names (a circulars index) to their events, in one
        transaction (:mod:`catalog.storage.names`)."""
        with catalog_tx(self.engine) as tx:
            return assign_names(tx.conn, claims)

    def reconciliation(self, identities: Iterable[tuple[str, int, int]]) -> list[AlertSources]:
        """Per event of ``identities`` (observatory, run, event): its sources and conflicts."""
        keys = sorted(set(identities))
        if not keys:
            return []
        with self.engine.connect() as conn:
            evs = conn.execute(select(events).where(tuple_(
                events.c.observatory, events.c.run_id, events.c.event_id).in_(keys))
                .order_by(events.c.event_time)).mappings().all()
            revs = conn.execute(
                select(revisions.c.event_pk, revisions.c.number, revisions.c.source,
                       revisions.c.provenance, revisions.c.conflicts)
                .where(revisions.c.event_pk.in_([e["id"] for e in evs]))
                .order_by(revisions.c.number)).all()
        by_event: dict[int, list[Any]] = {}
        for r in revs:
            by_event.setdefault(r.event_pk, []).append(r)
        out = []
        for e in evs:
            mine = by_event.get(e["id"], [])
            sources = sorted({s for r in mine
                              for s in ((r.provenance or {}).get("sources") or [r.source])})
            conflicts = list(e["conflicts"] or []) + [
                {**c, "revision": r.number} for r in mine for c in (r.conflicts or [])]
            out.append(AlertSources(
                alert=e["name"] or f"{e['run_id']}_{e['event_id']}", run_id=e["run_id"],
                event_id=e["event_id"], status=e["status"], revisions=len(mine),
                sources=sources, conflicts=conflicts))
        return out

    # ------------------------------------------------------------------- reads

    def count_events(self) -> int:
        """How many events the catalog holds."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(events)).scalar_one())

    def list_events(self, q: EventQuery) -> EventPage:
        """Events, newest first, with keyset pagination on (event_time, id)."""
        limit = max(1, min(q.limit, 1000))
        cur = revisions.alias("cur")
        stmt = event_select(cur)
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
        key = tuple_(events.c.event_time, events.c.id)
        if q.cursor:
            t, pk = decode_cursor(q.cursor)
            stmt = stmt.where(key < tuple_(literal(t), literal(pk)))
        if q.before:
            t, pk = decode_cursor(q.before)
            stmt = stmt.where(key > tuple_(literal(t), literal(pk)))
        order = (events.c.event_time, events.c.id) if q.before else (
            events.c.event_time.desc(), events.c.id.desc())
        stmt = stmt.order_by(*order).limit(limit + 1)
        with self.engine.connect() as conn:
            found = read_events(conn, stmt)
        more = len(found) > limit
        found = found[limit - 1::-1] if q.before else found[:limit]  # newest first either way
        items = [_summary(e) for e in found]
        edge = (found[0] if q.before else found[-1]) if more else None
        nxt = encode_cursor(edge.event_time, edge.id) if edge is not None else None
        return EventPage(items=items, next_cursor=nxt)


    @staticmethod
    def resolve_event(conn: Connection, key: str) -> EventCurrentRead:
        """The event of ``key`` (a name, IceCube-200615A or IC200615A; run_event; or id) with
        its current revision; ``NotFound`` if none."""
        return resolve_event(conn, key)

    def get_event(self, key: str) -> EventDetail:
        """One event with all its revisions; ``NotFound`` if none."""
        with self.engine.connect() as conn:
            ev = self.resolve_event(conn, key)
            revs = conn.execute(
                select(revisions).where(revisions.c.event_pk == ev.id)
                .order_by(revisions.c.number)
            ).mappings().all()
        summary = _summary(ev)
        return EventDetail(**summary.model_dump(), revisions=[
            _revision(RevisionRead.model_validate(r), ev.current_revision_pk) for r in revs])

    def get_revision(self, key: str, number: int) -> RevisionPublic:
        """Revision ``number`` of event ``key``; ``NotFound`` if none."""
        with self.engine.connect() as conn:
            ev = self.resolve_event(conn, key)
            rev = conn.execute(
                select(revisions).where(revisions.c.event_pk == ev.id,
                                        revisions.c.number == number)
            ).mappings().first()
        if rev is None:
            raise NotFound(f"event {key!r} has no revision {number}",
                           details={"event": key, "revision": number})
        return _revision(RevisionRead.model_validate(rev), ev.current_revision_pk)

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
                inside = sky.in_box(ra, dec, r["ra"], r["dec"], r[plus.key], r[minus.key],
                                    r[dplus.key], r[dminus.key])
            if inside:
                hits.append(RegionHit(name=r["name"], event_pk=r["event_pk"],
                                      revision=r["number"], level=level, ra=r["ra"],
                                      dec=r["dec"], separation_deg=sep))
        hits.sort(key=lambda h: h.separation_deg)
        return hits



def _connection_lost(exc: DBAPIError) -> bool:
    """True for errors of the connection itself, not of the statement (timeouts excluded)."""
    if exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError) and not isinstance(exc.orig, QueryCanceled)




def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
    """Great-circle distance in degrees as a SQL expression (the one of catalog.sky)."""
    return sky.great_circle_deg(ra_col, dec_col, ra, dec)


def _box(r: RevisionRead, level: int) -> ErrorBox:
    def at(name: str) -> Any:
        return getattr(r, name.format(level))

    return ErrorBox(ra_plus=at("ra_err_plus_{}"), ra_minus=at("ra_err_minus_{}"),
                    dec_plus=at("dec_err_plus_{}"), dec_minus=at("dec_err_minus_{}"),
                    radius_deg=at("r{}_deg"), area_deg2=at("area{}_deg2"),
                    shape=at("region{}_shape"))


def _revision(r: RevisionRead, current_pk: int | None) -> RevisionPublic:
    return RevisionPublic(
        number=r.number, kind=r.kind, source=r.source, source_rev=r.source_rev,
        source_key=r.source_key, stream=r.stream, issued_at=r.issued_at,
        created_at=r.created_at, ra=r.ra, dec=r.dec, hpx29=r.hpx29,
        error50=_box(r, 50), error90=_box(r, 90), region_order=r.region_order,
        energy_tev=r.energy_tev, signalness=r.signalness,
        far_per_year=r.far_per_year, ivorn=r.ivorn,
        retraction_reason=r.retraction_reason, is_current=r.id == current_pk,
        provenance=r.provenance or {},
    )


def _summary(ev: EventCurrentRead) -> EventSummary:
    current = None if ev.current is None else _revision(ev.current, ev.current_revision_pk)
    return EventSummary(
        id=ev.id, name=ev.name, observatory=ev.observatory, run_id=ev.run_id,
        event_id=ev.event_id, stream=ev.stream, event_time=ev.event_time,
        event_mjd=ev.event_mjd, revision_count=ev.revision_count,
        retracted=current is not None and current.kind == "retraction",
        current=current, status=ev.status, status_reason=ev.status_reason,
        status_source=ev.status_source, time_source=ev.time_source,
        time_precision_s=ev.time_precision_s, conflicts=ev.conflicts or [],
    )
