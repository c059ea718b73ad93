"""ingest: a scan that ends done says why it did less than asked

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 08:40:00

Issue 16: a ``publish=update`` scan of a retracted event (or of a raw event with no catalog
event) ends ``done`` without an update revision. ``scans.note`` says so in the API
(``GET /api/v1/scans/{id}`` and ``/status``); ``error`` keeps meaning "why it failed".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('scans', sa.Column(
        'note', sa.Text(), nullable=True,
        comment='why a scan that ended done did less than asked, e.g. published no update '
        'revision because its event is retracted'))
    op.create_check_constraint(op.f('ck_scans_note'), 'scans',
                               "note IS NULL OR outcome = 'done'")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_scans_note'), 'scans', type_='check')
    op.drop_column('scans', 'note')
