"""Tables of publication: the notice outbox and the record of every delivery attempt.

A notice row is written in the same transaction as the revision it announces (the
transactional-outbox pattern), so a committed revision always has its notices queued and a
rolled-back one never does. The payload is immutable; only the dispatch state
(``status``, ``attempt_count``, ``next_attempt_at``, ``delivered_at``) moves. Each attempt
is its own row in ``notice_attempts`` and is never updated.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)

from catalog.schema.events import metadata

#: Dispatch states of a notice: waiting for (another) attempt, or delivered.
NOTICE_STATES = ("pending", "delivered")

notices = Table(
    "notices",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("revision_pk", BigInteger, ForeignKey("revisions.id"), nullable=False),
    Column("sink", Text, nullable=False, comment="configured sink name, e.g. folder, webhook"),
    Column("format", Text, nullable=False, comment="gcn-json, voevent or circular"),
    Column("idempotency_key", Text, nullable=False,
           comment="stable per (revision, sink, format); sent with every attempt"),
    Column("media_type", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False, comment="the exact bytes delivered"),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False,
           server_default=func.now(), comment="not claimed before; also the claim lease"),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("idempotency_key", name="uq_notices_idempotency_key"),
    UniqueConstraint("revision_pk", "sink", "format", name="uq_notices_revision_sink_format"),
    CheckConstraint("status IN ('pending', 'delivered')", name="status"),
    CheckConstraint("(status = 'delivered') = (delivered_at IS NOT NULL)", name="delivered"),
    Index("ix_notices_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
)

notice_attempts = Table(
    "notice_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("notice_pk", BigInteger, ForeignKey("notices.id"), nullable=False),
    Column("number", Integer, nullable=False, comment="1, 2, ... per notice"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True, comment="HTTP status, when there is one"),
    Column("detail", Text, nullable=True, comment="error message or receipt"),
    Column("duration_s", Double, nullable=False),
    UniqueConstraint("notice_pk", "number", name="uq_notice_attempts_notice_number"),
)
