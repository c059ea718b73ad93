"""ingest: fenced scan claims

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 03:45:00

Issue 16: each claim of a scan gets a fresh ``claim_token``; every write of the runner
(heartbeat, snapshot, release, finish, the update's transaction) checks it, so a runner
whose claim was taken cannot publish or overwrite. Scans held when this runs have no token:
their runners (older code) lose them at their next write, and the scans are re-claimed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('scans', sa.Column(
        'claim_token', sa.Text(), nullable=True,
        comment='fencing token of the current claim: every write of its runner checks it'))


def downgrade() -> None:
    op.drop_column('scans', 'claim_token')
