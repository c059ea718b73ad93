"""Matching a new revision against every subscription, and queuing what matched.

:class:`SubscriptionStore` works on the open transaction of a flow (the one that stores
the revision and queues its notices, :meth:`catalog.publish.Publisher.queue_notices`), so a
committed revision has its subscribers' notices queued and a rolled-back one has none.

The match is ONE indexed query, tiles against tiles (:func:`match_query`): the revision's
region tiles at one containment level (a few dozen ``int8range`` rows, found by
``ix_region_tiles_revision_pk``) probe ``subscription_tiles`` through its SP-GiST index with
``&&``; the overlapping ranges are intersected and summed per *footprint* (a footprint
many subscriptions share is paired once), which gives the overlap area exactly for the two
coverings (each side's ranges are disjoint, so no cell is counted twice); the matched
footprints' active subscriptions come by ``ix_subscriptions_footprint_pk``, with the stream
and signalness filters, in the same query.

Each match becomes an outbox row for the sink ``sub:<id>``: the existing outbox keeps the
per (alert, sink) order, at-least-once delivery and the unique (revision, sink, format),
so a subscriber gets one notice per revision. A retraction has no region: it goes to the
active subscriptions that were sent an earlier revision of the alert.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import BigInteger, Double, any_, cast, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from catalog.notices.model import FORMATS, Format, NoticeInput, RenderedNotice, render
from catalog.schema.events import region_tiles, revisions
from catalog.schema.outbox import NoticeBase, notices
from catalog.schema.subscriptions import subscription_tiles, subscriptions
from catalog.sky import PIXAREA29_DEG2
from catalog.storage.outbox import OutboxStore
from catalog.subscriptions.envelope import MEDIA_TYPE, Overlap, alert_of, envelope
from catalog.subscriptions.probability import ProbabilityMap, probability_fractions, ranges_moc

#: Prefix of the outbox sink name of a subscription: ``sub:<id>``.
SINK_PREFIX = "sub:"

#: Containment levels tried for the match, widest first.
LEVELS = (90, 50)


def sink_name(subscription_pk: int) -> str:
    """The outbox sink name of a subscription."""
    return f"{SINK_PREFIX}{subscription_pk}"


def _filters(stream: str, signalness: float | None) -> list[object]:
    s = subscriptions
    out: list[object] = [s.c.state == "active", literal(stream) == any_(s.c.streams)]
    if signalness is None:
        out.append(s.c.min_signalness.is_(None))
    else:
        out.append(or_(s.c.min_signalness.is_(None), s.c.min_signalness <= signalness))
    return out


def match_query(revision_pk: int, level: int, stream: str,
                signalness: float | None) -> Select[Any]:
    """The subscriptions whose footprint overlaps the revision's region at ``level``, with
    the number of order-29 cells they share (``cells29``): one indexed query.

    The pairs of overlapping ranges come from an index-only scan of
    ``ix_subscription_tiles_hpx`` (it includes ``footprint_pk``) and are summed per
    footprint first (``least``/``greatest`` in float: no range or numeric built per pair);
    only the matched footprints' active subscriptions are then read, from the partial
    covering index ``ix_subscriptions_footprint_pk`` alone (``= ANY``), for the filters —
    never a scan of the whole table (measured in ``bench/subscriptions.py``).
    """
    r, t, s = region_tiles.alias("r"), subscription_tiles.alias("t"), subscriptions
    shared = (func.least(func.upper(r.c.hpx), func.upper(t.c.hpx))
              - func.greatest(func.lower(r.c.hpx), func.lower(t.c.hpx)))
    m = (select(t.c.footprint_pk.label("fp"),
                func.sum(cast(shared, Double)).label("cells29"))
         .select_from(r.join(t, t.c.hpx.overlaps(r.c.hpx)))
         .where(r.c.revision_pk == revision_pk, r.c.level == level)
         .group_by(t.c.footprint_pk)
         .cte("m").prefix_with("MATERIALIZED"))
    keys = func.array(select(m.c.fp).scalar_subquery())
    return (select(s.c.id, s.c.name, s.c.notice_format, m.c.cells29)
            .join(m, m.c.fp == s.c.footprint_pk)
            .where(s.c.footprint_pk == any_(keys),
                   *_filters(stream, signalness))  # type: ignore[arg-type]
            .order_by(s.c.id))


def _retraction_query(event_pk: int, number: int) -> Select[Any]:
    """Active subscriptions sent a (non-test) notice of an earlier revision of the event.

    The event's notices are found through their revisions (``uq_notices_revision_sink_format``
    starts with ``revision_pk``); the subscriptions by key, from the sink names."""
    s, rv = subscriptions, revisions
    sent = (select(cast(func.substr(notices.c.sink, len(SINK_PREFIX) + 1), BigInteger))
            .join(rv, rv.c.id == notices.c.revision_pk)
            .where(rv.c.event_pk == event_pk, rv.c.number < number,
                   notices.c.sink.startswith(SINK_PREFIX),
                   ~notices.c.format.startswith("test")))
    return (select(s.c.id, s.c.name, s.c.notice_format)
            .where(s.c.state == "active", s.c.id.in_(sent)).order_by(s.c.id))


class SubscriptionStore:
    """Matching and queuing on one open transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def region_cells(self, revision_pk: int) -> dict[int, int]:
        """Order-29 cells covered by the revision's tiles, per containment level."""
        hpx = region_tiles.c.hpx
        rows = self.conn.execute(
            select(region_tiles.c.level, func.sum(func.upper(hpx) - func.lower(hpx)))
            .where(region_tiles.c.revision_pk == revision_pk).group_by(region_tiles.c.level))
        return {int(level): int(cells) for level, cells in rows}

    def matches(self, revision_pk: int, stream: str, signalness: float | None,
                ) -> list[tuple[int, str, str, Overlap]]:
        """(id, name, notice format, overlap) of every subscription the revision's region
        overlaps, by id; none for a revision without region tiles."""
        cells = self.region_cells(revision_pk)
        level = next((lv for lv in LEVELS if lv in cells), None)
        if level is None:
            return []
        rows = self.conn.execute(match_query(revision_pk, level, stream, signalness))
        region = cells[level] * PIXAREA29_DEG2
        return sorted((int(pk), name, fmt, Overlap(level, float(n) * PIXAREA29_DEG2, region))
                      for pk, name, fmt, n in rows)

    def with_probability(self, revision_pk: int, level: int, pmap: ProbabilityMap,
                         found: list[tuple[int, str, str, Overlap]],
                         ) -> list[tuple[int, str, str, Overlap]]:
        """``found`` with the share of the region's probability inside each footprint."""
        if not found:
            return found
        region = ranges_moc((r.lower, r.upper) for r in self.conn.execute(
            select(region_tiles.c.hpx).where(region_tiles.c.revision_pk == revision_pk,
                                             region_tiles.c.level == level)).scalars())
        footprint_of = {int(pk): int(fp) for pk, fp in self.conn.execute(
            select(subscriptions.c.id, subscriptions.c.footprint_pk)
            .where(subscriptions.c.id.in_([f[0] for f in found])))}
        tiles: dict[int, list[tuple[int, int]]] = {}
        for fp, hpx in self.conn.execute(
                select(subscription_tiles.c.footprint_pk, subscription_tiles.c.hpx)
                .where(subscription_tiles.c.footprint_pk.in_(set(footprint_of.values())))):
            tiles.setdefault(int(fp), []).append((hpx.lower, hpx.upper))
        share = probability_fractions(pmap, region,
                                      {fp: ranges_moc(t) for fp, t in tiles.items()})
        return [(pk, name, fmt, replace(o, probability=share[footprint_of[pk]]))
                for pk, name, fmt, o in found]

    def queue_matches(self, revision_pk: int, n: NoticeInput,
                      probability: ProbabilityMap | None = None) -> int:
        """Queue revision ``n``'s notice for every subscription it matches (in the flow's
        transaction); how many notices are new. With the revision's ``probability`` map,
        each envelope gives the share of the region's probability inside the footprint."""
        if n.kind == "retraction":
            event_pk = self.conn.execute(select(revisions.c.event_pk).where(
                revisions.c.id == revision_pk)).scalar_one()
            found: list[tuple[int, str, str, Overlap | None]] = [
                (int(pk), name, fmt, None)
                for pk, name, fmt in self.conn.execute(_retraction_query(event_pk, n.revision))]
        else:
            matched = self.matches(revision_pk, n.stream, n.signalness)
            if probability is not None and matched:
                matched = self.with_probability(revision_pk, matched[0][3].level,
                                                probability, matched)
            found = list(matched)
        if not found:
            return 0
        rendered: dict[str, RenderedNotice] = {}
        queued = []
        alert = alert_of(n)
        for pk, name, fmt, overlap in found:
            if fmt not in rendered:
                rendered[fmt] = render(_format(fmt), n)
            r = rendered[fmt]
            queued.append(NoticeBase(
                revision_pk=revision_pk, sink=sink_name(pk), format=fmt,
                idempotency_key=(f"nufair:{n.observatory}:{n.run_id}:{n.event_id}:"
                                 f"r{n.revision}:{sink_name(pk)}:{fmt}"),
                media_type=MEDIA_TYPE, filename=f"sub{pk}_r{revision_pk}_{fmt}.json",
                payload=envelope(pk, name, alert, r, overlap)))
        return OutboxStore(self.conn).insert(queued)


#: The notice formats by name (the column holds text).
FORMAT_OF: dict[str, Format] = {f: f for f in FORMATS}


def _format(fmt: str) -> Format:
    return FORMAT_OF[fmt]


__all__ = ["FORMAT_OF", "LEVELS", "SINK_PREFIX", "SubscriptionStore", "match_query", "sink_name"]
