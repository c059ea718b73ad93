"""Every SQL statement of subscription management: create, list, state, delete, test-fire,
and the dispatcher's look-up of a subscription's sink.

Matching lives in :mod:`catalog.subscriptions.matching` (on a flow's open transaction);
this module serves the API, the CLI and the dispatcher, each call its own transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, exists, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from catalog.errors import Conflict, NotFound
from catalog.notices.model import RenderedNotice
from catalog.schema.events import events, revisions
from catalog.schema.outbox import NoticeBase, notices
from catalog.schema.subscriptions import (
    subscription_footprints,
    subscription_tiles,
    subscriptions,
)
from catalog.storage.outbox import OutboxStore
from catalog.subscriptions.envelope import MEDIA_TYPE, envelope
from catalog.subscriptions.footprint import Footprint
from catalog.subscriptions.matching import FORMAT_OF, SINK_PREFIX, SubscriptionStore, sink_name
from catalog.subscriptions.models import SubscriptionCreated, SubscriptionPublic, TestFired


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """What is stored for a new subscription (checked by the service)."""

    name: str
    owner: str
    streams: list[str]
    min_signalness: float | None
    notice_format: str
    sink_kind: str
    sink_target: str
    secret: str | None
    footprint: Footprint


@dataclass(frozen=True, slots=True)
class SinkOfSubscription:
    """What the dispatcher needs to build a subscription's sink."""

    id: int
    state: str
    sink_kind: str
    sink_target: str
    secret: str | None


def _public(row: RowMapping) -> SubscriptionPublic:
    return SubscriptionPublic(format=row["notice_format"], **{
        k: row[k] for k in SubscriptionPublic.model_fields if k != "format"})


def footprint_digest(ranges: NDArray[np.uint64]) -> bytes:
    """The key of a footprint: SHA-256 of its sorted ``[lo, hi)`` ranges as big-endian
    int64 pairs (migration 0016 computes the same in SQL with ``int8send``)."""
    return hashlib.sha256(np.ascontiguousarray(ranges, dtype=">i8").tobytes()).digest()


def _footprint_pk(conn: Connection, ranges: NDArray[np.uint64]) -> int:
    """The footprint row of ``ranges``, stored (with its tiles) if it is new.

    The upsert locks an existing row until the transaction ends, so that a concurrent
    delete of its last other subscription cannot remove it (:meth:`SubscriptionStorage.
    delete`)."""
    digest = footprint_digest(ranges)
    stmt = pg_insert(subscription_footprints).values(digest=digest)
    pk, new = conn.execute(stmt.on_conflict_do_update(
        index_elements=["digest"], set_={"digest": stmt.excluded.digest})
        .returning(subscription_footprints.c.id, literal_column("xmax = 0"))).one()
    if new:
        conn.execute(insert(subscription_tiles), [
            {"footprint_pk": pk, "hpx": Range(int(lo), int(hi))} for lo, hi in ranges])
    return int(pk)


def subscription_pk_of(sink: str) -> int | None:
    """The subscription id of an outbox sink name ``sub:<id>``; None for another name."""
    if not sink.startswith(SINK_PREFIX):
        return None
    tail = sink[len(SINK_PREFIX):]
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


