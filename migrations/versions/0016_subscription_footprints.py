"""catalog: subscription footprints stored once

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:00:00

Issue 19: the match of a revision against 100 000 subscriptions within 50 ms. A footprint
named by many subscriptions (a survey's MOC) is stored once, in ``subscription_footprints``
(keyed by the SHA-256 of its ranges), and its tiles belong to it: the match pairs region
tiles with each distinct footprint's tiles once, then reads the footprints' active
subscriptions by ``footprint_pk``. Existing subscriptions are re-keyed: equal tile sets
become one footprint; a deleted subscription (no tiles) has none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The digest of a subscription's tiles, as catalog.subscriptions.storage computes it: the
#: SHA-256 of the big-endian (lo, hi) int64 pairs in order. Kept here as SQL so that the
#: migration never imports application code.
_DIGESTS = """
CREATE TEMPORARY TABLE footprint_digests ON COMMIT DROP AS
SELECT subscription_pk, sha256(string_agg(int8send(lower(hpx)) || int8send(upper(hpx)), ''
                                          ORDER BY lower(hpx))) AS digest
FROM subscription_tiles GROUP BY subscription_pk
"""


def upgrade() -> None:
    op.create_table(
        'subscription_footprints',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('digest', sa.LargeBinary(), nullable=False,
                  comment="SHA-256 of the footprint's sorted ranges"),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_footprints')),
    )
    op.create_index('uq_subscription_footprints_digest', 'subscription_footprints',
                    ['digest'], unique=True)
    op.add_column('subscriptions', sa.Column(
        'footprint_pk', sa.BigInteger(), nullable=True,
        comment="its footprint's tiles; none once deleted"))
    op.create_foreign_key(op.f('fk_subscriptions_footprint_pk_subscription_footprints'),
                          'subscriptions', 'subscription_footprints', ['footprint_pk'], ['id'])
    op.add_column('subscription_tiles', sa.Column('footprint_pk', sa.BigInteger(),
                                                  nullable=True))
    op.execute(_DIGESTS)
    op.execute("INSERT INTO subscription_footprints (digest) "
               "SELECT DISTINCT digest FROM footprint_digests ORDER BY digest")
    op.execute("UPDATE subscriptions s SET footprint_pk = f.id FROM footprint_digests d "
               "JOIN subscription_footprints f ON f.digest = d.digest "
               "WHERE d.subscription_pk = s.id")
    op.drop_index('ix_subscription_tiles_subscription_pk', table_name='subscription_tiles')
    op.drop_index('ix_subscription_tiles_hpx', table_name='subscription_tiles',
                  postgresql_using='spgist')
    # One subscription's tiles per footprint are kept (the lowest id's), the rest dropped.
    op.execute("DELETE FROM subscription_tiles t USING subscriptions s, "
               "(SELECT footprint_pk, min(id) AS keeper FROM subscriptions "
               " WHERE footprint_pk IS NOT NULL GROUP BY footprint_pk) k "
               "WHERE s.id = t.subscription_pk AND k.footprint_pk = s.footprint_pk "
               "AND s.id <> k.keeper")
    op.execute("UPDATE subscription_tiles t SET footprint_pk = s.footprint_pk "
               "FROM subscriptions s WHERE s.id = t.subscription_pk")
    op.drop_column('subscription_tiles', 'subscription_pk')
    op.alter_column('subscription_tiles', 'footprint_pk', nullable=False)
    op.create_foreign_key(op.f('fk_subscription_tiles_footprint_pk_subscription_footprints'),
                          'subscription_tiles', 'subscription_footprints', ['footprint_pk'],
                          ['id'], ondelete='CASCADE')
    op.create_index('ix_subscription_tiles_hpx', 'subscription_tiles', ['hpx'], unique=False,
                    postgresql_using='spgist', postgresql_include=['footprint_pk'])
    op.create_index('ix_subscription_tiles_footprint_pk', 'subscription_tiles',
                    ['footprint_pk'], unique=False)
    op.create_index('ix_subscriptions_footprint_pk', 'subscriptions', ['footprint_pk'],
                    unique=False, postgresql_where=sa.text("state = 'active'"),
                    postgresql_include=['id', 'streams', 'min_signalness', 'notice_format',
                                        'name'])


def downgrade() -> None:
    op.drop_index('ix_subscriptions_footprint_pk', table_name='subscriptions')
    op.add_column('subscription_tiles', sa.Column('subscription_pk', sa.BigInteger(),
                                                  nullable=True))
    # Every live subscription gets its own copy of its footprint's tiles again.
    op.execute("INSERT INTO subscription_tiles (subscription_pk, hpx, footprint_pk) "
               "SELECT s.id, t.hpx, t.footprint_pk FROM subscriptions s "
               "JOIN subscription_tiles t ON t.footprint_pk = s.footprint_pk")
    op.execute("DELETE FROM subscription_tiles WHERE subscription_pk IS NULL")
    op.drop_index('ix_subscription_tiles_footprint_pk', table_name='subscription_tiles')
    op.drop_index('ix_subscription_tiles_hpx', table_name='subscription_tiles',
                  postgresql_using='spgist')
    op.drop_constraint(op.f('fk_subscription_tiles_footprint_pk_subscription_footprints'),
                       'subscription_tiles', type_='foreignkey')
    op.drop_column('subscription_tiles', 'footprint_pk')
    op.alter_column('subscription_tiles', 'subscription_pk', nullable=False)
    op.create_foreign_key(op.f('fk_subscription_tiles_subscription_pk_subscriptions'),
                          'subscription_tiles', 'subscriptions', ['subscription_pk'], ['id'],
                          ondelete='CASCADE')
    op.create_index('ix_subscription_tiles_hpx', 'subscription_tiles', ['hpx'], unique=False,
                    postgresql_using='spgist', postgresql_include=['subscription_pk'])
    op.create_index('ix_subscription_tiles_subscription_pk', 'subscription_tiles',
                    ['subscription_pk'], unique=False)
    op.drop_constraint(op.f('fk_subscriptions_footprint_pk_subscription_footprints'),
                       'subscriptions', type_='foreignkey')
    op.drop_column('subscriptions', 'footprint_pk')
    op.drop_table('subscription_footprints')
