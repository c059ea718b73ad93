"""Tables of the realtime pipeline: raw events as received, scans and their snapshots.

* ``raw_events`` keeps every accepted raw event once, keyed on (observatory, run, event):
  a repeat finds the stored row instead of making a second one.
* ``scans`` holds each scan request and the facts of its life (claimed, heartbeat,
  finished with an outcome); its state is computed from those facts, never stored as a
  status that could disagree with them.
* ``scan_snapshots`` keeps each progress report and partial result of a scan, and the final
  result, as immutable rows numbered per scan.
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
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from catalog.schema.events import metadata

#: Scan priority lanes: a realtime scan is always claimed before any reprocessing scan.
PRIORITIES = ("realtime", "reprocessing")

#: How a finished scan ended.
OUTCOMES = ("done", "aborted", "failed")

raw_events = Table(
    "raw_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("observatory", Text, nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("event_pk", BigInteger, ForeignKey("events.id"), nullable=True,
           comment="the catalog event made from it (NULL for a scan-only inline event)"),
    Column("body", JSONB, nullable=False, comment="the raw event as received (schema-valid)"),
    Column("sha256", String(64), nullable=False, comment="of the canonical JSON body"),
    Column("stream", Text, nullable=True, comment="selection outcome (gold ... none)"),
    Column("selection", JSONB, nullable=False, server_default=text("'{}'::jsonb"),
           comment="estimator values the selection used"),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("observatory", "run_id", "event_id", name="uq_raw_events_identity"),
    Index("ix_raw_events_event_pk", "event_pk"),
)

scans = Table(
    "scans",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("raw_event_pk", BigInteger, ForeignKey("raw_events.id"), nullable=False),
    Column("priority", Text, nullable=False),
    Column("config", JSONB, nullable=False, comment="reco ScanConfig as plain values"),
    Column("labels", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("origin_scan_pk", BigInteger, ForeignKey("scans.id"), nullable=True,
           comment="the scan this one re-runs (POST /scans/{id}/rescan)"),
    Column("publish", Text, nullable=False, server_default=text("'none'"),
           comment="'update': the final result becomes an update revision and notices"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("claimed_by", Text, nullable=True, comment="worker that runs it now"),
    Column("claims", Integer, nullable=False, server_default=text("0"),
           comment="times a worker started it (>1: resumed after a restart)"),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Column("abort_requested_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("outcome", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("revision_pk", BigInteger, ForeignKey("revisions.id"), nullable=True,
           comment="update revision made from the final result"),
    CheckConstraint("priority IN ('realtime', 'reprocessing')", name="priority"),
    CheckConstraint("outcome IS NULL OR outcome IN ('done', 'aborted', 'failed')",
                    name="outcome"),
    CheckConstraint("(finished_at IS NULL) = (outcome IS NULL)", name="finished"),
    Index("ix_scans_queue", "priority", "id", postgresql_where=text("finished_at IS NULL")),
    Index("ix_scans_raw_event_pk", "raw_event_pk"),
)

scan_snapshots = Table(
    "scan_snapshots",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("scan_pk", BigInteger, ForeignKey("scans.id"), nullable=False),
    Column("seq", Integer, nullable=False, comment="1, 2, ... per scan"),
    Column("kind", Text, nullable=False, comment="partial or final"),
    Column("fraction", Double, nullable=False),
    Column("pixels_done", BigInteger, nullable=False),
    Column("pixels_total", BigInteger, nullable=False),
    Column("rate", Double, nullable=False, comment="pixel fits per second"),
    Column("eta_s", Double, nullable=True),
    Column("best_ra", Double, nullable=True, comment="deg"),
    Column("best_dec", Double, nullable=True, comment="deg"),
    Column("best_llh", Double, nullable=True),
    Column("result", JSONB, nullable=True, comment="final: the reco ScanResult as JSON"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("scan_pk", "seq", name="uq_scan_snapshots_scan_seq"),
    CheckConstraint("kind IN ('partial', 'final')", name="kind"),
    Index("uq_scan_snapshots_final", "scan_pk", unique=True,
          postgresql_where=text("kind = 'final'")),
)
