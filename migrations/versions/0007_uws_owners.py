"""vo: owners, quotas and bounded lifetimes of TAP async (UWS) jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:30:00

Issue 12: every job now belongs to the bearer token that created it (``owner``, already a
column) or, when anonymous, counts against its client address; ``quota_key`` is what the
per-owner caps and the fair scheduler group jobs by, indexed for both (and ``owner`` for
the per-owner job list). Jobs kept from before get ``ip:unknown`` (or their owner), and no
job outlives seven days from now (``DESTRUCTION=9999-12-31`` had been accepted).
``result_rows`` and ``result_overflow`` were written but never read: dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('uws_jobs', sa.Column(
        'quota_key', sa.Text(), nullable=True,
        comment='what caps and fair scheduling count it against: the owner, or '
                'ip:<address> of an anonymous creator'))
    op.execute("UPDATE uws_jobs SET quota_key = COALESCE(owner, 'ip:unknown'),"
               " destruction_at = LEAST(destruction_at, now() + interval '7 days')")
    op.alter_column('uws_jobs', 'quota_key', nullable=False)
    op.alter_column('uws_jobs', 'owner', existing_type=sa.Text(), existing_nullable=True,
                    comment="SHA-256 hex of the creator's bearer token (NULL: anonymous)",
                    existing_comment='who created it (NULL: anonymous)')
    op.create_index('ix_uws_jobs_owner', 'uws_jobs', ['owner', 'created_at'], unique=False)
    op.create_index('ix_uws_jobs_quota_key', 'uws_jobs', ['quota_key'], unique=False)
    op.drop_column('uws_jobs', 'result_rows')
    op.drop_column('uws_jobs', 'result_overflow')


def downgrade() -> None:
    op.add_column('uws_jobs', sa.Column('result_overflow', sa.Boolean(), nullable=True,
                                        comment='MAXREC cut the result'))
    op.add_column('uws_jobs', sa.Column('result_rows', sa.BigInteger(), nullable=True))
    op.drop_index('ix_uws_jobs_quota_key', table_name='uws_jobs')
    op.drop_index('ix_uws_jobs_owner', table_name='uws_jobs')
    op.alter_column('uws_jobs', 'owner', existing_type=sa.Text(), existing_nullable=True,
                    comment='who created it (NULL: anonymous)',
                    existing_comment="SHA-256 hex of the creator's bearer token (NULL: anonymous)")
    op.drop_column('uws_jobs', 'quota_key')
