"""ingest: a terminal failed state for notices

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 05:40:00

Issue 16: the dispatcher gives a notice up (``status = 'failed'``, with the reason in
``failed_reason``) after a configured number of attempts or on a permanent refusal; an
operator retries or replays it (``/api/v1/notices``, ``nufair notices``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('notices', sa.Column(
        'failed_reason', sa.Text(), nullable=True,
        comment='why the dispatcher gave up (status failed)'))
    op.drop_constraint(op.f('ck_notices_status'), 'notices', type_='check')
    op.create_check_constraint(op.f('ck_notices_status'), 'notices',
                               "status IN ('pending', 'delivered', 'failed')")
    op.create_check_constraint(op.f('ck_notices_failed'), 'notices',
                               "(status = 'failed') = (failed_reason IS NOT NULL)")


def downgrade() -> None:
    op.execute("UPDATE notices SET status = 'pending', next_attempt_at = now() "
               "WHERE status = 'failed'")
    op.drop_constraint(op.f('ck_notices_failed'), 'notices', type_='check')
    op.drop_constraint(op.f('ck_notices_status'), 'notices', type_='check')
    op.create_check_constraint(op.f('ck_notices_status'), 'notices',
                               "status IN ('pending', 'delivered')")
    op.drop_column('notices', 'failed_reason')
