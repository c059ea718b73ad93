"""catalog: events, revisions, region tiles, artifacts

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 10:12:11.029849
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('observatory', sa.Text(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True, comment='Alert name, e.g. IceCube-200615A'),
    sa.Column('stream', sa.Text(), nullable=False),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_mjd', sa.Double(), nullable=False),
    sa.Column('current_revision_pk', sa.BigInteger(), nullable=True, comment='Cached pointer to the revision that currently describes the event; maintained by storage in the transaction that adds a revision.'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("stream IN ('gold', 'bronze', 'cascade', 'hese', 'ehe', 'none')", name=op.f('ck_events_stream')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('name', name='uq_events_name'),
    sa.UniqueConstraint('observatory', 'run_id', 'event_id', name='uq_events_identity')
    )
    op.create_index('ix_events_event_time_id', 'events', ['event_time', 'id'], unique=False)
    op.create_index('ix_events_stream', 'events', ['stream'], unique=False)
    op.create_table('revisions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_pk', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False, comment='0, 1, 2, ... in order of arrival'),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('source_rev', sa.Integer(), nullable=True, comment="The source's own revision (GCN Rev)"),
    sa.Column('source_key', sa.Text(), nullable=False, comment='Identity in the source (IVORN, row key)'),
    sa.Column('stream', sa.Text(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ra', sa.Double(), nullable=True, comment='deg, ICRS'),
    sa.Column('dec', sa.Double(), nullable=True, comment='deg, ICRS'),
    sa.Column('hpx29', sa.BigInteger(), nullable=True, comment='HEALPix NESTED order-29 index'),
    sa.Column('ra_err_plus_50', sa.Double(), nullable=True),
    sa.Column('ra_err_minus_50', sa.Double(), nullable=True),
    sa.Column('dec_err_plus_50', sa.Double(), nullable=True),
    sa.Column('dec_err_minus_50', sa.Double(), nullable=True),
    sa.Column('ra_err_plus_90', sa.Double(), nullable=True),
    sa.Column('ra_err_minus_90', sa.Double(), nullable=True),
    sa.Column('dec_err_plus_90', sa.Double(), nullable=True),
    sa.Column('dec_err_minus_90', sa.Double(), nullable=True),
    sa.Column('r50_deg', sa.Double(), nullable=True, comment='circularised 50 % radius'),
    sa.Column('r90_deg', sa.Double(), nullable=True, comment='circularised 90 % radius'),
    sa.Column('area50_deg2', sa.Double(), nullable=True),
    sa.Column('area90_deg2', sa.Double(), nullable=True),
    sa.Column('region50_shape', sa.Text(), nullable=True, comment='circle or box'),
    sa.Column('region90_shape', sa.Text(), nullable=True, comment='circle or box'),
    sa.Column('region_order', sa.SmallInteger(), nullable=True, comment='HEALPix order of the region tiles'),
    sa.Column('energy_tev', sa.Double(), nullable=True),
    sa.Column('signalness', sa.Double(), nullable=True),
    sa.Column('far_per_year', sa.Double(), nullable=True),
    sa.Column('ivorn', sa.Text(), nullable=True),
    sa.Column('retraction_reason', sa.Text(), nullable=True),
    sa.Column('provenance', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.CheckConstraint("kind IN ('initial', 'update', 'retraction')", name=op.f('ck_revisions_kind')),
    sa.CheckConstraint("stream IN ('gold', 'bronze', 'cascade', 'hese', 'ehe', 'none')", name=op.f('ck_revisions_stream')),
    sa.CheckConstraint('dec IS NULL OR (dec >= -90 AND dec <= 90)', name=op.f('ck_revisions_dec_range')),
    sa.CheckConstraint('ra IS NULL OR (ra >= 0 AND ra < 360)', name=op.f('ck_revisions_ra_range')),
    sa.ForeignKeyConstraint(['event_pk'], ['events.id'], name=op.f('fk_revisions_event_pk_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revisions')),
    sa.UniqueConstraint('event_pk', 'number', name='uq_revisions_event_number'),
    sa.UniqueConstraint('source_key', name='uq_revisions_source_key')
    )
    op.create_index('ix_revisions_event_pk', 'revisions', ['event_pk'], unique=False)
    op.create_index('ix_revisions_hpx29', 'revisions', ['hpx29'], unique=False)
    op.create_table('artifacts',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('event_pk', sa.BigInteger(), nullable=False),
    sa.Column('revision_pk', sa.BigInteger(), nullable=True),
    sa.Column('role', sa.Text(), nullable=False, comment='e.g. skymap-fits, moc90, voevent'),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('media_type', sa.Text(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('md5', sa.String(length=32), nullable=False),
    sa.Column('storage_url', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['event_pk'], ['events.id'], name=op.f('fk_artifacts_event_pk_events')),
    sa.ForeignKeyConstraint(['revision_pk'], ['revisions.id'], name=op.f('fk_artifacts_revision_pk_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifacts')),
    sa.UniqueConstraint('revision_pk', 'role', name='uq_artifacts_revision_role')
    )
    op.create_index('ix_artifacts_event_pk', 'artifacts', ['event_pk'], unique=False)
    op.create_table('region_tiles',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('revision_pk', sa.BigInteger(), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False, comment='containment, percent (50 or 90)'),
    sa.Column('hpx', postgresql.INT8RANGE(), nullable=False, comment='order-29 NESTED index range [lo, hi)'),
    sa.CheckConstraint('level IN (50, 90)', name=op.f('ck_region_tiles_level')),
    sa.ForeignKeyConstraint(['revision_pk'], ['revisions.id'], name=op.f('fk_region_tiles_revision_pk_revisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region_tiles'))
    )
    op.create_index('ix_region_tiles_hpx', 'region_tiles', ['hpx'], unique=False, postgresql_using='spgist')
    op.create_index('ix_region_tiles_revision_pk', 'region_tiles', ['revision_pk', 'level'], unique=False)



def downgrade() -> None:

    op.drop_index('ix_region_tiles_revision_pk', table_name='region_tiles')
    op.drop_index('ix_region_tiles_hpx', table_name='region_tiles', postgresql_using='spgist')
    op.drop_table('region_tiles')
    op.drop_index('ix_artifacts_event_pk', table_name='artifacts')
    op.drop_table('artifacts')
    op.drop_index('ix_revisions_hpx29', table_name='revisions')
    op.drop_index('ix_revisions_event_pk', table_name='revisions')
    op.drop_table('revisions')
    op.drop_index('ix_events_stream', table_name='events')
    op.drop_index('ix_events_event_time_id', table_name='events')
    op.drop_table('events')

