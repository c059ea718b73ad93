"""The catalog's entities: events, their revisions, region tiles and artifacts (SQLModel).

Alembic migrations must match these tables exactly. Sky geometry follows the
healpix-alchemy model (Singer et al. 2022, AJ 163, 209): a direction is its HEALPix NESTED
index at order 29 (``bigint``, b-tree); a region is one row per HEALPix tile, each an
``int8range`` of order-29 indices, with an SP-GiST index, so "which regions contain this
point" is an indexed ``@>`` lookup.

Storage writes SQLAlchemy Core against the module-level tables (``events``, ``revisions``,
``region_tiles``, ``artifacts``); the models are where each column is defined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Double,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT8RANGE, JSONB, Range

from catalog.schema.base import (
    NAMING,
    TIMESTAMPTZ,
    Entity,
    Identified,
    Keyed,
    column,
    metadata,
    one_of,
    set_now,
    table_of,
)

__all__ = ["KINDS", "NAMING", "SHAPES", "STATUSES", "STREAMS", "Artifact", "ArtifactBase",
           "ArtifactFile", "ArtifactOwner", "Event", "EventBase", "EventCurrentRead",
           "EventIdentity", "EventRead", "EventState", "RegionTile", "RegionTileBase",
           "Revision", "RevisionBase", "RevisionFacts", "RevisionKey", "RevisionOf",
           "RevisionRead", "artifacts", "events", "metadata", "region_tiles", "revisions"]

#: Alert streams (selection outcomes) an event or revision can be in.
STREAMS = ("gold", "bronze", "cascade", "hese", "ehe", "none")

#: Kinds of revision: the first notice, a later one, a retraction, or a catalogue row.
KINDS = ("initial", "update", "retraction", "catalog")

#: What an alert is now: a live alert, retracted by IceCube, or flagged likely background
#: by a later analysis (IceCat-1's CR_VETO).
STATUSES = ("live", "retracted", "likely_background")

#: Shapes of an error region.
SHAPES = ("circle", "box", "contour")


class EventIdentity(Entity):
    """Which event: (observatory, run, event), unique among events and among raw events."""

    observatory: str = column(Text)
    run_id: int = column(BigInteger)
    event_id: int = column(BigInteger)


class EventBase(EventIdentity):
    """What identifies and dates a neutrino event; shared by the table and the API."""

    name: str | None = column(Text, comment="Alert name, e.g. IceCube-200615A")
    stream: str = column(Text)
    event_time: datetime = column(TIMESTAMPTZ)
    event_mjd: float = column(Double)


class EventState(Entity):
    """What the database keeps about an event beyond its Base: its status, where its time
    comes from, its conflicts, its current revision and its stamps (table and read model)."""

    status: str | None = column(Text, default=None, nullable=False,
                                server_default=text("'live'"),
                                comment="live, retracted or likely_background")
    status_reason: str | None = column(Text, default=None, comment="Why the status is not live")
    status_source: str | None = column(Text, default=None,
                                       comment="Source that set the status (its source key)")
    time_source: str | None = column(
        Text, default=None, comment="Source key of the revision event_time comes from")
    time_precision_s: float | None = column(
        Double, default=None, comment="Resolution of event_time as its source wrote it, s")
    conflicts: list[Any] | None = column(
        JSONB, default=None, nullable=False, server_default=text("'[]'::jsonb"),
        comment="Event-level disagreements between sources (event time)")
    current_revision_pk: int | None = column(
        BigInteger, default=None,
        comment="Cached pointer to the revision that currently describes the event; "
        "maintained by storage in the transaction that adds a revision.")
    created_at: datetime | None = set_now()
    updated_at: datetime | None = set_now()


class Event(EventState, EventBase, Keyed, table=True):
    """The ``events`` table: one row per (observatory, run, event)."""

    __tablename__: ClassVar[str] = "events"
    __table_args__ = (
        UniqueConstraint("observatory", "run_id", "event_id", name="uq_events_identity"),
        UniqueConstraint("name", name="uq_events_name"),
        CheckConstraint(one_of("stream", STREAMS), name="stream"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        Index("ix_events_event_time_id", "event_time", "id"),
        Index("ix_events_stream", "stream"),
        # The current-alert views join on it: without it every region or cone look-up that
        # finds revisions first scanned all events (70 ms at 100 k alerts; issue 5). With the
        # name included, "which alerts contain this point" reads no event rows.
        Index("ix_events_current_revision_pk", "current_revision_pk",
              postgresql_include=["name"]),
    )


class RevisionBase(Entity):
    """What a revision says first: its place, source, stream, times and best position.

    The table and the API both start with these fields, in this order; the error region
    follows as flat columns in the table and as two ``ErrorBox`` objects in the API.
    """

    number: int = column(Integer, comment="0, 1, 2, ... in the order of the notices (their "
                         "Rev; a catalogue row by its publication date)")
    kind: str = column(Text)
    source: str = column(Text)
    source_rev: int | None = column(Integer, comment="The source's own revision (GCN Rev)")
    source_key: str = column(Text, comment="Identity in the source (IVORN, row key)")
    stream: str = column(Text)
    issued_at: datetime | None = column(TIMESTAMPTZ)
    created_at: datetime = column(TIMESTAMPTZ, server_default=func.now())
    ra: float | None = column(Double, comment="deg, ICRS")
    dec: float | None = column(Double, comment="deg, ICRS")
    hpx29: int | None = column(BigInteger, comment="HEALPix NESTED order-29 index",
                               description="HEALPix NESTED order-29 index of (ra, dec)")


class RevisionOf(Entity):
    """The event a revision belongs to."""

    event_pk: int = column(BigInteger, foreign_key="events.id")


class RevisionKey(RevisionOf, Keyed):
    """A revision's key and the event it belongs to (the first two columns)."""


