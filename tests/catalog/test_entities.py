"""The SQLModel entities build exactly the tables the migrations build, and the API's shape.

``alembic check`` (test_migrations) compares names, types, nullability and indexes; it does
not compare server defaults, check constraints, comments, identity or ``ON DELETE``. Here the
models' ``create_all`` runs into a schema of its own beside the migrated ``public`` one, and
PostgreSQL's own description of every table (``pg_catalog``) must be the same in both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.dialects.postgresql import Range

from catalog.models import EventDetail, EventSummary, RevisionPublic
from catalog.schema import ingest, outbox, pids, subscriptions
from catalog.schema.base import Entity, metadata
from catalog.schema.events import (
    Artifact,
    Event,
    RegionTile,
    RegionTileBase,
    Revision,
    artifacts,
    events,
    region_tiles,
    revisions,
)
from vo.uws import schema as uws

#: The schema the models' tables are created in, beside the migrated ``public``.
MODELS = "models"

# Columns in name order: a migration that adds a column puts it last, create_all in place.
COLUMNS = text("""
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           a.attidentity, pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = :schema AND c.relname = ANY(:tables) AND a.attnum > 0
      AND NOT a.attisdropped
    ORDER BY 1, 2
""")

CONSTRAINTS = text("""
    SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND c.relname = ANY(:tables)
    ORDER BY 1, 2
""")

INDEXES = text("""
    SELECT tablename, indexname, indexdef FROM pg_indexes
    WHERE schemaname = :schema AND tablename = ANY(:tables)
    ORDER BY 1, 2
""")


def _describe(conn: Any, schema: str) -> list[tuple[Any, ...]]:
    """Every column, constraint and index of the metadata's tables in ``schema``."""
    args = {"schema": schema, "tables": sorted(metadata.tables)}
    rows = [("column", *r) for r in conn.execute(COLUMNS, args)]
    rows += [("constraint", *r) for r in conn.execute(CONSTRAINTS, args)]
    rows += [("index", *r) for r in conn.execute(INDEXES, args)]
    # Definitions name their own schema (ON models.events, REFERENCES models.events).
    return [tuple(str(v).replace(f"{schema}.", "") for v in r) for r in rows]


def test_models_create_exactly_the_migrated_tables(db_url: str) -> None:
    """Columns, defaults, comments, identity, constraints and indexes all match."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {MODELS}"))
            metadata.create_all(conn.execution_options(schema_translate_map={None: MODELS}))
        with engine.connect() as conn:
            migrated, built = _describe(conn, "public"), _describe(conn, MODELS)
    finally:
        engine.dispose()
    assert len(migrated) > 150  # every table, not an empty comparison
    assert built == migrated


def test_core_tables_are_the_models_tables() -> None:
    """Storage's Core tables are the very objects the models map, on one metadata."""
    assert events is vars(Event)["__table__"]
    assert revisions is vars(Revision)["__table__"]
    assert region_tiles is vars(RegionTile)["__table__"]
    assert artifacts is vars(Artifact)["__table__"]
    assert ingest.scans is vars(ingest.Scan)["__table__"]
    assert outbox.notices is vars(outbox.Notice)["__table__"]
    assert pids.dois is vars(pids.Doi)["__table__"]
    assert pids.doi_aliases is vars(pids.DoiAlias)["__table__"]
    assert uws.uws_jobs is vars(uws.UwsJob)["__table__"]
    assert subscriptions.subscriptions is vars(subscriptions.Subscription)["__table__"]
    assert Entity.metadata is metadata
    assert set(metadata.tables) == {
        "events", "revisions", "region_tiles", "artifacts", "raw_events", "scans",
        "scan_snapshots", "notices", "notice_attempts", "dois", "doi_aliases", "uws_jobs",
        "uws_job_uploads",
        "counterparts",
        "subscriptions", "subscription_footprints", "subscription_tiles"}


def test_table_models_list_columns_in_migration_order() -> None:
    """``id`` (and a revision's ``event_pk``) come first, as in the migrations."""
    assert list(events.c.keys())[:2] == ["id", "observatory"]
    assert list(revisions.c.keys())[:3] == ["id", "event_pk", "number"]
    assert list(uws.uws_jobs.c.keys())[:2] == ["id", "lock_key"]


def test_public_models_keep_the_json_key_order() -> None:
    """Deriving the wire models from the entities' Base models kept every JSON key in place."""
    # The order of model fields is the order of keys in every JSON answer of the API.
    assert list(RevisionPublic.model_fields) == [
        "number", "kind", "source", "source_rev", "source_key", "stream", "issued_at",
        "created_at", "ra", "dec", "hpx29", "error50", "error90", "region_order",
        "energy_tev", "signalness", "far_per_year", "ivorn", "retraction_reason",
        "is_current", "provenance", "event_time", "time_precision_s", "conflicts"]
    assert list(EventSummary.model_fields) == [
        "id", "name", "observatory", "run_id", "event_id", "stream", "event_time",
        "event_mjd", "revision_count", "retracted", "current", "status", "status_reason",
        "status_source", "time_source", "time_precision_s", "conflicts"]
    assert list(EventDetail.model_fields)[-1] == "revisions"


def test_base_models_validate_their_fields() -> None:
    """A Base model is a plain pydantic model: it validates, the ``int8range`` included."""
    tile = RegionTileBase(revision_pk=1, level=90, hpx=Range(10, 20))
    assert tile.hpx == Range(10, 20)
    assert RegionTileBase.model_validate(
        {"revision_pk": 1, "level": 50, "hpx": Range(1, 2)}).level == 50
