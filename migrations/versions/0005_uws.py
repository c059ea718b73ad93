"""vo: TAP async (UWS) jobs and their uploaded tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 13:21:05.166644

Jobs of ``/tap/async`` were kept in each app process's memory; they now live here so that a
restart keeps them and every app process sees every job (``vo/uws/storage.py``). The TAP
role gets no grant on these tables.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('uws_jobs',
    sa.Column('id', sa.Text(), nullable=False, comment='opaque job id, the last segment of its URL'),
    sa.Column('lock_key', sa.Integer(), sa.Identity(always=False), nullable=False, comment='advisory-lock key its runner holds while the job is EXECUTING'),
    sa.Column('owner', sa.Text(), nullable=True, comment='who created it (NULL: anonymous)'),
    sa.Column('phase', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Text(), nullable=True, comment="the client's RUNID"),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False, comment='TAP parameters, names upper-cased'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('execution_duration_s', sa.Integer(), nullable=False),
    sa.Column('destruction_at', sa.DateTime(timezone=True), nullable=False, comment='removed by the sweep after this time'),
    sa.Column('runner', sa.Text(), nullable=True, comment='host:pid:nonce of the process that ran it'),
    sa.Column('error', sa.Text(), nullable=True, comment='error summary of an ERROR job'),
    sa.Column('result', sa.LargeBinary(), nullable=True, comment='the result document'),
    sa.Column('result_media_type', sa.Text(), nullable=True),
    sa.Column('result_rows', sa.BigInteger(), nullable=True),
    sa.Column('result_overflow', sa.Boolean(), nullable=True, comment='MAXREC cut the result'),
    sa.CheckConstraint("(phase = 'COMPLETED') = (result IS NOT NULL)", name=op.f('ck_uws_jobs_result')),
    sa.CheckConstraint("phase <> 'ERROR' OR error IS NOT NULL", name=op.f('ck_uws_jobs_error')),
    sa.CheckConstraint("phase IN ('PENDING', 'QUEUED', 'EXECUTING', 'COMPLETED', 'ERROR', 'ABORTED', 'UNKNOWN', 'HELD', 'SUSPENDED', 'ARCHIVED')", name=op.f('ck_uws_jobs_phase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uws_jobs')),
    sa.UniqueConstraint('lock_key', name='uq_uws_jobs_lock_key')
    )
    op.create_index('ix_uws_jobs_created_at', 'uws_jobs', ['created_at'], unique=False)
    op.create_index('ix_uws_jobs_destruction_at', 'uws_jobs', ['destruction_at'], unique=False)
    op.create_index('ix_uws_jobs_queued', 'uws_jobs', ['created_at'], unique=False, postgresql_where=sa.text("phase = 'QUEUED'"))
    op.create_table('uws_job_uploads',
    sa.Column('job_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False, comment="the form part's name"),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['uws_jobs.id'], name=op.f('fk_uws_job_uploads_job_id_uws_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'name', name=op.f('pk_uws_job_uploads'))
    )


def downgrade() -> None:
    op.drop_table('uws_job_uploads')
    op.drop_index('ix_uws_jobs_queued', table_name='uws_jobs', postgresql_where=sa.text("phase = 'QUEUED'"))
    op.drop_index('ix_uws_jobs_destruction_at', table_name='uws_jobs')
    op.drop_index('ix_uws_jobs_created_at', table_name='uws_jobs')
    op.drop_table('uws_jobs')