def _err(comment: str | None = None) -> Any:
    return column(Double, default=None, comment=comment)


class RevisionFacts(Entity):
    """The rest of a revision's columns: its flat error region, its estimates, its IVORN,
    provenance, own event time and conflicts (table and read model)."""

    ra_err_plus_50: float | None = _err()
    ra_err_minus_50: float | None = _err()
    dec_err_plus_50: float | None = _err()
    dec_err_minus_50: float | None = _err()
    ra_err_plus_90: float | None = _err()
    ra_err_minus_90: float | None = _err()
    dec_err_plus_90: float | None = _err()
    dec_err_minus_90: float | None = _err()
    r50_deg: float | None = _err("circularised 50 % radius")
    r90_deg: float | None = _err("circularised 90 % radius")
    area50_deg2: float | None = _err()
    area90_deg2: float | None = _err()
    region50_shape: str | None = column(Text, default=None, comment="circle or box")
    region90_shape: str | None = column(Text, default=None, comment="circle or box")
    region_order: int | None = column(SmallInteger, default=None,
                                      comment="HEALPix order of the region tiles")
    energy_tev: float | None = _err()
    signalness: float | None = _err()
    far_per_year: float | None = _err()
    ivorn: str | None = column(Text, default=None)
    retraction_reason: str | None = column(Text, default=None)
    provenance: dict[str, Any] = column(JSONB, server_default=text("'{}'::jsonb"))
    event_time: datetime | None = column(TIMESTAMPTZ, default=None,
                                         comment="Event time as this revision's source gave it")
    time_precision_s: float | None = column(Double, default=None,
                                            comment="Resolution of event_time, s")
    conflicts: list[Any] | None = column(
        JSONB, default=None, nullable=False, server_default=text("'[]'::jsonb"),
        comment="Values the sources of this notice disagree on, per source")


def _polygon(level: int) -> Any:
    """A generated column: the ``level`` % region as a DALI polygon (``float8[]`` of RA, Dec
    pairs), drawn by ``nufair.region_polygon`` (migration 0015) from the region columns, so
    the views read it instead of drawing it per row (migration 0017)."""
    args = (f"region{level}_shape", "ra", "dec", f"r{level}_deg", f"ra_err_plus_{level}",
            f"ra_err_minus_{level}", f"dec_err_plus_{level}", f"dec_err_minus_{level}")
    return column(ARRAY(Double), default=None,
                  comment=f"{level} % region as a DALI polygon (nufair.region_polygon)",
                  sa_column_args=[Computed(f"nufair.region_polygon({', '.join(args)})",
                                           persisted=True)])