class SubscriptionStorage:
    """Subscriptions on the catalog's engine (each call one transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, new: NewSubscription) -> SubscriptionCreated:
        """Store a subscription and (unless an equal one is stored) its footprint tiles;
        its id and (once) its secret."""
        fp = new.footprint
        with self.engine.begin() as conn:
            footprint_pk = _footprint_pk(conn, fp.ranges)
            row = conn.execute(insert(subscriptions).values(
                name=new.name, owner=new.owner, state="active", streams=new.streams,
                min_signalness=new.min_signalness, notice_format=new.notice_format,
                sink_kind=new.sink_kind, sink_target=new.sink_target, secret=new.secret,
                footprint_kind=fp.kind, moc_order=fp.order, area_deg2=fp.area_deg2,
                footprint_pk=footprint_pk,
            ).returning(*subscriptions.c)).mappings().one()
        return SubscriptionCreated(secret=new.secret, **_public(row).model_dump())

    def _owned(self, conn: Connection, pk: int, owner: str | None) -> RowMapping:
        stmt = select(subscriptions).where(subscriptions.c.id == pk,
                                           subscriptions.c.state != "deleted")
        if owner is not None:
            stmt = stmt.where(subscriptions.c.owner == owner)
        row = conn.execute(stmt.with_for_update()).mappings().one_or_none()
        if row is None:
            raise NotFound(f"no subscription {pk}", details={"subscription": pk})
        return row

    def get(self, pk: int, owner: str | None) -> SubscriptionPublic:
        """One subscription of ``owner`` (None: anyone's); NotFound otherwise."""
        with self.engine.begin() as conn:
            return _public(self._owned(conn, pk, owner))

    def list(self, owner: str | None) -> list[SubscriptionPublic]:
        """The live subscriptions of ``owner`` (None: everyone's), oldest first."""
        stmt = (select(subscriptions).where(subscriptions.c.state != "deleted")
                .order_by(subscriptions.c.id))
        if owner is not None:
            stmt = stmt.where(subscriptions.c.owner == owner)
        with self.engine.connect() as conn:
            return [_public(r) for r in conn.execute(stmt).mappings()]

    def set_state(self, pk: int, owner: str | None, state: str) -> SubscriptionPublic:
        """Pause (``paused``) or resume (``active``) a subscription."""
        with self.engine.begin() as conn:
            self._owned(conn, pk, owner)
            row = conn.execute(update(subscriptions).where(subscriptions.c.id == pk)
                               .values(state=state, updated_at=func.now())
                               .returning(*subscriptions.c)).mappings().one()
        return _public(row)

    def delete(self, pk: int, owner: str | None) -> None:
        """Delete a subscription: it matches nothing more and its footprint is removed when
        no other subscription names it; the row stays (state ``deleted``, no footprint,
        secret dropped) for the record of the notices it got."""
        with self.engine.begin() as conn:
            row = self._owned(conn, pk, owner)
            values: dict[str, Any] = {"state": "deleted", "updated_at": func.now(),
                                      "footprint_pk": None}
            if row["sink_kind"] == "webhook":
                values["secret"] = ""
            conn.execute(update(subscriptions).where(subscriptions.c.id == pk).values(values))
            if row["footprint_pk"] is not None:
                _drop_if_unused(conn, int(row["footprint_pk"]))

    def sink_of(self, pk: int) -> SinkOfSubscription | None:
        """Where subscription ``pk`` sends its notices (the dispatcher's look-up)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(
                subscriptions.c.id, subscriptions.c.state, subscriptions.c.sink_kind,
                subscriptions.c.sink_target, subscriptions.c.secret)
                .where(subscriptions.c.id == pk)).mappings().one_or_none()
        return None if row is None else SinkOfSubscription(**row)

    def test_fire(self, pk: int, owner: str | None) -> TestFired:
        """Queue a test envelope for the subscription's sink, carrying the latest notice
        of the archive in its format (Conflict when there is none yet).

        Its format is ``test-<k>`` (k = 1, 2, ...) so that it never takes the place of a
        real notice of that revision; a retraction is never sent for it.
        """
        with self.engine.begin() as conn:
            sub = self._owned(conn, pk, owner)
            fmt = sub["notice_format"]
            latest = conn.execute(
                select(notices.c.revision_pk, notices.c.media_type, notices.c.filename,
                       notices.c.payload, revisions.c.number, revisions.c.kind,
                       revisions.c.stream, revisions.c.ivorn, revisions.c.ra,
                       revisions.c.dec, revisions.c.signalness, events.c.name)
                .join(revisions, revisions.c.id == notices.c.revision_pk)
                .join(events, events.c.id == revisions.c.event_pk)
                .where(notices.c.format == fmt, ~notices.c.sink.startswith(SINK_PREFIX))
                .order_by(notices.c.id.desc()).limit(1)).mappings().one_or_none()
            if latest is None:
                raise Conflict(f"no {fmt} notice has been published yet to test with",
                               details={"subscription": pk})
            tests = conn.execute(select(func.count()).where(
                notices.c.sink == sink_name(pk), notices.c.format.startswith("test"))
            ).scalar_one()
            tag = f"test-{int(tests) + 1}"
            rev_pk = int(latest["revision_pk"])
            matched = {m[0]: m[3] for m in SubscriptionStore(conn).matches(
                rev_pk, latest["stream"], latest["signalness"])}
            alert = {"name": latest["name"], "revision": latest["number"],
                     "kind": latest["kind"], "stream": latest["stream"],
                     "ivorn": latest["ivorn"], "ra": latest["ra"], "dec": latest["dec"],
                     "signalness": latest["signalness"]}
            r = RenderedNotice(format=FORMAT_OF[fmt], media_type=latest["media_type"],
                               filename=latest["filename"], payload=latest["payload"])
            key = f"nufair:{sink_name(pk)}:r{rev_pk}:{tag}"
            OutboxStore(conn).insert([NoticeBase(
                revision_pk=rev_pk, sink=sink_name(pk), format=tag, idempotency_key=key,
                media_type=MEDIA_TYPE, filename=f"sub{pk}_r{rev_pk}_{tag}.json",
                payload=envelope(pk, sub["name"], alert, r, matched.get(pk), test=True))])
            notice_id = conn.execute(select(notices.c.id).where(
                notices.c.idempotency_key == key)).scalar_one()
        return TestFired(notice_id=int(notice_id), revision_pk=rev_pk, idempotency_key=key)


def _drop_if_unused(conn: Connection, footprint_pk: int) -> None:
    """Remove a footprint (its tiles cascade) that no subscription names any more. A
    subscription created meanwhile for it wins: its reference makes the delete fail
    (foreign key), and the footprint stays."""
    f = subscription_footprints
    try:
        with conn.begin_nested():
            conn.execute(delete(f).where(f.c.id == footprint_pk, ~exists().where(
                subscriptions.c.footprint_pk == f.c.id)))
    except IntegrityError:
        pass
