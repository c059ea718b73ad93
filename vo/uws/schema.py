"""Tables of the TAP async job list (UWS 1.1): the only tables the VO layer writes.

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

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
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
from sqlalchemy.dialects.postgresql import JSONB

from catalog.schema.events import metadata

#: UWS 1.1 execution phases (the ``phase`` column takes only these).
PHASES = ("PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "UNKNOWN",
          "HELD", "SUSPENDED", "ARCHIVED")

uws_jobs = Table(
    "uws_jobs",
    metadata,
    Column("id", Text, primary_key=True, comment="opaque job id, the last segment of its URL"),
    Column("lock_key", Integer, Identity(), nullable=False,
           comment="advisory-lock key its runner holds while the job is EXECUTING"),
    Column("owner", Text, nullable=True,
           comment="SHA-256 hex of the creator's bearer token (NULL: anonymous)"),
    Column("quota_key", Text, nullable=False,
           comment="what caps and fair scheduling count it against: the owner, or "
                   "ip:<address> of an anonymous creator"),
    Column("phase", Text, nullable=False),
    Column("run_id", Text, nullable=True, comment="the client's RUNID"),
    Column("params", JSONB, nullable=False, server_default=text("'{}'::jsonb"),
           comment="TAP parameters, names upper-cased"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("execution_duration_s", Integer, nullable=False),
    Column("destruction_at", DateTime(timezone=True), nullable=False,
           comment="removed by the sweep after this time"),
    Column("runner", Text, nullable=True, comment="host:pid:nonce of the process that ran it"),
    Column("error", Text, nullable=True, comment="error summary of an ERROR job"),
    Column("result", LargeBinary, nullable=True, comment="the result document"),
    Column("result_media_type", Text, nullable=True),
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

uws_job_uploads = Table(
    "uws_job_uploads",
    metadata,
    Column("job_id", Text, ForeignKey("uws_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text, primary_key=True, comment="the form part's name"),
    Column("content", LargeBinary, nullable=False),
)
