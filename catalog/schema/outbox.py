"""Entities of publication: the notice outbox and the record of every delivery attempt.

A notice row is written in the same transaction as the revision it announces (the
transactional-outbox pattern), so a committed revision always has its notices queued and a
rolled-back one never does. The payload is immutable; only the dispatch state
(``status``, ``attempt_count``, ``next_attempt_at``, ``delivered_at``, ``failed_reason``)
moves. Each attempt
is its own row in ``notice_attempts`` and is never updated.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)

from catalog.schema.base import TIMESTAMPTZ, Entity, Identified, Keyed, column, table_of

__all__ = ["NOTICE_STATES", "Notice", "NoticeAttempt", "NoticeAttemptBase",
           "NoticeAttemptRead", "NoticeBase", "NoticeHead", "NoticeRead", "NoticeState",
           "NoticeStatusRead",
           "notice_attempts", "notices"]

#: Dispatch states of a notice: waiting for (another) attempt, delivered, or given up
#: (``failed``: too many attempts, or a permanent refusal; an operator may retry it).
NOTICE_STATES = ("pending", "delivered", "failed")


class NoticeHead(Entity):
    """Which revision a notice announces, to which sink, in which format (no bytes)."""

    revision_pk: int = column(BigInteger, foreign_key="revisions.id")
    sink: str = column(Text, comment="configured sink name, e.g. folder, webhook")
    format: str = column(Text, comment="gcn-json, voevent or circular")
    idempotency_key: str = column(
        Text, comment="stable per (revision, sink, format); sent with every attempt")
    media_type: str = column(Text)


class NoticeBase(NoticeHead):
    """A notice as queued: its head and its bytes (what :mod:`catalog.publish` renders)."""

    filename: str = column(Text)
    payload: bytes = column(LargeBinary, comment="the exact bytes delivered")


class NoticeState(Entity):
    """The dispatch state of a notice: the only columns that move."""

    status: str = column(Text, server_default=text("'pending'"))
    attempt_count: int = column(Integer, server_default=text("0"))
    next_attempt_at: datetime = column(
        TIMESTAMPTZ, server_default=func.now(), comment="not claimed before; also the claim lease")
    delivered_at: datetime | None = column(TIMESTAMPTZ, default=None)
    failed_reason: str | None = column(
        Text, default=None, comment="why the dispatcher gave up (status failed)")
    created_at: datetime = column(TIMESTAMPTZ, server_default=func.now())


class Notice(NoticeState, NoticeBase, Keyed, table=True):
    """The ``notices`` table: the payload and its dispatch state."""

    __tablename__: ClassVar[str] = "notices"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_notices_idempotency_key"),
        UniqueConstraint("revision_pk", "sink", "format", name="uq_notices_revision_sink_format"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        CheckConstraint("(status = 'delivered') = (delivered_at IS NOT NULL)", name="delivered"),
        CheckConstraint("(status = 'failed') = (failed_reason IS NOT NULL)", name="failed"),
        Index("ix_notices_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )


class NoticeRead(NoticeState, NoticeBase, Identified):
    """A stored notice as storage returns it (the dispatcher's and the sinks' view)."""


class NoticeStatusRead(Identified):
    """A notice as an operator sees it (outbox steering, :mod:`catalog.storage.steering`):
    which alert, revision and sink, and where it stands, under the operator's names
    (``state`` is the ``status`` column, ``attempts`` the ``attempt_count``).

    ``last_detail`` is what the last attempt reported (an error, or the receipt).
    """

    alert: str | None
    event_pk: int
    revision: int
    sink: str
    format: str
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    failed_reason: str | None
    last_detail: str | None
    created_at: datetime


class NoticeAttemptBase(Entity):
    """One delivery attempt of a notice, as recorded (never updated)."""

    notice_pk: int = column(BigInteger, foreign_key="notices.id")
    number: int = column(Integer, comment="1, 2, ... per notice")
    started_at: datetime = column(TIMESTAMPTZ)
    finished_at: datetime = column(TIMESTAMPTZ)
    ok: bool = column(Boolean)
    status_code: int | None = column(Integer, default=None,
                                     comment="HTTP status, when there is one")
    detail: str | None = column(Text, default=None, comment="error message or receipt")
    duration_s: float = column(Double)


class NoticeAttempt(NoticeAttemptBase, Keyed, table=True):
    """The ``notice_attempts`` table."""

    __tablename__: ClassVar[str] = "notice_attempts"
    __table_args__ = (
        UniqueConstraint("notice_pk", "number", name="uq_notice_attempts_notice_number"),
    )


class NoticeAttemptRead(NoticeAttemptBase, Identified):
    """A recorded attempt as storage returns it."""


# The Core tables storage writes against: the same objects the models map.
notices = table_of(Notice)
notice_attempts = table_of(NoticeAttempt)