class Revision(RevisionFacts, RevisionBase, RevisionKey, table=True):
    """The ``revisions`` table: one immutable row per notice about an event."""

    __tablename__: ClassVar[str] = "revisions"
    __table_args__ = (
        UniqueConstraint("event_pk", "number", name="uq_revisions_event_number"),
        UniqueConstraint("source_key", name="uq_revisions_source_key"),
        CheckConstraint(one_of("kind", KINDS), name="kind"),
        CheckConstraint(one_of("stream", STREAMS), name="stream"),
        CheckConstraint("ra IS NULL OR (ra >= 0 AND ra < 360)", name="ra_range"),
        CheckConstraint("dec IS NULL OR (dec >= -90 AND dec <= 90)", name="dec_range"),
        Index("ix_revisions_hpx29", "hpx29"),
        Index("ix_revisions_event_pk", "event_pk"),
        # The columns of the exact region tests (vo.adql.regions), read from this small
        # index instead of the wide rows (migration 0022).
        Index("ix_revisions_region_shapes", "id", postgresql_include=[
            "ra", "dec", *(c for lv in (50, 90) for c in (
                f"region{lv}_shape", f"r{lv}_deg", f"ra_err_plus_{lv}", f"ra_err_minus_{lv}",
                f"dec_err_plus_{lv}", f"dec_err_minus_{lv}"))]),
    )

    # Drawn by PostgreSQL when the row is written (migration 0017): never written by storage.
    region50_polygon: list[float] | None = _polygon(50)
    region90_polygon: list[float] | None = _polygon(90)


class RevisionRead(RevisionFacts, RevisionBase, RevisionOf, Identified):
    """A stored revision as storage returns it (every column)."""


class EventRead(EventState, EventBase, Identified):
    """A stored event as storage returns it (every column; those the database fills are
    never ``None`` once stored)."""

    status: str
    conflicts: list[Any]
    created_at: datetime
    updated_at: datetime


class EventCurrentRead(EventRead):
    """A stored event with its revision count and the revision that currently describes it
    (``None`` only for an event that has no revision yet): what a look-up by key returns
    (:func:`catalog.storage.lookup.resolve_event`)."""

    revision_count: int
    current: RevisionRead | None


class RegionTileBase(Entity):
    """One HEALPix tile of a revision's error region at one containment level."""

    #: References ``revisions.id``, enforced by statement-level triggers (migration 0020:
    #: one check per COPY, not one RI trigger per tile row), not by a declared key.
    revision_pk: int = column(BigInteger)
    level: int = column(SmallInteger, comment="containment, percent (50 or 90)")
    hpx: Range[int] = column(INT8RANGE, comment="order-29 NESTED index range [lo, hi)")


class RegionTile(RegionTileBase, Keyed, table=True):
    """The ``region_tiles`` table, searched with ``@>`` through its SP-GiST index."""

    __tablename__: ClassVar[str] = "region_tiles"
    __table_args__ = (
        CheckConstraint("level IN (50, 90)", name="level"),
        # level and revision_pk included: a point's probe is an index-only scan (0022)
        Index("ix_region_tiles_hpx", "hpx", postgresql_using="spgist",
              postgresql_include=["level", "revision_pk"]),
        Index("ix_region_tiles_revision_pk", "revision_pk", "level"),
    )


class ArtifactOwner(Entity):
    """The event, and the revision if any, that a stored file belongs to."""

    event_pk: int = column(BigInteger, foreign_key="events.id")
    revision_pk: int | None = column(BigInteger, default=None, foreign_key="revisions.id")


class ArtifactFile(Entity):
    """A stored file and where it lives: what a flow records as an artifact (the Create
    model of ``RevisionStore.add_artifacts``, which adds the owner)."""

    role: str = column(Text, comment="e.g. skymap-fits, moc90, voevent")
    filename: str = column(Text)
    media_type: str = column(Text)
    size_bytes: int = column(BigInteger)
    sha256: str = column(String(64))
    md5: str = column(String(32))
    storage_url: str = column(Text)


# ArtifactOwner is the last base, so its columns come first.
class ArtifactBase(ArtifactFile, ArtifactOwner):
    """A stored file of an event, or of one of its revisions, and where it lives."""


class Artifact(ArtifactBase, Keyed, table=True):
    """The ``artifacts`` table: at most one file per (revision, role)."""

    __tablename__: ClassVar[str] = "artifacts"
    __table_args__ = (
        UniqueConstraint("revision_pk", "role", name="uq_artifacts_revision_role"),
        Index("ix_artifacts_event_pk", "event_pk"),
    )

    created_at: datetime | None = set_now()


# The Core tables storage writes against: the same objects the models map.
events = table_of(Event)
revisions = table_of(Revision)
region_tiles = table_of(RegionTile)
artifacts = table_of(Artifact)
