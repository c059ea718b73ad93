"""vo indexes: events by current revision (the join of the current-alert views)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 14:00:00

``nufair.alerts`` joins events to revisions on ``events.current_revision_pk``. A query
that finds revisions first (the point-in-MOC tiles, the cone search's order-29 ranges)
then had to scan every event to keep the current ones: 47–74 ms for one point-in-MOC
query at 100 k alerts, against ~1 ms with this index (issue 5). The alert name is included
so that the usual "which alerts contain this point" reads no event rows (~10 % less).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_events_current_revision_pk', 'events', ['current_revision_pk'],
                    unique=False, postgresql_include=['name'])


def downgrade() -> None:
    op.drop_index('ix_events_current_revision_pk', table_name='events')
