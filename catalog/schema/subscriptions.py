"""Entities of region subscriptions: who wants which alerts, where, and their footprint tiles.

A subscription names a footprint on the sky, a stream filter and a sink. The footprint is
stored once however many subscriptions name it (``subscription_footprints``, keyed by the
SHA-256 of its ranges: a survey's MOC registered by a thousand subscribers is one set of
tiles), as the ``int8range`` tiles of its MOC, one row per range of order-29 HEALPix
indices, SP-GiST indexed exactly like ``region_tiles``. A new revision whose region tiles
overlap a footprint's tiles (``&&``) is matched in one indexed query, the footprints' active
subscriptions found by ``footprint_pk``, and its notice queued in the outbox under the sink
name ``sub:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    Index,
    LargeBinary,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT8RANGE, Range

from catalog.schema.base import Entity, Keyed, column, one_of, set_now, table_of

__all__ = ["SINK_KINDS", "SUBSCRIPTION_STATES", "Subscription", "SubscriptionBase",
           "SubscriptionFootprint", "SubscriptionTile", "SubscriptionTileBase",
           "subscription_footprints", "subscription_tiles", "subscriptions"]

#: States of a subscription: matched, kept but not matched, or deleted (kept for the record
#: of its notices; its tiles are gone).
SUBSCRIPTION_STATES = ("active", "paused", "deleted")

#: Where a subscription's notices go: its own signed webhook, or a sink the server has
#: configured (folder, vtp, gcn-kafka, webhook), by name.
SINK_KINDS = ("webhook", "sink")


class SubscriptionBase(Entity):
    """What a subscriber asked for: a footprint, a stream filter, a notice format, a sink."""

    name: str = column(Text, comment="the subscriber's label")
    owner: str = column(Text, comment="digest prefix of the token that created it")
    state: str = column(Text)
    streams: list[str] = column(ARRAY(Text), comment="alert streams matched")
    min_signalness: float | None = column(Double, default=None,
                                          comment="revisions below (or without) it are skipped")
    notice_format: str = column(Text, comment="gcn-json, voevent or circular")
    sink_kind: str = column(Text)
    sink_target: str = column(Text, comment="webhook URL, or a configured sink's name")
    footprint_kind: str = column(Text, comment="moc, cone or fields")
    moc_order: int = column(SmallInteger, comment="deepest HEALPix order of the footprint")
    area_deg2: float = column(Double, comment="area of the footprint's MOC")


class SubscriptionFootprint(Keyed, table=True):
    """The ``subscription_footprints`` table: one row per distinct footprint."""

    __tablename__: ClassVar[str] = "subscription_footprints"
    __table_args__ = (Index("uq_subscription_footprints_digest", "digest", unique=True),)

    digest: bytes = column(LargeBinary, comment="SHA-256 of the footprint's sorted ranges")


class Subscription(SubscriptionBase, Keyed, table=True):
    """The ``subscriptions`` table."""

    __tablename__: ClassVar[str] = "subscriptions"
    __table_args__ = (
        CheckConstraint(one_of("state", SUBSCRIPTION_STATES), name="state"),
        CheckConstraint(one_of("sink_kind", SINK_KINDS), name="sink_kind"),
        CheckConstraint("(sink_kind = 'webhook') = (secret IS NOT NULL)", name="secret"),
        Index("ix_subscriptions_owner", "owner"),
        # The match's second step: the active subscriptions of the matched footprints, read
        # from the index alone (a footprint's subscribers are neighbours in it; the table's
        # rows of one footprint are scattered).
        Index("ix_subscriptions_footprint_pk", "footprint_pk",
              postgresql_include=["id", "streams", "min_signalness", "notice_format", "name"],
              postgresql_where=text("state = 'active'")),
    )

    secret: str | None = column(Text, default=None,
                                comment="HMAC secret of a webhook subscription")
    created_at: datetime | None = set_now()
    updated_at: datetime | None = set_now()
    footprint_pk: int | None = column(
        BigInteger, default=None, foreign_key="subscription_footprints.id",
        comment="its footprint's tiles; none once deleted")


class SubscriptionTileBase(Entity):
    """One range of order-29 indices of a footprint."""

    footprint_pk: int = column(BigInteger, foreign_key="subscription_footprints.id",
                               ondelete="CASCADE")
    hpx: Range[int] = column(INT8RANGE, comment="order-29 NESTED index range [lo, hi)")


class SubscriptionTile(SubscriptionTileBase, Keyed, table=True):
    """The ``subscription_tiles`` table: a footprint's ranges, searched with ``&&``."""

    __tablename__: ClassVar[str] = "subscription_tiles"
    __table_args__ = (
        # footprint_pk included: the match reads the index only (no heap page per pair).
        Index("ix_subscription_tiles_hpx", "hpx", postgresql_using="spgist",
              postgresql_include=["footprint_pk"]),
        Index("ix_subscription_tiles_footprint_pk", "footprint_pk"),
    )


subscription_footprints = table_of(SubscriptionFootprint)
subscriptions = table_of(Subscription)
subscription_tiles = table_of(SubscriptionTile)
