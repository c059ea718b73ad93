"""Catalog tables (SQLAlchemy Core). Alembic migrations must match these exactly.

Sky geometry follows the healpix-alchemy model (Singer et al. 2022, AJ 163, 209): a direction
is its HEALPix NESTED index at order 29 (``bigint``, b-tree); a region is one row per HEALPix
tile, each an ``int8range`` of order-29 indices, with an SP-GiST index, so "which regions
contain this point" is an indexed ``@>`` lookup.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INT8RANGE, JSONB

#: Naming convention so that Alembic autogenerate and ``alembic check`` see stable names.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

STREAMS = ("gold", "bronze", "cascade", "hese", "ehe", "none")
KINDS = ("initial", "update", "retraction")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"



events = Table(
    "events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("observatory", Text, nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("name", Text, nullable=True, comment="Alert name, e.g. IceCube-200615A"),
    Column("stream", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("event_mjd", Double, nullable=False),
    Column(
        "current_revision_pk",
        BigInteger,
        nullable=True,
        comment="Cached pointer to the revision that currently describes the event; "
        "maintained by storage in the transaction that adds a revision.",
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("observatory", "run_id", "event_id", name="uq_events_identity"),
    UniqueConstraint("name", name="uq_events_name"),
    CheckConstraint(_in("stream", STREAMS), name="stream"),
    Index("ix_events_event_time_id", "event_time", "id"),
    Index("ix_events_stream", "stream"),
    # The current-alert views join on it: without it every region or cone look-up that
    # finds revisions first scanned all events (70 ms at 100 k alerts; issue 5). With the
    # name included, "which alerts contain this point" reads no event rows.
    Index("ix_events_current_revision_pk", "current_revision_pk", postgresql_include=["name"]),
)

revisions = Table(
    "revisions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_pk", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("number", Integer, nullable=False, comment="0, 1, 2, ... in order of arrival"),
    Column("kind", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_rev", Integer, nullable=True, comment="The source's own revision (GCN Rev)"),
    Column("source_key", Text, nullable=False, comment="Identity in the source (IVORN, row key)"),
    Column("stream", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("ra", Double, nullable=True, comment="deg, ICRS"),
    Column("dec", Double, nullable=True, comment="deg, ICRS"),
    Column("hpx29", BigInteger, nullable=True, comment="HEALPix NESTED order-29 index"),
    Column("ra_err_plus_50", Double),
    Column("ra_err_minus_50", Double),
    Column("dec_err_plus_50", Double),
    Column("dec_err_minus_50", Double),
    Column("ra_err_plus_90", Double),
    Column("ra_err_minus_90", Double),
    Column("dec_err_plus_90", Double),
    Column("dec_err_minus_90", Double),
    Column("r50_deg", Double, comment="circularised 50 % radius"),
    Column("r90_deg", Double, comment="circularised 90 % radius"),
    Column("area50_deg2", Double),
    Column("area90_deg2", Double),
    Column("region50_shape", Text, comment="circle or box"),
    Column("region90_shape", Text, comment="circle or box"),
    Column("region_order", SmallInteger, comment="HEALPix order of the region tiles"),
    Column("energy_tev", Double),
    Column("signalness", Double),
    Column("far_per_year", Double),
    Column("ivorn", Text),
    Column("retraction_reason", Text),
    Column("provenance", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    UniqueConstraint("event_pk", "number", name="uq_revisions_event_number"),
    UniqueConstraint("source_key", name="uq_revisions_source_key"),
    CheckConstraint(_in("kind", KINDS), name="kind"),
    CheckConstraint(_in("stream", STREAMS), name="stream"),
    CheckConstraint("ra IS NULL OR (ra >= 0 AND ra < 360)", name="ra_range"),
    CheckConstraint("dec IS NULL OR (dec >= -90 AND dec <= 90)", name="dec_range"),
    Index("ix_revisions_hpx29", "hpx29"),
    Index("ix_revisions_event_pk", "event_pk"),
)

region_tiles = Table(
    "region_tiles",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("revision_pk", BigInteger, ForeignKey("revisions.id"), nullable=False),
    Column("level", SmallInteger, nullable=False, comment="containment, percent (50 or 90)"),
    Column("hpx", INT8RANGE, nullable=False, comment="order-29 NESTED index range [lo, hi)"),
    CheckConstraint("level IN (50, 90)", name="level"),
    Index("ix_region_tiles_hpx", "hpx", postgresql_using="spgist"),
    Index("ix_region_tiles_revision_pk", "revision_pk", "level"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_pk", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("revision_pk", BigInteger, ForeignKey("revisions.id"), nullable=True),
    Column("role", Text, nullable=False, comment="e.g. skymap-fits, moc90, voevent"),
    Column("filename", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("storage_url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("revision_pk", "role", name="uq_artifacts_revision_role"),
    Index("ix_artifacts_event_pk", "event_pk"),
)
