"""Entities of the TAP async job list (UWS 1.1): the only tables the VO layer writes.

A job row holds everything ``/tap/async`` shows: its phase, parameters, times, error summary
and, once COMPLETED, the result document itself (app processes share nothing but the
database, so a result on one machine's disk would be invisible to the others). Uploaded
tables of a job (inline ``UPLOAD`` parts) are kept beside it until the job is destroyed.
A job belongs to the bearer token that created it (``owner``, its SHA-256) or to nobody
(anonymous: reachable only through its unguessable id); ``quota_key`` is what the per-owner
caps and the fair scheduler count it against (issue 12).
The tables live on the catalog's metadata so that ``alembic check`` sees them; the TAP role
``nufair_tap`` has no grant on them, so ADQL can never read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from catalog.schema.base import TIMESTAMPTZ, Entity, column, set_now, table_of

__all__ = ["PHASES", "UwsJob", "UwsJobBase", "UwsJobUpload", "uws_job_uploads", "uws_jobs"]

#: UWS 1.1 execution phases (the ``phase`` column takes only these).
PHASES = ("PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "UNKNOWN",
          "HELD", "SUSPENDED", "ARCHIVED")


class UwsJobKey(Entity):
    """A job's id (the last segment of its URL) and its advisory-lock key."""

    id: str = column(Text, primary_key=True,
                     comment="opaque job id, the last segment of its URL")
    lock_key: int | None = column(
        Integer, default=None, nullable=False, sa_column_args=[Identity()],
        comment="advisory-lock key its runner holds while the job is EXECUTING")


class UwsJobBase(Entity):
    """What a job is: whose, in which phase, with which parameters, and what became of it."""

    owner: str | None = column(
        Text, comment="SHA-256 hex of the creator's bearer token (NULL: anonymous)")
    quota_key: str = column(Text, comment="what caps and fair scheduling count it against: "
                            "the owner, or ip:<address> of an anonymous creator")
    phase: str = column(Text)
    run_id: str | None = column(Text, default=None, comment="the client's RUNID")
    params: dict[str, Any] = column(JSONB, server_default=text("'{}'::jsonb"),
                                    comment="TAP parameters, names upper-cased")
    created_at: datetime | None = set_now()
    started_at: datetime | None = column(TIMESTAMPTZ, default=None)
    ended_at: datetime | None = column(TIMESTAMPTZ, default=None)
    execution_duration_s: int = column(Integer)
    destruction_at: datetime = column(TIMESTAMPTZ,
                                      comment="removed by the sweep after this time")
    runner: str | None = column(Text, default=None,
                                comment="host:pid:nonce of the process that ran it")
    error: str | None = column(Text, default=None, comment="error summary of an ERROR job")
    result: bytes | None = column(LargeBinary, default=None, comment="the result document")
    result_media_type: str | None = column(Text, default=None)


class UwsJob(UwsJobBase, UwsJobKey, table=True):
    """The ``uws_jobs`` table."""

    __tablename__: ClassVar[str] = "uws_jobs"
    __table_args__ = (
        UniqueConstraint("lock_key", name="uq_uws_jobs_lock_key"),
        CheckConstraint(f"phase IN ({', '.join(repr(p) for p in PHASES)})", name="phase"),
        CheckConstraint("(phase = 'COMPLETED') = (result IS NOT NULL)", name="result"),
        CheckConstraint("phase <> 'ERROR' OR error IS NOT NULL", name="error"),
        Index("ix_uws_jobs_destruction_at", "destruction_at"),
        Index("ix_uws_jobs_created_at", "created_at"),
        Index("ix_uws_jobs_queued", "created_at", postgresql_where=text("phase = 'QUEUED'")),
        Index("ix_uws_jobs_owner", "owner", "created_at"),
        Index("ix_uws_jobs_quota_key", "quota_key"),
    )


class UwsJobUpload(Entity, table=True):
    """The ``uws_job_uploads`` table: one uploaded table of a job, gone with the job."""

    __tablename__: ClassVar[str] = "uws_job_uploads"

    job_id: str = column(Text, primary_key=True, foreign_key="uws_jobs.id",
                         ondelete="CASCADE")
    name: str = column(Text, primary_key=True, comment="the form part's name")
    content: bytes = column(LargeBinary)


# The Core tables storage writes against: the same objects the models map.
uws_jobs = table_of(UwsJob)
uws_job_uploads = table_of(UwsJobUpload)
