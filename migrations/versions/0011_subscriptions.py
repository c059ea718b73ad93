"""catalog: region subscriptions

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 05:40:00

Issue 19 item 2: a subscription (footprint, stream filter, sink) and its footprint as
order-29 ``int8range`` tiles with an SP-GiST index, so that a new revision is matched
against every subscription in one indexed query (region tiles ``&&`` subscription tiles).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'subscriptions',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('name', sa.Text(), nullable=False, comment="the subscriber's label"),
        sa.Column('owner', sa.Text(), nullable=False,
                  comment='digest prefix of the token that created it'),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('streams', postgresql.ARRAY(sa.Text()), nullable=False,
                  comment='alert streams matched'),
        sa.Column('min_signalness', sa.Double(), nullable=True,
                  comment='revisions below (or without) it are skipped'),
        sa.Column('notice_format', sa.Text(), nullable=False,
                  comment='gcn-json, voevent or circular'),
        sa.Column('sink_kind', sa.Text(), nullable=False),
        sa.Column('sink_target', sa.Text(), nullable=False,
                  comment="webhook URL, or a configured sink's name"),
        sa.Column('footprint_kind', sa.Text(), nullable=False, comment='moc, cone or fields'),
        sa.Column('moc_order', sa.SmallInteger(), nullable=False,
                  comment='deepest HEALPix order of the footprint'),
        sa.Column('area_deg2', sa.Double(), nullable=False,
                  comment="area of the footprint's MOC"),
        sa.Column('secret', sa.Text(), nullable=True,
                  comment='HMAC secret of a webhook subscription'),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint("state IN ('active', 'paused', 'deleted')",
                           name=op.f('ck_subscriptions_state')),
        sa.CheckConstraint("sink_kind IN ('webhook', 'sink')",
                           name=op.f('ck_subscriptions_sink_kind')),
        sa.CheckConstraint("(sink_kind = 'webhook') = (secret IS NOT NULL)",
                           name=op.f('ck_subscriptions_secret')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    )
    op.create_index('ix_subscriptions_owner', 'subscriptions', ['owner'], unique=False)
    op.create_table(
        'subscription_tiles',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('subscription_pk', sa.BigInteger(), nullable=False),
        sa.Column('hpx', postgresql.INT8RANGE(), nullable=False,
                  comment='order-29 NESTED index range [lo, hi)'),
        sa.ForeignKeyConstraint(['subscription_pk'], ['subscriptions.id'],
                                name=op.f('fk_subscription_tiles_subscription_pk_subscriptions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_tiles')),
    )
    op.create_index('ix_subscription_tiles_hpx', 'subscription_tiles', ['hpx'], unique=False,
                    postgresql_using='spgist', postgresql_include=['subscription_pk'])
    op.create_index('ix_subscription_tiles_subscription_pk', 'subscription_tiles',
                    ['subscription_pk'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_subscription_tiles_subscription_pk', table_name='subscription_tiles')
    op.drop_index('ix_subscription_tiles_hpx', table_name='subscription_tiles',
                  postgresql_using='spgist')
    op.drop_table('subscription_tiles')
    op.drop_index('ix_subscriptions_owner', table_name='subscriptions')
    op.drop_table('subscriptions')
