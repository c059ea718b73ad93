"""FAIR: DOIs of events (concept) and revisions (version).

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dois',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('doi', sa.Text(), nullable=False, comment='prefix/suffix, lower case'),
    sa.Column('suffix', sa.Text(), nullable=False, comment='opaque suffix; the landing-page id'),
    sa.Column('kind', sa.Text(), nullable=False, comment='concept (the event) or version (a revision)'),
    sa.Column('event_pk', sa.BigInteger(), nullable=False),
    sa.Column('revision_pk', sa.BigInteger(), nullable=True),
    sa.Column('provider', sa.Text(), nullable=False, comment='local or datacite'),
    sa.Column('state', sa.Text(), nullable=False, comment='draft, registered (hidden) or findable'),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True, comment='set when the event is retracted: the record becomes a tombstone'),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True, comment='last successful synchronisation with the provider'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'concept') = (revision_pk IS NULL)", name=op.f('ck_dois_kind_revision')),
    sa.CheckConstraint("kind IN ('concept', 'version')", name=op.f('ck_dois_kind')),
    sa.CheckConstraint("state IN ('draft', 'registered', 'findable')", name=op.f('ck_dois_state')),
    sa.ForeignKeyConstraint(['event_pk'], ['events.id'], name=op.f('fk_dois_event_pk_events')),
    sa.ForeignKeyConstraint(['revision_pk'], ['revisions.id'], name=op.f('fk_dois_revision_pk_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dois')),
    sa.UniqueConstraint('doi', name='uq_dois_doi'),
    sa.UniqueConstraint('revision_pk', name='uq_dois_revision_pk'),
    sa.UniqueConstraint('suffix', name='uq_dois_suffix')
    )
    op.create_index('ix_dois_event_pk', 'dois', ['event_pk'], unique=False)
    op.create_index('ix_dois_updated_at_id', 'dois', ['updated_at', 'id'], unique=False)
    op.create_index('uq_dois_concept', 'dois', ['event_pk'], unique=True, postgresql_where=sa.text("kind = 'concept'"))


def downgrade() -> None:
    op.drop_index('uq_dois_concept', table_name='dois', postgresql_where=sa.text("kind = 'concept'"))
    op.drop_index('ix_dois_updated_at_id', table_name='dois')
    op.drop_index('ix_dois_event_pk', table_name='dois')
    op.drop_table('dois')
