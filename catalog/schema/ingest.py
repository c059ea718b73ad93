"""Entities of the realtime pipeline: raw events as received, scans and their snapshots.

* ``raw_events`` keeps every accepted raw event once, keyed on (observatory, run, event):
  a repeat finds the stored row instead of making a second one.
* ``scans`` holds each scan request and the facts of its life (claimed, heartbeat,
  finished with an outcome); its state is computed from those facts, never stored as a
  status that could disagree with them.
* ``scan_snapshots`` keeps each progress report and partial result of a scan, and the final
  result, as immutable rows numbered per scan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from catalog.schema.base import TIMESTAMPTZ, Created, Entity, Identified, Keyed, column, table_of
from catalog.schema.events import EventIdentity

__all__ = ["OUTCOMES", "PRIORITIES", "RawEvent", "RawEventBase", "RawEventIdentity",
           "RawEventRead", "RawEventReceived", "Scan", "ScanAsked", "ScanBase", "ScanClaim",
           "ScanFacts", "ScanLife", "ScanRead", "ScanSnapshot", "ScanSnapshotBase",
           "ScanSnapshotRead", "SnapshotProgress", "raw_events", "scan_snapshots", "scans"]

#: Scan priority lanes: a realtime scan is always claimed before any reprocessing scan.
PRIORITIES = ("realtime", "reprocessing")

#: How a finished scan ended.
OUTCOMES = ("done", "aborted", "failed")


class RawEventIdentity(EventIdentity):
    """Which raw event: its identity (the catalog event's), and the catalog event made
    from it."""

    event_pk: int | None = column(
        BigInteger, default=None, foreign_key="events.id",
        comment="the catalog event made from it (NULL for a scan-only inline event)")


class RawEventBase(RawEventIdentity):
    """A raw event as received (without its body), and the selection's verdict on it."""

    sha256: str = column(String(64), comment="of the canonical JSON body")
    stream: str | None = column(Text, default=None, comment="selection outcome (gold ... none)")
    selection: dict[str, Any] = column(JSONB, server_default=text("'{}'::jsonb"),
                                       comment="estimator values the selection used")


class RawEventReceived(Entity):
    """When a raw event was received (``DEFAULT now()``)."""

    received_at: datetime = column(TIMESTAMPTZ, server_default=func.now())


class RawEvent(RawEventReceived, RawEventBase, Keyed, table=True):
    """The ``raw_events`` table: each accepted raw event once, with its body."""

    __tablename__: ClassVar[str] = "raw_events"
    __table_args__ = (
        UniqueConstraint("observatory", "run_id", "event_id", name="uq_raw_events_identity"),
        Index("ix_raw_events_event_pk", "event_pk"),
    )

    body: dict[str, Any] = column(JSONB, comment="the raw event as received (schema-valid)")


class RawEventRead(RawEventReceived, RawEventBase, Identified):
    """A stored raw event as storage returns it: no body (``IngestStorage.body`` reads it),
    and the name of the catalog event made from it."""

    name: str | None


class ScanAsked(Entity):
    """What a scan request chose: its lane, labels, publication and configuration (the API
    shows them as they are)."""

    priority: str = column(Text)
    labels: list[str] = column(ARRAY(Text), server_default=text("'{}'::text[]"))
    publish: str = column(Text, server_default=text("'none'"),
                          comment="'update': the final result becomes an update revision "
                          "and notices")
    config: dict[str, Any] = column(JSONB, comment="reco ScanConfig as plain values")


class ScanBase(ScanAsked):
    """A scan request: which raw event, re-running which scan, and what it chose."""

    raw_event_pk: int = column(BigInteger, foreign_key="raw_events.id")
    origin_scan_pk: int | None = column(
        BigInteger, default=None, foreign_key="scans.id",
        comment="the scan this one re-runs (POST /scans/{id}/rescan)")


class ScanLife(Entity):
    """The facts of a scan's life that the API shows (filled by its runners)."""

    created_at: datetime = column(TIMESTAMPTZ, server_default=func.now())
    started_at: datetime | None = column(TIMESTAMPTZ, default=None)
    heartbeat_at: datetime | None = column(TIMESTAMPTZ, default=None)
    claims: int = column(Integer, server_default=text("0"),
                         comment="times a worker started it (>1: resumed after a restart)")
    abort_requested_at: datetime | None = column(TIMESTAMPTZ, default=None)
    finished_at: datetime | None = column(TIMESTAMPTZ, default=None)
    error: str | None = column(Text, default=None)
    note: str | None = column(
        Text, default=None,
        comment="why a scan that ended done did less than asked, e.g. published no update "
        "revision because its event is retracted")


class ScanClaim(Entity):
    """The facts of a scan's life only its runners read: the claim, the outcome, the
    update revision."""

    claimed_by: str | None = column(Text, default=None, comment="worker that runs it now")
    claim_token: str | None = column(
        Text, default=None,
        comment="fencing token of the current claim: every write of its runner checks it")
    outcome: str | None = column(Text, default=None)
    revision_pk: int | None = column(BigInteger, default=None, foreign_key="revisions.id",
                                     comment="update revision made from the final result")


class ScanFacts(ScanClaim, ScanLife):
    """The facts of a scan's life, which its state follows from (filled by its runners)."""


class Scan(ScanFacts, ScanBase, Keyed, table=True):
    """The ``scans`` table: a request and the facts of its life, from which its state follows."""

    __tablename__: ClassVar[str] = "scans"
    __table_args__ = (
        CheckConstraint("priority IN ('realtime', 'reprocessing')", name="priority"),
        CheckConstraint("outcome IS NULL OR outcome IN ('done', 'aborted', 'failed')",
                        name="outcome"),
        CheckConstraint("(finished_at IS NULL) = (outcome IS NULL)", name="finished"),
        CheckConstraint("note IS NULL OR outcome = 'done'", name="note"),
        Index("ix_scans_queue", "priority", "id", postgresql_where=text("finished_at IS NULL")),
        Index("ix_scans_raw_event_pk", "raw_event_pk"),
    )


class ScanRead(ScanFacts, ScanBase, RawEventIdentity, Identified):
    """A scan as storage returns it: the row, the identity of its raw event, the names of
    its event and update revision, and the database's clock (its state is computed against
    it, :func:`catalog.storage.scans.scan_state`)."""

    event_name: str | None
    revision_number: int | None
    now: datetime


class SnapshotProgress(Entity):
    """How far a scan was at one snapshot (the API shows these as they are)."""

    seq: int = column(Integer, comment="1, 2, ... per scan")
    kind: str = column(Text, comment="partial or final")
    fraction: float = column(Double)
    pixels_done: int = column(BigInteger)
    pixels_total: int = column(BigInteger)
    eta_s: float | None = column(Double, default=None)


class ScanSnapshotBase(SnapshotProgress):
    """One progress report of a scan (``partial``) or its result (``final``)."""

    scan_pk: int = column(BigInteger, foreign_key="scans.id")
    rate: float = column(Double, comment="pixel fits per second")
    best_ra: float | None = column(Double, default=None, comment="deg")
    best_dec: float | None = column(Double, default=None, comment="deg")
    best_llh: float | None = column(Double, default=None)


class ScanSnapshot(Created, ScanSnapshotBase, Keyed, table=True):
    """The ``scan_snapshots`` table: immutable rows numbered per scan, at most one final."""

    __tablename__: ClassVar[str] = "scan_snapshots"
    __table_args__ = (
        UniqueConstraint("scan_pk", "seq", name="uq_scan_snapshots_scan_seq"),
        CheckConstraint("kind IN ('partial', 'final')", name="kind"),
        Index("uq_scan_snapshots_final", "scan_pk", unique=True,
              postgresql_where=text("kind = 'final'")),
    )

    result: dict[str, Any] | None = column(JSONB, default=None,
                                           comment="final: the reco ScanResult as JSON")


class ScanSnapshotRead(Created, ScanSnapshotBase, Identified):
    """A stored snapshot as storage returns it (the final result JSON is read apart)."""


# The Core tables storage writes against: the same objects the models map.
raw_events = table_of(RawEvent)
scans = table_of(Scan)
scan_snapshots = table_of(ScanSnapshot)
